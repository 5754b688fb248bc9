"""utils.vggface: architectures whose layer names and shapes match rcmalli's published weight
files, by-name loading of files written here in the published Keras 2 HDF5 layout, and
preprocessing / decoding checked against hand-computed values."""
import h5py
import numpy as np
import pytest

from utils import vggface
from utils.vggface import VGGFace, WeightsFileError, decode_predictions, preprocess_input

# ------------------------------------------------------------------ writing test files


def write_keras2_h5(path, layers):
    """Write ``layers`` = [(layer name, [(weight name, array), ...]), ...] the way Keras 2's
    ``model.save_weights`` did: root attribute ``layer_names``, one group per layer with
    attribute ``weight_names``, each array stored at ``group[weight name]``."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n, _ in layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for name, weights in layers:
            g = f.require_group(name)  # "conv1/7x7_s2/bn" nests inside "conv1/7x7_s2", as in h5py files
            g.attrs["weight_names"] = np.array([w.encode() for w, _ in weights]) if weights else np.zeros(0)
            for wname, value in weights:
                g.create_dataset(wname, data=value)
    return path


def random_layout(model, seed=0):
    """The published layout of ``model`` with random values: every layer (weightless ones
    too, as Keras 2 listed them), published names (``/``), weight names ``<layer>/<var>:0``.
    Kernels are scaled like He initialisation and BN statistics kept sane, so activations
    stay finite through 50 layers."""
    rng = np.random.default_rng(seed)
    out = []
    for layer in model.layers:
        name = vggface.file_name(layer.name)
        weights = []
        for var in layer.weights:
            shape = tuple(var.shape)
            if var.name == "kernel":
                value = rng.normal(0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
            elif var.name in ("gamma", "moving_variance"):
                value = rng.uniform(0.5, 1.5, shape)
            else:  # bias, beta, moving_mean
                value = rng.normal(0, 0.1, shape)
            weights.append((f"{name}/{var.name}:0", value.astype(np.float32)))
        out.append((name, weights))
    return out


CONFIGS = {  # small inputs where the architecture allows (ResNets need 197: fixed 7x7 avg_pool)
    "vgg16": dict(model="vgg16", include_top=False, input_shape=(32, 32, 3)),
    "vgg16-top": dict(model="vgg16", include_top=True, input_shape=(32, 32, 3), classes=7),
    "resnet50": dict(model="resnet50", include_top=False, input_shape=(197, 197, 3), pooling="avg"),
    "senet50": dict(model="senet50", include_top=False, input_shape=(197, 197, 3), pooling="avg"),
}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_load_by_name_reproduces_the_reference(tmp_path, config):
    kwargs = CONFIGS[config]
    reference = VGGFace(weights=None, **kwargs)
    layout = random_layout(reference, seed=len(config))
    for name, weights in layout:
        if weights:
            reference.get_layer(vggface.keras_name(name)).set_weights([v for _, v in weights])
    path = write_keras2_h5(tmp_path / f"{config}.h5", layout)

    loaded = VGGFace(weights=None, **kwargs)  # new layer objects
    x = np.random.default_rng(1).uniform(0, 255, (1, *kwargs["input_shape"])).astype(np.float32)
    x = preprocess_input(x, version=1 if kwargs["model"] == "vgg16" else 2)
    assert not np.allclose(loaded(x).numpy(), reference(x).numpy())  # different before loading
    names = vggface.load_weights_h5(loaded, path)  # weights read by layer name
    assert names == [n for n, w in layout if w]
    want, got = reference(x).numpy(), loaded(x).numpy()
    assert np.isfinite(want).all() and want.std() > 0
    np.testing.assert_array_equal(got, want)
    for a, b in zip(reference.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    if config == "vgg16":  # the builder's own weights= path gives the same network
        np.testing.assert_array_equal(VGGFace(weights=path, **kwargs)(x).numpy(), want)


def _weight_shapes(model):
    return {vggface.file_name(l.name): [tuple(w.shape) for w in l.weights] for l in model.layers if l.weights}


def test_published_names_and_shapes_vgg16():
    # the 224x224 top has 145M parameters: check its parts on a 32x32 input, and that a
    # 224x224 input reaches fc6 as 7x7x512 = 25088 values (fc6 published as (25088, 4096))
    shapes = _weight_shapes(VGGFace(model="vgg16", weights=None, input_shape=(32, 32, 3)))
    convs = [f"conv{b}_{i}" for b, n in enumerate([2, 2, 3, 3, 3], 1) for i in range(1, n + 1)]
    assert list(shapes) == convs + ["fc6", "fc7", "fc8"]
    assert shapes["conv1_1"] == [(3, 3, 3, 64), (64,)]
    assert shapes["conv5_3"] == [(3, 3, 512, 512), (512,)]
    assert shapes["fc6"] == [(1 * 1 * 512, 4096), (4096,)] and shapes["fc7"] == [(4096, 4096), (4096,)]
    assert shapes["fc8"] == [(4096, 2622), (2622,)]
    notop = VGGFace(model="vgg16", include_top=False, weights=None, input_shape=(224, 224, 3))
    assert notop.output_shape == (None, 7, 7, 512) and notop.count_params() == 14_714_688


def test_published_names_and_shapes_resnets():
    res = VGGFace(model="resnet50", include_top=True, weights=None)
    se = VGGFace(model="senet50", include_top=False, weights=None, input_shape=(224, 224, 3))
    r, s = _weight_shapes(res), _weight_shapes(se)
    assert r["conv1/7x7_s2"] == [(7, 7, 3, 64)]  # no bias
    assert r["conv1/7x7_s2/bn"] == [(64,)] * 4  # gamma, beta, moving mean, moving variance
    assert r["conv2_1_1x1_reduce"] == [(1, 1, 64, 64)] and r["conv2_1_1x1_proj"] == [(1, 1, 64, 256)]
    assert r["conv3_4_3x3"] == [(3, 3, 128, 128)] and r["conv4_6_1x1_increase/bn"] == [(1024,)] * 4
    assert r["conv5_3_1x1_increase"] == [(1, 1, 512, 2048)]
    assert r["classifier"] == [(2048, 8631), (8631,)]
    # 1 stem conv + BN, 16 blocks x 3 (conv + BN), 4 projections (conv + BN), the classifier
    assert len(r) == 2 + 16 * 6 + 4 * 2 + 1
    assert "conv2_2_1x1_proj" not in r and "conv5_1_1x1_proj/bn" in r
    # SENet adds a 1x1 down/up pair with biases in every block (16x bottleneck)
    assert len(s) == len(r) - 1 + 16 * 2
    assert s["conv2_1_1x1_down"] == [(1, 1, 256, 16), (16,)] and s["conv5_3_1x1_up"] == [(1, 1, 128, 2048), (2048,)]
    assert se.get_layer("conv2_1_1x1_reduce.bn").epsilon == pytest.approx(1e-4)
    assert res.get_layer("conv2_1_1x1_reduce.bn").epsilon == pytest.approx(1e-3)
    # Keras' ResNet50 (23,587,712 without top) minus the 26,560 conv biases rcmalli's lacks
    assert res.count_params() - res.get_layer("classifier").count_params() == 23_561_152
    assert se.count_params() == 23_561_152 + 2_530_992


def test_outputs_and_pooling():
    small = VGGFace(model="vgg16", include_top=False, weights=None, input_shape=(64, 64, 3))
    assert small.output_shape == (None, 2, 2, 512)
    assert VGGFace(model="vgg16", include_top=False, weights=None, pooling="max").output_shape == (None, 512)
    net = VGGFace(model="resnet50", include_top=False, weights=None)
    assert net.input_shape == (None, None, None, 3) and net.output_shape == (None, None, None, 2048)
    assert net(np.zeros((1, 224, 224, 3), np.float32)).shape == (1, 1, 1, 2048)
    import keras

    inp = keras.Input((48, 48, 3))
    assert VGGFace(model="vgg16", include_top=False, weights=None, input_tensor=inp).inputs[0] is inp


# ------------------------------------------------------------------ bad files, bad input


@pytest.fixture(scope="module")
def small_vgg(tmp_path_factory):
    model = VGGFace(model="vgg16", include_top=False, weights=None, input_shape=(32, 32, 3))
    layout = random_layout(model, seed=3)
    path = write_keras2_h5(tmp_path_factory.mktemp("w") / "good.h5", layout)
    return model, layout, path


def _edit(layout, name, weights=None, drop=False):
    out = []
    for n, w in layout:
        if n == name:
            if drop:
                continue
            w = weights
        out.append((n, w))
    return out


def test_missing_layer_named(tmp_path, small_vgg):
    model, layout, _ = small_vgg
    path = write_keras2_h5(tmp_path / "missing.h5", _edit(layout, "conv5_3", drop=True))
    with pytest.raises(WeightsFileError, match=r"missing\.h5.*'conv5_3'"):
        vggface.load_weights_h5(model, path)
    assert vggface.load_weights_h5(model, path, allow_missing=True)[-1] == "conv5_2"


def test_extra_layer_named(tmp_path, small_vgg):
    model, layout, _ = small_vgg
    extra = layout + [("fc9", [("fc9/kernel:0", np.zeros((4, 4), np.float32))])]
    path = write_keras2_h5(tmp_path / "extra.h5", extra)
    with pytest.raises(WeightsFileError, match=r"extra\.h5.*'fc9'"):
        vggface.load_weights_h5(model, path)
    assert len(vggface.load_weights_h5(model, path, allow_extra=True)) == 13


def test_misshaped_layer_named_and_model_untouched(tmp_path, small_vgg):
    model, layout, good = small_vgg
    vggface.load_weights_h5(model, good)
    before = [np.asarray(w).copy() for w in model.weights]
    bad = _edit(layout, "conv4_2", [("conv4_2/kernel:0", np.zeros((3, 3, 512, 256), np.float32)),
                                    ("conv4_2/bias:0", np.zeros((256,), np.float32))])
    path = write_keras2_h5(tmp_path / "shape.h5", bad)
    with pytest.raises(WeightsFileError, match=r"shape\.h5.*'conv4_2'.*\(3, 3, 512, 256\).*\(3, 3, 512, 512\)"):
        vggface.load_weights_h5(model, path)
    count = _edit(layout, "conv1_1", [("conv1_1/kernel:0", np.zeros((3, 3, 3, 64), np.float32))])
    with pytest.raises(WeightsFileError, match=r"'conv1_1' holds 1 arrays"):
        vggface.load_weights_h5(model, write_keras2_h5(tmp_path / "count.h5", count))
    for a, b in zip(before, model.weights):  # nothing was assigned by the failed loads
        np.testing.assert_array_equal(a, np.asarray(b))


def test_top_file_into_notop_model_names_the_top(tmp_path):
    top = VGGFace(model="vgg16", include_top=True, weights=None, input_shape=(32, 32, 3), classes=3)
    path = write_keras2_h5(tmp_path / "top.h5", random_layout(top))
    with pytest.raises(WeightsFileError, match=r"top\.h5.*'fc6', 'fc7', 'fc8'"):
        VGGFace(model="vgg16", include_top=False, weights=path, input_shape=(32, 32, 3))


def test_not_a_weights_file(tmp_path, small_vgg):
    model = small_vgg[0]
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"this is not hdf5")
    with pytest.raises(WeightsFileError, match=r"junk\.h5: not an HDF5 file"):
        vggface.load_weights_h5(model, junk)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(WeightsFileError, match=r"plain\.h5: no attribute 'layer_names'"):
        vggface.load_weights_h5(model, plain)
    with pytest.raises(FileNotFoundError, match=r"nowhere\.h5"):
        vggface.load_weights_h5(model, tmp_path / "nowhere.h5")
    with pytest.raises(FileNotFoundError, match=r"nowhere\.h5"):
        VGGFace(model="vgg16", include_top=False, weights=tmp_path / "nowhere.h5")


def test_read_full_model_file_and_split_attributes(tmp_path):
    path = tmp_path / "full.h5"
    kernel = np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)
    with h5py.File(path, "w") as f:  # Keras 2 model.save(): weights under model_weights, names split in chunks
        g = f.create_group("model_weights")
        g.attrs["layer_names0"] = np.array([b"input_1"])
        g.attrs["layer_names1"] = np.array([b"conv1/7x7_s2"])
        g.create_group("input_1").attrs["weight_names"] = np.zeros(0)
        c = g.create_group("conv1/7x7_s2")
        c.attrs["weight_names"] = np.array([b"conv1/7x7_s2/kernel:0"])
        c.create_dataset("conv1/7x7_s2/kernel:0", data=kernel)
    stored = vggface.read_weights_h5(path)
    assert list(stored) == ["conv1/7x7_s2"]
    name, value = stored["conv1/7x7_s2"][0]
    assert name == "conv1/7x7_s2/kernel:0" and np.array_equal(value, kernel)


def test_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="classes=2622"):
        VGGFace(model="vgg16", include_top=True, weights="vggface", classes=10)
    with pytest.raises(ValueError, match="pooling='sum'"):
        VGGFace(model="vgg16", include_top=False, weights=None, pooling="sum")
    with pytest.raises(ValueError, match="model='vgg19'"):
        VGGFace(model="vgg19", weights=None)
    with pytest.raises(ValueError, match="at least 197"):
        VGGFace(model="resnet50", include_top=False, weights=None, input_shape=(96, 96, 3))
    with pytest.raises(ValueError, match=r"\(height, width, 3\)"):
        VGGFace(model="vgg16", include_top=False, weights=None, input_shape=(64, 64, 1))
    with pytest.raises(ValueError, match="needs \\(224, 224, 3\\)"):
        VGGFace(model="vgg16", include_top=True, weights="vggface", input_shape=(256, 256, 3))


def test_published_weights_come_from_the_registry(tmp_path, monkeypatch):
    from utils import weights as registry

    manifest = tmp_path / "manifest.json"
    manifest.write_text('{"assets": {"rcmalli_vggface_tf_notop_resnet50.h5": {"url": "https://example.org/x.h5", '
                        '"sha256": null, "size": 94694792, "licence": "MIT", "notebooks": ["4_4"]}}}')
    monkeypatch.setattr(registry, "MANIFEST", manifest)
    monkeypatch.setattr(registry.Registry.__init__, "__defaults__", (manifest, None))
    with pytest.raises(registry.AssetError, match="fetch rcmalli_vggface_tf_notop_resnet50.h5"):
        VGGFace(model="resnet50", include_top=False, weights="vggface")
    with pytest.raises(registry.AssetError, match=r"releases/download/v2\.0/rcmalli_vggface_tf_senet50\.h5"):
        VGGFace(model="senet50", include_top=True, weights="vggface")
    with pytest.raises(registry.AssetError, match="rcmalli_vggface_labels_v2.npy"):
        decode_predictions(np.zeros((1, 8631)))
    assert vggface.weights_asset("vgg16", include_top=False) == "rcmalli_vggface_tf_notop_vgg16.h5"


def test_save_weights_h5_writes_the_published_layout(tmp_path):
    model = VGGFace(model="senet50", include_top=False, weights=None, input_shape=(197, 197, 3), pooling="avg")
    path = vggface.save_weights_h5(model, tmp_path / "saved.h5")
    with h5py.File(path, "r") as f:  # the layout, read with h5py alone
        names = [n.decode() for n in f.attrs["layer_names"]]
        assert len(names) == len(model.layers) and "conv1/7x7_s2/bn" in names and "conv2_1_1x1_down" in names
        group = f["conv1/7x7_s2/bn"]
        assert [w.decode() for w in group.attrs["weight_names"]] == [
            "conv1/7x7_s2/bn/gamma:0", "conv1/7x7_s2/bn/beta:0",
            "conv1/7x7_s2/bn/moving_mean:0", "conv1/7x7_s2/bn/moving_variance:0"]
        np.testing.assert_array_equal(group["conv1/7x7_s2/bn/gamma:0"][()],
                                      np.asarray(model.get_layer("conv1.7x7_s2.bn").gamma))
        relu = next(layer.name for layer in model.layers if layer.__class__.__name__ == "Activation")
        assert len(f[vggface.file_name(relu)].attrs["weight_names"]) == 0  # weightless layers listed too
    stored = vggface.read_weights_h5(path)
    assert len(stored) == 138 and list(stored)[0] == "conv1/7x7_s2"
    before = path.read_bytes()

    class Broken:  # a layer whose weights cannot be read: the write fails half way
        name = "broken"

        @property
        def weights(self):
            raise RuntimeError("cannot read the weights")

    class HalfModel:
        layers = model.layers[:3] + [Broken()]

    with pytest.raises(RuntimeError, match="cannot read"):
        vggface.save_weights_h5(HalfModel(), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["saved.h5"]


def test_layer_name_mapping():
    assert vggface.keras_name("conv1/7x7_s2/bn") == "conv1.7x7_s2.bn"
    assert vggface.file_name("conv1.7x7_s2.bn") == "conv1/7x7_s2/bn"
    assert vggface.file_name(vggface.keras_name("fc6/relu")) == "fc6/relu"


# ------------------------------------------------------------------ preprocessing, labels


def test_preprocess_input_by_hand():
    x = np.array([[[[10, 20, 30], [0, 0, 0]]]], dtype=np.uint8)  # (1, 1, 2, 3) RGB
    v1 = preprocess_input(x, version=1)
    v2 = preprocess_input(x, version=2)
    np.testing.assert_allclose(v1[0, 0, 0], [30 - 93.5940, 20 - 104.7624, 10 - 129.1863], rtol=0, atol=1e-4)
    np.testing.assert_allclose(v1[0, 0, 1], [-93.5940, -104.7624, -129.1863], rtol=0, atol=1e-4)
    np.testing.assert_allclose(v2[0, 0, 0], [30 - 91.4953, 20 - 103.8827, 10 - 131.0912], rtol=0, atol=1e-4)
    assert v1.dtype == np.float32 and v1.shape == x.shape and x[0, 0, 0, 0] == 10  # input untouched
    first = np.moveaxis(x, -1, 1)  # (1, 3, 1, 2)
    out = preprocess_input(first, data_format="channels_first", version=2)
    np.testing.assert_allclose(out, np.moveaxis(v2, -1, 1), rtol=0, atol=1e-5)
    single = preprocess_input(np.full((2, 2, 3), 100.0), version=1)  # one image, float64 kept
    assert single.dtype == np.float64 and single[1, 1, 0] == pytest.approx(100 - 93.5940)


def test_preprocess_input_rejects_bad_input():
    with pytest.raises(ValueError, match="version=3"):
        preprocess_input(np.zeros((1, 4, 4, 3)), version=3)
    with pytest.raises(ValueError, match="3 channels"):
        preprocess_input(np.zeros((1, 4, 4, 4)), version=1)
    with pytest.raises(ValueError, match="data_format"):
        preprocess_input(np.zeros((1, 4, 4, 3)), data_format="nhwc")


def test_decode_predictions_with_a_label_file(tmp_path):
    labels = tmp_path / "labels.npy"
    np.save(labels, np.array([" Ada_Lovelace", " Grace_Hopper", " Alan_Turing", " Eileen_Collins"]))
    preds = np.array([[0.1, 0.6, 0.05, 0.25], [0.7, 0.0, 0.2, 0.1]])
    out = decode_predictions(preds, top=2, labels=labels)
    assert [[n for n, _ in row] for row in out] == [["Grace_Hopper", "Eileen_Collins"], ["Ada_Lovelace", "Alan_Turing"]]
    assert out[0][0][1] == pytest.approx(0.6) and out[1][1][1] == pytest.approx(0.2)
    assert len(decode_predictions(preds, top=10, labels=labels)[0]) == 4
    assert decode_predictions(preds, top=1, labels=labels)[0] == [("Grace_Hopper", pytest.approx(0.6))]
    with pytest.raises(ValueError, match="4 labels"):
        decode_predictions(np.zeros((1, 5)), labels=labels)
    with pytest.raises(ValueError, match=r"\(N, 2622\)"):
        decode_predictions(np.zeros((1, 5)))
    with pytest.raises(ValueError, match="batch"):
        decode_predictions(np.zeros(4), labels=labels)
    bad = tmp_path / "bad.npy"
    bad.write_text("not numpy")
    with pytest.raises(WeightsFileError, match=r"bad\.npy: not a readable \.npy label file"):
        decode_predictions(preds, labels=bad)


# ------------------------------------------------------------------ the exercise checks (4_4)


def test_check_vggface_preprocess_accepts_right_and_names_wrong(monkeypatch, capsys):
    from utils import checks

    good = lambda x, version: preprocess_input(x, version=version)  # noqa: E731
    assert checks.vggface_preprocess(good) is good
    # outside strict mode a wrong answer gives the course's reference, which passes the check itself
    reference = checks.vggface_preprocess(lambda x, version: x)
    assert "reference" in capsys.readouterr().out and checks.vggface_preprocess(reference) is reference
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")
    means = {1: np.array([93.5940, 104.7624, 129.1863]), 2: np.array([91.4953, 103.8827, 131.0912])}
    with pytest.raises(checks.CheckFailed, match="reverse RGB to BGR"):
        checks.vggface_preprocess(lambda x, version: np.asarray(x, float) - means[version])
    with pytest.raises(checks.CheckFailed, match="means of version 2, not version 1"):
        checks.vggface_preprocess(lambda x, version: np.asarray(x, float)[..., ::-1] - means[2])


def test_check_nearest_centroid_accepts_right_and_refuses_nearest_example(monkeypatch):
    from utils import checks

    def right(train, labels, test):
        classes = np.unique(labels)
        means = np.stack([train[labels == c].mean(0) for c in classes])
        return classes[np.argmin(((test[:, None] - means[None]) ** 2).sum(-1), axis=1)]

    def nearest_example(train, labels, test):  # 1-NN, not class means
        return labels[np.argmin(((test[:, None] - train[None]) ** 2).sum(-1), axis=1)]

    assert checks.nearest_centroid(right) is right
    reference = checks.nearest_centroid(None)  # not a function: the course's reference, which passes
    assert checks.nearest_centroid(reference) is reference
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")
    with pytest.raises(checks.CheckFailed, match="class means"):
        checks.nearest_centroid(nearest_example)
    with pytest.raises(checks.CheckFailed, match="3, 7, 11, 42"):
        checks.nearest_centroid(lambda tr, lab, te: np.argmin(
            ((te[:, None] - np.stack([tr[lab == c].mean(0) for c in np.unique(lab)])[None]) ** 2).sum(-1), axis=1))


class _RunsCode:
    """Unpickling this creates a file: the proof that a loader ran code from a label file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_label_files_are_never_unpickled(tmp_path):
    marker, evil = tmp_path / "pwned", tmp_path / "labels.npy"
    np.save(evil, np.array([_RunsCode(marker), "b"], dtype=object), allow_pickle=True)
    before = evil.read_bytes()
    with pytest.raises(ValueError, match=r"labels\.npy: an object \(pickled\) array; label files are never unpickled"):
        decode_predictions(np.array([[0.4, 0.6]]), labels=evil)
    assert not marker.exists() and evil.read_bytes() == before
