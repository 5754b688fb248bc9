"""Object detection building blocks, in NumPy: boxes, IoU, NMS, anchors, box deltas,
RoI pooling, evaluation (COCO and VOC AP, recall at an IoU) and drawing.

Every notebook of the detection track builds on this module (``2_2`` to ``2_6``, and the
Mask R-CNN notebooks later). Conventions, shared with :mod:`utils.data`:

- a set of boxes is a float array ``(N, 4)``; a single box may be given as ``(4,)``;
- **pixel coordinates**, ``x2``/``y2`` **exclusive**: a box ``[x1, y1, x2, y2]`` covers
  the pixels ``x1 .. x2-1`` and ``y1 .. y2-1``, so its width is ``x2 - x1`` (no ``+ 1``)
  and a one-pixel object at ``(x, y)`` is ``[x, y, x+1, y+1]``. pycocotools, OpenCV's
  ``Rect2d`` and TensorFlow measure areas the same way;
- formats (:data:`BOX_FORMATS`): ``xyxy`` (corners; the course default), ``xywh``
  (top-left + size: COCO JSON, OpenCV ``NMSBoxes``), ``yxyx`` (TensorFlow's
  ``tf.image`` ops), ``cxcywh`` (centre + size: YOLO, SSD, box deltas);
- class ids are ints, 1-based when they index ``class_names`` whose entry 0 is ``"BG"``
  (as :func:`utils.data.pasted_objects` returns them).
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Sequence

import numpy as np

BOX_FORMATS = ("xyxy", "xywh", "yxyx", "cxcywh")
"""Box formats understood by :func:`convert_boxes` (see the module doc)."""

DELTA_STDS = (0.1, 0.1, 0.2, 0.2)
"""Default scaling of Faster R-CNN box deltas (detectron / torchvision use the inverse, weights 10, 10, 5, 5)."""

_MAX_LOG_SCALE = float(np.log(1000.0 / 16))  # detectron's clamp on dw, dh before exp()


# ------------------------------------------------------------------------------ boxes


def _as_boxes(boxes, name: str = "boxes") -> np.ndarray:
    """``boxes`` as a float64 ``(N, 4)`` array, or a ``ValueError`` naming the argument."""
    try:
        arr = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: got {type(boxes).__name__} {boxes!r:.80}, expected (N, 4) boxes") from None
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None]
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name}: got shape {arr.shape}, expected (N, 4) boxes")
    return arr


def convert_boxes(boxes, src: str, dst: str) -> np.ndarray:
    """Convert boxes ``(N, 4)`` (or one box ``(4,)``) from format ``src`` to ``dst``.

    Formats: ``xyxy`` = ``[x1, y1, x2, y2]``, ``xywh`` = ``[x1, y1, w, h]``,
    ``yxyx`` = ``[y1, x1, y2, x2]``, ``cxcywh`` = ``[cx, cy, w, h]``, all in the same
    units (pixels or normalised), with ``w = x2 - x1`` (exclusive ends, see module doc).
    Returns a float64 ``(N, 4)`` array (taught in ``2_2``).
    """
    for fmt, label in ((src, "src"), (dst, "dst")):
        if fmt not in BOX_FORMATS:
            raise ValueError(f"{label}={fmt!r} is not a box format: use one of {', '.join(BOX_FORMATS)}")
    b = _as_boxes(boxes)
    if src == "xyxy":
        xyxy = b.copy()
    elif src == "xywh":
        xyxy = np.c_[b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]]
    elif src == "yxyx":
        xyxy = b[:, [1, 0, 3, 2]]
    else:  # cxcywh
        xyxy = np.c_[b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2]
    if dst == "xyxy":
        return xyxy
    if dst == "xywh":
        return np.c_[xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]]
    if dst == "yxyx":
        return xyxy[:, [1, 0, 3, 2]]
    return np.c_[(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]]


def box_area(boxes) -> np.ndarray:
    """Areas ``(N,)`` of ``xyxy`` boxes, ``(x2 - x1) * (y2 - y1)``; 0 for empty or inverted boxes."""
    b = _as_boxes(boxes)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def iou(boxes_a, boxes_b) -> np.ndarray:
    """Pairwise intersection over union of ``xyxy`` boxes: ``(N, 4)`` × ``(M, 4)`` → ``(N, M)``.

    ``IoU = area(A ∩ B) / area(A ∪ B)``, vectorised by broadcasting (no Python loop).
    Two empty boxes (zero union) have IoU 0. Taught in ``2_2``; used by NMS, anchors
    matching and evaluation.
    """
    a, b = _as_boxes(boxes_a, "boxes_a"), _as_boxes(boxes_b, "boxes_b")
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


# ------------------------------------------------------------------------------- NMS


def nms(boxes, scores, iou_threshold: float = 0.5, max_output: int = 100) -> np.ndarray:
    """Greedy non-maximum suppression, exactly as the course states it (``2_3``):

    1. sort the boxes by score, highest first;
    2. keep the best remaining box and **drop every remaining box whose IoU with it is
       greater than** ``iou_threshold`` (a box at exactly the threshold survives);
    3. repeat until no box remains or ``max_output`` boxes are kept.

    Args: ``boxes`` ``(N, 4)`` ``xyxy``; ``scores`` ``(N,)``.
    Returns: ``(K,)`` int64 indices into ``boxes``, highest score first (ties: lower index first).

    The suppression step is vectorised: one IoU row against all remaining boxes per kept
    box. Equals ``cv2.dnn.NMSBoxes`` (boxes as ``xywh``, ``score_threshold`` below every
    score, ``top_k=0``; it also drops IoU > threshold) and ``tf.image.non_max_suppression``
    (boxes as ``yxyx``) on inputs without exact ties; see ``tests/test_detection.py``.
    """
    b = _as_boxes(boxes)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(s) != len(b):
        raise ValueError(f"scores: got {len(s)} scores for {len(b)} boxes")
    order = np.argsort(-s, kind="stable")
    x1, y1, x2, y2 = (b[:, k] for k in range(4))
    areas = box_area(b)
    keep: list[int] = []
    while order.size and len(keep) < max_output:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])
        h = np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])
        inter = np.clip(w, 0, None) * np.clip(h, 0, None)
        union = areas[i] + areas[rest] - inter
        overlap = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[overlap <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes, scores, class_ids, iou_threshold: float = 0.5, max_output: int = 100) -> np.ndarray:
    """Per-class NMS: boxes of different classes never suppress each other (``2_3``-``2_5``).

    Runs :func:`nms` on each class separately, merges the survivors and returns the
    ``(K,)`` int64 indices of the ``max_output`` best, highest score first.
    """
    b = _as_boxes(boxes)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    c = np.asarray(class_ids).reshape(-1)
    if not (len(b) == len(s) == len(c)):
        raise ValueError(f"batched_nms: {len(b)} boxes, {len(s)} scores and {len(c)} class ids; expected equal counts")
    kept = [np.flatnonzero(c == k)[nms(b[c == k], s[c == k], iou_threshold, max_output)] for k in np.unique(c)]
    kept = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    kept = kept[np.lexsort((kept, -s[kept]))]  # score descending, index ascending on ties
    return kept[:max_output].astype(np.int64)


# --------------------------------------------------------------------------- anchors


def generate_anchors(image_size, strides: Sequence[int], scales, ratios: Sequence[float]) -> np.ndarray:
    """Anchor boxes (``xyxy``, pixels) at every cell of every stride's feature map (``2_3``, ``2_5``).

    Args:
        image_size: ``(H, W)`` or one int for a square image.
        strides: feature-map strides in pixels, e.g. ``(8, 16, 32)``; the map of stride ``s``
            has ``ceil(H / s)`` × ``ceil(W / s)`` cells, cell ``(i, j)`` centred at
            ``((j + 0.5) * s, (i + 0.5) * s)``.
        scales: anchor sizes in pixels (the side of a square anchor, ``sqrt(w * h)``): one
            flat sequence used at every stride, or one sequence per stride (e.g. SSD/FPN:
            ``[[32], [64], [128]]``).
        ratios: aspect ratios ``h / w`` (Faster R-CNN's 0.5, 1, 2): ``w = scale / sqrt(r)``,
            ``h = scale * sqrt(r)``.

    Returns: ``(A, 4)`` float64, ordered stride by stride; within a stride row by row (``i``),
    column by column (``j``), then scale, then ratio (fastest). This is the order of a
    convolutional head's output ``(H_s, W_s, n_scales * n_ratios, 4)`` reshaped to ``(-1, 4)``
    and concatenated over strides. Anchors are not clipped to the image.
    """
    h_img, w_img = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)[:2]
    strides = list(strides)
    if scales and np.ndim(scales[0]) == 0:
        per_stride = [list(scales)] * len(strides)
    else:
        per_stride = [list(s) for s in scales]
        if len(per_stride) != len(strides):
            raise ValueError(f"scales: got {len(per_stride)} lists of scales for {len(strides)} strides")
    out = []
    ratios = np.asarray(ratios, dtype=np.float64)
    for stride, level_scales in zip(strides, per_stride):
        sc = np.asarray(level_scales, dtype=np.float64)
        ws = (sc[:, None] / np.sqrt(ratios)[None]).reshape(-1)  # (n_scales * n_ratios,)
        hs = (sc[:, None] * np.sqrt(ratios)[None]).reshape(-1)
        rows, cols = int(np.ceil(h_img / stride)), int(np.ceil(w_img / stride))
        cy, cx = np.meshgrid((np.arange(rows) + 0.5) * stride, (np.arange(cols) + 0.5) * stride, indexing="ij")
        cx, cy = cx.reshape(-1, 1), cy.reshape(-1, 1)
        level = np.stack([cx - ws / 2, cy - hs / 2, cx + ws / 2, cy + hs / 2], axis=-1)
        out.append(level.reshape(-1, 4))
    return np.concatenate(out) if out else np.zeros((0, 4))


def encode_deltas(anchors, boxes, stds: Sequence[float] = DELTA_STDS) -> np.ndarray:
    """Faster R-CNN regression targets of ``boxes`` relative to ``anchors`` (both ``(N, 4)`` ``xyxy``)::

        dx = (cx_box - cx_anchor) / w_anchor / stds[0]     dw = log(w_box / w_anchor) / stds[2]
        dy = (cy_box - cy_anchor) / h_anchor / stds[1]     dh = log(h_box / h_anchor) / stds[3]

    Returns ``(N, 4)`` ``(dx, dy, dw, dh)``; :func:`decode_deltas` inverts it (``2_3``, ``2_5``).
    Boxes and anchors must have positive widths and heights.
    """
    a = convert_boxes(anchors, "xyxy", "cxcywh")
    b = convert_boxes(boxes, "xyxy", "cxcywh")
    if len(a) != len(b):
        raise ValueError(f"encode_deltas: {len(a)} anchors for {len(b)} boxes; expected one anchor per box")
    if np.any(a[:, 2:] <= 0) or np.any(b[:, 2:] <= 0):
        raise ValueError("encode_deltas: every anchor and box needs a positive width and height")
    d = np.c_[(b[:, :2] - a[:, :2]) / a[:, 2:], np.log(b[:, 2:] / a[:, 2:])]
    return d / np.asarray(stds, dtype=np.float64)


def decode_deltas(anchors, deltas, stds: Sequence[float] = DELTA_STDS) -> np.ndarray:
    """Apply ``(N, 4)`` deltas ``(dx, dy, dw, dh)`` to ``(N, 4)`` ``xyxy`` anchors → ``(N, 4)`` ``xyxy`` boxes.

    Inverse of :func:`encode_deltas`; ``dw``/``dh`` (after scaling by ``stds``) are clamped
    at ``log(1000 / 16)`` as in detectron, so a wild prediction cannot overflow ``exp``.
    """
    a = convert_boxes(anchors, "xyxy", "cxcywh")
    d = _as_boxes(deltas, "deltas") * np.asarray(stds, dtype=np.float64)
    if len(a) != len(d):
        raise ValueError(f"decode_deltas: {len(a)} anchors for {len(d)} deltas; expected one anchor per delta")
    centre = a[:, :2] + d[:, :2] * a[:, 2:]
    size = a[:, 2:] * np.exp(np.minimum(d[:, 2:], _MAX_LOG_SCALE))
    return convert_boxes(np.c_[centre, size], "cxcywh", "xyxy")


# ------------------------------------------------------------------ RoI pooling / align


def _check_map(feature_map) -> np.ndarray:
    fm = np.asarray(feature_map)
    if fm.ndim == 2:
        fm = fm[..., None]
    if fm.ndim != 3:
        raise ValueError(f"feature_map: got shape {fm.shape}, expected (H, W, C)")
    return fm


def roi_pool(feature_map, boxes, output_size: int = 7, spatial_scale: float = 1.0) -> np.ndarray:
    """RoI max pooling (Fast R-CNN, ``2_3``): each box becomes an ``s × s`` grid of maxima.

    Args:
        feature_map: ``(H, W, C)``.
        boxes: ``(N, 4)`` ``xyxy`` in image pixels; ``spatial_scale`` maps them onto the
            map (``1 / stride``, e.g. 1/16 for a VGG conv5 map).
        output_size: ``s``.

    Each box is snapped to whole cells (``round(x * spatial_scale)``, at least one cell,
    clipped to the map), split into ``s × s`` bins with edges ``floor(start + i * size / s)``
    and ``ceil(start + (i + 1) * size / s)`` (bins may overlap by one cell when the box
    is not a multiple of ``s``, as in Caffe/torchvision), and each bin takes the maximum.
    Returns ``(N, s, s, C)`` in the map's dtype (float maps) or float32.
    """
    fm = _check_map(feature_map)
    b = _as_boxes(boxes)
    h, w, c = fm.shape
    s = int(output_size)
    out = np.zeros((len(b), s, s, c), dtype=fm.dtype if fm.dtype.kind == "f" else np.float32)
    for n, box in enumerate(b):
        x1, y1, x2, y2 = np.round(box * spatial_scale).astype(int)
        x1, y1 = np.clip(x1, 0, w - 1), np.clip(y1, 0, h - 1)
        x2, y2 = np.clip(max(x2, x1 + 1), 1, w), np.clip(max(y2, y1 + 1), 1, h)
        ys = [(y1 + int(np.floor(i * (y2 - y1) / s)), y1 + int(np.ceil((i + 1) * (y2 - y1) / s))) for i in range(s)]
        xs = [(x1 + int(np.floor(j * (x2 - x1) / s)), x1 + int(np.ceil((j + 1) * (x2 - x1) / s))) for j in range(s)]
        for i, (ya, yb) in enumerate(ys):
            band = fm[ya:yb]
            for j, (xa, xb) in enumerate(xs):
                out[n, i, j] = band[:, xa:xb].max(axis=(0, 1))
    return out


def bilinear_sample(feature_map, ys, xs) -> np.ndarray:
    """Bilinear interpolation of ``(H, W, C)`` at continuous **cell-centre** coordinates
    (``ys``/``xs`` any same shape; cell ``(i, j)``'s value sits at ``(i, j)``) → ``ys.shape + (C,)``.

    As RoIAlign does: points more than one cell outside the map give 0, points within
    that margin are clamped to the border.
    """
    fm = _check_map(feature_map).astype(np.float32, copy=False)
    h, w = fm.shape[:2]
    ys, xs = np.asarray(ys, dtype=np.float64), np.asarray(xs, dtype=np.float64)
    outside = (ys < -1) | (ys > h) | (xs < -1) | (xs > w)
    y = np.clip(ys, 0, h - 1)
    x = np.clip(xs, 0, w - 1)
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    ly, lx = (y - y0)[..., None], (x - x0)[..., None]
    val = (fm[y0, x0] * (1 - ly) * (1 - lx) + fm[y0, x1] * (1 - ly) * lx
           + fm[y1, x0] * ly * (1 - lx) + fm[y1, x1] * ly * lx)
    return np.where(outside[..., None], 0.0, val).astype(np.float32)


def roi_align(feature_map, boxes, output_size: int = 7, spatial_scale: float = 1.0,
              sampling_ratio: int = 2) -> np.ndarray:
    """RoIAlign (Mask R-CNN, ``2_3``, ``3_x``): no rounding; each of the ``s × s`` bins is the
    average of ``sampling_ratio × sampling_ratio`` bilinear samples at regular points inside it.

    Args as :func:`roi_pool`. Coordinates follow the "aligned" convention (detectron2's
    ``aligned=True``): image pixel ``x`` covers ``[x, x + 1)``, so a continuous coordinate
    ``x`` lands at ``x * spatial_scale - 0.5`` in cell-centre units (:func:`bilinear_sample`).
    Returns ``(N, s, s, C)`` float32. With ``sampling_ratio=1`` this equals
    ``tf.image.crop_and_resize`` sampling at the bin centres (tested).
    """
    fm = _check_map(feature_map)
    b = _as_boxes(boxes) * spatial_scale - 0.5
    s, r = int(output_size), int(sampling_ratio)
    if s < 1 or r < 1:
        raise ValueError(f"output_size={output_size}, sampling_ratio={sampling_ratio}: expected positive ints")
    frac = (np.arange(s * r) + 0.5) / (s * r)  # sample positions as fractions of the box
    ys = b[:, 1:2] + frac[None] * (b[:, 3:4] - b[:, 1:2])  # (N, s*r)
    xs = b[:, 0:1] + frac[None] * (b[:, 2:3] - b[:, 0:1])
    vals = bilinear_sample(fm, ys[:, :, None], xs[:, None, :])  # (N, s*r, s*r, C)
    n, c = len(b), fm.shape[2]
    return vals.reshape(n, s, r, s, r, c).mean(axis=(2, 4)).astype(np.float32)


# ------------------------------------------------------------------------- evaluation


def _image_dicts(items, name: str, need_scores: bool, optional: bool = False) -> list[dict]:
    """Check and convert one dict per image (``boxes``, ``class_ids``, and ``scores`` when ``need_scores``).
    With ``optional``, an item may be a bare box array, and a missing ``class_ids``/``scores`` comes back as
    ``None``; errors name ``<name>[i]``."""
    out = []
    for i, item in enumerate(items):
        if optional and not isinstance(item, dict):
            item = {"boxes": item}
        try:
            boxes = _as_boxes(item["boxes"], f"{name}[{i}]['boxes']")
            ids = (None if optional and "class_ids" not in item
                   else np.asarray(item["class_ids"]).reshape(-1).astype(int))
            scores = (np.asarray(item["scores"], dtype=np.float64).reshape(-1)
                      if need_scores and not (optional and "scores" not in item) else None)
        except KeyError as err:
            keys = "boxes, scores, class_ids" if need_scores else "boxes, class_ids"
            keys = f"boxes (and optionally {keys[7:]}), or a box array" if optional else keys
            raise ValueError(f"{name}[{i}]: missing key {err}; expected a dict with {keys}") from None
        if (ids is not None and len(ids) != len(boxes)) or (scores is not None and len(scores) != len(boxes)):
            raise ValueError(f"{name}[{i}]: {len(boxes)} boxes but "
                             + " and ".join(f"{len(v)} {what}" for v, what in ((ids, "class ids"), (scores, "scores"))
                                            if v is not None))
        out.append({"boxes": boxes, "class_ids": ids, "scores": scores})
    return out


def coco_evaluate(gts, preds, class_names=None) -> dict:
    """COCO box mAP with pycocotools (``2_3``-``2_6``).

    Args:
        gts: one dict per image, ``boxes`` ``(K, 4)`` ``xyxy`` pixels and ``class_ids`` ``(K,)``.
        preds: one dict per image (same order), ``boxes``, ``scores`` ``(D,)``, ``class_ids``.
        class_names: optional list indexed by class id (``class_names[0] == "BG"``); used as
            the keys of ``per_class_AP50`` (ids otherwise).

    Returns ``dict(mAP=AP@[.5:.95], AP50, AP75, per_class_AP50={class: AP50}, AP_small, AP_medium,
    AP_large, AP50_small)`` (floats; classes without any ground truth are left out, as COCO does).
    ``AP_small``/``_medium``/``_large`` are COCO's AP@[.5:.95] over ground truth of area < 32²,
    32²-96², > 96² pixels (``nan`` when there is none of that size); ``AP50_small`` the AP@0.5 of
    the small ones (``7_2``). pycocotools' conventions
    apply: at most 100 detections per image and class, 101-point interpolated precision,
    a detection matches the best still-unmatched ground truth with IoU >= threshold.
    An image set without any ground-truth box raises ``ValueError``.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gts, preds = _image_dicts(gts, "gts", False), _image_dicts(preds, "preds", True)
    if len(gts) != len(preds):
        raise ValueError(f"coco_evaluate: {len(gts)} ground-truth images but {len(preds)} prediction images")
    cats = sorted({int(c) for g in gts for c in g["class_ids"]} | {int(c) for p in preds for c in p["class_ids"]})
    if not any(len(g["boxes"]) for g in gts):
        raise ValueError("coco_evaluate: no ground-truth boxes at all; nothing to evaluate")
    images, anns, dets = [], [], []
    for img_id, (g, p) in enumerate(zip(gts, preds), start=1):
        images.append({"id": img_id, "width": 0, "height": 0})
        for box, cid in zip(convert_boxes(g["boxes"], "xyxy", "xywh"), g["class_ids"]):
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": int(cid), "bbox": box.tolist(),
                         "area": float(box[2] * box[3]), "iscrowd": 0})
        for box, cid, score in zip(convert_boxes(p["boxes"], "xyxy", "xywh"), p["class_ids"], p["scores"]):
            dets.append({"id": len(dets) + 1, "image_id": img_id, "category_id": int(cid), "bbox": box.tolist(),
                         "area": float(box[2] * box[3]), "score": float(score), "iscrowd": 0})
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {"images": images, "annotations": anns,
                           "categories": [{"id": c, "name": str(c)} for c in cats]}
        coco_gt.createIndex()
        coco_dt = COCO()
        coco_dt.dataset = {"images": images, "annotations": dets, "categories": coco_gt.dataset["categories"]}
        coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval["precision"]  # (T iou thresholds, R recall points, K classes, A areas, M maxDets)
    per_class = {}
    for k, cid in enumerate(ev.params.catIds):
        p = precision[0, :, k, 0, -1]
        if np.any(p > -1):
            key = class_names[cid] if class_names is not None and 0 <= cid < len(class_names) else int(cid)
            per_class[key] = float(np.mean(p[p > -1]))
    stats = [max(float(v), 0.0) for v in ev.stats[:3]]  # pycocotools says -1 for "no detections"
    by_size = [float("nan") if v < 0 else float(v) for v in ev.stats[3:6]]  # -1: no ground truth of that size
    p50_small = precision[0, :, :, 1, -1]
    ap50_small = float(np.mean(p50_small[p50_small > -1])) if np.any(p50_small > -1) else float("nan")
    return {"mAP": stats[0], "AP50": stats[1], "AP75": stats[2], "per_class_AP50": per_class,
            "AP_small": by_size[0], "AP_medium": by_size[1], "AP_large": by_size[2], "AP50_small": ap50_small}


def average_precision(recall, precision) -> float:
    """Area under a precision-recall curve with **all-point interpolation** (VOC 2010+):
    precision is first made monotone (each point takes the best precision at any higher
    recall), then summed over the recall steps. ``recall``/``precision`` ``(D,)`` as
    produced by walking detections from the highest score down (``2_6``)."""
    r = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64), [1.0]])
    p = np.concatenate([[0.0], np.asarray(precision, dtype=np.float64), [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1]) + 1
    return float(np.sum((r[steps] - r[steps - 1]) * p[steps]))


def voc_ap(gts, preds, iou_threshold: float = 0.5) -> dict:
    """Pascal VOC-style AP, written from scratch for teaching (``2_6``).

    For each class: sort all its detections (every image) by score, highest first; a
    detection is a true positive when its best-IoU ground truth in the same image has
    IoU **> iou_threshold** (VOC's strict rule) and is not yet taken, otherwise a false
    positive (VOC does not fall back to the second-best box). Cumulative TP/FP give the
    precision-recall curve; AP is its area with all-point interpolation
    (:func:`average_precision`); mAP is the mean over classes that have ground truth.

    Inputs as :func:`coco_evaluate`. Returns ``dict(mAP, per_class={cid: AP},
    curves={cid: (recall (D,), precision (D,))})``.

    Differences from pycocotools' AP50, all small on ordinary data (the tests check
    agreement within 0.01): COCO samples precision at 101 recall points instead of
    integrating exactly; counts IoU == 0.5 as a match (>=); lets a detection fall back to
    the best *unmatched* ground truth; and keeps only 100 detections per image and class.
    VOC's "difficult" flag does not exist here.
    """
    gts, preds = _image_dicts(gts, "gts", False), _image_dicts(preds, "preds", True)
    if len(gts) != len(preds):
        raise ValueError(f"voc_ap: {len(gts)} ground-truth images but {len(preds)} prediction images")
    classes = sorted({int(c) for g in gts for c in g["class_ids"]})
    per_class, curves = {}, {}
    for cid in classes:
        gt_boxes = [g["boxes"][g["class_ids"] == cid] for g in gts]
        n_gt = sum(len(b) for b in gt_boxes)
        det_img = np.concatenate([np.full(int((p["class_ids"] == cid).sum()), i) for i, p in enumerate(preds)] + [np.zeros(0, int)])
        det_boxes = np.concatenate([p["boxes"][p["class_ids"] == cid] for p in preds] + [np.zeros((0, 4))])
        det_scores = np.concatenate([p["scores"][p["class_ids"] == cid] for p in preds] + [np.zeros(0)])
        order = np.argsort(-det_scores, kind="stable")
        taken = [np.zeros(len(b), bool) for b in gt_boxes]
        tp = np.zeros(len(order))
        for rank, d in enumerate(order):
            img = det_img[d]
            if len(gt_boxes[img]) == 0:
                continue
            overlaps = iou(det_boxes[d], gt_boxes[img])[0]
            best = int(np.argmax(overlaps))
            if overlaps[best] > iou_threshold and not taken[img][best]:
                tp[rank] = 1
                taken[img][best] = True
        ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
        recall = ctp / n_gt
        precision = ctp / np.maximum(ctp + cfp, np.finfo(float).eps)
        per_class[cid] = average_precision(recall, precision)
        curves[cid] = (recall, precision)
    m = float(np.mean(list(per_class.values()))) if per_class else float("nan")
    return {"mAP": m, "per_class": per_class, "curves": curves}


def recall_at(gts, preds, iou_threshold: float = 0.5, score_threshold: float | None = None):
    """Share of ground-truth boxes found, each by its own detection (``7_2``, ``8_1``).

    In each image the detections (those with score >= ``score_threshold`` when it is given) are
    taken **best score first** (in the given order when there are no scores); each one takes the
    still-unmatched ground-truth box of its class with the highest IoU, if that IoU is
    >= ``iou_threshold``. One to one, as COCO matches: a duplicate detection of a box already
    found counts for nothing, and one detection never finds two boxes.

    Args:
        gts: one item per image, either a dict with ``boxes`` ``(K, 4)`` (or one ``(4,)``) ``xyxy``
            and optionally ``class_ids`` ``(K,)`` (as :func:`coco_evaluate` takes it), or just the boxes.
        preds: one item per image, same order: a dict with ``boxes`` ``(D, 4)`` and optionally
            ``scores`` ``(D,)`` and ``class_ids`` ``(D,)``, or just the boxes (ranked as given).
            Classes are compared when an image's ground truth and detections both have
            ``class_ids``; giving them on one side only raises ``ValueError``.
        iou_threshold: in ``(0, 1]``.
        score_threshold: detections scoring below it are dropped (needs ``scores``); ``None``: keep all.

    Returns:
        ``(recall, ious)``: ``recall`` = found / all ground-truth boxes (``nan`` when there is none);
        ``ious`` ``(G,)`` float64, one per ground-truth box (image after image, in their order): the
        IoU of the detection that found it, 0 for a box not found.
    """
    if len(gts) != len(preds):
        raise ValueError(f"recall_at: {len(gts)} ground-truth images but {len(preds)} prediction images")
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"recall_at: iou_threshold={iou_threshold}, expected a value in (0, 1]")
    gts, preds = _image_dicts(gts, "gts", False, optional=True), _image_dicts(preds, "preds", True, optional=True)
    found, ious = 0, [np.zeros(0)]
    for i, (g, p) in enumerate(zip(gts, preds)):
        if (g["class_ids"] is None) != (p["class_ids"] is None):
            has, lacks = ("gts", "preds") if p["class_ids"] is None else ("preds", "gts")
            raise ValueError(f"recall_at: {has}[{i}] has class_ids but {lacks}[{i}] has none; give both or neither")
        gc = np.zeros(len(g["boxes"]), int) if g["class_ids"] is None else g["class_ids"]
        pc = np.zeros(len(p["boxes"]), int) if p["class_ids"] is None else p["class_ids"]
        if p["scores"] is not None:
            order = np.argsort(-p["scores"], kind="stable")
            if score_threshold is not None:
                order = order[p["scores"][order] >= score_threshold]
        elif score_threshold is not None:
            raise ValueError(f"recall_at: score_threshold={score_threshold} but preds[{i}] has no scores")
        else:
            order = np.arange(len(p["boxes"]))
        matched = np.zeros(len(g["boxes"]))
        taken = np.zeros(len(g["boxes"]), bool)
        if len(order) and len(g["boxes"]):
            for d, row in zip(order, iou(p["boxes"][order], g["boxes"])):
                ok = (row >= iou_threshold) & ~taken & (gc == pc[d])
                if ok.any():
                    j = int(np.argmax(np.where(ok, row, -1.0)))
                    taken[j], matched[j] = True, row[j]
        found += int(taken.sum())
        ious.append(matched)
    ious = np.concatenate(ious)
    return (found / len(ious) if len(ious) else float("nan")), ious


# -------------------------------------------------------------------------- backbones

BACKBONES = ("small_cnn", "mobilenet_v3_small")
"""Feature extractors :func:`backbone` builds: fast mode trains ``small_cnn`` from scratch,
full mode starts from ImageNet weights (``mobilenet_v3_small``)."""


def backbone(kind: str = "small_cnn", image_size: int = 64, weights=None,
             filters: Sequence[int] | None = None):
    """A convolutional feature extractor for the localization notebook (``2_2``).

    Input ``(B, S, S, 3)`` float RGB in **0..255** (both kinds rescale inside the model);
    output a feature map ``(B, S/2**k, S/2**k, filters[-1])`` (``small_cnn``, ``k = len(filters)``)
    or ``(B, S/32, S/32, 576)`` (``mobilenet_v3_small``).

    - ``small_cnn``: one conv-BN-ReLU-maxpool block per entry of ``filters`` (default
      ``(16, 32, 64, 128)``; ignored by ``mobilenet_v3_small``), random
      initialisation, trains in seconds; ``weights``: an optional ``.weights.h5`` of it.
    - ``mobilenet_v3_small``: ``keras.applications.MobileNetV3Small`` without its top;
      ``weights``: the path of Keras' ImageNet file
      ``weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5``
      (``utils.weights.path("mobilenet_v3_small_no_top")`` in full mode), or ``None``.
    """
    import keras

    if kind not in BACKBONES:
        raise ValueError(f"kind={kind!r}: expected one of {', '.join(BACKBONES)}")
    if weights is not None and not Path(weights).is_file():
        raise FileNotFoundError(f"{weights}: no such weights file for backbone {kind!r}")
    shape = (int(image_size), int(image_size), 3)
    if kind == "mobilenet_v3_small":
        return keras.applications.MobileNetV3Small(input_shape=shape, include_top=False, weights=weights,
                                                   include_preprocessing=True)
    inputs = keras.Input(shape)
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    for n in filters or (16, 32, 64, 128):
        x = keras.layers.Conv2D(int(n), 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D(2)(x)
    model = keras.Model(inputs, x, name="small_cnn")
    if weights is not None:
        model.load_weights(weights)
    return model


# --------------------------------------------------------------- pretrained networks in OpenCV


def read_dnn(reader, kind: str, *files):
    """Read a pretrained network with an OpenCV ``cv2.dnn.readNetFrom...`` function, with
    errors that name the files: ``files`` are ``(path, what)`` pairs in the reader's order,
    ``what`` saying what the file should be (``"a Caffe .prototxt"``); ``path`` may be
    ``None`` for an optional file, passed on as ``""``.

    Raises ``FileNotFoundError`` for a missing file, ``ValueError`` when OpenCV cannot parse
    them (a truncated weights file, a config of another framework) or reads an empty network.
    Used by ``2_4`` (Darknet), ``2_5`` (Caffe) and ``3_1`` (TensorFlow).
    """
    import cv2

    paths = [Path(f) if f else None for f, _ in files]
    for path, (_, what) in zip(paths, files):
        if path is not None and not path.is_file():
            raise FileNotFoundError(f"{path}: no such file (expected {what})")
    names = " + ".join(str(p) for p in paths if p is not None)
    try:
        net = reader(*(str(p) if p is not None else "" for p in paths))
    except cv2.error as err:
        raise ValueError(f"{names}: OpenCV cannot read this {kind} ({str(err).strip().splitlines()[-1]})") from None
    if net.empty():
        raise ValueError(f"{names}: OpenCV read an empty network")
    return net


# --------------------------------------------------------------------------- drawing


def class_color(class_id: int, as_uint8: bool = False):
    """The course's colour for a class id: matplotlib's ``tab10``, cycling (RGB floats in
    0..1, or a 0..255 int tuple for OpenCV with ``as_uint8=True``)."""
    import matplotlib

    rgb = matplotlib.colormaps["tab10"](int(class_id) % 10)[:3]
    return tuple(int(round(v * 255)) for v in rgb) if as_uint8 else tuple(rgb)


def _labels(n: int, class_ids, scores, class_names) -> list[str]:
    labels = []
    for k in range(n):
        parts = []
        if class_ids is not None:
            cid = int(class_ids[k])
            parts.append(str(class_names[cid]) if class_names is not None and 0 <= cid < len(class_names) else str(cid))
        if scores is not None:
            parts.append(f"{float(scores[k]):.2f}")
        labels.append(" ".join(parts))
    return labels


def _draw_inputs(boxes, class_ids, scores, box_format="xyxy"):
    b = convert_boxes(boxes, box_format, "xyxy")
    ids = None if class_ids is None else np.asarray(class_ids).reshape(-1)
    sc = None if scores is None else np.asarray(scores).reshape(-1)
    for arr, name in ((ids, "class_ids"), (sc, "scores")):
        if arr is not None and len(arr) != len(b):
            raise ValueError(f"{name}: got {len(arr)} values for {len(b)} boxes")
    return b, ids, sc


def _place_labels(boxes, sizes, image_hw) -> list[tuple[float, float]]:
    """Top-left corners for label rectangles ``sizes`` ``[(w, h), ...]`` (image units) of ``boxes``
    so that labels stay on the image and do not cover each other: the first free spot of
    above the box, inside its top, below it, inside its bottom (then the least covered one)."""
    h_img, w_img = image_hw
    placed: list[tuple[float, float, float, float]] = []
    corners = []
    for (x1, y1, x2, y2), (tw, th) in zip(boxes, sizes):
        x = float(min(max(x1, 0), max(w_img - tw, 0)))
        candidates = [y1 - th, y1, y2, y2 - th]
        best, best_cover = None, None
        for y in candidates:
            y = float(min(max(y, 0), max(h_img - th, 0)))
            cover = sum(max(0.0, min(x + tw, b[2]) - max(x, b[0])) * max(0.0, min(y + th, b[3]) - max(y, b[1]))
                        for b in placed)
            if best_cover is None or cover < best_cover:
                best, best_cover = y, cover
            if cover == 0:
                break
        placed.append((x, best, x + tw, best + th))
        corners.append((x, best))
    return corners


def draw_boxes(image, boxes, class_ids=None, scores=None, class_names=None, ax=None, box_format: str = "xyxy",
               fontsize: float | None = None):
    """Show ``image`` with its boxes in matplotlib, one colour per class, labelled
    ``"<class name> <score>"`` (``2_2``-``2_6``). Works the same for ground truth and predictions.

    Box edges are drawn on pixel borders (a box ``[x1, y1, x2, y2]`` with exclusive ends
    encloses exactly its pixels). Labels stay readable on small images: the font shrinks with the
    axes (``fontsize`` overrides it), and each label goes above its box, inside it or below it,
    wherever it covers no other label. Returns the ``Axes``; call ``plt.show()`` yourself.
    """
    import matplotlib.patches as patches
    import matplotlib.pyplot as plt

    b, ids, sc = _draw_inputs(boxes, class_ids, scores, box_format)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(image)
    h_img, w_img = np.asarray(image).shape[:2]
    labels = _labels(len(b), ids, sc, class_names)
    bbox = ax.get_window_extent().transformed(ax.figure.dpi_scale_trans.inverted())   # inches
    points_per_pixel = min(bbox.width * 72 / w_img, bbox.height * 72 / h_img)
    if fontsize is None:
        fontsize = float(np.clip(min(bbox.width, bbox.height) * 3.2, 6.5, 10.0))
    # label sizes in image pixels: DejaVu Sans is about 0.6 em wide per character, boxes pad 1 point
    sizes = [((0.6 * len(t) * fontsize + 2) / points_per_pixel, (1.25 * fontsize + 2) / points_per_pixel)
             for t in labels]
    corners = _place_labels(b, sizes, (h_img, w_img))
    for k, label in enumerate(labels):
        x1, y1, x2, y2 = b[k]
        color = class_color(ids[k] if ids is not None else 1)
        ax.add_patch(patches.Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, edgecolor=color,
                                       linewidth=2 if points_per_pixel < 4 else 1.5))
        if label:
            x, y = corners[k]
            ax.text(x - 0.5, y - 0.5, label, color="white", fontsize=fontsize, va="top", ha="left", clip_on=True,
                    bbox={"facecolor": color, "alpha": 0.75, "pad": 1, "edgecolor": "none"})
    ax.axis("off")
    return ax


def draw_boxes_cv2(image, boxes, class_ids=None, scores=None, class_names=None, min_side: int = 0) -> np.ndarray:
    """Draw ``xyxy`` boxes with OpenCV onto a copy of an RGB uint8 ``(H, W, 3)`` image and
    return it (for videos and saved files, ``2_4``). Same colours and labels as :func:`draw_boxes`;
    the rectangle's outer edge is the box's outermost pixels (``x2 - 1``, ``y2 - 1``).

    Labels stay readable: the font and line width grow with the image, each label goes above,
    inside or below its box where it hides no other label, and an image whose short side is
    under ``min_side`` is first enlarged by a whole factor (nearest neighbour), so the returned
    image is then larger than the input (boxes are scaled with it).
    """
    import cv2

    from utils.images import check_rgb

    out = check_rgb(image, "image")
    b, ids, sc = _draw_inputs(boxes, class_ids, scores)
    factor = int(np.ceil(min_side / min(out.shape[:2]))) if min_side and min(out.shape[:2]) < min_side else 1
    out = cv2.resize(out, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST) if factor > 1 else out.copy()
    b = b * factor
    short = min(out.shape[:2])
    font_scale = float(np.clip(short / 800, 0.35, 1.2))
    thick = 1 if short < 200 else 2 if short < 900 else 3
    labels = _labels(len(b), ids, sc, class_names)
    sizes = []
    for label in labels:
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        sizes.append((tw + 2, th + base + 2))
    corners = _place_labels(b, sizes, out.shape[:2])
    for k, label in enumerate(labels):
        x1, y1, x2, y2 = (int(round(v)) for v in b[k])
        color = class_color(ids[k] if ids is not None else 1, as_uint8=True)
        cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), color, thick)
    for k, label in enumerate(labels):     # labels last, so no box line crosses a label
        if label:
            color = class_color(ids[k] if ids is not None else 1, as_uint8=True)
            x, y = (int(round(v)) for v in corners[k])
            tw, th = sizes[k]
            cv2.rectangle(out, (x, y), (x + tw - 1, y + th - 1), color, -1)
            cv2.putText(out, label, (x + 1, y + th - 1 - cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX,
                                                                          font_scale, 1)[1] - 1),
                        cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out
