"""Reading a licence plate: character segmentation, recognition and the lab report (``8_2``).

Stage 2 of the licence-plate lab (stage 1, finding and rectifying the plate, is
:mod:`utils.plates`, taught in ``8_1``). Conventions:

- a **plate** is a rectified plate image, ``(H, W)`` or ``(H, W, 3)`` ``uint8`` (any size;
  dark characters on a light plate); the notebook's are ``(32, 144, 3)`` (:data:`PLATE_SIZE`);
- **character boxes** are a float ``(N, 4)`` array of ``xyxy`` pixel boxes in the plate,
  exclusive ends as in :mod:`utils.detection`, sorted left to right;
- the **alphabet** is :data:`utils.plates.ALPHABET` (33 classes: digits, then capital letters
  without I, O, Q); a plate's text is a ``str`` over it, one character per box.

What is here:

- data: :func:`synthetic_plates` (rendered plates, warped as an imprecise rectification would,
  blurred, lit and noised: the training set) and :func:`scene_plates` (plates of
  :func:`utils.plates.make_scenes` scenes rectified from their corners: the held-out set);

- classical segmentation: :func:`binarise` (Otsu or adaptive), :func:`projection_cuts`
  (vertical projection splitting of merged glyphs), :func:`classical_segment`
  (connected components with size/aspect filters, then splitting);
- a learned segmenter trained from scratch: :func:`column_segmenter`, a per-column classifier
  ("is this column inside the core of a character?" plus the character's top and bottom),
  with :func:`column_targets`, :func:`train_column_segmenter` and :func:`learned_segment`;
- metrics: :func:`match_characters` (one-to-one at IoU 0.5), :func:`segmentation_metrics`
  (precision/recall/F1, mean IoU, "all characters of the plate right"), :func:`reading_metrics`
  (character accuracy from the edit distance, whole-plate accuracy);
- recognition: :func:`crop_characters`, :func:`jitter_boxes`, :func:`character_set`,
  :func:`char_classifier` (``"cnn"`` or the ResNet-style ``"resnet"``, both from scratch),
  :func:`read_plate`, and the whole two-stage pipeline :func:`read_scene`;
- the report: :func:`write_report` writes ``Report.7.Detection.Segmentation.tex`` with the
  measured metrics filled in, :func:`latex_escape`, :func:`latex_problems` (a syntax check).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from utils.plates import ALPHABET, apply_homography  # noqa: E402  (the plates' 33 classes, in class-id order)

PLATE_SIZE = (32, 144)
"""``(H, W)`` of the rectified plates the notebook reads (:func:`utils.plates.rectify`'s default)."""

SEG_SHAPE = (32, 128)
"""``(H, W)`` the learned segmenter sees: every plate is resized to it."""

SEG_COLUMNS = 64
"""How many columns the learned segmenter labels across the plate (one per 2 input columns)."""

CHAR_SHAPE = (24, 16)
"""``(H, W)`` of a character crop fed to the classifiers."""

CORE_SHRINK = 0.15
"""The learned segmenter's target is each character's central core: the box without this
fraction of its width on each side, so neighbouring characters never touch in the target."""

REPORT_NAME = "Report.7.Detection.Segmentation.tex"

# ------------------------------------------------------------------------ input checks


def _gray(plate, name: str = "plate") -> np.ndarray:
    """``plate`` as a float32 ``(H, W)`` grey image in 0..255, or a clear ``ValueError``."""
    arr = np.asarray(plate)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        arr = arr[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    if arr.ndim != 2 or min(arr.shape) < 4:
        raise ValueError(f"{name}: expected a plate image (H, W) or (H, W, 3) of at least 4x4 pixels, "
                         f"got shape {np.shape(plate)}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name}: expected numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float32)
    if arr.size and arr.max() <= 1.0 and np.asarray(plate).dtype.kind == "f":
        arr = arr * 255.0  # a float image in 0..1
    return arr


def _boxes(boxes, name: str = "boxes") -> np.ndarray:
    """:func:`utils.detection._as_boxes` (float64 ``(N, 4)``), refusing NaN and infinity too."""
    from utils.detection import _as_boxes

    arr = _as_boxes(boxes, name)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: boxes contain NaN or infinity")
    return arr


def _text(text, name: str = "text") -> str:
    if not isinstance(text, str):
        raise ValueError(f"{name}: expected a str, got {type(text).__name__}")
    bad = sorted(set(text) - set(ALPHABET))
    if bad:
        raise ValueError(f"{name}: {text!r} has characters outside the alphabet {ALPHABET}: {''.join(bad)!r}")
    return text


# ------------------------------------------------------------------------------ data


def _scale_boxes(boxes, src_shape, dst_shape) -> np.ndarray:
    sy, sx = dst_shape[0] / src_shape[0], dst_shape[1] / src_shape[1]
    return np.asarray(boxes, np.float64) * np.array([sx, sy, sx, sy])


def synthetic_plates(n: int, seed: int, out_size: tuple[int, int] = PLATE_SIZE, heights: tuple[int, int] = (18, 36),
                     corner_jitter: tuple[float, float] = (0.03, 0.12), max_blur: float = 1.4,
                     max_noise: float = 8.0, min_contrast: float = 0.5) -> dict:
    """``n`` training plates as the reader will see them after rectification (``8_2``).

    Each is :func:`utils.plates.render_plate` (height drawn from ``heights``, as plates far from and
    near the camera; small ones come out blurred when resized, as in a scene), then rectified from a
    quadrilateral whose corners miss the plate's by up to ``corner_jitter = (x, y)`` of its width
    and height (as a detector's corners would), to ``out_size``; then the contrast is reduced (to
    a factor between ``min_contrast`` and 1), a lighting gradient, a Gaussian blur (sigma up to
    ``max_blur``) and noise (std up to ``max_noise``). Plate ``i`` uses
    ``np.random.default_rng([seed, i])``. Character boxes follow the warp (the box enclosing
    each warped character box). Returns ``{"plates": (n, H, W, 3) uint8, "boxes": list of (7, 4)
    float64 xyxy, "texts": list of str}``.
    """
    import cv2

    from utils import plates as P

    oh, ow = int(out_size[0]), int(out_size[1])
    images, boxes, texts = np.zeros((int(n), oh, ow, 3), np.uint8), [], []
    yy, xx = np.mgrid[0:oh, 0:ow].astype(np.float32)
    for i in range(int(n)):
        rng = np.random.default_rng([int(seed), i])
        plate = P.render_plate(P.random_plate_text(rng), rng, height=int(rng.integers(heights[0], heights[1] + 1)))
        h, w = plate.image.shape[:2]
        quad = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        quad += (rng.uniform(-1, 1, (4, 2)) * np.array(corner_jitter) * [w, h]).astype(np.float32)
        img = P.rectify(plate.image, quad, (oh, ow)).astype(np.float32)
        img = img.mean() + rng.uniform(min_contrast, 1.0) * (img - img.mean())
        m = cv2.getPerspectiveTransform(quad, np.float32([[0, 0], [ow, 0], [ow, oh], [0, oh]]))
        b = P.corners_to_box(P.apply_homography(m, P.box_corners(plate.char_boxes)))
        theta = rng.uniform(0, 2 * np.pi)
        gain = rng.uniform(0.6, 1.15) + rng.uniform(0, 0.4) * (np.cos(theta) * xx / ow + np.sin(theta) * yy / oh - 0.5)
        img = img * gain[..., None]
        sigma = rng.uniform(0, max_blur)
        if sigma > 0.2:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        img = img + rng.normal(0, rng.uniform(0, max_noise), img.shape)
        images[i] = np.clip(img, 0, 255).round().astype(np.uint8)
        boxes.append(np.clip(b.astype(np.float64), 0, [ow, oh, ow, oh]))
        texts.append(plate.text)
    return {"plates": images, "boxes": boxes, "texts": texts}


def scene_plates(scenes, out_size: tuple[int, int] = PLATE_SIZE, corners=None) -> dict:
    """The plates of :class:`utils.plates.PlateScene` scenes, rectified to ``out_size`` (``8_2``).

    ``corners``: ``(N, 4, 2)`` corners to rectify from (e.g. a detector's); default the scenes'
    true corners. The true character boxes (``plate_char_boxes``, scaled to ``out_size``) are exact
    only with the true corners. Returns ``{"plates": (N, H, W, 3) uint8, "boxes": list of (7, 4),
    "texts": list of str}``.
    """
    from utils import plates as P

    scenes = list(scenes)
    corners = [s.corners for s in scenes] if corners is None else list(corners)
    if len(corners) != len(scenes):
        raise ValueError(f"corners: one (4, 2) array per scene expected, got {len(corners)} for {len(scenes)} scenes")
    oh, ow = int(out_size[0]), int(out_size[1])
    images = np.zeros((len(scenes), oh, ow, 3), np.uint8)
    for i, (s, c) in enumerate(zip(scenes, corners)):
        images[i] = P.rectify(s.image, c, (oh, ow))
    boxes = [_scale_boxes(s.plate_char_boxes, s.plate_shape, (oh, ow)) for s in scenes]
    return {"plates": images, "boxes": boxes, "texts": [s.text for s in scenes]}


# ------------------------------------------------------------------ classical segmentation


def binarise(plate, method: str = "otsu", block: int | None = None, offset: float = 8.0) -> np.ndarray:
    """Ink mask ``(H, W)`` bool of a plate (``True`` = character pixel) (``8_2``).

    ``method="otsu"``: one global threshold chosen by Otsu's method; ``"adaptive"``: each pixel
    against the Gaussian-weighted mean of its ``block``×``block`` neighbourhood minus ``offset``
    (``block`` defaults to about half the plate height, odd). Dark characters on a light plate
    are assumed; if more than half the plate comes out as ink the mask is inverted.
    """
    import cv2

    g = np.clip(_gray(plate), 0, 255).astype(np.uint8)
    if method == "otsu":
        _, out = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    elif method == "adaptive":
        b = int(block or max(3, g.shape[0] // 2))
        b += 1 - b % 2
        out = cv2.adaptiveThreshold(g, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY_INV, b, offset)
    else:
        raise ValueError(f"method={method!r}: expected 'otsu' or 'adaptive'")
    ink = out > 0
    return ~ink if ink.mean() > 0.5 else ink


def projection_cuts(profile, n: int, window: float = 0.6) -> np.ndarray:
    """Where to cut a merged blob of ``n`` glyphs: ``(n - 1,)`` int column indices (``8_2``).

    ``profile``: ``(W,)`` ink pixels per column (the vertical projection of the blob).
    Cut ``k`` (1..n-1) is searched within ``window * W / n`` columns centred on ``k * W / n``;
    it is the column of least ink there (of several equal minima, the one nearest the centre).
    Piece ``k`` then spans columns ``[cuts[k-1], cuts[k])``. Cuts are strictly increasing.
    """
    p = np.asarray(profile, dtype=np.float64)
    if p.ndim != 1 or p.size < 2:
        raise ValueError(f"profile: expected a 1-D array of at least 2 column sums, got shape {p.shape}")
    n = int(n)
    if n < 1:
        raise ValueError(f"n={n}: expected at least 1 piece")
    w = p.size
    cuts: list[int] = []
    half = window * w / n / 2
    for k in range(1, n):
        centre = k * w / n
        lo = max(1, int(np.floor(centre - half)), (cuts[-1] + 1) if cuts else 1)
        hi = min(w - 1, int(np.ceil(centre + half)))
        if hi < lo:
            hi = lo
        cols = np.arange(lo, hi + 1)
        vals = p[np.clip(cols, 0, w - 1)]
        best = cols[vals == vals.min()]
        cuts.append(int(best[np.argmin(np.abs(best + 0.5 - centre))]))
    return np.asarray(cuts, dtype=np.int64)


def _ink_rows(ink: np.ndarray, x0: int, x1: int) -> tuple[int, int] | None:
    rows = np.flatnonzero(ink[:, x0:x1].any(axis=1))
    return None if rows.size == 0 else (int(rows[0]), int(rows[-1]) + 1)


def classical_segment(plate, method: str = "otsu", min_height: float = 0.35, max_height: float = 0.95,
                      min_aspect: float = 0.1, max_aspect: float = 1.0, char_aspect: float = 0.7,
                      split: bool = True, return_steps: bool = False):
    """Character boxes of a rectified plate by the classical recipe (``8_2``).

    1. :func:`binarise` (``method``: ``"otsu"`` or ``"adaptive"``);
    2. connected components (8-connected); keep those whose height is between ``min_height``
       and ``max_height`` of the plate height (drops noise and the plate's frame) and whose
       width/height lies in ``[min_aspect, split-aware max]``; components stacked in the same
       columns are merged (a glyph broken by the threshold);
    3. ``split``: a component wider than ``max_aspect`` × its height, or than 1.6× the median
       character width, holds ``n = round(width / median width)`` touching glyphs (the median of
       the single glyphs; ``char_aspect`` × height when every glyph touches another): cut it with
       :func:`projection_cuts` and fit each piece's rows to its ink.

    Returns float ``(N, 4)`` xyxy boxes sorted left to right; with ``return_steps`` also a dict
    ``{"ink": (H, W) bool, "components": (M, 4) boxes before filtering}`` for plotting.
    """
    import cv2

    ink = binarise(plate, method)
    h_img = ink.shape[0]
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    comps = np.array([[x, y, x + w, y + h] for x, y, w, h, _ in stats[1:]], np.float64).reshape(-1, 4)
    keep = []
    for box in comps:
        w, h = box[2] - box[0], box[3] - box[1]
        if min_height * h_img <= h <= max_height * h_img and w >= min_aspect * h:
            keep.append(box.copy())
    # merge pieces stacked in the same columns (overlap >= half of the narrower one)
    keep.sort(key=lambda b: b[0])
    merged: list[np.ndarray] = []
    for box in keep:
        if merged:
            last = merged[-1]
            overlap = min(last[2], box[2]) - max(last[0], box[0])
            if overlap >= 0.5 * min(last[2] - last[0], box[2] - box[0]):
                merged[-1] = np.r_[np.minimum(last[:2], box[:2]), np.maximum(last[2:], box[2:])]
                continue
        merged.append(box)
    out: list[np.ndarray] = []
    if merged:
        widths = np.array([b[2] - b[0] for b in merged])
        heights = np.array([b[3] - b[1] for b in merged])
        single = widths[widths <= max_aspect * heights]
        ref = float(np.median(single)) if single.size else float(np.median(heights) * char_aspect)
        for box, w, h in zip(merged, widths, heights):
            pieces = int(round(w / ref)) if ref > 0 else 1
            if split and pieces >= 2 and (w > max_aspect * h or w > 1.6 * ref):
                x0, x1 = int(box[0]), int(box[2])
                profile = ink[int(box[1]):int(box[3]), x0:x1].sum(axis=0)
                edges = [0, *projection_cuts(profile, pieces).tolist(), x1 - x0]
                for a, b in zip(edges[:-1], edges[1:]):
                    rows = _ink_rows(ink[int(box[1]):int(box[3])], x0 + a, x0 + b)
                    if rows is not None and b > a:
                        out.append(np.array([x0 + a, box[1] + rows[0], x0 + b, box[1] + rows[1]], np.float64))
            elif w <= max(max_aspect * h, 1.6 * ref):
                out.append(box)
    boxes = np.array(sorted(out, key=lambda b: b[0]), np.float64).reshape(-1, 4)
    if return_steps:
        return boxes, {"ink": ink, "components": comps}
    return boxes


# --------------------------------------------------------------------- learned segmentation


def _resize(gray: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(gray, (shape[1], shape[0]), interpolation=cv2.INTER_AREA
                      if gray.shape[0] > shape[0] else cv2.INTER_LINEAR)


def _normalise(gray: np.ndarray) -> np.ndarray:
    """Per-image standardisation (robust to the plate's lighting and contrast)."""
    g = gray.astype(np.float32)
    return (g - g.mean()) / (g.std() + 1e-3)


def segmenter_inputs(plates) -> np.ndarray:
    """Plates → the learned segmenter's input ``(B, 32, 128, 1)`` float32 (resized to
    :data:`SEG_SHAPE`, standardised per plate). ``plates``: a list of plate images."""
    if isinstance(plates, np.ndarray) and (plates.ndim == 2 or (plates.ndim == 3 and plates.shape[-1] in (3, 4))):
        plates = [plates]  # one plate
    out = [_normalise(_resize(_gray(p, f"plates[{i}]"), SEG_SHAPE)) for i, p in enumerate(plates)]
    return np.stack(out)[..., None] if out else np.zeros((0, *SEG_SHAPE, 1), np.float32)


EDGE_SCALE = 8.0
"""Left/right edge distances are learned in units of this many columns."""


def column_targets(boxes, plate_shape: tuple[int, int], shrink: float = CORE_SHRINK) -> np.ndarray:
    """The learned segmenter's target for one plate: ``(64, 6)`` float32, one row per column
    (:data:`SEG_COLUMNS` across the plate): ``[core, inside, top, bottom, left, right]`` (``8_2``).

    ``core`` = 1 where the column lies in the central part of a character (its box without
    ``shrink`` of its width on each side: neighbours never touch), ``inside`` = 1 anywhere inside a
    box, where the box is learned: ``top`` and ``bottom`` as fractions of the plate height, ``left``
    and ``right`` as distances from the column's centre to the box's edges (in :data:`EDGE_SCALE`
    columns). ``boxes``: ``(N, 4)`` xyxy in the plate of shape ``plate_shape = (H, W)``.
    """
    b = _boxes(boxes)
    h, w = int(plate_shape[0]), int(plate_shape[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"plate_shape={plate_shape}: expected (H, W) > 0")
    width = SEG_COLUMNS
    t = np.zeros((width, 6), np.float32)
    centres = np.arange(width) + 0.5
    sx = width / w
    for x0, y0, x1, y1 in b:
        a, c = x0 * sx, x1 * sx
        m = shrink * (c - a)
        t[(centres >= a + m) & (centres < c - m), 0] = 1
        inside = (centres >= a) & (centres < c)
        t[inside, 1] = 1
        t[inside, 2] = y0 / h
        t[inside, 3] = y1 / h
        t[inside, 4] = (centres[inside] - a) / EDGE_SCALE
        t[inside, 5] = (c - centres[inside]) / EDGE_SCALE
    return t


def column_loss(y_true, y_pred):
    """Loss of :func:`column_segmenter`: binary cross-entropy of the core logit, plus the L1
    error of the box (top, bottom, left, right) on columns inside a character.
    ``y_true (B, 64, 6)``, ``y_pred (B, 64, 5)``."""
    import keras
    from keras import ops

    core = ops.mean(keras.losses.binary_crossentropy(y_true[..., :1], y_pred[..., :1], from_logits=True))
    inside = y_true[..., 1:2]
    l1 = ops.sum(ops.abs(y_true[..., 2:6] - y_pred[..., 1:5]) * inside) / (4.0 * ops.sum(inside) + 1.0)
    return core + l1


def column_segmenter(width: int = 8, bn_momentum: float = 0.9, name: str = "column_segmenter"):
    """The learned segmenter (``8_2``): a per-column classifier, trained from scratch.

    Input ``(B, 32, 128, 1)`` (:func:`segmenter_inputs`). Three conv-BN-ReLU blocks
    (``width``, ``2 width``, ``2 width`` channels), each followed by max pooling (the first halves
    height and width, the others the height only), a ``(4, 1)`` convolution collapses the height,
    two dilated 1-D convolutions along the plate give every column a view of about two
    characters, and 1×1 convolutions output ``(B, 64, 5)``: the core logit ("is this column in
    the middle of a character?"), top and bottom (sigmoid, fractions of the height), left and
    right (distances to the character's edges). BatchNorm momentum 0.9 (short trainings).
    """
    import keras
    from keras import layers

    def cbr(x, filters, kernel, tag, padding="same"):
        x = layers.Conv2D(filters, kernel, padding=padding, use_bias=False, name=f"{tag}_conv")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"{tag}_bn")(x)
        return layers.ReLU(name=f"{tag}_relu")(x)

    inputs = keras.Input((*SEG_SHAPE, 1), name="plate")
    x = cbr(inputs, width, 3, "block1")
    x = layers.MaxPooling2D((2, 2), name="block1_pool")(x)
    x = cbr(x, 2 * width, 3, "block2")
    x = layers.MaxPooling2D((2, 1), name="block2_pool")(x)
    x = cbr(x, 2 * width, 3, "block3")
    x = layers.MaxPooling2D((2, 1), name="block3_pool")(x)
    x = cbr(x, 4 * width, (4, 1), "collapse", padding="valid")
    x = layers.Reshape((SEG_COLUMNS, 4 * width), name="columns")(x)
    for d in (1, 2):
        x = layers.Conv1D(4 * width, 3, padding="same", dilation_rate=d, use_bias=False, name=f"context{d}_conv")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"context{d}_bn")(x)
        x = layers.ReLU(name=f"context{d}_relu")(x)
    core = layers.Conv1D(1, 1, name="core_logit")(x)
    rows = layers.Conv1D(2, 1, activation="sigmoid", name="top_bottom")(x)
    edges = layers.Conv1D(2, 1, name="left_right")(x)
    outputs = layers.Concatenate(name="columns_out")([core, rows, edges])
    return keras.Model(inputs, outputs, name=name)


def decode_columns(output, plate_shape: tuple[int, int], threshold: float = 0.5, min_columns: int = 2) -> np.ndarray:
    """One plate's segmenter output ``(64, 5)`` → character boxes ``(N, 4)`` xyxy in the plate
    of shape ``plate_shape = (H, W)`` (``8_2``).

    Each run of at least ``min_columns`` consecutive columns whose core probability exceeds
    ``threshold`` is one character; its box is the mean over the run of each column's predicted
    edges (left, right, top, bottom).
    """
    out = np.asarray(output, dtype=np.float64)
    if out.ndim != 2 or out.shape[1] != 5:
        raise ValueError(f"output: expected (columns, 5) from column_segmenter, got shape {out.shape}")
    h, w = float(plate_shape[0]), float(plate_shape[1])
    prob = 1 / (1 + np.exp(-out[:, 0]))
    on = np.r_[False, prob > threshold, False]
    starts = np.flatnonzero(on[1:] & ~on[:-1])
    ends = np.flatnonzero(~on[1:] & on[:-1])
    sx = w / out.shape[0]
    centres = np.arange(out.shape[0]) + 0.5
    boxes = []
    for a, b in zip(starts, ends):
        if b - a < min_columns:
            continue
        left = np.mean(centres[a:b] - out[a:b, 3] * EDGE_SCALE) * sx
        right = np.mean(centres[a:b] + out[a:b, 4] * EDGE_SCALE) * sx
        top, bottom = out[a:b, 1].mean() * h, out[a:b, 2].mean() * h
        boxes.append([max(0.0, left), max(0.0, top), min(w, right), min(h, bottom)])
    return np.array(boxes, np.float64).reshape(-1, 4)


def learned_segment(model, plates, threshold: float = 0.5) -> list[np.ndarray]:
    """Character boxes of each plate from a trained :func:`column_segmenter` (``8_2``).

    ``plates``: a list of plate images (any sizes). Returns a list of ``(N_i, 4)`` xyxy boxes in
    each plate's own pixels."""
    plates = list(plates)
    if not plates:
        return []
    out = np.asarray(model.predict(segmenter_inputs(plates), verbose=0, batch_size=256))
    return [decode_columns(o, np.shape(p)[:2], threshold) for o, p in zip(out, plates)]


def _fit(model, x, y, epochs: int, batch_size: int, learning_rate: float, loss, metrics=None, seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    steps = max(1, int(np.ceil(len(x) / batch_size))) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, metrics=metrics or [])
    start = time.perf_counter()
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True)
    return history.history, time.perf_counter() - start


def train_column_segmenter(plates, boxes_list, epochs: int = 8, batch_size: int = 32, learning_rate: float = 3e-3,
                           width: int = 8, seed: int = 0):
    """Build and train :func:`column_segmenter` from scratch on plates and their exact character
    boxes (``8_2``). Returns ``(model, history dict, seconds)``."""
    plates, boxes_list = list(plates), list(boxes_list)
    if len(plates) != len(boxes_list) or not plates:
        raise ValueError(f"plates and boxes_list: expected the same non-zero length, got {len(plates)} and "
                         f"{len(boxes_list)}")
    x = segmenter_inputs(plates)
    y = np.stack([column_targets(b, np.shape(p)[:2]) for p, b in zip(plates, boxes_list)])
    model = column_segmenter(width)
    history, seconds = _fit(model, x, y, epochs, batch_size, learning_rate, column_loss, seed=seed)
    return model, history, seconds


# -------------------------------------------------------------------------------- metrics


def match_characters(true_boxes, pred_boxes, iou_threshold: float = 0.5) -> dict:
    """Match predicted character boxes to the true ones, one to one (``8_2``).

    Greedy: the pair with the highest IoU first, then the next among the unmatched, while the
    IoU is at least ``iou_threshold``. Returns ``{"tp", "fp", "fn"}`` (ints), ``"pairs"``:
    ``(K, 2)`` int ``(true index, pred index)``, and ``"ious"``: ``(K,)`` their IoUs.
    """
    from utils.detection import iou

    t, p = _boxes(true_boxes, "true_boxes"), _boxes(pred_boxes, "pred_boxes")
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold={iou_threshold}: expected a value in (0, 1]")
    pairs, ious = [], []
    if len(t) and len(p):
        m = iou(t, p)
        order = np.argsort(-m, axis=None, kind="stable")
        used_t, used_p = set(), set()
        for flat in order:
            i, j = divmod(int(flat), m.shape[1])
            if m[i, j] < iou_threshold:
                break
            if i in used_t or j in used_p:
                continue
            used_t.add(i)
            used_p.add(j)
            pairs.append((i, j))
            ious.append(float(m[i, j]))
    tp = len(pairs)
    return {"tp": tp, "fp": len(p) - tp, "fn": len(t) - tp,
            "pairs": np.array(pairs, np.int64).reshape(-1, 2), "ious": np.array(ious, np.float64)}


def segmentation_metrics(true_list, pred_list, iou_threshold: float = 0.5) -> dict:
    """Character-level segmentation scores over many plates (``8_2``).

    ``true_list``, ``pred_list``: lists of ``(N_i, 4)`` boxes, one entry per plate. Returns
    ``precision``, ``recall``, ``f1`` (matches at ``iou_threshold``), ``mean_iou`` (the IoU of each
    true character with its match, 0 when missed, averaged), ``plates_all_right`` (fraction of
    plates with every character found and nothing extra) and the counts ``tp``, ``fp``, ``fn``, ``plates``.
    """
    true_list, pred_list = list(true_list), list(pred_list)
    if len(true_list) != len(pred_list):
        raise ValueError(f"true_list and pred_list: one entry per plate expected, got {len(true_list)} "
                         f"and {len(pred_list)}")
    tp = fp = fn = all_right = 0
    iou_sum, n_true = 0.0, 0
    for t, p in zip(true_list, pred_list):
        r = match_characters(t, p, iou_threshold)
        tp, fp, fn = tp + r["tp"], fp + r["fp"], fn + r["fn"]
        all_right += int(r["fp"] == 0 and r["fn"] == 0)
        iou_sum += float(r["ious"].sum())
        n_true += len(_boxes(t))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "mean_iou": iou_sum / n_true if n_true else 0.0,
            "plates_all_right": all_right / len(true_list) if true_list else 0.0,
            "tp": tp, "fp": fp, "fn": fn, "plates": len(true_list)}


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions turning ``a`` into ``b``."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def reading_metrics(true_texts: Sequence[str], pred_texts: Sequence[str]) -> dict:
    """How well plates were read (``8_2``): ``char_accuracy`` = 1 − (total edit distance / total
    true characters), clipped at 0 (a missed or extra character costs one, like a wrong one);
    ``plate_accuracy`` = fraction of plates read exactly; ``plates``."""
    true_texts, pred_texts = list(true_texts), list(pred_texts)
    if len(true_texts) != len(pred_texts):
        raise ValueError(f"true_texts and pred_texts: one entry per plate expected, got {len(true_texts)} "
                         f"and {len(pred_texts)}")
    for i, (t, p) in enumerate(zip(true_texts, pred_texts)):
        if not isinstance(t, str) or not isinstance(p, str):
            raise ValueError(f"texts[{i}]: expected str, got {type(t).__name__} and {type(p).__name__}")
    total = sum(len(t) for t in true_texts)
    errors = sum(edit_distance(t, p) for t, p in zip(true_texts, pred_texts))
    exact = sum(t == p for t, p in zip(true_texts, pred_texts))
    return {"char_accuracy": max(0.0, 1 - errors / total) if total else 0.0,
            "plate_accuracy": exact / len(true_texts) if true_texts else 0.0, "plates": len(true_texts)}


# ---------------------------------------------------------------------------- recognition


def jitter_boxes(boxes, rng: np.random.Generator, amount: float = 0.12) -> np.ndarray:
    """Boxes moved and rescaled at random, as a segmenter's boxes would be (``8_2``): centre
    shifted by up to ``amount`` of the width/height, width and height scaled by ``1 ± amount``.
    Training the classifier on such boxes (not only the exact ones) makes it read the
    segmenter's imperfect boxes. ``(N, 4)`` → ``(N, 4)``."""
    b = _boxes(boxes)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    cx = (b[:, 0] + b[:, 2]) / 2 + rng.uniform(-amount, amount, len(b)) * w
    cy = (b[:, 1] + b[:, 3]) / 2 + rng.uniform(-amount, amount, len(b)) * h
    w = w * (1 + rng.uniform(-amount, amount, len(b)))
    h = h * (1 + rng.uniform(-amount, amount, len(b)))
    return np.c_[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def crop_characters(plate, boxes, margin: float = 0.08) -> np.ndarray:
    """Character crops ``(N, 24, 16, 1)`` float32 for the classifiers (``8_2``): each box grown
    by ``margin`` of its size on every side, cut out with bilinear sampling (pixels outside the
    plate repeat its border), resized to :data:`CHAR_SHAPE` and standardised per crop."""
    import cv2

    g = _gray(plate)
    b = _boxes(boxes)
    hh, ww = CHAR_SHAPE
    out = np.zeros((len(b), hh, ww, 1), np.float32)
    for i, (x0, y0, x1, y1) in enumerate(b):
        bw, bh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        x0, x1 = x0 - margin * bw, x1 + margin * bw
        y0, y1 = y0 - margin * bh, y1 + margin * bh
        # affine map from the crop's pixel centres to the plate's
        m = np.array([[(x1 - x0) / ww, 0, x0 + (x1 - x0) / ww / 2 - 0.5],
                      [0, (y1 - y0) / hh, y0 + (y1 - y0) / hh / 2 - 0.5]], np.float32)
        crop = cv2.warpAffine(g, m, (ww, hh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
        out[i, ..., 0] = _normalise(crop)
    return out


def character_set(plates, boxes_list, texts, rng: np.random.Generator | None = None, jitter: float = 0.12,
                  copies: int = 2, exact: bool = True, extra_boxes=None) -> tuple[np.ndarray, np.ndarray]:
    """Training crops for the character classifier (``8_2``): for every plate, ``exact`` crops
    at the true boxes (optional) plus ``copies`` crops at :func:`jitter_boxes` of them, plus crops
    at ``extra_boxes[i]`` (optional: e.g. the segmenter's own boxes of training plate ``i``, used
    where it found as many characters as the text has, left to right).
    Returns ``x (M, 24, 16, 1)`` float32 and ``y (M,)`` int class ids in :data:`ALPHABET`."""
    rng = rng or np.random.default_rng(0)
    xs, ys = [], []
    for i, (plate, boxes, text) in enumerate(zip(plates, boxes_list, texts)):
        b = _boxes(boxes, f"boxes_list[{i}]")
        if len(b) != len(_text(text, f"texts[{i}]")):
            raise ValueError(f"plate {i}: {len(b)} boxes but text {text!r} has {len(text)} characters")
        labels = np.array([ALPHABET.index(c) for c in text], np.int64)
        variants = ([b] if exact else []) + [jitter_boxes(b, rng, jitter) for _ in range(copies)]
        if extra_boxes is not None and len(_boxes(extra_boxes[i], f"extra_boxes[{i}]")) == len(text):
            variants.append(_boxes(extra_boxes[i]))
        for v in variants:
            xs.append(crop_characters(plate, v))
            ys.append(labels)
    if not xs:
        return np.zeros((0, *CHAR_SHAPE, 1), np.float32), np.zeros((0,), np.int64)
    return np.concatenate(xs), np.concatenate(ys)


def char_classifier(kind: str = "cnn", width: int = 16, num_classes: int = len(ALPHABET), bn_momentum: float = 0.9,
                    dropout: float = 0.2):
    """A character classifier built from scratch (``8_2``). Input ``(B, 24, 16, 1)``, output
    ``(B, num_classes)`` softmax. BatchNorm momentum 0.9 (short trainings).

    - ``"cnn"``: three conv-BN-ReLU blocks (``width``, ``2 width``, ``4 width`` channels), max pooling
      after the first two, global average pooling, dropout, a dense softmax;
    - ``"resnet"``: the extra of the lab, a ResNet-style backbone: a conv stem and max pooling, then
      three residual blocks (two 3×3 conv-BN with ReLU, the input added back; the 2nd and 3rd halve the size with
      stride 2 and a 1×1 projection on the shortcut), global average pooling, dropout, softmax.
    """
    import keras
    from keras import layers

    if kind not in ("cnn", "resnet"):
        raise ValueError(f"kind={kind!r}: expected 'cnn' or 'resnet'")

    def bn(x, tag):
        return layers.BatchNormalization(momentum=bn_momentum, name=f"{tag}_bn")(x)

    inputs = keras.Input((*CHAR_SHAPE, 1), name="crop")
    if kind == "cnn":
        x = inputs
        for i, f in enumerate((width, 2 * width, 4 * width)):
            x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
            x = layers.ReLU(name=f"conv{i + 1}_relu")(bn(x, f"conv{i + 1}"))
            if i < 2:
                x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    else:
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
        x = layers.ReLU(name="stem_relu")(bn(x, "stem"))
        x = layers.MaxPooling2D(2, name="stem_pool")(x)
        for i, (f, stride) in enumerate(((width, 1), (2 * width, 2), (4 * width, 2))):
            tag = f"res{i + 1}"
            y = layers.Conv2D(f, 3, strides=stride, padding="same", use_bias=False, name=f"{tag}_conv1")(x)
            y = layers.ReLU(name=f"{tag}_relu1")(bn(y, f"{tag}_1"))
            y = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"{tag}_conv2")(y)
            y = bn(y, f"{tag}_2")
            if stride != 1 or x.shape[-1] != f:
                x = layers.Conv2D(f, 1, strides=stride, use_bias=False, name=f"{tag}_project")(x)
                x = bn(x, f"{tag}_project")
            x = layers.ReLU(name=f"{tag}_out")(layers.Add(name=f"{tag}_add")([x, y]))
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name=f"char_{kind}")


def train_char_classifier(x, y, kind: str = "cnn", epochs: int = 4, batch_size: int = 64,
                          learning_rate: float = 3e-3, width: int = 16, seed: int = 0):
    """Build and train :func:`char_classifier` from scratch on crops ``x`` and class ids ``y``
    (:func:`character_set`). Returns ``(model, history dict, seconds)``."""
    x, y = np.asarray(x, np.float32), np.asarray(y)
    if x.ndim != 4 or x.shape[1:] != (*CHAR_SHAPE, 1) or len(x) != len(y) or not len(x):
        raise ValueError(f"x, y: expected crops (M, {CHAR_SHAPE[0]}, {CHAR_SHAPE[1]}, 1) and M labels, got "
                         f"{x.shape} and {np.shape(y)}")
    model = char_classifier(kind, width)
    history, seconds = _fit(model, x, y, epochs, batch_size, learning_rate, "sparse_categorical_crossentropy",
                            ["accuracy"], seed)
    return model, history, seconds


def _format_mask(plate_format: str, n: int) -> np.ndarray | None:
    """``(n, classes)`` bool: which classes each position of a plate format allows (``L`` a letter,
    ``D`` a digit, anything else any class); ``None`` when the plate does not have ``len(plate_format)``
    characters."""
    if len(plate_format) != n:
        return None
    digits = np.array([c.isdigit() for c in ALPHABET])
    return np.stack([~digits if f == "L" else digits if f == "D" else np.ones_like(digits) for f in plate_format])


def _decode_probs(probs: np.ndarray, plate_format: str | None) -> tuple[str, np.ndarray]:
    """Class probabilities ``(N, 33)`` of one plate's characters → (the characters as a ``str``,
    ``(N,)`` confidences). ``plate_format`` (e.g. ``"LLDDLLL"``): when the plate has that many
    characters, each one is the most probable letter (``L``) or digit (``D``) as its position demands."""
    mask = _format_mask(plate_format, len(probs)) if plate_format else None
    if mask is not None:
        probs = np.where(mask, probs, 0.0)
    ids = probs.argmax(axis=1)
    return "".join(ALPHABET[i] for i in ids), probs.max(axis=1)


def read_plates(plates, classifier, segmenter=None, boxes_list=None, method: str = "learned",
                plate_format: str | None = None) -> list[dict]:
    """Read many plates at once (``8_2``): boxes from ``boxes_list`` if given, else from the
    ``segmenter`` (``method="learned"``) or :func:`classical_segment` (``"classical"``); then the
    classifier reads each crop (``plate_format``: see :func:`_decode_probs`). Returns one dict per
    plate: ``text`` (str), ``boxes`` ``(N, 4)``, ``confidences`` ``(N,)``."""
    plates = list(plates)
    if boxes_list is None:
        if method == "learned":
            if segmenter is None:
                raise ValueError("read_plates: method='learned' needs a trained segmenter (column_segmenter)")
            boxes_list = learned_segment(segmenter, plates)
        elif method == "classical":
            boxes_list = [classical_segment(p) for p in plates]
        else:
            raise ValueError(f"method={method!r}: expected 'learned' or 'classical'")
    boxes_list = [_boxes(b, f"boxes_list[{i}]") for i, b in enumerate(boxes_list)]
    if len(boxes_list) != len(plates):
        raise ValueError(f"boxes_list: one entry per plate expected, got {len(boxes_list)} for {len(plates)} plates")
    crops = [crop_characters(p, b) for p, b in zip(plates, boxes_list)]
    sizes = [len(c) for c in crops]
    probs = (np.asarray(classifier.predict(np.concatenate(crops), verbose=0, batch_size=512)) if sum(sizes)
             else np.zeros((0, len(ALPHABET))))
    out, start = [], 0
    for b, n in zip(boxes_list, sizes):
        text, conf = _decode_probs(probs[start:start + n], plate_format)
        out.append({"text": text, "boxes": b, "confidences": conf})
        start += n
    return out


def read_plate(plate, classifier, segmenter=None, method: str = "learned",
               plate_format: str | None = None) -> tuple[str, np.ndarray]:
    """Read one rectified plate (``8_2``): segment it (``method="learned"`` with ``segmenter``,
    or ``"classical"``), classify each character crop. Returns ``(text, boxes (N, 4))``."""
    r = read_plates([plate], classifier, segmenter, method=method, plate_format=plate_format)[0]
    return r["text"], r["boxes"]


def _line_search(grad, lo: float, hi: float, sign: float, max_slope: float, cols: np.ndarray,
                 outermost: float | None = None, steps: int = 9):
    """The straight line ``y = y0 + slope * (x - W/2)`` of ``grad`` (``(H, W)``) with the largest mean
    ``sign * grad`` over the columns ``cols``, for ``y0`` between rows ``lo`` and ``hi`` and ``|slope| <=
    max_slope``. With ``outermost`` (a fraction), the line kept is instead the local best nearest the
    search's *outer* end (``lo`` for ``sign > 0``, ``hi`` for ``sign < 0``) scoring at least ``outermost``
    × the best: a plate's frame is its outermost edge, a band or a character's edge further in can be
    stronger. Returns ``((y0, slope), score)``."""
    hh, ww = grad.shape
    rows = np.arange(hh, dtype=np.float32)
    slopes = np.linspace(-max_slope, max_slope, steps)
    ys = rows[None, :, None] + slopes[:, None, None] * (cols[None, None, :] - ww / 2)  # (slopes, rows, columns)
    yi = np.clip(np.round(ys).astype(np.intp), 0, hh - 1)
    scores = sign * grad[yi, cols[None, None, :]].mean(axis=2)
    scores[:, (rows < lo) | (rows > hi)] = -np.inf
    profile, which = scores.max(axis=0), scores.argmax(axis=0)
    k = int(np.argmax(profile))
    if outermost is not None and np.isfinite(profile[k]) and profile[k] > 0:
        padded = np.r_[-np.inf, profile, -np.inf]
        peaks = np.nonzero((profile >= padded[:-2]) & (profile >= padded[2:])
                           & (profile >= outermost * profile[k]))[0]
        k = int(peaks[0] if sign > 0 else peaks[-1])
    return (float(k), float(slopes[which[k]])), float(profile[k])


def _plate_crop(image, to_image, u_range, v_range, size):
    """Rectify the region ``u_range`` × ``v_range`` of the plate's unit square (``to_image``: unit square →
    image homography) to ``size = (height, width)``. Returns the crop and the crop-pixel → ``(u, v)`` matrix."""
    import cv2

    hh, ww = int(size[0]), int(size[1])
    (u0, u1), (v0, v1) = u_range, v_range
    # crop pixel centres (x + 0.5, y + 0.5) -> (u, v) -> image
    to_unit = np.array([[(u1 - u0) / ww, 0, u0], [0, (v1 - v0) / hh, v0], [0, 0, 1]], np.float64)
    half = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])  # pixel index -> continuous frame (and back, inverted)
    crop = cv2.warpPerspective(image, np.linalg.inv(half) @ to_image @ to_unit @ half, (ww, hh),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    return crop, to_unit @ half


def refine_corners(image, corners, margin: float = 0.35, border: float = 0.05, size: tuple[int, int] = (64, 144),
                   max_slope: float = 0.1, sides: bool = True, side_margin: float = 0.12, side_slope: float = 0.2,
                   outermost: float = 0.5, passes: int = 2, retry: float | None = 0.3) -> np.ndarray:
    """Move a detected plate's four edges onto the plate's frame in the image (``8_2``).

    A detector's corners are a few pixels off, which on a plate 25 pixels tall cuts characters when
    the plate is rectified from them. This looks again, on the image.

    Top and bottom: the quadrilateral ``corners`` (``(4, 2)`` xy, :data:`utils.plates.CORNER_ORDER`) is
    widened by ``margin`` of its height above and below and rectified to ``size``; there the plate's dark
    frame ends in a long straight edge that turns *brighter* going into the plate (downwards at the top,
    upwards at the bottom: the opposite sign of the characters' own top and bottom edges). The straight
    line with the strongest such edge (offset and a slope up to ``max_slope``, over the central columns)
    is searched in the upper and in the lower third of the widened region.

    Left and right (``sides=True``): the same search turned by 90°, in the quadrilateral just found
    widened by ``side_margin`` of its width on both sides, over its central rows: the frame's inner
    vertical edge turns brighter going into the plate (rightwards on the left, leftwards on the right).
    Each line may lean by up to ``side_slope`` plate widths over the plate's height (one detected corner
    can be off alone). This search looks at each pixel's brightest channel (a blue band is then bright)
    and keeps the *outermost* edge scoring at least ``outermost`` × the strongest: a band's or a
    character's edge further in can be stronger than the frame's.

    Each line found is the frame's inner edge: the corners are pushed out by ``border`` of the plate
    height (the frame's width). The whole is done ``passes`` times (the second pass starts from better
    corners). A detector sometimes misplaces one corner alone: with ``retry`` (and ``sides``), when a corner
    lies more than ``retry`` × the plate height from where the other three put it (the fourth corner of
    their parallelogram), the refinement also starts from that parallelogram, and the result whose four
    lines have the stronger edges wins. Plausibility: when the top and bottom lines are implausible (no such edge, or a plate
    height off by more than a half), the pass's input corners come back (``corners`` themselves on the
    first pass); a left or right line without a brightening edge keeps that end, and a width changed by
    more than a quarter keeps both. Returns ``(4, 2)`` float32 corners in the image."""
    c = np.asarray(corners, np.float32)
    if c.shape != (4, 2):
        raise ValueError(f"corners must have shape (4, 2), got {c.shape}")
    if not np.isfinite(c).all():
        raise ValueError("corners must be finite numbers")
    if int(passes) < 1:
        raise ValueError(f"passes must be at least 1, got {passes}")
    img = np.asarray(image)
    gray = _gray(img).astype(np.float32)
    value = img.max(axis=2).astype(np.float32) if img.ndim == 3 else gray
    starts = [c]
    if retry and sides:  # one corner far from where the other three put it (a parallelogram's fourth corner): try without it
        completion = np.stack([c[(k + 1) % 4] + c[(k + 3) % 4] - c[(k + 2) % 4] for k in range(4)])
        miss = np.linalg.norm(completion - c, axis=1)
        side_h = 0.5 * (np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1]))
        if miss.max() > retry * side_h:
            alt = c.copy()
            alt[int(np.argmax(miss))] = completion[int(np.argmax(miss))]
            starts.append(alt)
    best, best_score = c, -np.inf
    for start in starts:
        q, score = start, -np.inf
        for _ in range(int(passes)):
            new = _refine_pass(gray, value, q, margin, border, size, max_slope, sides, side_margin, side_slope,
                               outermost)
            if new is None:
                break
            q, score = new
        if score > best_score:
            best, best_score = q, score
    return np.asarray(best, np.float32).copy()


def _refine_pass(gray, value, c, margin, border, size, max_slope, sides, side_margin, side_slope, outermost):
    """One pass of :func:`refine_corners`: ``(corners, the summed edge scores of its lines)``, or ``None`` when the
    top and bottom lines are implausible."""
    import cv2

    unit = np.float32([[0, 0], [1, 0], [1, 1], [0, 1]])
    # top and bottom, over the central columns of a crop widened above and below
    to_image = cv2.getPerspectiveTransform(unit, c).astype(np.float64)  # plate (u, v) in [0, 1]^2 -> image
    hh, ww = int(size[0]), int(size[1])
    crop, to_unit = _plate_crop(gray, to_image, (0.0, 1.0), (-margin, 1 + margin), (hh, ww))
    gy = cv2.Sobel(cv2.GaussianBlur(crop, (0, 0), 0.8), cv2.CV_32F, 0, 1, ksize=3)
    cols = np.arange(int(0.1 * ww), int(0.9 * ww))
    v_of = lambda y: to_unit[1, 1] * y + to_unit[1, 2]  # noqa: E731  crop row -> v
    y_of = lambda v: (v - to_unit[1, 2]) / to_unit[1, 1]  # noqa: E731
    x_of = lambda u: (u - to_unit[0, 2]) / to_unit[0, 0]  # noqa: E731  u -> crop column
    (top, st), s_top = _line_search(gy, y_of(-margin), y_of(1 / 3), 1.0, max_slope, cols)
    (bottom, sb), s_bottom = _line_search(gy, y_of(2 / 3), y_of(1 + margin), -1.0, max_slope, cols)
    height = v_of(bottom) - v_of(top)
    if not (s_top > 0 and s_bottom > 0 and 0.5 < height < 1.5):
        return None
    quad = [(u, v_of(y0 + slope * (x_of(u) - ww / 2)) + push * height)
            for u, y0, slope, push in ((0.0, top, st, -border), (1.0, top, st, -border),
                                       (1.0, bottom, sb, border), (0.0, bottom, sb, border))]
    refined = apply_homography(to_image, np.float32(quad))
    tb_score = s_top + s_bottom
    if not sides:
        return refined, tb_score

    # left and right, over the central rows of the refined quadrilateral widened left and right
    to_image = cv2.getPerspectiveTransform(unit, refined).astype(np.float64)
    sh, sw = hh // 2, 2 * ww  # about a crop pixel per image pixel along a 256-pixel scene's plate
    crop, to_unit = _plate_crop(value, to_image, (-side_margin, 1 + side_margin), (0.0, 1.0), (sh, sw))
    gx = cv2.Sobel(cv2.GaussianBlur(crop, (0, 0), 0.8), cv2.CV_32F, 1, 0, ksize=3).T  # searched along its rows
    rows = np.arange(int(0.2 * sh), int(0.8 * sh))
    x_of = lambda u: (u - to_unit[0, 2]) / to_unit[0, 0]  # noqa: E731
    u_of = lambda x: to_unit[0, 0] * x + to_unit[0, 2]  # noqa: E731
    y_of = lambda v: (v - to_unit[1, 2]) / to_unit[1, 1]  # noqa: E731
    lean = side_slope / to_unit[0, 0] / sh  # side_slope plate widths over the plate height, in crop pixels
    lines = [_line_search(gx, x_of(-side_margin), x_of(side_margin), 1.0, lean, rows, outermost, 13),
             _line_search(gx, x_of(1 - side_margin), x_of(1 + side_margin), -1.0, lean, rows, outermost, 13)]
    side_h = np.linalg.norm(refined[3] - refined[0]) + np.linalg.norm(refined[2] - refined[1])
    side_w = np.linalg.norm(refined[1] - refined[0]) + np.linalg.norm(refined[2] - refined[3])
    push = border * side_h / max(side_w, 1e-6)  # the frame's width, in plate widths
    out = unit.copy()
    for k, v in enumerate((0.0, 0.0, 1.0, 1.0)):
        right = k in (1, 2)
        (x0, slope), score = lines[int(right)]
        if score > 0:
            out[k, 0] = u_of(x0 + slope * (y_of(v) - sh / 2)) + (push if right else -push)
    if not 0.75 < out[[1, 2], 0].mean() - out[[0, 3], 0].mean() < 1.25:
        return refined, tb_score
    return apply_homography(to_image, out), tb_score + sum(max(score, 0.0) for _, score in lines)


def read_scenes(images, detector, segmenter, classifier, plate_size: tuple[int, int] = PLATE_SIZE,
                plate_format: str | None = None, score_threshold: float = 0.3, threshold: float = 0.5,
                max_plates: int = 5, refine: bool = True) -> list[list[dict]]:
    """The whole two-stage pipeline (``8_2``): image → plates → characters → text.

    Stage 1, :func:`utils.plates.detect_plates` finds each plate's box and four corners (the
    detector runs at its own input size; results come back in the image's pixels); the plate is
    rectified from its corners to ``plate_size`` (:func:`utils.plates.rectify`). Stage 2, the
    learned ``segmenter`` (:func:`column_segmenter`) finds the characters and the ``classifier``
    reads them (:func:`read_plates`). ``images``: a list of RGB ``(H, W, 3)`` uint8 images.
    ``refine``: first move each plate's top and bottom edges onto the image's plate edges
    (:func:`refine_corners`; the detector's corners are a few pixels off, too much on small plates).

    Returns, per image, a list of plates (best score first), each a dict: ``box`` ``(4,)`` and
    ``corners`` ``(4, 2)`` in the image, ``score``, ``plate`` (the rectified image), ``text``,
    ``plate_char_boxes`` ``(N, 4)`` in the rectified plate, ``char_polygons`` ``(N, 4, 2)`` and
    ``char_boxes`` ``(N, 4)`` (the polygons' enclosing boxes) in the image.
    """
    import cv2

    from utils import plates as P

    images = list(images)
    if not images:
        return []
    detections = P.detect_plates(detector, images, score_threshold=score_threshold, max_plates=max_plates)
    oh, ow = int(plate_size[0]), int(plate_size[1])
    flat = np.float32([[0, 0], [ow, 0], [ow, oh], [0, oh]])
    rectified, owner = [], []
    for i, (img, det) in enumerate(zip(images, detections)):
        if refine and len(det["corners"]):
            det["corners"] = np.stack([refine_corners(img, c) for c in det["corners"]])
            h, w = img.shape[:2]  # the plate's box is the box of its refined corners
            det["boxes"] = np.clip(P.corners_to_box(det["corners"]), 0, [w, h, w, h]).astype(np.float32)
        for k, c in enumerate(det["corners"]):
            rectified.append(P.rectify(img, c, (oh, ow)))
            owner.append((i, k))
    boxes_list = learned_segment(segmenter, rectified, threshold) if rectified else []
    reads = read_plates(rectified, classifier, boxes_list=boxes_list, plate_format=plate_format) if rectified else []
    out: list[list[dict]] = [[] for _ in images]
    for (i, k), plate, r in zip(owner, rectified, reads):
        det = detections[i]
        m = cv2.getPerspectiveTransform(flat, np.float32(det["corners"][k]))
        polygons = P.apply_homography(m, P.box_corners(r["boxes"])) if len(r["boxes"]) else np.zeros((0, 4, 2), np.float32)
        out[i].append({"box": det["boxes"][k], "corners": det["corners"][k], "score": float(det["scores"][k]),
                       "plate": plate, "text": r["text"], "plate_char_boxes": r["boxes"],
                       "char_polygons": polygons, "char_boxes": P.corners_to_box(polygons).reshape(-1, 4)})
    return out


def read_scene(image, detector, segmenter, classifier, **kwargs) -> list[dict]:
    """:func:`read_scenes` on one image: its list of plates (``kwargs`` as there)."""
    return read_scenes([image], detector, segmenter, classifier, **kwargs)[0]


# ----------------------------------------------------------------------------- the report


_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                   "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                   "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_escape(text: Any) -> str:
    """``text`` (any value, through ``str``) with LaTeX's special characters escaped
    (``\\ & % $ # _ { } ~ ^ < >``), safe to put in running text or a table cell."""
    return "".join(_LATEX_SPECIALS.get(c, c) for c in str(text))


_ALIGN_ENVS = {"tabular", "tabular*", "array", "align", "align*", "alignat", "matrix", "pmatrix", "bmatrix",
               "longtable", "eqnarray"}


def latex_problems(text: str) -> list[str]:
    """Syntax problems of a LaTeX document that would stop it compiling (``8_2``); ``[]`` when none.

    Checks: a ``\\documentclass`` and a ``document`` environment; every ``\\begin{x}`` closed by
    ``\\end{x}`` in order; braces balanced (escaped ``\\{ \\}`` excepted); inline math ``$...$``
    closed; no unescaped ``#``, no unescaped ``%`` (a comment would swallow the rest of the line),
    ``_`` and ``^`` only in math, ``&`` only inside alignment environments (tabular...).
    A checker for generated files, not a TeX engine.
    """
    problems: list[str] = []
    envs: list[tuple[str, int]] = []
    braces: list[int] = []
    math_line = 0
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        elif c == "\\":
            j = i + 1
            while j < n and text[j].isalpha():
                j += 1
            name = text[i + 1:j]
            if not name:  # a control symbol: \_, \%, \\, \{ ...
                if i + 1 < n and text[i + 1] == "\n":
                    line += 1
                i += 2
                continue
            if name in ("begin", "end"):
                k = j
                while k < n and text[k] in " \t":
                    k += 1
                if k < n and text[k] == "{" and "}" in text[k:k + 60]:
                    close = text.index("}", k)
                    env = text[k + 1:close]
                    if name == "begin":
                        envs.append((env, line))
                    elif not envs:
                        problems.append(f"line {line}: \\end{{{env}}} without a \\begin")
                    elif envs[-1][0] != env:
                        problems.append(f"line {line}: \\end{{{env}}} closes \\begin{{{envs[-1][0]}}} "
                                        f"of line {envs[-1][1]}")
                        envs.pop()
                    else:
                        envs.pop()
                    i = close + 1
                    continue
                problems.append(f"line {line}: \\{name} without {{environment name}}")
            i = j
            continue
        elif c == "{":
            braces.append(line)
        elif c == "}":
            if braces:
                braces.pop()
            else:
                problems.append(f"line {line}: '}}' without a matching '{{'")
        elif c == "$":
            math_line = 0 if math_line else line
        elif c == "%":
            problems.append(f"line {line}: unescaped % (starts a comment that hides the rest of the line; write \\%)")
        elif c == "#":
            problems.append(f"line {line}: unescaped # (write \\#)")
        elif c in "_^" and not math_line:
            problems.append(f"line {line}: unescaped {c} outside math (write \\{c})")
        elif c == "&" and not any(e in _ALIGN_ENVS for e, _ in envs):
            problems.append(f"line {line}: unescaped & outside a table (write \\&)")
        i += 1
    for env, at in envs:
        problems.append(f"line {at}: \\begin{{{env}}} is never closed")
    for at in braces:
        problems.append(f"line {at}: '{{' is never closed")
    if math_line:
        problems.append(f"line {math_line}: inline math $ is never closed")
    if "\\documentclass" not in text:
        problems.append("no \\documentclass")
    if "\\begin{document}" not in text or "\\end{document}" not in text:
        problems.append("no \\begin{document} ... \\end{document}")
    return problems


def _cell(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}".replace(",", "\\,")
    if isinstance(value, (float, np.floating)):
        return "--" if not np.isfinite(value) else f"{float(value):.3f}"
    return latex_escape(value)


def _table(rows: Sequence[dict], caption: str, label: str) -> str:
    """A booktabs table from a list of dicts (the keys of the first are the columns)."""
    if not rows:
        return f"\\emph{{{latex_escape(caption)}: not measured in this run.}}\n"
    columns = list(rows[0])
    lines = ["\\begin{table}[ht]", "\\centering", f"\\caption{{{latex_escape(caption)}}}",
             f"\\label{{{label}}}", "\\begin{tabular}{l" + "r" * (len(columns) - 1) + "}", "\\toprule",
             " & ".join(latex_escape(c.replace("_", " ")) for c in columns) + " \\\\", "\\midrule"]
    for row in rows:
        lines.append(" & ".join(_cell(row.get(c, "")) for c in columns) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def architecture_rows(model) -> list[dict]:
    """A Keras model as table rows: ``layer``, ``type``, ``output`` shape, ``parameters``."""
    rows = []
    for layer in model.layers:
        shape = getattr(getattr(layer, "output", None), "shape", None)
        rows.append({"layer": layer.name, "type": type(layer).__name__,
                     "output": "x".join("B" if s is None else str(s) for s in shape) if shape is not None else "",
                     "parameters": int(layer.count_params())})
    return rows


REPORT_SECTIONS = ("detection", "segmentation", "reading", "pipeline")


def write_report(path, results: dict) -> Path:
    """Write the lab report skeleton ``Report.7.Detection.Segmentation.tex`` (``8_2``).

    ``path``: the file, or a folder to write :data:`REPORT_NAME` into. ``results``: what the run
    measured; every key is optional except at least one of the tables:

    - ``"detection"``, ``"segmentation"``, ``"reading"``, ``"pipeline"``: lists of dicts, one per
      method (e.g. ``{"method": "Haar cascade", "recall": 0.21, "AP50": ...}``), written as tables
      with the dict keys as column heads (floats with 3 decimals);
    - ``"architectures"``: ``{title: Keras model or list of row dicts}``, one table per network;
    - ``"data"``: ``{what: description}`` lines for the data section; ``"title"``, ``"author"``.

    The prose is left as marked placeholders for the student. Text is escaped
    (:func:`latex_escape`); the file is checked with :func:`latex_problems` before it is written,
    and written atomically (a failure leaves any earlier report untouched). Returns the path.
    """
    from utils.images import write_atomically

    if not isinstance(results, dict):
        raise ValueError(f"results: expected a dict of measured tables, got {type(results).__name__}")
    unknown = set(results) - {*REPORT_SECTIONS, "architectures", "data", "title", "author"}
    if unknown:
        raise ValueError(f"results: unknown keys {sorted(unknown)}; expected some of "
                         f"{[*REPORT_SECTIONS, 'architectures', 'data', 'title', 'author']}")
    if not any(results.get(k) for k in REPORT_SECTIONS):
        raise ValueError(f"results: no measured table to report (give at least one of {list(REPORT_SECTIONS)})")
    for key in REPORT_SECTIONS:
        rows = results.get(key) or []
        if not isinstance(rows, (list, tuple)) or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"results[{key!r}]: expected a list of dicts (one per method), got {type(rows).__name__}")
    path = Path(path)
    if path.is_dir() or path.suffix != ".tex":
        path = path / REPORT_NAME
    todo = lambda what: f"\\textbf{{[TODO: {latex_escape(what)}]}}"  # noqa: E731
    title = latex_escape(results.get("title", "Lab 7: licence-plate detection and character segmentation"))
    parts = ["\\documentclass[11pt,a4paper]{article}", "\\usepackage[T1]{fontenc}", "\\usepackage[utf8]{inputenc}",
             "\\usepackage{booktabs}", "\\usepackage{graphicx}", "\\usepackage{amsmath}", "",
             f"\\title{{{title}}}", f"\\author{{{latex_escape(results.get('author', '[Your name]'))}}}",
             "\\date{\\today}", "", "\\begin{document}", "\\maketitle", "",
             "\\begin{abstract}", todo("two or three sentences: the task, the two stages, the main numbers."),
             "\\end{abstract}", "",
             "\\section{Task}",
             "Input: an image of a car or a motorbike. Output: the properly segmented characters of its licence "
             "plate. The system has two stages, detection of the plate and segmentation of its characters, "
             "and uses no pretrained model: every network below was trained from scratch.", "",
             "\\section{Data}"]
    data = results.get("data") or {}
    if data:
        parts.append("\\begin{itemize}")
        parts += [f"\\item \\textbf{{{latex_escape(k)}}}: {latex_escape(v)}" for k, v in data.items()]
        parts.append("\\end{itemize}")
    parts += [todo("where the data come from, how it was split, why the test set is held out."), "",
              "\\section{Design}", todo("explain each stage and why you chose it."), ""]
    for title_, model in (results.get("architectures") or {}).items():
        rows = model if isinstance(model, (list, tuple)) else architecture_rows(model)
        total = sum(int(r.get("parameters", 0)) for r in rows)
        parts += [f"\\subsection{{{latex_escape(title_)}}}", f"{_cell(total)} parameters in all.", "",
                  _table(list(rows), f"Architecture: {title_}", f"tab:arch{len(parts)}"), ""]
    parts += ["\\section{Evaluation}",
              "All numbers were measured on held-out data generated from a seed never used in training.", ""]
    captions = {"detection": ("Stage 1, plate detection (IoU 0.5)", "tab:detection"),
                "segmentation": ("Stage 2, character segmentation (IoU 0.5)", "tab:segmentation"),
                "reading": ("Character recognition and whole-plate reading", "tab:reading"),
                "pipeline": ("The whole two-stage pipeline", "tab:pipeline")}
    for key in REPORT_SECTIONS:
        caption, label = captions[key]
        parts += [f"\\subsection{{{caption}}}", _table(list(results.get(key) or []), caption, label),
                  todo(f"comment on the {key} results."), ""]
    parts += ["\\section{Extra: a ResNet-style backbone}",
              todo("compare the plain CNN and the residual network: accuracy, parameters, training time."), "",
              "\\section{Discussion}", todo("failure cases (show pictures), limits, what you would change."), "",
              "\\section{Conclusion}", todo("one paragraph."), "", "\\end{document}", ""]
    text = "\n".join(parts)
    problems = latex_problems(text)
    if problems:  # a bug here, not the student's: refuse to write a report that does not compile
        raise RuntimeError("write_report: the generated LaTeX has problems: " + "; ".join(problems[:5]))
    return write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
