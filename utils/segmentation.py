"""Semantic and instance segmentation: metrics, the VOC colour map, overlays, Keras losses,
tiled prediction, classical baselines and the synthetic segmentation sets (``5_1`` to ``5_3``).

Conventions:

- a **label map** is an integer array ``(H, W)`` (or ``(N, H, W)``) of class ids
  ``0..num_classes-1``; ``ignore_index`` (e.g. VOC's 255) marks pixels no metric counts;
- an **instance map** is an integer array ``(H, W)``: 0 = background, ``1..K`` one id per object;
- probabilities from a network are ``(H, W, C)`` float (softmax over the last axis).

``python -m utils.segmentation train-unet`` trains the course's U-Net checkpoint
(``weights/course/unet_cells.weights.h5``) that ``5_3`` compares with its own short training.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from utils.course import ROOT

UNET_CHECKPOINT = ROOT / "weights" / "course" / "unet_cells.weights.h5"
"""The course's U-Net on :func:`hard_cells` (``python -m utils.segmentation train-unet``)."""

# ------------------------------------------------------------------------ input checks


def _label_map(labels, name: str, num_classes: int | None = None, ignore_index: int | None = None) -> np.ndarray:
    """``labels`` as an integer array; a clear ``ValueError`` for floats or out-of-range values."""
    arr = np.asarray(labels)
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            raise ValueError(f"{name}: expected an integer label map, got dtype {arr.dtype} "
                             f"(cast it with .astype(np.int32) if the values are class ids)")
        raise ValueError(f"{name}: expected an integer label map of class ids, got dtype {arr.dtype}"
                         + (" (probabilities? take argmax over the class axis first)"
                            if np.issubdtype(arr.dtype, np.floating) else ""))
    if num_classes is not None and arr.size:
        valid = arr if ignore_index is None else arr[arr != ignore_index]
        if valid.size and (valid.min() < 0 or valid.max() >= num_classes):
            bad = int(valid.min()) if valid.min() < 0 else int(valid.max())
            raise ValueError(f"{name}: value {bad} is outside the class range 0..{num_classes - 1}"
                             + (f" (ignore_index={ignore_index})" if ignore_index is not None else ""))
    return arr


def _same_shape(a: np.ndarray, b: np.ndarray, names: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{names}: shapes differ, {a.shape} vs {b.shape} (expected the same pixels)")


# --------------------------------------------------------------------- semantic metrics


def confusion_matrix(y_true, y_pred, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """``(C, C)`` int64 counts of pixels, rows = true class, columns = predicted class (``5_1``).

    ``y_true``, ``y_pred``: integer label maps of the same shape (any number of dims);
    pixels where ``y_true == ignore_index`` are skipped. Same as
    ``sklearn.metrics.confusion_matrix(t.ravel(), p.ravel(), labels=range(C))``.
    """
    t = _label_map(y_true, "y_true", num_classes, ignore_index)
    p = _label_map(y_pred, "y_pred", num_classes)
    _same_shape(t, p, "y_true and y_pred")
    t, p = t.ravel().astype(np.int64), p.ravel().astype(np.int64)
    if ignore_index is not None:
        keep = t != ignore_index
        t, p = t[keep], p[keep]
    return np.bincount(t * num_classes + p, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def pixel_accuracy(cm: np.ndarray) -> float:
    """Fraction of counted pixels whose predicted class is right, from a confusion matrix."""
    cm = np.asarray(cm)
    return float(np.trace(cm) / cm.sum()) if cm.sum() else float("nan")


def iou_per_class(cm: np.ndarray) -> np.ndarray:
    """``(C,)`` float64 IoU = TP / (TP + FP + FN) per class; NaN for a class absent from both maps."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)


def dice_per_class(cm: np.ndarray) -> np.ndarray:
    """``(C,)`` float64 Dice = 2 TP / (2 TP + FP + FN) per class; NaN for an absent class."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    denom = cm.sum(0) + cm.sum(1)
    return np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), np.nan)


def mean_iou(y_true, y_pred, num_classes: int, ignore_index: int | None = None) -> float:
    """Mean of :func:`iou_per_class` over the classes present in either map (``5_2``)."""
    return float(np.nanmean(iou_per_class(confusion_matrix(y_true, y_pred, num_classes, ignore_index))))


def binary_iou(mask_true, mask_pred) -> float:
    """Foreground IoU of two boolean masks of the same shape (1.0 when both are empty)."""
    t, p = np.asarray(mask_true).astype(bool), np.asarray(mask_pred).astype(bool)
    _same_shape(t, p, "mask_true and mask_pred")
    union = np.logical_or(t, p).sum()
    return float(np.logical_and(t, p).sum() / union) if union else 1.0


def report(y_true, y_pred, num_classes: int, class_names: Sequence[str] | None = None,
           ignore_index: int | None = None) -> dict:
    """Every semantic metric at once: ``{"confusion", "pixel_accuracy", "iou", "dice", "miou",
    "table"}``; ``table`` is a printable per-class IoU/Dice table (``5_2``)."""
    cm = confusion_matrix(y_true, y_pred, num_classes, ignore_index)
    iou, dice = iou_per_class(cm), dice_per_class(cm)
    names = list(class_names) if class_names is not None else [str(c) for c in range(num_classes)]
    width = max(8, max(len(n) for n in names))
    lines = [f"{'class':<{width}}  {'IoU':>6}  {'Dice':>6}  {'pixels':>8}"]
    for c in range(num_classes):
        lines.append(f"{names[c]:<{width}}  {iou[c]:6.3f}  {dice[c]:6.3f}  {int(cm[c].sum()):8d}")
    lines.append(f"{'mean':<{width}}  {np.nanmean(iou):6.3f}  {np.nanmean(dice):6.3f}")
    return {"confusion": cm, "pixel_accuracy": pixel_accuracy(cm), "iou": iou, "dice": dice,
            "miou": float(np.nanmean(iou)), "table": "\n".join(lines)}


# --------------------------------------------------------------------- instance metrics


def instance_iou(true_instances, pred_instances) -> np.ndarray:
    """``(K_true, K_pred)`` mask IoU between every true and predicted instance of two
    instance maps ``(H, W)`` (ids need not be consecutive; 0 is background)."""
    t = _label_map(true_instances, "true_instances")
    p = _label_map(pred_instances, "pred_instances")
    _same_shape(t, p, "true_instances and pred_instances")
    if t.size and (t.min() < 0 or p.min() < 0):
        raise ValueError("instance maps must not hold negative ids")
    t_ids, t_inv = np.unique(t.ravel(), return_inverse=True)
    p_ids, p_inv = np.unique(p.ravel(), return_inverse=True)
    inter = np.bincount(t_inv * len(p_ids) + p_inv, minlength=len(t_ids) * len(p_ids)).reshape(len(t_ids), len(p_ids))
    area_t, area_p = inter.sum(1), inter.sum(0)
    iou = inter / (area_t[:, None] + area_p[None, :] - inter)
    return iou[t_ids > 0][:, p_ids > 0]


def match_instances(true_instances, pred_instances, iou_threshold: float = 0.5) -> dict:
    """Match predicted to true instances one-to-one (Hungarian on mask IoU) and count a
    match when its IoU >= ``iou_threshold`` (``5_3``).

    Returns ``{"tp", "fp", "fn", "precision", "recall", "f1", "matched_iou"}`` (counts are ints;
    precision/recall/F1 are 1.0 when there is nothing to find and nothing predicted).
    """
    from scipy.optimize import linear_sum_assignment

    iou = instance_iou(true_instances, pred_instances)
    if iou.size:
        rows, cols = linear_sum_assignment(-iou)
        good = iou[rows, cols] >= iou_threshold
        matched = iou[rows, cols][good]
    else:
        matched = np.zeros(0)
    tp = int(len(matched))
    return _prf(tp, iou.shape[1] - tp, iou.shape[0] - tp, matched)


def _prf(tp: int, fp: int, fn: int, matched=()) -> dict:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1,
            "matched_iou": np.asarray(matched, float)}


def instance_f1(true_maps, pred_maps, iou_threshold: float = 0.5) -> dict:
    """:func:`match_instances` summed over a list of images: one precision/recall/F1 for the set."""
    if len(true_maps) != len(pred_maps):
        raise ValueError(f"instance_f1: {len(true_maps)} true maps but {len(pred_maps)} predicted maps")
    tp = fp = fn = 0
    matched = []
    for t, p in zip(true_maps, pred_maps):
        m = match_instances(t, p, iou_threshold)
        tp, fp, fn = tp + m["tp"], fp + m["fp"], fn + m["fn"]
        matched.append(m["matched_iou"])
    return _prf(tp, fp, fn, np.concatenate(matched) if matched else [])


# --------------------------------------------------------------------- run-length encoding


def rle_encode(mask) -> dict:
    """COCO run-length encoding of a 2-D boolean mask through ``pycocotools.mask``:
    ``{"size": [H, W], "counts": str}`` (JSON-ready; ``2_6`` writes the same format)."""
    from pycocotools import mask as mask_utils

    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"rle_encode: expected a 2-D mask (H, W), got shape {m.shape}")
    rle = mask_utils.encode(np.asfortranarray(m.astype(bool).astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def rle_decode(rle: dict) -> np.ndarray:
    """The ``(H, W)`` bool mask of a COCO RLE (compressed string/bytes or uncompressed list counts)."""
    from pycocotools import mask as mask_utils

    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError(f"rle_decode: expected a dict with 'size' and 'counts', got {type(rle).__name__}")
    counts = rle["counts"]
    h, w = (int(v) for v in rle["size"])
    if isinstance(counts, list):
        rle = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    else:
        rle = {"size": [h, w], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    return mask_utils.decode(rle).astype(bool)


# ------------------------------------------------------------------ colour map, overlays

VOC_CLASSES = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
               "train", "tvmonitor"]
"""Pascal VOC's 21 classes, index = class id (255 = "void", the border pixels VOC ignores)."""


def voc_colormap(n: int = 256) -> np.ndarray:
    """``(n, 3)`` uint8 RGB colours of Pascal VOC's palette: the bits of a class id spread over
    the high bits of R, G and B (class 1 = (128, 0, 0), 15 "person" = (192, 128, 128), 255 = (224, 224, 192))."""
    cmap = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap


def label_to_color(labels, cmap: np.ndarray | None = None) -> np.ndarray:
    """An integer label map ``(H, W)`` as an ``(H, W, 3)`` uint8 RGB image with ``cmap`` (VOC's by default)."""
    cmap = voc_colormap() if cmap is None else np.asarray(cmap, np.uint8)
    lab = _label_map(labels, "labels", len(cmap))
    return cmap[lab]


def color_to_label(color, cmap: np.ndarray | None = None, unknown: int | None = None) -> np.ndarray:
    """The inverse of :func:`label_to_color`: ``(H, W, 3)`` uint8 RGB → ``(H, W)`` int32 label map.

    A colour not in ``cmap`` raises ``ValueError`` naming it and where it is, unless
    ``unknown`` gives the id to use for such pixels.
    """
    cmap = voc_colormap() if cmap is None else np.asarray(cmap, np.uint8)
    rgb = np.asarray(color)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"color_to_label: expected an (H, W, 3) uint8 RGB image, got shape {rgb.shape} dtype {rgb.dtype}")
    keys = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    table = (cmap[:, 0].astype(np.int64) << 16) | (cmap[:, 1].astype(np.int64) << 8) | cmap[:, 2]
    order = np.argsort(table, kind="stable")
    pos = np.clip(np.searchsorted(table[order], keys), 0, len(table) - 1)
    found = table[order][pos] == keys
    out = order[pos].astype(np.int32)
    if not found.all():
        if unknown is None:
            y, x = np.argwhere(~found)[0]
            raise ValueError(f"color_to_label: colour {tuple(int(v) for v in rgb[y, x])} at (row {y}, column {x}) "
                             "is not in the colour map (pass unknown=ID to map such pixels)")
        out[~found] = unknown
    return out


def overlay(image, labels, alpha: float = 0.5, cmap: np.ndarray | None = None, class_names: Sequence[str] | None = None,
            ax=None, title: str | None = None) -> np.ndarray:
    """Blend a label map onto an RGB photo (background class 0 left untouched) and, with ``ax``,
    show it with a legend of the classes present (``5_1`` to ``5_3``).

    ``image``: ``(H, W, 3)`` uint8 RGB or ``(H, W)``/``(H, W, 1)`` gray (uint8 or float 0..1);
    ``labels``: ``(H, W)`` integer map of the same height and width. Returns the blended
    ``(H, W, 3)`` uint8 image.
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"overlay: expected an (H, W, 3) or (H, W) image, got shape {np.asarray(image).shape}")
    if img.dtype != np.uint8:
        img = np.clip(np.asarray(img, float) * (255 if img.max() <= 1.0 else 1), 0, 255).astype(np.uint8)
    cmap = voc_colormap() if cmap is None else np.asarray(cmap, np.uint8)
    lab = _label_map(labels, "labels", len(cmap))
    if lab.shape != img.shape[:2]:
        raise ValueError(f"overlay: image is {img.shape[:2]} but labels are {lab.shape} (expected the same height and width)")
    colour = cmap[lab].astype(float)
    fg = (lab > 0)[..., None]
    out = np.where(fg, (1 - alpha) * img + alpha * colour, img).round().astype(np.uint8)
    if ax is not None:
        from matplotlib.patches import Patch

        ax.imshow(out)
        ax.set_axis_off()
        if title:
            ax.set_title(title)
        present = [int(c) for c in np.unique(lab) if c > 0]
        if present:
            names = class_names if class_names is not None else [str(c) for c in range(len(cmap))]
            ax.legend(handles=[Patch(color=cmap[c] / 255, label=names[c]) for c in present],
                      loc="lower right", fontsize=7, framealpha=0.7)
    return out


# ----------------------------------------------------------------------- Keras losses


def dice_loss(num_classes: int, smooth: float = 1.0) -> Callable:
    """A Keras loss ``(y_true (B, H, W) or (B, H, W, 1) int ids, y_pred (B, H, W, C) softmax) -> (B,)``:
    one minus the soft Dice averaged over classes (``5_3``). Insensitive to how rare a class is."""
    from keras import ops

    def loss(y_true, y_pred):
        y = ops.cast(y_true, "int32")
        if len(y.shape) == 4:
            y = y[..., 0]
        onehot = ops.one_hot(y, num_classes)
        inter = ops.sum(onehot * y_pred, axis=(1, 2))
        total = ops.sum(onehot + y_pred, axis=(1, 2))
        return 1.0 - ops.mean((2 * inter + smooth) / (total + smooth), axis=-1)

    loss.__name__ = "dice_loss"
    return loss


def pack_targets(labels, weights) -> np.ndarray:
    """Stack integer labels ``(N, H, W)`` and pixel weights ``(N, H, W)`` into the ``(N, H, W, 2)``
    float32 target that :func:`weighted_cross_entropy` reads."""
    lab, w = np.asarray(labels), np.asarray(weights)
    _same_shape(lab, w, "labels and weights")
    return np.stack([lab.astype(np.float32), w.astype(np.float32)], axis=-1)


def weighted_cross_entropy() -> Callable:
    """A Keras loss for the U-Net paper's weighted cross-entropy (``5_3``): ``y_true`` is
    ``(B, H, W, 2)`` from :func:`pack_targets` (class id, pixel weight), ``y_pred`` the
    ``(B, H, W, C)`` softmax. Each pixel's cross-entropy is multiplied by its weight
    (e.g. :func:`unet_weight_map`), then averaged."""
    from keras import ops

    def loss(y_true, y_pred):
        y = ops.cast(y_true[..., 0], "int32")
        w = y_true[..., 1]
        p = ops.sum(ops.one_hot(y, ops.shape(y_pred)[-1]) * y_pred, axis=-1)
        ce = -ops.log(ops.clip(p, 1e-7, 1.0))
        return ops.mean(w * ce, axis=(1, 2))

    loss.__name__ = "weighted_cross_entropy"
    return loss


def focal_loss(gamma: float = 2.0) -> Callable:
    """A Keras sparse focal loss (``y_true`` class ids, ``y_pred`` softmax): cross-entropy
    scaled by ``(1 - p_true) ** gamma`` so easy pixels count less (``2_5`` for boxes, ``5_2``)."""
    from keras import ops

    def loss(y_true, y_pred):
        y = ops.cast(y_true, "int32")
        if len(y.shape) == len(y_pred.shape):
            y = y[..., 0]
        p = ops.clip(ops.sum(ops.one_hot(y, ops.shape(y_pred)[-1]) * y_pred, axis=-1), 1e-7, 1.0)
        return ops.mean((1 - p) ** gamma * -ops.log(p), axis=(1, 2))

    loss.__name__ = "focal_loss"
    return loss


def unet_weight_map(instances, w0: float = 10.0, sigma: float = 5.0, class_weight: float = 1.0) -> np.ndarray:
    """The U-Net paper's border weights for an instance map ``(H, W)`` → ``(H, W)`` float32 (``5_3``):
    ``class_weight + w0 * exp(-(d1 + d2)**2 / (2 * sigma**2))`` on background pixels, where
    ``d1``/``d2`` are the distances to the nearest and second-nearest cell; ``class_weight`` on
    cell pixels (and everywhere when there are fewer than two cells)."""
    from scipy import ndimage

    inst = _label_map(instances, "instances")
    if inst.ndim != 2:
        raise ValueError(f"unet_weight_map: expected one (H, W) instance map, got shape {inst.shape}")
    ids = [i for i in np.unique(inst) if i > 0]
    weights = np.full(inst.shape, class_weight, np.float32)
    if len(ids) < 2:
        return weights
    dist = np.stack([ndimage.distance_transform_edt(inst != i) for i in ids])
    dist.sort(axis=0)
    border = w0 * np.exp(-((dist[0] + dist[1]) ** 2) / (2 * sigma ** 2))
    weights[inst == 0] += border[inst == 0].astype(np.float32)
    return weights


# ------------------------------------------------------------------- tiled prediction


def predict_tiled(predict: Callable[[np.ndarray], np.ndarray], image, tile: int, margin: int,
                  batch_size: int = 16) -> np.ndarray:
    """The U-Net paper's overlap-tile strategy: predict an image of any size with a model that
    takes ``tile × tile`` inputs (``5_3``).

    The image ``(H, W, C)`` is mirrored by ``margin`` pixels on every side, cut into tiles
    overlapping by ``2 * margin``, and only each tile's centre ``(tile - 2 margin)²`` is kept,
    so every output pixel was seen with context on all sides. ``predict`` maps a batch
    ``(B, tile, tile, C)`` to ``(B, tile, tile, K)``. Returns ``(H, W, K)``.
    """
    img = np.asarray(image)
    if img.ndim != 3:
        raise ValueError(f"predict_tiled: expected an (H, W, C) image, got shape {img.shape}")
    step = tile - 2 * margin
    if margin < 0 or step <= 0:
        raise ValueError(f"predict_tiled: margin {margin} leaves no centre in a {tile}-pixel tile")
    h, w = img.shape[:2]
    ny, nx = -(-h // step), -(-w // step)
    pad_y, pad_x = ny * step - h, nx * step - w
    if margin + max(pad_y, pad_x) > min(h, w) - 1:
        mode = "symmetric"
    else:
        mode = "reflect"
    padded = np.pad(img, ((margin, margin + pad_y), (margin, margin + pad_x), (0, 0)), mode=mode)
    corners = [(i * step, j * step) for i in range(ny) for j in range(nx)]
    tiles = np.stack([padded[y:y + tile, x:x + tile] for y, x in corners])
    preds = np.concatenate([np.asarray(predict(tiles[i:i + batch_size])) for i in range(0, len(tiles), batch_size)])
    out = np.zeros((ny * step, nx * step, preds.shape[-1]), preds.dtype)
    for (y, x), p in zip(corners, preds):
        out[y:y + step, x:x + step] = p[margin:margin + step, margin:margin + step]
    return out[:h, :w]


# ------------------------------------------------------------- CRF refinement


def crf_refine(image, probs, iterations: int = 5, spatial_sigma: float = 3.0, color_sigma: float = 20.0,
               weight: float = 4.0) -> np.ndarray:
    """Refine a network's soft output with a fully connected CRF (``5_2``; the energy is taught in ``5_1``).

    The CRF's energy is the unary term ``-log p(label)`` of the network plus a Potts pairwise term that
    charges ``weight`` for every pair of nearby, similar-coloured pixels given different labels. Mean-field
    inference (Krähenbühl and Koltun's, which DeepLab v1/v2 used) alternates passing messages, here a
    joint bilateral filter of each class's probabilities guided by the photo (OpenCV), with a softmax.

    Args:
        image: ``(H, W, 3)`` photo (uint8 or float 0..255) that guides the smoothing.
        probs: ``(H, W, C)`` probabilities (each pixel's row sums to 1), e.g. a softmax output.
        iterations: mean-field steps (0 returns ``probs`` unchanged).
        spatial_sigma, color_sigma: the bilateral kernel's widths in pixels and in colour levels.
        weight: the pairwise term's weight against the unary term. The messages are weighted
            averages over the neighbourhood (between 0 and 1), so a weight of a few units balances
            unary terms of ``-log p`` (4.6 for p = 0.01).
    Returns ``(H, W, C)`` float32 refined probabilities.
    """
    import cv2

    img = np.asarray(image, dtype=np.float32)
    p = np.asarray(probs, dtype=np.float32)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"crf_refine: expected an (H, W, 3) image, got shape {img.shape}")
    if p.ndim != 3 or p.shape[:2] != img.shape[:2]:
        raise ValueError(f"crf_refine: probabilities of shape {p.shape} do not match the image's {img.shape[:2]} "
                         "(expected (H, W, C))")
    if not np.all(np.isfinite(p)) or p.min() < 0 or not np.allclose(p.sum(-1), 1.0, atol=1e-3):
        raise ValueError("crf_refine: probs must be finite, non-negative, and sum to 1 over the last axis")
    unary = -np.log(np.clip(p, 1e-6, 1.0))
    q = p.copy()
    diameter = int(2 * round(2 * spatial_sigma) + 1)
    for _ in range(int(iterations)):
        message = np.stack([cv2.ximgproc.jointBilateralFilter(img, np.ascontiguousarray(q[..., c]), diameter,
                                                              color_sigma, spatial_sigma)
                            for c in range(q.shape[-1])], axis=-1)
        energy = unary + weight * (message.sum(-1, keepdims=True) - message)  # Potts: pay for the other labels
        energy -= energy.min(-1, keepdims=True)
        q = np.exp(-energy)
        q /= q.sum(-1, keepdims=True)
    return q.astype(np.float32)


# --------------------------------------------------------------- classical baselines


def otsu_mask(image) -> np.ndarray:
    """Foreground ``(H, W)`` bool of a gray image by Otsu's global threshold (``5_1``)."""
    from skimage.filters import threshold_otsu

    img = np.asarray(image, float)
    img = img[..., 0] if img.ndim == 3 else img
    return img > threshold_otsu(img)


def clean_mask(mask, radius: int = 1, min_size: int = 30) -> np.ndarray:
    """Tidy a thresholded mask ``(H, W)``: opening with a disk of ``radius``, holes filled,
    components under ``min_size`` pixels removed (``5_1``, ``5_3``). Returns bool."""
    from scipy import ndimage
    from skimage.morphology import disk

    m = np.asarray(mask).astype(bool)
    if radius:
        m = ndimage.binary_opening(m, structure=disk(radius))
    m = ndimage.binary_fill_holes(m)
    lab, _ = ndimage.label(m)
    sizes = np.bincount(lab.ravel())
    keep = sizes >= min_size
    keep[0] = False
    return keep[lab]


def watershed_instances(mask, min_distance: int = 4, footprint: int | None = None) -> np.ndarray:
    """Split a foreground mask ``(H, W)`` into instances: markers at the peaks of the distance
    transform, then the watershed of the negated distance inside the mask (``5_1``, ``5_3``).
    Returns an ``(H, W)`` int32 instance map."""
    from scipy import ndimage
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    m = np.asarray(mask).astype(bool)
    dist = ndimage.distance_transform_edt(m)
    lab, _ = ndimage.label(m)
    peaks = peak_local_max(dist, min_distance=min_distance, labels=lab, exclude_border=False,
                           footprint=None if footprint is None else np.ones((footprint, footprint)))
    markers = np.zeros(m.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-dist, markers, mask=m).astype(np.int32)


def classes_to_instances(classes, interior: int = 1, boundary: int = 2, min_size: int = 8) -> np.ndarray:
    """Instances from a 3-class map (0 background, 1 cell interior, 2 cell boundary), as the
    U-Net of ``5_3`` predicts: connected interiors are the seeds, grown by a watershed over
    interior + boundary pixels. Returns ``(H, W)`` int32."""
    from scipy import ndimage
    from skimage.segmentation import watershed

    c = np.asarray(classes)
    seeds, _ = ndimage.label(c == interior)
    sizes = np.bincount(seeds.ravel())
    small = sizes < min_size
    small[0] = False
    seeds[small[seeds]] = 0
    fg = (c == interior) | (c == boundary)
    dist = ndimage.distance_transform_edt(fg)
    out = watershed(-dist, seeds, mask=fg)
    return _relabel(out)


def _relabel(inst: np.ndarray) -> np.ndarray:
    ids = np.unique(inst)
    lut = np.zeros(ids.max() + 1 if ids.size else 1, np.int32)
    lut[ids[ids > 0]] = np.arange(1, (ids > 0).sum() + 1)
    return lut[inst]


# ------------------------------------------------------------------ synthetic data sets


def instances_to_classes(instances, boundary_width: int = 1) -> np.ndarray:
    """A ``(..., H, W)`` instance map as 3 classes for training (``5_3``): 0 background,
    1 cell interior, 2 cell boundary (pixels of a cell within ``boundary_width`` of another id)."""
    from scipy import ndimage

    inst = _label_map(instances, "instances")
    if inst.ndim == 3:
        return np.stack([instances_to_classes(i, boundary_width) for i in inst])
    size = 2 * boundary_width + 1
    hi = ndimage.maximum_filter(inst, size=size, mode="nearest")
    lo = ndimage.minimum_filter(inst, size=size, mode="nearest")
    border = (inst > 0) & ((hi != inst) | (lo != inst))
    out = (inst > 0).astype(np.uint8)
    out[border] = 2
    return out


def hard_cells(n: int, size: int = 64, seed: int = 0, density: float = 7.0):
    """Harder microscopy-like cells for ``5_3`` (synthetic; :func:`utils.data.cells` is the easy set).

    Cells touch and overlap (later ones occlude earlier ones), have textured, unevenly bright
    bodies with bright rims, sit under uneven illumination (a strong random gradient and a
    vignette) with Gaussian noise, so one global threshold fails.
    ``density`` is the mean number of cells per 64 × 64 area (a larger ``size`` holds more cells
    of the same size, like a larger field of view).

    Returns ``images`` ``(N, size, size, 1)`` float32 in 0..1 and ``instances``
    ``(N, size, size)`` int32 (0 background, 1..K visible cells).
    """
    import cv2

    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 1), np.float32)
    instances = np.zeros((n, size, size), np.int32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    scale = size / 64
    for i in range(n):
        lab = np.zeros((size, size), np.int32)
        body = np.zeros((size, size), np.float32)
        count = max(2, int(rng.poisson(density * scale ** 2)))
        centres = []
        for k in range(1, count + 1):
            ax, ay = (float(v) for v in rng.uniform(4.5, 9.0, 2))   # the same cell size at any image size
            if centres and rng.random() < 0.6:  # a neighbour of an earlier cell: touching or overlapping
                cx0, cy0, r0 = centres[rng.integers(len(centres))]
                ang = rng.uniform(0, 2 * np.pi)
                d = (r0 + (ax + ay) / 2) * rng.uniform(0.7, 1.0)
                cx, cy = cx0 + d * np.cos(ang), cy0 + d * np.sin(ang)
            else:
                cx, cy = rng.uniform(0, size, 2)
            centres.append((cx, cy, (ax + ay) / 2))
            m = np.zeros((size, size), np.uint8)
            cv2.ellipse(m, (int(round(cx * 16)), int(round(cy * 16))), (int(ax * 16), int(ay * 16)),
                        float(rng.uniform(0, 180)), 0, 360, 1, -1, shift=4)
            m = m.astype(bool)
            if m.sum() < 10:
                continue
            lab[m] = k
            dist = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 3)
            level = rng.uniform(0.25, 0.6)
            rim = np.exp(-((dist - 1.0) ** 2) / 1.5) * rng.uniform(0.15, 0.35)
            body[m] = (level + rim)[m]
        texture = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 1.2)
        texture /= texture.std() + 1e-6
        gx, gy = rng.uniform(-1, 1, 2)
        light = 0.28 * (gx * (xx - 0.5) + gy * (yy - 0.5)) + 0.15 * np.cos(
            np.pi * np.hypot(xx - rng.uniform(0.2, 0.8), yy - rng.uniform(0.2, 0.8)))
        background = 0.18 + rng.uniform(-0.04, 0.04)
        img = np.where(lab > 0, body * (1 + 0.2 * texture), background + 0.03 * texture) + light
        img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.7) + rng.normal(0, 0.05, (size, size))
        images[i, ..., 0] = np.clip(img, 0, 1)
        instances[i] = _relabel(lab)
    return images, instances


def pasted_semantic(n: int, size: int = 64, seed: int = 0, max_objects: int = 3):
    """A multi-class semantic set on real pixels (``5_2``): :func:`utils.data.pasted_objects`
    scenes with their instance masks flattened to one class id per pixel.

    Returns ``images`` ``(N, size, size, 3)`` uint8 RGB, ``labels`` ``(N, size, size)`` uint8
    with ids into ``class_names`` = ``["BG", "cat", "cup", "coin", "horse"]``, and ``class_names``.
    """
    from utils import data

    ds = data.pasted_objects(n, size=size, seed=seed, max_objects=max_objects)
    labels = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        for k in range(ds.masks[i].shape[-1]):
            labels[i][ds.masks[i][..., k]] = ds.class_ids[i][k]
    return ds.images, labels, list(ds.class_names)


def image_mask_folder(folder, image_dir: str = "images", mask_dir: str = "masks"):
    """Full-mode segmentation data from a folder of image/mask pairs with the same file names
    (``5_3``: e.g. the ISBI 2012 membranes saved as ``data/isbi2012/images/0.png`` and
    ``data/isbi2012/masks/0.png``; ``5_2``: Oxford-IIIT Pets images and trimaps).

    Returns ``images``: list of ``(H, W)`` or ``(H, W, 3)`` uint8 arrays and ``masks``: list of
    ``(H, W)`` uint8 arrays, sorted by file name. Raises ``FileNotFoundError`` naming the missing
    folder, ``ImageError`` for a folder without images, and ``ValueError`` naming images without a mask or of a different size.
    """
    from utils.images import list_images, load_image

    folder = Path(folder)
    img_dir, msk_dir = folder / image_dir, folder / mask_dir
    for d in (folder, img_dir, msk_dir):
        if not d.is_dir():
            raise FileNotFoundError(f"{d}: no such folder. Expected {img_dir}/<name>.png and {msk_dir}/<name>.png "
                                    "(see data/README.md for where to download the data set)")
    files = list_images(img_dir)   # raises ImageError naming an empty folder
    masks_by_stem = {p.stem: p for p in list_images(msk_dir)}
    missing = [p.name for p in files if p.stem not in masks_by_stem]
    if missing:
        raise ValueError(f"{msk_dir}: no mask for {len(missing)} image(s), e.g. {missing[0]}")
    images, masks = [], []
    for p in files:
        img = load_image(p)
        img = img[..., 0] if np.array_equal(img[..., 0], img[..., 2]) and np.array_equal(img[..., 0], img[..., 1]) else img
        m = load_image(masks_by_stem[p.stem], mode="gray")
        if m.shape[:2] != img.shape[:2]:
            raise ValueError(f"{masks_by_stem[p.stem]}: mask is {m.shape[:2]} but image {p.name} is {img.shape[:2]}")
        images.append(img)
        masks.append(m)
    return images, masks


# ------------------------------------------------------------------------- models


def unet(input_shape=(64, 64, 1), num_classes: int = 3, base: int = 16, depth: int = 3,
         bn_momentum: float = 0.9, name: str = "unet"):
    """A small U-Net (``5_3``): ``depth`` down steps of two 3×3 conv + BN + ReLU then 2×2 max
    pooling (channels ``base, 2 base, ...``), a bottleneck, and ``depth`` up steps of a 2×2
    transposed convolution, concatenation with the skip of the same size, and two convs;
    a 1×1 conv + softmax gives ``(H, W, num_classes)``. ``H`` and ``W`` must be divisible by
    ``2 ** depth``; ``None`` for both builds a fully convolutional model for any such size."""
    import keras
    from keras import layers

    def block(x, filters, tag):
        for j in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{tag}_conv{j}")(x)
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"{tag}_bn{j}")(x)
            x = layers.ReLU(name=f"{tag}_relu{j}")(x)
        return x

    inputs = keras.Input(input_shape, name="image")
    x, skips = inputs, []
    for d in range(depth):
        x = block(x, base * 2 ** d, f"down{d}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{d}")(x)
    x = block(x, base * 2 ** depth, "bottleneck")
    for d in reversed(range(depth)):
        x = layers.Conv2DTranspose(base * 2 ** d, 2, strides=2, name=f"up{d}_transpose")(x)
        x = layers.Concatenate(name=f"up{d}_concat")([x, skips[d]])
        x = block(x, base * 2 ** d, f"up{d}")
    outputs = layers.Conv2D(num_classes, 1, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name=name)


CELL_TRAIN_SEED = 500
"""Seed of the cells the course checkpoint trains on (5_3 tests on other seeds)."""


def train_unet(out: Path = UNET_CHECKPOINT, images: int = 1500, epochs: int = 15, base: int = 16,
               seed: int = CELL_TRAIN_SEED, batch_size: int = 16) -> Path:
    """Train :func:`unet` on :func:`hard_cells` (3 classes, weighted cross-entropy with
    :func:`unet_weight_map`) and save its weights to ``out`` atomically (``5_3`` loads them)."""
    import keras

    from utils import course
    from utils.images import write_atomically

    course.seed_everything(42)
    x, inst = hard_cells(images, seed=seed)
    y = instances_to_classes(inst)
    w = np.stack([unet_weight_map(i) for i in inst])
    model = unet(x.shape[1:], 3, base=base)
    steps = epochs * -(-images // batch_size)
    lr = keras.optimizers.schedules.CosineDecay(3e-3, steps, alpha=0.05)
    model.compile(keras.optimizers.Adam(lr), loss=weighted_cross_entropy())
    start = time.time()
    model.fit(x, pack_targets(y, w), batch_size=batch_size, epochs=epochs, verbose=2)
    out = write_atomically(out, model.save_weights, keep_suffix=True)
    print(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB) after {time.time() - start:.0f} s of training")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.segmentation", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train-unet", help=f"train the course U-Net checkpoint ({UNET_CHECKPOINT.relative_to(ROOT)})")
    t.add_argument("--out", type=Path, default=UNET_CHECKPOINT)
    t.add_argument("--images", type=int, default=1500)
    t.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args(argv)
    if args.command == "train-unet":
        train_unet(args.out, args.images, args.epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
