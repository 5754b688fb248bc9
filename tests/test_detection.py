"""utils.detection against independent references: direct loops, OpenCV, TensorFlow, pycocotools."""
import json

import cv2
import numpy as np
import pytest

from utils import detection as det


def _random_boxes(rng, n, size=100.0, min_side=2.0, max_side=40.0):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(min_side, max_side, (n, 2))
    return np.c_[xy, xy + wh]


def _clustered_boxes(rng, n_objects, per_object, jitter=4.0):
    """Boxes scattered around a few objects, as a detector outputs them before NMS."""
    objects = _random_boxes(rng, n_objects, size=200, min_side=15, max_side=60)
    boxes = np.repeat(objects, per_object, axis=0) + rng.normal(0, jitter, (n_objects * per_object, 4))
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    return boxes


# ------------------------------------------------------------------------------ boxes


def test_convert_boxes_known_values_and_round_trips():
    xyxy = np.array([[10.0, 20, 40, 80], [0, 0, 1, 1]])
    assert np.allclose(det.convert_boxes(xyxy, "xyxy", "xywh"), [[10, 20, 30, 60], [0, 0, 1, 1]])
    assert np.allclose(det.convert_boxes(xyxy, "xyxy", "yxyx"), [[20, 10, 80, 40], [0, 0, 1, 1]])
    assert np.allclose(det.convert_boxes(xyxy, "xyxy", "cxcywh"), [[25, 50, 30, 60], [0.5, 0.5, 1, 1]])
    boxes = _random_boxes(np.random.default_rng(0), 20)
    for src in det.BOX_FORMATS:
        for dst in det.BOX_FORMATS:
            there = det.convert_boxes(det.convert_boxes(boxes, "xyxy", src), src, dst)
            assert np.allclose(there, det.convert_boxes(boxes, "xyxy", dst)), (src, dst)
    assert det.convert_boxes([1, 2, 3, 4], "xyxy", "xywh").shape == (1, 4)
    assert det.convert_boxes(np.zeros((0, 4)), "xywh", "xyxy").shape == (0, 4)


def test_convert_boxes_rejects_bad_input():
    with pytest.raises(ValueError, match="xyhw"):
        det.convert_boxes(np.zeros((1, 4)), "xyhw", "xyxy")
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        det.convert_boxes(np.zeros((3, 5)), "xyxy", "xywh")


def _iou_loop(a, b):
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - iw * ih
            out[i, j] = iw * ih / union if union > 0 else 0.0
    return out


def test_iou_equals_direct_loops():
    rng = np.random.default_rng(1)
    a, b = _random_boxes(rng, 30), _random_boxes(rng, 17)
    got = det.iou(a, b)
    assert got.shape == (30, 17)
    assert np.allclose(got, _iou_loop(a, b), atol=1e-12)
    assert (got > 0).any() and (got == 0).any()  # the data exercise both overlapping and disjoint pairs


def test_iou_known_cases():
    a = np.array([[0.0, 0, 10, 10]])
    b = np.array([[5.0, 5, 15, 15], [0, 0, 10, 10], [10, 0, 20, 10], [2, 2, 8, 8], [3, 3, 3, 9]])
    assert np.allclose(det.iou(a, b), [[25 / 175, 1.0, 0.0, 0.36, 0.0]])
    assert det.iou(np.zeros((0, 4)), b).shape == (0, 5)
    # a one-pixel object is [x, y, x+1, y+1] (exclusive ends): IoU with itself is 1, with its neighbour 0
    assert np.allclose(det.iou([[3, 4, 4, 5]], [[3, 4, 4, 5], [4, 4, 5, 5]]), [[1.0, 0.0]])


# ------------------------------------------------------------------------------- NMS


def _cv2_nms(boxes, scores, threshold):
    """cv2.dnn.NMSBoxes takes xywh boxes and keeps scores strictly above score_threshold (>= 0)."""
    assert scores.min() > 0
    xywh = det.convert_boxes(boxes, "xyxy", "xywh").tolist()
    return np.asarray(cv2.dnn.NMSBoxes(xywh, scores.tolist(), 0.0, threshold)).reshape(-1)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_equals_opencv(threshold):
    rng = np.random.default_rng(int(threshold * 10))
    boxes = _clustered_boxes(rng, 12, 25)
    scores = rng.random(len(boxes))
    ref = _cv2_nms(boxes, scores, threshold)
    got = det.nms(boxes, scores, threshold, max_output=len(boxes))
    assert got.dtype == np.int64
    assert 12 <= len(ref) < len(boxes)  # the case actually suppresses
    assert np.array_equal(got, ref)
    # max_output keeps the first (best) survivors of the same greedy run
    assert np.array_equal(det.nms(boxes, scores, threshold, max_output=5), ref[:5])


def test_nms_equals_tensorflow():
    import tensorflow as tf

    rng = np.random.default_rng(7)
    for threshold in (0.4, 0.5):
        boxes = _clustered_boxes(rng, 10, 20)
        scores = rng.random(len(boxes))
        ref = tf.image.non_max_suppression(det.convert_boxes(boxes, "xyxy", "yxyx").astype(np.float32),
                                           scores.astype(np.float32), max_output_size=100,
                                           iou_threshold=threshold).numpy()
        assert np.array_equal(det.nms(boxes, scores, threshold, max_output=100), ref)


def test_nms_threshold_is_strict_like_opencv_and_tensorflow():
    """IoU exactly at the threshold is kept: the course drops boxes with IoU > threshold."""
    import tensorflow as tf

    boxes = np.array([[0.0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 6]])  # IoU 0.5 and 0.6 with box 0
    scores = np.array([0.9, 0.8, 0.7])
    assert np.isclose(det.iou(boxes[:1], boxes[1:2])[0, 0], 0.5)
    assert det.nms(boxes, scores, 0.5).tolist() == [0, 1]
    assert _cv2_nms(boxes, scores, 0.5).tolist() == [0, 1]
    tf_kept = tf.image.non_max_suppression(det.convert_boxes(boxes, "xyxy", "yxyx").astype(np.float32),
                                           scores.astype(np.float32), 10, iou_threshold=0.5).numpy()
    assert tf_kept.tolist() == [0, 1]


def test_nms_edge_cases():
    assert det.nms(np.zeros((0, 4)), np.zeros(0)).shape == (0,)
    assert det.nms([[0, 0, 5, 5]], [0.3]).tolist() == [0]
    with pytest.raises(ValueError, match="scores"):
        det.nms(np.zeros((3, 4)), np.zeros(2))
    # identical boxes: the first of equal scores wins
    assert det.nms(np.tile([[0.0, 0, 4, 4]], (3, 1)), np.array([0.5, 0.5, 0.5])).tolist() == [0]


def test_batched_nms_equals_opencv_batched_and_per_class_loops():
    rng = np.random.default_rng(3)
    boxes = _clustered_boxes(rng, 8, 15)
    scores = rng.random(len(boxes))
    classes = rng.integers(0, 3, len(boxes))
    got = det.batched_nms(boxes, scores, classes, 0.5, max_output=len(boxes))
    xywh = det.convert_boxes(boxes, "xyxy", "xywh").tolist()
    ref = np.asarray(cv2.dnn.NMSBoxesBatched(xywh, scores.tolist(), classes.tolist(), 0.0, 0.5)).reshape(-1)
    assert np.array_equal(np.sort(got), np.sort(ref))
    assert np.all(np.diff(scores[got]) <= 0)  # merged by score, highest first
    loops = np.concatenate([np.flatnonzero(classes == c)[det.nms(boxes[classes == c], scores[classes == c], 0.5, 1000)]
                            for c in range(3)])
    assert set(got.tolist()) == set(loops.tolist())
    assert np.array_equal(det.batched_nms(boxes, scores, classes, 0.5, max_output=4), got[:4])
    # two identical boxes of different classes both survive
    two = det.batched_nms(np.array([[0.0, 0, 9, 9]] * 2), np.array([0.9, 0.8]), np.array([1, 2]))
    assert two.tolist() == [0, 1]


# --------------------------------------------------------------------------- anchors


def test_generate_anchors_count_shapes_and_order():
    strides, scales, ratios = (8, 16), (16, 32), (0.5, 1.0, 2.0)
    anchors = det.generate_anchors((40, 64), strides, scales, ratios)
    cells = [(5, 8), (3, 4)]  # ceil(40/8) x ceil(64/8), ceil(40/16) x ceil(64/16)
    assert anchors.shape == (sum(r * c for r, c in cells) * 6, 4)
    cxcywh = det.convert_boxes(anchors, "xyxy", "cxcywh")
    assert np.allclose(np.sqrt(cxcywh[:, 2] * cxcywh[:, 3]), np.tile(np.repeat(scales, 3), len(anchors) // 6))
    assert np.allclose(cxcywh[:, 3] / cxcywh[:, 2], np.tile(ratios, len(anchors) // 3))
    # order: stride, row, column, scale, ratio, i.e. a head output (rows, cols, A, 4) reshaped
    first = cxcywh[:5 * 8 * 6].reshape(5, 8, 6, 4)
    assert np.allclose(first[2, 3, :, 0], (3 + 0.5) * 8) and np.allclose(first[2, 3, :, 1], (2 + 0.5) * 8)
    second = cxcywh[5 * 8 * 6:].reshape(3, 4, 6, 4)
    assert np.allclose(second[1, 2, 0, :2], [(2 + 0.5) * 16, (1 + 0.5) * 16])


def test_generate_anchors_per_stride_scales():
    anchors = det.generate_anchors(32, (16, 32), [[10], [20, 40]], (1.0,))
    assert anchors.shape == (4 * 1 + 1 * 2, 4)
    assert np.allclose(anchors[:4, 2] - anchors[:4, 0], 10)
    assert np.allclose(anchors[4:, 2] - anchors[4:, 0], [20, 40])
    assert np.allclose(anchors[4], [16 - 10, 16 - 10, 16 + 10, 16 + 10])
    with pytest.raises(ValueError, match="strides"):
        det.generate_anchors(32, (16, 32), [[10]], (1.0,))


# ------------------------------------------------------------------------- box deltas


def test_deltas_known_value_and_round_trip():
    anchor = np.array([[0.0, 0, 10, 20]])  # centre (5, 10), size 10 x 20
    box = np.array([[2.0, 4, 22, 24]])  # centre (12, 14), size 20 x 20
    d = det.encode_deltas(anchor, box, stds=(1, 1, 1, 1))
    assert np.allclose(d, [[0.7, 0.2, np.log(2.0), 0.0]])
    assert np.allclose(det.encode_deltas(anchor, box), d / [0.1, 0.1, 0.2, 0.2])
    rng = np.random.default_rng(4)
    anchors, boxes = _random_boxes(rng, 50), _random_boxes(rng, 50)
    assert np.allclose(det.decode_deltas(anchors, det.encode_deltas(anchors, boxes)), boxes)
    huge = det.decode_deltas(anchor, np.array([[0.0, 0, 1e4, 1e4]]))
    assert np.all(np.isfinite(huge))  # dw, dh clamped before exp()
    with pytest.raises(ValueError, match="positive"):
        det.encode_deltas(np.array([[0.0, 0, 0, 5]]), box)


# ------------------------------------------------------------------- RoI pool / align


def test_roi_pool_equals_max_pooling_on_aligned_boxes():
    import keras

    rng = np.random.default_rng(5)
    fm = rng.random((14, 14, 3)).astype(np.float32)
    whole = det.roi_pool(fm, [[0, 0, 14, 14]], output_size=7)
    ref = keras.layers.MaxPooling2D(2)(fm[None]).numpy()
    assert whole.shape == (1, 7, 7, 3) and np.allclose(whole, ref)
    # spatial_scale maps image coordinates onto the map: an image box [32, 16, 96, 80] at stride 16 is cells [2, 1, 6, 5]
    got = det.roi_pool(fm, [[32, 16, 96, 80]], output_size=2, spatial_scale=1 / 16)
    ref = fm[1:5, 2:6].reshape(2, 2, 2, 2, 3).max(axis=(1, 3))
    assert np.allclose(got[0], ref)


def test_roi_pool_uneven_bins_cover_the_box():
    fm = np.arange(5 * 5, dtype=np.float32).reshape(5, 5, 1)
    got = det.roi_pool(fm, [[0, 0, 5, 5]], output_size=2)[0, ..., 0]
    # bins along each axis: rows/cols [0, 3) and [2, 5) (floor/ceil edges)
    assert got.tolist() == [[fm[0:3, 0:3].max(), fm[0:3, 2:5].max()], [fm[2:5, 0:3].max(), fm[2:5, 2:5].max()]]


def _crop_and_resize_centres(fm, boxes, n):
    """tf.image.crop_and_resize sampling n x n points at the centres of n x n bins of each box."""
    import tensorflow as tf

    h, w = fm.shape[:2]
    b = np.asarray(boxes, float) - 0.5  # aligned: pixel-border coordinates to cell-centre units
    bw, bh = (b[:, 2] - b[:, 0]) / n, (b[:, 3] - b[:, 1]) / n
    tf_boxes = np.c_[(b[:, 1] + bh / 2) / (h - 1), (b[:, 0] + bw / 2) / (w - 1),
                     (b[:, 3] - bh / 2) / (h - 1), (b[:, 2] - bw / 2) / (w - 1)].astype(np.float32)
    return tf.image.crop_and_resize(fm[None], tf_boxes, np.zeros(len(b), np.int32), (n, n)).numpy()


def test_roi_align_equals_tensorflow_crop_and_resize():
    rng = np.random.default_rng(6)
    fm = rng.random((20, 24, 4)).astype(np.float32)
    boxes = np.array([[3.2, 2.7, 15.9, 11.4], [5.0, 5.0, 9.5, 17.25], [2.0, 3.0, 21.0, 16.0]])
    one = det.roi_align(fm, boxes, output_size=5, sampling_ratio=1)
    assert one.shape == (3, 5, 5, 4) and one.dtype == np.float32
    assert np.allclose(one, _crop_and_resize_centres(fm, boxes, 5), atol=1e-5)
    # sampling_ratio=2: the average of the 2 x 2 samples of each bin
    two = det.roi_align(fm, boxes, output_size=5, sampling_ratio=2)
    fine = _crop_and_resize_centres(fm, boxes, 10)
    assert np.allclose(two, fine.reshape(3, 5, 2, 5, 2, 4).mean(axis=(2, 4)), atol=1e-5)
    # spatial_scale: image coordinates at stride 4 land on the same map positions
    assert np.allclose(det.roi_align(fm, boxes * 4, 5, spatial_scale=0.25, sampling_ratio=1), one, atol=1e-5)


def test_roi_ops_reject_bad_maps():
    with pytest.raises(ValueError, match="feature_map"):
        det.roi_align(np.zeros((2, 3, 4, 5)), [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="boxes"):
        det.roi_pool(np.zeros((4, 4, 1)), [[0, 0, 1]])


# ------------------------------------------------------------------------ evaluation


def _gts_and_preds(seed, n_images=150, miss=0.1, false_pos=0.5, jitter=3.0):
    """Ground truth from pasted_objects, and noisy predictions: jittered boxes, some misses,
    some false positives, class confusions, random scores."""
    from utils.data import pasted_objects

    ds = pasted_objects(n_images, 96, seed=seed)
    rng = np.random.default_rng(seed)
    gts, preds = [], []
    for i in range(n_images):
        boxes, ids = ds.boxes[i].astype(float), ds.class_ids[i]
        gts.append({"boxes": boxes, "class_ids": ids})
        keep = rng.random(len(boxes)) > miss
        pb = boxes[keep] + rng.normal(0, jitter, (keep.sum(), 4))
        pc = np.where(rng.random(keep.sum()) < 0.1, rng.integers(1, 5, keep.sum()), ids[keep])
        n_fp = rng.poisson(false_pos)
        fp = _random_boxes(rng, n_fp, size=70, min_side=10, max_side=30)
        preds.append({"boxes": np.r_[pb, fp], "class_ids": np.r_[pc, rng.integers(1, 5, n_fp)],
                      "scores": np.r_[rng.uniform(0.3, 1.0, len(pb)), rng.uniform(0.0, 0.8, n_fp)]})
    return gts, preds, ds.class_names


def test_coco_evaluate_matches_pycocotools_file_route(tmp_path):
    """Same numbers as the documented pycocotools route: GT JSON file + results JSON file."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gts, preds, names = _gts_and_preds(seed=11, n_images=60)
    got = det.coco_evaluate(gts, preds, names)
    images = [{"id": i + 1, "file_name": f"{i}.png", "width": 96, "height": 96} for i in range(len(gts))]
    anns = [{"id": k + 1, "image_id": i + 1, "category_id": int(c), "bbox": [float(v) for v in b], "iscrowd": 0,
             "area": float(b[2] * b[3])}
            for k, (i, b, c) in enumerate((i, b, c) for i, g in enumerate(gts)
                                          for b, c in zip(det.convert_boxes(g["boxes"], "xyxy", "xywh"), g["class_ids"]))]
    (tmp_path / "gt.json").write_text(json.dumps({"images": images, "annotations": anns,
                                                   "categories": [{"id": k, "name": names[k]} for k in range(1, 5)]}))
    results = [{"image_id": i + 1, "category_id": int(c), "bbox": [float(v) for v in b], "score": float(s)}
               for i, p in enumerate(preds)
               for b, c, s in zip(det.convert_boxes(p["boxes"], "xyxy", "xywh"), p["class_ids"], p["scores"])]
    (tmp_path / "dt.json").write_text(json.dumps(results))
    coco_gt = COCO(str(tmp_path / "gt.json"))
    ev = COCOeval(coco_gt, coco_gt.loadRes(str(tmp_path / "dt.json")), "bbox")
    ev.evaluate(), ev.accumulate(), ev.summarize()
    assert np.allclose([got["mAP"], got["AP50"], got["AP75"]], ev.stats[:3], atol=1e-12)
    assert set(got["per_class_AP50"]) == {"cat", "cup", "coin", "horse"}
    assert 0.3 < got["AP50"] < 0.99  # the noise makes it a real test, neither 0 nor perfect


def test_coco_evaluate_simple_cases():
    gt = [{"boxes": np.array([[0.0, 0, 20, 20]]), "class_ids": np.array([1])}]
    perfect = det.coco_evaluate(gt, [{"boxes": gt[0]["boxes"], "class_ids": [1], "scores": [0.9]}])
    assert perfect["mAP"] == pytest.approx(1.0) and perfect["per_class_AP50"] == {1: pytest.approx(1.0)}
    shifted = np.array([[0.0, 0, 20, 20 / 0.6]])  # IoU 0.6: a hit at 0.5, a miss at 0.75
    half = det.coco_evaluate(gt, [{"boxes": shifted, "class_ids": [1], "scores": [0.9]}])
    assert half["AP50"] == pytest.approx(1.0) and half["AP75"] == 0.0
    none = det.coco_evaluate(gt, [{"boxes": np.zeros((0, 4)), "class_ids": [], "scores": []}])
    assert none["mAP"] == 0.0
    with pytest.raises(ValueError, match=r"preds\[0\].*scores"):
        det.coco_evaluate(gt, [{"boxes": shifted, "class_ids": [1]}])


def test_voc_ap_agrees_with_pycocotools_ap50():
    for seed in (21, 22):
        gts, preds, names = _gts_and_preds(seed=seed, n_images=100)
        coco = det.coco_evaluate(gts, preds, names)
        voc = det.voc_ap(gts, preds)
        assert abs(voc["mAP"] - coco["AP50"]) < 0.01, (voc["mAP"], coco["AP50"])
        for cid, ap in voc["per_class"].items():
            assert abs(ap - coco["per_class_AP50"][names[cid]]) < 0.02
        assert 0.3 < voc["mAP"] < 0.99


def test_voc_ap_hand_computed():
    # 2 ground truths; detections by score: hit, false positive, hit -> precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    gts = [{"boxes": np.array([[0.0, 0, 10, 10], [20, 20, 30, 30]]), "class_ids": np.array([1, 1])}]
    preds = [{"boxes": np.array([[0.0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 31]]),
              "class_ids": np.array([1, 1, 1]), "scores": np.array([0.9, 0.8, 0.7])}]
    out = det.voc_ap(gts, preds)
    recall, precision = out["curves"][1]
    assert np.allclose(recall, [0.5, 0.5, 1.0]) and np.allclose(precision, [1.0, 0.5, 2 / 3])
    assert out["per_class"][1] == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    # a duplicate detection of a taken box is a false positive
    dup = [{"boxes": np.array([[0.0, 0, 10, 10]] * 2), "class_ids": np.array([1, 1]), "scores": np.array([0.9, 0.8])}]
    assert det.voc_ap(gts, dup)["per_class"][1] == pytest.approx(0.5)



def test_recall_at_one_to_one_classes_and_scores():
    gts = [{"boxes": np.array([[0.0, 0, 10, 10], [20, 20, 30, 30]]), "class_ids": np.array([0, 1])}]
    preds = [{"boxes": np.array([[0.0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10]]),
              "scores": np.array([0.9, 0.8, 0.7]), "class_ids": np.array([0, 0, 0])}]
    recall, ious = det.recall_at(gts, preds)
    assert recall == 0.5 and np.allclose(ious, [1.0, 0.0])  # box 2: found only by a detection of the wrong class
    assert det.recall_at(gts, preds, score_threshold=0.95)[0] == 0.0
    assert det.recall_at(gts, preds, score_threshold=0.85)[0] == 0.5
    # without classes the same detections find both boxes; the duplicate of box 1 counts once
    recall, ious = det.recall_at([gts[0]["boxes"]], [{"boxes": preds[0]["boxes"], "scores": preds[0]["scores"]}])
    assert recall == 1.0 and np.allclose(ious, [1.0, 1.0])
    two_dupes = det.recall_at([np.array([[0.0, 0, 10, 10], [40, 40, 50, 50]])], [np.array([[0.0, 0, 10, 10]] * 3)])
    assert two_dupes[0] == 0.5


def test_recall_at_best_score_first_and_one_box_per_detection():
    # one ground truth, two hits: the better-scored one takes it, its IoU is reported (not the best IoU)
    gt = [np.array([0.0, 0, 10, 10])]
    preds = [{"boxes": np.array([[0.0, 0, 10, 10], [0.0, 0, 10, 16]]), "scores": np.array([0.2, 0.9])}]
    recall, ious = det.recall_at(gt, preds)
    assert recall == 1.0 and ious == pytest.approx([10 / 16])
    assert det.recall_at(gt, [preds[0]["boxes"]])[1] == pytest.approx([1.0])  # no scores: ranked as given
    # one detection overlapping two boxes finds only the one it overlaps most
    gts = [np.array([[0.0, 0, 10, 11], [0, 0, 10, 10]])]
    recall, ious = det.recall_at(gts, [np.array([[0.0, 0, 10, 10]])])
    assert recall == 0.5 and np.allclose(ious, [0.0, 1.0])
    assert det.recall_at(gts, [np.array([[0.0, 0, 10, 10]])], iou_threshold=1.0)[0] == 0.5


def test_recall_at_empty_images_and_no_ground_truth():
    gts = [np.zeros((0, 4)), np.array([[0.0, 0, 10, 10]]), np.array([[5.0, 5, 9, 9]])]
    preds = [np.array([[0.0, 0, 10, 10]]), np.zeros((0, 4)), {"boxes": np.zeros((0, 4)), "scores": []}]
    recall, ious = det.recall_at(gts, preds)
    assert recall == 0.0 and ious.shape == (2,) and not ious.any()  # a detection in an empty image finds nothing
    recall, ious = det.recall_at([np.zeros((0, 4))], [np.array([[0.0, 0, 1, 1]])])
    assert np.isnan(recall) and ious.shape == (0,)
    assert np.isnan(det.recall_at([], [])[0])


def test_recall_at_agrees_with_pycocotools_recall():
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gts, preds, _ = _gts_and_preds(seed=23, n_images=80)
    images = [{"id": i + 1} for i in range(len(gts))]
    anns = [{"id": len(images) * 100 + k, "image_id": i + 1, "category_id": int(c), "bbox": b.tolist(),
             "area": float(b[2] * b[3]), "iscrowd": 0}
            for i, g in enumerate(gts) for k, (b, c) in enumerate(zip(det.convert_boxes(g["boxes"], "xyxy", "xywh"),
                                                                      g["class_ids"]))]
    for n, a in enumerate(anns):
        a["id"] = n + 1
    coco_gt = COCO()
    coco_gt.dataset = {"images": images, "annotations": anns,
                       "categories": [{"id": c} for c in sorted({a["category_id"] for a in anns})]}
    coco_gt.createIndex()
    results = [{"image_id": i + 1, "category_id": int(c), "bbox": b.tolist(), "score": float(s)}
               for i, p in enumerate(preds)
               for b, c, s in zip(det.convert_boxes(p["boxes"], "xyxy", "xywh"), p["class_ids"], p["scores"])]
    ev = COCOeval(coco_gt, coco_gt.loadRes(results), "bbox")
    ev.evaluate(), ev.accumulate()
    found = total = 0
    for k, cid in enumerate(ev.params.catIds):
        mine = det.recall_at([{"boxes": g["boxes"][g["class_ids"] == cid], "class_ids": g["class_ids"][g["class_ids"] == cid]}
                              for g in gts], preds)
        assert mine[0] == pytest.approx(ev.eval["recall"][0, k, 0, -1], abs=1e-12)  # IoU 0.5, all areas, 100 dets
        n = sum(int((g["class_ids"] == cid).sum()) for g in gts)
        found, total = found + mine[0] * n, total + n
    pooled = det.recall_at(gts, preds)[0]
    assert pooled == pytest.approx(found / total) and 0.5 < pooled < 0.99  # noisy enough to be a real test


def test_recall_at_rejects_bad_input():
    boxes = np.array([[0.0, 0, 10, 10]])
    with pytest.raises(ValueError, match="2 ground-truth images but 1 prediction images"):
        det.recall_at([boxes, boxes], [boxes])
    with pytest.raises(ValueError, match=r"gts\[0\]\['boxes'\]: got shape \(3,\), expected \(N, 4\)"):
        det.recall_at([np.zeros(3)], [boxes])
    with pytest.raises(ValueError, match=r"preds\[0\]\['boxes'\]: got shape \(2, 3\)"):
        det.recall_at([boxes], [np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"preds\[0\]: 1 boxes but 2 scores"):
        det.recall_at([boxes], [{"boxes": boxes, "scores": [0.5, 0.6]}])
    with pytest.raises(ValueError, match=r"gts\[0\] has class_ids but preds\[0\] has none"):
        det.recall_at([{"boxes": boxes, "class_ids": [1]}], [boxes])
    with pytest.raises(ValueError, match=r"score_threshold=0.5 but preds\[0\] has no scores"):
        det.recall_at([boxes], [boxes], score_threshold=0.5)
    with pytest.raises(ValueError, match="iou_threshold=0"):
        det.recall_at([boxes], [boxes], iou_threshold=0)
    with pytest.raises(ValueError, match=r"preds\[0\]\['boxes'\]: got tuple"):
        det.recall_at([boxes], [(boxes, np.array([0.9, 0.1]))])

# --------------------------------------------------------------------------- drawing


def test_draw_boxes_one_colour_per_class():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    img = np.zeros((50, 60, 3), np.uint8)
    boxes = np.array([[5, 5, 20, 20], [30, 10, 50, 40], [8, 30, 18, 45]], float)
    ax = det.draw_boxes(img, boxes, [1, 2, 1], [0.9, 0.8, 0.7], ["BG", "cat", "cup"])
    rects = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(rects) == 3
    colours = [r.get_edgecolor()[:3] for r in rects]
    assert np.allclose(colours[0], colours[2]) and not np.allclose(colours[0], colours[1])
    assert rects[0].get_xy() == (4.5, 4.5) and rects[0].get_width() == 15  # drawn on the pixel borders
    assert [t.get_text() for t in ax.texts] == ["cat 0.90", "cup 0.80", "cat 0.70"]
    ax2 = det.draw_boxes(img, det.convert_boxes(boxes, "xyxy", "xywh"), box_format="xywh")
    assert [r.get_xy() for r in ax2.patches] == [r.get_xy() for r in rects]
    plt.close("all")


def test_draw_boxes_cv2_copy_and_colours():
    img = np.full((60, 60, 3), 0, np.uint8)
    out = det.draw_boxes_cv2(img, [[10, 10, 30, 40], [35, 5, 55, 25]], [1, 3], None, ["BG", "a", "b", "c"])
    assert out.shape == img.shape and out.dtype == np.uint8 and img.max() == 0  # input untouched
    assert tuple(out[39, 20]) == det.class_color(1, as_uint8=True)  # bottom edge: last pixel row y2 - 1
    assert tuple(out[24, 45]) == det.class_color(3, as_uint8=True)
    assert tuple(out[39, 40]) == (0, 0, 0)
    with pytest.raises(ValueError, match="class_ids"):
        det.draw_boxes_cv2(img, [[1, 1, 5, 5]], [1, 2])


def test_labels_stay_on_the_image_and_do_not_cover_each_other():
    boxes = np.array([[2, 2, 20, 20], [4, 3, 22, 21], [6, 5, 24, 24], [40, 0, 63, 10]], float)
    sizes = [(14.0, 5.0)] * 4
    corners = det._place_labels(boxes, sizes, (64, 64))
    rects = [(x, y, x + w, y + h) for (x, y), (w, h) in zip(corners, sizes)]
    for x1, y1, x2, y2 in rects:
        assert 0 <= x1 and x2 <= 64 and 0 <= y1 and y2 <= 64
    for i in range(len(rects)):
        for j in range(i):
            a, b = rects[i], rects[j]
            assert min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1]), (i, j)
    assert corners[1] == (4.0, 21.0)         # above and inside its top would cover the first label: below
    assert corners[3] == (40.0, 0.0)         # no room above the image: inside its top


def test_draw_boxes_cv2_enlarges_small_images_on_request():
    img = np.zeros((32, 48, 3), np.uint8)
    out = det.draw_boxes_cv2(img, [[4, 4, 20, 20]], [1], [0.9], ["BG", "cat"], min_side=128)
    assert out.shape == (128, 192, 3)                          # a whole factor (4), boxes scaled with it
    assert tuple(out[79, 40]) == det.class_color(1, as_uint8=True)
    assert det.draw_boxes_cv2(img, [[4, 4, 20, 20]], [1]).shape == img.shape


# ------------------------------------------------------------------------- backbones


def test_small_cnn_backbone_shape():
    model = det.backbone("small_cnn", 64)
    assert model.output_shape == (None, 4, 4, 128)
    with pytest.raises(ValueError, match="kind"):
        det.backbone("resnet9000")
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        det.backbone("small_cnn", 64, weights="missing.h5")


def test_mobilenet_backbone_loads_a_keras_h5_weights_file(tmp_path):
    """Full mode loads Keras' ImageNet file (legacy HDF5 layout) through keras.applications;
    here a file in the same layout, written from a randomly initialised model, must load."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    source = det.backbone("mobilenet_v3_small", 64)
    path = tmp_path / "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    loaded = det.backbone("mobilenet_v3_small", 64, weights=str(path))
    assert loaded.output_shape == (None, 2, 2, 576)
    for a, b in zip(source.get_weights(), loaded.get_weights()):
        assert np.array_equal(a, b)


# ---------------------------------------------------------------------------- checks


def test_exercise_checks_pass_correct_and_fail_wrong_solutions(monkeypatch):
    from utils import checks

    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")        # a failed check raises instead of returning the reference
    good_iou = lambda a, b: det.iou(a, b)[0, 0]  # noqa: E731
    assert checks.iou(good_iou) is good_iou
    with pytest.raises(checks.CheckFailed, match="no \+ 1"):  # the old +1 pixel convention is wrong here
        checks.iou(lambda a, b: _iou_plus_one(a, b))
    assert checks.nms(det.nms) is det.nms
    with pytest.raises(checks.CheckFailed, match="exactly 0.5"):  # >= instead of >
        checks.nms(lambda b, s, iou_threshold=0.5, max_output=100: det.nms(b, s, iou_threshold - 1e-9, max_output))
    assert checks.coco_to_yolo(lambda b, w, h: [(b[0] + b[2] / 2) / w, (b[1] + b[3] / 2) / h, b[2] / w, b[3] / h])
    with pytest.raises(checks.CheckFailed, match="coco_to_yolo"):  # forgot to move to the centre
        checks.coco_to_yolo(lambda b, w, h: [b[0] / w, b[1] / h, b[2] / w, b[3] / h])


def _iou_plus_one(a, b):
    """IoU with the old VOC '+1' pixel convention (inclusive ends)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
    union = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - iw * ih
    return iw * ih / union


def test_hog_settings_check_returns_the_students_choice_or_the_reference(monkeypatch, capsys):
    from utils import checks

    monkeypatch.delenv("COURSE_CHECKS_STRICT", raising=False)
    f1 = {0.0: 0.62, 1.0: 0.2}                             # a fake measure: F1 by score threshold
    measure = lambda s: f1.get(s["score_threshold"], 0.5)  # noqa: E731
    mine = {"C": 1.0, "score_threshold": 0.0, "nms_iou": 0.5}
    assert checks.hog_settings(mine, measure, at_least=0.6) == (mine, 0.62)
    used, value = checks.hog_settings({"C": 1.0, "score_threshold": 1.0, "nms_iou": 0.5}, measure, at_least=0.6)
    assert used != mine and set(used) == set(mine) and value == measure(used)
    out = capsys.readouterr().out
    assert "does not reach the target" in out and "reference choice" in out
    assert "0.01" not in out and "score_threshold" not in out   # the note does not give the answer away
    used, _ = checks.hog_settings(..., measure, at_least=0.6)  # the student's stub
    assert "not been written" in capsys.readouterr().out and set(used) == set(mine)
    checks.hog_settings({"C": 1.0}, measure, at_least=0.6)  # a dict without the expected keys
    assert "expected a dict with the keys" in capsys.readouterr().out
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")
    with pytest.raises(checks.CheckFailed, match="hog_settings"):
        checks.hog_settings({"C": 1.0, "score_threshold": 1.0, "nms_iou": 0.5}, measure, at_least=0.6)
