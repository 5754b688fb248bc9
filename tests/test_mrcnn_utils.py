"""Tests for utils.mrcnn.utils (datasets, boxes, masks, anchors, mAP) and utils.mrcnn.visualize."""
from __future__ import annotations

import json
import random

import matplotlib

matplotlib.use("Agg")

import cv2  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from utils import data  # noqa: E402
from utils.images import save_image  # noqa: E402
from utils.mrcnn import utils as mu  # noqa: E402
from utils.mrcnn import visualize  # noqa: E402


def box_mask(shape, boxes):
    """(H, W, N) masks filled inside (y1, x1, y2, x2) boxes."""
    m = np.zeros(tuple(shape) + (len(boxes),), bool)
    for k, (y1, x1, y2, x2) in enumerate(boxes):
        m[y1:y2, x1:x2, k] = True
    return m


# ------------------------------------------------------------------------ boxes


def test_extract_bboxes_exclusive_ends_and_empty_mask():
    m = np.zeros((10, 12, 3), bool)
    m[2:5, 3:7, 0] = True
    m[9, 11, 1] = True
    boxes = mu.extract_bboxes(m)
    assert boxes.dtype == np.int32
    np.testing.assert_array_equal(boxes, [[2, 3, 5, 7], [9, 11, 10, 12], [0, 0, 0, 0]])
    with pytest.raises(ValueError, match="expected \\(H, W, N\\)"):
        mu.extract_bboxes(m[..., 0])


def test_compute_overlaps_hand_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [0, 5, 10, 15], [20, 20, 30, 30], [0, 0, 5, 5]])
    np.testing.assert_allclose(mu.compute_overlaps(a, b), [[1.0, 50 / 150, 0.0, 0.25]])
    assert mu.compute_overlaps(np.zeros((0, 4)), b).shape == (0, 4)


def test_compute_overlaps_masks_hand_values():
    m1 = box_mask((20, 20), [(0, 0, 10, 10)])
    m2 = box_mask((20, 20), [(0, 5, 10, 15), (10, 10, 20, 20)])
    np.testing.assert_allclose(mu.compute_overlaps_masks(m1, m2), [[50 / 150, 0.0]])
    assert mu.compute_overlaps_masks(m1, np.zeros((20, 20, 0), bool)).shape == (1, 0)
    with pytest.raises(ValueError, match="same \\(H, W\\)"):
        mu.compute_overlaps_masks(m1, np.zeros((10, 10, 1), bool))


def test_non_max_suppression_keeps_best_and_distinct():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]])
    scores = np.array([0.8, 0.9, 0.5, 0.7])
    keep = mu.non_max_suppression(boxes, scores, 0.5)
    assert keep.dtype == np.int32
    assert keep.tolist() == [1, 2]
    assert sorted(mu.non_max_suppression(boxes, scores, 0.99).tolist()) == [0, 1, 2, 3]


def test_box_refinement_round_trip():
    boxes = np.array([[10, 10, 30, 50], [0, 0, 8, 8]], np.float32)
    gt = np.array([[12, 8, 40, 44], [1, 2, 5, 9]], np.float32)
    deltas = mu.box_refinement(boxes, gt)
    np.testing.assert_allclose(mu.apply_box_deltas(boxes, deltas), gt, atol=1e-4)


def test_norm_denorm_boxes_round_trip():
    boxes = np.array([[0, 0, 64, 48], [10, 5, 20, 30]])
    n = mu.norm_boxes(boxes, (64, 48))
    np.testing.assert_allclose(n[0], [0, 0, 1, 1])
    np.testing.assert_array_equal(mu.denorm_boxes(n, (64, 48)), boxes)


def test_trim_zeros():
    x = np.array([[0, 0, 0, 0], [1, 2, 3, 4], [0, 0, 0, 0]])
    np.testing.assert_array_equal(mu.trim_zeros(x), [[1, 2, 3, 4]])


# ------------------------------------------------------------------------ mAP


def ap_case(gt_boxes, gt_ids, pred_boxes, pred_ids, scores, shape=(40, 40), **kw):
    gm, pm = box_mask(shape, gt_boxes), box_mask(shape, pred_boxes)
    return mu.compute_ap(mu.extract_bboxes(gm), np.array(gt_ids), gm, mu.extract_bboxes(pm), np.array(pred_ids),
                         np.array(scores, float), pm, **kw)


def test_compute_ap_perfect():
    ap, p, r, overlaps = ap_case([(0, 0, 10, 10), (20, 20, 30, 30)], [1, 2],
                                 [(20, 20, 30, 30), (0, 0, 10, 10)], [2, 1], [0.9, 0.8])
    assert ap == pytest.approx(1.0)
    assert overlaps.shape == (2, 2)


def test_compute_ap_hand_computed_tp_fp_tp():
    # sorted by score: TP (0.9), FP (0.8, nowhere), TP (0.7) over 2 ground truths
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 → made monotone: 1, 2/3, 2/3
    # AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
    ap, precisions, recalls, _ = ap_case([(0, 0, 10, 10), (20, 20, 30, 30)], [1, 1],
                                         [(21, 21, 30, 30), (0, 25, 5, 35), (0, 0, 10, 10)], [1, 1, 1],
                                         [0.7, 0.8, 0.9])
    assert ap == pytest.approx(5 / 6)
    np.testing.assert_allclose(precisions, [1, 1, 2 / 3, 2 / 3, 0])
    np.testing.assert_allclose(recalls, [0, 0.5, 0.5, 1, 1])


def test_compute_ap_class_must_match():
    ap, *_ = ap_case([(0, 0, 10, 10)], [1], [(0, 0, 10, 10)], [2], [0.9])
    assert ap == 0.0


def test_compute_ap_duplicate_is_false_positive():
    # two predictions on one object: the better-scored one matches, the other is a FP after it
    ap, precisions, recalls, _ = ap_case([(0, 0, 10, 10)], [1], [(0, 0, 10, 10), (0, 0, 10, 9)], [1, 1],
                                         [0.6, 0.9])
    assert ap == pytest.approx(1.0)  # the match comes first, so recall 1 at precision 1
    ap2, *_ = ap_case([(0, 0, 10, 10)], [1], [(0, 0, 10, 10), (0, 0, 10, 9)], [1, 1], [0.9, 0.6])
    assert ap2 == pytest.approx(1.0)


def test_compute_ap_duplicate_with_lower_iou_ranked_first():
    # FP first (IoU < 0.5), then TP: precision at recall 1 is 1/2
    ap, *_ = ap_case([(0, 0, 10, 10)], [1], [(0, 0, 10, 4), (0, 0, 10, 10)], [1, 1], [0.9, 0.8])
    assert ap == pytest.approx(0.5)


def test_compute_ap_iou_threshold():
    # IoU of the prediction is 60/100 = 0.6
    args = ([(0, 0, 10, 10)], [1], [(0, 0, 10, 6)], [1], [0.9])
    assert ap_case(*args, iou_threshold=0.5)[0] == pytest.approx(1.0)
    assert ap_case(*args, iou_threshold=0.7)[0] == 0.0


def test_compute_ap_empty_cases():
    assert ap_case([(0, 0, 10, 10)], [1], [], [], [])[0] == 0.0
    assert ap_case([], [], [], [], [])[0] == 1.0
    assert ap_case([], [], [(0, 0, 5, 5)], [1], [0.5])[0] == 0.0


def test_compute_matches_sorted_by_score():
    gm = box_mask((40, 40), [(0, 0, 10, 10), (20, 20, 30, 30)])
    pm = box_mask((40, 40), [(20, 20, 30, 30), (0, 0, 10, 10)])
    gt_match, pred_match, overlaps = mu.compute_matches(mu.extract_bboxes(gm), np.array([1, 1]), gm,
                                                        mu.extract_bboxes(pm), np.array([1, 1]),
                                                        np.array([0.2, 0.9]), pm)
    # after sorting, prediction 0 is the 0.9 one on gt 0
    assert pred_match.tolist() == [0, 1]
    assert gt_match.tolist() == [0, 1]
    assert overlaps[0, 0] == pytest.approx(1.0)


def test_compute_ap_range_and_recall(capsys):
    gm = box_mask((40, 40), [(0, 0, 10, 10)])
    pm = box_mask((40, 40), [(0, 0, 10, 7)])  # IoU 0.7
    ap = mu.compute_ap_range(mu.extract_bboxes(gm), np.array([1]), gm, mu.extract_bboxes(pm), np.array([1]),
                             np.array([0.9]), pm)
    # thresholds 0.50, 0.55, ..., 0.95: matched at 0.50..0.70 (5 of 10)
    assert ap == pytest.approx(0.5)
    assert "AP @0.50-0.95" in capsys.readouterr().out
    recall, ids = mu.compute_recall(np.array([[0, 0, 10, 7], [30, 30, 35, 35]]),
                                    np.array([[0, 0, 10, 10], [20, 20, 25, 25]]), 0.5)
    assert recall == 0.5 and ids.tolist() == [0]


def good_detector(seed, n=40):
    """Synthetic detections of a good detector on shapes: 5 % missed, 10 % masks 1 px too
    big, some false positives scored below every true positive."""
    s = data.shapes(n, seed=seed)
    rng = np.random.default_rng(seed)
    gts, preds = [], []
    for i in range(len(s)):
        m, c = s.masks[i], s.class_ids[i]
        gts.append({"masks": m, "class_ids": c})
        pm, pc, ps = [], [], []
        for k in range(m.shape[-1]):
            r = rng.random()
            if r < 0.05:
                continue
            mk = m[..., k].astype(np.uint8)
            if r < 0.15:
                mk = cv2.dilate(mk, np.ones((3, 3), np.uint8))
            pm.append(mk.astype(bool))
            pc.append(c[k])
            ps.append(rng.uniform(0.7, 1.0))
        if rng.random() < 0.3:
            fp = np.zeros(m.shape[:2], bool)
            y, x = rng.integers(0, 50, 2)
            fp[y:y + 12, x:x + 12] = True
            pm.append(fp)
            pc.append(int(rng.integers(1, 4)))
            ps.append(rng.uniform(0.3, 0.6))
        preds.append({"masks": np.stack(pm, -1) if pm else np.zeros(m.shape[:2] + (0,), bool),
                      "class_ids": np.array(pc, np.int32), "scores": np.array(ps)})
    return gts, preds


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compute_ap_agrees_with_pycocotools(seed):
    gts, preds = good_detector(seed)
    ours, per_image = mu.mean_ap(gts, preds)
    coco = mu.coco_map_for_masks(gts, preds, class_names=data.SHAPE_CLASSES)
    assert len(per_image) == len(gts)
    assert 0.8 < ours < 0.999  # the misses and false positives count
    assert abs(ours - coco["AP50"]) <= 0.02, (ours, coco)
    assert coco["AP"] <= coco["AP50"]


def test_pycocotools_perfect_and_wrong_class():
    s = data.shapes(5, seed=3)
    gts = [{"masks": s.masks[i], "class_ids": s.class_ids[i]} for i in range(5)]
    perfect = [{"masks": s.masks[i], "class_ids": s.class_ids[i], "scores": np.ones(len(s.class_ids[i]))}
               for i in range(5)]
    assert mu.coco_map_for_masks(gts, perfect)["AP50"] == pytest.approx(1.0)
    assert mu.coco_map_for_masks(gts, perfect, iou_type="bbox")["AP"] == pytest.approx(1.0)
    assert mu.mean_ap(gts, perfect)[0] == pytest.approx(1.0)
    wrong = [dict(p, class_ids=(p["class_ids"] % 3) + 1) for p in perfect]
    assert mu.coco_map_for_masks(gts, wrong)["AP50"] == 0.0
    assert mu.mean_ap(gts, wrong)[0] == 0.0
    with pytest.raises(ValueError, match="2 ground truths but 1 predictions"):
        mu.mean_ap(gts[:2], perfect[:1])
    with pytest.raises(KeyError, match="no 'scores'"):
        mu.mean_ap(gts[:1], [{"masks": s.masks[0], "class_ids": s.class_ids[0]}])


# ------------------------------------------------------------------------ resizing


def test_resize_image_square_and_mask_alignment():
    s = data.shapes(1, size=64, seed=2)
    image = np.ascontiguousarray(s.images[0][:, :48])  # 64 x 48
    mask = s.masks[0][:, :48]
    out, window, scale, padding, crop = mu.resize_image(image, min_dim=80, max_dim=128, mode="square")
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    assert scale == pytest.approx(80 / 48)
    assert window == (10, 24, 117, 104)  # 64*5/3 = 106.67 → 107 rows, 80 columns, centred
    assert padding == [(10, 11), (24, 24), (0, 0)] and crop is None
    assert (out[:window[0]] == 0).all() and (out[:, window[3]:] == 0).all()
    rmask = mu.resize_mask(mask, scale, padding)
    assert rmask.shape == (128, 128, mask.shape[-1]) and rmask.dtype == bool
    # the resized mask lands on the same place in the resized image: undo and compare
    back = cv2.resize(rmask[window[0]:window[2], window[1]:window[3]].astype(np.uint8), (48, 64),
                      interpolation=cv2.INTER_NEAREST).astype(bool)
    inter = (back & mask).sum()
    assert inter / (back | mask).sum() > 0.9
    # the image round-trips too
    img_back = cv2.resize(out[window[0]:window[2], window[1]:window[3]], (48, 64), interpolation=cv2.INTER_AREA)
    assert np.abs(img_back.astype(int) - image.astype(int)).mean() < 6


def test_resize_image_max_dim_caps_scale():
    image = np.zeros((100, 300, 3), np.uint8)
    out, window, scale, _, _ = mu.resize_image(image, min_dim=200, max_dim=256, mode="square")
    assert scale == pytest.approx(256 / 300)
    assert out.shape == (256, 256, 3)
    assert window[3] - window[1] == 256


def test_resize_image_pad64_none_crop():
    image = np.full((70, 100, 3), 7, np.uint8)
    out, window, scale, padding, _ = mu.resize_image(image, min_dim=64, mode="pad64")
    assert out.shape == (128, 128, 3) and scale == 1
    assert window == (29, 14, 99, 114)
    same = mu.resize_image(image, mode="none")
    assert same[0] is image and same[1] == (0, 0, 70, 100)
    out, window, scale, padding, crop = mu.resize_image(image, min_dim=64, mode="crop", rng=random.Random(0))
    assert out.shape == (64, 64, 3) and window == (0, 0, 64, 64)
    y, x, h, w = crop
    assert 0 <= y <= 6 and 0 <= x <= 36 and (h, w) == (64, 64)
    mask = np.zeros((70, 100, 1), bool)
    mask[y:y + 2, x:x + 2] = True
    assert mu.resize_mask(mask, 1, None, crop)[:2, :2].all()
    with pytest.raises(ValueError, match="mode="):
        mu.resize_image(image, mode="stretch")
    with pytest.raises(ValueError, match="multiple of 64"):
        mu.resize_image(image, min_dim=100, mode="pad64")


def test_minimize_expand_mask_round_trip():
    s = data.shapes(3, seed=5)
    for masks in s.masks:
        boxes = mu.extract_bboxes(masks)
        mini = mu.minimize_mask(boxes, masks, (28, 28))
        assert mini.shape == (28, 28, masks.shape[-1]) and mini.dtype == bool
        back = mu.expand_mask(boxes, mini, masks.shape)
        iou = np.diag(mu.compute_overlaps_masks(back, masks))
        assert (iou > 0.8).all(), iou
    with pytest.raises(ValueError, match="instance 0 has an empty box"):
        mu.minimize_mask(np.array([[5, 5, 5, 9]]), np.ones((10, 10, 1), bool), (8, 8))


def test_unmold_mask():
    full = mu.unmold_mask(np.ones((15, 15), np.float32), [2, 3, 12, 9], (20, 20))
    assert full.dtype == bool and full.sum() == 10 * 6 and full[2:12, 3:9].all()
    half = np.zeros((4, 4), np.float32)
    half[:, 2:] = 1  # right half of the box
    m = mu.unmold_mask(half, [0, 0, 8, 8], (10, 10))
    assert m[:8, 5:8].all() and not m[:8, :3].any()
    # a box hanging over the border is clipped, not an error
    m = mu.unmold_mask(np.ones((5, 5)), [-4, -4, 6, 6], (10, 10))
    assert m.sum() == 36
    assert not mu.unmold_mask(np.ones((5, 5)), [3, 3, 3, 8], (10, 10)).any()


# ------------------------------------------------------------------------ anchors


def test_generate_anchors_layout():
    a = mu.generate_anchors(32, [0.5, 1, 2], (4, 5), 16, 1)
    assert a.shape == (4 * 5 * 3, 4)
    # first cell, ratio 1: a 32 x 32 box centred on (0, 0)
    np.testing.assert_allclose(a[1], [-16, -16, 16, 16])
    # ratio 2 is wide: width = 32 * sqrt(2)
    assert (a[2, 3] - a[2, 1]) == pytest.approx(32 * np.sqrt(2))
    # the second cell is one stride to the right
    np.testing.assert_allclose(a[4] - a[1], [0, 16, 0, 16])
    pyr = mu.generate_pyramid_anchors((32, 64), [0.5, 1, 2], [(8, 8), (4, 4)], [4, 8], 1)
    assert pyr.shape == ((64 + 16) * 3, 4)
    with pytest.raises(ValueError, match="one of each per level"):
        mu.generate_pyramid_anchors((32,), [1], [(8, 8), (4, 4)], [4, 8], 1)


# ------------------------------------------------------------------------ Dataset


def test_dataset_api(tmp_path):
    ds = mu.Dataset()
    ds.add_class("coco", 1, "person")
    ds.add_class("coco", 18, "dog")
    ds.add_class("coco", 18, "dog")  # twice: ignored
    ds.add_class("via", 1, "scooter")
    with pytest.raises(ValueError, match="dot"):
        ds.add_class("a.b", 1, "x")
    gray = save_image(tmp_path / "gray.png", np.full((6, 8), 100, np.uint8))
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 255
    rgba_path = save_image(tmp_path / "rgba.png", rgba)
    ds.add_image("coco", 42, gray, width=8, height=6)
    ds.add_image("via", "a.jpg", rgba_path)
    ds.add_image("via", "missing.jpg", tmp_path / "missing.jpg")
    with pytest.raises(RuntimeError, match="prepare"):
        ds.map_source_class_id("coco.1")
    ds.prepare()
    assert ds.num_classes == 4 and ds.class_names == ["BG", "person", "dog", "scooter"]
    assert ds.image_ids.tolist() == [0, 1, 2] and ds.num_images == 3
    assert ds.map_source_class_id("coco.18") == 2
    assert ds.get_source_class_id(2, "coco") == 18
    with pytest.raises(ValueError, match="comes from 'coco', not 'via'"):
        ds.get_source_class_id(2, "via")
    with pytest.raises(KeyError, match="no class 'coco.99'"):
        ds.map_source_class_id("coco.99")
    assert ds.source_class_ids == {"": [0], "coco": [0, 1, 2], "via": [0, 3]}
    assert ds.image_info[0]["width"] == 8 and ds.image_reference(0).endswith("gray.png")
    img = ds.load_image(0)
    assert img.shape == (6, 8, 3) and img.dtype == np.uint8 and (img == 100).all()
    assert (ds.load_image(1) == [255, 0, 0]).all()
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        ds.load_image(2)
    with pytest.raises(NotImplementedError, match="override load_mask"):
        ds.load_mask(0)


def test_instance_dataset():
    s = data.shapes(4, seed=9)
    ds = mu.InstanceDataset(s, source="shapes")
    assert ds.class_names == ["BG", "square", "circle", "triangle"]
    masks, ids = ds.load_mask(2)
    assert masks.dtype == bool and ids.dtype == np.int32
    np.testing.assert_array_equal(ids, s.class_ids[2])
    np.testing.assert_array_equal(ds.load_image(2), s.images[2])
    sub = mu.InstanceDataset(s, indices=[1, 3])
    assert sub.num_images == 2 and sub.image_info[1]["id"] == 3


# ------------------------------------------------------------------------ VIA


def write_via(folder, entries, name="via_region_data.json", sizes=None):
    folder.mkdir(parents=True, exist_ok=True)
    via = {}
    for fname, regions in entries.items():
        if fname not in (sizes or {}) or sizes[fname]:
            save_image(folder / fname, np.zeros(((sizes or {}).get(fname) or (40, 50)) + (3,), np.uint8))
        via[fname + "123"] = {"filename": fname, "size": 123, "regions": regions, "file_attributes": {}}
    (folder / name).write_text(json.dumps(via))
    return folder / name


def poly(xs, ys, cls="scooter", **attrs):
    return {"shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys},
            "region_attributes": {"name": cls, **attrs}}


def test_export_via_round_trip(tmp_path):
    s = data.shapes(8, seed=4)
    path = mu.export_via(s, tmp_path / "train")
    raw = json.loads(path.read_text())
    assert len(raw) == 8 and all(e["size"] == (tmp_path / "train" / e["filename"]).stat().st_size for e in raw.values())
    ds = mu.ViaDataset(tmp_path / "train", class_names=s.class_names[1:])
    assert ds.class_names == s.class_names and ds.num_images == 8
    ref = mu.InstanceDataset(s)
    for i in ds.image_ids:
        masks, ids = ds.load_mask(i)
        m0, c0 = ref.load_mask(i)
        np.testing.assert_array_equal(ids, c0)
        iou = np.diag(mu.compute_overlaps_masks(masks, m0))
        assert (iou > 0.97).all(), (i, iou)
        np.testing.assert_array_equal(ds.load_image(i), s.images[i])


def test_export_via_keeps_thin_and_diagonal_pieces_exactly(tmp_path):
    """One-pixel lines, a single pixel and a zigzag have zero-area outlines through pixel
    centres; the exported polygons must still load back as exactly the same pixels."""
    masks = np.zeros((32, 32, 4), bool)
    masks[5, 3:20, 0] = True                        # horizontal line
    masks[8:25, 28, 1] = True                       # vertical line
    masks[12, 12, 2] = True                         # one pixel
    for k in range(6):                              # diagonal zigzag, 8-connected
        masks[20 + k, 5 + k, 3] = True
    boxes = np.stack([data.mask_to_box(masks[..., k]) for k in range(4)])
    s = data.InstanceSet(images=np.zeros((1, 32, 32, 3), np.uint8), masks=[masks],
                         class_ids=[np.array([1, 1, 1, 1])], boxes=[boxes], class_names=["BG", "line"])
    mu.export_via(s, tmp_path)
    got, ids = mu.ViaDataset(tmp_path, class_names=["line"]).load_mask(0)
    assert got.shape == masks.shape and list(ids) == [1, 1, 1, 1]
    np.testing.assert_array_equal(got, masks)

    bent = np.zeros((1, 16, 16, 1), bool)           # an L one pixel thin: covered, never lost
    bent[0, 3:10, 4, 0] = bent[0, 9, 4:12, 0] = True
    s = data.InstanceSet(images=np.zeros((1, 16, 16, 3), np.uint8), masks=[bent[0]], class_ids=[np.array([1])],
                         boxes=[data.mask_to_box(bent[0, ..., 0])[None]], class_names=["BG", "line"])
    mu.export_via(s, tmp_path / "bent")
    got, _ = mu.ViaDataset(tmp_path / "bent", class_names=["line"]).load_mask(0)
    assert got[bent[0]].all() and got.sum() < 3 * bent.sum()


def test_via_shapes_formats_and_class_inference(tmp_path):
    regions = [
        poly([10, 20, 20, 10], [5, 5, 15, 15], "scooter"),
        {"shape_attributes": {"name": "rect", "x": 30, "y": 2, "width": 10, "height": 5},
         "region_attributes": {"name": "person"}},
        {"shape_attributes": {"name": "circle", "cx": 10, "cy": 30, "r": 4}, "region_attributes": {"name": "person"}},
        {"shape_attributes": {"name": "ellipse", "cx": 35, "cy": 30, "rx": 8, "ry": 3, "theta": 0},
         "region_attributes": {"name": {"scooter": True, "person": False}}},  # a checkbox attribute
    ]
    write_via(tmp_path, {"a.png": regions, "empty.png": []})
    ds = mu.ViaDataset(tmp_path)  # classes taken from the file, sorted
    assert ds.class_names == ["BG", "person", "scooter"]
    assert ds.empty_images == ["empty.png"]
    masks, ids = ds.load_mask(0)
    assert ids.tolist() == [2, 1, 1, 2]
    assert masks[..., 0].sum() == 11 * 11  # polygon through pixel centres 10..20 inclusive
    assert masks[..., 1].sum() == 50 and masks[2:7, 30:40, 1].all()
    assert masks[..., 2].sum() == np.pi * 16 // 1 + 1 or 45 <= masks[..., 2].sum() <= 53
    assert masks[30, 27:44, 3].sum() == 17 and masks[..., 3].sum() < 17 * 7
    m_empty, ids_empty = ds.load_mask(1)
    assert m_empty.shape == (40, 50, 0) and ids_empty.shape == (0,)


def test_via_project_file_and_v1_regions_and_single_class(tmp_path):
    r = poly([1, 8, 8], [1, 1, 8])
    project = {"_via_settings": {}, "_via_attributes": {},
               "_via_img_metadata": {"a.png99": {"filename": "a.png", "size": 99, "regions": {"0": r},
                                                 "file_attributes": {}}}}
    save_image(tmp_path / "a.png", np.zeros((10, 10, 3), np.uint8))
    (tmp_path / "project.json").write_text(json.dumps(project))
    ds = mu.ViaDataset(tmp_path, "project.json", class_names=["balloon"], class_attribute=None)
    masks, ids = ds.load_mask(0)
    assert ds.class_names == ["BG", "balloon"] and ids.tolist() == [1] and masks.sum() > 20


def test_via_instance_attribute_merges_pieces(tmp_path):
    write_via(tmp_path, {"a.png": [poly([1, 5, 5, 1], [1, 1, 5, 5], instance="7"),
                                   poly([20, 25, 25, 20], [1, 1, 5, 5], instance="7"),
                                   poly([30, 35, 35, 30], [1, 1, 5, 5])]})
    masks, ids = mu.ViaDataset(tmp_path).load_mask(0)
    assert masks.shape[-1] == 2 and masks[..., 0].sum() == 25 + 30 and masks[..., 1].sum() == 30


def test_via_reports_every_problem_at_once(tmp_path):
    entries = {
        "ok.png": [poly([1, 10, 10], [1, 1, 10])],
        "outside.png": [poly([1, 100, 10], [1, 1, 10])],
        "unknown.png": [poly([1, 10, 10], [1, 1, 10], "bicycle")],
        "noattr.png": [{"shape_attributes": {"name": "polygon", "all_points_x": [1, 9, 9], "all_points_y": [1, 1, 9]},
                        "region_attributes": {"type": "scooter"}}],
        "point.png": [{"shape_attributes": {"name": "point", "cx": 3, "cy": 3}, "region_attributes": {"name": "scooter"}}],
        "two.png": [poly([1, 10], [1, 1])],
        "flat.png": [poly([1, 5, 9], [1, 1, 1])],
        "badrect.png": [{"shape_attributes": {"name": "rect", "x": 1, "y": 1}, "region_attributes": {"name": "scooter"}}],
        "gone.png": [poly([1, 10, 10], [1, 1, 10])],
    }
    write_via(tmp_path, entries, sizes={"gone.png": None})  # no image file written for gone.png
    (tmp_path / "corrupt.png").write_bytes(b"not a png")
    raw = json.loads((tmp_path / "via_region_data.json").read_text())
    raw["corrupt.png1"] = {"filename": "corrupt.png", "size": 1, "regions": [poly([1, 5, 5], [1, 1, 5])]}
    (tmp_path / "via_region_data.json").write_text(json.dumps(raw))
    with pytest.raises(mu.AnnotationError) as err:
        mu.ViaDataset(tmp_path, class_names=["scooter"])
    msg = str(err.value)
    assert str(tmp_path / "via_region_data.json") in msg
    for expected in ["outside.png region 0: polygon spans x 1..100", "outside the 50x40 image",
                     "unknown.png region 0: unknown class 'bicycle' (expected one of scooter)",
                     "noattr.png region 0: no region attribute 'name' (attributes: type)",
                     "point.png region 0: shape 'point' has no area",
                     "two.png region 0: polygon has 2 point(s), needs at least 3",
                     "flat.png region 0: polygon encloses no area",
                     "badrect.png region 0: malformed rect (no field 'width')",
                     "gone.png: image file", "not found",
                     "corrupt.png: cannot read image"]:
        assert expected in msg, (expected, msg)
    assert "ok.png" not in msg
    assert "9 problem(s)" in msg


def test_via_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        mu.ViaDataset(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="via_region_data.json: no such file"):
        mu.ViaDataset(tmp_path)
    (tmp_path / "via_region_data.json").write_text('{"a.png1": {"filename": "a.png",, }}')
    with pytest.raises(mu.AnnotationError, match="via_region_data.json: malformed JSON at line 1"):
        mu.ViaDataset(tmp_path)
    (tmp_path / "via_region_data.json").write_text("[]")
    with pytest.raises(mu.AnnotationError, match="expected a VIA JSON object"):
        mu.ViaDataset(tmp_path)
    (tmp_path / "via_region_data.json").write_text('{"x": {"regions": []}}')
    with pytest.raises(mu.AnnotationError, match="entry 'x': expected an object with 'filename'"):
        mu.ViaDataset(tmp_path)
    write_via(tmp_path, {"a.png": []})
    with pytest.raises(mu.AnnotationError, match="a.png: no regions"):
        mu.ViaDataset(tmp_path, class_names=["scooter"], allow_empty=False)


# ------------------------------------------------------------------------ COCO


def write_coco(tmp_path, annotations, categories=None, images=None):
    from pycocotools import mask as mask_utils

    (tmp_path / "images").mkdir(exist_ok=True)
    save_image(tmp_path / "images" / "one.png", np.zeros((20, 30, 3), np.uint8))
    save_image(tmp_path / "images" / "two.png", np.zeros((20, 30, 3), np.uint8))
    m = np.zeros((20, 30), np.uint8)
    m[10:15, 20:28] = 1
    rle = mask_utils.encode(np.asfortranarray(m))
    rle["counts"] = rle["counts"].decode("ascii")
    defaults = {"polygon": {"id": 1, "image_id": 1, "category_id": 18, "iscrowd": 0,
                            "segmentation": [[2, 2, 12, 2, 12, 8, 2, 8]], "area": 60, "bbox": [2, 2, 10, 6]},
                "rle": {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": rle,
                        "area": 40, "bbox": [20, 10, 8, 5]},
                "uncompressed": {"id": 3, "image_id": 2, "category_id": 1, "iscrowd": 1,
                                 "segmentation": {"size": [20, 30], "counts": [100, 10, 490]},
                                 "area": 10, "bbox": [5, 0, 1, 10]}}
    doc = {"images": images or [{"id": 1, "file_name": "one.png", "height": 20, "width": 30},
                                {"id": 2, "file_name": "two.png", "height": 20, "width": 30}],
           "annotations": [defaults[a] if isinstance(a, str) else a for a in annotations],
           "categories": categories or [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}]}
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    return path


def test_coco_loader_polygons_rle_crowd(tmp_path):
    ann = write_coco(tmp_path, ["polygon", "rle", "uncompressed"])
    ds = mu.CocoDataset()
    coco = ds.load_coco(ann, tmp_path / "images", return_coco=True)
    ds.prepare()
    assert coco is not None and ds.class_names == ["BG", "person", "dog"]
    assert ds.num_images == 2
    masks, ids = ds.load_mask(0)
    assert masks.shape == (20, 30, 2) and ids.tolist() == [2, 1]
    assert masks[2:9, 2:13, 0].sum() >= 60 and masks[10:15, 20:28, 1].all() and masks[..., 1].sum() == 40
    masks, ids = ds.load_mask(1)
    # column-major RLE: 100 zeros (5 columns), then 10 ones = column 5 rows 0..9; a crowd → negative id
    assert ids.tolist() == [-1] and masks[:10, 5, 0].all() and masks.sum() == 10
    assert ds.load_image(0).shape == (20, 30, 3)
    only_dogs = mu.CocoDataset()
    only_dogs.load_coco(ann, tmp_path / "images", class_ids=[18])
    only_dogs.prepare()
    assert only_dogs.class_names == ["BG", "dog"] and only_dogs.num_images == 1
    assert only_dogs.load_mask(0)[1].tolist() == [1]


def test_coco_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="COCO annotation JSON"):
        mu.CocoDataset().load_coco(tmp_path / "none.json", tmp_path)
    bad = dict(id=9, image_id=5, category_id=77, iscrowd=0, area=1, bbox=[0, 0, 1, 1])
    ann = write_coco(tmp_path, ["polygon", bad])
    with pytest.raises(mu.AnnotationError) as err:
        mu.CocoDataset().load_coco(ann, tmp_path / "images")
    msg = str(err.value)
    assert "instances.json" in msg and "annotation 9: unknown image_id 5" in msg
    assert "annotation 9: unknown category_id 77" in msg and "annotation 9: no 'segmentation'" in msg
    ann.write_text("{not json")
    with pytest.raises(mu.AnnotationError, match="malformed JSON"):
        mu.CocoDataset().load_coco(ann, tmp_path / "images")


def test_coco_loader_empty_mask_is_reported(tmp_path):
    tiny = {"id": 5, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 0, "bbox": [0, 0, 0, 0],
            "segmentation": [[3.1, 3.1, 3.2, 3.1, 3.2, 3.2]]}
    ann = write_coco(tmp_path, ["polygon", tiny])
    ds = mu.CocoDataset()
    ds.load_coco(ann, tmp_path / "images")
    ds.prepare()
    with pytest.warns(UserWarning, match="annotation 5"):
        masks, ids = ds.load_mask(0)
    assert ids.tolist() == [2] and len(ds.skipped) == 1 and "annotation 5" in ds.skipped[0]


# ------------------------------------------------------------------------ visualize


def test_random_colors_deterministic():
    a, b = visualize.random_colors(5, seed=1), visualize.random_colors(5, seed=1)
    assert a == b and len(set(a)) == 5
    assert all(0 <= v <= 1 for c in a for v in c)


def test_apply_mask_values():
    img = np.full((2, 2, 3), 100, np.uint8)
    m = np.array([[1, 0], [0, 0]], bool)
    out = visualize.apply_mask(img, m, (1.0, 0.0, 0.0), alpha=0.5)
    assert out[0, 0].tolist() == [178, 50, 50] and out[1, 1].tolist() == [100, 100, 100]
    assert img[0, 0, 0] == 100  # the input is untouched
    with pytest.raises(ValueError, match="does not match"):
        visualize.apply_mask(img, np.zeros((3, 3), bool), (1, 0, 0))


def test_display_functions_headless():
    s = data.shapes(2, seed=6)
    image, masks, ids = s.images[0], s.masks[0], s.class_ids[0]
    boxes = mu.extract_bboxes(masks)
    fig, ax = plt.subplots()
    out = visualize.display_instances(image, boxes, masks, ids, s.class_names, scores=np.linspace(0.9, 0.5, len(ids)),
                                      ax=ax, title="t")
    assert out is ax and len(ax.patches) >= 2 * len(ids)
    texts = [t.get_text() for t in ax.texts]
    assert texts[0] == f"{s.class_names[ids[0]]} 0.90"  # two decimals keep labels short
    plt.close(fig)
    ax = visualize.display_instances(image, np.zeros((0, 4)), np.zeros((64, 64, 0), bool), [], s.class_names)
    assert "no instances" in ax.get_title()
    with pytest.raises(ValueError, match="masks"):
        visualize.display_instances(image, boxes, masks[..., :1], ids, s.class_names)
    visualize.display_top_masks(image, masks, ids, s.class_names)
    ap, p, r, overlaps = mu.compute_ap(boxes, ids, masks, boxes, ids, np.ones(len(ids)), masks)
    visualize.plot_precision_recall(ap, p, r)
    visualize.plot_overlaps(ids, ids, np.ones(len(ids)), overlaps, s.class_names)
    visualize.display_differences(image, boxes, ids, masks, boxes, ids, np.ones(len(ids)), masks, s.class_names)
    visualize.draw_boxes(image, boxes, captions=[str(i) for i in ids])
    visualize.display_images([image, masks[..., 0]], titles=["a", "b"])
    plt.close("all")


def test_color_splash_and_background():
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0] = 100
    mask = np.zeros((4, 4, 2), bool)
    mask[0, 0, 0] = mask[1, 1, 1] = True
    splash = visualize.color_splash(img, mask)
    assert splash[0, 0].tolist() == [100, 0, 0] and splash[1, 1].tolist() == [100, 0, 0]
    assert splash[3, 3].tolist() == [21, 21, 21]  # luma 0.2125 * 100, rounded
    assert (visualize.color_splash(img, np.zeros((4, 4, 0), bool)) == 21).all()
    bg = visualize.replace_background(img, mask, (0, 0, 255))
    assert bg[0, 0].tolist() == [100, 0, 0] and bg[2, 2].tolist() == [0, 0, 255]
    photo = np.full((8, 8, 3), 9, np.uint8)
    assert visualize.replace_background(img, mask[..., 0], photo)[3, 3].tolist() == [9, 9, 9]
    blurred = visualize.blur_background(img, mask, ksize=3)
    assert blurred[0, 0].tolist() == [100, 0, 0]
    with pytest.raises(ValueError, match="odd"):
        visualize.blur_background(img, mask, ksize=4)
    with pytest.raises(ValueError, match="mask of shape"):
        visualize.color_splash(img, np.zeros((3, 3), bool))
