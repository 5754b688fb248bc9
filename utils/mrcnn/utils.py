"""Mask R-CNN helpers that need no TensorFlow: datasets, boxes, masks, anchors, mAP.

The course's Keras 3 Mask R-CNN keeps the public shape of Matterport's ``mrcnn`` so the
course material reads the same; this module plays the role of ``mrcnn/utils.py``
(taught in ``3_2``-``3_4``; the COCO/VIA loaders in ``3_3``).

Conventions (Matterport's):

- images: ``(H, W, 3)`` uint8 RGB;
- masks: ``(H, W, N)`` bool, one channel per instance;
- class ids: ``(N,)`` int32, 1-based (0 is background ``"BG"``);
- boxes: ``(N, 4)`` ``(y1, x1, y2, x2)`` in pixels with ``y2``/``x2`` **exclusive**
  (a one-pixel object at ``(y, x)`` is ``[y, x, y+1, x+1]``). Note the order differs from
  :mod:`utils.data`'s ``xyxy`` boxes; :func:`extract_bboxes` converts a mask either way.
"""
from __future__ import annotations

import json
import random
import warnings
from pathlib import Path

import numpy as np

from utils.images import ImageError, load_image

__all__ = [
    "Dataset", "InstanceDataset", "ViaDataset", "CocoDataset", "AnnotationError",
    "extract_bboxes", "compute_iou", "compute_overlaps", "compute_overlaps_masks", "non_max_suppression",
    "apply_box_deltas", "box_refinement", "trim_zeros", "compute_matches", "compute_ap", "compute_ap_range",
    "compute_recall", "mean_ap", "coco_map_for_masks", "resize", "resize_image", "resize_mask",
    "minimize_mask", "expand_mask", "unmold_mask", "norm_boxes", "denorm_boxes", "generate_anchors",
    "generate_pyramid_anchors", "export_via", "via_region_to_mask",
]


class AnnotationError(ValueError):
    """An annotation file that cannot be used; the message names the file and every bad region."""


# ============================================================================ boxes


def extract_bboxes(mask: np.ndarray) -> np.ndarray:
    """Tight boxes of instance masks.

    Args:
        mask: ``(H, W, N)`` bool (or 0/1) masks.

    Returns:
        ``(N, 4)`` int32 ``(y1, x1, y2, x2)``, ``y2``/``x2`` exclusive; all zeros for an
        empty mask (Matterport's convention, so :func:`trim_zeros` can drop it).
    """
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"extract_bboxes: mask has shape {mask.shape}, expected (H, W, N)")
    boxes = np.zeros((mask.shape[-1], 4), dtype=np.int32)
    for i in range(mask.shape[-1]):
        m = mask[:, :, i]
        rows = np.flatnonzero(m.any(axis=1))
        cols = np.flatnonzero(m.any(axis=0))
        if rows.size:
            boxes[i] = [rows[0], cols[0], rows[-1] + 1, cols[-1] + 1]
    return boxes


def compute_iou(box, boxes, box_area, boxes_area) -> np.ndarray:
    """IoU of one box ``(4,)`` with ``boxes`` ``(N, 4)`` (all ``y1, x1, y2, x2``), given
    their precomputed areas; returns ``(N,)`` float."""
    y1 = np.maximum(box[0], boxes[:, 0])
    y2 = np.minimum(box[2], boxes[:, 2])
    x1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[3], boxes[:, 3])
    intersection = np.maximum(y2 - y1, 0) * np.maximum(x2 - x1, 0)
    union = box_area + np.asarray(boxes_area) - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, intersection / np.where(union > 0, union, 1), 0.0)


def _box_area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def compute_overlaps(boxes1, boxes2) -> np.ndarray:
    """Pairwise IoU of ``(N1, 4)`` and ``(N2, 4)`` ``y1, x1, y2, x2`` boxes → ``(N1, N2)`` float."""
    boxes1 = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    boxes2 = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    area1, area2 = _box_area(boxes1), _box_area(boxes2)
    overlaps = np.zeros((len(boxes1), len(boxes2)))
    for j in range(len(boxes2)):
        overlaps[:, j] = compute_iou(boxes2[j], boxes1, area2[j], area1)
    return overlaps


def compute_overlaps_masks(masks1, masks2) -> np.ndarray:
    """Pairwise mask IoU of ``(H, W, N1)`` and ``(H, W, N2)`` masks → ``(N1, N2)`` float.

    Either set being empty gives a ``(N1, N2)`` array of zeros; an empty mask has IoU 0
    with everything.
    """
    masks1, masks2 = np.asarray(masks1), np.asarray(masks2)
    if masks1.shape[-1] == 0 or masks2.shape[-1] == 0:
        return np.zeros((masks1.shape[-1], masks2.shape[-1]))
    if masks1.shape[:2] != masks2.shape[:2]:
        raise ValueError(f"compute_overlaps_masks: masks of shape {masks1.shape} and {masks2.shape}; "
                         "expected the same (H, W)")
    m1 = np.reshape(masks1 > 0.5, (-1, masks1.shape[-1])).astype(np.float32)
    m2 = np.reshape(masks2 > 0.5, (-1, masks2.shape[-1])).astype(np.float32)
    # pixel counts are exact in float32 up to 2**24 pixels; divide in float64
    area1, area2 = m1.sum(axis=0, dtype=np.float64), m2.sum(axis=0, dtype=np.float64)
    intersections = (m1.T @ m2).astype(np.float64)
    union = area1[:, None] + area2[None, :] - intersections
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, intersections / np.where(union > 0, union, 1), 0.0).astype(np.float64)


def non_max_suppression(boxes, scores, threshold: float) -> np.ndarray:
    """Greedy NMS: indices (int32, best score first) of the boxes kept.

    Args:
        boxes: ``(N, 4)`` ``y1, x1, y2, x2``; scores: ``(N,)``; threshold: IoU above which
            the lower-scoring box is suppressed.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"non_max_suppression: {len(boxes)} boxes but {len(scores)} scores")
    area = _box_area(boxes)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        iou = compute_iou(boxes[i], boxes[order[1:]], area[i], area[order[1:]])
        order = order[1:][iou <= threshold]
    return np.array(keep, dtype=np.int32)


def apply_box_deltas(boxes, deltas) -> np.ndarray:
    """Apply ``(N, (dy, dx, log(dh), log(dw)))`` refinements to ``(N, 4)`` boxes (NumPy)."""
    boxes = np.asarray(boxes, dtype=np.float32).copy()
    deltas = np.asarray(deltas, dtype=np.float32)
    height = boxes[:, 2] - boxes[:, 0]
    width = boxes[:, 3] - boxes[:, 1]
    cy = boxes[:, 0] + 0.5 * height + deltas[:, 0] * height
    cx = boxes[:, 1] + 0.5 * width + deltas[:, 1] * width
    height = height * np.exp(deltas[:, 2])
    width = width * np.exp(deltas[:, 3])
    return np.stack([cy - 0.5 * height, cx - 0.5 * width, cy + 0.5 * height, cx + 0.5 * width], axis=1)


def box_refinement(box, gt_box) -> np.ndarray:
    """The deltas ``(N, (dy, dx, log(dh), log(dw)))`` that turn ``box`` into ``gt_box``
    (both ``(N, 4)`` ``y1, x1, y2, x2``); the inverse of :func:`apply_box_deltas`."""
    box = np.asarray(box, dtype=np.float32)
    gt_box = np.asarray(gt_box, dtype=np.float32)
    height, width = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
    gt_height, gt_width = gt_box[:, 2] - gt_box[:, 0], gt_box[:, 3] - gt_box[:, 1]
    dy = (gt_box[:, 0] + 0.5 * gt_height - box[:, 0] - 0.5 * height) / height
    dx = (gt_box[:, 1] + 0.5 * gt_width - box[:, 1] - 0.5 * width) / width
    return np.stack([dy, dx, np.log(gt_height / height), np.log(gt_width / width)], axis=1)


def trim_zeros(x: np.ndarray) -> np.ndarray:
    """Drop the rows of a 2-D array that are all zeros (padding in Matterport's batches)."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"trim_zeros: shape {x.shape}, expected 2-D")
    return x[np.any(x != 0, axis=1)]


def norm_boxes(boxes, shape) -> np.ndarray:
    """Pixel boxes ``(N, 4)`` → normalised float32 (0..1) for an image of ``shape`` ``(H, W)``.

    Matterport's convention: ``(y2, x2)`` in pixels is exclusive, normalised inclusive, so
    ``[0, 0, H, W]`` maps to ``[0, 0, 1, 1]``.
    """
    h, w = shape[:2]
    scale = np.array([h - 1, w - 1, h - 1, w - 1], dtype=np.float64)
    shift = np.array([0, 0, 1, 1], dtype=np.float64)
    return ((np.asarray(boxes, dtype=np.float64) - shift) / scale).astype(np.float32)


def denorm_boxes(boxes, shape) -> np.ndarray:
    """The inverse of :func:`norm_boxes`: normalised boxes → int32 pixel boxes."""
    h, w = shape[:2]
    scale = np.array([h - 1, w - 1, h - 1, w - 1], dtype=np.float64)
    shift = np.array([0, 0, 1, 1], dtype=np.float64)
    return np.around(np.asarray(boxes, dtype=np.float64) * scale + shift).astype(np.int32)


# ============================================================================ resizing


def resize(image: np.ndarray, output_shape, order: int = 1, preserve_range: bool = True) -> np.ndarray:
    """Resize ``(H, W[, C])`` to ``output_shape`` ``(h, w)`` with skimage (bilinear by
    default, no anti-aliasing, borders extended by their edge values; Matterport pads with
    zeros, which darkens the outer half pixel), keeping the input's value range;
    float output like skimage. Used by :func:`resize_image` and the mask helpers."""
    from skimage.transform import resize as sk_resize

    return sk_resize(image, tuple(output_shape), order=order, mode="edge", clip=True,
                     preserve_range=preserve_range, anti_aliasing=False)


def resize_image(image: np.ndarray, min_dim: int | None = None, max_dim: int | None = None,
                 min_scale: float | None = None, mode: str = "square", rng: random.Random | None = None):
    """Resize an image keeping its aspect ratio, then pad or crop (Matterport's modes).

    Args:
        image: ``(H, W, C)`` array.
        min_dim: scale up so the short side is at least this (never down for it).
        max_dim: in ``"square"`` mode, the long side is at most this and the result is
            padded to ``(max_dim, max_dim)``.
        min_scale: scale at least by this much.
        mode: ``"none"`` (unchanged), ``"square"`` (resize + pad to ``max_dim`` square),
            ``"pad64"`` (resize + pad each side up to a multiple of 64; ``min_dim`` must be
            a multiple of 64), ``"crop"`` (resize + random ``min_dim`` square crop).
        rng: ``random.Random`` for the crop position (default: the module ``random``).

    Returns:
        ``(image, window, scale, padding, crop)``: the new image (input dtype); ``window``
        ``(y1, x1, y2, x2)`` where the original image lies in it; ``scale``; ``padding``
        ``[(top, bottom), (left, right), (0, 0)]``; ``crop`` ``(y, x, h, w)`` or ``None``.
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"resize_image: image has shape {image.shape}, expected (H, W, C)")
    if mode not in ("none", "square", "pad64", "crop"):
        raise ValueError(f"resize_image: mode={mode!r}, expected 'none', 'square', 'pad64' or 'crop'")
    dtype = image.dtype
    h, w = image.shape[:2]
    window = (0, 0, h, w)
    scale = 1
    padding = [(0, 0), (0, 0), (0, 0)]
    crop = None
    if mode == "none":
        return image, window, scale, padding, crop
    if mode == "square" and not max_dim:
        raise ValueError("resize_image: mode='square' needs max_dim")
    if mode in ("pad64", "crop") and not min_dim:
        raise ValueError(f"resize_image: mode={mode!r} needs min_dim")
    if min_dim:
        scale = max(1, min_dim / min(h, w))
    if min_scale and scale < min_scale:
        scale = min_scale
    if max_dim and mode == "square" and round(max(h, w) * scale) > max_dim:
        scale = max_dim / max(h, w)
    if scale != 1:
        image = resize(image, (round(h * scale), round(w * scale)))
    h, w = image.shape[:2]
    if mode == "square":
        top, left = (max_dim - h) // 2, (max_dim - w) // 2
        padding = [(top, max_dim - h - top), (left, max_dim - w - left), (0, 0)]
        image = np.pad(image, padding, mode="constant", constant_values=0)
        window = (top, left, h + top, w + left)
    elif mode == "pad64":
        if min_dim % 64:
            raise ValueError(f"resize_image: mode='pad64' needs min_dim a multiple of 64, got {min_dim}")
        pad_h = (64 - h % 64) % 64
        pad_w = (64 - w % 64) % 64
        padding = [(pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)]
        image = np.pad(image, padding, mode="constant", constant_values=0)
        window = (pad_h // 2, pad_w // 2, h + pad_h // 2, w + pad_w // 2)
    elif mode == "crop":
        r = rng or random
        y, x = r.randint(0, h - min_dim), r.randint(0, w - min_dim)
        crop = (y, x, min_dim, min_dim)
        image = image[y:y + min_dim, x:x + min_dim]
        window = (0, 0, min_dim, min_dim)
    if np.issubdtype(dtype, np.integer) and image.dtype != dtype:
        info = np.iinfo(dtype)
        image = np.clip(np.rint(image), info.min, info.max)
    return image.astype(dtype), window, scale, padding, crop


def resize_mask(mask: np.ndarray, scale: float, padding, crop=None) -> np.ndarray:
    """Apply :func:`resize_image`'s ``scale``, ``padding`` and ``crop`` to ``(H, W, N)``
    masks (nearest neighbour), so masks stay aligned with the resized image. Returns bool."""
    from scipy import ndimage

    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"resize_mask: mask has shape {mask.shape}, expected (H, W, N)")
    h, w, n = mask.shape
    if n == 0:
        out = np.zeros((round(h * scale), round(w * scale), 0), bool)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            out = ndimage.zoom(mask.astype(np.uint8), zoom=[scale, scale, 1], order=0) > 0
    if crop is not None:
        y, x, ch, cw = crop
        return out[y:y + ch, x:x + cw]
    return np.pad(out, padding, mode="constant", constant_values=False)


def minimize_mask(bbox, mask, mini_shape) -> np.ndarray:
    """Crop each instance's mask to its box and resize it to ``mini_shape`` ``(h, w)``
    (Matterport's memory-saving "mini masks"). ``bbox`` ``(N, 4)``, ``mask`` ``(H, W, N)``
    → ``(h, w, N)`` bool. An empty box raises ``ValueError`` naming the instance."""
    mask = np.asarray(mask)
    mini = np.zeros(tuple(mini_shape) + (mask.shape[-1],), dtype=bool)
    for i in range(mask.shape[-1]):
        y1, x1, y2, x2 = (int(v) for v in bbox[i][:4])
        m = mask[y1:y2, x1:x2, i].astype(np.float32)
        if m.size == 0:
            raise ValueError(f"minimize_mask: instance {i} has an empty box {[y1, x1, y2, x2]}")
        mini[:, :, i] = np.around(resize(m, mini_shape)) > 0
    return mini


def expand_mask(bbox, mini_mask, image_shape) -> np.ndarray:
    """The inverse of :func:`minimize_mask`: paste ``(h, w, N)`` mini masks back into
    ``(H, W, N)`` bool masks of ``image_shape`` at their boxes."""
    mini_mask = np.asarray(mini_mask)
    mask = np.zeros(tuple(image_shape[:2]) + (mini_mask.shape[-1],), dtype=bool)
    for i in range(mini_mask.shape[-1]):
        y1, x1, y2, x2 = (int(v) for v in bbox[i][:4])
        if y2 <= y1 or x2 <= x1:
            continue
        m = resize(mini_mask[:, :, i].astype(np.float32), (y2 - y1, x2 - x1))
        mask[y1:y2, x1:x2, i] = np.around(m) > 0
    return mask


def unmold_mask(mask: np.ndarray, bbox, image_shape, threshold: float = 0.5) -> np.ndarray:
    """A network's small soft mask ``(h, w)`` (0..1) → a full-size ``image_shape[:2]`` bool
    mask: resized into its box ``(y1, x1, y2, x2)`` and thresholded at ``threshold``.

    Used by Mask R-CNN (``3_2``) and by OpenCV's Mask R-CNN post-processing (``3_1``).
    The box is clipped to the image; a box with no area inside the image gives an
    empty mask.
    """
    H, W = image_shape[:2]
    y1, x1, y2, x2 = (int(round(float(v))) for v in bbox[:4])
    full = np.zeros((H, W), dtype=bool)
    if y2 <= y1 or x2 <= x1:
        return full
    m = resize(np.asarray(mask, dtype=np.float32), (y2 - y1, x2 - x1)) >= threshold
    cy1, cx1, cy2, cx2 = max(y1, 0), max(x1, 0), min(y2, H), min(x2, W)
    if cy2 <= cy1 or cx2 <= cx1:
        return full
    full[cy1:cy2, cx1:cx2] = m[cy1 - y1:cy2 - y1, cx1 - x1:cx2 - x1]
    return full


# ============================================================================ anchors


def generate_anchors(scales, ratios, shape, feature_stride, anchor_stride) -> np.ndarray:
    """Anchors of one feature map level.

    Args:
        scales: anchor side(s) in pixels (e.g. ``32``); ratios: width/height ratios
            (e.g. ``[0.5, 1, 2]``); shape: the feature map ``(h, w)``; feature_stride: its
            stride in image pixels; anchor_stride: step in feature-map cells.

    Returns:
        ``(h/anchor_stride * w/anchor_stride * len(scales) * len(ratios), 4)`` ``y1, x1,
        y2, x2`` in image pixels, centred on ``cell * feature_stride``; ordered by row,
        then column, then ratio (Matterport's order, which trained weights rely on).
    """
    scales, ratios = np.meshgrid(np.array(scales, dtype=np.float64).ravel(), np.array(ratios, dtype=np.float64).ravel())
    scales, ratios = scales.ravel(), ratios.ravel()
    heights = scales / np.sqrt(ratios)
    widths = scales * np.sqrt(ratios)
    shifts_y = np.arange(0, shape[0], anchor_stride) * feature_stride
    shifts_x = np.arange(0, shape[1], anchor_stride) * feature_stride
    shifts_x, shifts_y = np.meshgrid(shifts_x, shifts_y)
    box_widths, box_cx = np.meshgrid(widths, shifts_x)
    box_heights, box_cy = np.meshgrid(heights, shifts_y)
    centers = np.stack([box_cy, box_cx], axis=2).reshape(-1, 2)
    sizes = np.stack([box_heights, box_widths], axis=2).reshape(-1, 2)
    return np.concatenate([centers - 0.5 * sizes, centers + 0.5 * sizes], axis=1)


def generate_pyramid_anchors(scales, ratios, feature_shapes, feature_strides, anchor_stride) -> np.ndarray:
    """Anchors of every FPN level, concatenated (level ``i`` uses ``scales[i]``,
    ``feature_shapes[i]``, ``feature_strides[i]``); ``(A, 4)`` ``y1, x1, y2, x2`` pixels."""
    if not (len(scales) == len(feature_shapes) == len(feature_strides)):
        raise ValueError(f"generate_pyramid_anchors: {len(scales)} scales, {len(feature_shapes)} feature shapes, "
                         f"{len(feature_strides)} strides; expected one of each per level")
    return np.concatenate([generate_anchors(scales[i], ratios, feature_shapes[i], feature_strides[i], anchor_stride)
                           for i in range(len(scales))], axis=0)


# ============================================================================ mAP


def compute_matches(gt_boxes, gt_class_ids, gt_masks, pred_boxes, pred_class_ids, pred_scores, pred_masks,
                    iou_threshold: float = 0.5, score_threshold: float = 0.0):
    """Match predictions to ground truth, Matterport's way (mask IoU).

    Predictions are visited best score first; each takes the unmatched ground-truth
    instance of the **same class** with the highest mask IoU, if that IoU is at least
    ``iou_threshold`` (a higher-IoU ground truth of another class blocks nothing: it is
    skipped). All-zero boxes (padding) are trimmed first.

    Returns:
        ``gt_match`` ``(G,)`` (index of the matched prediction, in score order, or -1),
        ``pred_match`` ``(P,)`` (index of the matched ground truth or -1; predictions sorted
        by descending score), ``overlaps`` ``(P, G)`` mask IoUs (predictions in score order).
    """
    gt_boxes = trim_zeros(np.asarray(gt_boxes).reshape(-1, 4))
    gt_masks = np.asarray(gt_masks)[..., :gt_boxes.shape[0]]
    gt_class_ids = np.asarray(gt_class_ids)[:gt_boxes.shape[0]]
    pred_boxes = trim_zeros(np.asarray(pred_boxes).reshape(-1, 4))
    pred_scores = np.asarray(pred_scores)[:pred_boxes.shape[0]]
    order = np.argsort(-pred_scores, kind="stable")
    pred_boxes = pred_boxes[order]
    pred_class_ids = np.asarray(pred_class_ids)[:len(order)][order]
    pred_masks = np.asarray(pred_masks)[..., :len(order)][..., order]
    overlaps = compute_overlaps_masks(pred_masks, gt_masks)
    pred_match = -1 * np.ones(len(pred_boxes))
    gt_match = -1 * np.ones(len(gt_boxes))
    for i in range(len(pred_boxes)):
        candidates = np.argsort(-overlaps[i], kind="stable")
        candidates = candidates[overlaps[i, candidates] >= score_threshold]
        for j in candidates:
            if gt_match[j] > -1:
                continue
            if overlaps[i, j] < iou_threshold:
                break
            if pred_class_ids[i] == gt_class_ids[j]:
                gt_match[j] = i
                pred_match[i] = j
                break
    return gt_match, pred_match, overlaps


def compute_ap(gt_boxes, gt_class_ids, gt_masks, pred_boxes, pred_class_ids, pred_scores, pred_masks,
               iou_threshold: float = 0.5):
    """Average precision of one image's detections at one mask-IoU threshold (Matterport's
    definition, ``3_3``): matches by :func:`compute_matches`, precision made monotone
    (each point takes the best precision at any higher recall), area under the
    precision/recall steps. Classes are pooled (a match needs the same class).

    Args:
        gt_boxes ``(G, 4)``, gt_class_ids ``(G,)``, gt_masks ``(H, W, G)``; pred_boxes
        ``(P, 4)``, pred_class_ids ``(P,)``, pred_scores ``(P,)``, pred_masks ``(H, W, P)``
        (the ``rois``, ``class_ids``, ``scores``, ``masks`` of a detection).

    Returns:
        ``(mAP, precisions, recalls, overlaps)``: mAP a float; precisions and recalls
        ``(P + 2,)`` with the sentinel points added; overlaps ``(P, G)``.
        An image without ground truth scores 1.0 if there is no prediction, else 0.0
        (Matterport's code divides by zero there).
    """
    gt_match, pred_match, overlaps = compute_matches(gt_boxes, gt_class_ids, gt_masks, pred_boxes,
                                                     pred_class_ids, pred_scores, pred_masks, iou_threshold)
    hits = np.cumsum(pred_match > -1)
    precisions = hits / (np.arange(len(pred_match)) + 1)
    if len(gt_match) == 0:
        recalls = np.zeros(len(pred_match))
        ap = 1.0 if len(pred_match) == 0 else 0.0
        return ap, np.concatenate([[0], precisions, [0]]), np.concatenate([[0], recalls, [1]]), overlaps
    recalls = hits.astype(np.float64) / len(gt_match)
    precisions = np.concatenate([[0], precisions, [0]])
    recalls = np.concatenate([[0], recalls, [1]])
    for i in range(len(precisions) - 2, -1, -1):
        precisions[i] = max(precisions[i], precisions[i + 1])
    steps = np.flatnonzero(recalls[:-1] != recalls[1:]) + 1
    ap = float(np.sum((recalls[steps] - recalls[steps - 1]) * precisions[steps]))
    return ap, precisions, recalls, overlaps


def compute_ap_range(gt_box, gt_class_id, gt_mask, pred_box, pred_class_id, pred_score, pred_mask,
                     iou_thresholds=None, verbose: int = 1) -> float:
    """Mean of :func:`compute_ap` over IoU thresholds (default 0.50:0.05:0.95, COCO's
    range); prints it when ``verbose``."""
    if iou_thresholds is None:
        iou_thresholds = np.round(np.arange(0.5, 1.0, 0.05), 2)  # rounded: arange gives 0.7000000000000002
    iou_thresholds = np.asarray(iou_thresholds, dtype=np.float64).ravel()
    aps = [compute_ap(gt_box, gt_class_id, gt_mask, pred_box, pred_class_id, pred_score, pred_mask,
                      iou_threshold=t)[0] for t in iou_thresholds]
    ap = float(np.mean(aps))
    if verbose:
        print(f"AP @{iou_thresholds[0]:.2f}-{iou_thresholds[-1]:.2f}:\t {ap:.3f}")
    return ap


def compute_recall(pred_boxes, gt_boxes, iou: float):
    """Box recall: the fraction of ground-truth boxes that some prediction overlaps with
    IoU ≥ ``iou``. Returns ``(recall, positive_ids)`` (indices of those predictions)."""
    gt_boxes = np.asarray(gt_boxes).reshape(-1, 4)
    if len(gt_boxes) == 0:
        raise ValueError("compute_recall: no ground-truth boxes")
    overlaps = compute_overlaps(pred_boxes, gt_boxes)
    if overlaps.shape[0] == 0:
        return 0.0, np.zeros(0, dtype=np.int64)
    positive_ids = np.flatnonzero(overlaps.max(axis=1) >= iou)
    matched = set(overlaps.argmax(axis=1)[positive_ids].tolist())
    return len(matched) / len(gt_boxes), positive_ids


def _check_gt(gt: dict, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if "masks" not in gt or "class_ids" not in gt:
        raise KeyError(f"ground truth {i}: expected a dict with 'masks' (H, W, N) and 'class_ids' (N,)")
    masks = np.asarray(gt["masks"]).astype(bool)
    ids = np.asarray(gt["class_ids"]).astype(np.int32)
    boxes = np.asarray(gt["boxes"]) if "rois" not in gt and "boxes" in gt else extract_bboxes(masks)
    return boxes, ids, masks


def _check_pred(pred: dict, i: int, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    for key in ("class_ids", "scores", "masks"):
        if key not in pred:
            raise KeyError(f"prediction {i}: no {key!r}; expected a dict like MaskRCNN.detect's "
                           "(rois, class_ids, scores, masks)")
    masks = np.asarray(pred["masks"]).astype(bool)
    if masks.ndim != 3 or masks.shape[:2] != tuple(shape):
        raise ValueError(f"prediction {i}: masks of shape {masks.shape}, expected {tuple(shape)} + (N,)")
    boxes = np.asarray(pred["rois"]) if "rois" in pred else extract_bboxes(masks)
    return boxes, np.asarray(pred["class_ids"]).astype(np.int32), np.asarray(pred["scores"], dtype=np.float64), masks


def mean_ap(gts: list[dict], preds: list[dict], iou_threshold: float = 0.5) -> tuple[float, list[float]]:
    """Mean over images of :func:`compute_ap` (how Matterport reports a validation mAP).

    Args:
        gts: per image ``{"masks": (H, W, G) bool, "class_ids": (G,)}``.
        preds: per image a detection dict ``{"rois", "class_ids", "scores", "masks"}``
            (``rois`` optional: taken from the masks).

    Returns:
        ``(mAP, per-image APs)``.
    """
    if len(gts) != len(preds):
        raise ValueError(f"mean_ap: {len(gts)} ground truths but {len(preds)} predictions")
    if not gts:
        raise ValueError("mean_ap: no images")
    aps = []
    for i, (gt, pred) in enumerate(zip(gts, preds)):
        gb, gc, gm = _check_gt(gt, i)
        pb, pc, ps, pm = _check_pred(pred, i, gm.shape[:2])
        aps.append(compute_ap(gb, gc, gm, pb, pc, ps, pm, iou_threshold)[0])
    return float(np.mean(aps)), aps


def coco_map_for_masks(gts: list[dict], preds: list[dict], class_names=None, iou_type: str = "segm",
                       verbose: bool = False) -> dict[str, float]:
    """Evaluate the same detections with pycocotools (``COCOeval``) for a cross-check of
    :func:`mean_ap` (``3_3``).

    Args:
        gts, preds: as for :func:`mean_ap`.
        class_names: names indexed by class id (optional, for the category list).
        iou_type: ``"segm"`` (mask IoU, like :func:`compute_ap`) or ``"bbox"``.
        verbose: print COCOeval's summary table.

    Returns:
        ``{"AP50": ..., "AP": ... (0.50:0.95), "AP75": ...}``. COCO averages per class and
        interpolates precision at 101 recall points; :func:`compute_ap` averages per image
        and pools classes, so the two agree closely on good detections, not exactly.
    """
    import contextlib
    import io

    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if iou_type not in ("segm", "bbox"):
        raise ValueError(f"coco_map_for_masks: iou_type={iou_type!r}, expected 'segm' or 'bbox'")
    if len(gts) != len(preds):
        raise ValueError(f"coco_map_for_masks: {len(gts)} ground truths but {len(preds)} predictions")

    def encode(m):
        rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        rle["counts"] = rle["counts"].decode("ascii")
        return rle

    def xywh(box):
        y1, x1, y2, x2 = (float(v) for v in box)
        return [x1, y1, x2 - x1, y2 - y1]

    images, annotations, results, cat_ids = [], [], [], set()
    for i, (gt, pred) in enumerate(zip(gts, preds)):
        gb, gc, gm = _check_gt(gt, i)
        pb, pc, ps, pm = _check_pred(pred, i, gm.shape[:2])
        h, w = gm.shape[:2]
        images.append({"id": i + 1, "height": h, "width": w})
        for k in range(gm.shape[-1]):
            box = extract_bboxes(gm[..., k:k + 1])[0]
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(gc[k]),
                                "segmentation": encode(gm[..., k]), "area": float(gm[..., k].sum()),
                                "bbox": xywh(box), "iscrowd": 0})
            cat_ids.add(int(gc[k]))
        for k in range(pm.shape[-1]):
            res = {"image_id": i + 1, "category_id": int(pc[k]), "score": float(ps[k])}
            if iou_type == "segm":
                res["segmentation"] = encode(pm[..., k])
            else:
                res["bbox"] = xywh(pb[k])
            results.append(res)
            cat_ids.add(int(pc[k]))
    names = list(class_names) if class_names is not None else []
    categories = [{"id": c, "name": names[c] if c < len(names) else str(c)} for c in sorted(cat_ids)]
    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with quiet:
        coco_gt = COCO()
        coco_gt.dataset = {"images": images, "annotations": annotations, "categories": categories}
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results) if results else COCO()
        if not results:
            return {"AP": 0.0, "AP50": 0.0, "AP75": 0.0}
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [max(float(s), 0.0) for s in ev.stats[:3]]  # -1 means "no ground truth" in COCOeval
    return {"AP": stats[0], "AP50": stats[1], "AP75": stats[2]}


# ============================================================================ datasets


class Dataset:
    """Matterport's dataset base class (``3_3``): register classes and images, then
    :meth:`prepare`; subclasses (or the loaders below) implement :meth:`load_mask`.

    Image ids are internal (``0..num_images-1``); each image's source and id within its
    source are kept in ``image_info``. Class ids are internal too, with ``0 == "BG"``;
    ``map_source_class_id("coco.18")`` finds the internal id of a source's class.

    An image registered with in-memory arrays (``add_image(..., image=arr, masks=m,
    class_ids=c)``) needs no subclass: :meth:`load_image`/:meth:`load_mask` return them.
    """

    def __init__(self, class_map=None):
        self._image_ids: np.ndarray = np.zeros(0, dtype=np.int64)
        self.image_info: list[dict] = []
        self.class_info: list[dict] = [{"source": "", "id": 0, "name": "BG"}]
        self.source_class_ids: dict[str, list[int]] = {}
        self._prepared = False

    # -- registration
    def add_class(self, source: str, class_id: int, class_name: str) -> None:
        """Register class ``class_id`` of ``source`` (a dataset name without dots)."""
        if "." in source:
            raise ValueError(f"add_class: source {source!r} must not contain a dot")
        for info in self.class_info:
            if info["source"] == source and info["id"] == class_id:
                return  # already registered
        self.class_info.append({"source": source, "id": class_id, "name": class_name})

    def add_image(self, source: str, image_id, path, **kwargs) -> None:
        """Register an image: ``source``, its id in that source, its file ``path`` (or
        ``None`` with ``image=`` an array), and any extra info (e.g. ``polygons``,
        ``width``, ``height``) kept in ``image_info``."""
        info = {"id": image_id, "source": source, "path": None if path is None else str(path)}
        info.update(kwargs)
        self.image_info.append(info)

    def image_reference(self, image_id: int) -> str:
        """A human-readable pointer to the image (its path or URL); subclasses may override."""
        return str(self.image_info[image_id].get("path") or "")

    def prepare(self, class_map=None) -> None:
        """Build the lookup tables; call it after adding classes and images."""
        self.num_classes = len(self.class_info)
        self.class_ids = np.arange(self.num_classes)
        self.class_names = [",".join(c["name"].split(",")[:1]) for c in self.class_info]
        self.num_images = len(self.image_info)
        self._image_ids = np.arange(self.num_images)
        self.class_from_source_map = {f"{c['source']}.{c['id']}": i for i, c in enumerate(self.class_info)}
        self.image_from_source_map = {f"{im['source']}.{im['id']}": i for i, im in enumerate(self.image_info)}
        self.sources = sorted({c["source"] for c in self.class_info})
        self.source_class_ids = {s: [i for i, c in enumerate(self.class_info) if i == 0 or c["source"] == s]
                                 for s in self.sources}
        self._prepared = True

    # -- lookups
    @property
    def image_ids(self) -> np.ndarray:
        """Internal image ids ``0..num_images-1`` (after :meth:`prepare`)."""
        return self._image_ids

    def _need_prepare(self, what: str) -> None:
        if not self._prepared:
            raise RuntimeError(f"{type(self).__name__}.{what}: call prepare() first")

    def map_source_class_id(self, source_class_id: str) -> int:
        """``"source.class_id"`` → internal class id."""
        self._need_prepare("map_source_class_id")
        if source_class_id not in self.class_from_source_map:
            raise KeyError(f"no class {source_class_id!r}; known: {', '.join(self.class_from_source_map)}")
        return self.class_from_source_map[source_class_id]

    def get_source_class_id(self, class_id: int, source: str):
        """Internal class id → the class's id in ``source``."""
        info = self.class_info[class_id]
        if info["source"] != source:
            raise ValueError(f"class {class_id} ({info['name']!r}) comes from {info['source']!r}, not {source!r}")
        return info["id"]

    def source_image_link(self, image_id: int) -> str:
        return str(self.image_info[image_id].get("path") or "")

    # -- data
    def load_image(self, image_id: int) -> np.ndarray:
        """The image as ``(H, W, 3)`` uint8 RGB (grayscale repeated, RGBA composited on white
        by :func:`utils.images.load_image`, whose errors name the file)."""
        info = self.image_info[image_id]
        if info.get("image") is not None:
            image = np.asarray(info["image"])
            if image.ndim == 2:
                image = np.repeat(image[..., None], 3, axis=2)
            return np.ascontiguousarray(image[..., :3]).astype(np.uint8)
        if not info.get("path"):
            raise ValueError(f"image {image_id} ({info['source']}.{info['id']}): no path and no image array")
        return load_image(info["path"])

    def load_mask(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Instance masks ``(H, W, N)`` bool and internal class ids ``(N,)`` int32.

        The base class serves images registered with ``masks=``/``class_ids=`` arrays
        (internal class ids); any other dataset must override it.
        """
        info = self.image_info[image_id]
        if "masks" in info and "class_ids" in info:
            masks = np.asarray(info["masks"]).astype(bool)
            return masks, np.asarray(info["class_ids"], dtype=np.int32).reshape(-1)
        raise NotImplementedError(f"{type(self).__name__}.load_mask: image {image_id} has no masks; "
                                  "override load_mask in your Dataset subclass (see 3_3)")


class InstanceDataset(Dataset):
    """A :class:`Dataset` over an in-memory :class:`utils.data.InstanceSet` (``shapes``,
    ``pasted_objects``): the fast-mode stand-in for a folder of annotated photos.

    Class ids are the set's (``class_names[0] == "BG"``), under ``source``.
    """

    def __init__(self, instance_set, source: str = "shapes", indices=None):
        super().__init__()
        for cid, name in enumerate(instance_set.class_names[1:], start=1):
            self.add_class(source, cid, name)
        for i in (range(len(instance_set)) if indices is None else indices):
            self.add_image(source, int(i), None, image=instance_set.images[i], masks=instance_set.masks[i],
                           class_ids=instance_set.class_ids[i], height=instance_set.images[i].shape[0],
                           width=instance_set.images[i].shape[1])
        self.prepare()

    def load_mask(self, image_id):
        """Masks and class ids of the set, mapped to internal class ids."""
        info = self.image_info[image_id]
        ids = np.array([self.map_source_class_id(f"{info['source']}.{int(c)}") for c in info["class_ids"]],
                       dtype=np.int32)
        return np.asarray(info["masks"]).astype(bool), ids


# ---------------------------------------------------------------------------- VIA

VIA_SHAPES = ("polygon", "rect", "circle", "ellipse")


def _encloses_area(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether the polygon with vertices ``(x[i], y[i])`` has a non-zero area (shoelace formula)."""
    return abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) >= 1e-9


def via_region_to_mask(shape: dict, height: int, width: int) -> np.ndarray:
    """Rasterise one VIA ``shape_attributes`` dict (polygon, rect, circle, ellipse) into a
    ``(height, width)`` bool mask with OpenCV's ``fillPoly``: pixels whose centre lies inside the
    outline, or less than about half a pixel outside it, are set, so a polygon through the
    centres of a mask's boundary pixels gives back that mask.

    Raises ``ValueError`` for an unknown or malformed shape.
    """
    import cv2

    name = shape.get("name")
    canvas = np.zeros((height, width), np.uint8)
    shift = 4  # sub-pixel precision for OpenCV's drawing functions
    f = 1 << shift
    if name in ("polygon", "polyline"):
        xs, ys = shape.get("all_points_x"), shape.get("all_points_y")
        if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys):
            raise ValueError("polygon needs lists all_points_x and all_points_y of the same length")
        if len(xs) < 3:
            raise ValueError(f"polygon has {len(xs)} point(s), needs at least 3")
        x, y = np.asarray(xs, float), np.asarray(ys, float)
        if not _encloses_area(x, y):
            raise ValueError("polygon encloses no area (its points lie on one line)")
        pts = np.round(np.stack([x, y], axis=1) * f).astype(np.int32)
        cv2.fillPoly(canvas, [pts], 1, lineType=cv2.LINE_8, shift=shift)
    elif name == "rect":
        x, y, w, h = (float(shape[k]) for k in ("x", "y", "width", "height"))
        if w <= 0 or h <= 0:
            raise ValueError(f"rect has width {w} and height {h}, both must be positive")
        x1, y1 = int(np.ceil(x - 0.5)), int(np.ceil(y - 0.5))
        x2, y2 = int(np.ceil(x + w - 0.5)), int(np.ceil(y + h - 0.5))
        canvas[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)] = 1
    elif name in ("circle", "ellipse"):
        cx, cy = float(shape["cx"]), float(shape["cy"])
        rx, ry = (float(shape["r"]),) * 2 if name == "circle" else (float(shape["rx"]), float(shape["ry"]))
        theta = float(shape.get("theta", 0.0)) if name == "ellipse" else 0.0
        if rx <= 0 or ry <= 0:
            raise ValueError(f"{name} has radius {rx}x{ry}, must be positive")
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
        dx, dy = xx - cx, yy - cy
        c, s = np.cos(theta), np.sin(theta)
        u, v = dx * c + dy * s, -dx * s + dy * c
        canvas = ((u / rx) ** 2 + (v / ry) ** 2 <= 1.0).astype(np.uint8)
    else:
        raise ValueError(f"shape {name!r} has no area; expected one of {', '.join(VIA_SHAPES)}")
    return canvas.astype(bool)


def _shape_extent(shape: dict) -> tuple[float, float, float, float]:
    """(x_min, y_min, x_max, y_max) of a VIA shape, for the inside-the-image check."""
    name = shape.get("name")
    if name in ("polygon", "polyline"):
        return (min(shape["all_points_x"]), min(shape["all_points_y"]),
                max(shape["all_points_x"]), max(shape["all_points_y"]))
    if name == "rect":
        return shape["x"], shape["y"], shape["x"] + shape["width"], shape["y"] + shape["height"]
    if name == "circle":
        return shape["cx"] - shape["r"], shape["cy"] - shape["r"], shape["cx"] + shape["r"], shape["cy"] + shape["r"]
    r = max(shape["rx"], shape["ry"])
    return shape["cx"] - r, shape["cy"] - r, shape["cx"] + r, shape["cy"] + r


def _region_class(attrs, class_attribute: str | None, class_names: list[str] | None):
    """The class name of a region from its region_attributes, or raise ValueError."""
    if class_attribute is None:
        return class_names[0]
    if not isinstance(attrs, dict) or class_attribute not in attrs:
        have = ", ".join(attrs) if isinstance(attrs, dict) and attrs else "none"
        raise ValueError(f"no region attribute {class_attribute!r} (attributes: {have})")
    value = attrs[class_attribute]
    if isinstance(value, dict):  # VIA checkbox attribute: {"scooter": true}
        chosen = [k for k, v in value.items() if v]
        if len(chosen) != 1:
            raise ValueError(f"attribute {class_attribute!r} ticks {chosen or 'nothing'}, expected exactly one class")
        value = chosen[0]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"attribute {class_attribute!r} is {value!r}, expected a class name")
    return value.strip()


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.size[1], img.size[0]
    except Exception as err:  # noqa: BLE001 - named in the message
        raise ImageError(f"cannot read image ({err.__class__.__name__}: {err})") from None


class ViaDataset(Dataset):
    """Images annotated with the VGG Image Annotator (VIA 2), as in Matterport's balloon
    sample and the course's kick-scooter set (``3_3``).

    ``folder`` holds the images and a VIA JSON: either "Export annotations (as json)"
    (``{key: {"filename", "size", "regions", "file_attributes"}}``) or a saved project
    (the same under ``"_via_img_metadata"``). ``regions`` may be a list (VIA 2) or a dict
    (VIA 1). Region shapes ``polygon``, ``rect``, ``circle`` and ``ellipse`` become
    masks; the class is ``region_attributes[class_attribute]`` (a text, dropdown or
    radio value, or a checkbox with exactly one class ticked). Regions sharing a
    ``region_attributes["instance"]`` value in one image form one instance (how
    :func:`export_via` writes an object split into several pieces), as do regions sharing a
    ``"group"`` value (how :func:`utils.annotations.write_via` writes them).

    Every problem (missing or unreadable image, shape outside the image or with no
    area, unknown class, malformed JSON) is collected and raised at once as an
    :class:`AnnotationError` naming the file and region. Images without regions are kept
    (as negatives) and counted in ``self.empty_images``.
    """

    def __init__(self, folder=None, json_file: str = "via_region_data.json", class_names=None,
                 class_attribute: str | None = "name", source: str = "via", allow_empty: bool = True):
        super().__init__()
        self.empty_images: list[str] = []
        if folder is not None:
            self.load_via(folder, json_file, class_names=class_names, class_attribute=class_attribute,
                          source=source, allow_empty=allow_empty)
            self.prepare()

    def load_via(self, folder, json_file: str = "via_region_data.json", class_names=None,
                 class_attribute: str | None = "name", source: str = "via", allow_empty: bool = True) -> None:
        """Register the classes and annotated images of one VIA folder (see the class doc).

        Args:
            folder: the folder with the images and ``json_file`` (a path relative to it,
                or absolute).
            class_names: the allowed class names (their order gives the class ids
                1..K); ``None`` takes the sorted names found in the file.
            class_attribute: the region attribute holding the class; ``None`` puts every
                region in the single class ``class_names[0]``.
            allow_empty: keep images without regions (else they are errors).
        """
        folder = Path(folder)
        json_path = Path(json_file) if Path(json_file).is_absolute() else folder / json_file
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such folder (expected the images and {json_file})")
        if not json_path.is_file():
            raise FileNotFoundError(f"{json_path}: no such file (expected a VIA 2 annotation JSON; in VIA use "
                                    "Annotation > Export Annotations (as json))")
        try:
            data = json.loads(json_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise AnnotationError(f"{json_path}: malformed JSON at line {err.lineno}, column {err.colno}: "
                                  f"{err.msg}") from None
        except UnicodeDecodeError as err:
            raise AnnotationError(f"{json_path}: not UTF-8 text ({err})") from None
        if isinstance(data, dict) and "_via_img_metadata" in data:
            data = data["_via_img_metadata"]
        if not isinstance(data, dict) or not data:
            raise AnnotationError(f"{json_path}: expected a VIA JSON object {{key: {{filename, regions, ...}}}}, "
                                  f"got {type(data).__name__}{' (empty)' if not data else ''}")
        if class_attribute is None and (not class_names or len(class_names) != 1):
            raise ValueError("load_via: class_attribute=None needs exactly one class name in class_names")

        problems: list[str] = []
        entries = []  # (key, filename, [(region index, shape, class name, instance key)])
        for key, entry in data.items():
            if not isinstance(entry, dict) or "filename" not in entry:
                problems.append(f"entry {key!r}: expected an object with 'filename' and 'regions'")
                continue
            fname = entry["filename"]
            regions = entry.get("regions", [])
            if isinstance(regions, dict):  # VIA 1.x
                regions = [regions[k] for k in sorted(regions, key=lambda s: int(s) if str(s).isdigit() else s)]
            if not isinstance(regions, list):
                problems.append(f"{fname}: 'regions' is {type(regions).__name__}, expected a list")
                continue
            parsed = []
            for r, region in enumerate(regions):
                where = f"{fname} region {r}"
                if not isinstance(region, dict) or not isinstance(region.get("shape_attributes"), dict):
                    problems.append(f"{where}: no shape_attributes")
                    continue
                shape = region["shape_attributes"]
                attrs = region.get("region_attributes", {})
                try:
                    cname = _region_class(attrs, class_attribute, class_names)
                except ValueError as err:
                    problems.append(f"{where}: {err}")
                    cname = None
                if class_names is not None and cname is not None and cname not in class_names:
                    problems.append(f"{where}: unknown class {cname!r} (expected one of {', '.join(class_names)})")
                    cname = None
                if shape.get("name") not in VIA_SHAPES:
                    problems.append(f"{where}: shape {shape.get('name')!r} has no area "
                                    f"(expected {', '.join(VIA_SHAPES)})")
                    continue
                instance = f"region {r}"
                if isinstance(attrs, dict):  # export_via's "instance", utils.annotations.write_via's "group"
                    instance = attrs.get("instance", f"group {attrs['group']}" if attrs.get("group") not in (None, "")
                                         else instance)
                parsed.append((r, shape, cname, str(instance)))
            if not parsed and not regions:
                if not allow_empty:
                    problems.append(f"{fname}: no regions")
            entries.append((key, fname, parsed, len(regions)))

        names = list(class_names) if class_names is not None else sorted(
            {c for _, _, parsed, _ in entries for _, _, c, _ in parsed if c is not None})
        checked = []
        for key, fname, parsed, n_regions in entries:
            path = folder / fname
            if not path.is_file():
                problems.append(f"{fname}: image file {path} not found")
                continue
            try:
                height, width = _image_size(path)
            except ImageError as err:
                problems.append(f"{fname}: {err}")
                continue
            instances: dict[str, list] = {}
            for r, shape, cname, inst in parsed:
                where = f"{fname} region {r}"
                try:
                    x0, y0, x1, y1 = (float(v) for v in _shape_extent(shape))
                    mask = via_region_to_mask(shape, height, width)
                except ValueError as err:
                    problems.append(f"{where}: {err}")
                    continue
                except (KeyError, TypeError) as err:
                    what = f"no field {err}" if isinstance(err, KeyError) else str(err)
                    problems.append(f"{where}: malformed {shape.get('name')} ({what})")
                    continue
                if x0 < -1 or y0 < -1 or x1 > width + 1 or y1 > height + 1:
                    problems.append(f"{where}: {shape['name']} spans x {x0:g}..{x1:g}, y {y0:g}..{y1:g}, "
                                    f"outside the {width}x{height} image")
                    continue
                if not mask.any():
                    problems.append(f"{where}: {shape['name']} covers no pixel")
                    continue
                instances.setdefault(inst, []).append((r, shape, cname))
            for inst, parts in instances.items():
                if len({c for _, _, c in parts}) > 1:
                    problems.append(f"{fname} instance {inst!r}: regions {[r for r, _, _ in parts]} have different "
                                    f"classes {sorted({str(c) for _, _, c in parts})}")
            if n_regions == 0:
                self.empty_images.append(fname)
            checked.append((key, fname, path, height, width, instances))
        if problems:
            raise AnnotationError(f"{json_path}: {len(problems)} problem(s) in the annotations:\n  - "
                                  + "\n  - ".join(problems))
        for cid, name in enumerate(names, start=1):
            self.add_class(source, cid, name)
        lookup = {n: i for i, n in enumerate(names, start=1)}
        for key, fname, path, height, width, instances in checked:
            objects = [{"shapes": [s for _, s, _ in parts], "class_id": lookup[parts[0][2]],
                        "regions": [r for r, _, _ in parts]} for parts in instances.values()]
            self.add_image(source, fname, path, width=width, height=height, objects=objects, via_key=key)

    def load_mask(self, image_id):
        """Rasterised regions ``(H, W, N)`` bool and internal class ids ``(N,)`` int32."""
        info = self.image_info[image_id]
        if "objects" not in info:
            return super().load_mask(image_id)
        h, w = info["height"], info["width"]
        masks = np.zeros((h, w, len(info["objects"])), dtype=bool)
        for k, obj in enumerate(info["objects"]):
            for shape in obj["shapes"]:
                masks[..., k] |= via_region_to_mask(shape, h, w)
        ids = np.array([self.map_source_class_id(f"{info['source']}.{o['class_id']}") for o in info["objects"]],
                       dtype=np.int32)
        return masks, ids


def _via_polygons(mask: np.ndarray) -> list[np.ndarray]:
    """Outer outlines of a 2-D bool mask as VIA polygons ``(K, 2)`` float ``(x, y)`` through
    boundary pixel centres, one per connected piece (holes are not kept: VIA polygons have
    none); :func:`via_region_to_mask` turns them back into the same pixels.

    (:func:`utils.annotations.mask_to_polygons` traces pixel *borders* instead, the COCO and
    labelme convention, which ``fillPoly`` would grow by a pixel.)

    A piece one pixel thin (a point, a line) has an outline of zero area, which annotation
    tools refuse; it gets the convex hull of its pixel centres widened by a quarter pixel,
    which rasterises back to exactly its pixels when the piece is straight, and to a superset
    of them when it bends.
    """
    import cv2

    mask = np.asarray(mask, np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        pts = c.reshape(-1, 2).astype(np.float64)
        if len(pts) < 3 or not _encloses_area(pts[:, 0], pts[:, 1]):
            piece = np.zeros_like(mask)
            cv2.drawContours(piece, [c], -1, 1, thickness=cv2.FILLED)
            ys, xs = np.nonzero(piece & mask)
            corners = np.concatenate([np.stack([xs + dx, ys + dy], axis=1)
                                      for dx in (-0.25, 0.25) for dy in (-0.25, 0.25)]).astype(np.float32)
            pts = cv2.convexHull(corners).reshape(-1, 2).astype(np.float64)
        polys.append(pts)
    return polys


def export_via(instance_set, folder, json_file: str = "via_region_data.json", class_attribute: str = "name",
               indices=None, prefix: str = "img") -> Path:
    """Write an :class:`utils.data.InstanceSet` (``shapes``, ``pasted_objects``) as PNG
    images plus a VIA 2 annotation JSON, so fast mode runs the same VIA loader as a
    hand-annotated folder (``3_3``).

    Each instance becomes a polygon region with ``region_attributes[class_attribute]``
    set to its class name; an instance in several pieces gets one polygon per piece, all
    with the same ``"instance"`` attribute. Returns the JSON path.
    """
    from utils.images import save_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    via = {}
    for i in (range(len(instance_set)) if indices is None else indices):
        fname = f"{prefix}{int(i):05d}.png"
        path = save_image(folder / fname, instance_set.images[i])
        regions = []
        masks, ids = instance_set.masks[i], instance_set.class_ids[i]
        for k in range(masks.shape[-1]):
            polys = _via_polygons(masks[..., k])
            if not polys:
                raise ValueError(f"export_via: image {i} instance {k} has an empty mask")
            for poly in polys:
                attrs = {class_attribute: instance_set.class_names[int(ids[k])]}
                if len(polys) > 1:
                    attrs["instance"] = str(k)
                regions.append({"shape_attributes": {"name": "polygon",
                                                     "all_points_x": [round(float(x), 2) for x in poly[:, 0]],
                                                     "all_points_y": [round(float(y), 2) for y in poly[:, 1]]},
                                "region_attributes": attrs})
        size = path.stat().st_size
        via[f"{fname}{size}"] = {"filename": fname, "size": size, "regions": regions, "file_attributes": {}}
    out = folder / json_file
    out.write_text(json.dumps(via, indent=1))
    return out


# ---------------------------------------------------------------------------- COCO


class CocoDataset(Dataset):
    """A COCO-format instance segmentation set read with pycocotools (``3_3``; Matterport's
    ``samples/coco``). Polygons, uncompressed and compressed RLE all become masks.

    Crowd annotations (``iscrowd=1``) get the **negative** class id, as in Matterport, so
    training can ignore them; annotations whose mask is empty are listed in
    ``self.skipped`` (with a warning), never dropped silently.
    """

    def __init__(self):
        super().__init__()
        self.skipped: list[str] = []

    def load_coco(self, annotation_file, image_dir, class_ids=None, return_coco: bool = False,
                  source: str = "coco"):
        """Register the classes and images of a COCO JSON.

        Args:
            annotation_file: ``instances_*.json``; image_dir: folder with the images
                (``file_name`` relative to it).
            class_ids: keep only these COCO category ids (and images containing them);
                ``None`` keeps all.
            return_coco: also return the ``pycocotools.coco.COCO`` object.

        Raises ``AnnotationError`` naming the file for malformed JSON or annotations that
        refer to unknown images or categories.
        """
        import contextlib
        import io

        from pycocotools.coco import COCO

        annotation_file, image_dir = Path(annotation_file), Path(image_dir)
        if not annotation_file.is_file():
            raise FileNotFoundError(f"{annotation_file}: no such file (expected a COCO annotation JSON)")
        if not image_dir.is_dir():
            raise FileNotFoundError(f"{image_dir}: no such folder (expected the COCO images)")
        try:
            data = json.loads(annotation_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise AnnotationError(f"{annotation_file}: malformed JSON at line {err.lineno}, column {err.colno}: "
                                  f"{err.msg}") from None
        problems = []
        for key in ("images", "annotations", "categories"):
            if not isinstance(data, dict) or not isinstance(data.get(key), list):
                problems.append(f"no list {key!r}")
        if not problems:
            image_ids = {im.get("id") for im in data["images"]}
            cat_ids = {c.get("id") for c in data["categories"]}
            for im in data["images"]:
                for k in ("id", "file_name", "height", "width"):
                    if k not in im:
                        problems.append(f"image {im.get('id', '?')}: no {k!r}")
            for ann in data["annotations"]:
                aid = ann.get("id", "?")
                if ann.get("image_id") not in image_ids:
                    problems.append(f"annotation {aid}: unknown image_id {ann.get('image_id')!r}")
                if ann.get("category_id") not in cat_ids:
                    problems.append(f"annotation {aid}: unknown category_id {ann.get('category_id')!r}")
                if "segmentation" not in ann:
                    problems.append(f"annotation {aid}: no 'segmentation' (polygons or RLE)")
        if problems:
            raise AnnotationError(f"{annotation_file}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems))
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO()
            coco.dataset = data
            coco.createIndex()
        class_ids = sorted(coco.getCatIds()) if class_ids is None else sorted(class_ids)
        if class_ids:
            image_ids = sorted({i for c in class_ids for i in coco.getImgIds(catIds=[c])})
        else:
            image_ids = sorted(coco.imgs)
        for cid in class_ids:
            self.add_class(source, cid, coco.loadCats(cid)[0]["name"])
        for iid in image_ids:
            im = coco.imgs[iid]
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[iid], catIds=class_ids, iscrowd=None))
            self.add_image(source, iid, image_dir / im["file_name"], width=im["width"], height=im["height"],
                           annotations=anns)
        self._coco_source = source
        if return_coco:
            return coco
        return None

    def load_mask(self, image_id):
        """Masks ``(H, W, N)`` bool and internal class ids ``(N,)`` int32 (negative for crowds)."""
        from pycocotools import mask as mask_utils

        info = self.image_info[image_id]
        if "annotations" not in info:
            return super().load_mask(image_id)
        h, w = info["height"], info["width"]
        masks, ids = [], []
        for ann in info["annotations"]:
            cid = self.map_source_class_id(f"{info['source']}.{ann['category_id']}")
            seg = ann["segmentation"]
            try:
                if isinstance(seg, list):  # polygons
                    rles = mask_utils.frPyObjects(seg, h, w)
                    rle = mask_utils.merge(rles)
                elif isinstance(seg.get("counts"), list):  # uncompressed RLE
                    rle = mask_utils.frPyObjects(seg, h, w)
                else:  # compressed RLE
                    rle = seg
                m = mask_utils.decode(rle).astype(bool)
            except Exception as err:  # noqa: BLE001 - named in the message
                raise AnnotationError(f"{self.image_reference(image_id)}: annotation {ann.get('id')} has a "
                                      f"malformed segmentation ({err})") from None
            if m.shape != (h, w):
                raise AnnotationError(f"{self.image_reference(image_id)}: annotation {ann.get('id')} mask is "
                                      f"{m.shape}, image is {(h, w)}")
            if not m.any():
                note = f"{info['path']}: annotation {ann.get('id')} (empty mask)"
                if note not in self.skipped:
                    self.skipped.append(note)
                    warnings.warn(f"CocoDataset: skipped {note}", stacklevel=2)
                continue
            masks.append(m)
            ids.append(-cid if ann.get("iscrowd") else cid)
        if not masks:
            return np.zeros((h, w, 0), bool), np.zeros(0, np.int32)
        return np.stack(masks, axis=-1), np.array(ids, dtype=np.int32)
