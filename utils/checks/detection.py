"""Checks for the object detection track (``2_2`` to ``2_6``)."""
from __future__ import annotations

import numpy as np

from ._core import Case, check_target, run_cases

__all__ = ["iou", "nms", "hog_settings", "coco_to_yolo"]


def _ref_iou(a, b) -> float:
    """IoU of two ``xyxy`` boxes by the definition, exclusive ends (width = x2 - x1)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def iou(func):
    """``func(box_a: (4,), box_b: (4,)) -> float``: intersection over union of two ``xyxy``
    boxes in pixels with exclusive ends, so a box's width is ``x2 - x1`` (``2_2``)."""
    rng = np.random.default_rng(21)
    pairs = [
        (np.array([0.0, 0, 10, 10]), np.array([5.0, 5, 15, 15]), "half-overlapping squares: 25 / 175"),
        (np.array([0.0, 0, 10, 10]), np.array([0.0, 0, 10, 10]), "identical boxes"),
        (np.array([0.0, 0, 10, 10]), np.array([20.0, 20, 30, 30]), "disjoint boxes"),
        (np.array([0.0, 0, 10, 10]), np.array([10.0, 0, 20, 10]), "boxes that only touch along an edge"),
        (np.array([2.0, 2, 8, 8]), np.array([0.0, 0, 10, 10]), "one box inside the other"),
        (np.array([0.0, 0, 40, 10]), np.array([10.0, -10, 20, 30]), "a cross: neither corner inside the other box"),
    ]
    for _ in range(4):
        a = np.sort(rng.uniform(0, 50, (2, 2)), axis=0).T.reshape(-1)[[0, 2, 1, 3]]
        b = np.sort(rng.uniform(0, 50, (2, 2)), axis=0).T.reshape(-1)[[0, 2, 1, 3]]
        pairs.append((a, b, "random boxes"))
    cases = [Case((a, b), expected=_ref_iou(a, b), label=label) for a, b, label in pairs]
    cases.append(Case((pairs[0][1], pairs[0][0]), expected=_ref_iou(pairs[0][1], pairs[0][0]), label="order swapped"))
    return run_cases("iou", func, cases, reference=_ref_iou,
                     hint="the overlap of two boxes is itself a box: which of the two left edges is its left "
                          "edge, which right edge its right edge (and likewise vertically)? When that box has a "
                          "negative width or height the boxes do not overlap. The union counts the overlap once; "
                          "a box's width is x2 - x1 (no + 1: the ends are exclusive).")


def _ref_nms(boxes, scores, threshold, max_output):
    order = list(np.argsort(-np.asarray(scores), kind="stable"))
    keep = []
    while order and len(keep) < max_output:
        i = order.pop(0)
        keep.append(int(i))
        order = [j for j in order if _ref_iou(boxes[i], boxes[j]) <= threshold]
    return keep


def nms(func):
    """``func(boxes: (N, 4) xyxy, scores: (N,), iou_threshold=0.5, max_output=100) -> indices``
    of the kept boxes, highest score first: greedy NMS dropping boxes with IoU > threshold (``2_3``)."""
    rng = np.random.default_rng(22)
    cases = []
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    cases.append(Case((boxes, scores), expected=np.array(_ref_nms(boxes, scores, 0.5, 100)), label="two clusters"))
    edge = np.array([[0, 0, 10, 10], [0, 0, 10, 5]], float)  # IoU exactly 0.5: kept (drop only IoU > 0.5)
    cases.append(Case((edge, np.array([0.9, 0.8])), expected=np.array([0, 1]), label="IoU exactly 0.5 is not suppressed"))
    centres = rng.uniform(10, 90, (5, 2))
    many = np.concatenate([np.c_[c - 8 + rng.normal(0, 2, (8, 2)), c + 8 + rng.normal(0, 2, (8, 2))] for c in centres])
    sc = rng.random(len(many))
    cases.append(Case((many, sc), expected=np.array(_ref_nms(many, sc, 0.5, 100)), label="40 boxes around 5 objects"))
    cases.append(Case((many, sc), {"iou_threshold": 0.3, "max_output": 3},
                      expected=np.array(_ref_nms(many, sc, 0.3, 3)), label="threshold 0.3, at most 3 kept"))

    return run_cases("nms", func, cases,
                     reference=lambda boxes, scores, iou_threshold=0.5, max_output=100: np.array(
                         _ref_nms(np.asarray(boxes, float), scores, iou_threshold, max_output), dtype=int),
                     convert=lambda r: np.asarray(r).astype(int).reshape(-1),
                     hint="sort by score (highest first); keep the first box, drop every remaining box whose IoU "
                          "with it is > threshold, repeat; stop at max_output.")


class _CourseSettings(dict):
    """The course's settings: a dict that does not print its values (the fallback note must
    not hand the student the answer)."""

    def __repr__(self) -> str:
        return "the course's settings"


_HOG_REFERENCE = {"C": 0.01, "score_threshold": 0.0, "nms_iou": 0.3}


def hog_settings(settings, measure, at_least):
    """A measured-target exercise (``2_3``): ``settings`` is a dict with the HOG detector's SVM ``C``,
    ``score_threshold`` and ``nms_iou``; ``measure(settings) -> F1`` on the validation images.
    Returns ``(settings_used, F1)``: the student's settings when their F1 reaches ``at_least``,
    else (outside strict mode) the course's settings and their F1, with a note."""
    def checked(choice):
        if not isinstance(choice, dict) or set(choice) != set(_HOG_REFERENCE):
            raise ValueError(f"expected a dict with the keys {sorted(_HOG_REFERENCE)}, got {choice!r}")
        return measure(choice)

    return check_target("hog_settings", settings, checked, at_least=at_least, reference=_CourseSettings(_HOG_REFERENCE),
                        metric="F1",
                        hint="AP50 ignores the score threshold, F1 does not. Print evaluate_hog(...) for a few "
                             "thresholds between -1 and 1 and look at precision and recall: low precision means "
                             "too many boxes (raise the threshold, or suppress duplicates harder with a lower "
                             "nms_iou); low recall means too few (lower the threshold). C changes the scale of "
                             "the scores, so move the threshold with it.")


def _ref_coco_to_yolo(bbox, width, height):
    x, y, w, h = (float(v) for v in bbox)
    return np.array([(x + w / 2) / width, (y + h / 2) / height, w / width, h / height])


def coco_to_yolo(func):
    """``func(bbox: [x, y, w, h] pixels (COCO), width, height) -> [cx, cy, w, h]`` as fractions
    of the image size (one YOLO label line without the class; ``2_6``)."""
    rng = np.random.default_rng(23)
    cases = [Case((np.array([10.0, 20.0, 30.0, 40.0]), 100, 200), expected=np.array([0.25, 0.2, 0.3, 0.2]),
                  label="a 30x40 box at (10, 20) in a 100 wide, 200 high image"),
             Case((np.array([0.0, 0.0, 64.0, 48.0]), 64, 48), expected=np.array([0.5, 0.5, 1.0, 1.0]),
                  label="the whole image")]
    for _ in range(3):
        w_img, h_img = (int(v) for v in rng.integers(50, 800, 2))
        x, y = rng.uniform(0, w_img / 2), rng.uniform(0, h_img / 2)
        bw, bh = rng.uniform(1, w_img / 2), rng.uniform(1, h_img / 2)
        cases.append(Case((np.array([x, y, bw, bh]), w_img, h_img),
                          expected=np.array([(x + bw / 2) / w_img, (y + bh / 2) / h_img, bw / w_img, bh / h_img]),
                          label=f"random box in a {w_img}x{h_img} image"))

    return run_cases("coco_to_yolo", func, cases, reference=_ref_coco_to_yolo, convert=lambda r: np.asarray(r, dtype=float).reshape(-1),
                     hint="the centre is the top-left corner plus half the size; divide x values by the "
                          "image width and y values by the image height.")
