"""Tests for utils.efficientnet: the PyTorch state-dict reader (without PyTorch), the Keras
EfficientNet-Lite0 and its weight mapping, and (when the file is here) the real ImageNet weights.

The tests write ``.pth`` files in both PyTorch formats themselves: a stand-in ``torch``
module is put in ``sys.modules`` only while pickling, so the pickles name exactly the
globals PyTorch's own files name (``torch._utils._rebuild_tensor_v2``, ``torch.FloatStorage``).
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from utils import data, efficientnet, transfer, weights

# ------------------------------------------------------------------ writing .pth files

_DTYPE_STORAGE = {np.dtype("float32"): "FloatStorage", np.dtype("int64"): "LongStorage"}


class _Storage:
    def __init__(self, key: str, array: np.ndarray):
        self.key, self.array = key, array


class _Tensor:
    def __init__(self, storage: _Storage, size: tuple, stride: tuple):
        self.storage, self.size, self.stride = storage, size, stride


def _fake_torch():
    """Stand-in ``torch`` and ``torch._utils`` modules: just the names a state dict pickles."""
    torch, utils_mod = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # pickled by name only, never called
        raise AssertionError

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in _DTYPE_STORAGE.values():
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    torch._utils = utils_mod
    return torch, utils_mod


def write_pth(path, tensors: dict, fmt: str = "legacy", transposed: tuple = ()):
    """``torch.save(state_dict, path)`` for ``{name: np.ndarray}``, in the legacy or the zip
    format. Names in ``transposed`` are stored as non-contiguous views of a transposed
    storage, as in the real file."""
    torch, utils_mod = _fake_torch()
    storages, entries = OrderedDict(), OrderedDict()
    for i, (name, array) in enumerate(tensors.items()):
        array = np.asarray(array)
        stored = np.array(array.T if name in transposed else array, order="C")
        view = stored.T if name in transposed else stored
        storage = storages[str(1000 + i)] = _Storage(str(1000 + i), stored)
        entries[name] = _Tensor(storage, tuple(array.shape), tuple(s // stored.itemsize for s in view.strides))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                pid = ("storage", getattr(torch, _DTYPE_STORAGE[obj.array.dtype]), obj.key, "cpu", obj.array.size)
                return pid + (None,) if fmt == "legacy" else pid
            return None

        def reducer_override(self, obj):
            if isinstance(obj, _Tensor):
                return utils_mod._rebuild_tensor_v2, (obj.storage, 0, obj.size, obj.stride, False, OrderedDict())
            return NotImplemented

    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils_mod
    try:
        buf = io.BytesIO()
        Pickler(buf, protocol=2).dump(entries)
        main = buf.getvalue()
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v

    if fmt == "legacy":
        with open(path, "wb") as f:
            f.write(_legacy_header())
            f.write(main)
            pickle.dump(list(storages), f, protocol=2)
            for storage in storages.values():
                f.write(struct.pack("<q", storage.array.size))
                f.write(storage.array.tobytes())
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", main)
            for key, storage in storages.items():
                z.writestr(f"archive/data/{key}", storage.array.tobytes())
    return path


def _legacy_header() -> bytes:
    buf = io.BytesIO()
    for obj in (0x1950A86A20F9469CFC6C, 1001,
                {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(obj, buf, protocol=2)
    return buf.getvalue()


SMALL = OrderedDict([
    ("conv.weight", np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2) / 7),
    ("fc.weight", np.arange(12, dtype=np.float32).reshape(3, 4)),
    ("bn.num_batches_tracked", np.array(5, dtype=np.int64)),
])


@pytest.mark.parametrize("fmt", ["legacy", "zip"])
def test_reader_round_trip(tmp_path, fmt):
    path = write_pth(tmp_path / "small.pth", SMALL, fmt=fmt, transposed=("fc.weight",))
    got = efficientnet.read_state_dict(path)
    assert list(got) == list(SMALL)
    for name, array in SMALL.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape
        np.testing.assert_array_equal(got[name], array)
    assert got["fc.weight"].flags["C_CONTIGUOUS"]


class _Evil:
    def __reduce__(self):
        return os.system, ("touch EVIL_RAN",)


@pytest.mark.parametrize("fmt", ["legacy", "zip"])
def test_reader_refuses_a_malicious_pickle(tmp_path, monkeypatch, fmt):
    monkeypatch.chdir(tmp_path)
    payload = pickle.dumps(OrderedDict(weight=_Evil()), protocol=2)
    path = tmp_path / "evil.pth"
    if fmt == "legacy":
        path.write_bytes(_legacy_header() + payload)
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", payload)
    with pytest.raises(efficientnet.UnsafePickleError, match=r"refused to load (posix|os|nt)\.system"):
        efficientnet.read_state_dict(path)
    assert not (tmp_path / "EVIL_RAN").exists()


def test_reader_refuses_other_globals_and_bad_files(tmp_path):
    builtins_eval = b"\x80\x02cbuiltins\neval\nq\x00X\x04\x00\x00\x001+1q\x01\x85q\x02Rq\x03."
    (tmp_path / "eval.pth").write_bytes(_legacy_header() + builtins_eval)
    with pytest.raises(efficientnet.UnsafePickleError, match="builtins.eval"):
        efficientnet.read_state_dict(tmp_path / "eval.pth")
    (tmp_path / "text.pth").write_text("not a pickle at all")
    with pytest.raises(ValueError, match="text.pth"):
        efficientnet.read_state_dict(tmp_path / "text.pth")
    good = write_pth(tmp_path / "good.pth", SMALL).read_bytes()
    (tmp_path / "cut.pth").write_bytes(good[:-10])
    with pytest.raises(ValueError, match="truncated"):
        efficientnet.read_state_dict(tmp_path / "cut.pth")
    (tmp_path / "list.pth").write_bytes(_legacy_header() + pickle.dumps([1, 2], protocol=2)
                                        + pickle.dumps([], protocol=2))
    with pytest.raises(ValueError, match="expected a state dict"):
        efficientnet.read_state_dict(tmp_path / "list.pth")
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        efficientnet.read_state_dict(tmp_path / "missing.pth")


# ------------------------------------------------------------------ network and mapping


def torch_names() -> list[str]:
    """The parameter names of the PyTorch EfficientNet-Lite0, derived from the architecture
    table (independently of the module's own mapping)."""
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    names = ["_conv_stem.weight"] + [f"_bn0.{f}" for f in bn]
    b = 0
    for repeats, _, _, expand, _, _ in efficientnet.BLOCKS:
        for _ in range(repeats):
            p = f"_blocks.{b}."
            if expand != 1:
                names += [p + "_expand_conv.weight"] + [p + f"_bn0.{f}" for f in bn]
            names += [p + "_depthwise_conv.weight"] + [p + f"_bn1.{f}" for f in bn]
            names += [p + "_project_conv.weight"] + [p + f"_bn2.{f}" for f in bn]
            b += 1
    names += ["_conv_head.weight"] + [f"_bn1.{f}" for f in bn] + ["_fc.weight", "_fc.bias"]
    return names


@pytest.fixture(scope="module")
def model():
    return efficientnet.build((64, 64, 3))


def _fake_state_dict(model, seed=0):
    """A state dict in PyTorch layout with random values, for every name of :func:`torch_names`."""
    rng = np.random.default_rng(seed)
    mapping = efficientnet.weight_map(model, torch_names())
    out = OrderedDict()
    for name in torch_names():
        if name.endswith("num_batches_tracked"):
            out[name] = np.array(1, np.int64)
            continue
        layer_name, index = mapping[name]
        layer = model.get_layer(layer_name)
        shape = tuple(layer.weights[index].shape)
        kind = type(layer).__name__
        torch_shape = {"Conv2D": lambda s: (s[3], s[2], s[0], s[1]), "DepthwiseConv2D": lambda s: (s[2], s[3], s[0], s[1]),
                       "Dense": lambda s: (s[1], s[0])}.get(kind, lambda s: s)(shape) if name.endswith("weight") and kind != "BatchNormalization" else shape
        value = rng.normal(size=torch_shape).astype(np.float32)
        if name.endswith("running_var"):
            value = np.abs(value) + 0.5
        out[name] = value
    return out


def test_architecture_counts(model):
    assert model.count_params() == efficientnet.NUM_PARAMETERS == 4_694_024
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 4_652_008
    assert model.output_shape == (None, 1000)
    assert len([n for n in torch_names() if not n.endswith("num_batches_tracked")]) == 247
    kinds = [type(layer).__name__ for layer in model.layers]
    assert "Multiply" not in kinds and kinds.count("GlobalAveragePooling2D") == 1   # no squeeze-excitation
    relus = [layer for layer in model.layers if type(layer).__name__ == "ReLU"]
    assert relus and all(float(layer.max_value) == 6.0 for layer in relus)  # ReLU6
    bns = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    assert all(layer.epsilon == 1e-3 for layer in bns)
    assert model.get_layer("head_conv").filters == 1280 and model.get_layer("stem_conv").filters == 32


def test_mapping_uses_every_parameter_exactly_once(model):
    names = torch_names()
    mapping = efficientnet.weight_map(model, names)
    assert set(mapping) == {n for n in names if not n.endswith("num_batches_tracked")}
    targets = list(mapping.values())
    assert len(targets) == len(set(targets))                         # no weight set twice
    every_weight = {(layer.name, i) for layer in model.layers for i in range(len(layer.weights))}
    assert set(targets) == every_weight                               # and none left out


def test_load_weights_places_each_tensor(model):
    state = _fake_state_dict(model)
    counts = efficientnet.load_weights(model, state)
    assert counts == {"tensors": 247, "numbers": 4_694_024, "skipped": 0, "bookkeeping": 49}
    np.testing.assert_array_equal(model.get_layer("stem_conv").kernel.numpy(), state["_conv_stem.weight"].transpose(2, 3, 1, 0))
    dw = model.get_layer("blocks_5_depthwise_conv").weights[0].numpy()
    np.testing.assert_array_equal(dw, state["_blocks.5._depthwise_conv.weight"].transpose(2, 3, 0, 1))
    np.testing.assert_array_equal(model.get_layer("predictions").kernel.numpy(), state["_fc.weight"].T)
    np.testing.assert_array_equal(model.get_layer("blocks_15_bn2").moving_variance.numpy(), state["_blocks.15._bn2.running_var"])


def test_load_weights_rejects_missing_extra_and_misshapen(model):
    state = _fake_state_dict(model, seed=1)
    missing = OrderedDict((k, v) for k, v in state.items() if k != "_blocks.3._bn1.bias")
    with pytest.raises(ValueError, match=r"not in the state dict.*blocks_3_bn1\[1\]"):
        efficientnet.load_weights(model, missing)
    extra = OrderedDict(state, **{"_blocks.3._se_reduce.weight": np.zeros((4, 96, 1, 1), np.float32)})
    with pytest.raises(ValueError, match="_se_reduce"):
        efficientnet.load_weights(model, extra)
    bad = OrderedDict(state)
    bad["_conv_head.weight"] = np.zeros((1280, 321, 1, 1), np.float32)
    with pytest.raises(ValueError, match="_conv_head.weight"):
        efficientnet.load_weights(model, bad)


def test_headless_model_skips_the_classifier():
    base = efficientnet.build((32, 32, 3), include_top=False, pooling="avg")
    assert base.output_shape == (None, 1280)
    counts = efficientnet.load_weights(base, _fake_state_dict(efficientnet.build((32, 32, 3)), seed=2))
    assert counts["skipped"] == 2 and counts["numbers"] == 4_694_024 - 1280 * 1000 - 1000


def test_stride_two_padding_is_the_converters():
    """The PyTorch conversion pads like TensorFlow ("same"): for stride 2 on an even side,
    nothing before and one row/column after (its Conv2dStaticSamePadding)."""
    import keras

    x = np.random.default_rng(3).normal(size=(1, 6, 6, 1)).astype(np.float32)
    k = np.random.default_rng(4).normal(size=(3, 3, 1, 1)).astype(np.float32)
    conv = keras.layers.Conv2D(1, 3, strides=2, padding="same", use_bias=False)
    conv.build((1, 6, 6, 1))
    conv.set_weights([k])
    padded = np.pad(x[0, :, :, 0], ((0, 1), (0, 1)))   # pad_total = 1: 0 before, 1 after
    expected = np.array([[(padded[i:i + 3, j:j + 3] * k[:, :, 0, 0]).sum() for j in range(0, 6, 2)] for i in range(0, 6, 2)])
    np.testing.assert_allclose(conv(x).numpy()[0, :, :, 0], expected, rtol=1e-5, atol=1e-5)


def test_preprocess_input_and_class_index():
    out = efficientnet.preprocess_input(np.array([[[0, 127, 255]]], np.uint8))
    np.testing.assert_allclose(out.ravel(), [-127 / 128, 0, 1])
    assert out.dtype == np.float32
    with pytest.raises(ValueError, match="RGB"):
        efficientnet.preprocess_input(np.zeros((2, 2)))
    assert hashlib.md5(efficientnet.CLASS_INDEX_FILE.read_bytes()).hexdigest() == efficientnet.CLASS_INDEX_MD5
    classes = efficientnet.class_index()
    assert len(classes) == 1000 and classes[285] == ("n02124075", "Egyptian_cat") and classes[967][1] == "espresso"
    probs = np.zeros((1, 1000))
    probs[0, [285, 967]] = [0.7, 0.2]
    assert efficientnet.decode_predictions(probs, top=2) == [[("n02124075", "Egyptian_cat", 0.7), ("n07920052", "espresso", 0.2)]]


# ------------------------------------------------------------------ the real file

REAL = weights.Registry().local("efficientnet-lite0.pth") if "efficientnet-lite0.pth" in weights.Registry().assets else None
needs_real = pytest.mark.skipif(REAL is None or not REAL.exists(),
                                reason="weights/efficientnet-lite0.pth not here (python -m utils.weights fetch efficientnet-lite0.pth)")


@needs_real
def test_real_file_maps_exhaustively():
    state = efficientnet.read_state_dict(weights.path("efficientnet-lite0.pth"))
    assert list(state) == torch_names()
    assert sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked")) == 4_694_024


@needs_real
def test_real_weights_name_the_photos():
    model = efficientnet.load(weights.path("efficientnet-lite0.pth"))
    batch = transfer.to_input_size([data.photo("chelsea"), data.photo("coffee")], (224, 224))
    top = efficientnet.decode_predictions(model.predict(efficientnet.preprocess_input(batch), verbose=0), top=1)
    assert top[0][0][1] == "Egyptian_cat"
    assert top[1][0][1] == "espresso" and top[1][0][2] > 0.5
