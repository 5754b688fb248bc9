"""Mask R-CNN through OpenCV's DNN module (``3_1``).

Full mode runs the TensorFlow Object Detection API model ``mask_rcnn_inception_v2_coco``
(frozen graph from its release tarball + OpenCV's text graph ``.pbtxt``) with
``cv2.dnn.readNetFromTensorflow``. Its two outputs are

- ``detection_out_final``: ``(1, 1, N, 7)`` rows ``[batch, class, score, x1, y1, x2, y2]``,
  ``class`` 0-based (COCO category id - 1), corners normalised to 0..1;
- ``detection_masks``: ``(N, 90, 15, 15)`` soft masks (0..1), one per class, inside each box.

:func:`postprocess` turns them into Matterport's detection dict (``rois``, ``class_ids``,
``scores``, ``masks``): keep rows with score ≥ the confidence threshold, take the mask of
the detected class, resize it into its box and threshold it.

Fast mode needs no download: :func:`train_segmenter` trains a tiny fully convolutional
network on :func:`utils.data.shapes` in seconds, :func:`export_frozen_graph` freezes it to a
TensorFlow GraphDef ``.pb`` that OpenCV reads, and :class:`SegmenterAsMaskRCNN` runs it
with OpenCV and packs its per-pixel class probabilities into the same two outputs, so the
same :func:`postprocess` and drawing code run on real OpenCV inference.
"""
from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from utils.images import check_rgb, write_atomically
from utils.mrcnn.utils import unmold_mask

OUTPUT_NAMES = ("detection_out_final", "detection_masks")
"""The output layers of OpenCV's Mask R-CNN text graph."""

MODEL_ASSET = "mask_rcnn_inception_v2_coco_2018_01_28.tar.gz"
"""Registry name of the TF Object Detection API release tarball (``weights/manifest.json``)."""
PB_MEMBER = "mask_rcnn_inception_v2_coco_2018_01_28/frozen_inference_graph.pb"
PB_FILE = "mask_rcnn_inception_v2_coco_2018_01_28.pb"
PB_SHA1 = "c8adff66a1e23e607f57cf1a7cfabad0faa371f9"
"""sha1 of the frozen graph inside the tarball, as listed by OpenCV's
``opencv_extra/testdata/dnn/download_models.py``."""
PBTXT_FILE = "mask_rcnn_inception_v2_coco_2018_01_28.pbtxt"
PBTXT_URL = ("https://raw.githubusercontent.com/opencv/opencv_extra/4.x/testdata/dnn/"
             "mask_rcnn_inception_v2_coco_2018_01_28.pbtxt")
"""OpenCV's text graph for the model (no checksum is published for it)."""

COCO_CATEGORIES = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "street sign", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep",
    "cow", "elephant", "bear", "zebra", "giraffe", "hat", "backpack", "umbrella", "shoe", "eye glasses",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat",
    "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "plate", "wine glass", "cup", "fork",
    "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza",
    "donut", "cake", "chair", "couch", "potted plant", "bed", "mirror", "dining table", "window", "desk",
    "toilet", "door", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven",
    "toaster", "sink", "refrigerator", "blender", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
]
"""COCO category ids 1..90 in order (ids 12, 26, 29, 30, 45, 66, 68, 69, 71, 83 are unused
by the released annotations, so the model never predicts them)."""
COCO_CLASS_NAMES = ["BG"] + COCO_CATEGORIES
"""Indexed by the ``class_ids`` :func:`postprocess` returns (0 is background)."""


# ----------------------------------------------------------------------- full mode


def coco_model_files(registry=None) -> tuple[Path, Path]:
    """The frozen graph and OpenCV text graph of ``mask_rcnn_inception_v2_coco`` (full mode).

    The graph is extracted once from the registry's verified tarball
    (``python -m utils.weights fetch mask_rcnn_inception_v2_coco_2018_01_28.tar.gz``) and
    checked against OpenCV's published sha1. OpenCV publishes no checksum for the
    ``.pbtxt``, so it is not in the registry: save it from :data:`PBTXT_URL` into the
    weights folder (the error says so).

    Args:
        registry: a :class:`utils.weights.Registry` (default: the course's ``weights/``).

    Returns ``(pb, pbtxt)`` paths, both in the registry's folder.
    """
    from utils import weights

    registry = registry or weights.Registry()
    folder = registry.folder
    pb = folder / PB_FILE
    if not pb.exists():
        tarball = registry.verify(MODEL_ASSET)
        with tarfile.open(tarball) as tar:
            try:
                member = tar.getmember(PB_MEMBER)
            except KeyError:
                raise weights.AssetError(f"{tarball}: no {PB_MEMBER} inside; delete it and fetch it again") from None

            def extract(part: Path) -> None:
                with tar.extractfile(member) as src, open(part, "wb") as dst:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        dst.write(chunk)
                if weights.file_digest(part, "sha1") != PB_SHA1:
                    raise weights.AssetError(f"{tarball}: {PB_MEMBER} has sha1 different from OpenCV's {PB_SHA1}; "
                                             "delete the tarball and fetch it again")

            write_atomically(pb, extract)
    pbtxt = folder / PBTXT_FILE
    if not pbtxt.exists():
        raise weights.AssetError(f"{pbtxt}: missing. Save OpenCV's text graph there once (needs the internet): "
                                 f"curl -L -o {pbtxt} {PBTXT_URL}")
    return pb, pbtxt


def read_net(model, config=None):
    """``cv2.dnn.readNetFromTensorflow(model, config)`` with an error naming the files."""
    import cv2

    from utils.detection import read_dnn

    return read_dnn(cv2.dnn.readNetFromTensorflow, "TensorFlow graph",
                    (model, "a frozen TensorFlow graph .pb"), (config, "an OpenCV text graph .pbtxt"))


class OpenCVMaskRCNN:
    """The TF Object Detection API Mask R-CNN run by OpenCV (full mode of ``3_1``).

    ``forward(image)`` takes ``(H, W, 3)`` uint8 RGB and returns the raw outputs
    ``(boxes (1, 1, N, 7), masks (N, 90, 15, 15))``; :func:`detect` post-processes them.
    """

    class_names = COCO_CLASS_NAMES

    def __init__(self, pb=None, pbtxt=None):
        if pb is None or pbtxt is None:
            pb, pbtxt = coco_model_files()
        self.net = read_net(pb, pbtxt)

    def forward(self, image):
        import cv2

        image = check_rgb(image, "OpenCVMaskRCNN.forward: image")
        # the graph takes RGB at any size (it resizes internally), pixel values 0..255
        self.net.setInput(cv2.dnn.blobFromImage(image, swapRB=False, crop=False))
        boxes, masks = self.net.forward(list(OUTPUT_NAMES))
        return boxes, masks


# ------------------------------------------------------------------ post-processing


def postprocess(boxes, masks, image_shape, conf_threshold: float = 0.5, mask_threshold: float = 0.3) -> dict:
    """OpenCV Mask R-CNN outputs → Matterport's detection dict (``3_1``).

    Args:
        boxes: ``(1, 1, N, 7)`` rows ``[batch, class, score, x1, y1, x2, y2]`` (class 0-based,
            corners normalised to 0..1).
        masks: ``(N, C, h, w)`` soft masks (0..1) per class, covering each box.
        image_shape: ``(H, W[, 3])`` of the image the boxes refer to.
        conf_threshold: keep detections with score ≥ this.
        mask_threshold: a pixel belongs to the object where the mask, resized into the
            box (bilinear), is ≥ this.

    Returns:
        ``{"rois": (K, 4) int32 (y1, x1, y2, x2) pixels (exclusive ends), "class_ids": (K,)
        int32 (class + 1, so 0 stays background), "scores": (K,) float32, "masks": (H, W, K)
        bool}``, best score first. Boxes are clipped to the image; a detection whose box
        has no area left inside the image is not returned.
    """
    boxes = np.asarray(boxes, dtype=np.float32)
    masks = np.asarray(masks, dtype=np.float32)
    if boxes.ndim != 4 or boxes.shape[:2] != (1, 1) or boxes.shape[3] != 7:
        raise ValueError(f"postprocess: boxes have shape {boxes.shape}, expected (1, 1, N, 7)")
    n = boxes.shape[2]
    if masks.ndim != 4 or masks.shape[0] < n:
        raise ValueError(f"postprocess: masks have shape {masks.shape}, expected ({n}, classes, h, w)")
    if not 0 <= conf_threshold <= 1 or not 0 <= mask_threshold <= 1:
        raise ValueError(f"postprocess: thresholds must lie in 0..1, got conf {conf_threshold}, mask {mask_threshold}")
    H, W = image_shape[:2]
    rows = boxes[0, 0]
    order = np.argsort(-rows[:, 2], kind="stable")
    rois, ids, scores, full = [], [], [], []
    for i in order:
        _, cls, score, x1, y1, x2, y2 = (float(v) for v in rows[i])
        if score < conf_threshold:
            break
        c = int(cls)
        if not 0 <= c < masks.shape[1]:
            raise ValueError(f"postprocess: detection {i} has class {c}, but masks have {masks.shape[1]} classes")
        box = np.array([round(y1 * H), round(x1 * W), round(y2 * H), round(x2 * W)])
        m = unmold_mask(masks[i, c], box, (H, W), threshold=mask_threshold)
        clipped = np.clip(box, 0, [H, W, H, W])
        if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            continue
        rois.append(clipped)
        ids.append(c + 1)
        scores.append(score)
        full.append(m)
    return {"rois": np.array(rois, dtype=np.int32).reshape(-1, 4), "class_ids": np.array(ids, dtype=np.int32),
            "scores": np.array(scores, dtype=np.float32),
            "masks": np.stack(full, axis=-1) if full else np.zeros((H, W, 0), dtype=bool)}


def detect(model, image, conf_threshold: float = 0.5, mask_threshold: float = 0.3) -> dict:
    """Run ``model.forward(image)`` (an :class:`OpenCVMaskRCNN` or :class:`SegmenterAsMaskRCNN`)
    and :func:`postprocess` its outputs for ``image`` (``(H, W, 3)`` uint8 RGB)."""
    image = check_rgb(image, "detect: image")
    boxes, masks = model.forward(image)
    return postprocess(boxes, masks, image.shape, conf_threshold, mask_threshold)


def draw_detections(image, r: dict, class_names, colors=None, alpha: float = 0.5, min_side: int = 256) -> np.ndarray:
    """OpenCV-style drawing of a detection dict: masks blended in, mask outlines, boxes and
    ``class score`` labels. Returns a new ``(H', W', 3)`` uint8 RGB image (to save or show);
    an image whose longer side is under ``min_side`` is first enlarged by a whole factor
    (nearest neighbour) so the labels stay readable."""
    import cv2

    from utils.mrcnn.visualize import apply_mask, place_labels, random_colors

    image = check_rgb(image, "draw_detections: image")
    f = max(1, min_side // max(image.shape[:2]))
    out = np.repeat(np.repeat(image, f, axis=0), f, axis=1)
    n = len(r["class_ids"])
    colors = list(colors) if colors is not None else random_colors(n)
    for i in range(n):
        color = tuple(int(255 * c) for c in colors[i][:3])
        mask = np.repeat(np.repeat(r["masks"][..., i], f, axis=0), f, axis=1)
        out = apply_mask(out, mask, colors[i], alpha)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, color, 1)
        y1, x1, y2, x2 = (int(v) * f for v in r["rois"][i])
        cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), color, 1)
    # labels last, on a band of the instance's colour, placed so that none hides another
    labels = [f"{class_names[int(r['class_ids'][i])]} {float(r['scores'][i]):.2f}" for i in range(n)]
    scale = 0.4
    sizes = []
    for label in labels:
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        sizes.append((tw + 4, th + base + 4))
    anchors = [(int(r["rois"][i][1]) * f, int(r["rois"][i][0]) * f) for i in range(n)]
    for i, (x, y) in enumerate(place_labels(anchors, sizes, out.shape[1], out.shape[0])):
        x, y = int(round(x)), int(round(y))
        color = tuple(int(255 * c) for c in colors[i][:3])
        cv2.rectangle(out, (x, y), (x + sizes[i][0] - 1, y + sizes[i][1] - 1), color, -1)
        ink = (0, 0, 0) if sum(color) > 408 else (255, 255, 255)
        cv2.putText(out, labels[i], (x + 2, y + sizes[i][1] - 4), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, 1,
                    cv2.LINE_AA)
    return out


# --------------------------------------------------------- fast mode: our own network


SEGMENTER_SCALE = 1 / 128.0
"""The segmenter's input is ``(image - per-channel median) * SEGMENTER_SCALE``."""


def normalize(images) -> np.ndarray:
    """The segmenter's input normalisation, in NumPy: ``(N, H, W, 3)`` uint8 → float32
    ``(image - its per-channel median) / 128``. The median is the background colour of a
    mostly-background picture, so the net sees objects as departures from it.
    :class:`SegmenterAsMaskRCNN` does the same with ``cv2.dnn.blobFromImage(mean=...)``."""
    images = np.asarray(images, dtype=np.float32)
    return (images - np.median(images, axis=(-3, -2), keepdims=True)) * SEGMENTER_SCALE


def segmentation_targets(instance_set, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Normalised images ``(N, size, size, 3)`` float32 (:func:`normalize`) and per-pixel
    class labels ``(N, size, size)`` int32 (0 background) from an
    :class:`utils.data.InstanceSet`, resized to ``size`` (images: area, labels: nearest)
    as :class:`SegmenterAsMaskRCNN` resizes its input; ``None`` keeps the set's size."""
    import cv2

    images = instance_set.images
    labels = np.zeros(images.shape[:3], dtype=np.uint8)
    for i, (masks, ids) in enumerate(zip(instance_set.masks, instance_set.class_ids)):
        for k in range(masks.shape[-1]):
            labels[i][masks[..., k]] = ids[k]
    if size is not None and images.shape[1:3] != (size, size):
        images = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])
        labels = np.stack([cv2.resize(lab, (size, size), interpolation=cv2.INTER_NEAREST) for lab in labels])
    return normalize(images), labels.astype(np.int32)


def build_segmenter(num_classes: int, size: int = 64, width: int = 8):
    """A tiny U-Net-like Keras model: ``(size, size, 3)`` (:func:`normalize`) → per-pixel logits
    ``(size, size, num_classes + 1)``. Built from layers whose frozen TensorFlow ops OpenCV
    reads (Conv2D, BiasAdd, Relu, MaxPool, ResizeNearestNeighbor, ConcatV2)."""
    import keras
    from keras import layers

    if size % 4:
        raise ValueError(f"build_segmenter: size={size}, expected a multiple of 4")
    def block(x, filters, name):  # conv → batch norm → relu; the norm is folded into the conv on export
        x = layers.Conv2D(filters, 3, padding="same", name=name)(x)
        return layers.ReLU()(layers.BatchNormalization(name=name + "_bn")(x))

    inp = keras.Input((size, size, 3), name="image")
    c1 = block(inp, width, "c1")
    c2 = block(layers.MaxPooling2D()(c1), 2 * width, "c2")
    c3 = block(layers.MaxPooling2D()(c2), 2 * width, "c3")
    c4 = block(layers.Concatenate()([layers.UpSampling2D()(c3), c2]), 2 * width, "c4")
    c5 = block(layers.Concatenate()([layers.UpSampling2D()(c4), c1]), width, "c5")
    out = layers.Conv2D(num_classes + 1, 1, name="logits")(c5)
    return keras.Model(inp, out, name="tiny_segmenter")


def train_segmenter(instance_set, size: int = 32, epochs: int = 20, batch_size: int = 16, width: int = 8,
                    seed: int = 0, learning_rate: float = 0.01, verbose: int = 0):
    """Train :func:`build_segmenter` on an instance set's per-pixel labels at ``size``
    pixels square (Adam, sparse cross-entropy on logits). Returns ``(model, history)``.
    Its quality varies with the seed: mask mAP@0.5 on 100 held-out shapes images was
    0.79-0.89 over the seeds we tried with 400 images and 20 epochs (``3_1`` measures it).
    """
    import keras

    keras.utils.set_random_seed(seed)
    x, y = segmentation_targets(instance_set, size)
    model = build_segmenter(len(instance_set.class_names) - 1, x.shape[1], width)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=verbose, shuffle=True)
    return model, history


def export_frozen_graph(model, path) -> Path:
    """Freeze a :func:`build_segmenter` model into a TensorFlow GraphDef ``.pb`` for
    ``cv2.dnn.readNetFromTensorflow``.

    The graph is written with plain TensorFlow ops (``tf.nn.conv2d``, ``bias_add``, ``relu``,
    ``max_pool2d``, nearest ``resize``, ``concat``) on the trained weights, frozen with
    ``convert_variables_to_constants_v2``; Keras 3's own graph uses ops OpenCV cannot
    import. The softmax stays out of the graph (OpenCV would apply it on the wrong axis of
    an NHWC graph): the output is the logits, named ``logits``. Returns the path.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    path = Path(path)
    size = model.input_shape[1]
    weights = {}
    for name in ("c1", "c2", "c3", "c4", "c5", "logits"):
        kernel, bias = model.get_layer(name).get_weights()
        if name != "logits":  # fold the batch norm: y = gamma * (conv + bias - mean) / sqrt(var + eps) + beta
            bn = model.get_layer(name + "_bn")
            gamma, beta, mean, var = bn.get_weights()
            factor = gamma / np.sqrt(var + bn.epsilon)
            kernel, bias = kernel * factor, (bias - mean) * factor + beta
        weights[name] = [tf.Variable(kernel.astype(np.float32)), tf.Variable(bias.astype(np.float32))]

    def conv(x, name, relu=True):
        kernel, bias = weights[name]
        y = tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "SAME"), bias, name=None if relu else "logits")
        return tf.nn.relu(y) if relu else y

    def forward(image):
        c1 = conv(image, "c1")
        c2 = conv(tf.nn.max_pool2d(c1, 2, 2, "VALID"), "c2")
        c3 = conv(tf.nn.max_pool2d(c2, 2, 2, "VALID"), "c3")
        c4 = conv(tf.concat([tf.image.resize(c3, [size // 2, size // 2], method="nearest"), c2], -1), "c4")
        c5 = conv(tf.concat([tf.image.resize(c4, [size, size], method="nearest"), c1], -1), "c5")
        return conv(c5, "logits", relu=False)

    fn = tf.function(forward, input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, name="image")])
    graph_def = convert_variables_to_constants_v2(fn.get_concrete_function()).graph.as_graph_def()
    for node in graph_def.node:  # OpenCV reads a constant's values from tensor_content only
        if node.op == "Const":
            tensor = node.attr["value"].tensor
            value = tf.make_ndarray(tensor)
            if value.size > 1 and not tensor.tensor_content:
                tensor.ClearField("int_val")
                tensor.ClearField("float_val")
                tensor.tensor_content = value.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(graph_def.SerializeToString())
    return path


def segmentation_to_detections(logits, max_detections: int = 100, mask_size: int = 15, min_area: int = 2):
    """Per-pixel class logits ``(C + 1, h, w)`` (class 0 background) → Mask R-CNN's raw
    outputs: each connected region of one predicted class (the most probable class per
    pixel; 4-connectivity; at least ``min_area`` pixels) becomes a detection, so touching
    objects of the same class merge into one.

    Returns ``boxes`` ``(1, 1, N, 7)`` ``[0, class - 1, score, x1, y1, x2, y2]`` (score: mean
    class probability over the region; corners normalised, exclusive ends) and ``masks``
    ``(N, C, mask_size, mask_size)``: the class probability inside the region (0 outside),
    cropped to the box and resized; the other classes' masks are 0. ``N`` ≤ ``max_detections``,
    best score first.
    """
    import cv2

    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 3 or logits.shape[0] < 2:
        raise ValueError(f"segmentation_to_detections: logits of shape {logits.shape}, expected (C + 1, h, w)")
    num_classes, h, w = logits.shape[0] - 1, logits.shape[1], logits.shape[2]
    e = np.exp(logits - logits.max(axis=0, keepdims=True))
    probs = e / e.sum(axis=0, keepdims=True)
    labels = probs.argmax(axis=0)
    found = []
    for c in range(1, num_classes + 1):
        count, comp, stats, _ = cv2.connectedComponentsWithStats((labels == c).astype(np.uint8), connectivity=4)
        for k in range(1, count):
            x, y, bw, bh, area = (int(v) for v in stats[k])
            if area < min_area:
                continue
            region = comp == k
            soft = np.where(region, probs[c], 0.0)[y:y + bh, x:x + bw].astype(np.float32)
            found.append((float(probs[c][region].mean()), c, (x, y, x + bw, y + bh),
                          cv2.resize(soft, (mask_size, mask_size), interpolation=cv2.INTER_LINEAR)))
    found.sort(key=lambda t: -t[0])
    found = found[:max_detections]
    boxes = np.zeros((1, 1, len(found), 7), dtype=np.float32)
    masks = np.zeros((len(found), num_classes, mask_size, mask_size), dtype=np.float32)
    for i, (score, c, (x1, y1, x2, y2), m) in enumerate(found):
        boxes[0, 0, i] = [0, c - 1, score, x1 / w, y1 / h, x2 / w, y2 / h]
        masks[i, c - 1] = m
    return boxes, masks


class SegmenterAsMaskRCNN:
    """The course's own frozen segmenter run by OpenCV DNN, answering like OpenCV's Mask
    R-CNN (fast mode of ``3_1``): ``forward(image)`` → ``(boxes (1, 1, N, 7), masks (N, C,
    15, 15))`` via :func:`segmentation_to_detections`.

    Args:
        pb: the ``.pb`` written by :func:`export_frozen_graph`.
        class_names: ``["BG", ...]`` of the training set.
        size: the network's input side; images are resized to it.
    """

    def __init__(self, pb, class_names, size: int = 32, min_area: int = 2):
        self.net = read_net(pb)
        self.class_names = list(class_names)
        self.size = size
        self.min_area = min_area

    def logits(self, image) -> np.ndarray:
        """OpenCV's forward pass: ``(C + 1, size, size)`` logits for an RGB uint8 image."""
        import cv2

        image = check_rgb(image, "SegmenterAsMaskRCNN: image")
        if image.shape[:2] != (self.size, self.size):
            image = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        median = tuple(float(v) for v in np.median(image.reshape(-1, 3), axis=0))
        blob = cv2.dnn.blobFromImage(image, scalefactor=SEGMENTER_SCALE, mean=median, swapRB=False, crop=False)
        self.net.setInput(blob)
        out = self.net.forward()
        if out.shape != (1, len(self.class_names), self.size, self.size):
            raise ValueError(f"SegmenterAsMaskRCNN: the network gives {out.shape}, expected "
                             f"(1, {len(self.class_names)}, {self.size}, {self.size})")
        return out[0]

    def forward(self, image):
        return segmentation_to_detections(self.logits(image), min_area=self.min_area)
