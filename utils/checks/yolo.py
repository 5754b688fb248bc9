"""Checks for the single-stage detector notebooks: YOLO (``2_4``) and SSD / RetinaNet (``2_5``)."""
from __future__ import annotations

import numpy as np

from ._core import Case, run_cases

__all__ = ["responsible_cell", "unpad_boxes", "focal_loss"]


def _ref_cell(box, image_size, S):
    h, w = (image_size, image_size) if np.isscalar(image_size) else image_size[:2]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return (min(int(cy / h * S), S - 1), min(int(cx / w * S), S - 1))


def responsible_cell(func):
    """``func(box: (4,) xyxy pixels, image_size: int, S: int) -> (row, col)``: the grid cell
    of an ``S x S`` grid that holds the box centre, the cell responsible for it in YOLO (``2_4``)."""
    rng = np.random.default_rng(24)
    cases = [
        Case((np.array([0.0, 0, 64, 64]), 448, 7), expected=(0, 0), label="a box in the top-left cell"),
        Case((np.array([100.0, 200, 300, 400]), 448, 7), expected=_ref_cell([100, 200, 300, 400], 448, 7),
             label="centre (200, 300) on a 448-pixel image"),
        Case((np.array([384.0, 384, 448, 448]), 448, 7), expected=(6, 6), label="bottom-right cell"),
        Case((np.array([0.0, 0, 128, 128]), 128, 8), expected=(4, 4),
             label="centre exactly on a cell border belongs to the cell to its right/below"),
        Case((np.array([10.0, 40, 30, 50]), 64, 8), expected=_ref_cell([10, 40, 30, 50], 64, 8),
             label="wide box: row from y, column from x"),
    ]
    for _ in range(4):
        x1, y1 = rng.uniform(0, 50, 2)
        box = np.array([x1, y1, x1 + rng.uniform(2, 14), y1 + rng.uniform(2, 14)])
        cases.append(Case((box, 64, 8), expected=_ref_cell(box, 64, 8), label="random box"))

    return run_cases("responsible_cell", func, cases, reference=_ref_cell,
                     convert=lambda out: tuple(int(v) for v in out) if out is not None else None,
                     hint="find the box centre first; each cell is image_size / S pixels wide. Which coordinate decides "
                          "the row, which the column? (Rows go down the image, columns go across.)")


def _ref_unpad(boxes, offset, image_shape):
    h, w = image_shape[:2]
    x0, y0 = offset
    out = np.asarray(boxes, float).reshape(-1, 4) - np.array([x0, y0, x0, y0], float)
    return np.clip(out, 0, [w, h, w, h])


def unpad_boxes(func):
    """``func(boxes (K, 4) xyxy on the padded canvas, offset (x0, y0), image_shape (H, W[, 3]))``
    → ``(K, 4)`` boxes in the original image's pixels: shifted back by the offset where the image
    sits on the letterbox canvas, then clipped to the image (``2_4``)."""
    rng = np.random.default_rng(24)
    cases = [
        Case((np.array([[300.0, 260, 500, 700]]), (256, 256), (512, 512, 3)),
             expected=_ref_unpad([[300, 260, 500, 700]], (256, 256), (512, 512)),
             label="one box on a canvas twice the image's size"),
        Case((np.array([[10.0, 100, 90, 140]]), (0, 64), (128, 96)),
             expected=_ref_unpad([[10, 100, 90, 140]], (0, 64), (128, 96)),
             label="a wide image letterboxed: only y is shifted"),
        Case((np.array([[5.0, 50, 120, 400]]), (40, 60), (300, 200, 3)),
             expected=_ref_unpad([[5, 50, 120, 400]], (40, 60), (300, 200)),
             label="a box reaching into the grey padding: clip it to the image"),
        Case((np.zeros((0, 4)), (30, 0), (100, 160, 3)), expected=np.zeros((0, 4)), label="no boxes"),
    ]
    for _ in range(3):
        boxes = np.sort(rng.uniform(0, 700, (5, 4)).reshape(5, 2, 2), axis=1).transpose(0, 2, 1).reshape(5, 4)
        offset = tuple(int(v) for v in rng.integers(0, 200, 2))
        shape = (int(rng.integers(200, 500)), int(rng.integers(200, 500)), 3)
        cases.append(Case((boxes, offset, shape), expected=_ref_unpad(boxes, offset, shape), label="random boxes"))
    return run_cases("unpad_boxes", func, cases, reference=_ref_unpad,
                     convert=lambda out: np.asarray(out, float).reshape(-1, 4),
                     hint="subtract (x0, y0, x0, y0) from every box, then clip x to 0..W and y to 0..H "
                          "(np.clip with per-column maxima).")


def _ref_focal(p, y, gamma, alpha):
    p = np.clip(np.asarray(p, float), 1e-7, 1 - 1e-7)
    y = np.asarray(y, float)
    p_t = np.where(y == 1, p, 1 - p)
    a_t = np.where(y == 1, alpha, 1 - alpha)
    return -a_t * (1 - p_t) ** gamma * np.log(p_t)


def focal_loss(func):
    """``func(p, y, gamma=2.0, alpha=0.25)`` → element-wise focal loss
    ``-α_t (1 - p_t)^γ log(p_t)`` for predicted probabilities ``p`` and binary labels ``y``
    (``p_t = p`` and ``α_t = α`` where ``y == 1``, else ``1 - p`` and ``1 - α``) (``2_5``)."""
    rng = np.random.default_rng(25)
    p = rng.uniform(0.01, 0.99, 12)
    y = (rng.random(12) < 0.3).astype(float)
    cases = [
        Case((np.array([0.9]), np.array([1.0])), {"gamma": 2.0, "alpha": 0.25},
             expected=_ref_focal([0.9], [1], 2, 0.25), label="an easy positive, p = 0.9"),
        Case((np.array([0.9]), np.array([0.0])), {"gamma": 2.0, "alpha": 0.25},
             expected=_ref_focal([0.9], [0], 2, 0.25), label="a hard negative, p = 0.9 for y = 0"),
        Case((p, y), {"gamma": 0.0, "alpha": 0.5}, expected=_ref_focal(p, y, 0, 0.5),
             label="gamma = 0, alpha = 0.5: half the cross-entropy"),
        Case((p, y), {"gamma": 2.0, "alpha": 0.25}, expected=_ref_focal(p, y, 2, 0.25), label="random, RetinaNet's defaults"),
        Case((p, y), {"gamma": 5.0, "alpha": 0.75}, expected=_ref_focal(p, y, 5, 0.75), label="gamma = 5, alpha = 0.75"),
    ]

    # the reshape below only accepts a result with one value per input (it is not the student's bug if it fails:
    # the message then says what the function returned)
    return run_cases("focal_loss", func, cases, atol=1e-5, rtol=1e-4,
                     reference=lambda p, y, gamma=2.0, alpha=0.25: _ref_focal(p, y, gamma, alpha),
                     convert=lambda out: np.asarray(out, float).reshape(-1),
                     hint="start from cross-entropy written with p_t (the probability given to the true class); the "
                          "focal term shrinks the loss of easy examples (p_t near 1) and alpha weighs positives "
                          "against negatives. Check gamma = 0, alpha = 0.5 first: half the cross-entropy.")
