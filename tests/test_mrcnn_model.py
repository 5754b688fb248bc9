"""Tests for the Keras 3 Mask R-CNN (``utils.mrcnn.config``, ``utils.mrcnn.model``).

A tiny configuration keeps them fast: 64x64 images, the "small" backbone a few channels
wide. The weights files of the loading tests are written here with h5py in Matterport's
(Keras 2) HDF5 layout, independently of the module's own writer.
"""
from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from utils import course, data  # noqa: E402
from utils.mrcnn import model as modellib  # noqa: E402
from utils.mrcnn import utils as mutils  # noqa: E402
from utils.mrcnn.config import COCO_CLASS_NAMES, CocoInferenceConfig, Config  # noqa: E402


class TinyConfig(Config):
    NAME = "tiny"
    NUM_CLASSES = 1 + 3
    IMAGES_PER_GPU = 2
    BACKBONE = "small"
    SMALL_BACKBONE_FILTERS = (4, 8, 8, 8)
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 64
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    TOP_DOWN_PYRAMID_SIZE = 8
    RPN_CONV_SIZE = 8
    FPN_CLASSIF_FC_LAYERS_SIZE = 16
    MASK_CONV_SIZE = 8
    MASK_POOL_SIZE = 7
    MASK_SHAPE = [14, 14]
    USE_MINI_MASK = False
    MAX_GT_INSTANCES = 4
    PRE_NMS_LIMIT = 200
    POST_NMS_ROIS_TRAINING = 32
    POST_NMS_ROIS_INFERENCE = 32
    TRAIN_ROIS_PER_IMAGE = 8
    RPN_TRAIN_ANCHORS_PER_IMAGE = 32
    STEPS_PER_EPOCH = 2
    VALIDATION_STEPS = 1
    DETECTION_MIN_CONFIDENCE = 0  # keep every non-background detection of an untrained net
    TRAIN_BN = True
    OPTIMIZER = "adam"


class TinyMiniMaskConfig(TinyConfig):
    USE_MINI_MASK = True
    MINI_MASK_SHAPE = (28, 28)


def keras2_weight_names(layer) -> list[str]:
    """The ``weight_names`` Keras 2 wrote for one of the model's layers (written out by
    hand here, so the loader is tested against the format rather than against itself)."""
    suffixes = {"Conv2D": ["kernel", "bias"], "Dense": ["kernel", "bias"], "Conv2DTranspose": ["kernel", "bias"],
                "BatchNorm": ["gamma", "beta", "moving_mean", "moving_variance"]}
    if isinstance(layer, keras.Model):  # nested model (rpn_model): its layers' weights in order
        return [n for sub in layer.layers for n in keras2_weight_names(sub)]
    inner = layer.layer if isinstance(layer, keras.layers.Wrapper) else layer
    kind = type(inner).__name__
    if kind not in suffixes or not layer.weights:
        return []
    name = layer.name
    return [f"{name}/{s}:0" for s in suffixes[kind]]


def write_matterport_h5(path: Path, layers: dict[str, list[np.ndarray]], weight_names: dict[str, list[str]],
                        chunk_layer_names: bool = False, under_model_weights: bool = False) -> Path:
    """A weights file as Keras 2's ``save_weights`` wrote it (Matterport's .h5 files)."""
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if under_model_weights else f
        names = np.array([n.encode() for n in layers])
        if chunk_layer_names:  # Keras 2 split attributes above 64 KB into name0, name1, ...
            half = len(names) // 2
            root.attrs["layer_names0"] = names[:half]
            root.attrs["layer_names1"] = names[half:]
        else:
            root.attrs["layer_names"] = names
        root.attrs["backend"] = b"tensorflow"
        root.attrs["keras_version"] = b"2.0.8"
        for layer_name, values in layers.items():
            g = root.create_group(layer_name)
            wn = weight_names[layer_name]
            g.attrs["weight_names"] = np.array([n.encode() for n in wn], dtype="S")
            for n, v in zip(wn, values):
                g.create_dataset(n, data=v)
    return path


@pytest.fixture(scope="module", autouse=True)
def _seeded():
    course.seed_everything(0)


@pytest.fixture(scope="module")
def shapes_sets():
    train = mutils.InstanceDataset(data.shapes(8, size=64, seed=11))
    val = mutils.InstanceDataset(data.shapes(4, size=64, seed=12))
    return train, val


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shapes_sets):
    """A tiny training-mode model after one short epoch, and its saved weights."""
    train, val = shapes_sets
    model_dir = tmp_path_factory.mktemp("logs")
    model = modellib.MaskRCNN("training", TinyConfig(), model_dir)
    model.train(train, val, learning_rate=1e-3, epochs=1, layers="all", verbose=0)
    path = model.save_weights(model_dir / "tiny.h5")
    return model, path


@pytest.fixture(scope="module")
def inference_model(tmp_path_factory):
    return modellib.MaskRCNN("inference", TinyConfig(), tmp_path_factory.mktemp("inf"))


# ----------------------------------------------------------------------------- config


def test_display_prints_every_setting_and_computed_attributes(capsys):
    config = TinyConfig()
    config.display()
    out = capsys.readouterr().out
    for key in ["NAME", "IMAGES_PER_GPU", "GPU_COUNT", "NUM_CLASSES", "BACKBONE", "IMAGE_MIN_DIM", "IMAGE_MAX_DIM",
                "IMAGE_RESIZE_MODE", "RPN_ANCHOR_SCALES", "RPN_ANCHOR_RATIOS", "TRAIN_ROIS_PER_IMAGE",
                "DETECTION_MIN_CONFIDENCE", "MASK_SHAPE", "LEARNING_RATE", "STEPS_PER_EPOCH", "BATCH_SIZE",
                "IMAGE_SHAPE", "IMAGE_META_SIZE", "MEAN_PIXEL", "WEIGHT_DECAY", "LOSS_WEIGHTS"]:
        assert re.search(rf"^{key} +\S", out, flags=re.M), f"{key} missing from display()"
    assert re.search(r"^NAME +tiny$", out, flags=re.M)
    assert config.BATCH_SIZE == 2
    assert list(config.IMAGE_SHAPE) == [64, 64, 3]
    assert config.IMAGE_META_SIZE == 12 + 4


def test_computed_attributes_follow_matterport():
    class Crop(Config):
        NAME, NUM_CLASSES, IMAGE_RESIZE_MODE, IMAGE_MIN_DIM, IMAGE_MAX_DIM = "c", 3, "crop", 256, 1024
        IMAGES_PER_GPU, GPU_COUNT = 3, 2

    c = Crop()
    assert list(c.IMAGE_SHAPE) == [256, 256, 3] and c.BATCH_SIZE == 6 and c.IMAGE_META_SIZE == 15
    coco = CocoInferenceConfig()
    assert coco.NUM_CLASSES == len(COCO_CLASS_NAMES) == 81 and coco.BACKBONE == "resnet101"
    assert list(coco.IMAGE_SHAPE) == [1024, 1024, 3] and coco.BATCH_SIZE == 1


@pytest.mark.parametrize("attrs, word", [({"MASK_SHAPE": [28, 28], "MASK_POOL_SIZE": 7}, "MASK_SHAPE"),
                                         ({"IMAGE_MAX_DIM": 100}, "multiple of 64"),
                                         ({"BACKBONE": "vgg16"}, "BACKBONE"),
                                         ({"IMAGE_RESIZE_MODE": "stretch"}, "IMAGE_RESIZE_MODE")])
def test_bad_settings_are_named(attrs, word):
    bad = type("Bad", (TinyConfig,), attrs)
    with pytest.raises(ValueError, match=word):
        bad()


# ----------------------------------------------------------------------------- architecture


@pytest.mark.parametrize("arch, last_stage4", [("resnet50", "res4f"), ("resnet101", "res4w")])
def test_resnet_layer_names_and_shapes_match_matterport(arch, last_stage4):
    image = keras.layers.Input(shape=[None, None, 3])
    outs = modellib.resnet_graph(image, arch, stage5=True, train_bn=False)
    net = keras.Model(image, outs[1:])
    shapes = {l.name: [tuple(w.shape) for w in l.weights] for l in net.layers if l.weights}
    assert shapes["conv1"] == [(7, 7, 3, 64), (64,)]
    assert shapes["bn_conv1"] == [(64,)] * 4
    assert shapes["res2a_branch2a"] == [(1, 1, 64, 64), (64,)]
    assert shapes["res2a_branch1"] == [(1, 1, 64, 256), (256,)]
    assert shapes["bn2a_branch2a"] == [(64,)] * 4
    assert shapes["res3a_branch2b"] == [(3, 3, 128, 128), (128,)]
    assert shapes[f"{last_stage4}_branch2c"] == [(1, 1, 256, 1024), (1024,)]
    assert f"res4{chr(ord(last_stage4[-1]) + 1)}_branch2a" not in shapes
    assert shapes["res5c_branch2c"] == [(1, 1, 512, 2048), (2048,)]
    assert [tuple(o.shape[1:]) for o in net.outputs] == [(None, None, 256), (None, None, 512),
                                                         (None, None, 1024), (None, None, 2048)]


def test_coco_heads_have_the_published_shapes():
    """The heads and RPN of the COCO configuration, built alone, have the shapes of
    mask_rcnn_coco.h5 (81 classes, 256-channel pyramid)."""
    config = CocoInferenceConfig()
    rois = keras.layers.Input(shape=[None, 4])
    meta = keras.layers.Input(shape=[config.IMAGE_META_SIZE])
    maps = [keras.layers.Input(shape=[None, None, 256]) for _ in range(4)]
    heads = modellib.fpn_classifier_graph(rois, maps, meta, config.POOL_SIZE, config.NUM_CLASSES, train_bn=False,
                                          fc_layers_size=config.FPN_CLASSIF_FC_LAYERS_SIZE)
    mask = modellib.build_fpn_mask_graph(rois, maps, meta, config.MASK_POOL_SIZE, config.NUM_CLASSES, train_bn=False)
    net = keras.Model([rois, meta] + maps, list(heads) + [mask])
    rpn = modellib.build_rpn_model(1, 3, 256)
    shapes = {l.name: [tuple(w.shape) for w in l.weights] for l in net.layers + rpn.layers if l.weights}
    assert shapes["mrcnn_class_conv1"] == [(7, 7, 256, 1024), (1024,)]
    assert shapes["mrcnn_class_bn1"] == [(1024,)] * 4
    assert shapes["mrcnn_class_conv2"] == [(1, 1, 1024, 1024), (1024,)]
    assert shapes["mrcnn_class_logits"] == [(1024, 81), (81,)]
    assert shapes["mrcnn_bbox_fc"] == [(1024, 324), (324,)]
    assert shapes["mrcnn_mask_conv1"] == [(3, 3, 256, 256), (256,)]
    assert shapes["mrcnn_mask_conv4"] == [(3, 3, 256, 256), (256,)]
    assert shapes["mrcnn_mask_deconv"] == [(2, 2, 256, 256), (256,)]
    assert shapes["mrcnn_mask"] == [(1, 1, 256, 81), (81,)]
    assert shapes["rpn_conv_shared"] == [(3, 3, 256, 512), (512,)]
    assert shapes["rpn_class_raw"] == [(1, 1, 512, 6), (6,)]
    assert shapes["rpn_bbox_pred"] == [(1, 1, 512, 12), (12,)]
    assert tuple(net.outputs[2].shape[2:]) == (81, 4) and tuple(net.outputs[3].shape[2:]) == (28, 28, 81)


def test_model_has_matterport_layer_names(inference_model):
    names = {l.name for l in inference_model.keras_model.layers}
    for name in ["conv1", "bn_conv1", "res2a_branch2a", "bn2a_branch2a", "res5a_branch2c", "fpn_c5p5", "fpn_c2p2",
                 "fpn_p2", "fpn_p5", "fpn_p6", "rpn_model", "ROI", "mrcnn_class_conv1", "mrcnn_class_bn1",
                 "mrcnn_class_conv2", "mrcnn_class_bn2", "mrcnn_class_logits", "mrcnn_class", "mrcnn_bbox_fc",
                 "mrcnn_bbox", "mrcnn_mask_conv1", "mrcnn_mask_bn4", "mrcnn_mask_deconv", "mrcnn_mask",
                 "mrcnn_detection"]:
        assert name in names, name
    rpn = inference_model.keras_model.get_layer("rpn_model")
    assert [l.name for l in rpn.layers if l.weights] == ["rpn_conv_shared", "rpn_class_raw", "rpn_bbox_pred"]


# ----------------------------------------------------------------------------- weights files


def _file_contents(model, rng, skip=()):
    layers, names = {}, {}
    for layer in model.keras_model.layers:
        wn = keras2_weight_names(layer)
        if layer.name in skip or not wn:
            continue
        assert len(wn) == len(layer.weights), layer.name
        layers[layer.name] = [rng.normal(size=tuple(w.shape)).astype(np.float32) for w in layer.weights]
        names[layer.name] = wn
    return layers, names


def _values(model, name):
    return [np.asarray(w) for w in model.keras_model.get_layer(name).weights]


@pytest.mark.parametrize("chunked, under_model_weights", [(False, False), (True, True)])
def test_load_by_name_reads_matterport_layout(tmp_path, inference_model, chunked, under_model_weights):
    model = inference_model
    rng = np.random.default_rng(1)
    layers, names = _file_contents(model, rng, skip={"res3a_branch2b"})  # one layer absent from the file
    layers["a_layer_this_model_lacks"] = [np.ones((2, 2), np.float32)]
    names["a_layer_this_model_lacks"] = ["a_layer_this_model_lacks/kernel:0"]
    layers["no_weights_layer"], names["no_weights_layer"] = [], []
    path = write_matterport_h5(tmp_path / "m.h5", layers, names, chunked, under_model_weights)
    excluded = ["mrcnn_mask", "mrcnn_class_logits"]
    before = {n: _values(model, n) for n in excluded + ["res3a_branch2b"]}

    loaded = model.load_weights(path, by_name=True, exclude=excluded)

    for name, values in layers.items():
        if name in excluded or name in ("a_layer_this_model_lacks", "no_weights_layer"):
            continue
        assert name in loaded
        for got, want in zip(_values(model, name), values):
            np.testing.assert_array_equal(got, want, err_msg=name)
    for name, values in before.items():  # excluded and absent layers keep their values
        assert name not in loaded
        for got, want in zip(_values(model, name), values):
            np.testing.assert_array_equal(got, want, err_msg=name)
    rpn = model.keras_model.get_layer("rpn_model").get_layer("rpn_class_raw")
    np.testing.assert_array_equal(np.asarray(rpn.weights[0]), layers["rpn_model"][2])


def test_load_weights_explains_shape_mismatch_and_bad_files(tmp_path, inference_model):
    class Five(TinyConfig):
        NUM_CLASSES = 5

    other = modellib.MaskRCNN("inference", Five(), tmp_path)
    layers, names = _file_contents(other, np.random.default_rng(2))
    path = write_matterport_h5(tmp_path / "five.h5", layers, names)
    with pytest.raises(ValueError, match=r"mrcnn_class_logits.*exclude="):
        inference_model.load_weights(path, by_name=True)
    heads = ["mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox", "mrcnn_mask"]
    loaded = inference_model.load_weights(path, by_name=True, exclude=heads)
    assert "mrcnn_class_conv1" in loaded and not set(heads) & set(loaded)

    with pytest.raises(FileNotFoundError, match="nothing.h5"):
        inference_model.load_weights(tmp_path / "nothing.h5", by_name=True)
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="text.h5"):
        inference_model.load_weights(tmp_path / "text.h5", by_name=True)
    with h5py.File(tmp_path / "bare.h5", "w") as f:
        f.create_group("conv1")
    with pytest.raises(ValueError, match="layer_names"):
        inference_model.load_weights(tmp_path / "bare.h5", by_name=True)


def test_save_weights_writes_matterport_layout(tmp_path, inference_model):
    path = inference_model.save_weights(tmp_path / "saved.h5")
    with h5py.File(path, "r") as f:
        layer_names = [n.decode() for n in f.attrs["layer_names"]]
        assert layer_names == [l.name for l in inference_model.keras_model.layers]
        names = [n.decode() for n in f["rpn_model"].attrs["weight_names"]]
        assert names == [f"{l}/{w}:0" for l in ("rpn_conv_shared", "rpn_class_raw", "rpn_bbox_pred")
                         for w in ("kernel", "bias")]
        bn = [n.decode() for n in f["mrcnn_mask_bn1"].attrs["weight_names"]]
        assert bn == [f"mrcnn_mask_bn1/{w}:0" for w in ("gamma", "beta", "moving_mean", "moving_variance")]
        np.testing.assert_array_equal(f["conv1"]["conv1/kernel:0"][()], _values(inference_model, "conv1")[0])


# ----------------------------------------------------------------------------- training and inference


def test_training_writes_checkpoints_and_history(trained):
    model, _ = trained
    last = model.find_last()
    assert re.search(r"tiny\d{8}T\d{4}[/\\]mask_rcnn_tiny_0001\.h5$", last)
    assert model.epoch == 1
    for key in ["loss"] + modellib.LOSS_NAMES + ["val_loss"]:
        assert len(model.history[key]) == 1 and np.isfinite(model.history[key][0]), key
    # a checkpoint path continues its folder and epoch count
    model.set_log_dir(last)
    assert model.epoch == 1 and Path(model.log_dir) == Path(last).parent


def test_training_and_inference_share_weights(trained, tmp_path, shapes_sets):
    train_model, path = trained
    _, val = shapes_sets
    images = [val.load_image(i) for i in val.image_ids]
    first = modellib.MaskRCNN("inference", TinyConfig(), tmp_path)
    second = modellib.MaskRCNN("inference", TinyConfig(), tmp_path)
    loaded = first.load_weights(path, by_name=True)
    second.load_weights(path, by_name=True)
    with_weights = [l.name for l in first.keras_model.layers if l.weights]
    assert sorted(loaded) == sorted(with_weights)  # every inference layer found its training twin
    for name in ["conv1", "bn5a_branch2c", "fpn_p2", "mrcnn_class_conv1", "mrcnn_mask_deconv", "mrcnn_mask"]:
        for got, want in zip(_values(first, name), _values(train_model, name)):
            np.testing.assert_array_equal(got, want, err_msg=name)
    a, b = first.detect(images), second.detect(images)
    assert sum(len(r["class_ids"]) for r in a) > 0
    for ra, rb in zip(a, b):
        for key in ("rois", "class_ids", "scores", "masks"):
            np.testing.assert_array_equal(ra[key], rb[key], err_msg=key)
    # and the weights go back the other way: inference -> training
    back = first.save_weights(tmp_path / "back.h5")
    loaded = train_model.load_weights(back, by_name=True)
    assert "mrcnn_mask" in loaded and "rpn_model" in loaded


def test_detect_output_shapes_and_dtypes(trained, tmp_path):
    _, path = trained
    model = modellib.MaskRCNN("inference", TinyConfig(), tmp_path)
    model.load_weights(path, by_name=True)
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 255, (48, 80, 3), dtype=np.uint8) for _ in range(3)]  # 3 images, batch of 2
    results = model.detect(images)
    assert len(results) == 3
    for r in results:
        n = len(r["class_ids"])
        assert r["rois"].shape == (n, 4) and r["rois"].dtype == np.int32
        assert r["class_ids"].dtype == np.int32 and r["scores"].shape == (n,) and r["scores"].dtype == np.float32
        assert r["masks"].shape == (48, 80, n) and r["masks"].dtype == bool
        assert np.all((r["class_ids"] >= 1) & (r["class_ids"] < 4))
        assert np.all(np.diff(r["scores"]) <= 0)  # best first
        assert np.all(r["rois"][:, [0, 1]] >= 0) and np.all(r["rois"][:, 2] <= 48) and np.all(r["rois"][:, 3] <= 80)
    assert sum(len(r["class_ids"]) for r in results) > 0
    np.testing.assert_array_equal(model.detect(images[2:])[0]["rois"], results[2]["rois"])
    with pytest.raises(ValueError, match="list of images"):
        model.detect(images[0])
    with pytest.raises(ValueError, match=r"images\[0\]"):
        model.detect([images[0][..., 0]])


def test_run_graph_returns_named_layer_outputs(trained, tmp_path):
    _, path = trained
    model = modellib.MaskRCNN("inference", TinyConfig(), tmp_path)
    model.load_weights(path, by_name=True)
    image = np.zeros((64, 64, 3), np.uint8)
    out = model.run_graph([image, image], [("proposals", "ROI"), ("p2", "fpn_p2"),
                                           ("detections", model.keras_model.outputs[0])], verbose=0)
    assert out["proposals"].shape == (2, TinyConfig.POST_NMS_ROIS_INFERENCE, 4)
    assert out["p2"].shape == (2, 16, 16, TinyConfig.TOP_DOWN_PYRAMID_SIZE)
    assert out["detections"].shape == (2, TinyConfig.DETECTION_MAX_INSTANCES, 6)
    assert np.all((out["proposals"] >= 0) & (out["proposals"] <= 1))


def test_wrong_mode_is_refused(trained, inference_model, shapes_sets):
    train_model, _ = trained
    with pytest.raises(ValueError, match="inference"):
        train_model.detect([np.zeros((64, 64, 3), np.uint8)])
    with pytest.raises(ValueError, match="training"):
        inference_model.train(*shapes_sets, learning_rate=1e-3, epochs=1, layers="heads")
    with pytest.raises(ValueError, match="mode"):
        modellib.MaskRCNN("predict", TinyConfig(), "logs")


def test_heads_selection_freezes_the_backbone(trained):
    model, _ = trained
    model.set_trainable(modellib.LAYER_REGEX["heads"], verbose=0)
    km = model.keras_model
    assert not km.get_layer("conv1").trainable and not km.get_layer("res4a_branch2a").trainable
    assert km.get_layer("fpn_p2").trainable and km.get_layer("mrcnn_mask").trainable
    assert km.get_layer("rpn_model").get_layer("rpn_conv_shared").trainable
    model.set_trainable(modellib.LAYER_REGEX["4+"], verbose=0)
    assert km.get_layer("res4a_branch2a").trainable and not km.get_layer("res3a_branch2a").trainable
    model.set_trainable(".*", verbose=0)


# ----------------------------------------------------------------------------- data pipeline


@pytest.mark.parametrize("config_class", [TinyConfig, TinyMiniMaskConfig])
def test_data_generator_batches(shapes_sets, config_class):
    train, _ = shapes_sets
    config = config_class()
    gen = modellib.data_generator(train, config, batch_size=2)
    images, meta, rpn_match, rpn_bbox, gt_ids, gt_boxes, gt_masks = next(gen)
    anchors = len(modellib.MaskRCNN.get_anchors(_Anchors(config), config.IMAGE_SHAPE))
    assert images.shape == (2, 64, 64, 3) and images.dtype == np.float32
    assert meta.shape == (2, config.IMAGE_META_SIZE)
    assert rpn_match.shape == (2, anchors, 1) and rpn_bbox.shape == (2, 32, 4)
    assert gt_ids.shape == (2, 4) and gt_boxes.shape == (2, 4, 4)
    mask_hw = (28, 28) if config.USE_MINI_MASK else (64, 64)
    assert gt_masks.shape == (2,) + mask_hw + (4,) and gt_masks.dtype == bool
    for b in range(2):
        n_pos, n_neg = int((rpn_match[b] == 1).sum()), int((rpn_match[b] == -1).sum())
        assert 1 <= n_pos <= 16 and n_pos + n_neg <= 32
        assert np.all(rpn_bbox[b, n_pos:] == 0) and np.any(rpn_bbox[b, :n_pos] != 0)
        n = int((gt_ids[b] > 0).sum())
        assert np.all(gt_boxes[b, n:] == 0) and gt_masks[b, ..., :n].any(axis=(0, 1)).all()


class _Anchors:
    """Just enough of a MaskRCNN to call get_anchors without building a network."""

    def __init__(self, config):
        self.config, self._anchor_cache = config, {}


def test_rpn_targets_mark_the_matching_anchor():
    config = TinyConfig()
    anchors = np.array([[0, 0, 16, 16], [0, 0, 8, 8], [40, 40, 56, 56], [30, 0, 62, 32]], dtype=np.float64)
    gt = np.array([[0, 0, 16, 16], [32, 2, 60, 30]], dtype=np.int32)
    match, deltas = modellib.build_rpn_targets((64, 64, 3), anchors, np.array([1, 2]), gt, config)
    assert match.tolist() == [1, -1, -1, 1]
    np.testing.assert_allclose(deltas[0], 0, atol=1e-6)
    np.testing.assert_allclose(deltas[1], mutils.box_refinement(anchors[3:4], gt[1:2])[0] / config.RPN_BBOX_STD_DEV,
                               rtol=1e-5)


def test_load_image_gt_names_a_bad_mask(shapes_sets):
    class Broken(mutils.Dataset):
        def load_mask(self, image_id):
            return np.zeros((10, 10, 2), bool), np.array([1, 2], np.int32)

    ds = Broken()
    ds.add_class("x", 1, "thing")
    ds.add_image("x", "img7", None, image=np.zeros((64, 64, 3), np.uint8))
    ds.prepare()
    with pytest.raises(ValueError, match=r"image 0 .*load_mask returned masks of shape \(10, 10, 2\)"):
        modellib.load_image_gt(ds, TinyConfig(), 0)


def test_committed_checkpoint_matches_the_shapes_model(tmp_path):
    """weights/course/mask_rcnn_shapes.h5 (3_2, 3_4) loads into every layer of ShapesConfig."""
    from utils.mrcnn import train_shapes

    assert train_shapes.CHECKPOINT.is_file(), "run: python -m utils.mrcnn.train_shapes"
    assert train_shapes.CHECKPOINT.stat().st_size < 10e6
    model = modellib.MaskRCNN("inference", train_shapes.ShapesInferenceConfig(), tmp_path)
    loaded = model.load_weights(train_shapes.CHECKPOINT, by_name=True)
    assert sorted(loaded) == sorted(l.name for l in model.keras_model.layers if l.weights)
