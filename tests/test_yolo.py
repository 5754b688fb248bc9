"""utils.yolo: the YOLOv1 target, loss and decoding (fast mode of 2_4), and the YOLOv3 full-mode
path (Darknet files read by OpenCV, post-processing) tested with tiny Darknet files written here."""
import hashlib
import json

import numpy as np
import pytest

from utils import detection, weights, yolo

# ------------------------------------------------------------------------------ targets


def test_target_is_7x7x30_for_voc():
    t = yolo.encode_targets(np.array([[48, 120, 220, 400]]), [12], 448, S=7, B=2, C=20)
    assert t.shape == (7, 7, 30)
    # centre (134, 260) -> column int(134 / 64) = 2, row int(260 / 64) = 4
    cell = t[4, 2]
    np.testing.assert_allclose(cell[:5], [134 / 64 - 2, 260 / 64 - 4, 172 / 448, 280 / 448, 1.0], rtol=1e-6)
    np.testing.assert_allclose(cell[5:10], cell[:5])          # every box slot holds the truth
    assert cell[10 + 11] == 1 and cell[10:].sum() == 1        # class 12 -> slot 11
    assert (t[..., 4] > 0).sum() == 1


def test_larger_object_wins_a_shared_cell():
    boxes = np.array([[0, 0, 20, 20], [2, 2, 18, 18]], float)  # same centre, first is larger
    t = yolo.encode_targets(boxes, [1, 2], 64, S=4, B=1, C=3)
    assert t[0, 0, 5 + 0] == 1 and t[0, 0, 5 + 1] == 0
    np.testing.assert_allclose(t[0, 0, 2:4], [20 / 64, 20 / 64])


def test_non_square_image_and_batch():
    t = yolo.encode_batch([np.array([[0, 0, 40, 10]]), np.zeros((0, 4))], [[1], []], (20, 80), S=4, B=2, C=2)
    assert t.shape == (2, 4, 4, 12)
    np.testing.assert_allclose(t[0, 1, 1, :5], [0.0, 0.0, 0.5, 0.5, 1.0])  # centre (20, 5) in an 80x20 image
    assert t[1].sum() == 0


@pytest.mark.parametrize("boxes, ids, match", [
    (np.array([[0, 0, 10, 10]]), [0], "1..3"),
    (np.array([[0, 0, 10, 10]]), [4], "1..3"),
    (np.array([[0, 0, 10, 10]]), [1, 2], "class_ids"),
    (np.array([[5, 5, 5, 10]]), [1], "no area"),
])
def test_bad_targets_raise(boxes, ids, match):
    with pytest.raises(ValueError, match=match):
        yolo.encode_targets(boxes, ids, 64, S=4, B=1, C=3)


# --------------------------------------------------------------------------------- loss


def _hand(t, B):
    """Activated prediction equal to the truth in predictor 0 (sqrt sizes), small empty predictors after."""
    p = t.copy()
    p[..., 2:4] = np.sqrt(t[..., 2:4])
    for b in range(1, B):
        p[..., b * 5:b * 5 + 5] = [0.5, 0.5, 0.1, 0.1, 0.0]
    return p


@pytest.fixture
def one_object():
    return yolo.encode_batch([np.array([[10, 20, 42, 40]], float)], [[2]], 64, S=8, B=2, C=3)


def test_loss_terms_are_zero_for_the_truth(one_object):
    terms = yolo.yolo_v1_loss_terms(one_object, _hand(one_object, 2), B=2, C=3, activated=True)
    assert set(terms) == {"coord", "size", "obj", "noobj", "class"}
    for name, value in terms.items():
        assert abs(float(value)) < 1e-6, name


def test_each_term_follows_its_formula(one_object):
    r, c = np.argwhere(one_object[0, ..., 4] > 0)[0]
    p = _hand(one_object, 2)
    p[0, r, c, 1] += 0.1                       # y off by 0.1 cell
    p[0, 0, 0, 4] = 0.4                        # a confident empty cell (predictor 0)
    p[0, 0, 0, 9] = 0.2                        # and predictor 1 of that cell
    p[0, r, c, 10:] = [0.5, 0.25, 0.25]        # truth is class 2 (slot 1)
    t = yolo.yolo_v1_loss_terms(one_object, p, B=2, C=3, activated=True)
    assert float(t["coord"]) == pytest.approx(5 * 0.1 ** 2, rel=1e-4)
    assert float(t["noobj"]) == pytest.approx(0.5 * (0.4 ** 2 + 0.2 ** 2), rel=1e-4)
    assert float(t["class"]) == pytest.approx(0.5 ** 2 + 0.75 ** 2 + 0.25 ** 2, rel=1e-4)
    assert float(t["size"]) == pytest.approx(0.0, abs=1e-6)
    assert 0 < float(t["obj"]) < 0.1           # the shift lowers the IoU target a little
    lam = yolo.yolo_v1_loss_terms(one_object, p, B=2, C=3, lambda_coord=1.0, lambda_noobj=1.0, activated=True)
    assert float(lam["coord"]) == pytest.approx(0.1 ** 2, rel=1e-4)
    assert float(lam["noobj"]) == pytest.approx(0.4 ** 2 + 0.2 ** 2, rel=1e-4)


def test_responsible_predictor_is_the_best_iou(one_object):
    r, c = np.argwhere(one_object[0, ..., 4] > 0)[0]
    p = _hand(one_object, 2)
    # swap: predictor 1 now holds the truth, predictor 0 a tiny box with confidence 0.3
    p[0, r, c, 5:10], p[0, r, c, 0:5] = p[0, r, c, 0:5].copy(), [0.5, 0.5, 0.1, 0.1, 0.3]
    t = yolo.yolo_v1_loss_terms(one_object, p, B=2, C=3, activated=True)
    assert float(t["coord"]) == pytest.approx(0, abs=1e-6)
    assert float(t["noobj"]) == pytest.approx(0.5 * 0.3 ** 2, rel=1e-4)


def test_keras_loss_is_the_sum_of_terms_on_raw_outputs(one_object):
    raw = np.random.default_rng(0).normal(size=one_object.shape).astype(np.float32)
    terms = yolo.yolo_v1_loss_terms(one_object, raw, B=2, C=3)
    total = float(yolo.yolo_v1_loss(B=2, C=3)(one_object, raw))
    assert total == pytest.approx(sum(float(v) for v in terms.values()), rel=1e-5)
    assert total > 0


# ------------------------------------------------------------------------------ decoding


def test_decode_gives_the_encoded_boxes_back():
    boxes = [np.array([[4, 8, 30, 40], [40, 36, 62, 60]], float), np.array([[20, 20, 44, 44]], float)]
    ids = [np.array([1, 3]), np.array([2])]
    t = yolo.encode_batch(boxes, ids, 64, S=8, B=2, C=3)
    p = t.copy()
    p[..., 2:4], p[..., 7:9] = np.sqrt(t[..., 2:4]), np.sqrt(t[..., 7:9])   # both predictors = the truth
    out = yolo.decode(p, 64, B=2, C=3, score_threshold=0.5, activated=True)
    assert len(out) == 2
    for d, b, c in zip(out, boxes, ids):
        assert len(d["boxes"]) == len(b)                                     # duplicates removed by NMS
        order = np.argsort(d["boxes"][:, 0])
        np.testing.assert_allclose(d["boxes"][order], b[np.argsort(b[:, 0])], atol=1e-4)
        assert sorted(d["class_ids"].tolist()) == sorted(c.tolist())
        assert d["scores"].dtype == np.float32 and np.all(d["scores"] >= 0.5)


def test_decode_raw_outputs_and_threshold():
    raw = np.full((1, 4, 4, 5 + 2), -10.0, np.float32)
    raw[0, 1, 2, :5] = [0.0, 0.0, 0.0, 0.0, 10.0]          # centre of cell (1, 2), sqrt size 0.5 -> 0.25
    raw[0, 1, 2, 5:] = [0.0, 5.0]
    d = yolo.decode(raw, 32, B=1, C=2, score_threshold=0.5)[0]
    assert d["class_ids"].tolist() == [2]
    np.testing.assert_allclose(d["boxes"][0], [20 - 4, 12 - 4, 20 + 4, 12 + 4], atol=1e-4)
    assert yolo.decode(raw, 32, B=1, C=2, score_threshold=0.9999)[0]["boxes"].shape == (0, 4)


# ------------------------------------------------------------------ YOLOv3 post-processing


def _yolov3_outputs():
    """Synthetic outputs of the real shapes for a 416 input: 13x13, 26x26, 52x52 cells x 3 anchors."""
    outs = [np.zeros((g * g * 3, 85), np.float32) for g in (13, 26, 52)]
    giraffe = yolo.COCO_CLASSES.index("giraffe")
    outs[0][10, :5] = [0.5, 0.25, 0.2, 0.3, 0.95]
    outs[0][10, 5 + giraffe] = 0.9
    outs[1][99, :5] = [0.51, 0.26, 0.2, 0.3, 0.9]            # duplicate of the giraffe, lower score
    outs[1][99, 5 + giraffe] = 0.8
    outs[2][5, :5] = [0.1, 0.8, 0.05, 0.1, 0.9]
    outs[2][5, 5 + 0] = 0.7                                   # a person
    outs[2][6, :5] = [0.9, 0.9, 0.05, 0.1, 0.9]
    outs[2][6, 5 + 1] = 0.3                                   # below the threshold
    return outs


def test_postprocess_yolov3_on_outputs_of_the_real_shapes():
    outs = _yolov3_outputs()
    assert [o.shape for o in outs] == [(507, 85), (2028, 85), (8112, 85)]
    d = yolo.postprocess_yolov3(outs, (200, 400, 3), conf_threshold=0.5, nms_threshold=0.4)
    assert [yolo.CLASS_NAMES[c] for c in d["class_ids"]] == ["giraffe", "person"]
    np.testing.assert_allclose(d["scores"], [0.9, 0.7], rtol=1e-6)
    np.testing.assert_allclose(d["boxes"][0], [200 - 40, 50 - 30, 200 + 40, 50 + 30], atol=1e-3)
    np.testing.assert_allclose(d["boxes"][1], [40 - 10, 160 - 10, 40 + 10, 160 + 10], atol=1e-3)
    loose = yolo.postprocess_yolov3(outs, (200, 400), conf_threshold=0.2, nms_threshold=0.99)
    assert len(loose["boxes"]) == 4                            # no suppression, low threshold


def test_postprocess_yolov3_clips_and_rejects_bad_shapes():
    out = np.zeros((3, 85), np.float32)
    out[0, :5] = [0.02, 0.5, 0.2, 0.2, 1.0]
    out[0, 6] = 0.8
    d = yolo.postprocess_yolov3([out], (100, 100))
    assert d["boxes"][0, 0] == 0 and d["class_ids"].tolist() == [2]
    assert len(yolo.postprocess_yolov3([np.zeros((0, 85), np.float32)], (100, 100))["boxes"]) == 0
    with pytest.raises(ValueError, match="expected"):
        yolo.postprocess_yolov3([np.zeros((4, 5))], (10, 10))
    with pytest.raises(ValueError, match="disagree"):
        yolo.postprocess_yolov3([np.zeros((4, 85)), np.zeros((4, 25))], (10, 10))


def test_coco_names():
    assert len(yolo.COCO_CLASSES) == 80 and len(set(yolo.COCO_CLASSES)) == 80
    assert yolo.CLASS_NAMES[0] == "BG" and yolo.CLASS_NAMES.index("giraffe") == 24


def test_coco_ids_reconcile_80_classes_ids_up_to_90_and_91_in_the_paper():
    assert len(yolo.COCO_IDS) == 80 and max(yolo.COCO_IDS) == 90 and yolo.COCO_IDS == sorted(yolo.COCO_IDS)
    assert len(yolo.COCO_IDS) + len(yolo.COCO_PAPER_ONLY) == 91
    ids = dict(zip(yolo.COCO_CLASSES, yolo.COCO_IDS))          # the ids of COCO's annotation files
    assert ids["person"] == 1 and ids["stop sign"] == 13 and ids["giraffe"] == 25 and ids["toothbrush"] == 90


def test_read_class_names(tmp_path):
    (tmp_path / "a.names").write_text("person\nbicycle\n\ncar")     # no final newline, a blank line
    assert yolo.read_class_names(tmp_path / "a.names") == ["person", "bicycle", "car"]
    with pytest.raises(FileNotFoundError, match="b.names"):
        yolo.read_class_names(tmp_path / "b.names")
    (tmp_path / "empty.names").write_text("\n")
    with pytest.raises(ValueError, match="empty.names"):
        yolo.read_class_names(tmp_path / "empty.names")


def test_pad_image_letterboxes_and_zooms_out():
    image = np.full((40, 100, 3), 9, np.uint8)
    canvas, (x0, y0) = yolo.pad_image(image)
    assert canvas.shape == (100, 100, 3) and (x0, y0) == (0, 30)
    assert np.all(canvas[30:70] == 9) and np.all(canvas[:30] == 127) and np.all(canvas[70:] == 127)
    canvas, (x0, y0) = yolo.pad_image(image, zoom_out=2)
    assert canvas.shape == (200, 200, 3) and (x0, y0) == (50, 80)
    assert np.array_equal(canvas[y0:y0 + 40, x0:x0 + 100], image)
    with pytest.raises(ValueError, match="zoom_out"):
        yolo.pad_image(image, zoom_out=0.5)


# --------------------------------------------------------- Darknet files read by OpenCV

CFG_1X1 = """[net]
width=32
height=32
channels=3

[convolutional]
filters=21
size=1
stride=1
pad=0
activation=linear

[yolo]
mask=0,1,2
anchors=4,4, 8,8, 16,16
classes=2
num=3
"""

CFG_BN = """[net]
width=32
height=32
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=21
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1,2
anchors=4,4, 8,8, 16,16
classes=2
num=3
"""


def _write_weights(path, arrays):
    """Darknet .weights: int32 major, minor, revision, int64 images seen, then float32 parameters."""
    with open(path, "wb") as f:
        np.array([0, 2, 0], np.int32).tofile(f)
        np.array([0], np.int64).tofile(f)
        for a in arrays:
            np.asarray(a, np.float32).tofile(f)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_read_darknet_runs_a_tiny_yolo_and_rows_follow_the_documented_layout(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(0, 1, (21, 3)).astype(np.float32)
    b = rng.normal(0, 1, 21).astype(np.float32)
    (tmp_path / "tiny.cfg").write_text(CFG_1X1)
    _write_weights(tmp_path / "tiny.weights", [b, w])         # conv without BN: biases, then weights
    net = yolo.read_darknet(tmp_path / "tiny.cfg", tmp_path / "tiny.weights")
    x = rng.uniform(0, 1, (1, 3, 32, 32)).astype(np.float32)
    net.setInput(x)
    (out,) = net.forward(net.getUnconnectedOutLayersNames())
    assert out.shape == (32 * 32 * 3, 7)
    raw = (np.einsum("oc,chw->ohw", w, x[0]) + b[:, None, None]).reshape(3, 7, 32, 32)
    for r, c, a in [(0, 1, 0), (5, 7, 2), (31, 30, 1)]:
        row = out[(r * 32 + c) * 3 + a]
        obj = _sigmoid(raw[a, 4, r, c])
        expected = [(c + _sigmoid(raw[a, 0, r, c])) / 32, (r + _sigmoid(raw[a, 1, r, c])) / 32,
                    np.exp(raw[a, 2, r, c]) * [4, 8, 16][a] / 32, np.exp(raw[a, 3, r, c]) * [4, 8, 16][a] / 32, obj]
        np.testing.assert_allclose(row[:5], expected, rtol=1e-4, atol=1e-5)
        probs = obj * _sigmoid(raw[a, 5:, r, c])              # class scores times objectness, small ones zeroed
        np.testing.assert_allclose(row[5:][row[5:] > 0], probs[row[5:] > 0], rtol=1e-4)
        assert np.all(probs[row[5:] == 0] < 0.5)


def test_detect_yolov3_runs_end_to_end_on_a_tiny_bn_network(tmp_path):
    rng = np.random.default_rng(1)
    conv1 = [rng.normal(0, 0.1, 8), rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.1, 8), rng.uniform(0.5, 1.5, 8),
             rng.normal(0, 0.3, (8, 3, 3, 3))]                # biases, BN scales, means, variances, weights
    conv2 = [np.full(21, 2.0), rng.normal(0, 0.1, (21, 8, 1, 1))]
    (tmp_path / "bn.cfg").write_text(CFG_BN)
    _write_weights(tmp_path / "bn.weights", conv1 + conv2)
    net = yolo.read_darknet(tmp_path / "bn.cfg", tmp_path / "bn.weights")
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    d = yolo.detect_yolov3(net, image, input_size=32, conf_threshold=0.5, nms_threshold=0.4)
    assert set(d) == {"boxes", "scores", "class_ids"}
    assert len(d["boxes"]) > 0 and np.all(d["scores"] >= 0.5)
    assert np.all(d["boxes"] >= 0) and np.all(d["boxes"][:, [0, 2]] <= 64) and np.all(d["boxes"][:, [1, 3]] <= 48)
    assert set(d["class_ids"].tolist()) <= {1, 2}
    kept = detection.nms(d["boxes"][d["class_ids"] == 1], d["scores"][d["class_ids"] == 1], 0.4)
    assert len(kept) == (d["class_ids"] == 1).sum()          # already suppressed
    with pytest.raises(ValueError, match="multiple of 32"):
        yolo.detect_yolov3(net, image, input_size=40)
    with pytest.raises(Exception, match="uint8"):
        yolo.detect_yolov3(net, image.astype(np.float32), input_size=32)


def test_detect_yolov3_zoom_out_gives_boxes_in_the_original_image(tmp_path):
    """The BN network above predicts boxes from its fixed biases: on a zoomed-out canvas, every
    box comes back shifted by the image's offset, clipped to the original image."""
    rng = np.random.default_rng(1)
    conv1 = [rng.normal(0, 0.1, 8), rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.1, 8), rng.uniform(0.5, 1.5, 8),
             rng.normal(0, 0.3, (8, 3, 3, 3))]
    conv2 = [np.full(21, 2.0), rng.normal(0, 0.1, (21, 8, 1, 1))]
    (tmp_path / "bn.cfg").write_text(CFG_BN)
    _write_weights(tmp_path / "bn.weights", conv1 + conv2)
    net = yolo.read_darknet(tmp_path / "bn.cfg", tmp_path / "bn.weights")
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    d = yolo.detect_yolov3(net, image, input_size=32, conf_threshold=0.5, nms_threshold=0.4, zoom_out=2.0)
    canvas, (x0, y0) = yolo.pad_image(image, 2.0)
    net.setInput(__import__("cv2").dnn.blobFromImage(canvas, 1 / 255.0, (32, 32)))
    raw = yolo.postprocess_yolov3(net.forward(net.getUnconnectedOutLayersNames()), canvas.shape, 0.5, 0.4)
    expected = np.clip(raw["boxes"] - [x0, y0, x0, y0], 0, [64, 48, 64, 48])
    inside = (expected[:, 2] > expected[:, 0]) & (expected[:, 3] > expected[:, 1])
    np.testing.assert_allclose(d["boxes"], expected[inside], atol=1e-4)
    assert np.all(d["boxes"][:, [0, 2]] <= 64) and np.all(d["boxes"][:, [1, 3]] <= 48)


def test_read_darknet_errors_name_the_files(tmp_path):
    (tmp_path / "tiny.cfg").write_text(CFG_1X1)
    with pytest.raises(FileNotFoundError, match="tiny.weights"):
        yolo.read_darknet(tmp_path / "tiny.cfg", tmp_path / "tiny.weights")
    (tmp_path / "junk.cfg").write_text("this is not a darknet cfg\n")
    _write_weights(tmp_path / "tiny.weights", [np.zeros(21), np.zeros((21, 3))])
    with pytest.raises(ValueError, match="junk.cfg"):
        yolo.read_darknet(tmp_path / "junk.cfg", tmp_path / "tiny.weights")


def test_yolov3_files_come_from_the_registry(tmp_path):
    fake = b"not really yolov3 weights"
    (tmp_path / "yolov3.weights").write_bytes(fake)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"assets": {"yolov3.weights": {
        "url": "https://example.invalid/yolov3.weights", "sha1": hashlib.sha1(fake).hexdigest(),
        "licence": "test", "notebooks": ["2_4"]}}}))
    registry = weights.Registry(manifest, tmp_path)
    with pytest.raises(weights.AssetError, match="curl"):
        yolo.yolov3_files(registry)                            # the cfg is missing: say how to get it
    (tmp_path / "yolov3.cfg").write_text(CFG_1X1)
    cfg, w = yolo.yolov3_files(registry)
    assert cfg.name == "yolov3.cfg" and w.read_bytes() == fake
    (tmp_path / "yolov3.weights").write_bytes(b"corrupt")
    with pytest.raises(weights.AssetError, match="yolov3.weights"):
        yolo.yolov3_files(registry)


def test_manifest_lists_the_yolov3_weights_with_opencvs_sha1():
    asset = weights.Registry().get(yolo.WEIGHTS_ASSET)
    assert asset.algorithm == "sha1" and asset.digest == "520878f12e97cf820529daea502acca380f1cb8e"
    assert "2_4" in asset.notebooks


# ------------------------------------------------------------------------ exercise checks


def test_responsible_cell_check_accepts_the_answer_and_rejects_swapped_axes(monkeypatch):
    from utils import checks

    def right(box, image_size, S):
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        return min(int(cy / image_size * S), S - 1), min(int(cx / image_size * S), S - 1)

    assert checks.responsible_cell(right) is right
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")
    with pytest.raises(checks.CheckFailed, match="responsible_cell"):
        checks.responsible_cell(lambda box, size, S: right(box, size, S)[::-1])


def test_unpad_boxes_check_accepts_the_answer_rejects_no_clipping_and_gives_a_reference(monkeypatch):
    from utils import checks

    def right(boxes, offset, image_shape):
        h, w = image_shape[:2]
        return np.clip(np.asarray(boxes, float) - [offset[0], offset[1]] * 2, 0, [w, h, w, h])

    def unclipped(boxes, offset, image_shape):
        return np.asarray(boxes, float) - [offset[0], offset[1]] * 2

    assert checks.unpad_boxes(right) is right
    monkeypatch.delenv("COURSE_CHECKS_STRICT", raising=False)
    reference = checks.unpad_boxes(unclipped)
    np.testing.assert_allclose(reference(np.array([[0.0, 0, 50, 50]]), (10, 20), (20, 30)), [[0, 0, 30, 20]])
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")
    with pytest.raises(checks.CheckFailed, match="clip"):
        checks.unpad_boxes(unclipped)


# ------------------------------------------------------- the real YOLOv3-tiny (fast mode of 2_4)

TINY = [weights.Registry().folder / n for n in (yolo.TINY_CFG_ASSET, yolo.TINY_WEIGHTS_ASSET, yolo.NAMES_ASSET)]
needs_tiny = pytest.mark.skipif(not all(f.exists() for f in TINY),
                                reason="YOLOv3-tiny not fetched (python -m utils.weights fetch yolov3-tiny.cfg "
                                       "yolov3-tiny.weights coco.names)")


def test_manifest_lists_yolov3_tiny_with_sha256_and_sizes():
    reg = weights.Registry()
    assert reg.get(yolo.TINY_WEIGHTS_ASSET).size == 35434956
    for name in (yolo.TINY_WEIGHTS_ASSET, yolo.TINY_CFG_ASSET, yolo.NAMES_ASSET):
        asset = reg.get(name)
        assert asset.algorithm == "sha256" and len(asset.digest) == 64 and "2_4" in asset.notebooks


@needs_tiny
def test_real_coco_names_are_the_80_output_classes():
    assert yolo.read_class_names(weights.path(yolo.NAMES_ASSET)) == yolo.COCO_CLASSES


@needs_tiny
def test_real_yolov3_tiny_finds_the_astronaut_when_zoomed_out():
    from utils import data

    net = yolo.read_darknet(*yolo.yolov3_tiny_files())
    assert len(net.getUnconnectedOutLayersNames()) == 2                 # two scales: strides 32 and 16
    photo = data.photo("astronaut")
    person = yolo.COCO_CLASSES.index("person") + 1
    found = yolo.detect_yolov3(net, photo, 416, conf_threshold=0.5, zoom_out=2.0)
    best = found["scores"][found["class_ids"] == person]
    assert len(best) and best.max() >= 0.5
    x1, y1, x2, y2 = found["boxes"][np.flatnonzero(found["class_ids"] == person)[0]]
    assert x2 - x1 > 200 and y2 - y1 > 300 and x2 <= 512 and y2 <= 512    # most of the frame, in its pixels
    filled = yolo.detect_yolov3(net, photo, 416, conf_threshold=0.5)     # the person fills the frame: missed
    assert person not in filled["class_ids"].tolist()
