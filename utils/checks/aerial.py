"""Checks for the aerial images notebook (``7_2``)."""
from __future__ import annotations

import numpy as np

from ._core import Case, compare, run_cases

__all__ = ["tile_windows", "boxes_in_window"]


def _ref_tile_windows(image_size, tile, step):
    from utils.aerial import tile_windows as ref

    return ref(image_size, tile, step=step)


def tile_windows(func):
    """``func(image_size: (H, W), tile: int, step: int) -> (N, 4) int xyxy`` windows covering the
    whole image, row by row (x fastest), the last window of each row and column flush with the
    border (``7_2``)."""
    shapes = [((512, 512), 64, 48, "512 x 512, tile 64, step 48: the notebook's setting"),
              ((256, 256), 64, 64, "no overlap, the tiles fit exactly"),
              ((100, 100), 40, 30, "the last window must be moved back to end at the border"),
              ((90, 130), 40, 30, "a wide image (H=90, W=130): rows and columns differ"),
              ((64, 64), 64, 32, "the image is exactly one tile"),
              ((200, 120), 50, 25, "a tall image, half-tile step")]
    cases = [Case((size, tile, step), expected=_ref_tile_windows(size, tile, step), label=label)
             for size, tile, step, label in shapes]
    return run_cases("tile_windows", func, cases, reference=_ref_tile_windows,
                     convert=lambda r: np.asarray(r).astype(np.int64).reshape(-1, 4),
                     hint="along one axis the starts are 0, step, 2*step, ... as long as start + tile <= length; "
                          "if the last window stops short of the border, add one more that ends exactly at it "
                          "(start = length - tile). Do it for y (height, the first of image_size) and x, then list "
                          "every (x, y) pair, y in the outer loop, as [x, y, x + tile, y + tile].")


def _ref_boxes_in_window(boxes, window, min_visible=0.5):
    from utils.aerial import boxes_in_window as ref

    return ref(boxes, window, min_visible)


def _as_pair(result):
    b, k = result
    return np.asarray(b, dtype=np.float64).reshape(-1, 4), np.asarray(k).astype(np.int64).reshape(-1)


def boxes_in_window(func):
    """``func(boxes: (N, 4) xyxy, window: (4,) xyxy, min_visible: float) -> (boxes (M, 4) in the
    window's coordinates, indices (M,))``: clip every box to the window, keep those showing at least
    ``min_visible`` of their area, shift them to the window's corner (``7_2``)."""
    rng = np.random.default_rng(72)
    fixed = np.array([[10, 10, 20, 20], [60, 10, 70, 20], [58, 30, 68, 40], [100, 100, 110, 110],
                      [-4, 50, 6, 60]], float)
    centres = rng.uniform(0, 160, (30, 2))
    sides = rng.uniform(6, 12, (30, 2))
    many = np.c_[centres - sides / 2, centres + sides / 2]
    settings = [(fixed, (0, 0, 64, 64), 0.5, "boxes inside, cut by the border, outside"),
                (fixed, (48, 0, 112, 64), 0.3, "a window that does not start at 0: coordinates become local"),
                (fixed, (0, 0, 64, 64), 0.61, "a stricter visible fraction"),
                (many, (48, 48, 112, 112), 0.5, "30 random small boxes"),
                (np.zeros((0, 4)), (0, 0, 64, 64), 0.5, "no boxes at all")]
    cases = []
    for boxes, window, frac, label in settings:
        exp = _ref_boxes_in_window(boxes, window, frac)

        def judge(result, exp=exp):
            problem = compare(result[1], exp[1])
            if problem:
                return f"kept indices: {problem}"
            problem = compare(result[0], exp[0])
            return f"boxes: {problem}" if problem else None

        cases.append(Case((boxes, window, frac), judge=judge, label=label))
    return run_cases("boxes_in_window", func, cases, reference=_ref_boxes_in_window, convert=_as_pair,
                     hint="clip x1, x2 to [window x1, window x2] and y1, y2 likewise; the visible fraction is the "
                          "clipped area over the box's own area; keep a box when it is >= min_visible (and the "
                          "clipped part is not empty), then subtract the window's top-left corner.")
