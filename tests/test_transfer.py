"""Tests for utils.transfer (notebooks 1_1, 1_2) and its exercise checks.

Full-mode code is tested without ImageNet weights: applications are built with
``weights=None`` and Keras' ``decode_predictions`` reads a class index this test writes.
The course backbone is trained with a tiny recipe into a temporary cache.
"""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras.src.applications import imagenet_utils

from utils import checks, images, transfer
from utils.images import ImageError

PIXEL = np.array([[[[10.0, 20.0, 30.0]]]])  # one RGB pixel, (1, 1, 1, 3)
BGR_MEAN = np.array([103.939, 116.779, 123.68])
EXPECTED = {  # hand-computed preprocess_input of PIXEL per mode
    "caffe": np.array([30.0, 20.0, 10.0]) - BGR_MEAN,
    "tf": np.array([10.0, 20.0, 30.0]) / 127.5 - 1,
    "torch": (np.array([10.0, 20.0, 30.0]) / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]),
    "none": np.array([10.0, 20.0, 30.0]),
}


# ----------------------------------------------------------------- full mode, no weights


@pytest.mark.parametrize("name", sorted(transfer.KERAS_APPLICATIONS))
def test_preprocessing_table_matches_keras(name):
    module, _, mode = transfer.KERAS_APPLICATIONS[name]
    out = getattr(keras.applications, module).preprocess_input(PIXEL.copy())
    np.testing.assert_allclose(np.asarray(out).ravel(), EXPECTED[mode.split()[0]], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name, mode", [("VGG16", "caffe"), ("MobileNetV2", "tf")])
def test_full_mode_backbone_without_weights(name, mode):
    bb = transfer.pretrained_backbone(name, mode="full", weights=None, include_top=False,
                                      input_shape=(32, 32, 3), pooling="avg")
    assert bb.name == name and bb.input_shape == (32, 32, 3)
    assert bb.preprocess_input is getattr(keras.applications, transfer.KERAS_APPLICATIONS[name][0]).preprocess_input
    np.testing.assert_allclose(np.asarray(bb.preprocess_input(PIXEL.copy())).ravel(), EXPECTED[mode], atol=1e-4)
    features = bb.model.predict(np.zeros((2, 32, 32, 3), np.float32), verbose=0)
    assert features.ndim == 2 and features.shape[0] == 2
    assert "random" in bb.source


def _write_class_index(path):
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    index["281"] = ["n02123045", "tabby"]
    index["967"] = ["n07920052", "espresso"]
    path.write_text(json.dumps(index))
    return path


def test_decode_predictions_reads_a_local_class_index(tmp_path, monkeypatch):
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", None)  # restored after the test
    transfer.use_imagenet_class_index(_write_class_index(tmp_path / "imagenet_class_index.json"))
    bb = transfer.pretrained_backbone("MobileNetV2", mode="full", weights=None)
    assert bb.input_shape == (224, 224, 3) and bb.model.output_shape == (None, 1000)

    preds = np.full((2, 1000), 1e-4, np.float32)
    preds[0, [281, 967, 5]] = [0.6, 0.3, 0.05]
    preds[1, [967, 12]] = [0.9, 0.04]
    decoded = bb.decode_predictions(preds, top=3)
    assert [d[:2] for d in decoded[0]] == [("n02123045", "tabby"), ("n07920052", "espresso"), ("n00000005", "class_5")]
    assert [d[1] for d in decoded[1][:2]] == ["espresso", "class_12"]
    assert decoded[0][0][2] == pytest.approx(0.6)

    # the whole predict path on a course photo, as notebook 1_1 runs it in full mode
    titles, batch = transfer.example_images(bb, ["chelsea"])
    assert titles == ["chelsea"] and batch.shape == (1, 224, 224, 3) and batch.dtype == np.uint8
    probs = bb.model.predict(bb.preprocess_input(batch.astype("float32")), verbose=0)
    top5 = bb.decode_predictions(probs, top=5)[0]
    assert len(top5) == 5 and all(name.startswith("class_") or name in ("tabby", "espresso") for _, name, _ in top5)


def test_class_index_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        transfer.use_imagenet_class_index(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json.*not JSON"):
        transfer.use_imagenet_class_index(bad)
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"0": ["n0", "zero"]}))
    with pytest.raises(ValueError, match="short.json.*999"):
        transfer.use_imagenet_class_index(short)


def test_fast_mode_refuses_imagenet_weights_and_unknown_names():
    with pytest.raises(ValueError, match="full mode"):
        transfer.pretrained_backbone("VGG16", mode="fast")
    with pytest.raises(ValueError, match="unknown backbone 'AlexNet'"):
        transfer.pretrained_backbone("AlexNet", mode="full")
    assert transfer.DEFAULT_BACKBONE == {"fast": "digits04", "full": "MobileNetV2"}


# ------------------------------------------------------------------ the course backbone

TINY = dict(transfer.COURSE_BACKBONES["digits04"], widths=[4, 8, 8], epochs=1, train_images=256)


def _weights(bb):
    return [w.copy() for w in bb.model.get_weights()]


def test_course_backbone_is_cached_keyed_by_recipe_and_rebuilt_when_corrupt(tmp_path, capsys):
    first = transfer.course_backbone(recipe=TINY, cache_dir=tmp_path)
    assert "pretraining" in capsys.readouterr().out
    stem = f"digits04-{transfer.recipe_key(TINY)}"
    weights_file, meta_file = tmp_path / f"{stem}.weights.h5", tmp_path / f"{stem}.json"
    meta = json.loads(meta_file.read_text())
    assert meta["recipe"] == TINY and 0 <= meta["source_test_accuracy"] <= 1

    again = transfer.course_backbone(recipe=TINY, cache_dir=tmp_path)
    assert "loaded" in capsys.readouterr().out
    for a, b in zip(_weights(first), _weights(again)):
        np.testing.assert_array_equal(a, b)

    data = weights_file.read_bytes()
    weights_file.write_bytes(data[: len(data) // 2])  # truncated download / disk error
    rebuilt = transfer.course_backbone(recipe=TINY, cache_dir=tmp_path)
    out = capsys.readouterr().out
    assert "unusable" in out and "sha256" in out and "pretraining" in out
    for a, b in zip(_weights(first), _weights(rebuilt)):  # deterministic: the same weights again
        np.testing.assert_allclose(a, b, atol=1e-6)

    changed = dict(TINY, learning_rate=0.01)
    assert transfer.recipe_key(changed) != transfer.recipe_key(TINY)
    transfer.course_backbone(recipe=changed, cache_dir=tmp_path)
    assert "pretraining" in capsys.readouterr().out
    assert (tmp_path / f"digits04-{transfer.recipe_key(changed)}.weights.h5").exists()

    meta_file.write_text("{")  # a broken side-car is detected too
    assert "not valid JSON" in transfer._cache_problem(weights_file, meta_file, TINY)


def test_course_backbone_heads_and_decoding(tmp_path):
    bb = transfer.course_backbone(recipe=TINY, pretrained=False)  # same model and functions, untrained
    assert bb.input_shape == (32, 32, 3) and bb.class_names == ["zero", "one", "two", "three", "four"]
    x = bb.preprocess_input(np.full((3, 32, 32, 3), 255.0, np.float32))
    assert float(x.min()) == 1.0
    probs = bb.model.predict(x, verbose=0)
    assert probs.shape == (3, 5)
    decoded = bb.decode_predictions(probs, top=3)
    assert len(decoded) == 3 and all(len(row) == 3 for row in decoded)
    assert decoded[0][0][0].startswith("digit_") and isinstance(decoded[0][0][2], float)

    assert "random" in bb.source
    base = transfer.course_backbone(recipe=TINY, pretrained=False, include_top=False)
    assert base.model.output_shape == (None, 4, 4, 8)
    pooled = transfer.course_backbone(recipe=TINY, pretrained=False, include_top=False, pooling="avg")
    assert pooled.model.output_shape == (None, 8)
    with pytest.raises(ValueError, match="input_shape"):
        transfer.course_backbone(recipe=TINY, pretrained=False, input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="pooling"):
        transfer.course_backbone(recipe=TINY, pretrained=False, pooling="sum")
    with pytest.raises(ValueError, match="no course backbone"):
        transfer.course_backbone("digits09")


def test_decoder_has_keras_format():
    decode = transfer.make_decoder(["a", "b", "c"], ["ant", "bee", "cat"])
    out = decode(np.array([[0.2, 0.5, 0.3], [0.7, 0.1, 0.2]]), top=5)  # top capped at 3 classes
    assert out[0] == [("b", "bee", 0.5), ("c", "cat", 0.3), ("a", "ant", 0.2)]
    assert [t[1] for t in out[1]] == ["ant", "cat", "bee"]
    with pytest.raises(ValueError, match=r"\(samples, 3\)"):
        decode(np.zeros((2, 4)))


# ------------------------------------------------------------------------------- data


def test_few_shot_draws_per_class_nested_and_reproducible():
    labels = np.repeat(np.arange(3), [20, 20, 12])[np.random.default_rng(0).permutation(52)]
    idx = transfer.few_shot(labels, 5, seed=1)
    assert len(idx) == 15 and len(set(idx)) == 15
    assert np.bincount(labels[idx]).tolist() == [5, 5, 5]
    np.testing.assert_array_equal(idx, transfer.few_shot(labels, 5, seed=1))
    assert not np.array_equal(idx, transfer.few_shot(labels, 5, seed=2))
    assert set(idx) <= set(transfer.few_shot(labels, 10, seed=1))
    with pytest.raises(ValueError, match="class 2 has 12 examples"):
        transfer.few_shot(labels, 13)


def test_cluttered_digits_are_deterministic_rgb():
    digits = np.zeros((4, 28, 28), np.uint8)
    digits[:, 6:22, 12:16] = 255
    a = transfer.cluttered_digits(digits, size=32, seed=3)
    assert a.shape == (4, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, transfer.cluttered_digits(digits, size=32, seed=3))
    assert not np.array_equal(a, transfer.cluttered_digits(digits, size=32, seed=4))
    with pytest.raises(ValueError, match="expected \\(N, H, W\\) uint8"):
        transfer.cluttered_digits(digits.astype(np.float32))


def test_digit_tasks():
    task = transfer.load_task("digits59")
    assert task.class_names == ["five", "six", "seven", "eight", "nine"]
    assert task.x_pool.shape == (2000, 32, 32, 3) and task.x_test.shape == (500, 32, 32, 3)
    assert np.bincount(task.y_pool).tolist() == [400] * 5 and np.bincount(task.y_test).tolist() == [100] * 5
    with pytest.raises(ValueError, match="32x32"):
        transfer.load_task("digits04", image_size=64)


def test_folder_task_splits_per_class(tmp_path):
    rng = np.random.default_rng(0)
    for cls, n in [("roses", 6), ("tulips", 4)]:
        for i in range(n):
            images.save_image(tmp_path / "flowers" / cls / f"{i}.png",
                              rng.integers(0, 256, (40 + i, 60, 3), dtype=np.uint8))
    task = transfer.load_task(str(tmp_path / "flowers"), image_size=24)
    assert task.class_names == ["roses", "tulips"]
    assert task.x_pool.shape[1:] == (24, 24, 3) and task.x_pool.dtype == np.uint8
    assert np.bincount(task.y_test).tolist() == [1, 1] and np.bincount(task.y_pool).tolist() == [5, 3]

    (tmp_path / "empty" / "roses").mkdir(parents=True)
    with pytest.raises(ImageError, match="no image files"):
        transfer.folder_task(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        transfer.folder_task(tmp_path / "nowhere")
    images.save_image(tmp_path / "single" / "a" / "0.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="at least 2"):
        transfer.folder_task(tmp_path / "single")


def test_to_input_size_centre_crops():
    img = np.zeros((4, 8, 3), np.uint8)
    img[:, 2:6] = 200  # the centre square
    out = transfer.to_input_size([img], (2, 2))
    assert out.shape == (1, 2, 2, 3) and (out == 200).all()
    with pytest.raises(ImageError, match="image 0"):
        transfer.to_input_size([np.zeros((4, 4))], (2, 2))


# ----------------------------------------------------------------------------- models


def test_reset_model_equals_a_freshly_built_model():
    def net():
        return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, use_bias=False),
                                 keras.layers.BatchNormalization(momentum=0.9), keras.layers.ReLU(),
                                 keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")])

    x = np.random.default_rng(0).random((64, 8, 8, 3)).astype("float32")
    y = np.arange(64) % 3

    def compiled():
        m = net()
        m.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
        return m

    keras.utils.set_random_seed(1)
    fresh = compiled()
    fresh.fit(x, y, epochs=2, batch_size=16, verbose=0)

    keras.utils.set_random_seed(5)
    reused = compiled()
    reused.fit(x, y, epochs=1, batch_size=16, verbose=0)  # trained before: weights and Adam state moved
    transfer.reset_model(reused, 1)
    assert int(reused.optimizer.iterations.numpy()) == 0
    assert float(reused.optimizer.learning_rate) == pytest.approx(1e-2)
    reused.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for a, b in zip(fresh.get_weights(), reused.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


# ----------------------------------------------------------------------------- checks


def test_checks_accept_solutions_and_reject_mistakes(monkeypatch):
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")   # a wrong solution raises (as in CI)
    assert checks.preprocess_caffe(lambda x: np.asarray(x, float)[..., ::-1] - BGR_MEAN)
    with pytest.raises(checks.CheckFailed, match="preprocess_caffe"):
        checks.preprocess_caffe(lambda x: np.asarray(x, float) - BGR_MEAN)  # forgot RGB -> BGR

    def top_k(probs, labels, k):
        top = np.argsort(-probs, axis=1)[:, :k]
        return float(np.mean([label in row for row, label in zip(top, labels)]))

    assert checks.top_k_accuracy(top_k)
    with pytest.raises(checks.CheckFailed, match="top_k_accuracy"):
        checks.top_k_accuracy(lambda p, y, k: float(np.mean(np.argmax(p, 1) == y)))  # ignores k

    def unfreeze(model, name):
        model.trainable = True
        start = [layer.name for layer in model.layers].index(name)
        for i, layer in enumerate(model.layers):
            layer.trainable = i >= start and not isinstance(layer, keras.layers.BatchNormalization)

    assert checks.unfreeze_from(unfreeze)

    def unfreeze_bn_too(model, name):
        model.trainable = True
        start = [layer.name for layer in model.layers].index(name)
        for i, layer in enumerate(model.layers):
            layer.trainable = i >= start

    with pytest.raises(checks.CheckFailed, match="BatchNormalization"):
        checks.unfreeze_from(unfreeze_bn_too)


def test_failed_checks_hand_back_a_working_reference(monkeypatch, capsys):
    """A stuck student (a stub, or a wrong function) gets the course's reference, which
    itself passes the check, so the rest of 1_1 / 1_2 still runs."""
    monkeypatch.delenv("COURSE_CHECKS_STRICT", raising=False)

    def stub(*args):
        raise NotImplementedError

    for check in (checks.preprocess_caffe, checks.top_k_accuracy, checks.unfreeze_from):
        reference = check(stub)
        assert callable(reference) and reference is not stub
        assert check(reference) is reference
    assert "reference" in capsys.readouterr().out
    wrong = checks.preprocess_caffe(lambda x: np.asarray(x, float) - BGR_MEAN)
    np.testing.assert_allclose(wrong(PIXEL).ravel(), EXPECTED["caffe"])


# ------------------------------------------------------------------ EfficientNet-Lite0, objects task


def test_efficientnet_backbone_without_weights_builds_offline():
    bb = transfer.pretrained_backbone("efficientnet-lite0", mode="fast", weights=None, include_top=False,
                                      input_shape=(64, 64, 3), pooling="avg")
    assert bb.input_shape == (64, 64, 3) and bb.model.output_shape == (None, 1280)
    assert "random" in bb.source
    np.testing.assert_allclose(bb.preprocess_input(np.full((1, 1, 1, 3), 255.0)).ravel(), [1.0] * 3)
    with pytest.raises(ValueError, match="224"):
        transfer.pretrained_backbone("efficientnet-lite0", weights=None, include_top=True, input_shape=(64, 64, 3))


def test_weights_available(monkeypatch, tmp_path):
    from utils import weights

    assert transfer.weights_available("digits04")
    monkeypatch.setattr(weights.Registry, "local", lambda self, name: tmp_path / name)
    if hasattr(weights, "available"):
        monkeypatch.setattr(weights, "available", lambda name: (tmp_path / name).exists())
    assert not transfer.weights_available("efficientnet-lite0")
    (tmp_path / "efficientnet-lite0.pth").write_bytes(b"x")
    assert transfer.weights_available("efficientnet-lite0")


def test_objects_task_is_deterministic_and_balanced_enough():
    a, b = transfer.load_task("objects", image_size=48), transfer.load_task("objects", image_size=48)
    assert a.class_names == ["cat", "cup", "coin", "horse"]
    assert a.x_pool.shape == (transfer.OBJECTS["pool"], 48, 48, 3) and a.x_pool.dtype == np.uint8
    assert a.x_test.shape[0] == transfer.OBJECTS["test"]
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_pool, b.y_pool)
    assert np.bincount(a.y_pool, minlength=4).min() >= 25      # enough for 25 shots per class
    assert not np.array_equal(a.x_pool[:10], a.x_test[:10])     # pool and test are drawn apart
