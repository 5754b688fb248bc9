"""Face detection, landmarks, alignment, cropping and 128-d encodings (``4_1``, ``4_3``).

Six detectors behind one call and one output format (:class:`Face`):

============= ============================================ ============ =============================
name          model                                        confidence   landmarks
============= ============================================ ============ =============================
``haar``      OpenCV Viola-Jones cascade (frontal)         level weight 5 of dlib's 68 points
``hog``       dlib HOG + linear SVM (face_recognition)     SVM score    5 of dlib's 68 points
``cnn``       dlib CNN, max-margin object detection        CNN score    5 of dlib's 68 points
``mtcnn``     MTCNN (P-, R-, O-Net; ``mtcnn`` 1.0)         probability  its own five points
``ssd``       OpenCV's res10 SSD (ResNet-10, Caffe, 300²)  probability  5 of dlib's 68 points
``blazeface`` MediaPipe BlazeFace short range (TFLite)     probability  its own six keypoints
============= ============================================ ============ =============================

The first four models ship with installed packages (``opencv``, ``face_recognition_models``,
``mtcnn``); ``ssd`` and ``blazeface`` read pretrained files from the course registry
(``utils.weights.path``; :func:`missing_models` says which are absent). Nothing here touches
the network. Boxes use face_recognition's order ``(top, right, bottom, left)`` in pixels of
the image given; landmarks are ``(x, y)`` points named from the **viewer's** side
(``left_eye`` is the eye on the left of the picture, as MTCNN names it).

Encodings are face_recognition's own: by default exactly ``face_recognition.face_encodings(image,
boxes)``, which aligns each face with dlib's **5-point** landmark model (:data:`DEFAULT_MODEL`,
``"small"``) before its ResNet; ``model="large"`` aligns with the 68-point model instead.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

import numpy as np

from utils.images import ImageError

DETECTORS = ("haar", "hog", "cnn", "mtcnn", "ssd", "blazeface")
"""Names accepted by :func:`detect_faces`."""

LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
"""The five landmark names of :attr:`Face.landmarks` (MTCNN, dlib), viewer's left and right."""

BLAZEFACE_KEYPOINTS = ("left_eye", "right_eye", "nose", "mouth", "left_ear", "right_ear")
"""BlazeFace's six keypoints as :attr:`Face.landmarks` names them (viewer's side: MediaPipe's
"right eye" of the person is our ``left_eye``; ``mouth`` is the mouth's centre, ``*_ear`` the tragion)."""

DEFAULT_MODEL = "small"
"""The landmark model :func:`encode` aligns faces with by default: ``"small"`` (dlib's 5-point
predictor), the default of ``face_recognition.face_encodings`` 1.3, so the same photo gives the
same encoding as the library. ``"large"`` (68 points) is the other option."""

NUM_JITTERS = 1
"""``face_recognition.face_encodings``' default ``num_jitters``."""

SSD_FILES = ("res10_300x300_ssd_deploy.prototxt", "res10_300x300_ssd_iter_140000.caffemodel")
"""Registry names of OpenCV's res10 SSD face detector (network, weights)."""

BLAZEFACE_FILE = "face_detection_short_range.tflite"
"""Registry name of MediaPipe's BlazeFace short-range model."""

ENCODER = "dlib_face_recognition_resnet_model_v1"
"""The encoder's model name (dlib's ResNet-29, 128-d, shipped in ``face_recognition_models``)."""

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Face:
    """One detected face.

    - ``box``: ``(top, right, bottom, left)`` ints, as ``face_recognition.face_locations``;
    - ``confidence``: the detector's score (float; scales differ between detectors) or ``None``;
    - ``landmarks``: ``{name: (x, y)}`` for the five :data:`LANDMARKS` (BlazeFace: its six
      :data:`BLAZEFACE_KEYPOINTS`), or ``None``;
    - ``detector``: which detector found it (one of :data:`DETECTORS`, or ``"given"``).
    """

    box: Box
    confidence: float | None = None
    landmarks: dict[str, tuple[float, float]] | None = None
    detector: str = "given"

    @property
    def width(self) -> int:
        return self.box[1] - self.box[3]

    @property
    def height(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def area(self) -> int:
        return max(self.width, 0) * max(self.height, 0)

    @property
    def xywh(self) -> tuple[int, int, int, int]:
        """The box as OpenCV's ``(x, y, width, height)``."""
        top, right, bottom, left = self.box
        return left, top, right - left, bottom - top


# ------------------------------------------------------------------------- helpers


def _rgb(image, name: str = "image") -> np.ndarray:
    """A C-contiguous ``(H, W, 3)`` uint8 array (dlib refuses strided views) or ``ImageError``."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ImageError(f"{name}: got shape {arr.shape} dtype {arr.dtype}, expected (H, W, 3) uint8 RGB "
                         "(load files with utils.images.load_image)")
    return np.ascontiguousarray(arr)


@functools.lru_cache(maxsize=None)
def _fr():
    """face_recognition's api module (loads the dlib models once; silences its pkg_resources warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition.api as api
    return api


@functools.lru_cache(maxsize=None)
def _haar_cascade(name: str = "haarcascade_frontalface_default.xml"):
    import cv2

    path = cv2.data.haarcascades + name
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise FileNotFoundError(f"{path}: OpenCV could not load this Haar cascade (is opencv 4.x installed?)")
    return cascade


@functools.lru_cache(maxsize=None)
def _mtcnn():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mtcnn import MTCNN

        return MTCNN()


def model_version() -> str:
    """Versions of the encoder's model files and of dlib, stored with every enrolment."""
    from importlib.metadata import version

    import dlib

    return f"face_recognition_models {version('face_recognition_models')}, dlib {dlib.__version__}"


def _as_faces(faces, image_shape) -> list[Face]:
    """Accept Face objects or ``(top, right, bottom, left)`` tuples."""
    out = []
    for f in faces:
        if isinstance(f, Face):
            out.append(f)
        else:
            box = tuple(int(v) for v in f)
            if len(box) != 4:
                raise ValueError(f"face box {f!r}: expected (top, right, bottom, left)")
            out.append(Face(box))
    return out


def _trim(box, shape) -> Box:
    top, right, bottom, left = (int(round(v)) for v in box)
    return max(top, 0), min(right, shape[1]), min(bottom, shape[0]), max(left, 0)


# ----------------------------------------------------------------------- detection


def _detect_haar(img, upsample, min_size, **options):
    import cv2

    scale = 2 ** upsample
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if scale != 1:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    kwargs = {"scaleFactor": 1.1, "minNeighbors": 5, "minSize": (min_size or 24,) * 2}
    kwargs.update(options)
    rects, _, weights = _haar_cascade().detectMultiScale3(gray, outputRejectLevels=True, **kwargs)
    faces = []
    for (x, y, w, h), weight in zip(np.reshape(rects, (-1, 4)), np.ravel(weights)):
        box = (y / scale, (x + w) / scale, (y + h) / scale, x / scale)
        faces.append(Face(_trim(box, img.shape), float(weight), None, "haar"))
    return faces


def _detect_hog(img, upsample, min_size, **options):
    rects, scores, _ = _fr().face_detector.run(img, upsample, float(options.pop("threshold", 0.0)))
    if options:
        raise TypeError(f"detector 'hog' takes no options {sorted(options)} (only threshold)")
    return [Face(_fr()._trim_css_to_bounds(_fr()._rect_to_css(r), img.shape), float(s), None, "hog")
            for r, s in zip(rects, scores)]


def _detect_cnn(img, upsample, min_size, **options):
    if options:
        raise TypeError(f"detector 'cnn' takes no options {sorted(options)}")
    return [Face(_fr()._trim_css_to_bounds(_fr()._rect_to_css(d.rect), img.shape), float(d.confidence), None, "cnn")
            for d in _fr().cnn_face_detector(img, upsample)]


def _detect_mtcnn(img, upsample, min_size, **options):
    import cv2

    scale = 2 ** upsample
    big = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR) if scale != 1 else img
    kwargs = {"min_face_size": min_size} if min_size else {}
    kwargs.update(options)
    faces = []
    for d in _mtcnn().detect_faces(big, box_format="xyxy", **kwargs):
        x1, y1, x2, y2 = (float(v) / scale for v in d["box"])
        marks = {name: (float(d["keypoints"][name][0]) / scale, float(d["keypoints"][name][1]) / scale)
                 for name in LANDMARKS}
        faces.append(Face(_trim((y1, x2, y2, x1), img.shape), float(d["confidence"]), marks, "mtcnn"))
    return faces


@functools.lru_cache(maxsize=None)
def _ssd_net():
    from utils import weights
    from utils.detection import read_dnn
    import cv2

    prototxt, caffemodel = (weights.path(name) for name in SSD_FILES)
    return read_dnn(cv2.dnn.readNetFromCaffe, "Caffe model", (prototxt, "a Caffe .prototxt"),
                    (caffemodel, "a Caffe .caffemodel"))


SSD_SIZE, SSD_MEAN_BGR = 300, (104.0, 177.0, 123.0)
"""res10 SSD preprocessing (OpenCV ``samples/dnn/models.yml``, ``opencv_fd``): BGR, 300×300, minus these means."""


def _detect_ssd(img, upsample, min_size, **options):
    """OpenCV's res10 SSD: its ``DetectionOutput`` layer already decodes and suppresses (NMS 0.45)."""
    import cv2

    threshold = float(options.pop("threshold", 0.5))
    if options:
        raise TypeError(f"detector 'ssd' takes no options {sorted(options)} (only threshold)")
    bgr = cv2.resize(img, (SSD_SIZE, SSD_SIZE), interpolation=cv2.INTER_LINEAR)[..., ::-1]
    net = _ssd_net()
    net.setInput(cv2.dnn.blobFromImage(np.ascontiguousarray(bgr), 1.0, (SSD_SIZE, SSD_SIZE), SSD_MEAN_BGR))
    rows = net.forward()[0, 0]
    rows = rows[rows[:, 2] >= threshold]
    h, w = img.shape[:2]
    faces = []
    for _, _, score, x1, y1, x2, y2 in rows[np.argsort(-rows[:, 2], kind="stable")]:
        box = _trim((y1 * h, x2 * w, y2 * h, x1 * w), img.shape)
        if box[2] - box[0] >= (min_size or 1) and box[1] - box[3] >= (min_size or 1):
            faces.append(Face(box, float(score), None, "ssd"))
    return faces


BLAZEFACE_SIZE = 128


@functools.lru_cache(maxsize=None)
def blazeface_anchors() -> np.ndarray:
    """BlazeFace short range's 896 anchor centres ``(896, 2)`` as ``(x, y)`` in 0..1 (``4_3``).

    MediaPipe's ``SsdAnchorsCalculator`` for this model: a 128×128 input, strides 8, 16, 16, 16,
    offset 0.5, fixed anchor size. Layers of equal stride share one grid, so the 16×16 grid
    (stride 8) has 2 anchors per cell and the 8×8 grid (strides 16 merged) has 6:
    16·16·2 + 8·8·6 = 896. Every anchor has width and height 1 (``fixed_anchor_size``).
    """
    out = []
    for stride, per_cell in ((8, 2), (16, 6)):
        n = BLAZEFACE_SIZE // stride
        ys, xs = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n, indexing="ij")
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


@functools.lru_cache(maxsize=None)
def _blazeface_net():
    from utils import weights
    from utils.detection import read_dnn
    import cv2

    return read_dnn(cv2.dnn.readNetFromTFLite, "TFLite model",
                    (weights.path(BLAZEFACE_FILE), "MediaPipe's face_detection_short_range.tflite"))


def decode_blazeface(scores, regressors, threshold: float = 0.5, nms_iou: float = 0.3):
    """Decode BlazeFace's raw outputs for one 128×128 input (``4_3``).

    Args:
        scores: ``(896,)`` or ``(1, 896, 1)`` logits (``classificators``).
        regressors: ``(896, 16)`` or ``(1, 896, 16)`` (``regressors``): per anchor the box centre
            offset ``dx, dy`` and size ``w, h``, then six keypoints ``(x, y)``, all in input pixels
            relative to the anchor centre (MediaPipe's ``TensorsToDetectionsCalculator``, scales 128).
        threshold: minimum sigmoid score; nms_iou: greedy NMS (``utils.detection.nms``) overlap.

    Returns:
        ``(boxes (K, 4) xyxy, scores (K,), keypoints (K, 6, 2))`` in 0..1 of the input, best first.
    """
    from utils.detection import nms

    logits = np.asarray(scores, np.float64).reshape(-1)
    raw = np.asarray(regressors, np.float64).reshape(-1, 16)
    anchors = blazeface_anchors()
    if len(logits) != len(anchors) or len(raw) != len(anchors):
        raise ValueError(f"BlazeFace outputs: {len(logits)} scores and {len(raw)} regressors, expected "
                         f"{len(anchors)} of each")
    prob = 1.0 / (1.0 + np.exp(-np.clip(logits, -100, 100)))
    keep = prob >= threshold
    raw, prob, anchors = raw[keep] / BLAZEFACE_SIZE, prob[keep], anchors[keep]
    centre = anchors + raw[:, 0:2]
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = anchors[:, None, :] + raw[:, 4:16].reshape(-1, 6, 2)
    order = nms(boxes, prob, iou_threshold=nms_iou)
    return boxes[order], prob[order], keypoints[order]


def _detect_blazeface(img, upsample, min_size, **options):
    """BlazeFace: letterbox to a square (zero borders, as MediaPipe), 128×128, RGB in -1..1."""
    import cv2

    threshold = float(options.pop("threshold", 0.5))
    if options:
        raise TypeError(f"detector 'blazeface' takes no options {sorted(options)} (only threshold)")
    h, w = img.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    square = cv2.copyMakeBorder(img, top, side - h - top, left, side - w - left, cv2.BORDER_CONSTANT, value=0)
    small = cv2.resize(square, (BLAZEFACE_SIZE, BLAZEFACE_SIZE), interpolation=cv2.INTER_AREA)
    net = _blazeface_net()
    net.setInput(cv2.dnn.blobFromImage(small, 1 / 127.5, (BLAZEFACE_SIZE, BLAZEFACE_SIZE), (127.5, 127.5, 127.5)))
    scores, regressors = net.forward(["classificators", "regressors"])
    boxes, probs, keypoints = decode_blazeface(scores, regressors, threshold)
    faces = []
    for (x1, y1, x2, y2), p, kp in zip(boxes * side, probs, keypoints * side):
        box = _trim((y1 - top, x2 - left, y2 - top, x1 - left), img.shape)
        if box[2] - box[0] < (min_size or 1) or box[1] - box[3] < (min_size or 1):
            continue
        marks = {name: (float(x - left), float(y - top)) for name, (x, y) in zip(BLAZEFACE_KEYPOINTS, kp)}
        faces.append(Face(box, float(p), marks, "blazeface"))
    return faces


def missing_models() -> dict[str, str]:
    """``{detector: message}`` for the detectors whose pretrained files are not here (``ssd``,
    ``blazeface``); the message names the file and the command that fetches it. Empty when all are."""
    from utils import weights

    out = {}
    for det, names in (("ssd", SSD_FILES), ("blazeface", (BLAZEFACE_FILE,))):
        for name in names:
            try:
                weights.path(name)
            except weights.AssetError as err:
                out[det] = str(err)
                break
    return out


_DEFAULT_UPSAMPLE = {"haar": 0, "hog": 1, "cnn": 1, "mtcnn": 0, "ssd": 0, "blazeface": 0}
_DETECT = {"haar": _detect_haar, "hog": _detect_hog, "cnn": _detect_cnn, "mtcnn": _detect_mtcnn,
           "ssd": _detect_ssd, "blazeface": _detect_blazeface}


def detect_faces(image_rgb, detector: str = "hog", upsample: int | None = None, landmarks: bool = False,
                 min_size: int | None = None, **options) -> list[Face]:
    """Find faces in an RGB image with one of six detectors (``4_1``, compared in ``4_3``).

    Args:
        image_rgb: ``(H, W, 3)`` uint8 RGB.
        detector: ``"haar"`` (OpenCV), ``"hog"`` (dlib, face_recognition's default),
            ``"cnn"`` (dlib MMOD; slow on a CPU: give it small images), ``"mtcnn"``,
            ``"ssd"`` (OpenCV's res10 SSD) or ``"blazeface"`` (MediaPipe short range; made for
            faces that fill much of a selfie-like picture). The last two need their files in
            ``weights/`` (see :func:`missing_models`); a missing file raises
            ``utils.weights.AssetError`` naming the fetch command.
        upsample: how many times to double the image first, so smaller faces are found
            (dlib's ``number_of_times_to_upsample``). ``None``: 1 for hog/cnn (as
            face_recognition), 0 for haar/mtcnn (they scan their own image pyramids).
            Ignored by ssd and blazeface, which resize every image to their input size.
        landmarks: add five landmarks from dlib's 68-point shape predictor to detectors
            that have none of their own (MTCNN and BlazeFace always return their own).
        min_size: smallest face side in pixels for haar (``minSize``, default 24), mtcnn
            (``min_face_size``, default 20), ssd and blazeface (smaller boxes dropped);
            ignored by dlib's detectors.
        **options: passed to the detector: haar ``scaleFactor``/``minNeighbors``, hog
            ``threshold`` (SVM score, default 0), mtcnn ``threshold_onet`` etc., ssd and
            blazeface ``threshold`` (probability, default 0.5).

    Returns:
        A list of :class:`Face`, in the detector's order. With ``detector="hog"`` and
        ``upsample=1`` the boxes are exactly ``face_recognition.face_locations(image)``.
    """
    if detector not in _DETECT:
        raise ValueError(f"detector={detector!r}: expected one of {', '.join(DETECTORS)}")
    img = _rgb(image_rgb)
    up = _DEFAULT_UPSAMPLE[detector] if upsample is None else int(upsample)
    if up < 0:
        raise ValueError(f"upsample={upsample!r}: expected 0 or more")
    faces = _DETECT[detector](img, up, min_size, **options)
    if landmarks:
        faces = [f if f.landmarks else replace(f, landmarks=face_landmarks(img, [f])[0]) for f in faces]
    return faces


def face_landmarks(image_rgb, faces) -> list[dict[str, tuple[float, float]]]:
    """Five landmarks per face from dlib's 68-point shape predictor (``4_3``).

    Eyes are the means of their six points, the nose is the tip (point 30), the mouth
    corners are points 48 and 54; names follow the viewer's side (:data:`LANDMARKS`).
    ``faces``: :class:`Face` objects or ``(top, right, bottom, left)`` boxes.
    """
    img = _rgb(image_rgb)
    out = []
    for face in _as_faces(faces, img.shape):
        shape = _fr().pose_predictor_68_point(img, _fr()._css_to_rect(face.box))
        pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=float)
        out.append({"left_eye": tuple(pts[36:42].mean(0)), "right_eye": tuple(pts[42:48].mean(0)),
                    "nose": tuple(pts[30]), "mouth_left": tuple(pts[48]), "mouth_right": tuple(pts[54])})
    return [{k: (float(x), float(y)) for k, (x, y) in d.items()} for d in out]


def largest(faces: Sequence[Face]) -> Face:
    """The face with the largest box area (ties: the higher confidence, then the first)."""
    if not faces:
        raise ValueError("no faces to choose from")
    return max(faces, key=lambda f: (f.area, f.confidence or 0.0))


# ---------------------------------------------------------------- crops and encodings


def align(image_rgb, face, size: int = 150, eye_level: float = 0.38, eye_distance: float = 0.36) -> np.ndarray:
    """Rotate, scale and crop so the eyes lie level at fixed places (``4_1``).

    The output is ``(size, size, 3)`` uint8: the eyes on row ``eye_level * size``, their
    centres ``eye_distance * size`` apart, symmetric about the middle column. ``face``
    is a :class:`Face` (its landmarks are computed with dlib when it has none) or a box.
    """
    import cv2

    img = _rgb(image_rgb)
    face = _as_faces([face], img.shape)[0]
    marks = face.landmarks or face_landmarks(img, [face])[0]
    (lx, ly), (rx, ry) = marks["left_eye"], marks["right_eye"]
    angle = np.degrees(np.arctan2(ry - ly, rx - lx))
    scale = eye_distance * size / max(np.hypot(rx - lx, ry - ly), 1e-6)
    centre = ((lx + rx) / 2.0, (ly + ry) / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, angle, scale)
    matrix[0, 2] += size / 2.0 - centre[0]
    matrix[1, 2] += eye_level * size - centre[1]
    return cv2.warpAffine(img, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def crop_faces(image_rgb, faces, size: int | tuple[int, int] | None = 150, margin: float = 0.2,
               aligned: bool = False) -> list[np.ndarray]:
    """Cut each face out of the image (``4_1``; VGGFace inputs in ``4_4``).

    Args:
        image_rgb: ``(H, W, 3)`` uint8 RGB.
        faces: :class:`Face` objects or ``(top, right, bottom, left)`` boxes.
        size: output side (int), ``(height, width)``, or ``None`` to keep the crop's size.
        margin: fraction of the box's width/height added on every side (0.2 → 1.4× the box);
            parts outside the picture are filled by repeating the edge pixels.
        aligned: rotate so the eyes are level first (see :func:`align`; ``size`` must be an int).

    Returns:
        A list of ``(size, size, 3)`` (or ``(h, w, 3)``) uint8 arrays, one per face.
    """
    import cv2

    img = _rgb(image_rgb)
    out = []
    for face in _as_faces(faces, img.shape):
        if aligned:
            if not isinstance(size, (int, np.integer)):
                raise ValueError(f"size={size!r}: aligned crops need one int side")
            # margin 0.2 puts the eyes 0.36 of the side apart; a bigger margin shows more around the face
            out.append(align(img, face, size=int(size), eye_distance=0.504 / (1 + 2 * margin)))
            continue
        top, right, bottom, left = face.box
        dy, dx = int(round((bottom - top) * margin)), int(round((right - left) * margin))
        y0, y1, x0, x1 = top - dy, bottom + dy, left - dx, right + dx
        if y1 <= y0 or x1 <= x0:
            raise ValueError(f"face box {face.box}: empty")
        pad = max(0, -y0, -x0, y1 - img.shape[0], x1 - img.shape[1])
        src = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else img
        crop = src[y0 + pad:y1 + pad, x0 + pad:x1 + pad]
        if size is not None:
            h, w = (size, size) if isinstance(size, (int, np.integer)) else size
            crop = cv2.resize(crop, (int(w), int(h)), interpolation=cv2.INTER_AREA if crop.shape[0] > h else cv2.INTER_LINEAR)
        out.append(np.ascontiguousarray(crop))
    return out


def encode(image_rgb, faces: Iterable | None = None, num_jitters: int = NUM_JITTERS,
           model: str = DEFAULT_MODEL) -> np.ndarray:
    """128-d face encodings with dlib's ResNet (``4_1``), exactly as face_recognition computes them.

    Args:
        image_rgb: ``(H, W, 3)`` uint8 RGB.
        faces: :class:`Face` objects or ``(top, right, bottom, left)`` boxes; ``None``
            detects with ``detect_faces(image, "hog", upsample=1)`` (face_recognition's default).
        num_jitters: encode that many randomly jittered copies and average (slower, steadier).
        model: landmark model that aligns the face before the ResNet: ``"small"`` (dlib's
            5-point predictor, face_recognition 1.3's own default and ours) or ``"large"``
            (68 points). Encodings made with different landmark models differ by up to about
            0.05: do not compare them with each other.

    Returns:
        ``(N, 128)`` float64, one row per face, equal to
        ``face_recognition.face_encodings(image, boxes, num_jitters, model)`` (with the
        defaults: ``face_recognition.face_encodings(image, boxes)``); ``(0, 128)`` for none.
    """
    if model not in ("large", "small"):
        raise ValueError(f"model={model!r}: expected 'large' (68 landmarks) or 'small' (5 landmarks)")
    img = _rgb(image_rgb)
    boxes = [f.box for f in (detect_faces(img, "hog", 1) if faces is None else _as_faces(faces, img.shape))]
    if not boxes:
        return np.zeros((0, 128), np.float64)
    encodings = _fr().face_encodings(img, boxes, num_jitters=int(num_jitters), model=model)
    return np.asarray(encodings, dtype=np.float64).reshape(len(boxes), 128)


def face_distance(known: np.ndarray, encodings: np.ndarray) -> np.ndarray:
    """Euclidean distances ``(Q, K)`` between ``encodings`` ``(Q, 128)`` and ``known`` ``(K, 128)``
    (the same formula as ``face_recognition.face_distance``, for many queries at once)."""
    known = np.asarray(known, np.float64).reshape(-1, 128)
    encodings = np.asarray(encodings, np.float64).reshape(-1, 128)
    return np.linalg.norm(known[None, :, :] - encodings[:, None, :], axis=2)


def draw_faces(image_rgb, faces, labels: Sequence[str] | None = None, color=(0, 255, 0),
               thickness: int = 2, show_landmarks: bool = True) -> np.ndarray:
    """A copy of the image with boxes, optional labels and landmarks drawn (``4_1`` to ``4_3``).

    ``faces``: :class:`Face` objects or boxes; ``labels``: one string per face (or ``None``);
    ``color``: an RGB tuple, or one per face.
    """
    import cv2

    out = _rgb(image_rgb).copy()
    faces = _as_faces(faces, out.shape)
    if labels is not None and len(labels) != len(faces):
        raise ValueError(f"{len(labels)} labels for {len(faces)} faces")
    colors = list(color) if color and isinstance(color[0], (tuple, list)) else [color] * len(faces)
    scale = max(out.shape[:2]) / 800
    for i, face in enumerate(faces):
        top, right, bottom, left = face.box
        c = tuple(int(v) for v in colors[i])
        cv2.rectangle(out, (left, top), (right, bottom), c, thickness)
        if show_landmarks and face.landmarks:
            for x, y in face.landmarks.values():
                cv2.circle(out, (int(round(x)), int(round(y))), max(2, thickness), c, -1)
        if labels is not None and labels[i]:
            text = str(labels[i])
            fs = max(0.4, 0.8 * scale)
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, fs, 1)
            y = bottom + th + 6 if bottom + th + 6 < out.shape[0] else max(top - 4, th + 2)
            cv2.rectangle(out, (left, y - th - 4), (left + tw + 4, y + base - 2), c, -1)
            cv2.putText(out, text, (left + 2, y - 2), cv2.FONT_HERSHEY_SIMPLEX, fs, (0, 0, 0), 1, cv2.LINE_AA)
    return out
