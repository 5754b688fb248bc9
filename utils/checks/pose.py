"""Checks for the pose-estimation notebook (``8_3``)."""
from __future__ import annotations

import numpy as np

from ._core import Case, run_cases

__all__ = ["decode_heatmap"]


def _ref_decode_heatmap(heatmap) -> tuple[float, float]:
    """The course's reference: ``utils.heatmaps.decode_keypoints`` on a single channel."""
    from utils import heatmaps

    xy, _ = heatmaps.decode_keypoints(np.asarray(heatmap, np.float64)[..., None], stride=1)
    return float(xy[0, 0]), float(xy[0, 1])


def _blob(shape, x, y, sigma, peak=1.0):
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    return peak * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma ** 2))


def _near(x: float, y: float, tol: float):
    def judge(result) -> str | None:
        rx, ry = result
        err = float(np.hypot(rx - x, ry - y))
        if not np.isfinite(err):
            return f"got ({rx}, {ry}): not a finite position"
        if err > tol:
            return (f"got (x, y) = ({rx:.3f}, {ry:.3f}), but the peak is at ({x:.3f}, {y:.3f}): {err:.3f} cells away "
                    f"(at most {tol} allowed)")
        return None

    return judge


def decode_heatmap(func):
    """``func(heatmap (H, W) float) -> (x, y)``: the position of the heatmap's highest peak in heatmap
    cells (column ``x``, row ``y``), refined below one cell by fitting a parabola through the maximum
    and its two neighbours along each axis (``8_3``)."""
    cases = []
    for shape, x, y, sigma, label in (
            ((16, 16), 6.3, 9.0, 1.0, "a peak 0.3 cells right of a cell centre"),
            ((16, 16), 4.0, 10.65, 1.5, "a peak 0.35 cells below a cell (0.65: the nearest cell is below it)"),
            ((12, 20), 13.4, 3.6, 1.0, "a wide map (x is the column, y the row)"),
            ((16, 16), 8.0, 5.0, 2.0, "a peak exactly on a cell"),
            ((16, 16), 0.0, 7.3, 1.0, "a peak on the left border (no neighbour on one side)"),
            ((16, 16), 15.0, 15.0, 1.0, "a peak in the bottom-right corner")):
        cases.append(Case((_blob(shape, x, y, sigma).astype(np.float32),), judge=_near(x, y, 0.12), label=label))
    two = (_blob((16, 16), 3.3, 4.0, 1.0, 0.6) + _blob((16, 16), 11.0, 12.3, 1.0, 0.9)).astype(np.float32)
    cases.append(Case((two,), judge=_near(11.0, 12.3, 0.12), label="two peaks: keep the higher one"))
    noisy = (_blob((16, 16), 7.7, 8.2, 1.2) - 0.2).astype(np.float32)  # a network's output can be negative
    cases.append(Case((noisy,), judge=_near(7.7, 8.2, 0.12), label="a map shifted below zero"))
    return run_cases("decode_heatmap", func, cases, reference=_ref_decode_heatmap,
                     convert=lambda r: tuple(float(v) for v in np.asarray(r, np.float64).reshape(2)),
                     hint="start from the argmax (np.unravel_index turns np.argmax's flat index into (row, column): the "
                          "row is y). Then, along each axis on its own, fit a parabola through the maximum and its two "
                          "neighbours and move to the parabola's vertex (never more than half a cell); where a "
                          "neighbour is missing (a border) keep that coordinate. Return (x, y), column first.")
