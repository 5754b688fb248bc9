"""Licence plates: synthetic plates and scenes with exact geometry, rectification, and the
plate detector of the licence-plate lab (taught in ``8_1``; ``8_2`` reads the characters).

Plate text format (:data:`PLATE_FORMAT`): ``LLDDLLL``, two letters, two digits, three letters,
as on British plates (``AB12CDE``, drawn with a gap after the fourth character: ``AB12 CDE``).
The text never contains the gap. Characters come from :data:`ALPHABET`, 33 classes: the ten
digits and the 23 capital letters other than ``I``, ``O`` and ``Q`` (too close to ``1``, ``0``
and each other to be read reliably; real plate systems drop them too).

Plates are drawn with matplotlib's shipped ``DejaVuSansMono-Bold.ttf`` (black on white or on
plate yellow, a black border, optionally a blue band on the left as on EU plates).

Geometry conventions (as in :mod:`utils.data`):

- images are RGB ``(H, W, 3)`` uint8;
- boxes are float32 ``xyxy`` pixels, ``x2``/``y2`` exclusive (pixel ``(x, y)`` covers
  ``[x, x+1) × [y, y+1)``, so a one-pixel character at (x, y) is ``[x, y, x+1, y+1]``);
- points (corners, polygons) are float32 ``(x, y)`` in the same continuous frame: the top-left
  corner of the image is ``(0, 0)``, the centre of pixel ``(x, y)`` is ``(x + 0.5, y + 0.5)``;
- corners and polygons are ordered **top-left, top-right, bottom-right, bottom-left**
  (:data:`CORNER_ORDER`), "top-left" meaning the plate's own top-left (the start of its text).

Contents: the text format and :func:`render_plate`; scenes (:func:`plate_scene`, :func:`make_scenes`);
geometry (:func:`rectify`, :func:`order_corners`); the classical baselines (:func:`haar_plates`,
:func:`edge_plates`; 8_1 scores them with :func:`utils.detection.recall_at`); the course's detector, a
CenterNet from :mod:`utils.heatmaps` with one heat channel for the plate and one per corner
(:func:`plate_detector`, :func:`train_plate_detector`, :func:`detect_plates`, :func:`save_detector`,
:func:`load_detector`); the openalpr benchmark reader
(:func:`openalpr_set`) for full mode.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utils import data

ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
"""The 33 character classes: digits, then capitals without I, O, Q. Class id = index here."""
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
DIGITS = "0123456789"
PLATE_FORMAT = "LLDDLLL"
"""``L`` = a letter of :data:`LETTERS`, ``D`` = a digit; a gap is drawn after position :data:`GAP_AFTER`."""
GAP_AFTER = 4
CORNER_ORDER = ("top-left", "top-right", "bottom-right", "bottom-left")
PLATE_COLOURS = {"white": (236, 236, 232), "yellow": (246, 200, 32)}
BAND_COLOUR = (20, 60, 160)
SCENE_PHOTOS = ["motorcycle_left", "china", "rocket", "coffee", "flower", "astronaut", "grass", "gravel", "brick"]
"""Package photos the scene backgrounds are cut from (see :mod:`utils.data`)."""


def font_path() -> Path:
    """Path of matplotlib's shipped ``DejaVuSansMono-Bold.ttf``."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSansMono-Bold.ttf"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall matplotlib (pip install --force-reinstall matplotlib)")
    return path


@functools.lru_cache(maxsize=64)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.truetype(str(font_path()), size)


def random_plate_text(rng: np.random.Generator) -> str:
    """A random plate text in :data:`PLATE_FORMAT`, e.g. ``"AB12CDE"`` (7 characters, no gap)."""
    return "".join(LETTERS[rng.integers(len(LETTERS))] if f == "L" else DIGITS[rng.integers(10)]
                   for f in PLATE_FORMAT)


def encode_text(text: str) -> np.ndarray:
    """Class ids ``(N,)`` int32 of a plate text (index in :data:`ALPHABET`)."""
    bad = [c for c in text if c not in ALPHABET]
    if bad:
        raise ValueError(f"text {text!r} has characters outside ALPHABET ({ALPHABET}): {bad}")
    return np.array([ALPHABET.index(c) for c in text], np.int32)


def decode_ids(ids) -> str:
    """The inverse of :func:`encode_text`."""
    return "".join(ALPHABET[int(i)] for i in ids)


@dataclass
class Plate:
    """A rendered plate (:func:`render_plate`).

    - ``image``: ``(h, w, 3)`` uint8 RGB;
    - ``char_boxes``: ``(N, 4)`` float32 xyxy, tight around each character's ink (``N = len(text)``);
    - ``char_mask``: ``(h, w)`` uint8, 0 = background, ``i + 1`` = ink of character ``i``;
    - ``text``: the plate text (no gap).
    """

    image: np.ndarray
    char_boxes: np.ndarray
    char_mask: np.ndarray
    text: str


def render_plate(text: str, rng: np.random.Generator | None = None, height: int = 32,
                 colour: str | None = None, band: bool | None = None) -> Plate:
    """Draw a plate: ``text`` in DejaVu Sans Mono Bold, black border, optional blue band.

    ``height`` is the plate height in pixels (at least 10); the width follows the text (about
    4.6 × ``height`` for 7 characters, plus the band). ``rng=None`` gives the canonical plate (white,
    no band); with an ``rng``, the colour (white or yellow), the band, the ink shade and a small
    spacing jitter are drawn from it, unless ``colour`` (``"white"``/``"yellow"``) or ``band`` are given.
    Returns a :class:`Plate` whose ``char_mask`` and ``char_boxes`` agree exactly (each box is the
    bounding box of its mask pixels, ``x2``/``y2`` exclusive).
    """
    from PIL import Image, ImageDraw

    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty string, got {text!r}")
    encode_text(text)
    if int(height) < 10:
        raise ValueError(f"height must be at least 10 pixels, got {height}")
    h = int(height)
    if colour is None:
        colour = "white" if rng is None else ("white", "yellow")[int(rng.random() < 0.4)]
    if colour not in PLATE_COLOURS:
        raise ValueError(f"colour must be one of {sorted(PLATE_COLOURS)}, got {colour!r}")
    if band is None:
        band = False if rng is None else bool(rng.random() < 0.5)
    ink = 16 if rng is None else int(rng.integers(0, 40))
    spacing = 1.0 if rng is None else float(rng.uniform(0.95, 1.1))

    cap = 0.62 * h  # cap height of the characters
    font = _font(max(6, int(round(cap / 0.73))))  # DejaVu's cap height is about 0.73 em
    advance = font.getlength("0") * spacing
    border = max(1, int(round(h * 0.05)))
    margin = 0.35 * h
    band_w = int(round(0.42 * h)) if band else 0
    gap = 0.45 * advance if len(text) > GAP_AFTER else 0.0
    w = int(np.ceil(band_w + 2 * margin + advance * len(text) + gap))

    img = np.empty((h, w, 3), np.uint8)
    img[:] = PLATE_COLOURS[colour]
    if band:
        img[:, :band_w] = BAND_COLOUR
    # ink of each character drawn on its own layer: the masks are exact and disjoint
    top, bottom = font.getbbox("H")[1], font.getbbox("H")[3]
    y_text = (h - (bottom - top)) / 2 - top
    char_mask = np.zeros((h, w), np.uint8)
    alpha = np.zeros((h, w), np.float32)
    boxes = np.zeros((len(text), 4), np.float32)
    x = band_w + margin
    for i, c in enumerate(text):
        if i == GAP_AFTER:
            x += gap
        layer = Image.new("L", (w, h), 0)
        ImageDraw.Draw(layer).text((x + (advance - font.getlength(c)) / 2, y_text), c, fill=255, font=font)
        a = np.asarray(layer, np.float32) / 255.0
        own = (a >= 0.5) & (char_mask == 0)
        char_mask[own] = i + 1
        ys, xs = np.nonzero(own)
        if len(xs) == 0:
            raise ValueError(f"character {c!r} of {text!r} left no ink at height {h}: use a larger height")
        boxes[i] = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        alpha = np.maximum(alpha, a)
        x += advance
    img = (img * (1 - alpha[..., None]) + ink * alpha[..., None]).round().astype(np.uint8)
    # border: a dark frame just inside the edge
    img[:border], img[-border:], img[:, :border], img[:, -border:] = ink, ink, ink, ink
    return Plate(img, boxes, char_mask, text)


# ----------------------------------------------------------------------------- geometry


def _pixel_homography(src_corners, dst_corners) -> np.ndarray:
    """The 3×3 matrix ``cv2.warpPerspective`` needs (it maps pixel *centres* at integer
    coordinates) for the homography taking ``src_corners`` to ``dst_corners`` (continuous frame)."""
    import cv2

    h = cv2.getPerspectiveTransform(np.float32(src_corners), np.float32(dst_corners)).astype(np.float64)
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    unshift = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    return unshift @ h @ shift


def apply_homography(matrix, points) -> np.ndarray:
    """Map ``(..., 2)`` points through a 3×3 homography; returns float32 of the same shape."""
    p = np.asarray(points, np.float64)
    flat = p.reshape(-1, 2)
    q = np.c_[flat, np.ones(len(flat))] @ np.asarray(matrix, np.float64).T
    return (q[:, :2] / q[:, 2:3]).reshape(p.shape).astype(np.float32)


def _rect_corners(w: float, h: float) -> np.ndarray:
    return np.float32([[0, 0], [w, 0], [w, h], [0, h]])


def box_corners(boxes) -> np.ndarray:
    """``(N, 4)`` xyxy boxes → ``(N, 4, 2)`` corner polygons in :data:`CORNER_ORDER`."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    return np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]]], axis=1)


def corners_to_box(corners) -> np.ndarray:
    """``(4, 2)`` (or ``(N, 4, 2)``) corners → the enclosing xyxy box(es), float32."""
    c = np.asarray(corners, np.float32)
    return np.concatenate([c.min(axis=-2), c.max(axis=-2)], axis=-1)


def rectify(image: np.ndarray, corners, out_size: tuple[int, int] = (32, 144)) -> np.ndarray:
    """Warp the quadrilateral ``corners`` (``(4, 2)`` xy, :data:`CORNER_ORDER`, continuous frame)
    of ``image`` (``(H, W)`` or ``(H, W, C)``) to a flat ``out_size = (height, width)`` rectangle
    (``8_1``). Returns an array of ``image``'s dtype, shape ``(height, width[, C])``."""
    import cv2

    corners = np.asarray(corners, np.float32)
    if corners.shape != (4, 2):
        raise ValueError(f"corners must have shape (4, 2), got {corners.shape}")
    oh, ow = int(out_size[0]), int(out_size[1])
    if oh < 1 or ow < 1:
        raise ValueError(f"out_size must be (height, width) > 0, got {out_size}")
    m = _pixel_homography(corners, _rect_corners(ow, oh))
    return cv2.warpPerspective(np.asarray(image), m, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def order_corners(points) -> np.ndarray:
    """Order four plate corners as top-left, top-right, bottom-right, bottom-left (the course's
    reference of ``8_1``'s exercise): the two left-most points are the left side, each side's upper
    point comes first. Works for plates tilted by less than 45°. ``(4, 2)`` → ``(4, 2)`` float32."""
    p = np.asarray(points, np.float32)
    if p.shape != (4, 2):
        raise ValueError(f"points must have shape (4, 2), got {p.shape}")
    by_x = p[np.argsort(p[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1], kind="stable")]
    tr, br = right[np.argsort(right[:, 1], kind="stable")]
    return np.stack([tl, tr, br, bl]).astype(np.float32)


# ----------------------------------------------------------------------------- scenes


@dataclass
class PlateScene:
    """One synthetic scene with a licence plate (:func:`plate_scene`).

    - ``image``: ``(size, size, 3)`` uint8 RGB;
    - ``plate_box``: ``(4,)`` float32 xyxy, the box enclosing the plate's four corners;
    - ``corners``: ``(4, 2)`` float32 xy of the plate's outer corners, :data:`CORNER_ORDER`;
    - ``char_boxes``: ``(N, 4)`` float32 xyxy, enclosing each character's warped box;
    - ``char_polygons``: ``(N, 4, 2)`` float32, each character's box in the plate mapped into the scene;
    - ``char_mask``: ``(size, size)`` uint8, 0 = background, ``i + 1`` = ink of character ``i`` (nearest warp);
    - ``text``: the plate text; ``plate_shape``: ``(h, w)`` of the flat plate as rendered;
    - ``plate_char_boxes``: ``(N, 4)`` float32 character boxes in the flat plate (``rectify(image,
      corners, plate_shape)`` brings the scene's plate back to that frame).
    """

    image: np.ndarray
    plate_box: np.ndarray
    corners: np.ndarray
    char_boxes: np.ndarray
    char_polygons: np.ndarray
    char_mask: np.ndarray
    text: str
    plate_shape: tuple[int, int]
    plate_char_boxes: np.ndarray


@functools.lru_cache(maxsize=None)
def _scene_photo(name: str) -> np.ndarray:
    """A package photo, shrunk so that its shorter side is at most 256 pixels (fast crops)."""
    import cv2

    img = data._background(name)
    f = 256 / min(img.shape[:2])
    if f < 1:
        img = cv2.resize(img, (round(img.shape[1] * f), round(img.shape[0] * f)), interpolation=cv2.INTER_AREA)
    img = np.ascontiguousarray(img)
    img.setflags(write=False)
    return img


def _car_rear(rng, canvas: np.ndarray, plate_c: tuple[float, float], plate_w: float) -> None:
    """Paint a car's rear around the plate centre (in place): body in a paint colour modulated by
    a photo texture, rear window, tail lights, bumper line."""
    import cv2

    size = canvas.shape[0]
    cx, cy = plate_c
    body_w = plate_w * rng.uniform(2.2, 3.6)
    x0, x1 = int(cx - body_w / 2), int(cx + body_w / 2)
    y0 = int(cy - plate_w * rng.uniform(0.7, 1.3))
    y1 = int(cy + plate_w * rng.uniform(0.35, 0.7))
    paint = rng.uniform(20, 235, size=3) if rng.random() < 0.8 else np.full(3, rng.uniform(20, 235))
    tex = data.random_crop(rng, _scene_photo(SCENE_PHOTOS[rng.integers(len(SCENE_PHOTOS))]), size).mean(axis=2)
    tex = 1.0 + 0.25 * (tex - tex.mean()) / (tex.std() + 1e-6) * rng.uniform(0.1, 0.6)
    body = np.zeros((size, size), np.uint8)
    r = max(2, int(plate_w * 0.25))
    cv2.rectangle(body, (x0 + r, y0), (x1 - r, y1), 1, -1)
    cv2.rectangle(body, (x0, y0 + r), (x1, y1 - r), 1, -1)
    for px, py in [(x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)]:
        cv2.circle(body, (px, py), r, 1, -1)
    shade = np.clip(paint[None, None] * tex[..., None], 0, 255)
    m = body.astype(bool)
    canvas[m] = shade[m].astype(np.uint8)
    # rear window above the plate, darker
    wy1 = int(cy - plate_w * rng.uniform(0.35, 0.55))
    if wy1 - y0 > 4:
        win = np.array([[x0 + body_w * 0.18, wy1], [x1 - body_w * 0.18, wy1],
                        [x1 - body_w * 0.28, y0 + 2], [x0 + body_w * 0.28, y0 + 2]], np.int32)
        cv2.fillPoly(canvas, [win], tuple(int(v) for v in rng.uniform(10, 70, size=3)))
    # tail lights on both sides, level with the plate
    light = tuple(int(v) for v in (rng.uniform(150, 255), rng.uniform(0, 60), rng.uniform(0, 50)))
    lw, lh = plate_w * rng.uniform(0.25, 0.45), plate_w * rng.uniform(0.12, 0.25)
    ly = cy - plate_w * rng.uniform(0.15, 0.4)
    for lx in (x0 + body_w * 0.06, x1 - body_w * 0.06 - lw):
        cv2.rectangle(canvas, (int(lx), int(ly)), (int(lx + lw), int(ly + lh)), light, -1)
    # bumper line under the plate
    by = int(cy + plate_w * rng.uniform(0.2, 0.3))
    cv2.line(canvas, (x0, by), (x1, by), tuple(int(v * 0.5) for v in paint), max(1, int(plate_w * 0.04)))


def _distractor(rng, canvas: np.ndarray, plate_box: np.ndarray) -> None:
    """A light plate-like rectangle (a sign, a sticker) or a patch of printed text, away from the plate."""
    import cv2

    size = canvas.shape[0]
    w = rng.uniform(0.15, 0.45) * size
    h = w / rng.uniform(1.5, 5.0)
    for _ in range(10):
        x, y = rng.uniform(0, size - w), rng.uniform(0, size - h)
        if x > plate_box[2] + 2 or x + w < plate_box[0] - 2 or y > plate_box[3] + 2 or y + h < plate_box[1] - 2:
            break
    else:
        return
    x0, y0, x1, y1 = int(x), int(y), int(x + w), int(y + h)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return
    if rng.random() < 0.5:
        patch = data.random_crop(rng, _text_photo(), max(x1 - x0, y1 - y0))[: y1 - y0, : x1 - x0]
        canvas[y0:y1, x0:x1] = patch
    else:
        cv2.rectangle(canvas, (x0, y0), (x1, y1), tuple(int(v) for v in rng.uniform(180, 250, size=3)), -1)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), (20, 20, 20), 1)


@functools.lru_cache(maxsize=1)
def _text_photo() -> np.ndarray:
    from skimage import data as skdata

    page = skdata.page()
    img = np.repeat(page[..., None], 3, axis=2)
    img.setflags(write=False)
    return img


def plate_scene(rng: np.random.Generator, size: int = 128, plate_width: tuple[float, float] = (0.3, 0.6),
                max_tilt: float = 10.0, max_skew: float = 0.08, car_probability: float = 0.8,
                distractor_probability: float = 0.5, max_blur: float = 1.0, max_noise: float = 6.0,
                text: str | None = None) -> PlateScene:
    """One scene: a rendered plate perspective-warped onto a car's rear (or a bare photo crop).

    The background is a random crop of a package photo (:data:`SCENE_PHOTOS`); with probability
    ``car_probability`` a car's rear is painted around the plate (body with photo texture, window,
    tail lights, bumper). The plate's width is ``plate_width`` × ``size`` (uniform), it is rotated by
    up to ``max_tilt`` degrees and each corner moves by up to ``max_skew`` × its width (perspective).
    Then a lighting gradient, a Gaussian blur (sigma up to ``max_blur``) and Gaussian noise (std up to
    ``max_noise``). Everything is drawn from ``rng``: the same generator state gives the same scene.
    Returns a :class:`PlateScene` (shapes and conventions there and in the module docstring).
    """
    import cv2

    if size < 48:
        raise ValueError(f"size must be at least 48 pixels, got {size}")
    lo, hi = plate_width
    if not 0 < lo <= hi <= 0.9:
        raise ValueError(f"plate_width must be 0 < low <= high <= 0.9 (fractions of size), got {plate_width}")
    text = random_plate_text(rng) if text is None else text
    pw = rng.uniform(lo, hi) * size
    # render at about the size it will have in the scene (no aliasing from a strong downscale)
    probe = 4.7  # approximate width/height of a plate with band; exact below
    plate = render_plate(text, rng, height=max(10, int(round(pw / probe * 1.25))))
    ph, pwid = plate.image.shape[:2]
    aspect = pwid / ph
    ph_scene = pw / aspect

    # destination corners: centred rectangle, rotated, then each corner jittered
    angle = np.deg2rad(rng.uniform(-max_tilt, max_tilt))
    rect = _rect_corners(pw, ph_scene) - np.float32([pw / 2, ph_scene / 2])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    quad = rect @ rot.T + rng.uniform(-max_skew, max_skew, size=(4, 2)).astype(np.float32) * pw
    margin = 2
    cx = rng.uniform(margin - quad[:, 0].min(), size - margin - quad[:, 0].max())
    cy = rng.uniform(margin - quad[:, 1].min(), size - margin - quad[:, 1].max())
    corners = (quad + np.float32([cx, cy])).astype(np.float32)

    canvas = data.random_crop(rng, _scene_photo(SCENE_PHOTOS[rng.integers(len(SCENE_PHOTOS))]), size).copy()
    plate_box = corners_to_box(corners)
    if rng.random() < car_probability:
        _car_rear(rng, canvas, (float(cx), float(cy)), float(pw))
    if rng.random() < distractor_probability:
        _distractor(rng, canvas, plate_box)

    m = _pixel_homography(_rect_corners(pwid, ph), corners)
    warped = cv2.warpPerspective(plate.image, m, (size, size), flags=cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(np.ones((ph, pwid), np.float32), m, (size, size), flags=cv2.INTER_LINEAR)
    char_mask = cv2.warpPerspective(plate.char_mask, m, (size, size), flags=cv2.INTER_NEAREST)
    img = canvas.astype(np.float32) * (1 - alpha[..., None]) + warped.astype(np.float32) * alpha[..., None]

    # lighting: a linear gradient in a random direction, then blur and noise
    theta = rng.uniform(0, 2 * np.pi)
    ramp = np.arange(size, dtype=np.float32) / size - 0.5
    slope = np.float32(rng.uniform(0, 0.5))
    gain = np.float32(rng.uniform(0.7, 1.15)) + slope * (np.float32(np.cos(theta)) * ramp[None, :]
                                                        + np.float32(np.sin(theta)) * ramp[:, None])
    img = img * gain[..., None]
    sigma = rng.uniform(0, max_blur)
    if sigma > 0.2:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img = img + rng.standard_normal(img.shape, dtype=np.float32) * np.float32(rng.uniform(0, max_noise))
    image = np.clip(img, 0, 255).round().astype(np.uint8)

    # character boxes of the flat plate mapped by the continuous-frame homography
    polygons = apply_homography(cv2.getPerspectiveTransform(_rect_corners(pwid, ph), corners),
                                box_corners(plate.char_boxes))
    char_boxes = np.clip(corners_to_box(polygons), 0, size).astype(np.float32)
    return PlateScene(image=image, plate_box=np.clip(plate_box, 0, size).astype(np.float32), corners=corners,
                      char_boxes=char_boxes, char_polygons=polygons, char_mask=char_mask, text=text,
                      plate_shape=(ph, pwid), plate_char_boxes=plate.char_boxes.copy())


def make_scenes(n: int, seed: int, size: int = 128, **kwargs) -> list[PlateScene]:
    """``n`` scenes; scene ``i`` uses ``np.random.default_rng([seed, i])``, so it does not depend on
    ``n`` (the first 10 of 100 scenes are the 10 scenes of ``make_scenes(10, seed)``). ``kwargs`` go
    to :func:`plate_scene`."""
    if int(n) < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return [plate_scene(np.random.default_rng([int(seed), i]), size=size, **kwargs) for i in range(int(n))]


def stack_scenes(scenes: list[PlateScene]) -> dict[str, np.ndarray]:
    """Arrays of a list of scenes: ``images`` ``(N, S, S, 3)`` uint8, ``boxes`` ``(N, 4)`` float32,
    ``corners`` ``(N, 4, 2)`` float32, ``texts`` ``(N,)`` str."""
    return {"images": np.stack([s.image for s in scenes]),
            "boxes": np.stack([s.plate_box for s in scenes]).astype(np.float32),
            "corners": np.stack([s.corners for s in scenes]).astype(np.float32),
            "texts": np.array([s.text for s in scenes])}


# ----------------------------------------------------------------------------- classical baselines

HAAR_CASCADE = "haarcascade_russian_plate_number.xml"
"""OpenCV's Russian plate cascade (ships in ``cv2.data``): the classical baseline of ``8_1``. It is a
trained (pretrained) model: it appears only as the baseline the course's own detector must beat."""


def haar_plates(image: np.ndarray, upscale: float = 1.0, scale_factor: float = 1.1, min_neighbors: int = 3,
                cascade=None):
    """Plates found by OpenCV's Russian plate Haar cascade (``8_1``'s first baseline).

    ``image``: RGB ``(H, W, 3)`` uint8; ``upscale``: the image is enlarged this much first (the
    cascade's smallest window is 60×20 pixels, larger than most plates in a 128×128 scene).
    Returns ``(boxes (N, 4) float32 xyxy in image pixels, scores (N,) float32)``: the score is the
    cascade's level weight (its confidence at the last stage).
    """
    import cv2

    if cascade is None:
        cascade = _cascade()
    gray = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2GRAY) if np.ndim(image) == 3 else np.asarray(image)
    if upscale != 1:
        gray = cv2.resize(gray, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    rects, _, weights = cascade.detectMultiScale3(gray, scaleFactor=scale_factor, minNeighbors=min_neighbors,
                                                  outputRejectLevels=True)
    if len(rects) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    b = np.asarray(rects, np.float32).reshape(-1, 4)
    b[:, 2:] += b[:, :2]
    return b / np.float32(upscale), np.asarray(weights, np.float32).reshape(-1)


@functools.lru_cache(maxsize=1)
def _cascade():
    import cv2

    path = Path(cv2.data.haarcascades) / HAAR_CASCADE
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise FileNotFoundError(f"{path} did not load: reinstall opencv-contrib-python-headless")
    return cascade


def edge_plates(image: np.ndarray, aspect: tuple[float, float] = (2.0, 7.0), min_area: float = 0.004,
                max_area: float = 0.3, kernel: tuple[int, int] = (9, 3)):
    """Plate candidates from vertical edges and morphology (``8_1``'s second baseline).

    Characters make dense vertical edges: horizontal Sobel on the gray image, Otsu threshold, a closing
    with a wide ``kernel`` (width, height) that merges a plate's characters into one blob, an opening
    that removes thin lines, then the external contours whose bounding box has a width/height ratio in
    ``aspect`` and an area between ``min_area`` and ``max_area`` of the image. Scores: the fraction of
    edge pixels in the box (denser = more plate-like). Returns ``(boxes (N, 4) float32 xyxy, scores (N,))``.
    """
    import cv2

    img = np.asarray(image)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    gray = cv2.GaussianBlur(gray, (3, 3), 0)
    edges = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3))
    edges = np.uint8(np.clip(edges / max(edges.max(), 1e-6) * 255, 0, 255))
    _, binary = cv2.threshold(edges, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    closed = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, kernel))
    opened = cv2.morphologyEx(closed, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    contours, _ = cv2.findContours(opened, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    area = gray.shape[0] * gray.shape[1]
    boxes, scores = [], []
    for c in contours:
        x, y, w, h = cv2.boundingRect(c)
        if h == 0 or not (aspect[0] <= w / h <= aspect[1]) or not (min_area <= w * h / area <= max_area):
            continue
        boxes.append([x, y, x + w, y + h])
        scores.append(float((binary[y:y + h, x:x + w] > 0).mean()))
    order = np.argsort(-np.asarray(scores), kind="stable")
    return np.asarray(boxes, np.float32).reshape(-1, 4)[order], np.asarray(scores, np.float32)[order]


# ----------------------------------------------------------------------------- the course's detector

DETECTOR_CHANNELS = ("plate", "top-left", "top-right", "bottom-right", "bottom-left")
"""The detector's heat channels: the plate's box, then one per corner (a small box centred on it)."""
CORNER_BOX = 6.0
"""Side in pixels of the small box each corner is trained as (its centre is the corner)."""


def detector_targets(boxes, corners, image_size: int = 128, stride: int = 4, corner_box: float = CORNER_BOX):
    """CenterNet targets (``utils.heatmaps.box_targets``) for plates and their corners: one list entry per
    image, ``boxes[i]`` ``(K, 4)`` (or ``(4,)``) xyxy and ``corners[i]`` ``(K, 4, 2)`` (or ``(4, 2)``).
    Returns float32 ``(N, S/stride, S/stride, 5 + 5)``: channel 0 is the plate, 1..4 the corners."""
    from utils import heatmaps

    if len(boxes) != len(corners):
        raise ValueError(f"detector_targets: {len(boxes)} box entries but {len(corners)} corner entries")
    bl, cl = [], []
    for b, c in zip(boxes, corners):
        b = np.asarray(b, np.float32).reshape(-1, 4)
        c = np.asarray(c, np.float32).reshape(-1, 4, 2)
        if len(b) != len(c):
            raise ValueError(f"detector_targets: {len(b)} plates but {len(c)} sets of corners in one image")
        half = corner_box / 2
        cb = np.concatenate([c - half, c + half], axis=2).reshape(-1, 4)
        bl.append(np.vstack([b, cb]))
        cl.append(np.concatenate([np.zeros(len(b), int), np.tile(np.arange(1, 5), len(b))]))
    return heatmaps.box_targets_batch(bl, cl, (image_size, image_size), len(DETECTOR_CHANNELS), stride)


def plate_detector(image_size: int = 128, width: int = 8, stride: int = 4, pool: int = 2):
    """The course's plate detector: ``utils.heatmaps.centernet`` with 5 heat channels
    (:data:`DETECTOR_CHANNELS`), trained from scratch. Input ``(B, S, S, 3)`` float in 0..1, output
    ``(B, S/stride, S/stride, 5 + 4)``. ``pool > 1`` averages the image over ``pool × pool`` pixels first and
    runs the CenterNet at ``stride / pool`` on the smaller image: the same output grid for fewer operations."""
    import keras

    from utils import heatmaps

    if pool == 1:
        return heatmaps.centernet((image_size, image_size, 3), len(DETECTOR_CHANNELS), width=width, stride=stride,
                                  name="plate_detector")
    if pool not in (2, 4) or stride % pool or image_size % (16 * pool):
        raise ValueError(f"pool must be 2 or 4, divide stride ({stride}) and leave an image size divisible by 16; "
                         f"got pool={pool}, image_size={image_size}")
    inner = heatmaps.centernet((image_size // pool, image_size // pool, 3), len(DETECTOR_CHANNELS), width=width,
                               stride=stride // pool, name="centernet")
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = keras.layers.AveragePooling2D(pool, name="pool")(inputs)
    return keras.Model(inputs, inner(x), name="plate_detector")


def train_plate_detector(scenes: list[PlateScene] | None = None, n: int = 1000, seed: int = 100,
                         image_size: int = 128, epochs: int = 10, width: int = 8, batch_size: int = 16,
                         learning_rate: float = 3e-3, verbose: int = 0, model=None, pool: int = 2,
                         corner_box: float = CORNER_BOX):
    """Train :func:`plate_detector` from scratch on synthetic scenes (``8_1``; ``8_2`` calls it when
    8_1's saved detector is missing). ``scenes`` default to ``make_scenes(n, seed, image_size)``; Adam,
    CenterNet's loss; ``corner_box``: see :func:`detector_targets`.
    Returns ``(model, history)`` (``history``: Keras' dict of per-epoch losses)."""
    import keras

    from utils import heatmaps

    if scenes is None:
        scenes = make_scenes(n, seed, size=image_size)
    if not scenes:
        raise ValueError("train_plate_detector: no training scenes")
    if scenes[0].image.shape[:2] != (image_size, image_size):
        raise ValueError(f"scenes are {scenes[0].image.shape[:2]}, expected image_size {image_size}")
    x = np.stack([s.image for s in scenes]).astype(np.float32) / 255.0
    y = detector_targets([s.plate_box for s in scenes], [s.corners for s in scenes], image_size,
                         corner_box=corner_box)
    if model is None:
        model = plate_detector(image_size, width, pool=pool)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=heatmaps.centernet_loss)
    hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, shuffle=True)
    return model, hist.history


def _as_batch(model, images):
    import cv2

    size = int(model.input_shape[1])
    out, scales = [], []
    for img in images:
        img = np.asarray(img)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"detect_plates: expected RGB (H, W, 3) uint8 images, got {img.shape} {img.dtype}")
        h, w = img.shape[:2]
        if (h, w) != (size, size):
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA if max(h, w) > size else cv2.INTER_LINEAR)
        out.append(img)
        scales.append((w / size, h / size))
    return np.stack(out).astype(np.float32) / 255.0, scales


def decode_plates(output, stride: int = 4, score_threshold: float = 0.3, max_plates: int = 5,
                  corner_threshold: float = 0.05):
    """Plates from one image's detector output ``(S/4, S/4, 5 + 4)``: ``dict(boxes (N, 4) float32 xyxy,
    corners (N, 4, 2) float32, scores (N,) float32)`` in the network's input pixels, best first.

    Boxes: the plate channel's peaks (``utils.heatmaps.decode_boxes``). Corners: for each box and
    corner channel, the best corner peak inside the box enlarged by a quarter of its size on each side;
    where there is none, the box's own corner. When all four corners are found, the returned box is the
    box enclosing them (measured more precise than the regressed size)."""
    from utils import heatmaps

    boxes, scores, ids = heatmaps.decode_boxes(output, stride=stride, score_threshold=min(score_threshold,
                                               corner_threshold), max_detections=100)
    keep = (ids == 0) & (scores >= score_threshold)
    pb, ps = boxes[keep][:max_plates], scores[keep][:max_plates]
    corners = box_corners(pb) if len(pb) else np.zeros((0, 4, 2), np.float32)
    found = np.zeros((len(pb), 4), bool)
    for i, b in enumerate(pb):
        mx, my = (b[2] - b[0]) / 4, (b[3] - b[1]) / 4
        for k in range(1, 5):
            cand = boxes[ids == k]  # best first
            centres = (cand[:, :2] + cand[:, 2:]) / 2
            inside = ((centres[:, 0] >= b[0] - mx) & (centres[:, 0] <= b[2] + mx)
                      & (centres[:, 1] >= b[1] - my) & (centres[:, 1] <= b[3] + my))
            if inside.any():
                corners[i, k - 1] = centres[np.argmax(inside)]
                found[i, k - 1] = True
    # the corners are located more precisely than the regressed box size: with all four, their box is the plate's
    boxes_out = np.where(found.all(axis=1)[:, None], corners_to_box(corners), pb) if len(pb) else pb
    return {"boxes": np.asarray(boxes_out, np.float32).reshape(-1, 4), "corners": corners.astype(np.float32),
            "scores": ps.astype(np.float32)}


def detect_plates(model, images, score_threshold: float = 0.3, max_plates: int = 5, batch_size: int = 64):
    """Run the plate detector on one RGB ``(H, W, 3)`` uint8 image or a list of them (``8_1``, ``8_2``).

    Images of another size than the model's input are resized to it and the results scaled back.
    Returns, per image, ``dict(boxes (N, 4) float32 xyxy, corners (N, 4, 2) float32 in
    :data:`CORNER_ORDER`, scores (N,) float32)`` (a single dict for a single image)."""
    single = isinstance(images, np.ndarray) and images.ndim == 3
    batch = [images] if single else list(images)
    if not batch:
        return []
    x, scales = _as_batch(model, batch)
    out = model.predict(x, batch_size=batch_size, verbose=0)
    stride = int(model.input_shape[1]) // int(out.shape[1])
    results = []
    for o, (sx, sy) in zip(out, scales):
        r = decode_plates(o, stride, score_threshold, max_plates)
        r["boxes"] = r["boxes"] * np.float32([sx, sy, sx, sy])
        r["corners"] = r["corners"] * np.float32([sx, sy])
        results.append(r)
    return results[0] if single else results


def save_detector(model, path) -> Path:
    """Save a trained detector (Keras ``.keras`` file) atomically: a failed write leaves an existing file intact."""
    from utils.images import write_atomically

    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: the detector is saved as a .keras file")
    return write_atomically(path, model.save, keep_suffix=True)


def load_detector(path):
    """Load a detector saved by :func:`save_detector` (``8_2`` uses 8_1's); a clear error if it is missing."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run notebook 8_1 (it saves its detector there), "
                                "or train one with utils.plates.train_plate_detector()")
    return keras.models.load_model(path, compile=False)


# ----------------------------------------------------------------------------- a real set (full mode)


def read_openalpr_annotation(path) -> list[dict]:
    """Parse one annotation file of the openalpr ``benchmarks`` set (``endtoend/<region>/<name>.txt``).

    Each line is ``<image file>\\t<x>\\t<y>\\t<width>\\t<height>\\t<plate text>`` (pixels, top-left
    corner and size; the text may be missing). Returns one dict per plate: ``image`` (the file name),
    ``box`` ``(4,)`` float32 xyxy, ``text`` (str, possibly empty). Blank lines are skipped; a malformed
    line raises ``ValueError`` naming the file and line.
    """
    path = Path(path)
    plates_ = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        parts = [p.strip() for p in parts]
        try:
            x, y, w, h = (float(v) for v in parts[1:5])
        except (ValueError, IndexError):
            raise ValueError(f"{path}, line {n}: expected '<image>\\t<x>\\t<y>\\t<width>\\t<height>\\t<text>', "
                             f"got {line!r}") from None
        if w <= 0 or h <= 0:
            raise ValueError(f"{path}, line {n}: plate width and height must be positive, got {w} x {h}")
        plates_.append({"image": parts[0], "box": np.float32([x, y, x + w, y + h]),
                        "text": " ".join(parts[5:]).strip()})
    return plates_


def openalpr_set(folder, limit: int | None = None) -> list[dict]:
    """The openalpr benchmark photos under ``folder`` (e.g. ``data/openalpr/endtoend``; searched
    recursively): one dict per photo, ``path`` (Path), ``boxes`` ``(K, 4)`` float32 xyxy, ``texts``
    (list of str), sorted by path. Images are not loaded (:func:`utils.images.load_image` does).
    A missing folder or one without annotated photos raises ``FileNotFoundError`` with what to do."""
    folder = Path(folder)
    how = ("clone https://github.com/openalpr/benchmarks and copy (or link) its endtoend/ folder there "
           "(AGPL-3.0 data: keep it in data/, never commit it)")
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} does not exist: {how}")
    items = []
    for txt in sorted(folder.rglob("*.txt")):
        try:
            entries = read_openalpr_annotation(txt)
        except ValueError:
            continue  # README files and other text: not annotations
        if not entries:
            continue
        image = txt.parent / entries[0]["image"]
        if not image.is_file():
            continue
        items.append({"path": image, "boxes": np.stack([e["box"] for e in entries]).astype(np.float32),
                      "texts": [e["text"] for e in entries]})
        if limit is not None and len(items) >= limit:
            break
    if not items:
        raise FileNotFoundError(f"{folder} holds no annotated photos (<name>.jpg beside <name>.txt): {how}")
    return items
