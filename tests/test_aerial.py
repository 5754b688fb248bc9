"""Tests of utils.aerial (``7_2``): tiling, clipping, sliced inference, scenes, DOTA and VisDrone readers."""
import numpy as np
import pytest

from utils import aerial, datasets
from utils.annotations import AnnotationError


@pytest.mark.parametrize("size,tile,step", [(512, 64, 48), (512, 64, 64), (100, 32, 20), ((90, 130), 40, 30),
                                            (64, 64, 48), (30, 64, 48)])
def test_tile_windows_cover_the_image_exactly(size, tile, step):
    w = aerial.tile_windows(size, tile, step=step)
    h_, w_ = (size, size) if np.isscalar(size) else size
    covered = np.zeros((max(h_, tile), max(w_, tile)), int)
    for x1, y1, x2, y2 in w:
        assert x2 - x1 == tile and y2 - y1 == tile and x1 >= 0 and y1 >= 0
        covered[y1:y2, x1:x2] += 1
    assert covered[:h_, :w_].min() >= 1  # every pixel seen
    if h_ >= tile and w_ >= tile:
        assert w[:, 2].max() == w_ and w[:, 3].max() == h_  # last tile flush with the border, never past it
        starts = np.unique(w[:, 0])
        assert np.all(np.diff(starts) <= step)  # gaps never larger than the step
    # row by row, x fastest
    assert np.array_equal(w, w[np.lexsort((w[:, 0], w[:, 1]))])


def test_tile_windows_counts_and_overlap():
    assert len(aerial.tile_windows(512, 64, step=48)) == 11 * 11  # 0, 48, ..., 432, then 448
    assert np.array_equal(aerial.tile_windows(512, 64, step=64), aerial.tile_windows(512, 64, overlap=0.0))
    assert np.array_equal(aerial.tile_windows(512, 64, step=48), aerial.tile_windows(512, 64, overlap=0.25))
    with pytest.raises(ValueError, match="exactly one"):
        aerial.tile_windows(512, 64)
    with pytest.raises(ValueError, match="gaps"):
        aerial.tile_windows(512, 64, step=80)


def test_boxes_in_window_clips_and_drops_slivers():
    boxes = np.array([[10, 10, 20, 20],    # inside
                      [60, 10, 70, 20],    # 4 of 10 px inside a window ending at 64: 40 % visible
                      [58, 30, 68, 40],    # 60 % visible
                      [100, 100, 110, 110]])  # outside
    b, keep = aerial.boxes_in_window(boxes, (0, 0, 64, 64), min_visible=0.5)
    assert keep.tolist() == [0, 2]
    np.testing.assert_allclose(b, [[10, 10, 20, 20], [58, 30, 64, 40]])
    b, keep = aerial.boxes_in_window(boxes, (48, 0, 112, 64), min_visible=0.3)  # shifted window: local coordinates
    assert keep.tolist() == [1, 2]
    np.testing.assert_allclose(b, [[12, 10, 22, 20], [10, 30, 20, 40]])


def test_cut_tile_pads_past_the_border():
    img = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    t = aerial.cut_tile(img, (4, 3, 8, 7))
    assert t.shape == (4, 4, 3)
    np.testing.assert_array_equal(t[:2, :2], img[3:5, 4:6])
    assert t[2:].max() == 0 and t[:, 2:].max() == 0


def test_sliced_predict_merges_a_box_seen_by_two_tiles():
    image = np.zeros((128, 128, 3), np.uint8)
    obj = np.array([52.0, 20, 62, 30])  # inside the windows starting at x=0 and x=48 (tile 64, step 48)
    calls = []

    def predict(tiles):  # a perfect detector: reports the object in every tile that fully holds it
        out = []
        for k in range(len(tiles)):
            w = windows[sum(calls) + k]  # tiles arrive in window order
            inside = obj[0] >= w[0] and obj[2] <= w[2] and obj[1] >= w[1] and obj[3] <= w[3]
            b = (obj - [w[0], w[1], w[0], w[1]])[None] + (0.5 if w[0] else 0.0) if inside else np.zeros((0, 4))
            out.append((b, np.full(len(b), 0.9 - 0.1 * bool(w[0])), np.zeros(len(b), int)))
        calls.append(len(tiles))
        return out

    windows = aerial.tile_windows((128, 128), 64, step=48)
    boxes, scores, ids = aerial.sliced_predict(image, predict, 64, 48, batch_size=3)
    assert sum(calls) == len(windows) == 9
    assert len(boxes) == 1  # seen twice (x=0 and x=48 windows), reported once
    np.testing.assert_allclose(boxes[0], obj)  # the better-scoring copy, shifted back to image pixels
    assert scores[0] == pytest.approx(0.9)


def test_downscaled_predict_scales_boxes_back():
    image = np.zeros((512, 256, 3), np.uint8)
    seen = []

    def predict(batch):
        seen.append(batch.shape)
        return [(np.array([[10.0, 10, 20, 20]]), np.array([0.8]), np.array([1]))]

    b, s, c = aerial.downscaled_predict(image, predict, 128)
    assert seen == [(1, 128, 128, 3)]
    np.testing.assert_allclose(b, [[20, 40, 40, 80]])


def test_scene_is_deterministic_and_has_tiny_objects():
    a, b, c = aerial.scene(3), aerial.scene(3), aerial.scene(4)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    assert not np.array_equal(a.image, c.image)
    assert a.image.shape == (512, 512, 3) and a.image.dtype == np.uint8
    side = (a.boxes[:, 2:] - a.boxes[:, :2]).max(1)
    assert 25 <= len(a.boxes) <= 45 and side.min() >= 5.5 and side.max() <= 12.5
    assert set(a.class_ids.tolist()) == {0, 1}
    np.testing.assert_allclose(aerial.dota_to_xyxy(a.corners, (512, 512)), a.boxes)


def test_write_aerial_round_trip(tmp_path):
    ds = aerial.write_aerial(tmp_path / "set", 2, 1, train_seed=1, test_seed=2, size=128)
    assert ds.names == aerial.CLASSES and len(ds.splits["train"]) == 2 and len(ds.splits["test"]) == 1
    again = aerial.write_aerial(tmp_path / "set2", 2, 1, train_seed=1, test_seed=2, size=128)
    for s1, s2 in zip(ds.splits["train"], again.splits["train"]):
        assert s1.image.read_bytes() == s2.image.read_bytes()
    with pytest.raises(ValueError, match="never used"):
        aerial.write_aerial(tmp_path / "x", 1, 1, train_seed=3, test_seed=3)
    tiles, boxes, ids = aerial.cut_tiles(ds, "train", 64, 48, keep_empty=1.0)
    assert tiles.shape == (2 * 9, 64, 64, 3) and len(boxes) == len(ids) == 18  # starts 0, 48, 64
    n_obj = sum(len(s.annotation.objects) for s in ds.splits["train"])
    assert sum(len(b) for b in boxes) >= n_obj  # every object in at least one tile (overlap 16 > 12 px)


def test_dota_reader(tmp_path):
    f = tmp_path / "P0001.txt"
    f.write_text("acquisition dates:None\nimagesource:GoogleEarth\ngsd:0.146\n"
                 "2753 2408 2861 2385 2888 2468 2805 2502 plane 0\n"
                 "10 10 20 10 20 15 10 15 small-vehicle 1\n")
    objs, header = aerial.read_dota(f)
    assert header == {"acquisition dates": "None", "imagesource": "GoogleEarth", "gsd": "0.146"}
    assert [o.label for o in objs] == ["plane", "small-vehicle"] and [o.difficult for o in objs] == [0, 1]
    np.testing.assert_allclose(aerial.dota_to_xyxy([o.corners for o in objs]),
                               [[2753, 2385, 2888, 2502], [10, 10, 20, 15]])
    cx, cy, w, h, angle = aerial.oriented_box(objs[1].corners)
    assert (cx, cy, w, h, angle) == (15, 12.5, 10, 5, 0)
    line = aerial.dota_line(objs[1].corners, "small-vehicle", 1)
    assert aerial.parse_dota(line)[0][0].label == "small-vehicle"
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2 3 4 5 6 7 8 car 0\n1 2 3 4 car 0\n1 2 3 x 5 6 7 8 car 0\n1 2 3 4 5 6 7 8 car 2\n")
    with pytest.raises(AnnotationError) as err:
        aerial.read_dota(bad)
    msg = str(err.value)
    assert "3 problems" in msg and f"{bad}: line 2" in msg and "line 3" in msg and "line 4" in msg


def test_oriented_box_angle():
    c = aerial._rect(50, 40, 10, 4, np.radians(30))
    cx, cy, w, h, angle = aerial.oriented_box(c)
    assert (round(cx, 6), round(cy, 6), round(w, 6), round(h, 6), round(angle, 6)) == (50, 40, 4, 10, 120)


def test_visdrone_reader(tmp_path):
    f = tmp_path / "0000001_00000_d_0000001.txt"
    f.write_text("684,8,273,116,0,0,0,0\n"      # ignored region
                 "406,119,265,70,1,4,0,1,\n"   # a car (trailing comma as in some files)
                 "10,20,5,8,1,1,0,0\n"         # a pedestrian
                 "1,1,3,3,1,11,0,0\n"          # others: skipped
                 "50,50,10,10,0,4,0,0\n")      # score 0: skipped
    ann, ignored = aerial.read_visdrone(f, image_size=(765, 1360))
    assert [o.label for o in ann.objects] == ["car", "pedestrian"]
    np.testing.assert_allclose(ann.objects[0].bbox, [406, 119, 671, 189])
    np.testing.assert_allclose(ignored, [[684, 8, 957, 124]])
    bad = tmp_path / "bad.txt"
    bad.write_text("1,2,3\n1,2,3,4,1,12,0,0\n1,2,a,4,1,4,0,0\n1,2,0,4,1,4,0,0\n")
    with pytest.raises(AnnotationError) as err:
        aerial.read_visdrone(bad)
    msg = str(err.value)
    assert "4 problems" in msg and all(f"{bad}: line {n}" in msg for n in (1, 2, 3, 4))


def test_visdrone_folder(tmp_path):
    from utils.images import save_image

    root = tmp_path / "VisDrone2019-DET-val"
    (root / "annotations").mkdir(parents=True)
    save_image(root / "images" / "a.jpg", np.zeros((40, 60, 3), np.uint8))
    (root / "annotations" / "a.txt").write_text("5,5,10,10,1,4,0,0\n")
    samples = aerial.visdrone_samples(root)
    assert samples[0].annotation.width == 60 and samples[0].annotation.objects[0].label == "car"
    out = datasets.write_dataset(tmp_path / "yolo", {"train": samples}, aerial.VISDRONE_CLASSES)
    assert datasets.read_dataset(out).counts()["train"]["car"] == 1
    save_image(root / "images" / "b.jpg", np.zeros((40, 60, 3), np.uint8))
    with pytest.raises(AnnotationError, match="no annotation file for b.jpg"):
        aerial.visdrone_samples(root)
    with pytest.raises(FileNotFoundError, match="VisDrone"):
        aerial.visdrone_samples(tmp_path / "nowhere")


def test_coco_evaluate_reports_ap_by_size():
    """AP_small/medium/large are pycocotools' stats[3:6]; a size without ground truth is nan."""
    from utils import detection as det

    rng = np.random.default_rng(5)
    gts, preds = [], []
    for _ in range(20):
        side = rng.choice([8.0, 50.0], 6)
        xy = rng.uniform(0, 400, (6, 2))
        boxes = np.c_[xy, xy + side[:, None]]
        gts.append({"boxes": boxes, "class_ids": np.ones(6, int)})
        noisy = boxes + rng.normal(0, 1.5, boxes.shape)
        preds.append({"boxes": noisy, "scores": rng.random(6), "class_ids": np.ones(6, int)})
    got = det.coco_evaluate(gts, preds)
    assert 0 < got["AP_small"] < got["AP50_small"] <= 1 and 0 < got["AP_medium"] <= 1
    assert got["AP_small"] < got["AP_medium"]  # the same 1.5 px of noise costs more IoU on 8 px boxes
    assert np.isnan(got["AP_large"])


@pytest.mark.parametrize("name", ["tile_windows", "boxes_in_window"])
def test_checks_pass_the_reference_and_fail_mistakes(name, monkeypatch, capsys):
    from utils import checks
    from utils.checks import CheckFailed

    good = {"tile_windows": lambda size, tile, step: aerial.tile_windows(size, tile, step=step),
            "boxes_in_window": aerial.boxes_in_window}[name]
    bad = {"tile_windows": lambda size, tile, step: [[x, y, x + tile, y + tile]  # forgets the flush last tile
                                                     for y in range(0, size[0] - tile + 1, step)
                                                     for x in range(0, size[1] - tile + 1, step)],
           "boxes_in_window": lambda b, w, m: aerial.boxes_in_window(b, w, m)[0] + [w[0], w[1], w[0], w[1]]}[name]
    check = getattr(checks, name)
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")
    assert check(good) is good
    with pytest.raises(CheckFailed, match="hint"):
        check(bad)
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "0")
    used = check(bad)
    assert used is not bad and "reference" in capsys.readouterr().out
    assert check(used) is used  # the reference passes its own check
