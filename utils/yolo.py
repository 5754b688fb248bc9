"""YOLO: the S x S grid target, the YOLOv1 loss, decoding, and YOLOv3 through OpenCV DNN (``2_4``).

Tensor layout of a YOLOv1-style output (and target), one image: ``(S, S, B*5 + C)``. In each
cell, ``B`` boxes of five numbers ``[x, y, w, h, confidence]`` come first, then ``C`` class
probabilities. ``x, y`` are the box centre inside its cell (0..1 from the cell's top-left
corner), ``w, h`` the box size as a fraction of the image (0..1). With ``S=7, B=2, C=20``
(Pascal VOC) that is the paper's ``7 x 7 x 30``.

Class ids follow :mod:`utils.data`: 1-based, 0 is background; class id ``k`` is class
column ``k - 1`` of the tensor.

The network's raw outputs become this layout with :func:`activate` (sigmoid on the box and
confidence numbers, softmax on the classes); the predicted ``w, h`` are the *square roots*
of the box size, which is what the YOLOv1 loss compares (see :func:`yolo_v1_loss_terms`).

Fast mode runs the official YOLOv3-tiny and full mode the official YOLOv3 (Darknet ``.cfg`` +
``.weights``, COCO's 80 classes), both through the same loader and post-processing
(``cv2.dnn.readNetFromDarknet``): :func:`yolov3_tiny_files` / :func:`yolov3_files`,
:func:`read_darknet`, :func:`detect_yolov3` (which can letterbox and zoom out with :func:`pad_image`). OpenCV returns one ``(N, 5 + 80)`` array per detection scale, one row
per (cell, anchor): ``[cx, cy, w, h, objectness, p_1 .. p_80]`` with the box normalised to
0..1 and each class score already multiplied by the objectness (OpenCV zeroes scores below
its own small threshold). :func:`postprocess_yolov3` turns those rows into detections.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from utils import detection


def _hw(image_size) -> tuple[int, int]:
    if np.isscalar(image_size):
        return int(image_size), int(image_size)
    h, w = image_size[:2]
    return int(h), int(w)


# ----------------------------------------------------------------------------- targets


def encode_targets(boxes, class_ids, image_size, S: int = 7, B: int = 2, C: int = 20) -> np.ndarray:
    """The YOLOv1 target of one image: ``(S, S, B*5 + C)`` float32 (``2_4``).

    ``boxes``: ``(K, 4)`` xyxy pixels; ``class_ids``: ``(K,)`` 1-based; ``image_size``: ``H``
    or ``(H, W)``. The cell holding an object's centre is responsible for it: its ``B`` box
    slots all hold ``[x, y, w, h, 1]`` (the loss picks the predictor that fits best) and its
    class slots a one-hot vector. A cell gets one object only: when two centres fall in the
    same cell the larger object is kept (YOLOv1's known limit on crowded scenes).
    """
    h_img, w_img = _hw(image_size)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    class_ids = np.asarray(class_ids).reshape(-1)
    if len(boxes) != len(class_ids):
        raise ValueError(f"boxes has {len(boxes)} rows but class_ids has {len(class_ids)} entries")
    if len(class_ids) and (class_ids.min() < 1 or class_ids.max() > C):
        raise ValueError(f"class_ids must be 1..{C} (0 is background), got {sorted(set(class_ids.tolist()))}")
    target = np.zeros((S, S, B * 5 + C), np.float32)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for k in np.argsort(area, kind="stable"):  # smallest first, so the largest wins a shared cell
        x1, y1, x2, y2 = boxes[k]
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f"box {k} {boxes[k].tolist()} has no area (expected x1 < x2 and y1 < y2)")
        cx, cy = (x1 + x2) / 2 / w_img * S, (y1 + y2) / 2 / h_img * S
        col, row = min(int(cx), S - 1), min(int(cy), S - 1)
        box = [cx - col, cy - row, (x2 - x1) / w_img, (y2 - y1) / h_img, 1.0]
        target[row, col, :B * 5] = box * B
        target[row, col, B * 5:] = 0.0
        target[row, col, B * 5 + int(class_ids[k]) - 1] = 1.0
    return target


def encode_batch(boxes_list, class_ids_list, image_size, S: int = 7, B: int = 2, C: int = 20) -> np.ndarray:
    """:func:`encode_targets` for a list of images: ``(N, S, S, B*5 + C)`` float32."""
    return np.stack([encode_targets(b, c, image_size, S, B, C) for b, c in zip(boxes_list, class_ids_list)])


# ------------------------------------------------------------------------------ loss


def activate(raw, B: int = 2, C: int = 20):
    """Raw network output ``(..., S, S, B*5 + C)`` → the YOLOv1 layout: sigmoid on every box
    number and confidence, softmax over the classes (TensorFlow tensors in, tensors out)."""
    import tensorflow as tf

    return tf.concat([tf.sigmoid(raw[..., :B * 5]), tf.nn.softmax(raw[..., B * 5:], axis=-1)], axis=-1)


def _cell_boxes_xyxy(t, S: int):
    """``(..., S, S, B, 4)`` [x, y, w, h] in cell/image units → xyxy in image units (0..1)."""
    import tensorflow as tf

    cols = tf.reshape(tf.range(S, dtype=t.dtype), (1, S, 1))
    rows = tf.reshape(tf.range(S, dtype=t.dtype), (S, 1, 1))
    cx, cy = (t[..., 0] + cols) / S, (t[..., 1] + rows) / S
    return tf.stack([cx - t[..., 2] / 2, cy - t[..., 3] / 2, cx + t[..., 2] / 2, cy + t[..., 3] / 2], axis=-1)


def yolo_v1_loss_terms(y_true, y_pred, B: int = 2, C: int = 20, lambda_coord: float = 5.0,
                       lambda_noobj: float = 0.5, activated: bool = False) -> dict:
    """The five terms of the YOLOv1 loss, each summed over cells and averaged over the batch (``2_4``).

    ``y_true``: targets from :func:`encode_batch`; ``y_pred``: raw network output of the same
    shape ``(N, S, S, B*5 + C)`` (or already passed through :func:`activate` with
    ``activated=True``), where the predicted ``w, h`` are square roots of the box size.
    In each cell with an object, the *responsible* predictor is the one of the ``B`` whose
    box has the highest IoU with the ground truth. Returns TensorFlow scalars:

    - ``coord``  = λcoord Σ 1obj [(x − x̂)² + (y − ŷ)²]
    - ``size``   = λcoord Σ 1obj [(√w − √ŵ)² + (√h − √ĥ)²]
    - ``obj``    = Σ 1obj (IoU(truth, pred) − Ĉ)²   (the target confidence is the IoU)
    - ``noobj``  = λnoobj Σ 1noobj Ĉ²   (every predictor that is not responsible)
    - ``class``  = Σ cells with an object Σc (p(c) − p̂(c))²
    """
    import tensorflow as tf

    y_true = tf.convert_to_tensor(y_true, tf.float32)
    y_pred = tf.convert_to_tensor(y_pred, tf.float32)
    p = y_pred if activated else activate(y_pred, B, C)
    S = int(y_true.shape[1])
    n = tf.cast(tf.shape(y_true)[0], tf.float32)
    t_box = tf.reshape(y_true[..., :B * 5], (-1, S, S, B, 5))
    p_box = tf.reshape(p[..., :B * 5], (-1, S, S, B, 5))
    has_obj = t_box[..., 0, 4]                                              # (N, S, S)
    p_xywh = tf.concat([p_box[..., :2], tf.square(p_box[..., 2:4])], -1)   # predicted sqrt → size
    a = _cell_boxes_xyxy(t_box[..., :4], S)
    b = _cell_boxes_xyxy(p_xywh, S)
    iw = tf.maximum(tf.minimum(a[..., 2], b[..., 2]) - tf.maximum(a[..., 0], b[..., 0]), 0.0)
    ih = tf.maximum(tf.minimum(a[..., 3], b[..., 3]) - tf.maximum(a[..., 1], b[..., 1]), 0.0)
    inter = iw * ih
    union = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
             - inter)
    ious = tf.stop_gradient(inter / tf.maximum(union, 1e-9))               # (N, S, S, B)
    best = tf.one_hot(tf.argmax(ious, axis=-1), B)                          # responsible predictor
    obj = best * has_obj[..., None]                                         # 1obj_ij
    noobj = 1.0 - obj
    t, q = t_box, p_box
    coord = lambda_coord * tf.reduce_sum(obj * (tf.square(t[..., 0] - q[..., 0]) + tf.square(t[..., 1] - q[..., 1])))
    size = lambda_coord * tf.reduce_sum(obj * (tf.square(tf.sqrt(t[..., 2]) - q[..., 2])
                                               + tf.square(tf.sqrt(t[..., 3]) - q[..., 3])))
    obj_term = tf.reduce_sum(obj * tf.square(ious - q[..., 4]))
    noobj_term = lambda_noobj * tf.reduce_sum(noobj * tf.square(q[..., 4]))
    cls = tf.reduce_sum(has_obj[..., None] * tf.square(y_true[..., B * 5:] - p[..., B * 5:]))
    return {"coord": coord / n, "size": size / n, "obj": obj_term / n, "noobj": noobj_term / n, "class": cls / n}


def yolo_v1_loss(B: int = 2, C: int = 20, lambda_coord: float = 5.0, lambda_noobj: float = 0.5):
    """A Keras loss ``loss(y_true, y_pred_raw)``: the sum of :func:`yolo_v1_loss_terms` (``2_4``)."""

    def loss(y_true, y_pred):
        terms = yolo_v1_loss_terms(y_true, y_pred, B, C, lambda_coord, lambda_noobj)
        return terms["coord"] + terms["size"] + terms["obj"] + terms["noobj"] + terms["class"]

    loss.__name__ = "yolo_v1_loss"
    return loss


# ---------------------------------------------------------------------------- decoding


def decode(pred, image_size, B: int = 2, C: int = 20, score_threshold: float = 0.05,
           iou_threshold: float = 0.5, max_output: int = 100, activated: bool = False) -> list[dict]:
    """YOLOv1-style output → detections per image, after per-class NMS (``2_4``).

    ``pred``: ``(N, S, S, B*5 + C)`` raw (or activated with ``activated=True``) NumPy or TF
    array. Each of the ``S*S*B`` boxes scores ``confidence × p(class)`` for its best class
    (the paper's class-specific confidence). Boxes scoring below ``score_threshold`` are
    dropped, then :func:`utils.detection.batched_nms` keeps at most ``max_output``.
    Returns one dict per image: ``boxes`` ``(K, 4)`` xyxy pixels, ``scores`` ``(K,)``,
    ``class_ids`` ``(K,)`` 1-based, highest score first; the format of
    :func:`utils.detection.coco_evaluate`.
    """
    if not activated:
        pred = activate(pred, B, C)
    pred = np.asarray(pred, np.float32)
    if pred.ndim == 3:
        pred = pred[None]
    n, S = pred.shape[0], pred.shape[1]
    h_img, w_img = _hw(image_size)
    box = pred[..., :B * 5].reshape(n, S, S, B, 5)
    probs = pred[..., B * 5:]
    cols = np.arange(S, dtype=np.float32)[None, None, :, None]
    rows = np.arange(S, dtype=np.float32)[None, :, None, None]
    cx = (box[..., 0] + cols) / S * w_img
    cy = (box[..., 1] + rows) / S * h_img
    bw, bh = box[..., 2] ** 2 * w_img, box[..., 3] ** 2 * h_img
    xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)
    xyxy = np.clip(xyxy, 0, [w_img, h_img, w_img, h_img]).reshape(n, -1, 4)
    cls = np.repeat(probs.argmax(-1)[..., None], B, axis=-1).reshape(n, -1)
    scores = (box[..., 4] * np.repeat(probs.max(-1)[..., None], B, axis=-1)).reshape(n, -1)
    out = []
    for i in range(n):
        keep = np.flatnonzero(scores[i] >= score_threshold)
        b, s, c = xyxy[i][keep], scores[i][keep], cls[i][keep]
        kept = np.asarray(detection.batched_nms(b, s, c, iou_threshold=iou_threshold, max_output=max_output), int)
        out.append({"boxes": b[kept].astype(np.float32), "scores": s[kept].astype(np.float32),
                    "class_ids": (c[kept] + 1).astype(np.int32)})
    return out


# ------------------------------------------------------------------------ full mode: YOLOv3

COCO_CLASSES = [
    "person", "bicycle", "car", "motorbike", "aeroplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "sofa",
    "pottedplant", "bed", "diningtable", "toilet", "tvmonitor", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
]
"""The 80 classes of YOLOv3's COCO model, in the order of its outputs (Darknet's ``coco.names``)."""
CLASS_NAMES = ["BG"] + COCO_CLASSES
"""Indexed by the 1-based ``class_ids`` of :func:`postprocess_yolov3` (entry 0 is background)."""

COCO_PAPER_ONLY = {12: "street sign", 26: "hat", 29: "shoe", 30: "eye glasses", 45: "plate", 66: "mirror",
                   68: "window", 69: "desk", 71: "door", 83: "blender", 91: "hair brush"}
"""The 11 of the COCO paper's 91 category ids that the released detection annotations never use
(Lin et al. 2014 name 91 categories; the 2014/2017 detection sets annotate 80 of them)."""
COCO_IDS = [k for k in range(1, 92) if k not in COCO_PAPER_ONLY]
"""COCO's own category id (1..90, with gaps) of each of the 80 classes, in the order of
:data:`COCO_CLASSES`: ``COCO_IDS[class_id - 1]`` is the id in a COCO annotation file."""


def read_class_names(file) -> list[str]:
    """Class names of a Darknet ``.names`` file, one per line (blank lines skipped), in output
    order (``2_4``: ``read_class_names(weights.path("coco.names"))`` gives COCO's 80)."""
    file = Path(file)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: class-names file not found (expected Darknet's coco.names, one name a line)")
    names = [line.strip() for line in file.read_text().splitlines() if line.strip()]
    if not names:
        raise ValueError(f"{file}: no class names in it (expected one name a line)")
    return names


WEIGHTS_ASSET = "yolov3.weights"
"""Registry name of the official YOLOv3 COCO weights (``python -m utils.weights fetch yolov3.weights``)."""
CFG_FILE = "yolov3.cfg"
CFG_URL = "https://raw.githubusercontent.com/pjreddie/darknet/master/cfg/yolov3.cfg"
"""Darknet's network description for those weights. No checksum is published for it, so it is
not in the registry: save it into ``weights/`` once (:func:`yolov3_files` says how)."""


def yolov3_files(registry=None) -> tuple[Path, Path]:
    """``(cfg, weights)`` paths of the official YOLOv3 COCO model (full mode of ``2_4``).

    The weights come from the registry, verified against the sha1 OpenCV publishes; the
    cfg must sit next to them in the registry's folder. A missing file raises
    :class:`utils.weights.AssetError` with the command that fetches it.
    """
    from utils import weights

    registry = registry or weights.Registry()
    weights_file = registry.verify(WEIGHTS_ASSET)
    cfg = registry.folder / CFG_FILE
    if not cfg.is_file():
        raise weights.AssetError(f"{cfg}: missing. Save Darknet's YOLOv3 cfg there once (needs the internet): "
                                 f"curl -L -o {cfg} {CFG_URL}")
    return cfg, weights_file


TINY_WEIGHTS_ASSET = "yolov3-tiny.weights"
TINY_CFG_ASSET = "yolov3-tiny.cfg"
NAMES_ASSET = "coco.names"
"""Registry names of the official YOLOv3-tiny (COCO) files and Darknet's class names: the fast-mode
model of ``2_4`` (35 MB, byte-identical to pjreddie's release, also carried by a package on the index)."""


def yolov3_tiny_files(registry=None) -> tuple[Path, Path]:
    """``(cfg, weights)`` of the official YOLOv3-tiny COCO model, both verified by the registry
    (fast mode of ``2_4``); a missing file raises :class:`utils.weights.AssetError` with the
    fetch command."""
    from utils import weights

    registry = registry or weights.Registry()
    return registry.verify(TINY_CFG_ASSET), registry.verify(TINY_WEIGHTS_ASSET)


def read_darknet(cfg, weights):
    """``cv2.dnn.readNetFromDarknet(cfg, weights)`` with errors that name the files (``2_4``).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` when OpenCV cannot
    parse them (for example a truncated weights file or a cfg that is not Darknet's).
    """
    import cv2

    return detection.read_dnn(cv2.dnn.readNetFromDarknet, "Darknet model",
                              (cfg, "a Darknet .cfg"), (weights, "a Darknet .weights file"))


def postprocess_yolov3(outputs, image_shape, conf_threshold: float = 0.5, nms_threshold: float = 0.4,
                       max_output: int = 100) -> dict:
    """OpenCV's YOLOv3 outputs → detections in image pixels (``2_4``).

    Args:
        outputs: the arrays ``net.forward(net.getUnconnectedOutLayersNames())`` returns, one
            ``(N_s, 5 + C)`` per scale: ``[cx, cy, w, h, objectness, scores...]``, box
            normalised to 0..1, scores already multiplied by the objectness.
        image_shape: ``(H, W[, 3])`` of the image the boxes are scaled to.
        conf_threshold: keep rows whose best class score is ≥ this.
        nms_threshold: per-class NMS (:func:`utils.detection.batched_nms`) drops boxes with
            IoU > this with a better box of the same class.

    Returns ``dict(boxes (K, 4) float32 xyxy pixels clipped to the image, scores (K,) float32,
    class_ids (K,) int32 1-based into :data:`CLASS_NAMES`)``, highest score first.
    """
    if isinstance(outputs, np.ndarray):
        outputs = [outputs]
    rows = []
    for k, out in enumerate(outputs):
        out = np.asarray(out, np.float32)
        if out.ndim != 2 or out.shape[1] < 6:
            raise ValueError(f"postprocess_yolov3: output {k} has shape {out.shape}, expected (N, 5 + classes)")
        rows.append(out)
    if len({r.shape[1] for r in rows}) > 1:
        raise ValueError(f"postprocess_yolov3: outputs disagree on the number of classes: {[r.shape for r in rows]}")
    rows = np.concatenate(rows) if rows else np.zeros((0, 6), np.float32)
    h_img, w_img = _hw(image_shape)
    scores_all = rows[:, 5:]
    cls = scores_all.argmax(1) if len(rows) else np.zeros(0, int)
    scores = scores_all[np.arange(len(rows)), cls] if len(rows) else np.zeros(0, np.float32)
    keep = np.flatnonzero(scores >= conf_threshold)
    cxcywh = rows[keep, :4] * np.array([w_img, h_img, w_img, h_img], np.float32)
    boxes = detection.convert_boxes(cxcywh, "cxcywh", "xyxy")
    boxes = np.clip(boxes, 0, [w_img, h_img, w_img, h_img])
    kept = detection.batched_nms(boxes, scores[keep], cls[keep], iou_threshold=nms_threshold, max_output=max_output)
    return {"boxes": boxes[kept].astype(np.float32), "scores": scores[keep][kept].astype(np.float32),
            "class_ids": (cls[keep][kept] + 1).astype(np.int32)}


def pad_image(image, zoom_out: float = 1.0, value: int = 127) -> tuple[np.ndarray, tuple[int, int]]:
    """Letterbox an ``(H, W, 3)`` image onto a square grey canvas of side ``zoom_out × max(H, W)``,
    centred (``2_4``). ``zoom_out=1`` only pads the short side (Darknet's letterbox: the network
    then sees the true aspect ratio instead of a stretched image); ``zoom_out=2`` also makes every
    object half as big relative to the input. Returns ``(canvas, (x0, y0))``: the image's top-left
    corner on the canvas, to subtract from boxes found on the canvas."""
    image = np.asarray(image)
    if image.ndim != 3 or zoom_out < 1:
        raise ValueError(f"pad_image: need an (H, W, C) image and zoom_out >= 1, got shape {image.shape}, "
                         f"zoom_out={zoom_out}")
    h, w = image.shape[:2]
    side = int(round(max(h, w) * zoom_out))
    y0, x0 = (side - h) // 2, (side - w) // 2
    canvas = np.full((side, side, image.shape[2]), value, image.dtype)
    canvas[y0:y0 + h, x0:x0 + w] = image
    return canvas, (x0, y0)


def detect_yolov3(net, image, input_size: int = 416, conf_threshold: float = 0.5, nms_threshold: float = 0.4,
                  zoom_out: float | None = None) -> dict:
    """Run a Darknet YOLO ``net`` read by :func:`read_darknet` (YOLOv3 or YOLOv3-tiny) on an RGB
    uint8 ``(H, W, 3)`` image: resize to ``input_size`` (a multiple of 32), scale pixels to 0..1,
    forward every output layer, then :func:`postprocess_yolov3` (``2_4``).

    ``zoom_out=None`` stretches the image to the square input (OpenCV's samples); a number ≥ 1
    first letterboxes it with :func:`pad_image` (and zooms out), and the boxes come back in the
    original image's pixels, clipped to it.
    """
    import cv2

    from utils.images import check_rgb

    image = check_rgb(image, "detect_yolov3: image")
    if input_size % 32:
        raise ValueError(f"detect_yolov3: input_size={input_size}, expected a multiple of 32 (e.g. 320, 416, 608)")
    x0 = y0 = 0
    seen = image
    if zoom_out is not None:
        seen, (x0, y0) = pad_image(image, zoom_out)
    blob = cv2.dnn.blobFromImage(seen, 1 / 255.0, (input_size, input_size), swapRB=False, crop=False)
    net.setInput(blob)
    outputs = net.forward(net.getUnconnectedOutLayersNames())
    found = postprocess_yolov3(outputs, seen.shape, conf_threshold, nms_threshold)
    if zoom_out is not None:
        h, w = image.shape[:2]
        boxes = np.clip(found["boxes"] - np.array([x0, y0, x0, y0], np.float32), 0, [w, h, w, h])
        inside = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        found = {"boxes": boxes[inside].astype(np.float32), "scores": found["scores"][inside],
                 "class_ids": found["class_ids"][inside]}
    return found
