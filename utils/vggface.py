"""VGGFace for Keras 3: the VGGFace (VGG16) and VGGFace2 (ResNet-50, SE-ResNet-50) networks
with the layer names and weight shapes of rcmalli's published weight files (taught in ``4_4``).

``keras-vggface`` (rcmalli) no longer imports on Keras 3. This module keeps its public calls::

    from utils.vggface import VGGFace, preprocess_input, decode_predictions

    model = VGGFace(model="resnet50", include_top=False, pooling="avg", input_shape=(224, 224, 3))
    features = model.predict(preprocess_input(faces, version=2))   # faces: (N, 224, 224, 3) RGB 0..255
    features.shape                                                 # (N, 2048)

=========  =========================  ===============  ==========  =================
model      trained on                 classes (top)    min input   preprocess_input
=========  =========================  ===============  ==========  =================
vgg16      VGGFace (2,622 people)     2622 (``fc8``)   32 x 32     ``version=1``
resnet50   VGGFace2 (8,631 people)    8631             197 x 197   ``version=2``
senet50    VGGFace2 (8,631 people)    8631             197 x 197   ``version=2``
=========  =========================  ===============  ==========  =================

(ResNet-50 and SE-ResNet-50 end with a fixed 7 x 7 average pooling, as rcmalli's do, so
stage 5 must be at least 7 x 7: an input of at least 197 x 197.)

**Weight files.** rcmalli published Keras 2 HDF5 weight files (``model.save_weights``):
the root attribute ``layer_names`` lists every layer, and each layer's group has an
attribute ``weight_names`` naming its arrays in Keras order (Conv2D/Dense: kernel, bias;
BatchNormalization: gamma, beta, moving_mean, moving_variance). :func:`load_weights_h5`
reads that layout with h5py and loads it **by layer name**, refusing a file whose layers
do not match the model (missing, extra or mis-shaped), with the layer and the file named;
:func:`save_weights_h5` writes it (e.g. a fine-tuned model, readable by Keras 2 code too).

Differences from rcmalli's package, on purpose:

- Keras 3 forbids ``/`` in layer names, so a layer published as ``conv1/7x7_s2/bn`` is
  called ``conv1.7x7_s2.bn`` here (:func:`keras_name` and :func:`file_name` convert).
- ``weights="vggface"`` takes the file from the course registry (``utils.weights``);
  ``weights`` may also be the path of a weights file in the published layout.
- :func:`decode_predictions` returns clean names, ``[(name, score), ...]`` per image,
  best first (rcmalli returned ``["b' A._J._Buckley'", score]``).
- Models are built channels-last only (TensorFlow's CPU convolutions need it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import keras
import numpy as np
from keras import layers

__all__ = ["VGGFace", "preprocess_input", "decode_predictions", "load_weights_h5", "read_weights_h5", "save_weights_h5",
           "load_labels", "keras_name", "file_name", "weights_asset", "WeightsFileError",
           "CLASSES", "LABEL_VERSION", "MIN_SIZE", "MEANS_BGR", "RELEASE_URL", "WEIGHT_FILES", "LABEL_FILES"]

MODELS = ("vgg16", "resnet50", "senet50")
CLASSES = {"vgg16": 2622, "resnet50": 8631, "senet50": 8631}
"""Identities of the published classifiers (VGGFace: 2,622; VGGFace2: 8,631)."""
LABEL_VERSION = {"vgg16": 1, "resnet50": 2, "senet50": 2}
"""Which ``preprocess_input`` version and label file each model was trained with."""
MIN_SIZE = {"vgg16": 32, "resnet50": 197, "senet50": 197}
"""Smallest input height/width each architecture can take."""
MEANS_BGR = {1: (93.5940, 104.7624, 129.1863), 2: (91.4953, 103.8827, 131.0912)}
"""Per-channel means (B, G, R) that ``preprocess_input`` subtracts: version 1 = VGGFace
(vgg16), version 2 = VGGFace2 (resnet50, senet50); the values of rcmalli's utils.py."""

RELEASE_URL = "https://github.com/rcmalli/keras-vggface/releases/download/v2.0/"
"""Where rcmalli published the weight and label files (GitHub release v2.0)."""
WEIGHT_FILES = {
    ("vgg16", True): "rcmalli_vggface_tf_vgg16.h5",
    ("vgg16", False): "rcmalli_vggface_tf_notop_vgg16.h5",
    ("resnet50", True): "rcmalli_vggface_tf_resnet50.h5",
    ("resnet50", False): "rcmalli_vggface_tf_notop_resnet50.h5",
    ("senet50", True): "rcmalli_vggface_tf_senet50.h5",
    ("senet50", False): "rcmalli_vggface_tf_notop_senet50.h5",
}
"""Published weight file of each ``(model, include_top)``; also its registry name."""
LABEL_FILES = {1: "rcmalli_vggface_labels_v1.npy", 2: "rcmalli_vggface_labels_v2.npy"}
"""Published identity names: version 1 (2,622 names) and version 2 (8,631 names)."""


class WeightsFileError(ValueError):
    """A weights or label file that does not fit; the message names the file and the layer."""


# ------------------------------------------------------------------------------ names


def keras_name(name: str) -> str:
    """The Keras 3 layer name of a layer published as ``name`` (``/`` becomes ``.``)."""
    return name.replace("/", ".")


def file_name(name: str) -> str:
    """The published (weight-file) name of Keras layer ``name`` (``.`` becomes ``/``)."""
    return name.replace(".", "/")


# ------------------------------------------------------------------------ preprocessing


def preprocess_input(x, data_format: str | None = None, version: int = 1) -> np.ndarray:
    """Prepare RGB images in 0..255 for a VGGFace model, as the networks were trained:
    reverse the channels (RGB to BGR) and subtract the training set's channel means.

    Args:
        x: array-like of RGB images, ``(..., H, W, 3)`` (channels last) or ``(..., 3, H, W)``
            (channels first), any numeric dtype, values 0..255. Not modified.
        data_format: ``"channels_last"`` or ``"channels_first"``; default Keras' setting.
        version: 1 for VGGFace (``vgg16``), 2 for VGGFace2 (``resnet50``, ``senet50``);
            see :data:`MEANS_BGR`.

    Returns:
        A new float array (float32, or float64 if ``x`` was float64) of the same shape, BGR.
    """
    if version not in MEANS_BGR:
        raise ValueError(f"version={version!r}: expected 1 (VGGFace, vgg16) or 2 (VGGFace2, resnet50/senet50)")
    data_format = data_format or keras.config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format={data_format!r}: expected 'channels_last' or 'channels_first'")
    arr = np.asarray(x)
    if arr.dtype.kind not in "uif":
        raise ValueError(f"expected a numeric image array, got dtype {arr.dtype}")
    axis = -1 if data_format == "channels_last" else -3
    if arr.ndim < 3 or arr.shape[axis] != 3:
        where = "last" if axis == -1 else "third from last"
        raise ValueError(f"expected RGB images with 3 channels on the {where} axis ({data_format}), "
                         f"got shape {arr.shape}")
    dtype = np.float64 if arr.dtype == np.float64 else np.float32
    means = np.asarray(MEANS_BGR[version], dtype=dtype)
    if axis == -3:
        means = means[:, None, None]
    return np.flip(arr.astype(dtype), axis=axis) - means


# ---------------------------------------------------------------------------- labels


def _read_labels(path: Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such label file (expected a .npy array of identity names)")
    try:
        # Never unpickle: a pickled (object) array can run any code when loaded.
        raw = np.load(path, allow_pickle=False)
    except ValueError as err:
        with open(path, "rb") as f:
            is_npy = f.read(6) == b"\x93NUMPY"
        if "allow_pickle" in str(err) and is_npy:
            raise WeightsFileError(
                f"{path}: an object (pickled) array; label files are never unpickled, since loading a "
                "pickle runs code. Save the names as a plain string array: "
                "np.save(path, np.array(names, dtype=str))") from None
        raise WeightsFileError(f"{path}: not a readable .npy label file ({err})") from None
    except Exception as err:  # noqa: BLE001 - any reader failure means the same thing
        raise WeightsFileError(f"{path}: not a readable .npy label file ({type(err).__name__}: {err})") from None
    if not isinstance(raw, np.ndarray):  # np.load of a .npz archive
        raise WeightsFileError(f"{path}: a .npz archive, expected a .npy array of identity names")
    raw = np.asarray(raw)
    if raw.ndim != 1 or raw.size == 0:
        raise WeightsFileError(f"{path}: expected a 1-D array of identity names, got shape {raw.shape}")
    return [(v.decode("utf-8") if isinstance(v, bytes) else str(v)).strip() for v in raw.tolist()]


def load_labels(version: int | None = None, path=None) -> list[str]:
    """Identity names, index = class: from ``path``, or the published label file of
    ``version`` (1: 2,622 VGGFace names; 2: 8,631 VGGFace2 names) from the course registry
    (``4_4``). Names are stripped of the padding spaces the published files hold."""
    if path is None:
        if version not in LABEL_FILES:
            raise ValueError(f"version={version!r}: expected 1 or 2, or give path=")
        path = _registry_file(LABEL_FILES[version])
    return _read_labels(Path(path))


def decode_predictions(preds, top: int = 5, labels=None) -> list[list[tuple[str, float]]]:
    """Turn classifier outputs into names: for each image, the ``top`` identities and their
    scores, best first (``4_4``).

    Args:
        preds: ``(N, C)`` scores; without ``labels``, ``C`` must be 2622 (VGGFace, vgg16)
            or 8631 (VGGFace2), and the published label file is taken from the registry.
        top: how many identities per image (at most ``C``).
        labels: optional names for the ``C`` classes: a sequence of strings, or the path of a
            ``.npy`` label file in the published format.

    Returns:
        ``[[(name, score), ...], ...]``: one list per image; ties keep class order.
    """
    preds = np.asarray(preds)
    if preds.ndim != 2:
        raise ValueError(f"decode_predictions expects a batch of scores (N, classes), got shape {preds.shape}")
    if labels is None:
        version = {2622: 1, 8631: 2}.get(preds.shape[1])
        if version is None:
            raise ValueError(f"decode_predictions expects (N, 2622) scores (VGGFace) or (N, 8631) (VGGFace2), "
                             f"got shape {preds.shape}; for another classifier pass labels=")
        names = load_labels(version)
    elif isinstance(labels, (str, Path)):
        names = _read_labels(Path(labels))
    else:
        names = [str(n) for n in labels]
    if len(names) != preds.shape[1]:
        where = f" ({labels})" if isinstance(labels, (str, Path)) else ""
        raise ValueError(f"{len(names)} labels{where} for {preds.shape[1]} classes: they must match")
    if int(top) < 1:
        raise ValueError(f"top={top!r}: expected at least 1")
    k = min(int(top), preds.shape[1])
    out = []
    for row in preds:
        best = np.argsort(-row, kind="stable")[:k]
        out.append([(names[i], float(row[i])) for i in best])
    return out


# ------------------------------------------------------------------------ the networks


def _vgg16(x, include_top: bool, classes: int):
    conv = dict(kernel_size=3, activation="relu", padding="same")
    for block, (filters, n) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], start=1):
        for i in range(1, n + 1):
            x = layers.Conv2D(filters, name=f"conv{block}_{i}", **conv)(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"pool{block}")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        for name, units, act in [("fc6", 4096, "relu"), ("fc7", 4096, "relu"), ("fc8", classes, "softmax")]:
            x = layers.Dense(units, name=name)(x)
            x = layers.Activation(act, name=keras_name(f"{name}/{act}"))(x)
    return x


def _se(x, prefix: str):
    """Squeeze-and-excitation: channel weights from a 16x bottleneck (biases, as rcmalli's)."""
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D()(x)
    s = layers.Reshape((1, 1, channels))(s)
    s = layers.Conv2D(channels // 16, 1, name=f"{prefix}_1x1_down")(s)
    s = layers.Activation("relu")(s)
    s = layers.Conv2D(channels, 1, name=f"{prefix}_1x1_up")(s)
    s = layers.Activation("sigmoid")(s)
    return layers.Multiply()([x, s])


def _bottleneck(x, filters, stage: int, block: int, strides: int, project: bool, se: bool, eps: float):
    """ResNet bottleneck: 1x1 reduce, 3x3, 1x1 increase (+ SE), plus the shortcut."""
    f1, f2, f3 = filters
    p = f"conv{stage}_{block}"

    def conv_bn(y, f, k, name, s=1, pad="valid"):
        y = layers.Conv2D(f, k, strides=s, padding=pad, use_bias=False, name=name)(y)
        return layers.BatchNormalization(epsilon=eps, name=keras_name(f"{name}/bn"))(y)

    y = layers.Activation("relu")(conv_bn(x, f1, 1, f"{p}_1x1_reduce", s=strides))
    y = layers.Activation("relu")(conv_bn(y, f2, 3, f"{p}_3x3", pad="same"))
    y = conv_bn(y, f3, 1, f"{p}_1x1_increase")
    if se:
        y = _se(y, p)
    shortcut = conv_bn(x, f3, 1, f"{p}_1x1_proj", s=strides) if project else x
    return layers.Activation("relu")(layers.Add()([y, shortcut]))


def _resnet(x, include_top: bool, classes: int, se: bool):
    eps = 1e-4 if se else 1e-3  # rcmalli: SENet50 BN epsilon 1e-4, ResNet50 Keras' default
    x = layers.Conv2D(64, 7, strides=2, padding="same", use_bias=False, name=keras_name("conv1/7x7_s2"))(x)
    x = layers.BatchNormalization(epsilon=eps, name=keras_name("conv1/7x7_s2/bn"))(x)
    x = layers.Activation("relu")(x)
    x = layers.MaxPooling2D(3, strides=2)(x)
    for stage, (filters, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)], start=2):
        for block in range(1, blocks + 1):
            first = block == 1
            x = _bottleneck(x, (filters, filters, filters * 4), stage, block,
                            strides=(2 if stage > 2 else 1) if first else 1, project=first, se=se, eps=eps)
    x = layers.AveragePooling2D(7, name="avg_pool")(x)
    if include_top:
        x = layers.Flatten()(x)
        x = layers.Dense(classes, activation="softmax", name="classifier")(x)
    return x


def _check_shape(model: str, shape, include_top: bool, weights) -> tuple:
    if shape is None:
        return (224, 224, 3) if include_top else (None, None, 3)
    shape = tuple(None if d is None else int(d) for d in shape)
    if len(shape) != 3 or shape[-1] != 3:
        raise ValueError(f"input_shape={shape}: expected (height, width, 3), channels last")
    for d in shape[:2]:
        if d is not None and d < MIN_SIZE[model]:
            raise ValueError(f"input_shape={shape}: {model} needs height and width of at least {MIN_SIZE[model]}")
    if include_top and None in shape[:2]:
        raise ValueError(f"input_shape={shape}: with include_top=True the size must be fixed (e.g. (224, 224, 3))")
    if include_top and weights == "vggface" and shape != (224, 224, 3):
        raise ValueError(f"input_shape={shape}: the published classifier needs (224, 224, 3)")
    return shape


def weights_asset(model: str = "vgg16", include_top: bool = True) -> str:
    """The published weight file (and registry asset name) of ``model`` with or without top."""
    if model not in MODELS:
        raise ValueError(f"model={model!r}: expected one of {', '.join(MODELS)}")
    return WEIGHT_FILES[(model, bool(include_top))]


def _registry_file(asset: str) -> Path:
    """The verified local copy of a published file, or an AssetError saying what to do."""
    from utils import weights as registry

    reg = registry.Registry()
    if asset not in reg.assets:
        raise registry.AssetError(
            f"{asset} is not in the course registry ({registry.MANIFEST}): its publisher gives no checksum "
            f"or size to verify it by. Download {RELEASE_URL}{asset} yourself and pass its path "
            "(weights='path/to/file.h5' for a model, labels='path/to/file.npy' for decode_predictions).")
    return reg.verify(asset)


def VGGFace(include_top: bool = True, model: str = "vgg16", weights="vggface", input_tensor=None,
            input_shape=None, pooling: str | None = None, classes: int | None = None) -> keras.Model:
    """Build a VGGFace network, rcmalli's ``keras_vggface.VGGFace`` for Keras 3 (``4_4``).

    Args:
        include_top: keep the identity classifier (``fc6``-``fc8`` for vgg16, ``classifier``
            for resnet50/senet50); its input must then be fixed, 224 x 224 for the published weights.
        model: ``"vgg16"`` (VGGFace), ``"resnet50"`` or ``"senet50"`` (VGGFace2).
        weights: ``"vggface"`` (the published weights, from the course registry), ``None``
            (random initialisation), or the path of a weights file in the published layout.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: ``(H, W, 3)``; default ``(224, 224, 3)`` with the top, ``(None, None, 3)``
            without. At least :data:`MIN_SIZE` on each side.
        pooling: without the top, ``None`` (4-D feature map), ``"avg"`` or ``"max"`` (global
            pooling to ``(N, channels)``: 512 for vgg16, 2048 for resnet50/senet50).
        classes: size of the classifier; default (and required with ``weights="vggface"``)
            :data:`CLASSES` of the model.

    Returns:
        A ``keras.Model`` named ``vggface_<model>`` taking RGB faces prepared by
        :func:`preprocess_input` (``version`` from :data:`LABEL_VERSION`).
    """
    if model not in MODELS:
        raise ValueError(f"model={model!r}: expected one of {', '.join(MODELS)}")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling={pooling!r}: expected None, 'avg' or 'max'")
    if keras.config.image_data_format() != "channels_last":
        raise ValueError("VGGFace is built channels_last only: set keras.config.set_image_data_format('channels_last')")
    classes = CLASSES[model] if classes is None else int(classes)
    if weights == "vggface" and include_top and classes != CLASSES[model]:
        raise ValueError(f"with weights='vggface' and include_top=True, {model} has classes={CLASSES[model]}, "
                         f"got {classes}")
    shape = None if input_tensor is not None else _check_shape(model, input_shape, include_top, weights)
    # resolve the weights before building, so a missing file fails fast
    if weights is None:
        path = None
    elif isinstance(weights, str) and weights == "vggface":
        path = _registry_file(weights_asset(model, include_top))
    elif isinstance(weights, (str, Path)):
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"weights={str(weights)!r}: no such file (expected 'vggface', None, "
                                    "or the path of a weights file in the published layout)")
    else:
        raise ValueError(f"weights={weights!r}: expected 'vggface', None, or a path")

    if input_tensor is None:
        img_input = keras.Input(shape=shape)
        inputs = img_input
    else:
        if not keras.backend.is_keras_tensor(input_tensor):
            raise TypeError(f"input_tensor must be a Keras tensor (keras.Input(...) or a layer's output), "
                            f"got {type(input_tensor).__name__}")
        _check_shape(model, tuple(input_tensor.shape[1:]), include_top, weights)
        img_input = input_tensor
        inputs = keras.utils.get_source_inputs(input_tensor)

    if model == "vgg16":
        x = _vgg16(img_input, include_top, classes)
    else:
        x = _resnet(img_input, include_top, classes, se=model == "senet50")
    if not include_top and pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif not include_top and pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    net = keras.Model(inputs, x, name=f"vggface_{model}")
    if path is not None:
        load_weights_h5(net, path)
    return net


# ---------------------------------------------------------------------- weight files


def _names_attr(group, name: str, where: str) -> list[str]:
    """A list-of-strings attribute; Keras 2 splits big ones into ``name0``, ``name1``, ..."""
    if name in group.attrs:
        raw = group.attrs[name]
    elif f"{name}0" in group.attrs:
        raw, i = [], 0
        while f"{name}{i}" in group.attrs:
            raw.extend(np.asarray(group.attrs[f"{name}{i}"]).tolist())
            i += 1
    else:
        raise WeightsFileError(f"{where}: no attribute {name!r}: not a Keras 2 HDF5 weights file "
                               "(expected root attribute 'layer_names' and a group per layer with 'weight_names')")
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.asarray(raw).reshape(-1).tolist()]


def read_weights_h5(path) -> dict[str, list[tuple[str, np.ndarray]]]:
    """Read a Keras 2 HDF5 weights file (rcmalli's layout; ``4_4``).

    Returns ``{layer name: [(weight name, array), ...]}`` in the file's order, for every
    layer that has weights (published names, e.g. ``"conv1/7x7_s2/bn"``). A full-model
    file (weights under ``model_weights``) is read the same way.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise WeightsFileError(f"{path}: not an HDF5 file ({err}); expected a Keras 2 .h5 weights file") from None
    with f:
        root = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
        out: dict[str, list[tuple[str, np.ndarray]]] = {}
        for layer in _names_attr(root, "layer_names", str(path)):
            if layer not in root:
                raise WeightsFileError(f"{path}: layer {layer!r} is listed in 'layer_names' but has no group")
            group = root[layer]
            if "weight_names" not in group.attrs and "weight_names0" not in group.attrs:
                continue  # a layer without weights (activation, pooling, ...)
            names = _names_attr(group, "weight_names", f"{path}: layer {layer!r}")
            if not names:
                continue
            values = []
            for w in names:
                if w not in group:
                    raise WeightsFileError(f"{path}: layer {layer!r} lists weight {w!r} but the file does not hold it")
                values.append((w, np.asarray(group[w])))
            out[layer] = values
    return out


def _weighted_layers(model) -> Iterable:
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _weighted_layers(layer)
        elif layer.weights:
            yield layer


def _listing(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def load_weights_h5(model, path, allow_missing: bool = False, allow_extra: bool = False) -> list[str]:
    """Load a Keras 2 HDF5 weights file into ``model`` by layer name (``4_4``).

    Every layer of ``model`` that has weights is matched with the file's layer of the same
    published name (:func:`file_name`); within a layer, arrays go in the file's order (as
    Keras 2 did). Everything is checked before anything is assigned, so a bad file leaves
    the model untouched.

    Args:
        model: a Keras model (nested models are searched too).
        path: the ``.h5`` file.
        allow_missing: accept model layers the file lacks (they keep their weights).
        allow_extra: accept file layers the model lacks (ignored), e.g. a top in a no-top model.

    Returns:
        The published names of the layers loaded, in model order.

    Raises:
        FileNotFoundError: no such file.
        WeightsFileError: not a Keras 2 weights file, or layers missing, extra or mis-shaped;
            the message names the file and the layers.
    """
    path = Path(path)
    stored = read_weights_h5(path)
    targets: dict[str, object] = {}
    for layer in _weighted_layers(model):
        name = file_name(layer.name)
        if name in targets:
            raise WeightsFileError(f"model {model.name!r} has two layers named {name!r}: cannot load {path} by name")
        targets[name] = layer
    missing = [n for n in targets if n not in stored]
    extra = [n for n in stored if n not in targets]
    if missing and not allow_missing:
        raise WeightsFileError(f"{path}: no weights for layer(s) {_listing(missing)} of model {model.name!r} "
                               f"(the file has {len(stored)} layers with weights). Is it the file for this "
                               "model and include_top?")
    if extra and not allow_extra:
        raise WeightsFileError(f"{path}: layer(s) {_listing(extra)} in the file do not exist in model "
                               f"{model.name!r}. Is it the file for this model and include_top? "
                               "(allow_extra=True ignores them)")
    plan = []
    for name, layer in targets.items():
        if name not in stored:
            continue
        values = stored[name]
        expected = [tuple(v.shape) for v in layer.weights]
        if len(values) != len(expected):
            raise WeightsFileError(f"{path}: layer {name!r} holds {len(values)} arrays "
                                   f"({', '.join(w for w, _ in values)}), the model's layer has {len(expected)} "
                                   f"({', '.join(v.name for v in layer.weights)})")
        for (wname, value), var, shape in zip(values, layer.weights, expected):
            if tuple(value.shape) != shape:
                raise WeightsFileError(f"{path}: layer {name!r}, weight {wname!r}: the file holds shape "
                                       f"{tuple(value.shape)}, the model's {var.name!r} is {shape}")
        plan.append((name, layer, [v for _, v in values]))
    for _, layer, values in plan:
        layer.set_weights(values)
    return [name for name, _, _ in plan]


def save_weights_h5(model, path) -> Path:
    """Write ``model``'s weights in the published Keras 2 HDF5 layout (``4_4``): root
    attribute ``layer_names`` (every layer, published names), one group per layer with
    attribute ``weight_names`` (``<layer>/<weight>:0``) and the arrays. :func:`load_weights_h5`
    (and Keras 2's ``load_weights(..., by_name=True)``) read it back. Written atomically
    (:func:`utils.images.write_atomically`). Returns the path."""
    import h5py

    from utils.images import write_atomically

    layers_ = [(file_name(layer.name), layer) for layer in model.layers]

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            f.attrs["layer_names"] = np.array([name.encode("utf-8") for name, _ in layers_])
            f.attrs["backend"] = b"tensorflow"
            f.attrs["keras_version"] = keras.__version__.encode("utf-8")
            for name, layer in layers_:
                group = f.require_group(name)  # "a/b/bn" nests inside "a/b", as h5py always did
                names = [f"{name}/{w.name}:0" for w in layer.weights]
                group.attrs["weight_names"] = np.array([n.encode("utf-8") for n in names], dtype="S")
                for wname, value in zip(names, layer.get_weights()):
                    group.create_dataset(wname, data=value)

    return write_atomically(path, write)
