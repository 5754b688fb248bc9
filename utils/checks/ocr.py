"""Checks for the licence-plate characters lab (``8_2``)."""
from __future__ import annotations

import numpy as np

from ._core import Case, run_cases

__all__ = ["projection_cuts"]


def _ref_projection_cuts(profile, n):
    from utils.ocr import projection_cuts as ref

    return ref(profile, n)


def _profile(widths, gaps, gap_ink, seed):
    """A vertical projection: glyph columns with 4..12 ink pixels, gap columns with ``gap_ink``;
    returns the profile and the ``[start, end)`` column range of every gap."""
    rng = np.random.default_rng(seed)
    cols, ranges = [], []
    for i, w in enumerate(widths):
        cols += rng.integers(4, 13, w).tolist()
        if i < len(gaps):
            ranges.append((len(cols), len(cols) + gaps[i]))
            cols += [gap_ink] * gaps[i]
    return np.array(cols, np.int64), ranges


def projection_cuts(func):
    """``func(profile (W,) ints, n) -> (n - 1,) ints``: the columns where a blob of ``n`` touching
    glyphs should be cut, from its vertical projection (ink pixels per column) (``8_2``).
    Cut ``k`` must fall in the ``k``-th gap between glyphs (the cut column may be the gap's first
    column or the column just after it), cuts strictly increasing; ``n = 1`` gives no cut."""
    specs = [(([6, 6], [2], 0), 2, "two glyphs, a clean gap"),
             (([7, 6, 7], [1, 1], 1), 3, "three glyphs touching through one column of 1 pixel"),
             (([5, 8, 6, 7], [2, 1, 2], 2), 4, "four glyphs, uneven widths"),
             (([6, 10, 6], [1, 1], 0), 3, "a wide glyph between two narrow ones"),
             (([5, 10, 6, 7], [1, 1, 1], 1), 4, "the equal split lands inside glyphs"),
             (([8, 9], [1], 3), 2, "two wide glyphs, a faint bridge of 3 pixels"),
             (([9], [], 0), 1, "one glyph: nothing to cut")]
    cases = []
    for (widths, gaps, ink), n, label in specs:
        profile, ranges = _profile(widths, gaps, ink, seed=len(cases))

        def judge(result, ranges=ranges, n=n):
            cuts = np.asarray(result).reshape(-1)
            if cuts.shape != (n - 1,):
                return f"{cuts.size} cut(s), expected {n - 1} for {n} glyphs"
            if n > 1 and not np.all(np.diff(cuts) > 0):
                return "cuts are not strictly increasing"
            for k, (c, (a, b)) in enumerate(zip(cuts, ranges)):
                if not a <= c <= b:
                    return (f"cut {k + 1} at column {int(c)} is not in gap {k + 1} (columns {a}..{b - 1}; "
                            f"a cut at {a}..{b} separates the glyphs)")
            return None
        cases.append(Case((profile, n), judge=judge, label=label))
    return run_cases("projection_cuts", func, cases, reference=_ref_projection_cuts,
                     convert=lambda r: np.asarray(r, dtype=np.int64).reshape(-1),
                     hint="glyphs of one plate have about the same width, so cut k lies near k * W / n; "
                          "search a window around that column and take the column with the least ink.")
