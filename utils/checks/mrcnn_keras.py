"""Checks for the Keras Mask R-CNN notebooks (``3_2``, ``3_3``, ``3_4``)."""
from __future__ import annotations

import numpy as np

from ._core import Case, run_cases

__all__ = ["crop_detection", "mask_to_image", "mask_iou", "color_splash", "ap_on_image"]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def crop_detection(func) -> bool:
    """``func(image (H, W, 3) uint8, roi (y1, x1, y2, x2)) -> (y2-y1, x2-x1, 3)``: the pixels
    of a detection's box (``y2``/``x2`` exclusive, as ``r['rois']``; ``3_2``)."""
    img = _rng(20).integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
    cases = []
    for roi in [(5, 7, 20, 31), (0, 0, 30, 40), (29, 39, 30, 40), (10, 0, 12, 40)]:
        y1, x1, y2, x2 = roi
        cases.append(Case((img, np.array(roi, np.int32)), expected=img[y1:y2, x1:x2], label=f"roi {roi}"))
    return run_cases("crop_detection", func, cases,
                     hint="rois are (y1, x1, y2, x2): rows first. Slice image[y1:y2, x1:x2].")


def mask_to_image(func) -> bool:
    """``func(mask (H, W) bool) -> (H, W) uint8``: 255 on the object, 0 elsewhere, ready
    to save as a black-and-white PNG (``3_2``)."""
    rng = _rng(21)
    cases = []
    for shape in [(4, 5), (17, 9)]:
        m = rng.random(shape) > 0.5
        cases.append(Case((m,), expected=None, judge=_uint8_mask_judge(m), label=f"random {shape}"))
    empty = np.zeros((3, 3), bool)
    cases.append(Case((empty,), expected=None, judge=_uint8_mask_judge(empty), label="empty mask"))
    return run_cases("mask_to_image", func, cases,
                     hint="mask.astype(np.uint8) * 255 turns True into 255 and False into 0.")


def _uint8_mask_judge(mask):
    def judge(result):
        result = np.asarray(result)
        if result.shape != mask.shape:
            return f"shape {result.shape}, expected {mask.shape}"
        if result.dtype != np.uint8:
            return f"dtype {result.dtype}, expected uint8 (an image file stores 0..255)"
        if not np.array_equal(result, np.where(mask, 255, 0)):
            return "values differ: expected 255 where the mask is True and 0 elsewhere"
        return None

    return judge


def mask_iou(func) -> bool:
    """``func(mask_a (H, W) bool, mask_b (H, W) bool) -> float``: intersection over union
    of two masks, 0.0 when both are empty (the overlap ``compute_ap`` matches with; ``3_3``)."""
    a = np.zeros((6, 6), bool)
    a[1:4, 1:4] = True
    b = np.zeros((6, 6), bool)
    b[2:5, 2:5] = True
    rng = _rng(22)
    r1, r2 = rng.random((9, 11)) > 0.4, rng.random((9, 11)) > 0.6
    empty = np.zeros((4, 4), bool)
    cases = [Case((a, b), expected=4 / 14, label="two 3x3 squares overlapping in 2x2"),
             Case((a, a), expected=1.0, label="a mask with itself"),
             Case((a, ~a), expected=0.0, label="disjoint"),
             Case((r1, r2), expected=float((r1 & r2).sum() / (r1 | r2).sum()), label="random 9x11"),
             Case((empty, empty), expected=0.0, label="both empty (no division by zero)")]
    return run_cases("mask_iou", func, cases,
                     hint="count pixels in both (a & b) and in either (a | b); return 0.0 when the union is empty.")


def color_splash(func) -> bool:
    """``func(image (H, W, 3) uint8, masks (H, W, N) bool) -> (H, W, 3) uint8``: colour
    where any instance is, gray (``0.2125 R + 0.7154 G + 0.0721 B``, scikit-image's
    ``rgb2gray``) elsewhere (Matterport's colour splash; ``3_4``)."""
    from utils.mrcnn.visualize import color_splash as reference

    rng = _rng(23)
    img = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    masks = np.zeros((12, 16, 2), bool)
    masks[2:6, 3:9, 0] = True
    masks[5:10, 7:14, 1] = True
    cases = [Case((img, masks), expected=reference(img, masks).astype(float), label="two instances"),
             Case((img, masks[..., :0]), expected=reference(img, masks[..., :0]).astype(float),
                  label="no instance: all gray"),
             Case((img, np.ones((12, 16, 1), bool)), expected=img.astype(float), label="one instance covering all")]
    return run_cases("color_splash", func, cases, atol=1.0, rtol=0,
                     hint="gray = image @ [0.2125, 0.7154, 0.0721], repeated to 3 channels; keep the image where "
                          "masks.any(axis=-1), else the gray; return uint8.")


class _FakeModel:
    """Stands in for an inference MaskRCNN: ``detect`` returns prepared detections."""

    def __init__(self, result: dict):
        self.result = result
        self.calls = 0

    def detect(self, images, verbose=0):
        self.calls += 1
        if not isinstance(images, list) or len(images) != 1:
            raise ValueError("detect expects a list with one image")
        return [self.result]


def ap_on_image(func) -> bool:
    """``func(model, dataset, image_id) -> (ap, r)``: detect on one annotated image of a
    ``Dataset`` and score it against its masks with ``utils.mrcnn.utils.compute_ap`` at
    IoU 0.5 (``r`` is the detection dict; ``3_4``). Checked with a stand-in model."""
    from utils import data
    from utils.mrcnn import utils as mutils

    ds = mutils.InstanceDataset(data.shapes(2, size=64, seed=24))
    masks, ids = ds.load_mask(0)
    boxes = mutils.extract_bboxes(masks)
    n = len(ids)
    perfect = {"rois": boxes, "class_ids": ids, "scores": np.linspace(0.99, 0.9, n).astype(np.float32),
               "masks": masks}
    nothing = {"rois": np.zeros((0, 4), np.int32), "class_ids": np.zeros(0, np.int32),
               "scores": np.zeros(0, np.float32), "masks": np.zeros(masks.shape[:2] + (0,), bool)}
    wrong = dict(perfect, class_ids=np.where(ids == 1, 2, 1).astype(np.int32))
    half = {k: v[:1] if k != "masks" else v[..., :1] for k, v in perfect.items()}

    def expected(r):
        return mutils.compute_ap(boxes, ids, masks, r["rois"], r["class_ids"], r["scores"], r["masks"])[0]

    cases = []
    for label, r in [("perfect detections", perfect), ("no detection", nothing), ("right masks, wrong classes", wrong),
                     ("only the first instance found", half)]:
        cases.append(Case((_FakeModel(r), ds, 0), expected=None, judge=_ap_judge(expected(r), r), label=label))
    return run_cases("ap_on_image", func, cases,
                     hint="image = dataset.load_image(image_id); masks, class_ids = dataset.load_mask(image_id); "
                          "r = model.detect([image])[0]; compute_ap(extract_bboxes(masks), class_ids, masks, "
                          "r['rois'], r['class_ids'], r['scores'], r['masks'])[0].")


def _ap_judge(expected_ap: float, r: dict):
    def judge(result):
        if not isinstance(result, tuple) or len(result) != 2:
            return f"expected a tuple (ap, r), got {type(result).__name__}"
        ap, got = result
        try:
            ap = float(ap)
        except (TypeError, ValueError):
            return f"ap should be a number, got {type(ap).__name__}"
        if not np.isclose(ap, expected_ap, atol=1e-6):
            return f"ap {ap:.4f}, expected {expected_ap:.4f}"
        if not isinstance(got, dict) or got.get("class_ids") is not r["class_ids"]:
            return "r should be the detection dict that model.detect returned for the image"
        return None

    return judge
