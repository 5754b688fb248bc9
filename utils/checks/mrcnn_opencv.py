"""Checks for Mask R-CNN with OpenCV (``3_1``)."""
from __future__ import annotations

import numpy as np

from ._core import Case, run_cases

__all__ = ["paste_mask"]


def _paste_judge(expected: np.ndarray, box):
    y1, x1, y2, x2 = box

    def judge(result) -> str | None:
        res = np.asarray(result)
        if res.shape != expected.shape:
            return f"shape {res.shape}, expected {expected.shape} (the whole image, not just the box)"
        if res.dtype != bool:
            return f"dtype {res.dtype}, expected bool (compare with the threshold)"
        outside = res.copy()
        outside[y1:y2, x1:x2] = False
        if outside.any():
            return f"{int(outside.sum())} pixel(s) set outside the box (y {y1}..{y2}, x {x1}..{x2}, ends excluded)"
        union = (res | expected).sum()
        iou = (res & expected).sum() / union if union else 1.0
        if iou < 0.95:
            return f"the mask overlaps the expected one with IoU {iou:.2f}, expected at least 0.95"
        return None

    return judge


def _ref_paste_mask(soft_mask, box, image_shape, threshold):
    from utils.mrcnn.utils import unmold_mask

    return unmold_mask(np.asarray(soft_mask, np.float32), [int(v) for v in box], tuple(image_shape[:2]), threshold=threshold)


def paste_mask(func):
    """``func(soft_mask (h, w) floats 0..1, box (y1, x1, y2, x2) ints, image_shape (H, W),
    threshold) -> (H, W) bool``: resize the soft mask to the box's size (bilinear), compare
    with ``threshold``, and place it in an all-False image at the box (``3_1``)."""
    from utils.mrcnn.utils import unmold_mask

    rng = np.random.default_rng(31)
    cases = []
    specs = [
        (np.ones((15, 15), np.float32), (2, 3, 12, 9), (20, 16), 0.5, "a full mask fills its box"),
        (np.tile((np.arange(15) >= 7).astype(np.float32), (15, 1)), (0, 0, 30, 45), (40, 60), 0.5,
         "right half of the box"),
        (np.outer(np.hanning(15), np.hanning(15)).astype(np.float32), (10, 20, 70, 80), (100, 120), 0.3,
         "a soft blob, threshold 0.3"),
        (np.outer(np.hanning(15), np.hanning(15)).astype(np.float32), (10, 20, 70, 80), (100, 120), 0.7,
         "the same blob, threshold 0.7"),
        (rng.random((15, 15)).astype(np.float32) * 0.2 + 0.4 * (np.arange(15)[:, None] > 4), (5, 50, 45, 64),
         (48, 64), 0.5, "a box touching the right edge"),
    ]
    for soft, box, shape, t, label in specs:
        expected = unmold_mask(soft, box, shape, threshold=t)
        cases.append(Case((soft, box, shape, t), judge=_paste_judge(expected, box), label=label))
    return run_cases("paste_mask", func, cases, reference=_ref_paste_mask,
                     hint="cv2.resize(soft_mask, (x2 - x1, y2 - y1)) gives the box-sized mask (cv2 wants "
                          "width first); then full[y1:y2, x1:x2] = resized >= threshold.")
