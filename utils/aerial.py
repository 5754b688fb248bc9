"""Aerial images: tiny objects in large images, slicing, oriented boxes (``7_2``).

Three parts:

- **Synthetic scenes on real pixels** (fast mode): :func:`scene` shades matplotlib's elevation
  model of the Jacksboro fault (``jacksboro_fault_dem.npz``) into coloured terrain, multiplies in
  scikit-image's ``grass``/``gravel`` photos for texture, adds fields, roads, buildings and trees,
  then parks vehicles of 6-12 pixels (``car``, ``truck``) at random orientations, many in rows
  (parking lots, traffic on roads). :func:`write_aerial` writes a train and a test split made from
  **different seeds** as a YOLO folder through :mod:`utils.datasets`.
- **Slicing** (the SAHI idea): :func:`tile_windows` lists overlapping windows covering an image
  (the last one flush with the border), :func:`boxes_in_window` clips boxes to a window and drops
  the remnants of which too little is visible, :func:`cut_tiles` cuts a data set split into training
  tiles, :func:`sliced_predict` runs a detector on every tile, shifts the boxes back and merges them
  with per-class NMS (:func:`utils.detection.batched_nms`); :func:`downscaled_predict` is the baseline
  that shrinks the whole image to the detector's input.
- **Label formats of aerial sets**: DOTA's oriented boxes (:func:`read_dota`, :func:`dota_to_xyxy`,
  :func:`oriented_box`) and VisDrone-DET's CSV lines (:func:`read_visdrone`, :func:`visdrone_samples`).

Boxes are ``xyxy`` pixels with exclusive ends (:mod:`utils.detection`'s convention); class ids
are 0-based indices into :data:`CLASSES` (YOLO order).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from utils.annotations import AnnotationError, ImageAnnotation, Object, Problem

CLASSES = ["car", "truck"]
"""The synthetic scenes' classes, YOLO order (class id 0 = car, 1 = truck)."""

# ------------------------------------------------------------------------------ terrain


@functools.lru_cache(maxsize=1)
def _dem() -> np.ndarray:
    import matplotlib.cbook

    data = matplotlib.cbook.get_sample_data("jacksboro_fault_dem.npz")
    z = np.asarray(data["elevation"], dtype=np.float64)
    z.setflags(write=False)
    return z


@functools.lru_cache(maxsize=2)
def _texture(name: str) -> np.ndarray:
    from skimage import data as skdata

    t = getattr(skdata, name)().astype(np.float32)
    t = (t - t.mean()) / t.std()
    t.setflags(write=False)
    return t


def terrain(size: int = 512, seed: int = 0) -> np.ndarray:
    """Coloured, hill-shaded terrain ``(size, size, 3)`` uint8 from a random window of the
    Jacksboro fault elevation model (344 × 403 samples), with photo texture (``7_2``).

    The window (random position, side 120-220 samples, random flip and quarter turn) is
    shaded by :class:`matplotlib.colors.LightSource` with a random sun direction, coloured by
    elevation, upsampled to ``size`` and multiplied by a crop of scikit-image's ``grass`` or
    ``gravel`` photo. Same ``seed``, same pixels.
    """
    import cv2
    from matplotlib import colormaps
    from matplotlib.colors import LightSource

    rng = np.random.default_rng(seed)
    z = _dem()
    side = int(rng.integers(120, 221))
    y0, x0 = int(rng.integers(0, z.shape[0] - side)), int(rng.integers(0, z.shape[1] - side))
    win = np.rot90(z[y0:y0 + side, x0:x0 + side], int(rng.integers(4)))
    if rng.random() < 0.5:
        win = win[:, ::-1]
    ls = LightSource(azdeg=float(rng.uniform(0, 360)), altdeg=float(rng.uniform(35, 60)))
    norm = (win - win.min()) / max(np.ptp(win), 1.0)
    cmap = colormaps["gist_earth"]
    lo = float(rng.uniform(0.35, 0.45))  # the green-brown band of gist_earth
    rgb = ls.shade(lo + 0.3 * norm, cmap=cmap, blend_mode="soft", vert_exag=0.05, vmin=0, vmax=1)[..., :3]
    rgb = cv2.resize(rgb.astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    tex = _texture(["grass", "gravel"][int(rng.integers(2))])
    ty, tx = int(rng.integers(0, tex.shape[0] - min(size, tex.shape[0]) + 1)), int(rng.integers(0, tex.shape[1] - min(size, tex.shape[1]) + 1))
    t = cv2.resize(tex[ty:ty + size, tx:tx + size], (size, size))
    rgb = rgb * (1 + 0.07 * t[..., None])
    rgb = 0.7 * rgb + 0.3 * rgb.mean(axis=2, keepdims=True)  # less saturated, as seen through haze
    return np.clip(rgb * 255, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------ vehicles

_CAR_COLOURS = np.array([[30, 30, 35], [170, 30, 30], [40, 60, 150], [90, 90, 95], [200, 170, 60],
                         [150, 150, 160], [60, 110, 70]], float)  # no white: white long boxes are trucks here
_CAB_COLOURS = np.array([[200, 40, 30], [30, 80, 170], [240, 240, 240], [40, 120, 60]], float)


def _rect(cx, cy, length, width, angle) -> np.ndarray:
    """Corners ``(4, 2)`` of a rectangle centred at (cx, cy), long axis at ``angle`` radians,
    in DOTA order (clockwise on screen, starting at the front-left corner)."""
    c, s = np.cos(angle), np.sin(angle)
    u, v = np.array([c, s]) * length / 2, np.array([-s, c]) * width / 2
    centre = np.array([cx, cy], float)
    return np.stack([centre + u - v, centre + u + v, centre - u + v, centre - u - v])


def _fill(img, corners, colour) -> None:
    import cv2

    # box coordinates put pixel i on [i, i + 1) (its centre at i + 0.5); OpenCV puts its centre at i
    pts = np.round((np.asarray(corners) - 0.5) * 16).astype(np.int32)
    colour = tuple(float(c) for c in np.atleast_1d(colour))
    cv2.fillPoly(img, [pts], colour, lineType=cv2.LINE_AA, shift=4)


def _vehicle(rng, cls: int) -> tuple[float, float]:
    """(length, width) in pixels: cars 6-9 px long, trucks 10-11.5 px (their boxes stay within 12.5 px)."""
    if cls == 0:
        length = rng.uniform(6.0, 9.0)
        return length, length * rng.uniform(0.48, 0.56)
    length = rng.uniform(10.0, 11.5)
    return length, rng.uniform(4.2, 4.8)


def _draw_vehicle(img, shadow, cx, cy, length, width, angle, cls, rng, sun) -> np.ndarray:
    body = _rect(cx, cy, length, width, angle)
    _fill(shadow, body + sun, 1.0)
    u = np.array([np.cos(angle), np.sin(angle)])
    if cls == 0:
        colour = _CAR_COLOURS[int(rng.integers(len(_CAR_COLOURS)))] + rng.normal(0, 8, 3)
        _fill(img, body, np.clip(colour, 0, 255))
        # a dark windscreen a third of the way from the front
        wc = np.array([cx, cy]) + u * length * 0.15
        _fill(img, _rect(*wc, length * 0.16, width * 0.8, angle), (25, 30, 40))
    else:
        trailer = _rect(*(np.array([cx, cy]) - u * length * 0.13), length * 0.72, width, angle)
        cab = _rect(*(np.array([cx, cy]) + u * length * 0.37), length * 0.24, width * 0.9, angle)
        grey = float(rng.uniform(200, 250))
        _fill(img, trailer, (grey, grey, grey - rng.uniform(0, 15)))
        _fill(img, cab, _CAB_COLOURS[int(rng.integers(len(_CAB_COLOURS)))])
    return body


@dataclass
class Scene:
    """One synthetic aerial image: ``image`` ``(S, S, 3)`` uint8, ``boxes`` ``(N, 4)`` float
    ``xyxy`` (the vehicles' axis-aligned bounds, clipped to the image), ``class_ids`` ``(N,)``
    int (0 car, 1 truck), ``corners`` ``(N, 4, 2)`` float (the oriented boxes, DOTA corner order)."""

    image: np.ndarray
    boxes: np.ndarray
    class_ids: np.ndarray
    corners: np.ndarray


def scene(seed: int, size: int = 512, vehicles: tuple[int, int] = (25, 45)) -> Scene:
    """A deterministic aerial scene (``7_2``): :func:`terrain`, then fields, roads, buildings and
    trees, then ``vehicles`` (min, max) cars and trucks at random orientations, about half of them
    in rows (parking lots, queues on roads). Same ``seed``, same :class:`Scene`.
    Vehicles never overlap; buildings (16-40 px) and trees (4-10 px blobs) are distractors."""
    import cv2

    rng = np.random.default_rng([seed, size])
    img = terrain(size, int(rng.integers(2**31))).astype(np.float32)
    # fields: large polygons with a tint
    for _ in range(int(rng.integers(2, 6))):
        c = rng.uniform(0, size, 2)
        poly = c + rng.uniform(-size / 3, size / 3, (4, 2))
        layer = img.copy()
        _fill(layer, poly, img[int(np.clip(c[1], 0, size - 1)), int(np.clip(c[0], 0, size - 1))] * rng.uniform(0.75, 1.25, 3))
        img = 0.6 * img + 0.4 * layer
    # roads: straight strips across the image
    roads = []
    for _ in range(int(rng.integers(1, 4))):
        p, angle = rng.uniform(0.15 * size, 0.85 * size, 2), rng.uniform(0, np.pi)
        width = float(rng.uniform(9, 14))
        _fill(img, _rect(*p, 3 * size, width, angle), np.full(3, rng.uniform(95, 130)))
        roads.append((p, angle, width))
    # parking lots: paved rectangles that will hold rows of vehicles
    lots = []
    for _ in range(int(rng.integers(1, 3))):
        p, angle = rng.uniform(0.15 * size, 0.85 * size, 2), rng.uniform(0, np.pi)
        length, depth = rng.uniform(50, 90), rng.uniform(26, 34)
        _fill(img, _rect(*p, length, depth, angle), np.full(3, rng.uniform(110, 150)))
        lots.append((p, angle, length, depth))
    # buildings: bright or dark roofs with a shadow side
    for _ in range(int(rng.integers(3, 9))):
        p, angle = rng.uniform(0, size, 2), rng.uniform(0, np.pi)
        w, h = rng.uniform(16, 40, 2)
        _fill(img, _rect(*(p + 3), w, h, angle), img[int(p[1]) % size, int(p[0]) % size] * 0.45)
        _fill(img, _rect(*p, w, h, angle), np.full(3, rng.uniform(60, 230)) * rng.uniform(0.9, 1.1, 3))
    # trees: dark green blobs in small groups
    for _ in range(int(rng.integers(4, 12))):
        c = rng.uniform(0, size, 2)
        for _ in range(int(rng.integers(3, 12))):
            q = c + rng.normal(0, 10, 2)
            cv2.circle(img, (int(round((q[0] - 0.5) * 16)), int(round((q[1] - 0.5) * 16))), int(rng.uniform(2, 5) * 16),
                       (float(rng.uniform(20, 45)), float(rng.uniform(50, 80)), float(rng.uniform(20, 40))),
                       -1, cv2.LINE_AA, 4)
    # vehicles
    n_target = int(rng.integers(vehicles[0], vehicles[1] + 1))
    sun = rng.normal(0, 1, 2)
    sun = 1.0 * sun / np.linalg.norm(sun)  # shadows fall 1 px away from the sun
    placed: list[tuple[np.ndarray, float, float, float, int]] = []  # centre, length, width, angle, class

    def free(c, length) -> bool:
        if not (length <= c[0] <= size - length and length <= c[1] <= size - length):
            return False
        return all(np.hypot(*(c - q)) >= 0.5 * (length + ql) + 1.0 for q, ql, _, _, _ in placed)

    groups = []  # rows: (start, direction of the row, vehicle angle, count, spacing)
    for p, angle, length, depth in lots:
        along = np.array([np.cos(angle), np.sin(angle)])
        across = np.array([-np.sin(angle), np.cos(angle)])
        for side in (-1, 1):
            start = p + across * side * depth / 4 - along * length / 2 + along * 5
            groups.append((start, along, angle + np.pi / 2 + (np.pi if side > 0 else 0), int(length // 8), 8.0))
    for p, angle, width in roads:
        along = np.array([np.cos(angle), np.sin(angle)])
        lane = np.array([-np.sin(angle), np.cos(angle)]) * width / 4
        for _ in range(2):
            start = p + along * rng.uniform(-size / 2, size / 2) + lane * rng.choice([-1, 1])
            groups.append((start, along, angle, int(rng.integers(2, 6)), float(rng.uniform(14, 22))))
    rng.shuffle(groups)
    for start, direction, angle, count, spacing in groups:
        for k in range(count):
            if len(placed) >= n_target * 0.6 or rng.random() < 0.25:
                continue
            cls = int(rng.random() < 0.3)
            length, width = _vehicle(rng, cls)
            c = start + direction * k * spacing + rng.normal(0, 0.4, 2)
            if free(c, length):
                placed.append((c, length, width, angle + rng.normal(0, 0.05), cls))
    tries = 0
    while len(placed) < n_target and tries < 2000:
        tries += 1
        cls = int(rng.random() < 0.3)
        length, width = _vehicle(rng, cls)
        c = rng.uniform(0, size, 2)
        if free(c, length):
            placed.append((c, length, width, rng.uniform(0, 2 * np.pi), cls))
    shadow = np.zeros((size, size), np.float32)
    body_layer = img.copy()
    corners = []
    for c, length, width, angle, cls in placed:
        corners.append(_draw_vehicle(body_layer, shadow, c[0], c[1], length, width, angle, cls, rng, sun))
    vehicle_mask = np.zeros((size, size), np.float32)
    for cs in corners:
        _fill(vehicle_mask, cs, 1.0)
    img = img * (1 - 0.3 * np.clip(shadow, 0, 1)[..., None])
    img = img * (1 - vehicle_mask[..., None]) + body_layer * vehicle_mask[..., None]
    img = img + rng.normal(0, 3.0, img.shape)  # sensor noise
    corners = np.asarray(corners, float).reshape(-1, 4, 2)
    boxes = dota_to_xyxy(corners, (size, size))
    ids = np.array([p[4] for p in placed], int)
    return Scene(np.clip(np.rint(img), 0, 255).astype(np.uint8), boxes, ids, corners)


def scene_samples(n: int, seed: int, size: int = 512, prefix: str = "aerial"):
    """``n`` scenes as :class:`utils.datasets.Sample` objects named ``<prefix>_<seed>_<i>.png``;
    image ``i`` is ``scene(seed * 100_000 + i)`` (``7_2``). Each object keeps its oriented box
    as its one polygon (4 corners)."""
    from utils.datasets import Sample

    out = []
    for i in range(n):
        s = scene(seed * 100_000 + i, size)
        objs = [Object(CLASSES[c], b, polygons=[cs]) for b, c, cs in zip(s.boxes, s.class_ids, s.corners)]
        out.append(Sample(ImageAnnotation(f"{prefix}_{seed}_{i:04d}.png", size, size, objs), s.image))
    return out


def write_aerial(root, train_images: int, test_images: int, train_seed: int, test_seed: int,
                 size: int = 512, overwrite: bool = False):
    """Write the synthetic aerial set as a YOLO folder (``7_2``): ``train`` from ``train_seed``,
    ``test`` from ``test_seed`` (they must differ: the test images are never seen in training).
    Returns the folder read back and validated (:func:`utils.datasets.read_dataset`)."""
    from utils import datasets

    if train_seed == test_seed:
        raise ValueError(f"train_seed and test_seed are both {train_seed}: the test images must come from "
                         "a seed never used for training")
    splits = {"train": scene_samples(train_images, train_seed, size),
              "test": scene_samples(test_images, test_seed, size)}
    datasets.write_dataset(root, splits, CLASSES, overwrite=overwrite)
    return datasets.read_dataset(root)


# ------------------------------------------------------------------------------ slicing


def tile_starts(length: int, tile: int, step: int) -> list[int]:
    """Start offsets of windows of ``tile`` pixels every ``step`` pixels along ``length`` pixels:
    ``0, step, 2 step, ...`` while the window fits, then one last window flush with the end
    (``length - tile``) if the image is not covered yet. ``length <= tile`` gives ``[0]``."""
    if tile <= 0 or step <= 0:
        raise ValueError(f"tile={tile}, step={step}: expected positive integers")
    if step > tile:
        raise ValueError(f"step={step} > tile={tile}: the windows would leave gaps")
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, step))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def tile_windows(image_size, tile: int, step: int | None = None, overlap: float | None = None) -> np.ndarray:
    """Windows covering a whole image, row by row (``7_2``).

    Args:
        image_size: ``(H, W)`` or one int for a square image.
        tile: window side in pixels.
        step: pixels between window starts; or ``overlap``, the fraction of a tile shared by
            neighbours (``step = tile - round(overlap * tile)``, SAHI's ``overlap_ratio``).

    Returns ``(N, 4)`` int64 ``xyxy`` windows, top-left first, x fastest. Every pixel is in at least
    one window; the last window of each row/column ends exactly at the border (so it may overlap
    its neighbour more). An image smaller than ``tile`` gives windows that extend past it
    (:func:`cut_tile` pads them).
    """
    if (step is None) == (overlap is None):
        raise ValueError("tile_windows: give exactly one of step= (pixels) or overlap= (fraction of a tile)")
    if overlap is not None:
        if not 0 <= overlap < 1:
            raise ValueError(f"overlap={overlap}: expected a fraction in [0, 1)")
        step = tile - int(round(overlap * tile))
    h, w = (image_size, image_size) if np.isscalar(image_size) else tuple(int(v) for v in image_size[:2])
    ys, xs = tile_starts(h, tile, step), tile_starts(w, tile, step)
    return np.array([[x, y, x + tile, y + tile] for y in ys for x in xs], dtype=np.int64)


def boxes_in_window(boxes, window, min_visible: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The boxes a window shows, in the window's coordinates (``7_2``).

    Each ``xyxy`` box is clipped to the window; it is kept when the clipped part holds at least
    ``min_visible`` of its area (a sliver of a car cut by the tile border is not a car to learn).
    Returns ``(boxes (M, 4) float, relative to the window's top-left corner, indices (M,) int64
    of the kept boxes)``.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x1, y1, x2, y2 = (float(v) for v in window)
    clipped = np.stack([np.clip(b[:, 0], x1, x2), np.clip(b[:, 1], y1, y2),
                        np.clip(b[:, 2], x1, x2), np.clip(b[:, 3], y1, y2)], axis=1)
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    seen = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = np.flatnonzero((area > 0) & (seen > 0) & (seen >= min_visible * area - 1e-9))
    return clipped[keep] - [x1, y1, x1, y1], keep.astype(np.int64)


def cut_tile(image: np.ndarray, window) -> np.ndarray:
    """The pixels of ``window`` (``xyxy`` ints), zero-padded where it extends past the image."""
    x1, y1, x2, y2 = (int(v) for v in window)
    out = np.zeros((y2 - y1, x2 - x1) + image.shape[2:], image.dtype)
    part = image[max(y1, 0):y2, max(x1, 0):x2]
    out[max(-y1, 0):max(-y1, 0) + part.shape[0], max(-x1, 0):max(-x1, 0) + part.shape[1]] = part
    return out


def cut_tiles(ds, split: str, tile: int, step: int, min_visible: float = 0.5, keep_empty: float = 0.25,
              seed: int = 0, clip: Callable | None = None):
    """Training tiles from a YOLO data set split on disk (``7_2``).

    Every image of ``ds.splits[split]`` (a :class:`utils.datasets.YoloDataset` read by
    :func:`utils.datasets.read_dataset`) is loaded, cut along :func:`tile_windows` and each tile's
    boxes taken by :func:`boxes_in_window`. Tiles without any object are kept with probability
    ``keep_empty`` (seeded), so the detector still sees plain background. ``clip`` replaces
    :func:`boxes_in_window` (the notebook passes the student's own).

    Returns ``(tiles (N, tile, tile, 3) uint8, boxes [ (K, 4) float ], class_ids [ (K,) int ])``,
    class ids 0-based in ``ds.names``.
    """
    from utils.images import load_image

    rng = np.random.default_rng(seed)
    clip = clip or boxes_in_window
    tiles, all_boxes, all_ids = [], [], []
    for sample in ds.splits[split]:
        image = sample.image if isinstance(sample.image, np.ndarray) else load_image(sample.image)
        ann = sample.annotation
        boxes = np.array([o.bbox for o in ann.objects]).reshape(-1, 4)
        ids = np.array([ds.names.index(o.label) for o in ann.objects], int)
        for window in tile_windows(image.shape[:2], tile, step):
            b, keep = clip(boxes, window, min_visible)
            if len(keep) == 0 and rng.random() >= keep_empty:
                continue
            tiles.append(cut_tile(image, window))
            all_boxes.append(b)
            all_ids.append(ids[keep])
    return np.stack(tiles), all_boxes, all_ids


Detections = tuple[np.ndarray, np.ndarray, np.ndarray]
"""``(boxes (N, 4) xyxy float, scores (N,), class_ids (N,) int)`` in one image's pixels."""


def sliced_predict(image: np.ndarray, predict: Callable[[np.ndarray], list[Detections]], tile: int, step: int,
                   iou_threshold: float = 0.5, batch_size: int = 64, max_detections: int = 300) -> Detections:
    """Sliced inference (SAHI's idea, ``7_2``): cut ``image`` ``(H, W, 3)`` along
    :func:`tile_windows`, call ``predict(tiles (B, tile, tile, 3) uint8)`` (one
    :data:`Detections` per tile, in tile pixels), shift every box by its window's corner, and
    merge the lot with per-class NMS (:func:`utils.detection.batched_nms`): an object seen by
    two overlapping tiles is reported once."""
    from utils.detection import batched_nms

    windows = tile_windows(image.shape[:2], tile, step)
    boxes, scores, ids = [np.zeros((0, 4))], [np.zeros(0)], [np.zeros(0, int)]
    for start in range(0, len(windows), batch_size):
        chunk = windows[start:start + batch_size]
        results = predict(np.stack([cut_tile(image, w) for w in chunk]))
        for w, (b, s, c) in zip(chunk, results):
            boxes.append(np.asarray(b, float).reshape(-1, 4) + [w[0], w[1], w[0], w[1]])
            scores.append(np.asarray(s, float).reshape(-1))
            ids.append(np.asarray(c, int).reshape(-1))
    boxes, scores, ids = np.concatenate(boxes), np.concatenate(scores), np.concatenate(ids)
    h, w = image.shape[:2]
    boxes = np.clip(boxes, 0, [w, h, w, h])
    keep = batched_nms(boxes, scores, ids, iou_threshold, max_detections)
    return boxes[keep], scores[keep], ids[keep]


def downscaled_predict(image: np.ndarray, predict: Callable[[np.ndarray], list[Detections]], size: int) -> Detections:
    """The baseline (``7_2``): shrink the whole ``image`` to ``size`` × ``size`` (area
    interpolation), run ``predict`` once on it and scale the boxes back to the image's pixels."""
    import cv2

    h, w = image.shape[:2]
    small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    b, s, c = predict(small[None])[0]
    scale = np.array([w / size, h / size, w / size, h / size])
    return np.asarray(b, float).reshape(-1, 4) * scale, np.asarray(s, float), np.asarray(c, int)


# ------------------------------------------------------------------------------ DOTA


@dataclass
class DotaObject:
    """One DOTA label line: ``corners`` ``(4, 2)`` float (x, y) in the file's order, the
    ``label`` (class name) and ``difficult`` (0 or 1)."""

    corners: np.ndarray
    label: str
    difficult: int


def parse_dota(text: str, where: str = "DOTA labels") -> tuple[list[DotaObject], dict[str, str]]:
    """Parse DOTA label text (``7_2``): one object per line,
    ``x1 y1 x2 y2 x3 y3 x4 y4 category difficult`` (the four corners of an oriented box, clockwise,
    pixels), after optional header lines ``key:value`` (``imagesource:GoogleEarth``, ``gsd:0.146``;
    DOTA v1.5 adds ``acquisition dates:...``).
    Returns ``(objects, header {key: value})``; raises :class:`utils.annotations.AnnotationError`
    listing every bad line as ``<where>: line N: ...``."""
    objects, header, found = [], {}, []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        parts = line.split()
        if ":" in line and len(parts) < 9:  # a header line; DOTA v1.5 also has "acquisition dates:..."
            key, value = line.split(":", 1)
            header[key.strip()] = value.strip()
            continue
        if len(parts) not in (9, 10):
            found.append(Problem(f"{where}: line {n}", f"{len(parts)} fields in {line!r}; expected "
                                 "'x1 y1 x2 y2 x3 y3 x4 y4 category difficult'"))
            continue
        try:
            xy = np.array([float(v) for v in parts[:8]]).reshape(4, 2)
        except ValueError:
            found.append(Problem(f"{where}: line {n}", f"corner coordinates are not numbers in {line!r}"))
            continue
        if not np.all(np.isfinite(xy)):
            found.append(Problem(f"{where}: line {n}", f"non-finite coordinate in {line!r}"))
            continue
        difficult = parts[9] if len(parts) == 10 else "0"
        if difficult not in ("0", "1"):
            found.append(Problem(f"{where}: line {n}", f"difficult is {difficult!r}; expected 0 or 1"))
            continue
        objects.append(DotaObject(xy, parts[8], int(difficult)))
    if found:
        raise AnnotationError(found, "problems in DOTA labels")
    return objects, header


def read_dota(path) -> tuple[list[DotaObject], dict[str, str]]:
    """Read one DOTA label file (``labelTxt/P0001.txt``); see :func:`parse_dota`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such DOTA label file")
    return parse_dota(path.read_text(encoding="utf-8"), str(path))


def dota_line(corners, label: str, difficult: int = 0) -> str:
    """One DOTA label line from ``corners`` ``(4, 2)`` (``7_2``), coordinates with one decimal."""
    xy = np.asarray(corners, float).reshape(8)
    return " ".join(f"{v:.1f}" for v in xy) + f" {label} {int(difficult)}"


def dota_to_xyxy(corners, image_size=None) -> np.ndarray:
    """Axis-aligned ``xyxy`` boxes ``(N, 4)`` enclosing oriented boxes ``(N, 4, 2)`` (or one
    ``(4, 2)``) (``7_2``): the min and max of the corners, clipped to ``image_size`` ``(H, W)``
    when given. What a detector of axis-aligned boxes can learn from DOTA labels."""
    c = np.asarray(corners, float).reshape(-1, 4, 2)
    boxes = np.concatenate([c.min(1), c.max(1)], axis=1)
    if image_size is not None:
        h, w = image_size[:2]
        boxes = np.clip(boxes, 0, [w, h, w, h])
    return boxes


def oriented_box(corners) -> tuple[float, float, float, float, float]:
    """``(cx, cy, w, h, angle_degrees)`` of four corners (``7_2``): centre, the length of the
    first edge (corner 1 → 2) as ``w``, of the second as ``h``, and the first edge's angle from
    the x axis (image y points down, so positive angles turn clockwise on screen)."""
    c = np.asarray(corners, float).reshape(4, 2)
    e1, e2 = c[1] - c[0], c[2] - c[1]
    cx, cy = c.mean(0)
    return float(cx), float(cy), float(np.hypot(*e1)), float(np.hypot(*e2)), float(np.degrees(np.arctan2(e1[1], e1[0])))


# ------------------------------------------------------------------------------ VisDrone

VISDRONE_CLASSES = ["pedestrian", "people", "bicycle", "car", "van", "truck", "tricycle", "awning-tricycle",
                    "bus", "motor"]
"""VisDrone-DET's object categories 1-10 (0 = ignored region, 11 = others are not objects to detect)."""


def read_visdrone(path, image_size=None) -> tuple[ImageAnnotation, np.ndarray]:
    """Read one VisDrone-DET annotation file (``7_2``): one object per line,
    ``x,y,w,h,score,category,truncation,occlusion`` (pixels; a trailing comma is allowed).

    Category 1-10 become objects named from :data:`VISDRONE_CLASSES`; category 0 lines are
    *ignored regions* (crowds, far traffic: neither positives nor negatives), returned apart as
    ``(R, 4)`` ``xyxy``; category 11 (others) is skipped. ``score`` 0 marks a box the
    evaluation ignores and is skipped too. ``image_size`` ``(H, W)`` clips the boxes.
    Raises :class:`AnnotationError` listing every bad line as ``<file>: line N: ...``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such VisDrone annotation file")
    objects, ignored, found = [], [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip().rstrip(",")
        if not line:
            continue
        parts = [p.strip() for p in line.split(",")]
        where = f"{path}: line {n}"
        if len(parts) != 8:
            found.append(Problem(where, f"{len(parts)} fields in {line!r}; expected "
                                 "x,y,w,h,score,category,truncation,occlusion"))
            continue
        try:
            x, y, w, h = (float(v) for v in parts[:4])
            score, cat = int(parts[4]), int(parts[5])
        except ValueError:
            found.append(Problem(where, f"not numbers in {line!r}"))
            continue
        if not 0 <= cat <= 11:
            found.append(Problem(where, f"category {cat}; expected 0 (ignored region) to 11 (others)"))
            continue
        if w <= 0 or h <= 0:
            if cat != 0:
                found.append(Problem(where, f"box {w}x{h} has no area"))
            continue
        box = np.array([x, y, x + w, y + h])
        if image_size is not None:
            box = np.clip(box, 0, [image_size[1], image_size[0]] * 2)
        if cat == 0:
            ignored.append(box)
        elif cat <= 10 and score != 0:
            objects.append(Object(VISDRONE_CLASSES[cat - 1], box, index=n - 1))
    if found:
        raise AnnotationError(found, "problems in a VisDrone annotation file")
    h, w = (None, None) if image_size is None else image_size[:2]
    ann = ImageAnnotation(path.stem, w, h, objects, source=str(path))
    return ann, np.asarray(ignored, float).reshape(-1, 4)


def visdrone_samples(folder, limit: int | None = None) -> list:
    """:class:`utils.datasets.Sample` objects from a VisDrone-DET folder (``7_2``, full mode):
    ``folder/images/*.jpg`` and ``folder/annotations/*.txt`` (the layout of
    ``VisDrone2019-DET-val`` from https://github.com/VisDrone/VisDrone-Dataset). Each image is
    paired with its annotation by stem; an image without one is an error. ``limit`` keeps the first
    images in name order."""
    from utils.datasets import Sample
    from utils.images import image_size, list_images

    folder = Path(folder)
    if not (folder / "images").is_dir() or not (folder / "annotations").is_dir():
        raise FileNotFoundError(
            f"{folder}: expected a VisDrone-DET folder with images/ and annotations/ (for example "
            "VisDrone2019-DET-val, from https://github.com/VisDrone/VisDrone-Dataset, unzipped into data/)")
    out, missing = [], []
    for img in sorted(list_images(folder / "images"))[:limit]:
        txt = folder / "annotations" / (img.stem + ".txt")
        if not txt.is_file():
            missing.append(Problem(str(txt), f"no annotation file for {img.name}"))
            continue
        w, h = image_size(img)
        ann, _ = read_visdrone(txt, (h, w))
        ann.file_name, ann.width, ann.height = img.name, w, h
        out.append(Sample(ann, img))
    if missing:
        raise AnnotationError(missing, "problems in a VisDrone folder")
    return out
