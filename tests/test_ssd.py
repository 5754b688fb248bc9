"""utils.ssd: default boxes, matching, hard negative mining, losses, decoding (fast mode of 2_5),
the res10 face SSD with the real files (when fetched), and the MobileNet-SSD full-mode path
tested with a tiny Caffe model written here."""
import hashlib
import json

import numpy as np
import pytest

from utils import checks, detection, ssd, weights

# --------------------------------------------------------------------------- default boxes


def test_ssd_scales_follow_the_paper():
    s = ssd.ssd_scales(6, 0.2, 0.9)
    np.testing.assert_allclose([p[0] for p in s], [0.2, 0.34, 0.48, 0.62, 0.76, 0.9])
    np.testing.assert_allclose(s[0][1], np.sqrt(0.2 * 0.34))
    np.testing.assert_allclose(s[-1][1], np.sqrt(0.9 * 1.04))
    np.testing.assert_allclose(ssd.ssd_scales(1, 0.2, 0.8), [[0.2, 0.4]])
    with pytest.raises(ValueError):
        ssd.ssd_scales(0)


def test_default_boxes_follow_ssds_rule():
    d = ssd.default_boxes(64, [8, 16], 0.25, 0.55, aspect_ratios=(2.0,))
    assert ssd.boxes_per_cell((2.0,)) == 4 and ssd.boxes_per_cell((2.0, 3.0)) == 6
    assert d.shape == ((8 * 8 + 4 * 4) * 4, 4)
    w, h = d[:, 2] - d[:, 0], d[:, 3] - d[:, 1]
    first = slice(0, 4)                                   # the first cell of the stride-8 map
    s1, s2 = ssd.ssd_scales(2, 0.25, 0.55)[0]
    np.testing.assert_allclose(np.sqrt(w * h)[first], [s1 * 64, s2 * 64, s1 * 64, s1 * 64])
    np.testing.assert_allclose((w / h)[first], [1, 1, 2, 0.5])
    np.testing.assert_allclose((d[first, :2] + d[first, 2:]) / 2, [[4, 4]] * 4)
    coarse = d[8 * 8 * 4:]
    np.testing.assert_allclose(np.sqrt((coarse[0, 2] - coarse[0, 0]) * (coarse[0, 3] - coarse[0, 1])), 0.55 * 64)
    np.testing.assert_allclose((coarse[0, :2] + coarse[0, 2:]) / 2, [8, 8])
    with pytest.raises(ValueError, match="r > 1"):
        ssd.default_boxes(64, [8], aspect_ratios=(0.5,))


def test_prior_boxes_give_ssd300s_8732_boxes_in_caffes_order():
    d = ssd.prior_boxes(**ssd.SSD300)
    assert len(d) == 8732 == 38 * 38 * 4 + 19 * 19 * 6 + 10 * 10 * 6 + 5 * 5 * 6 + 3 * 3 * 4 + 1 * 1 * 4
    np.testing.assert_allclose(d[0], [4 - 15, 4 - 15, 4 + 15, 4 + 15])            # 30 px square at (4, 4)
    np.testing.assert_allclose(d[1, 2] - d[1, 0], np.sqrt(30 * 60))                 # the extra scale
    np.testing.assert_allclose((d[2, 2] - d[2, 0]) / (d[2, 3] - d[2, 1]), 2.0)       # then r and 1/r
    np.testing.assert_allclose((d[3, 2] - d[3, 0]) / (d[3, 3] - d[3, 1]), 0.5)
    np.testing.assert_allclose((d[-1, :2] + d[-1, 2:]) / 2, [150, 150])            # conv9_2: one cell
    assert len(ssd.prior_boxes(**ssd.FACE_PRIORS)) == 8892
    with pytest.raises(ValueError, match="one entry per level"):
        ssd.prior_boxes([38], [8, 16], [30], [60], [(2,)])


def test_decode_caffe_heads_inverts_encode_deltas():
    priors = ssd.prior_boxes([2], [150], [100], [200], [(2,)])                      # 16 default boxes on 300 px
    truth = np.array([[40.0, 30, 150, 160]])
    loc = np.zeros((len(priors), 4))
    conf = np.tile([0.99, 0.01], (len(priors), 1))
    loc[5] = detection.encode_deltas(priors[5:6], truth, (0.1, 0.1, 0.2, 0.2))[0]
    conf[5] = [0.1, 0.9]
    loc[6] = detection.encode_deltas(priors[6:7], truth + 3, (0.1, 0.1, 0.2, 0.2))[0]   # a duplicate
    conf[6] = [0.3, 0.7]
    d = ssd.decode_caffe_heads(loc.reshape(1, -1), conf.reshape(1, -1), priors, (600, 300, 3), 300, 0.5)
    np.testing.assert_allclose(d["boxes"], truth * [1, 2, 1, 2], atol=1e-3)           # scaled to 300 x 600
    np.testing.assert_allclose(d["scores"], [0.9])
    assert d["class_ids"].tolist() == [1]
    with pytest.raises(ValueError, match="default boxes"):
        ssd.decode_caffe_heads(loc[:3], conf, priors, (300, 300))


FACE_FILES = [weights.Registry().folder / n for n in (ssd.FACE_PROTOTXT_ASSET, ssd.FACE_CAFFEMODEL_ASSET)]
needs_face_ssd = pytest.mark.skipif(not all(f.exists() for f in FACE_FILES),
                                    reason="res10 face SSD not fetched (python -m utils.weights fetch "
                                           "res10_300x300_ssd_deploy.prototxt res10_300x300_ssd_iter_140000.caffemodel)")


@pytest.fixture(scope="module")
def face_net():
    return ssd.read_caffe(*ssd.face_ssd_files())


@needs_face_ssd
def test_real_res10_priors_equal_the_courses_default_boxes(face_net):
    import cv2

    face_net.setInput(cv2.dnn.blobFromImage(np.zeros((300, 300, 3), np.uint8), 1.0, (300, 300), ssd.FACE_MEAN))
    theirs = face_net.forward("mbox_priorbox")
    assert theirs.shape == (1, 2, 8892 * 4)
    np.testing.assert_allclose(theirs[0, 0].reshape(-1, 4) * 300, ssd.prior_boxes(**ssd.FACE_PRIORS), atol=1e-3)
    np.testing.assert_allclose(theirs[0, 1].reshape(-1, 4)[:3], [[0.1, 0.1, 0.2, 0.2]] * 3)   # the variances


@needs_face_ssd
@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_real_res10_finds_the_face_and_our_decoding_equals_opencvs(face_net, name):
    from utils import data

    photo = data.photo(name)
    ours, opencv = ssd.detect_faces(face_net, photo, conf_threshold=0.5)
    assert len(ours["boxes"]) == 1 and ours["scores"][0] > 0.99 and ours["class_ids"].tolist() == [1]
    np.testing.assert_allclose(ours["boxes"], opencv["boxes"], atol=0.01)
    np.testing.assert_allclose(ours["scores"], opencv["scores"], atol=1e-5)
    x1, y1, x2, y2 = ours["boxes"][0]
    assert 60 < x2 - x1 < 250 and 60 < y2 - y1 < 250                              # a face, not the whole photo


def test_face_ssd_manifest_entries_have_sha256_and_sizes():
    reg = weights.Registry()
    for name, size in [(ssd.FACE_CAFFEMODEL_ASSET, 10666211), (ssd.FACE_PROTOTXT_ASSET, None)]:
        asset = reg.get(name)
        assert asset.algorithm == "sha256" and len(asset.digest) == 64 and "2_5" in asset.notebooks
        assert size is None or asset.size == size


# ------------------------------------------------------------------------------- matching


@pytest.fixture
def defaults():
    return ssd.default_boxes(64, [8, 16], 0.25, 0.55)


def test_match_positives_and_best_default_box(defaults):
    gt = np.array([[4, 4, 20, 20], [30, 20, 62, 44]], float)
    labels, deltas = ssd.match(defaults, gt, [3, 1])
    ov = detection.iou(defaults, gt)
    expected = ov.max(1) >= 0.5
    expected[ov.argmax(0)] = True                               # each object's best default box
    assert np.array_equal(labels > 0, expected)
    assert labels[ov[:, 0].argmax()] == 3 and labels[ov[:, 1].argmax()] == 1
    pos = labels > 0
    back = detection.decode_deltas(defaults[pos], deltas[pos])
    owner = np.where(labels[pos] == 3, 0, 1)
    np.testing.assert_allclose(back, gt[owner], atol=1e-4)
    assert np.all(deltas[~pos] == 0) and deltas.dtype == np.float32 and labels.dtype == np.int32


def test_every_object_gets_a_default_box_even_below_the_threshold(defaults):
    thin = np.array([[10, 30, 50, 34]], float)            # a 40x4 sliver: no default box reaches IoU 0.5
    assert detection.iou(defaults, thin).max() < 0.5
    labels, _ = ssd.match(defaults, thin, [2])
    assert (labels > 0).sum() == 1 and labels[detection.iou(defaults, thin)[:, 0].argmax()] == 2


def test_match_without_objects_and_bad_input(defaults):
    labels, deltas = ssd.match(defaults, np.zeros((0, 4)), [])
    assert labels.sum() == 0 and deltas.shape == (len(defaults), 4)
    with pytest.raises(ValueError, match="background"):
        ssd.match(defaults, np.array([[0, 0, 10, 10]]), [0])
    with pytest.raises(ValueError, match="class ids"):
        ssd.match(defaults, np.array([[0, 0, 10, 10]]), [1, 2])
    y = ssd.encode_batch(defaults, [np.array([[4, 4, 20, 20]], float), np.zeros((0, 4))], [[1], []])
    assert y.shape == (2, len(defaults), 5) and (y[0, :, 0] > 0).any() and y[1].sum() == 0


# ------------------------------------------------------------------- hard negative mining


def test_hard_negative_mask_keeps_the_three_worst_negatives_per_positive():
    ce = np.array([[0.1, 5.0, 0.2, 3.0, 0.9, 4.0, 0.3, 2.0, 0.0, 1.0],
                   [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.]], np.float32)
    labels = np.array([[1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                       [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    mask = ssd.hard_negative_mask(ce, labels, neg_pos_ratio=3).numpy()
    assert mask[0].tolist() == [1, 1, 0, 1, 0, 1, 0, 0, 0, 0]   # the positive + losses 5, 4 and 3
    assert mask[1].sum() == 0                                    # no positive, no negative kept
    few = ssd.hard_negative_mask(ce[:1, :3], labels[:1, :3], neg_pos_ratio=3).numpy()
    assert few.tolist() == [[1, 1, 1]]                           # fewer negatives than 3x: keep them all
    two = ssd.hard_negative_mask(ce[:1], labels[:1], neg_pos_ratio=1).numpy()
    assert two[0].tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]


def test_ssd_loss_terms(defaults):
    gt = np.array([[4, 4, 20, 20]], float)
    y = ssd.encode_batch(defaults, [gt], [[2]])
    labels = y[0, :, 0].astype(int)
    good = np.zeros((1, len(defaults), 4 + 5), np.float32)
    good[0, np.arange(len(defaults)), labels] = 30.0              # confident, correct classes
    good[0, :, 5:] = y[0, :, 1:]                                 # exact offsets
    terms = ssd.ssd_loss_terms(y, good, num_classes=4)
    assert float(terms["conf"]) < 1e-6 and float(terms["loc"]) < 1e-6
    bad = good.copy()
    n_pos = int((labels > 0).sum())
    bad[0, labels > 0, 5] += 0.5                                  # dx off by 0.5: smooth L1 = 0.125 each
    bad[0, labels > 0, 6] += 2.0                                  # dy off by 2: smooth L1 = 1.5 each
    terms = ssd.ssd_loss_terms(y, bad, num_classes=4, alpha=2.0)
    assert float(terms["loc"]) == pytest.approx(2.0 * (0.125 + 1.5), rel=1e-5)
    uniform = np.zeros_like(good)
    terms = ssd.ssd_loss_terms(y, uniform, num_classes=4)        # every box: CE log(5); 4 boxes per positive count
    assert float(terms["conf"]) == pytest.approx(4 * np.log(5), rel=1e-5)
    total = float(ssd.ssd_loss(4)(y, uniform))
    assert total == pytest.approx(float(terms["conf"]) + float(terms["loc"]), rel=1e-6)
    assert n_pos >= 1


def test_focal_loss_values_and_the_exercise_check(monkeypatch):
    p = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(ssd.focal_loss(p, np.ones(3), gamma=0, alpha=0.5), -0.5 * np.log(p))
    np.testing.assert_allclose(ssd.focal_loss(0.9, 1), 0.25 * 0.01 * -np.log(0.9))
    np.testing.assert_allclose(ssd.focal_loss(0.9, 0), 0.75 * 0.81 * -np.log(0.1))
    assert np.isfinite(ssd.focal_loss(np.array([0.0, 1.0]), np.array([1, 1]))).all()
    assert checks.focal_loss(ssd.focal_loss) is ssd.focal_loss
    wrong = lambda p, y, gamma=2.0, alpha=0.25: -np.log(np.where(y == 1, p, 1 - p))  # noqa: E731
    monkeypatch.delenv("COURSE_CHECKS_STRICT", raising=False)
    reference = checks.focal_loss(wrong)                     # a student goes on with the course's function
    np.testing.assert_allclose(reference(p, np.ones(3)), ssd.focal_loss(p, np.ones(3)))
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")
    with pytest.raises(checks.CheckFailed):
        checks.focal_loss(wrong)


# ------------------------------------------------------------------------------- decoding


def test_decode_gives_the_matched_boxes_back(defaults):
    gts = [np.array([[4, 4, 22, 20], [30, 24, 60, 58]], float), np.array([[10, 30, 40, 50]], float)]
    ids = [[1, 3], [4]]
    y = ssd.encode_batch(defaults, gts, ids)
    pred = np.zeros((2, len(defaults), 9), np.float32)
    for i in range(2):
        pred[i, np.arange(len(defaults)), y[i, :, 0].astype(int)] = 10.0
    pred[..., 5:] = y[..., 1:]
    out = ssd.decode(pred, defaults, 4, score_threshold=0.5, image_size=64)
    for d, g, c in zip(out, gts, ids):
        assert len(d["boxes"]) == len(g)
        order = np.argsort(d["boxes"][:, 0])
        np.testing.assert_allclose(d["boxes"][order], g, atol=1e-3)
        assert d["class_ids"][order].tolist() == c
        assert np.all(d["scores"] > 0.99)
    with pytest.raises(ValueError, match="expected"):
        ssd.decode(pred[..., :7], defaults, 4)


# ------------------------------------------------------------------ MobileNet-SSD (Caffe)


def test_postprocess_ssd_on_an_output_of_the_real_shape():
    out = np.zeros((1, 1, 100, 7), np.float32)
    out[0, 0, 0] = [0, 8, 0.6, 0.1, 0.2, 0.5, 0.6]               # cat
    out[0, 0, 1] = [0, 15, 0.95, -0.1, 0.0, 0.3, 1.2]            # person, partly outside
    out[0, 0, 2] = [0, 0, 0.99, 0.1, 0.1, 0.2, 0.2]              # background row: dropped
    out[0, 0, 3] = [0, 12, 0.3, 0.1, 0.1, 0.2, 0.2]              # below the threshold
    d = ssd.postprocess_ssd(out, (200, 300, 3), conf_threshold=0.5)
    assert [ssd.CLASS_NAMES[c] for c in d["class_ids"]] == ["person", "cat"]
    np.testing.assert_allclose(d["scores"], [0.95, 0.6])
    np.testing.assert_allclose(d["boxes"], [[0, 0, 90, 200], [30, 40, 150, 120]], atol=1e-4)
    with pytest.raises(ValueError, match="expected"):
        ssd.postprocess_ssd(np.zeros((1, 100, 7)), (10, 10))


def _varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number, payload):
    """A length-delimited protobuf field."""
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _caffe_layer(name, kind, blobs):
    """LayerParameter: name = 1, type = 2, blobs = 7 (BlobProto: data = 5 packed floats, shape = 7 (dim = 1))."""
    body = _field(1, name.encode()) + _field(2, kind.encode())
    for arr in blobs:
        arr = np.asarray(arr, np.float32)
        shape = _field(1, b"".join(_varint(int(d)) for d in arr.shape))
        body += _field(7, _field(7, shape) + _field(5, arr.tobytes()))
    return _field(100, body)                                      # NetParameter.layer = 100


TINY_SSD_PROTOTXT = """name: "tiny_ssd"
input: "data"
input_shape { dim: 1 dim: 3 dim: 300 dim: 300 }
layer { name: "pool" type: "Pooling" bottom: "data" top: "pool" pooling_param { pool: MAX kernel_size: 30 stride: 30 } }
layer { name: "loc" type: "Convolution" bottom: "pool" top: "loc" convolution_param { num_output: 4 kernel_size: 1 } }
layer { name: "conf" type: "Convolution" bottom: "pool" top: "conf" convolution_param { num_output: 21 kernel_size: 1 } }
layer { name: "loc_perm" type: "Permute" bottom: "loc" top: "loc_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "loc_flat" type: "Flatten" bottom: "loc_perm" top: "loc_flat" flatten_param { axis: 1 } }
layer { name: "conf_perm" type: "Permute" bottom: "conf" top: "conf_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "conf_flat" type: "Flatten" bottom: "conf_perm" top: "conf_flat" flatten_param { axis: 1 } }
layer { name: "conf_reshape" type: "Reshape" bottom: "conf_flat" top: "conf_reshape" reshape_param { shape { dim: 0 dim: -1 dim: 21 } } }
layer { name: "conf_softmax" type: "Softmax" bottom: "conf_reshape" top: "conf_softmax" softmax_param { axis: 2 } }
layer { name: "conf_out" type: "Flatten" bottom: "conf_softmax" top: "conf_out" flatten_param { axis: 1 } }
layer { name: "priorbox" type: "PriorBox" bottom: "pool" bottom: "data" top: "priorbox"
  prior_box_param { min_size: 60.0 clip: false variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 step: 30.0 offset: 0.5 } }
layer { name: "detection_out" type: "DetectionOutput" bottom: "loc_flat" bottom: "conf_out" bottom: "priorbox"
  top: "detection_out" include { phase: TEST }
  detection_output_param { num_classes: 21 share_location: true background_label_id: 0
    nms_param { nms_threshold: 0.45 top_k: 100 } code_type: CENTER_SIZE keep_top_k: 100 confidence_threshold: 0.01 } }
"""


@pytest.fixture
def tiny_caffe(tmp_path):
    """A 10x10-prior SSD whose 'cat' score fires on red pixels (the blob's channel 2 once RGB is swapped to BGR)."""
    conf_w = np.zeros((21, 3, 1, 1))
    conf_w[ssd.CLASS_NAMES.index("cat"), 2, 0, 0] = 10.0
    conf_b = np.zeros(21)
    conf_b[0] = 2.0
    (tmp_path / "tiny.prototxt").write_text(TINY_SSD_PROTOTXT)
    (tmp_path / "tiny.caffemodel").write_bytes(
        _field(1, b"tiny_ssd") + _caffe_layer("loc", "Convolution", [np.zeros((4, 3, 1, 1)), np.zeros(4)])
        + _caffe_layer("conf", "Convolution", [conf_w, conf_b]))
    return tmp_path / "tiny.prototxt", tmp_path / "tiny.caffemodel"


def test_read_caffe_and_detect_on_a_tiny_ssd(tiny_caffe):
    net = ssd.read_caffe(*tiny_caffe)
    image = np.zeros((150, 300, 3), np.uint8)
    image[:] = (0, 0, 255)                                        # blue background (RGB)
    image[30:60, 150:210] = (255, 0, 0)                           # a red block
    d = ssd.detect_mobilenet_ssd(net, image, conf_threshold=0.5)
    assert len(d["boxes"]) >= 1 and set(d["class_ids"].tolist()) == {ssd.CLASS_NAMES.index("cat")}
    red = np.array([150, 30, 210, 60], float)
    assert np.all(detection.iou(d["boxes"], red)[:, 0] > 0.1)    # every detection sits on the red block
    assert np.all(d["boxes"][:, [1, 3]] <= 150) and np.all(d["boxes"] >= 0)
    net.setInput(np.zeros((1, 3, 300, 300), np.float32))
    assert net.forward().shape[:2] == (1, 1) and net.forward().shape[3] == 7


def test_read_caffe_errors_name_the_files(tiny_caffe, tmp_path):
    proto, model = tiny_caffe
    with pytest.raises(FileNotFoundError, match="missing.caffemodel"):
        ssd.read_caffe(proto, tmp_path / "missing.caffemodel")
    (tmp_path / "bad.prototxt").write_text("layer { this is not a prototxt")
    with pytest.raises(ValueError, match="bad.prototxt"):
        ssd.read_caffe(tmp_path / "bad.prototxt", model)


def test_mobilenet_ssd_files_come_from_the_registry(tmp_path):
    files = {ssd.PROTOTXT_ASSET: b"prototxt", ssd.CAFFEMODEL_ASSET: b"caffemodel"}
    assets = {}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        assets[name] = {"url": f"https://example.invalid/{name}", "sha1": hashlib.sha1(content).hexdigest(),
                        "licence": "test", "notebooks": ["2_5"]}
    (tmp_path / "manifest.json").write_text(json.dumps({"assets": assets}))
    registry = weights.Registry(tmp_path / "manifest.json", tmp_path)
    proto, model = ssd.mobilenet_ssd_files(registry)
    assert proto.read_bytes() == b"prototxt" and model.read_bytes() == b"caffemodel"
    (tmp_path / ssd.CAFFEMODEL_ASSET).unlink()
    with pytest.raises(weights.AssetError, match="fetch MobileNetSSD_deploy.caffemodel"):
        ssd.mobilenet_ssd_files(registry)


def test_manifest_lists_mobilenet_ssd_with_opencvs_sha1s():
    reg = weights.Registry()
    assert reg.get(ssd.PROTOTXT_ASSET).digest == "50cf80235a8fcccc641bf9f8efc803edbf21c615"
    assert reg.get(ssd.CAFFEMODEL_ASSET).digest == "19e3ec38842f3e68b02c07a1c24424a1e9db57e9"
