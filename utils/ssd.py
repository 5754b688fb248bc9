"""SSD and RetinaNet: default boxes, matching, hard negative mining, the SSD loss, the focal
loss, decoding, and MobileNet-SSD (Caffe) through OpenCV DNN (``2_5``).

Conventions (shared with :mod:`utils.detection` and :mod:`utils.data`): boxes are ``xyxy``
pixels with exclusive ends; class ids are 1-based, 0 is background.

A single-shot detector predicts, for every **default box** (an anchor, in SSD's words), ``C + 1``
class scores (background first) and four offsets ``(dx, dy, dw, dh)`` encoded as Faster R-CNN
box deltas (:func:`utils.detection.encode_deltas`, scaled by ``stds = (0.1, 0.1, 0.2, 0.2)``).
Targets and predictions are flat over all default boxes of all levels, in the order of
:func:`utils.detection.generate_anchors`:

- targets ``(N, A, 5)``: ``[label, dx, dy, dw, dh]`` (label 0 = background);
- predictions ``(N, A, C + 1 + 4)``: ``C + 1`` class logits, then the four offsets.

Default boxes follow SSD's own rule (:func:`prior_boxes`, exactly Caffe's ``PriorBox`` layer):
at every location of a level with scale ``s_k``, a square of side ``s_k``, a square of side
``sqrt(s_k s_{k+1})`` (the extra scale for ratio 1), and boxes of aspect ratios ``r`` and
``1/r`` for each extra ratio (``{2}`` → 4 boxes, ``{2, 3}`` → 6 boxes per location).
:data:`SSD300` is the paper's configuration (8,732 default boxes).

Two pretrained Caffe SSDs run in OpenCV (``cv2.dnn.readNetFromCaffe``), and the course decodes
them: OpenCV's **res10 face detector** (fast mode of ``2_5``; :func:`face_ssd_files`,
:func:`detect_faces`) and chuanqi305's **MobileNet-SSD** (Pascal VOC's 20 classes, full mode;
:func:`detect_mobilenet_ssd`). A Caffe SSD's last layer ``DetectionOutput`` returns
``(1, 1, N, 7)`` rows ``[image, class, score, x1, y1, x2, y2]``, corners normalised to 0..1
(:func:`postprocess_ssd`); :func:`decode_caffe_heads` gets the same boxes from the raw heads
(offsets, class probabilities) with the course's default boxes, ``decode_deltas`` and NMS.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from utils import detection

CLASS_NAMES = ["BG", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor"]
"""Pascal VOC's 20 classes after the background, the label order of MobileNet-SSD."""


# ------------------------------------------------------------------------- default boxes


def ssd_scales(num_levels: int, s_min: float = 0.2, s_max: float = 0.9) -> list[list[float]]:
    """SSD's box scales (fractions of the image side), one pair per feature-map level (``2_5``).

    Level ``k`` (1-based) of ``m`` has ``s_k = s_min + (s_max - s_min) (k - 1) / (m - 1)`` and
    SSD's extra square box ``sqrt(s_k s_{k+1})`` (with ``s_{m+1} = s_max + step``; a single level uses ``s_min`` and ``sqrt(s_min s_max)``). Returns
    ``[[s_k, sqrt(s_k s_{k+1})], ...]``; multiply by the image size to get pixels.
    """
    if num_levels < 1 or not 0 < s_min <= s_max:
        raise ValueError(f"ssd_scales: need num_levels >= 1 and 0 < s_min <= s_max, got {num_levels}, {s_min}, {s_max}")
    step = (s_max - s_min) / (num_levels - 1) if num_levels > 1 else s_max - s_min
    s = [s_min + step * k for k in range(num_levels + 1)]
    return [[s[k], float(np.sqrt(s[k] * s[k + 1]))] for k in range(num_levels)]


def prior_boxes(feature_sizes: Sequence[int], steps: Sequence[float], min_sizes: Sequence[float],
                max_sizes: Sequence[float], aspect_ratios: Sequence[Sequence[float]], offset: float = 0.5) -> np.ndarray:
    """SSD's default boxes ``(A, 4)`` xyxy pixels, laid out exactly as Caffe's ``PriorBox`` layer
    does (``2_5``).

    Level ``k`` is a ``feature_sizes[k]`` × ``feature_sizes[k]`` map whose cell ``(i, j)`` is centred
    at ``((j + offset) steps[k], (i + offset) steps[k])``. Each location gets, in this order:
    a square of side ``min_sizes[k]`` (scale ``s_k``), a square of side
    ``sqrt(min_sizes[k] max_sizes[k])`` (SSD's extra scale ``sqrt(s_k s_{k+1})`` for ratio 1), then
    for each ratio ``r > 1`` of ``aspect_ratios[k]`` a box ``w = min sqrt(r), h = min / sqrt(r)``
    and its flip ``1/r``: ``2 + 2 len(aspect_ratios[k])`` boxes. Order: level, row, column, box.
    Boxes are not clipped to the image (Caffe's ``clip: false``).
    """
    lists = [list(feature_sizes), list(steps), list(min_sizes), list(max_sizes), list(aspect_ratios)]
    if len({len(v) for v in lists}) != 1:
        raise ValueError(f"prior_boxes: feature_sizes, steps, min_sizes, max_sizes and aspect_ratios need one "
                         f"entry per level, got lengths {[len(v) for v in lists]}")
    out = []
    for n, step, smin, smax, ratios in zip(*lists):
        if any(float(r) <= 1 for r in ratios):
            raise ValueError(f"prior_boxes: aspect ratios are given as r > 1 (1/r is added), got {list(ratios)}")
        sizes = [(smin, smin), (np.sqrt(smin * smax),) * 2]
        for r in ratios:
            sizes += [(smin * np.sqrt(r), smin / np.sqrt(r)), (smin / np.sqrt(r), smin * np.sqrt(r))]
        wh = np.array(sizes, np.float64)                                      # (K, 2)
        centres = (np.arange(n, dtype=np.float64) + offset) * step
        cy, cx = np.meshgrid(centres, centres, indexing="ij")
        c = np.stack([cx.ravel(), cy.ravel()], -1)[:, None, :]                # (n*n, 1, 2)
        out.append(np.concatenate([c - wh / 2, c + wh / 2], -1).reshape(-1, 4))
    return np.concatenate(out) if out else np.zeros((0, 4))


SSD300 = {"feature_sizes": (38, 19, 10, 5, 3, 1), "steps": (8, 16, 32, 64, 100, 300),
          "min_sizes": (30, 60, 111, 162, 213, 264), "max_sizes": (60, 111, 162, 213, 264, 315),
          "aspect_ratios": ((2,), (2, 3), (2, 3), (2, 3), (2,), (2,))}
"""The SSD300 paper model's default boxes (Liu et al. 2016, weiliu89's Caffe ``ssd_pascal.py``):
conv4_3, fc7, conv6_2 ... conv9_2; ``prior_boxes(**SSD300)`` gives its 8,732 boxes on a 300 × 300 input."""


def default_boxes(image_size: int, strides: Sequence[int], s_min: float = 0.2, s_max: float = 0.9,
                  aspect_ratios: Sequence[float] = (2.0,)) -> np.ndarray:
    """SSD default boxes ``(A, 4)`` xyxy pixels for a square image of side ``image_size`` (``2_5``).

    One level per stride (``strides[0]`` the finest map, smallest boxes), scales from
    :func:`ssd_scales`, laid out by :func:`prior_boxes` with the same extra ``aspect_ratios``
    (each ``r > 1``, its flip added) on every level: :func:`boxes_per_cell` boxes per cell.
    """
    pairs = ssd_scales(len(strides), s_min, s_max)
    return prior_boxes([image_size // s for s in strides], strides, [p[0] * image_size for p in pairs],
                       [p[1] ** 2 / p[0] * image_size for p in pairs], [aspect_ratios] * len(strides))


def boxes_per_cell(aspect_ratios: Sequence[float] = (2.0,)) -> int:
    """How many default boxes SSD puts on each cell: 2 squares (``s_k`` and ``sqrt(s_k s_{k+1})``)
    plus 2 per extra aspect ratio ``r`` (``r`` and ``1/r``): 4 for ``(2,)``, 6 for ``(2, 3)``."""
    return 2 + 2 * len(aspect_ratios)


# ------------------------------------------------------------------------------ matching


def match(defaults, gt_boxes, gt_class_ids, iou_threshold: float = 0.5,
          stds: Sequence[float] = detection.DELTA_STDS) -> tuple[np.ndarray, np.ndarray]:
    """SSD's matching of default boxes to the ground truth of one image (``2_5``).

    Every ground-truth box first takes its best-overlapping default box (so no object is left
    without one); then every other default box whose best IoU with a ground truth is ≥
    ``iou_threshold`` takes that ground truth. The rest are background.

    Args: ``defaults`` ``(A, 4)``, ``gt_boxes`` ``(K, 4)`` xyxy pixels, ``gt_class_ids`` ``(K,)`` 1-based.
    Returns ``labels`` ``(A,)`` int32 (0 = background) and ``deltas`` ``(A, 4)`` float32, the
    :func:`utils.detection.encode_deltas` of the matched ground truth (zeros for background).
    """
    defaults = np.asarray(defaults, np.float64)
    gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    gt_class_ids = np.asarray(gt_class_ids).reshape(-1)
    if len(gt_boxes) != len(gt_class_ids):
        raise ValueError(f"match: {len(gt_boxes)} boxes but {len(gt_class_ids)} class ids")
    labels = np.zeros(len(defaults), np.int32)
    deltas = np.zeros((len(defaults), 4), np.float32)
    if len(gt_boxes) == 0:
        return labels, deltas
    if np.any(gt_class_ids < 1):
        raise ValueError(f"match: class ids must be >= 1 (0 is background), got {gt_class_ids.tolist()}")
    overlaps = detection.iou(defaults, gt_boxes)          # (A, K)
    best_gt = overlaps.argmax(1)
    best_iou = overlaps.max(1)
    for k, a in enumerate(overlaps.argmax(0)):             # each ground truth keeps its best default box
        best_gt[a], best_iou[a] = k, 2.0
    pos = best_iou >= iou_threshold
    labels[pos] = gt_class_ids[best_gt[pos]]
    if pos.any():
        deltas[pos] = detection.encode_deltas(defaults[pos], gt_boxes[best_gt[pos]], stds)
    return labels, deltas


def encode_batch(defaults, boxes_list, class_ids_list, iou_threshold: float = 0.5) -> np.ndarray:
    """:func:`match` for a list of images → targets ``(N, A, 5)`` float32 ``[label, dx, dy, dw, dh]``."""
    out = np.zeros((len(boxes_list), len(defaults), 5), np.float32)
    for i, (b, c) in enumerate(zip(boxes_list, class_ids_list)):
        labels, deltas = match(defaults, b, c, iou_threshold)
        out[i, :, 0], out[i, :, 1:] = labels, deltas
    return out


# -------------------------------------------------------------------------------- losses


def hard_negative_mask(ce, labels, neg_pos_ratio: float = 3.0):
    """Which default boxes enter the classification loss: every positive, and per image the
    ``neg_pos_ratio`` × (its number of positives) negatives with the highest loss (``2_5``).

    ``ce``: ``(N, A)`` per-box cross-entropy; ``labels``: ``(N, A)`` (0 = background). TensorFlow
    tensors or arrays in; a float32 TensorFlow ``(N, A)`` mask of 0/1 out. An image without
    positives keeps no negative.
    """
    import tensorflow as tf

    ce = tf.convert_to_tensor(ce, tf.float32)
    pos = tf.cast(tf.convert_to_tensor(labels) > 0, tf.float32)
    n_neg = tf.cast(neg_pos_ratio * tf.reduce_sum(pos, axis=1, keepdims=True), tf.int32)      # (N, 1)
    neg_loss = tf.where(pos > 0, -1.0, tf.stop_gradient(ce))                                   # positives last
    rank = tf.argsort(tf.argsort(neg_loss, axis=1, direction="DESCENDING", stable=True), axis=1, stable=True)
    neg = tf.cast(rank < n_neg, tf.float32) * (1.0 - pos)
    return pos + neg


def ssd_loss_terms(y_true, y_pred, num_classes: int, neg_pos_ratio: float = 3.0, alpha: float = 1.0) -> dict:
    """The SSD loss of a batch, as its two parts (``2_5``): ``conf`` = softmax cross-entropy over
    the positives and the hard negatives (:func:`hard_negative_mask`), ``loc`` = ``alpha`` ×
    smooth L1 of the offsets over the positives, both divided by the number of positives.

    ``y_true``: ``(N, A, 5)`` from :func:`encode_batch`; ``y_pred``: ``(N, A, num_classes + 1 + 4)``
    raw logits and offsets. Returns TensorFlow scalars ``{"conf", "loc"}``.
    """
    import tensorflow as tf

    y_true = tf.convert_to_tensor(y_true, tf.float32)
    y_pred = tf.convert_to_tensor(y_pred, tf.float32)
    labels = tf.cast(y_true[..., 0], tf.int32)
    logits = y_pred[..., :num_classes + 1]
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)       # (N, A)
    mask = hard_negative_mask(ce, labels, neg_pos_ratio)
    pos = tf.cast(labels > 0, tf.float32)
    diff = tf.abs(y_true[..., 1:] - y_pred[..., num_classes + 1:])
    smooth_l1 = tf.reduce_sum(tf.where(diff < 1.0, 0.5 * tf.square(diff), diff - 0.5), axis=-1)
    n_pos = tf.maximum(tf.reduce_sum(pos), 1.0)
    return {"conf": tf.reduce_sum(ce * mask) / n_pos, "loc": alpha * tf.reduce_sum(smooth_l1 * pos) / n_pos}


def ssd_loss(num_classes: int, neg_pos_ratio: float = 3.0, alpha: float = 1.0):
    """A Keras loss ``loss(y_true, y_pred)``: the sum of :func:`ssd_loss_terms` (``2_5``)."""

    def loss(y_true, y_pred):
        terms = ssd_loss_terms(y_true, y_pred, num_classes, neg_pos_ratio, alpha)
        return terms["conf"] + terms["loc"]

    loss.__name__ = "ssd_loss"
    return loss


def focal_loss(p, y, gamma: float = 2.0, alpha: float = 0.25) -> np.ndarray:
    """RetinaNet's focal loss, element-wise, for probabilities ``p`` of the positive class and
    binary labels ``y`` (NumPy, any shape; ``2_5``)::

        FL(p_t) = -α_t (1 - p_t)^γ log(p_t),  p_t = p, α_t = α where y = 1;  1 - p, 1 - α where y = 0

    ``gamma=0, alpha=0.5`` gives half the cross-entropy. ``p`` is clipped to ``[1e-7, 1 - 1e-7]``.
    """
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(y, np.float64)
    p_t = np.where(y == 1, p, 1 - p)
    a_t = np.where(y == 1, alpha, 1 - alpha)
    return -a_t * (1 - p_t) ** gamma * np.log(p_t)


# ------------------------------------------------------------------------------ decoding


def decode(pred, defaults, num_classes: int, score_threshold: float = 0.01, iou_threshold: float = 0.5,
           max_output: int = 100, stds: Sequence[float] = detection.DELTA_STDS, image_size=None) -> list[dict]:
    """SSD outputs → detections per image (``2_5``): softmax over the ``num_classes + 1`` logits,
    :func:`utils.detection.decode_deltas` on the offsets, then for every class ≥ 1 the boxes
    scoring ≥ ``score_threshold``, and per-class NMS (:func:`utils.detection.batched_nms`).
    A default box may yield several classes, as in SSD.

    ``pred``: ``(N, A, num_classes + 1 + 4)``; ``defaults``: ``(A, 4)``; ``image_size``: clip
    boxes to ``H`` or ``(H, W)`` if given. Returns one dict per image: ``boxes`` ``(K, 4)``
    float32, ``scores`` ``(K,)``, ``class_ids`` ``(K,)`` 1-based, best first.
    """
    pred = np.asarray(pred, np.float32)
    if pred.ndim == 2:
        pred = pred[None]
    if pred.shape[1] != len(defaults) or pred.shape[2] != num_classes + 5:
        raise ValueError(f"decode: predictions {pred.shape}, expected (N, {len(defaults)}, {num_classes + 5})")
    logits = pred[..., :num_classes + 1].astype(np.float64)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    out = []
    for i in range(len(pred)):
        boxes = detection.decode_deltas(defaults, pred[i, :, num_classes + 1:], stds)
        if image_size is not None:
            h, w = (image_size, image_size) if np.isscalar(image_size) else image_size[:2]
            boxes = np.clip(boxes, 0, [w, h, w, h])
        a_idx, c_idx = np.nonzero(probs[i, :, 1:] >= score_threshold)
        b, s, c = boxes[a_idx], probs[i, a_idx, c_idx + 1], c_idx + 1
        kept = detection.batched_nms(b, s, c, iou_threshold=iou_threshold, max_output=max_output)
        out.append({"boxes": b[kept].astype(np.float32), "scores": s[kept].astype(np.float32),
                    "class_ids": c[kept].astype(np.int32)})
    return out


# ---------------------------------------------------------------- full mode: MobileNet-SSD

PROTOTXT_ASSET = "MobileNetSSD_deploy.prototxt"
CAFFEMODEL_ASSET = "MobileNetSSD_deploy.caffemodel"
"""Registry names of chuanqi305's MobileNet-SSD (Pascal VOC) deploy files, sha1s from OpenCV's
``opencv_extra/testdata/dnn/download_models.py``."""
INPUT_SIZE = 300
SCALE = 0.007843
MEAN = 127.5
"""MobileNet-SSD's preprocessing (OpenCV ``samples/dnn/models.yml``): ``(pixel - 127.5) * 0.007843``,
BGR order, 300 × 300."""


def mobilenet_ssd_files(registry=None) -> tuple[Path, Path]:
    """``(prototxt, caffemodel)`` of MobileNet-SSD from the registry, verified (full mode of
    ``2_5``); a missing file raises :class:`utils.weights.AssetError` with the fetch command."""
    from utils import weights

    registry = registry or weights.Registry()
    return registry.verify(PROTOTXT_ASSET), registry.verify(CAFFEMODEL_ASSET)


def read_caffe(prototxt, caffemodel):
    """``cv2.dnn.readNetFromCaffe(prototxt, caffemodel)`` with errors that name the files (``2_5``)."""
    import cv2

    return detection.read_dnn(cv2.dnn.readNetFromCaffe, "Caffe model",
                              (prototxt, "a Caffe .prototxt"), (caffemodel, "a Caffe .caffemodel"))


def postprocess_ssd(output, image_shape, conf_threshold: float = 0.5) -> dict:
    """A Caffe/OpenCV ``DetectionOutput`` → detections in image pixels (``2_5``).

    ``output``: ``(1, 1, N, 7)`` rows ``[image, class, score, x1, y1, x2, y2]`` (class 0-based
    with 0 = background, so it indexes :data:`CLASS_NAMES` directly; corners normalised to
    0..1; NMS already done by the layer). Keeps rows with score ≥ ``conf_threshold`` and a
    class ≥ 1, scales and clips the boxes to ``image_shape`` ``(H, W[, 3])``.
    Returns ``dict(boxes (K, 4) float32 xyxy, scores (K,) float32, class_ids (K,) int32)``, best first.
    """
    out = np.asarray(output, np.float32)
    if out.ndim != 4 or out.shape[:2] != (1, 1) or out.shape[3] != 7:
        raise ValueError(f"postprocess_ssd: output has shape {out.shape}, expected (1, 1, N, 7)")
    h, w = image_shape[:2]
    rows = out[0, 0]
    rows = rows[(rows[:, 2] >= conf_threshold) & (rows[:, 1] >= 1)]
    rows = rows[np.argsort(-rows[:, 2], kind="stable")]
    boxes = np.clip(rows[:, 3:7] * np.array([w, h, w, h], np.float32), 0, [w, h, w, h])
    return {"boxes": boxes.astype(np.float32), "scores": rows[:, 2].astype(np.float32),
            "class_ids": rows[:, 1].astype(np.int32)}


def detect_mobilenet_ssd(net, image, conf_threshold: float = 0.5) -> dict:
    """Run MobileNet-SSD (read by :func:`read_caffe`) on an RGB uint8 ``(H, W, 3)`` image:
    resize to 300 × 300, ``(pixel − 127.5) × 0.007843`` in BGR order, forward, then
    :func:`postprocess_ssd` (``2_5``)."""
    import cv2

    from utils.images import check_rgb

    image = check_rgb(image, "detect_mobilenet_ssd: image")
    blob = cv2.dnn.blobFromImage(cv2.resize(image, (INPUT_SIZE, INPUT_SIZE)), SCALE, (INPUT_SIZE, INPUT_SIZE),
                                 (MEAN, MEAN, MEAN), swapRB=True, crop=False)
    net.setInput(blob)
    return postprocess_ssd(net.forward(), image.shape, conf_threshold)


# ------------------------------------------------------------ fast mode: OpenCV's res10 face SSD

FACE_PROTOTXT_ASSET = "res10_300x300_ssd_deploy.prototxt"
FACE_CAFFEMODEL_ASSET = "res10_300x300_ssd_iter_140000.caffemodel"
"""Registry names of OpenCV's SSD face detector (``samples/dnn/models.yml``: ``opencv_fd``)."""
FACE_CLASS_NAMES = ["BG", "face"]
FACE_MEAN = (104.0, 177.0, 123.0)
"""res10's preprocessing: 300 × 300, BGR, these per-channel means subtracted, scale 1."""
FACE_PRIORS = {"feature_sizes": (38, 19, 10, 5, 5, 5), "steps": (8, 16, 32, 64, 100, 300),
               "min_sizes": (30, 60, 111, 162, 213, 264), "max_sizes": (60, 111, 162, 213, 264, 315),
               "aspect_ratios": ((2,), (2, 3), (2, 3), (2, 3), (2,), (2,))}
"""res10's default boxes, read off its ``PriorBox`` layers: SSD300's sizes and ratios, but its last
two maps are 5 × 5 (SSD300: 3 × 3 and 1 × 1), so 8,892 boxes instead of 8,732."""
FACE_HEADS = ("mbox_loc", "mbox_conf_flatten", "detection_out")
"""res10's layers :func:`detect_faces` reads: offsets ``(1, 4A)``, softmax probabilities ``(1, 2A)``
and OpenCV's own decoding ``(1, 1, N, 7)``."""


def face_ssd_files(registry=None) -> tuple[Path, Path]:
    """``(prototxt, caffemodel)`` of OpenCV's res10 SSD face detector, verified by the registry
    (fast mode of ``2_5``, also ``4_3``); a missing file raises :class:`utils.weights.AssetError`
    with the fetch command."""
    from utils import weights

    registry = registry or weights.Registry()
    return registry.verify(FACE_PROTOTXT_ASSET), registry.verify(FACE_CAFFEMODEL_ASSET)


def decode_caffe_heads(loc, conf, priors, image_shape, input_size: int = 300, conf_threshold: float = 0.5,
                       nms_threshold: float = 0.45, variances: Sequence[float] = (0.1, 0.1, 0.2, 0.2),
                       max_output: int = 200) -> dict:
    """Decode a Caffe SSD's raw heads with the course's own code (``2_5``).

    ``loc``: ``(1, 4A)`` or ``(A, 4)`` offsets ``(dx, dy, dw, dh)`` per default box (Caffe's
    ``CENTER_SIZE`` code = :func:`utils.detection.encode_deltas` with ``stds = variances``);
    ``conf``: ``(1, A (C + 1))`` or ``(A, C + 1)`` class probabilities after the softmax, background
    first; ``priors``: ``(A, 4)`` xyxy pixels on the ``input_size`` square (:func:`prior_boxes`).
    Boxes are decoded, scaled to ``image_shape`` ``(H, W[, 3])`` and clipped; every (box, class ≥ 1)
    scoring ≥ ``conf_threshold`` enters per-class NMS (:func:`utils.detection.batched_nms`).
    Returns ``dict(boxes (K, 4) float32 xyxy, scores (K,), class_ids (K,) int32)``, best first: what
    ``DetectionOutput`` computes (:func:`postprocess_ssd`), up to its top-k pre-selection.
    """
    priors = np.asarray(priors, np.float64).reshape(-1, 4)
    loc = np.asarray(loc, np.float32).reshape(-1, 4)
    conf = np.asarray(conf, np.float32)
    if len(loc) != len(priors) or conf.size % len(priors):
        raise ValueError(f"decode_caffe_heads: {len(priors)} default boxes, but {len(loc)} offsets and "
                         f"{conf.size} class probabilities (expected A and a multiple of A)")
    conf = conf.reshape(len(priors), -1)
    h, w = image_shape[:2]
    boxes = detection.decode_deltas(priors, loc, variances) / input_size * np.array([w, h, w, h])
    boxes = np.clip(boxes, 0, [w, h, w, h])
    a_idx, c_idx = np.nonzero(conf[:, 1:] >= conf_threshold)
    b, sc, cl = boxes[a_idx], conf[a_idx, c_idx + 1], c_idx + 1
    kept = detection.batched_nms(b, sc, cl, iou_threshold=nms_threshold, max_output=max_output)
    return {"boxes": b[kept].astype(np.float32), "scores": sc[kept].astype(np.float32),
            "class_ids": cl[kept].astype(np.int32)}


def detect_faces(net, image, conf_threshold: float = 0.5, nms_threshold: float = 0.45) -> tuple[dict, dict]:
    """Run OpenCV's res10 SSD face detector (read by :func:`read_caffe` from :func:`face_ssd_files`)
    on an RGB uint8 ``(H, W, 3)`` image (``2_5``): resize to 300 × 300, BGR minus :data:`FACE_MEAN`,
    one forward pass that returns the raw heads and ``DetectionOutput``.

    Returns ``(ours, opencv)``: the course's decoding of the heads (:func:`decode_caffe_heads` with
    :data:`FACE_PRIORS`) and OpenCV's own (:func:`postprocess_ssd`), both in the detection dict
    format (class 1 = face), so a notebook can show they agree.
    """
    import cv2

    from utils.images import check_rgb

    image = check_rgb(image, "detect_faces: image")
    blob = cv2.dnn.blobFromImage(cv2.resize(image, (INPUT_SIZE, INPUT_SIZE)), 1.0, (INPUT_SIZE, INPUT_SIZE),
                                 FACE_MEAN, swapRB=True, crop=False)
    net.setInput(blob)
    loc, conf, out = net.forward(list(FACE_HEADS))
    ours = decode_caffe_heads(loc, conf, prior_boxes(**FACE_PRIORS), image.shape, INPUT_SIZE, conf_threshold,
                              nms_threshold)
    return ours, postprocess_ssd(out, image.shape, conf_threshold)
