"""Tests for utils.mrcnn.opencv: Mask R-CNN post-processing on outputs of the real shapes,
the course's own frozen network read by OpenCV, and the full-mode file handling."""
from __future__ import annotations

import hashlib
import json
import tarfile

import numpy as np
import pytest

from utils import weights
from utils.mrcnn import opencv as ocv


def outputs(rows, n_classes=90, size=15):
    """OpenCV-shaped outputs: boxes (1, 1, N, 7) from rows, masks (N, 90, 15, 15) zeros."""
    boxes = np.array(rows, np.float32).reshape(1, 1, -1, 7)
    return boxes, np.zeros((boxes.shape[2], n_classes, size, size), np.float32)


def test_postprocess_thresholds_class_channel_and_boxes():
    boxes, masks = outputs([
        [0, 16, 0.95, 0.10, 0.20, 0.50, 0.60],  # a cat (COCO id 17), box x 20..100, y 20..60 of 200x100
        [0, 0, 0.40, 0.00, 0.00, 0.20, 0.20],   # a person below the confidence threshold
        [0, 2, 0.80, 0.60, 0.50, 0.90, 0.90],   # a car
    ])
    masks[0, 16] = 1.0      # the cat's own channel: full box
    masks[0, 17] = 0.0      # (another channel must not be used)
    masks[2, 2, :, :7] = 0.9  # left 7/15 of the car box
    masks[2, 2, :, 7:] = 0.2
    r = ocv.postprocess(boxes, masks, (100, 200, 3), conf_threshold=0.5, mask_threshold=0.3)
    assert r["class_ids"].tolist() == [17, 3] and r["rois"].dtype == np.int32
    assert [ocv.COCO_CLASS_NAMES[c] for c in r["class_ids"]] == ["cat", "car"]
    np.testing.assert_allclose(r["scores"], [0.95, 0.80])
    np.testing.assert_array_equal(r["rois"], [[20, 20, 60, 100], [50, 120, 90, 180]])
    assert r["masks"].shape == (100, 200, 2) and r["masks"].dtype == bool
    assert r["masks"][..., 0].sum() == 40 * 80 and r["masks"][20:60, 20:100, 0].all()
    car = r["masks"][..., 1]
    assert car[50:90, 120:145].all() and not car[50:90, 150:180].any() and not car[:50].any()
    # a lower confidence threshold adds the person, a higher one keeps only the cat
    assert ocv.postprocess(boxes, masks, (100, 200), 0.3)["class_ids"].tolist() == [17, 3, 1]
    assert ocv.postprocess(boxes, masks, (100, 200), 0.9)["class_ids"].tolist() == [17]
    # the mask threshold decides which soft pixels count
    assert ocv.postprocess(boxes, masks, (100, 200), 0.5, mask_threshold=0.1)["masks"][..., 1].sum() == 40 * 60
    assert ocv.postprocess(boxes, masks, (100, 200), 0.5, mask_threshold=0.95)["masks"][..., 1].sum() == 0


def test_postprocess_clips_and_handles_nothing():
    boxes, masks = outputs([[0, 0, 0.9, -0.1, -0.1, 0.5, 0.5], [0, 0, 0.9, 1.1, 1.1, 1.3, 1.3]])
    masks[:, 0] = 1
    r = ocv.postprocess(boxes, masks, (20, 40))
    np.testing.assert_array_equal(r["rois"], [[0, 0, 10, 20]])  # the second box lies outside
    assert r["masks"][..., 0].sum() == 200
    empty = ocv.postprocess(*outputs([]), (20, 40))
    assert empty["rois"].shape == (0, 4) and empty["masks"].shape == (20, 40, 0)


def test_postprocess_rejects_wrong_shapes():
    boxes, masks = outputs([[0, 0, 0.9, 0, 0, 1, 1]])
    with pytest.raises(ValueError, match="expected \\(1, 1, N, 7\\)"):
        ocv.postprocess(boxes[0], masks, (10, 10))
    with pytest.raises(ValueError, match="masks have shape"):
        ocv.postprocess(boxes, masks[0], (10, 10))
    with pytest.raises(ValueError, match="class 95"):
        ocv.postprocess(outputs([[0, 95, 0.9, 0, 0, 1, 1]])[0], masks, (10, 10))
    with pytest.raises(ValueError, match="thresholds"):
        ocv.postprocess(boxes, masks, (10, 10), conf_threshold=5)


def test_segmentation_to_detections():
    logits = np.zeros((4, 32, 32), np.float32)
    logits[0] = 5  # background everywhere...
    logits[2, 2:10, 3:9] = 10  # ...a circle region (class 2)...
    logits[3, 20:30, 20:24] = 10  # ...a triangle region (class 3)...
    logits[3, 0, 31] = 10  # ...and a one-pixel speck, below min_area
    boxes, masks = ocv.segmentation_to_detections(logits, min_area=2)
    assert boxes.shape == (1, 1, 2, 7) and masks.shape == (2, 3, 15, 15)
    rows = sorted(boxes[0, 0].tolist(), key=lambda r: r[1])
    np.testing.assert_allclose(rows[0][3:], [3 / 32, 2 / 32, 9 / 32, 10 / 32])
    assert rows[0][1] == 1 and rows[1][1] == 2 and rows[0][2] > 0.99
    k = int(np.argmax(boxes[0, 0, :, 1] == 1))
    assert masks[k, 1].min() > 0.99 and masks[k, 0].max() == 0 and masks[k, 2].max() == 0
    # through the same post-processing: the region comes back as its mask
    r = ocv.postprocess(boxes, masks, (32, 32))
    region = r["masks"][..., list(r["class_ids"]).index(2)]
    assert region.sum() == 8 * 6 and region[2:10, 3:9].all()


def test_frozen_graph_runs_in_opencv_like_keras(tmp_path):
    import keras

    from utils import data

    keras.utils.set_random_seed(0)
    model = ocv.build_segmenter(3, size=16, width=4)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # non-trivial batch-norm statistics, so folding them is tested
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 2, g.shape), rng.normal(0, 1, b.shape), rng.normal(0, 1, m.shape),
                               rng.uniform(0.5, 2, v.shape)])
    pb = ocv.export_frozen_graph(model, tmp_path / "net.pb")
    assert pb.stat().st_size > 1000
    s = data.shapes(2, size=16, seed=0, max_instances=1)
    net = ocv.SegmenterAsMaskRCNN(pb, s.class_names, size=16)
    expected = model.predict(ocv.segmentation_targets(s)[0], verbose=0)
    for i in range(2):
        got = net.logits(s.images[i])
        assert got.shape == (4, 16, 16)
        np.testing.assert_allclose(got, expected[i].transpose(2, 0, 1), atol=1e-4)
    boxes, masks = net.forward(s.images[0])
    assert boxes.ndim == 4 and boxes.shape[3] == 7 and masks.shape[1:] == (3, 15, 15)
    r = ocv.detect(net, s.images[0], conf_threshold=0.0)
    assert r["masks"].shape[:2] == (16, 16)
    drawn = ocv.draw_detections(s.images[0], r, s.class_names)
    assert drawn.shape == (256, 256, 3) and drawn.dtype == np.uint8  # enlarged 16 times to be readable
    assert ocv.draw_detections(s.images[0], r, s.class_names, min_side=16).shape == (16, 16, 3)


def test_segmentation_targets_resize():
    from utils import data

    s = data.shapes(3, size=64, seed=1)
    x, y = ocv.segmentation_targets(s, size=32)
    assert x.shape == (3, 32, 32, 3) and x.dtype == np.float32 and y.shape == (3, 32, 32) and y.dtype == np.int32
    assert set(np.unique(y)) <= {0, 1, 2, 3} and (y > 0).any()
    # background pixels are the median colour, so they normalise to 0
    assert np.median(np.abs(x)) == 0


def test_read_net_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pb: no such file"):
        ocv.read_net(tmp_path / "nothing.pb")
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"this is not a graph")
    with pytest.raises(ValueError, match="bad.pb: OpenCV cannot read this TensorFlow graph"):
        ocv.read_net(bad)


def test_coco_model_files(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    graph = b"pretend frozen graph"
    tarball = folder / ocv.MODEL_ASSET
    src = tmp_path / "frozen_inference_graph.pb"
    src.write_bytes(graph)
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(src, arcname=ocv.PB_MEMBER)
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"assets": {ocv.MODEL_ASSET: {
        "url": "http://example.invalid/x.tar.gz", "sha1": hashlib.sha1(tarball.read_bytes()).hexdigest(),
        "licence": "test", "notebooks": ["3_1"]}}}))
    registry = weights.Registry(manifest)
    # the member's checksum is OpenCV's, which this pretend graph does not have
    with pytest.raises(weights.AssetError, match="sha1 different from OpenCV"):
        ocv.coco_model_files(registry)
    assert not (folder / ocv.PB_FILE).exists() and not [p for p in folder.iterdir() if p.name.startswith(".")]
    monkeypatch.setattr(ocv, "PB_SHA1", hashlib.sha1(graph).hexdigest())
    with pytest.raises(weights.AssetError, match="opencv_extra.*pbtxt"):
        ocv.coco_model_files(registry)
    assert (folder / ocv.PB_FILE).read_bytes() == graph  # extracted once, kept
    (folder / ocv.PBTXT_FILE).write_text("node {}")
    pb, pbtxt = ocv.coco_model_files(registry)
    assert pb == folder / ocv.PB_FILE and pbtxt == folder / ocv.PBTXT_FILE


def test_coco_model_missing_tarball_says_what_to_run(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"assets": {ocv.MODEL_ASSET: {
        "url": "http://example.invalid/x.tar.gz", "sha1": "0" * 40, "licence": "test", "notebooks": ["3_1"]}}}))
    with pytest.raises(weights.AssetError, match=f"python -m utils.weights fetch {ocv.MODEL_ASSET}"):
        ocv.coco_model_files(weights.Registry(manifest))


def test_manifest_lists_the_model_with_opencvs_sha1():
    asset = weights.Registry().get(ocv.MODEL_ASSET)
    assert asset.algorithm == "sha1" and asset.digest == "f8a920756744d0f7ee812b3ec2474979f74ab40c"
    assert "3_1" in asset.notebooks
    assert len(ocv.COCO_CATEGORIES) == 90 and ocv.COCO_CATEGORIES[16] == "cat" and ocv.COCO_CATEGORIES[89] == "toothbrush"
