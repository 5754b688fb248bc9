"""Human pose estimation (``8_3``): a 13-keypoint skeleton, synthetic articulated figures on real
photos, markers, PCK, skeleton drawing, top-down and bottom-up multi-person decoding, and
MediaPipe's pretrained BlazePose landmark model.

Conventions:

- keypoints are ``(x, y)`` in pixels of the image they belong to (``x`` right, ``y`` down); a
  third column ``v`` (1 visible, 0 not) follows when it matters: ``(K, 3)`` per person,
  ``(N, K, 3)`` for a set of single-person images, a list of ``(P, K, 3)`` for multi-person scenes;
- :data:`KEYPOINTS` is COCO's 17-keypoint order with the eyes and ears dropped and ``nose``
  replaced by ``head`` (the head's centre): 13 keypoints; "left" is the **person's** left (on the
  right of the picture for a figure facing the camera), as in COCO;
- heatmaps come from :mod:`utils.heatmaps` (Gaussian targets, ``keypoint_net``, ``decode_keypoints``).

The synthetic figures are drawn with OpenCV on random crops of the photos that ship with
the installed packages (``utils.data``): random pose, size, position, limb thickness, skin and
clothes colours, distracting sticks and an occluding patch from another photo. Everything random
takes a ``seed`` and is reproducible bit for bit.

``python -m utils.pose train`` trains the course checkpoint ``weights/course/pose_figures64.weights.h5``
that ``8_3`` compares with its own short training.
"""
from __future__ import annotations

import argparse
import functools
import time
import warnings
from pathlib import Path

import numpy as np

from utils.course import ROOT

# ------------------------------------------------------------------------------ skeleton

KEYPOINTS = ("head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
             "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
"""The 13 keypoints, in COCO's order (COCO's nose → ``head``; no eyes or ears). Person's left."""

K = len(KEYPOINTS)
_I = {name: i for i, name in enumerate(KEYPOINTS)}

LIMBS = tuple((_I[a], _I[b]) for a, b in (
    ("head", "left_shoulder"), ("head", "right_shoulder"), ("left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"), ("left_hip", "right_hip"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle")))
"""Named limbs as ``(keypoint index, keypoint index)`` pairs (14 segments)."""

PARENT = (-1, 0, 0, 1, 2, 3, 4, 1, 2, 7, 8, 9, 10)
"""The kinematic tree bottom-up grouping walks: ``PARENT[k]`` is the keypoint ``k`` hangs from
(``head`` is the root; shoulders hang from the head, hips from the shoulders)."""

FLIP = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11)
"""Index of each keypoint's mirror image (left ↔ right), for horizontal-flip augmentation."""

MARKER_COLORS = np.array([
    (128, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255),
    (255, 128, 0), (128, 0, 255), (0, 255, 128), (255, 0, 128), (128, 255, 0), (0, 128, 255)], np.uint8)
"""One saturated RGB colour per keypoint for the marker-based figures (``(K, 3)`` uint8)."""

CHECKPOINT = ROOT / "weights" / "course" / "pose_figures64.weights.h5"
"""The course's keypoint network (``python -m utils.pose train``), loaded by ``8_3``."""

TRAIN_SEED = 500
"""Seed of the figures the course checkpoint trains on (``8_3`` tests on other seeds)."""

# body proportions as fractions of the figure's height (neck at the origin, y down)
_HEAD, _HEAD_R, _SHOULDER, _TORSO, _HIP = 0.13, 0.075, 0.11, 0.32, 0.075
_UPPER_ARM, _FOREARM, _THIGH, _SHIN = 0.17, 0.15, 0.24, 0.22
_SKIN = np.array([(255, 224, 196), (234, 192, 134), (198, 134, 66), (141, 85, 36), (90, 56, 37)], float)


@functools.lru_cache(maxsize=None)
def _backgrounds() -> tuple[np.ndarray, ...]:
    """The real photos the figures stand on (``utils.data.BACKGROUNDS``; no photo of a person)."""
    import cv2

    from utils import data

    out = []
    for name in data.BACKGROUNDS:  # shrunk once (short side 192 px), so crops resize fast
        photo = data._background(name)[..., :3]
        f = 192 / min(photo.shape[:2])
        out.append(np.ascontiguousarray(cv2.resize(photo, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)))
    return tuple(out)


def _crop(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random square crop of a random background photo, resized to ``size``, randomly flipped."""
    from utils import data

    photo = _backgrounds()[rng.integers(len(_backgrounds()))]
    out = data.random_crop(rng, photo, size, min_fraction=4)
    return np.ascontiguousarray(out[:, ::-1]) if rng.random() < 0.5 else out


def _direction(angle: float) -> np.ndarray:
    """Unit vector at ``angle`` radians from straight down, positive towards the picture's right."""
    return np.array([np.sin(angle), np.cos(angle)])


def _pose(rng: np.random.Generator, height: float, centre) -> np.ndarray:
    """Forward kinematics of a random pose: ``(K, 2)`` keypoints for a figure of ``height`` pixels
    whose head-to-ankle box is centred on ``centre``."""
    tilt = rng.normal(0, 0.15)
    up = -_direction(tilt)  # from the neck towards the head
    side = np.array([up[1], -up[0]]) * -1  # towards the picture's right (the person's left)
    pts = np.zeros((K, 2))
    pts[_I["head"]] = _HEAD * up
    hip_c = -_TORSO * up
    for s, sign in (("left", 1.0), ("right", -1.0)):
        # the person's left appears on the picture's right: angles mirrored by `sign`
        sh = _SHOULDER * side * sign
        pts[_I[f"{s}_shoulder"]] = sh
        upper = tilt + sign * rng.uniform(0.15, 2.9)
        elbow = sh + _UPPER_ARM * _direction(upper)
        fore = upper + sign * rng.uniform(-1.2, 2.0)
        pts[_I[f"{s}_elbow"]], pts[_I[f"{s}_wrist"]] = elbow, elbow + _FOREARM * _direction(fore)
        hip = hip_c + _HIP * side * sign
        pts[_I[f"{s}_hip"]] = hip
        thigh = tilt + sign * rng.uniform(-0.15, 0.75)
        knee = hip + _THIGH * _direction(thigh)
        shin = thigh + sign * rng.uniform(-0.9, 0.5)
        pts[_I[f"{s}_knee"]], pts[_I[f"{s}_ankle"]] = knee, knee + _SHIN * _direction(shin)
    lo, hi = pts.min(0) - [0, _HEAD_R], pts.max(0)
    return (pts - (lo + hi) / 2) * height + np.asarray(centre, float)


def _draw_figure(canvas: np.ndarray, rng: np.random.Generator, pts: np.ndarray, height: float) -> None:
    """Paint one figure with keypoints ``pts`` ``(K, 2)`` onto ``canvas`` in place."""
    import cv2

    skin = tuple(float(c) for c in np.clip(_SKIN[rng.integers(len(_SKIN))] + rng.normal(0, 12, 3), 0, 255))
    shirt, trousers = (tuple(float(c) for c in rng.integers(0, 256, 3)) for _ in range(2))
    thick = max(2, int(round(height * rng.uniform(0.045, 0.085))))
    sh = 8  # fixed-point bits: sub-pixel drawing
    p = lambda k: tuple(int(round(v * (1 << sh))) for v in pts[_I[k]])  # noqa: E731

    def seg(a, b, colour, t):
        cv2.line(canvas, p(a), p(b), colour, t, cv2.LINE_AA, sh)

    for s in ("left", "right"):
        seg(f"{s}_hip", f"{s}_knee", trousers, thick + 1)
        seg(f"{s}_knee", f"{s}_ankle", trousers, thick)
        foot = pts[_I[f"{s}_ankle"]] + np.array([0.06 * height * (1 if s == "left" else -1), 0.015 * height])
        cv2.line(canvas, p(f"{s}_ankle"), tuple(int(round(v * (1 << sh))) for v in foot), (40, 30, 30),
                 max(1, thick - 1), cv2.LINE_AA, sh)
    torso = np.array([pts[_I[k]] for k in ("left_shoulder", "right_shoulder", "right_hip", "left_hip")])
    cv2.fillPoly(canvas, [np.round(torso * (1 << sh)).astype(np.int32)], shirt, cv2.LINE_AA, sh)
    for s in ("left", "right"):
        seg(f"{s}_shoulder", f"{s}_elbow", shirt, thick)
        seg(f"{s}_elbow", f"{s}_wrist", skin, max(1, thick - 1))
        cv2.circle(canvas, p(f"{s}_wrist"), int(thick * 0.7 * (1 << sh)), skin, -1, cv2.LINE_AA, sh)
    neck = (pts[_I["left_shoulder"]] + pts[_I["right_shoulder"]]) / 2
    cv2.line(canvas, p("head"), tuple(int(round(v * (1 << sh))) for v in neck), skin, thick, cv2.LINE_AA, sh)
    cv2.circle(canvas, p("head"), int(_HEAD_R * height * (1 << sh)), skin, -1, cv2.LINE_AA, sh)


def _draw_markers(image: np.ndarray, kp: np.ndarray, height: float) -> None:
    """A :data:`MARKER_COLORS` disc on every visible keypoint of ``kp`` ``(K, 3)``, in place (drawn after
    lighting and noise: retro-reflective markers stay saturated whatever the light)."""
    import cv2

    r, sh = max(1.6, 0.03 * height), 8
    for k in range(K):
        if kp[k, 2] > 0:
            cv2.circle(image, tuple(int(round(v * (1 << sh))) for v in kp[k, :2]), int(r * (1 << sh)),
                       tuple(int(c) for c in MARKER_COLORS[k]), -1, cv2.LINE_8, sh)


def _clutter(canvas: np.ndarray, rng: np.random.Generator, count: int, height: float) -> None:
    """Distracting sticks and blobs in figure-like colours (drawn before the figures)."""
    import cv2

    size = canvas.shape[0]
    for _ in range(count):
        colour = tuple(float(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.7:
            a = rng.uniform(0, size, 2)
            b = a + rng.normal(0, 0.25 * height, 2)
            cv2.line(canvas, tuple(int(v) for v in a), tuple(int(v) for v in b), colour,
                     int(rng.integers(1, max(2, int(0.08 * height)))), cv2.LINE_AA)
        else:
            cv2.circle(canvas, tuple(int(v) for v in rng.uniform(0, size, 2)),
                       int(rng.integers(2, max(3, int(0.08 * height)))), colour, -1, cv2.LINE_AA)


def _occlude(canvas: np.ndarray, rng: np.random.Generator, kps: list[np.ndarray], height: float) -> None:
    """Paste a patch of another photo over part of one figure; keypoints under it become invisible."""
    size = canvas.shape[0]
    target = kps[rng.integers(len(kps))]
    cx, cy = target[rng.integers(K), :2]
    w, h = (rng.uniform(0.15, 0.35, 2) * height).astype(int) + 2
    x0, y0 = int(np.clip(cx - w / 2, 0, size - 1)), int(np.clip(cy - h / 2, 0, size - 1))
    x1, y1 = min(size, x0 + w), min(size, y0 + h)
    canvas[y0:y1, x0:x1] = _crop(rng, size)[y0:y1, x0:x1]
    for kp in kps:
        inside = (kp[:, 0] >= x0) & (kp[:, 0] < x1) & (kp[:, 1] >= y0) & (kp[:, 1] < y1)
        kp[inside, 2] = 0


def _finish(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lighting and sensor noise."""
    gain, bias = rng.uniform(0.75, 1.2), rng.uniform(-20, 20)
    noise = rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(rng.uniform(0, 6))
    noisy = canvas.astype(np.float32) * np.float32(gain) + np.float32(bias) + noise
    return np.clip(noisy, 0, 255).astype(np.uint8)


def figures(n: int, size: int = 64, seed: int = 0, occlusion: float = 0.25, clutter: int = 3,
            markers: bool = False, scale: tuple[float, float] = (0.6, 0.95)) -> tuple[np.ndarray, np.ndarray]:
    """Single-person images: one articulated figure on a real photo (``8_3``).

    Args:
        n: number of images; size: their side in pixels; seed: everything random.
        occlusion: probability that a patch of another photo hides part of the figure.
        clutter: up to this many distracting sticks and blobs behind the figure.
        markers: draw a :data:`MARKER_COLORS` disc on every visible joint (motion-capture markers).
        scale: the figure's height as a fraction of ``size`` (uniform range).

    Returns:
        ``images`` ``(n, size, size, 3)`` uint8 RGB and ``keypoints`` ``(n, K, 3)`` float32
        ``(x, y, v)`` in pixels, every keypoint inside the image (``v`` = 0 under an occluder).
    """
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 3), np.uint8)
    keypoints = np.zeros((n, K, 3), np.float32)
    for i in range(n):
        canvas = _crop(rng, size)
        height = rng.uniform(*scale) * size
        _clutter(canvas, rng, int(rng.integers(0, clutter + 1)), height)
        while True:  # a pose whose keypoints (and head) fit inside the image
            pts = _pose(rng, height, (size / 2, size / 2))
            lo, hi = pts.min(0), pts.max(0)
            room_lo, room_hi = -lo + 0.1 * height, size - hi - 0.02 * height
            if np.all(room_lo <= room_hi):
                break
        pts = pts + rng.uniform(room_lo, room_hi)
        _draw_figure(canvas, rng, pts, height)
        kp = np.concatenate([pts, np.ones((K, 1))], axis=1)
        if rng.random() < occlusion:
            _occlude(canvas, rng, [kp], height)
        images[i], keypoints[i] = _finish(canvas, rng), kp
        if markers:
            _draw_markers(images[i], kp, height)
    return images, keypoints


def scenes(n: int, size: int = 128, seed: int = 0, people: tuple[int, int] = (2, 3), occlusion: float = 0.2,
           clutter: int = 4, scale: tuple[float, float] = (0.38, 0.55)) -> tuple[np.ndarray, list[np.ndarray]]:
    """Multi-person scenes (``8_3``): ``people`` figures (inclusive range) side by side on a real photo.

    Each figure gets its own horizontal slot, so neighbours may touch but rarely cover each other.

    Returns:
        ``images`` ``(n, size, size, 3)`` uint8 RGB and a list of ``n`` arrays ``(P_i, K, 3)`` float32
        ``(x, y, v)``, people ordered left to right.
    """
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 3), np.uint8)
    out = []
    for i in range(n):
        canvas = _crop(rng, size)
        count = int(rng.integers(people[0], people[1] + 1))
        heights = rng.uniform(*scale, count) * size
        _clutter(canvas, rng, int(rng.integers(0, clutter + 1)), float(heights.mean()))
        slot = size / count
        kps = []
        for j, height in enumerate(heights):
            for _ in range(100):
                pts = _pose(rng, height, (0, 0))
                lo, hi = pts.min(0), pts.max(0)
                x_lo, x_hi = j * slot - lo[0], (j + 1) * slot - hi[0]
                y_lo, y_hi = -lo[1] + 0.1 * height, size - hi[1] - 0.02 * height
                if x_lo <= x_hi + 0.15 * slot and y_lo <= y_hi:
                    break
            pts = pts + [rng.uniform(x_lo, max(x_lo, x_hi)), rng.uniform(y_lo, max(y_lo, y_hi))]
            pts[:, 0] += np.clip(-pts[:, 0].min(), 0, None) - np.clip(pts[:, 0].max() - size + 1, 0, None)
            _draw_figure(canvas, rng, pts, height)
            kps.append(np.concatenate([pts, np.ones((K, 1))], axis=1))
        if rng.random() < occlusion:
            _occlude(canvas, rng, kps, float(heights.mean()))
        images[i] = _finish(canvas, rng)
        out.append(np.stack(kps).astype(np.float32))
    return images, out


# ------------------------------------------------------------------------------- markers


def find_markers(image: np.ndarray, colors: np.ndarray = MARKER_COLORS, tolerance: float = 60.0,
                 min_area: int = 2) -> np.ndarray:
    """Motion capture the easy way (``8_3``): find one coloured marker per keypoint.

    For each colour, threshold the RGB distance to it (``< tolerance``), label the connected
    components (8-connectivity) and keep the largest one of at least ``min_area`` pixels; its
    centroid is the keypoint.

    Args:
        image: ``(H, W, 3)`` uint8 RGB; colors: ``(K, 3)`` marker colours.

    Returns:
        ``(K, 3)`` float32 ``(x, y, found)``; a marker not found is ``(nan, nan, 0)``.
    """
    import cv2

    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image: got shape {img.shape}, expected (H, W, 3) RGB")
    out = np.full((len(colors), 3), np.nan, np.float32)
    out[:, 2] = 0
    pixels = img.astype(np.int32)
    for k, colour in enumerate(np.asarray(colors, np.int32)):
        mask = (((pixels - colour) ** 2).sum(-1) < tolerance ** 2).astype(np.uint8)
        count, _, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if count > 1:
            best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            if stats[best, cv2.CC_STAT_AREA] >= min_area:
                out[k] = (*centroids[best], 1)
    return out


# ---------------------------------------------------------------------------------- PCK


def reference_size(keypoints) -> np.ndarray:
    """PCK's reference length per person: the longer side of the box around its visible keypoints.

    ``keypoints`` ``(..., K, 3)`` (or ``(..., K, 2)``: all visible) → ``(...)`` float pixels.
    """
    kp = np.asarray(keypoints, np.float64)
    vis = kp[..., 2] > 0 if kp.shape[-1] == 3 else np.ones(kp.shape[:-1], bool)
    xy = np.where(vis[..., None], kp[..., :2], np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (nothing visible) are expected
        side = np.nanmax(xy, axis=-2) - np.nanmin(xy, axis=-2)
    return np.nan_to_num(side.max(-1), nan=0.0)


def pck(predicted, truth, alpha: float = 0.2, per_keypoint: bool = False):
    """Percentage of Correct Keypoints (``8_3``): a predicted keypoint is correct when it lies within
    ``alpha`` × the person's :func:`reference_size` (the longer side of the box around its visible
    true keypoints; Yang & Ramanan's PCK) of the true one. Only visible true keypoints count.

    Args:
        predicted: ``(..., K, 2+)`` pixels (extra columns, e.g. scores, are ignored; NaN counts as wrong).
        truth: ``(..., K, 3)`` ``(x, y, v)`` or ``(..., K, 2)`` (all visible), same leading shape.
        alpha: the fraction of the reference size. per_keypoint: return one value per keypoint type.

    Returns:
        the fraction of correct visible keypoints (float in 0..1; NaN if none is visible), or ``(K,)``.
    """
    pred, true = np.asarray(predicted, np.float64), np.asarray(truth, np.float64)
    if pred.shape[:-1] != true.shape[:-1] or pred.shape[-1] < 2 or true.shape[-1] not in (2, 3):
        raise ValueError(f"pck: predicted {pred.shape} and truth {true.shape} must be (..., K, 2+) and (..., K, 2|3) "
                         "with the same leading shape")
    vis = true[..., 2] > 0 if true.shape[-1] == 3 else np.ones(true.shape[:-1], bool)
    dist = np.linalg.norm(pred[..., :2] - true[..., :2], axis=-1)
    correct = np.nan_to_num(dist, nan=np.inf) <= alpha * reference_size(true)[..., None]
    if per_keypoint:
        c, v = correct.reshape(-1, true.shape[-2]), vis.reshape(-1, true.shape[-2])
        with np.errstate(invalid="ignore", divide="ignore"):
            return (c & v).sum(0) / v.sum(0)
    return float((correct & vis).sum() / vis.sum()) if vis.any() else float("nan")


# ------------------------------------------------------------------- network and training

STRIDE = 4
"""Input pixels per heatmap cell of the course's keypoint networks."""

SIGMA = 1.0
"""Width of the Gaussian targets, in heatmap cells."""

POSITIVE_WEIGHT = 10.0
"""Extra loss weight near keypoints (see :func:`train`)."""


def heatmap_targets(keypoints, image_size: int, stride: int = STRIDE, sigma: float = SIGMA) -> np.ndarray:
    """Training targets: ``(N, K, 3)`` keypoints in input pixels → ``(N, S/stride, S/stride, K)`` float32
    Gaussian heatmaps (``utils.heatmaps.gaussian_heatmaps``; invisible keypoints → empty channel)."""
    from utils import heatmaps

    kp = np.asarray(keypoints, np.float32)
    cells = image_size // stride
    return np.stack([heatmaps.gaussian_heatmaps(to_grid(p[:, :2], stride), (cells, cells), sigma, visible=p[:, 2] > 0)
                     for p in kp]).astype(np.float32)


def to_grid(xy, stride: int = STRIDE) -> np.ndarray:
    """Input pixels → heatmap-cell coordinates (cell ``i`` covers pixels ``i·stride .. (i+1)·stride``,
    its centre is input pixel ``i·stride + (stride - 1) / 2``)."""
    return (np.asarray(xy, np.float64) - (stride - 1) / 2) / stride


def from_grid(xy, stride: int = STRIDE) -> np.ndarray:
    """Heatmap-cell coordinates → input pixels (inverse of :func:`to_grid`)."""
    return np.asarray(xy, np.float64) * stride + (stride - 1) / 2


def build_model(image_size: int = 64, width: int = 16, stride: int = STRIDE):
    """The course's keypoint network: ``utils.heatmaps.keypoint_net`` for RGB inputs in 0..255 of any
    size divisible by 16 (a Rescaling layer divides by 255), :data:`K` heatmaps at ``1/stride``.
    ``image_size`` is the training size (kept for the callers; the weights do not depend on it)."""
    import keras

    from utils import heatmaps

    # built for any input size (fully convolutional): trained on image_size, run on larger scenes in 8_3
    net = heatmaps.keypoint_net((None, None, 3), K, width=width, stride=stride)
    inputs = keras.Input((None, None, 3), name="image")
    return keras.Model(inputs, net(keras.layers.Rescaling(1 / 255.0, name="scale")(inputs)), name="pose_net")


def predict(model, images, stride: int = STRIDE, batch_size: int = 64) -> np.ndarray:
    """Single-person keypoints: ``images`` ``(N, H, W, 3)`` → ``(N, K, 3)`` float32 ``(x, y, score)``
    in input pixels (argmax of each heatmap, refined to sub-pixel by ``utils.heatmaps.refine_peak``)."""
    from utils import heatmaps

    x = np.asarray(images, np.float32)
    # predict_on_batch per chunk: the same batches as model.predict, without its per-call set-up
    # (top_down calls this once per scene with 2-3 crops)
    if len(x) and hasattr(model, "predict_on_batch"):
        maps = np.concatenate([np.asarray(model.predict_on_batch(x[i:i + batch_size]))
                               for i in range(0, len(x), batch_size)])
    else:
        maps = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    out = np.zeros((len(maps), maps.shape[-1], 3), np.float32)
    for i, m in enumerate(maps):
        xy, scores = heatmaps.decode_keypoints(m, stride=1)
        out[i, :, :2], out[i, :, 2] = from_grid(xy, stride), scores
    return out


def mirror_keypoints(keypoints, width: int) -> np.ndarray:
    """``(N, K, 3)`` keypoints of images ``width`` pixels wide → those of the mirrored images: x becomes
    ``width - 1 - x`` and left/right keypoints swap (:data:`FLIP`)."""
    kp = np.array(keypoints, copy=True)
    kp[..., 0] = width - 1 - kp[..., 0]
    return kp[:, FLIP]


def train(model, images, keypoints, epochs: int, batch_size: int = 32, learning_rate: float = 3e-3,
          stride: int = STRIDE, sigma: float = SIGMA, positive_weight: float = POSITIVE_WEIGHT, seed: int = 0,
          verbose: int = 0):
    """Train a keypoint network with MSE against Gaussian heatmaps, each pixel weighted by
    ``1 + positive_weight × target`` (the few pixels near a keypoint would otherwise be drowned by the
    empty background, and a short training stalls at an all-zero output) and ×100 (so the loss is not tiny),
    Adam with cosine decay, a fresh horizontal flip of half the images each epoch. Returns the
    per-epoch losses."""
    import keras

    rng = np.random.default_rng(seed)
    steps = epochs * -(-len(images) // batch_size)
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.05)),
                  loss=lambda t, p: 100.0 * keras.ops.mean((1.0 + positive_weight * t) * keras.ops.square(t - p)))
    # the targets of each image and of its mirror image, made once; each epoch mirrors a fresh half
    targets = heatmap_targets(keypoints, images.shape[1], stride, sigma)
    mirrored = heatmap_targets(mirror_keypoints(keypoints, images.shape[2]), images.shape[1], stride, sigma)
    losses = []
    for _ in range(epochs):
        flip = (rng.random(len(images)) < 0.5)[:, None, None, None]
        x = np.where(flip, images[:, :, ::-1], images).astype(np.float32)
        hist = model.fit(x, np.where(flip, mirrored, targets), batch_size=batch_size, epochs=1, verbose=verbose,
                         shuffle=True)
        losses.append(float(hist.history["loss"][-1]))
    return losses


# ------------------------------------------------------------ multi-person: two strategies


def person_boxes(keypoints, margin: float = 0.15) -> np.ndarray:
    """``(P, K, 3)`` keypoints → ``(P, 4)`` xyxy boxes around the visible ones, grown by ``margin``
    × their size on every side (the head's disc lies above its centre keypoint)."""
    kp = np.asarray(keypoints, np.float64)
    boxes = []
    for p in kp:
        xy = p[p[:, 2] > 0, :2] if p.shape[1] == 3 else p
        lo, hi = xy.min(0), xy.max(0)
        pad = margin * (hi - lo).max()
        boxes.append([lo[0] - pad, lo[1] - pad, hi[0] + pad, hi[1] + pad])
    return np.array(boxes, np.float32).reshape(-1, 4)


def top_down(model, image, boxes, input_size: int = 64, stride: int = STRIDE) -> np.ndarray:
    """Top-down (``8_3``): cut each person box out as a square (centred, the longer side), resize it to
    the network's ``input_size``, find the keypoints there and map them back.

    ``image`` ``(H, W, 3)``; ``boxes`` ``(P, 4)`` xyxy → ``(P, K, 3)`` ``(x, y, score)`` in image pixels.
    """
    import cv2

    img = np.asarray(image)
    crops, origins = [], []
    for x0, y0, x1, y1 in np.asarray(boxes, np.float64).reshape(-1, 4):
        side = max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        s = input_size / side
        warp = np.array([[s, 0, input_size / 2 - s * cx], [0, s, input_size / 2 - s * cy]])
        crops.append(cv2.warpAffine(img, warp, (input_size, input_size), flags=cv2.INTER_AREA,
                                    borderMode=cv2.BORDER_REPLICATE))
        origins.append((cx - side / 2, cy - side / 2, side / input_size))
    if not crops:
        return np.zeros((0, K, 3), np.float32)
    kp = predict(model, np.stack(crops), stride)
    for p, (ox, oy, f) in zip(kp, origins):
        p[:, 0], p[:, 1] = ox + (p[:, 0] + 0.5) * f - 0.5, oy + (p[:, 1] + 0.5) * f - 0.5
    return kp


def _group(cands, heads, head_scores, max_distance):
    """Hungarian matching down the kinematic tree, from the given heads (see :func:`bottom_up`)."""
    from scipy.optimize import linear_sum_assignment

    people = np.full((len(heads), len(cands), 3), np.nan, np.float32)
    people[..., 2] = 0
    people[:, 0, :2], people[:, 0, 2] = heads, head_scores
    for k in range(1, len(cands)):
        xy, scores = cands[k]
        parent = people[:, PARENT[k], :2].astype(np.float64)
        if len(xy) == 0 or len(parent) == 0:
            continue
        cost = np.linalg.norm(parent[:, None] - xy[None], axis=-1)
        cost = np.where(np.isnan(cost), 1e6, cost)
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols):
            if cost[r, c] <= max_distance:
                people[r, k] = (*xy[c], scores[c])
    return people


def bottom_up(maps, stride: int = STRIDE, threshold: float = 0.3, max_distance: float | None = None,
              min_keypoints: int = K // 2) -> np.ndarray:
    """Bottom-up (``8_3``): every keypoint of every person first, then group them.

    1. ``utils.heatmaps.find_peaks`` on each of the ``K`` heatmaps ``maps`` ``(H, W, K)`` (one image)
       gives all candidates of each keypoint type, refined to sub-pixel;
    2. every ``head`` peak starts a person;
    3. walking down the kinematic tree (:data:`PARENT`), each child type's candidates are matched to
       the people by the Hungarian algorithm on the distance to the person's parent keypoint
       (a match farther than ``max_distance`` input pixels, default 1/3 of the map's width, is refused);
    4. a "person" that collected fewer than ``min_keypoints`` keypoints was a false head (a hand, a
       blob): it is dropped and the rest are grouped again without it.

    Returns:
        ``(P, K, 3)`` float32 ``(x, y, score)`` in input pixels; a keypoint left without a candidate
        is ``(nan, nan, 0)``.
    """
    from utils import heatmaps

    maps = np.asarray(maps, np.float64)
    max_distance = max_distance or maps.shape[1] * stride / 3
    cands = []
    for k in range(maps.shape[-1]):
        yx, scores = heatmaps.find_peaks(maps[..., k], threshold=threshold)
        xy = np.array([heatmaps.refine_peak(maps[..., k], int(y), int(x)) for y, x in yx]).reshape(-1, 2)
        cands.append((from_grid(xy, stride), np.asarray(scores, np.float64)))
    heads, head_scores = cands[0]
    people = _group(cands, heads, head_scores, max_distance)
    keep = (people[..., 2] > 0).sum(1) >= min_keypoints
    if not keep.all():
        people = _group(cands, heads[keep], head_scores[keep], max_distance)
    return people


def match_people(predicted, truth) -> list[tuple[int, int]]:
    """Pair predicted and true people (Hungarian on the mean distance over keypoints both have):
    ``[(predicted index, true index), ...]``, for scoring multi-person results with :func:`pck`."""
    from scipy.optimize import linear_sum_assignment

    pred, true = np.asarray(predicted, np.float64), np.asarray(truth, np.float64)
    if len(pred) == 0 or len(true) == 0:
        return []
    d = np.linalg.norm(pred[:, None, :, :2] - true[None, :, :, :2], axis=-1)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (nothing visible) are expected
        cost = np.nan_to_num(np.nanmean(d, axis=-1), nan=1e6)
    return [(int(r), int(c)) for r, c in zip(*linear_sum_assignment(cost))]


def scene_pck(predicted_people: list, true_people: list, alpha: float = 0.2) -> float:
    """PCK over multi-person scenes: every true person counts; one left unmatched scores 0 on all its
    visible keypoints (so missing a person costs as much as getting it all wrong)."""
    preds, truths = [], []
    for pred, true in zip(predicted_people, true_people):
        pred = np.asarray(pred, np.float64).reshape(-1, K, 3)
        pairs = dict((t, p) for p, t in match_people(pred, true))
        for t in range(len(true)):
            preds.append(pred[pairs[t], :, :2] if t in pairs else np.full((K, 2), np.nan))
            truths.append(true[t])
    return pck(np.array(preds), np.array(truths), alpha)


# ---------------------------------------------------------------------------------- drawing


def draw_skeleton(image, keypoints, limbs=LIMBS, ax=None, title: str | None = None, point_size: float = 12,
                  linewidth: float = 2.0, names=KEYPOINTS, min_score: float = 0.0, show_image: bool = True):
    """Draw one or several skeletons with matplotlib (``8_3``): the person's left limbs in orange,
    right in blue, the rest in green.

    Args:
        image: ``(H, W, 3)`` RGB (drawn unless ``show_image`` is false).
        keypoints: ``(K, 2|3)`` or ``(P, K, 2|3)`` pixels; the third column (visibility or score)
            hides points at or below ``min_score``; NaN points are skipped.
        limbs: index pairs (:data:`LIMBS`, or :data:`BLAZEPOSE_CONNECTIONS` for BlazePose);
        names: keypoint names, used to colour sides (``left_``/``right_`` prefixes).

    Returns the axes.
    """
    import matplotlib.pyplot as plt

    ax = ax or plt.figure(figsize=(4, 4)).gca()
    if show_image:
        ax.imshow(image)
        ax.set_xlim(-0.5, np.asarray(image).shape[1] - 0.5), ax.set_ylim(np.asarray(image).shape[0] - 0.5, -0.5)
    kp = np.asarray(keypoints, np.float64)
    kp = kp[None] if kp.ndim == 2 else kp
    side = lambda i: names[i].split("_")[0] if i < len(names) else ""  # noqa: E731
    colour = {"left": "tab:orange", "right": "tab:blue"}
    for person in kp:
        ok = ~np.isnan(person[:, :2]).any(1) & ((person[:, 2] > min_score) if person.shape[1] > 2 else True)
        for a, b in limbs:
            if ok[a] and ok[b]:
                c = colour.get(side(a)) if side(a) == side(b) else "tab:green"
                ax.plot(person[[a, b], 0], person[[a, b], 1], "-", color=c or "tab:green", lw=linewidth)
        ax.scatter(person[ok, 0], person[ok, 1], s=point_size, c="white", edgecolors="black", linewidths=0.6,
                   zorder=3)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


# ------------------------------------------------------------------ MediaPipe BlazePose

BLAZEPOSE_FILE = "pose_landmark_full.tflite"
"""Registry name of MediaPipe's BlazePose landmark model (full)."""

BLAZEPOSE_SIZE = 256
"""Its input side: a 256×256 RGB crop of one person, values in 0..1."""

BLAZEPOSE_LANDMARKS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index")
"""BlazePose's 33 landmarks (MediaPipe's ``PoseLandmark`` order; the person's left)."""

BLAZEPOSE_CONNECTIONS = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12), (11, 13), (13, 15),
    (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28), (27, 29), (28, 30), (29, 31),
    (30, 32), (27, 31), (28, 32))
"""MediaPipe's ``POSE_CONNECTIONS`` (35 pairs of landmark indices)."""

BLAZEPOSE_TO_COURSE = (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
"""For each of :data:`KEYPOINTS`, the BlazePose landmark that corresponds (``head`` ← ``nose``)."""


@functools.lru_cache(maxsize=None)
def _blazepose_net():
    import cv2

    from utils import weights
    from utils.detection import read_dnn

    return read_dnn(cv2.dnn.readNetFromTFLite, "TFLite model",
                    (weights.path(BLAZEPOSE_FILE), "MediaPipe's pose_landmark_full.tflite"))


def portrait_box(image, zoom: float = 2.0) -> np.ndarray:
    """A crop box (xyxy pixels) for BlazePose on a head-and-shoulders portrait (``8_3``).

    MediaPipe's own detector frames the **whole body**, centred on the hips. For a portrait whose hips are
    below the frame, this box is ``zoom`` times the photo's longer side (divided by the 25% margin
    :func:`blazepose` adds) and centred ``0.35 (zoom - 1)`` photo heights below the photo's centre, so the
    person sits where the model expects it. Measured on the shipped portraits: ``astronaut`` and
    ``grace_hopper`` both score about 1.0 this way; ``grace_hopper`` scores 0.22 uncropped.
    """
    h, w = np.asarray(image).shape[:2]
    side = max(h, w) * zoom / 1.25
    cx, cy = w / 2, h / 2 + (zoom - 1) * h * 0.35
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], np.float32)


def blazepose(image, box=None) -> dict:
    """Run MediaPipe's BlazePose landmark model (full) with OpenCV DNN on one person (``8_3``).

    MediaPipe runs a person detector first and gives this model an aligned crop; here the crop is
    the square around ``box`` (xyxy pixels, grown by 25%), or the whole image padded to a square
    (zero borders), resized to 256×256, RGB in 0..1.

    Args:
        image: ``(H, W, 3)`` uint8 RGB showing one person (who should fill most of the crop).

    Returns:
        ``{"landmarks": (33, 2) float32 (x, y) image pixels, "z": (33,) depth (crop pixels, smaller
        = nearer), "visibility": (33,) and "presence": (33,) probabilities, "score": float}``, the
        score being the model's probability that a person is in the crop.
    """
    import cv2

    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"image: got shape {img.shape} dtype {img.dtype}, expected (H, W, 3) uint8 RGB")
    h, w = img.shape[:2]
    if box is None:
        cx, cy, side = w / 2, h / 2, max(h, w)
    else:
        x0, y0, x1, y1 = (float(v) for v in box)
        cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, 1.25 * max(x1 - x0, y1 - y0)
    s = BLAZEPOSE_SIZE / side
    warp = np.array([[s, 0, BLAZEPOSE_SIZE / 2 - s * cx], [0, s, BLAZEPOSE_SIZE / 2 - s * cy]])
    crop = cv2.warpAffine(img, warp, (BLAZEPOSE_SIZE, BLAZEPOSE_SIZE), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    net = _blazepose_net()
    net.setInput(cv2.dnn.blobFromImage(crop.astype(np.float32) / 255.0))
    raw, flag = net.forward(["Identity", "Identity_1"])
    lm = np.asarray(raw, np.float64).reshape(-1, 5)[:33]  # 39 points: 33 landmarks + 6 auxiliary ones
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-np.clip(v, -60, 60)))  # noqa: E731
    xy = (lm[:, :2] - [BLAZEPOSE_SIZE / 2] * 2) / s + [cx, cy]
    return {"landmarks": xy.astype(np.float32), "z": (lm[:, 2] / s).astype(np.float32),
            "visibility": sigmoid(lm[:, 3]).astype(np.float32), "presence": sigmoid(lm[:, 4]).astype(np.float32),
            "score": float(np.ravel(flag)[0])}


# --------------------------------------------------------------------------- command line


def train_checkpoint(out: Path = CHECKPOINT, images: int = 4000, epochs: int = 12, width: int = 16,
                     size: int = 64, seed: int = TRAIN_SEED, batch_size: int = 32) -> Path:
    """Train the course checkpoint (:func:`build_model` on :func:`figures` of ``seed``) and save its
    weights to ``out`` atomically (``8_3`` loads them)."""
    from utils import course
    from utils.images import write_atomically

    course.seed_everything(42)
    x, kp = figures(images, size=size, seed=seed)
    model = build_model(size, width=width)
    start = time.time()
    losses = train(model, x, kp, epochs, batch_size=batch_size, seed=seed, verbose=2)
    out = write_atomically(out, model.save_weights, keep_suffix=True)
    xt, kt = figures(300, size=size, seed=seed + 1)
    pred = predict(model, xt)
    print(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB) after {time.time() - start:.0f} s of training; "
          f"final loss {losses[-1]:.4f}; on figures(300, seed={seed + 1}): PCK@0.2 {pck(pred, kt, 0.2):.3f}, "
          f"PCK@0.5 {pck(pred, kt, 0.5):.3f}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.pose", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help=f"train the course pose checkpoint ({CHECKPOINT.relative_to(ROOT)})")
    t.add_argument("--out", type=Path, default=CHECKPOINT)
    t.add_argument("--images", type=int, default=4000)
    t.add_argument("--epochs", type=int, default=12)
    t.add_argument("--width", type=int, default=16)
    args = parser.parse_args(argv)
    if args.command == "train":
        train_checkpoint(args.out, args.images, args.epochs, args.width)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
