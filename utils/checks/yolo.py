"""Checks for the single-stage detector notebooks: YOLO (``2_4``) and SSD / RetinaNet (``2_5``)."""
from __future__ import annotations

import numpy as np

from ._core import Case, run_cases

__all__ = ["responsible_cell", "crop_first", "focal_loss"]


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
                     hint="centre cx = (x1 + x2) / 2, cy = (y1 + y2) / 2; row = int(cy / image_size * S), "
                          "col = int(cx / image_size * S) (rows go down: y, columns go right: x).")


def _ref_crop(image, detections, class_names, name):
    ids = np.asarray(detections["class_ids"]).reshape(-1)
    for k, cid in enumerate(ids):
        if class_names[int(cid)] == name:
            h, w = image.shape[:2]
            x1, y1, x2, y2 = (int(round(float(v))) for v in detections["boxes"][k])
            x1, x2 = np.clip([x1, x2], 0, w)
            y1, y2 = np.clip([y1, y2], 0, h)
            return image[y1:y2, x1:x2]
    return None


def crop_first(func):
    """``func(image (H, W, 3), detections dict(boxes xyxy, scores, class_ids), class_names, name)``
    → the pixels of the first detection whose class is ``name`` (box rounded to whole pixels and
    clipped to the image), or ``None`` if there is none (the course's giraffe exercise, ``2_4``)."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    names = ["BG", "cat", "giraffe", "cup"]

    def dets(boxes, ids):
        return {"boxes": np.array(boxes, float).reshape(-1, 4), "scores": np.linspace(0.9, 0.5, len(ids)),
                "class_ids": np.array(ids, int)}

    cases = []
    for d, name, label in [
        (dets([[5, 5, 20, 30], [30, 10, 50, 35]], [1, 2]), "giraffe", "the giraffe is the second detection"),
        (dets([[30, 10, 50, 35], [1, 2, 9, 9]], [2, 2]), "giraffe", "two giraffes: take the first"),
        (dets([[10.4, 4.6, 20.5, 15.2]], [3]), "cup", "fractional box: round to whole pixels"),
        (dets([[-5, -3, 12, 50]], [1]), "cat", "box partly outside the image: clip it"),
        (dets([[5, 5, 20, 30]], [1]), "giraffe", "no giraffe at all: return None"),
        (dets(np.zeros((0, 4)), []), "cat", "no detections"),
    ]:
        cases.append(Case((image, d, names, name), expected=_ref_crop(image, d, names, name), label=label))

    def judge_for(case):
        def judge(result):
            if case.expected is None:
                return None if result is None else f"expected None, got {type(result).__name__}"
            if result is None:
                return "got None, expected a crop"
            res = np.asarray(result)
            if res.shape != case.expected.shape:
                return f"crop shape {res.shape}, expected {case.expected.shape}"
            return None if np.array_equal(res, case.expected) else "the crop has the right shape but other pixels"
        return judge

    for case in cases:
        case.judge = judge_for(case)
    return run_cases("crop_first", func, cases, reference=_ref_crop,
                     hint="walk the detections in order; for the first whose class_names[class_id] equals name, "
                          "round the box, clip it to the image and return image[y1:y2, x1:x2]; else return None.")


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
                     hint="p_t = where(y == 1, p, 1 - p); alpha_t = where(y == 1, alpha, 1 - alpha); "
                          "loss = -alpha_t * (1 - p_t) ** gamma * log(p_t).")
