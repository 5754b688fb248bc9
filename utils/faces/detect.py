"""Face detection, landmarks, alignment, cropping and 128-d encodings (``4_1``, ``4_3``).

Four detectors behind one call and one output format (:class:`Face`):

======== ======================================== ============ ==========================
name     model                                    confidence   landmarks
======== ======================================== ============ ==========================
``haar`` OpenCV Viola-Jones cascade (frontal)     level weight dlib 5-point on request
``hog``  dlib HOG + linear SVM (face_recognition) SVM score    dlib 5-point on request
``cnn``  dlib CNN, max-margin object detection    CNN score    dlib 5-point on request
``mtcnn`` MTCNN (P-, R-, O-Net; ``mtcnn`` 1.0)    probability  its own five points
======== ======================================== ============ ==========================

Every model ships with an installed package (``opencv``, ``face_recognition_models``,
``mtcnn``), so this module never touches the network. Boxes use face_recognition's
order ``(top, right, bottom, left)`` in pixels of the image given; landmarks are
``(x, y)`` points named from the **viewer's** side (``left_eye`` is the eye on the
left of the picture, as MTCNN names it).
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

import numpy as np

from utils.images import ImageError

DETECTORS = ("haar", "hog", "cnn", "mtcnn")
"""Names accepted by :func:`detect_faces`."""

LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
"""The five landmark names of :attr:`Face.landmarks`, viewer's left and right."""

ENCODER = "dlib_face_recognition_resnet_model_v1"
"""The encoder's model name (dlib's ResNet-29, 128-d, shipped in ``face_recognition_models``)."""

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Face:
    """One detected face.

    - ``box``: ``(top, right, bottom, left)`` ints, as ``face_recognition.face_locations``;
    - ``confidence``: the detector's score (float; scales differ between detectors) or ``None``;
    - ``landmarks``: ``{name: (x, y)}`` for the five :data:`LANDMARKS`, or ``None``;
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


_DEFAULT_UPSAMPLE = {"haar": 0, "hog": 1, "cnn": 1, "mtcnn": 0}
_DETECT = {"haar": _detect_haar, "hog": _detect_hog, "cnn": _detect_cnn, "mtcnn": _detect_mtcnn}


def detect_faces(image_rgb, detector: str = "hog", upsample: int | None = None, landmarks: bool = False,
                 min_size: int | None = None, **options) -> list[Face]:
    """Find faces in an RGB image with one of four detectors (``4_1``, compared in ``4_3``).

    Args:
        image_rgb: ``(H, W, 3)`` uint8 RGB.
        detector: ``"haar"`` (OpenCV), ``"hog"`` (dlib, face_recognition's default),
            ``"cnn"`` (dlib MMOD; slow on a CPU: give it small images) or ``"mtcnn"``.
        upsample: how many times to double the image first, so smaller faces are found
            (dlib's ``number_of_times_to_upsample``). ``None``: 1 for hog/cnn (as
            face_recognition), 0 for haar/mtcnn (they scan their own image pyramids).
        landmarks: add five landmarks from dlib's 68-point shape predictor to detectors
            that have none of their own (MTCNN always returns its own).
        min_size: smallest face side in pixels for haar (``minSize``, default 24) and mtcnn
            (``min_face_size``, default 20); ignored by dlib's detectors.
        **options: passed to the detector: haar ``scaleFactor``/``minNeighbors``, hog
            ``threshold`` (SVM score, default 0), mtcnn ``threshold_onet`` etc.

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


def encode(image_rgb, faces: Iterable | None = None, num_jitters: int = 1, model: str = "large") -> np.ndarray:
    """128-d face encodings with dlib's ResNet (``4_1``), exactly as face_recognition computes them.

    Args:
        image_rgb: ``(H, W, 3)`` uint8 RGB.
        faces: :class:`Face` objects or ``(top, right, bottom, left)`` boxes; ``None``
            detects with ``detect_faces(image, "hog", upsample=1)`` (face_recognition's default).
        num_jitters: encode that many randomly jittered copies and average (slower, steadier).
        model: landmark model that aligns the face before the ResNet: ``"large"`` (68 points)
            or ``"small"`` (5 points; face_recognition 1.3's own default). Encodings made
            with different landmark models should not be compared with each other.

    Returns:
        ``(N, 128)`` float64, one row per face, equal to
        ``face_recognition.face_encodings(image, boxes, num_jitters, model)``; ``(0, 128)`` for none.
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
