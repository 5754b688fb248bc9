"""Checks for the Keras Mask R-CNN notebooks (``3_2``, ``3_3``, ``3_4``)."""
from __future__ import annotations

import numpy as np

from ._core import Case, run_cases

__all__ = ["crop_first_of_class", "mask_first_of_class", "mask_iou", "color_splash", "ap_on_image"]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _first_of_class(r: dict, class_names, name):
    """Index of the first detection of class ``name`` in ``r`` (best score first), or None."""
    for i, cid in enumerate(np.asarray(r["class_ids"]).reshape(-1)):
        if class_names[int(cid)] == name:
            return i
    return None


def _ref_crop_first_of_class(image, r, class_names, name):
    i = _first_of_class(r, class_names, name)
    if i is None:
        return None
    y1, x1, y2, x2 = (int(v) for v in r["rois"][i])
    return image[y1:y2, x1:x2]


def _ref_mask_first_of_class(r, class_names, name):
    i = _first_of_class(r, class_names, name)
    return None if i is None else np.asarray(r["masks"])[:, :, i].astype(np.uint8) * 255


def _detections(rng, shape, class_ids):
    """A fake ``detect`` result for an image of ``shape``: boxes, masks inside them, scores falling."""
    h, w = shape
    n = len(class_ids)
    rois = np.zeros((n, 4), np.int32)
    masks = np.zeros((h, w, n), bool)
    for k in range(n):
        y1, x1 = int(rng.integers(0, h - 6)), int(rng.integers(0, w - 6))
        y2, x2 = int(rng.integers(y1 + 3, h + 1)), int(rng.integers(x1 + 3, w + 1))
        rois[k] = (y1, x1, y2, x2)
        masks[y1:y2, x1:x2, k] = rng.random((y2 - y1, x2 - x1)) > 0.3
    return {"rois": rois, "class_ids": np.asarray(class_ids, np.int32),
            "scores": np.linspace(0.99, 0.6, n).astype(np.float32), "masks": masks}


def _named_cases(with_image: bool):
    rng = _rng(20)
    names = ["BG", "person", "giraffe", "cup"]
    img = rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
    specs = [([1, 2, 2], "giraffe", "the giraffe is the second detection: take it, not the first"),
             ([2, 1], "giraffe", "a giraffe first"),
             ([3, 1, 3], "cup", "two cups: the first one (best score)"),
             ([1, 1], "giraffe", "no giraffe at all: return None"),
             ([], "cup", "no detection at all: return None")]
    cases = []
    for ids, name, label in specs:
        r = _detections(rng, img.shape[:2], ids)
        args = (img, r, names, name) if with_image else (r, names, name)
        expected = _ref_crop_first_of_class(*args) if with_image else _ref_mask_first_of_class(*args)
        cases.append(Case(args, judge=_array_or_none_judge(expected), label=label))
    return cases


def _array_or_none_judge(expected):
    def judge(result):
        if expected is None:
            return None if result is None else f"expected None (no detection of that class), got {type(result).__name__}"
        if result is None:
            return "got None, but there is a detection of that class"
        res = np.asarray(result)
        if res.shape != expected.shape:
            return f"shape {res.shape}, expected {expected.shape}"
        if res.dtype != expected.dtype:
            return f"dtype {res.dtype}, expected {expected.dtype}"
        if not np.array_equal(res, expected):
            return "right shape, other values (another detection, or the wrong pixels?)"
        return None

    return judge


def crop_first_of_class(func):
    """``func(image (H, W, 3) uint8, r, class_names, name) -> (y2-y1, x2-x1, 3) uint8 or None``:
    the pixels inside the box (``r['rois']``, ``(y1, x1, y2, x2)``, ends exclusive) of the first
    detection whose ``class_names[r['class_ids'][i]]`` is ``name``; ``None`` when there is none (``3_2``)."""
    return run_cases("crop_first_of_class", func, _named_cases(with_image=True), reference=_ref_crop_first_of_class,
                     hint="detections come best first, so the first one whose class name matches is the one; "
                          "its box in r['rois'] is (y1, x1, y2, x2): numpy slices rows before columns. "
                          "What should come back when no detection matches?")


def mask_first_of_class(func):
    """``func(r, class_names, name) -> (H, W) uint8 or None``: the mask ``r['masks'][:, :, i]`` of
    the first detection of class ``name`` as a black-and-white image, 255 on the object and 0
    elsewhere, ready to save as a PNG; ``None`` when there is none (``3_2``)."""
    return run_cases("mask_first_of_class", func, _named_cases(with_image=False), reference=_ref_mask_first_of_class,
                     hint="find the detection as in crop_first_of_class; r['masks'] holds one (H, W) boolean layer per "
                          "detection on its LAST axis. A PNG wants uint8: which numbers are black and white?")


def _ref_mask_iou(mask_a, mask_b):
    union = np.logical_or(mask_a, mask_b).sum()
    return float(np.logical_and(mask_a, mask_b).sum() / union) if union else 0.0


def mask_iou(func):
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
    return run_cases("mask_iou", func, cases, reference=_ref_mask_iou,
                     hint="count pixels in both (a & b) and in either (a | b); return 0.0 when the union is empty.")


def color_splash(func):
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
    return run_cases("color_splash", func, cases, atol=1.0, rtol=0, reference=reference,
                     hint="build a gray version of the image with the luminance weights of skimage.color.rgb2gray, "
                          "still 3 channels; a pixel keeps its colour when ANY instance mask covers it. "
                          "Check the dtype you return and the case with no instance at all.")


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


def ap_on_image(func):
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
    return run_cases("ap_on_image", func, cases, reference=_ref_ap_on_image,
                     hint="you need the ground truth (the dataset gives the image and its masks with class ids; "
                          "boxes can be derived from masks) and the model's detections for that image; "
                          "compute_ap takes them in that order and returns several values: AP comes first.")


def _ref_ap_on_image(model, dataset, image_id):
    from utils.mrcnn import utils as mutils

    image = dataset.load_image(image_id)
    gt_mask, gt_class_id = dataset.load_mask(image_id)
    r = model.detect([image])[0]
    ap = mutils.compute_ap(mutils.extract_bboxes(gt_mask), gt_class_id, gt_mask,
                           r["rois"], r["class_ids"], r["scores"], r["masks"])[0]
    return float(ap), r


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
        same = isinstance(got, dict) and all(
            k in got and np.array_equal(np.asarray(got[k]), r[k]) for k in ("rois", "class_ids", "scores", "masks"))
        if not same:
            return "r should be the detection dict that model.detect returned for the image"
        return None

    return judge
