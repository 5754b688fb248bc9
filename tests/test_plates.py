"""utils.plates: plate rendering, synthetic scenes, rectification, corner ordering."""
import numpy as np
import pytest

from utils import detection, plates


def test_alphabet_and_text_format():
    assert len(plates.ALPHABET) == 33 and len(set(plates.ALPHABET)) == 33
    assert not set("IOQ") & set(plates.ALPHABET)
    rng = np.random.default_rng(0)
    texts = [plates.random_plate_text(rng) for _ in range(200)]
    for t in texts:
        assert len(t) == len(plates.PLATE_FORMAT) == 7
        for c, f in zip(t, plates.PLATE_FORMAT):
            assert c in (plates.LETTERS if f == "L" else plates.DIGITS)
    assert len(set(texts)) > 190
    assert plates.decode_ids(plates.encode_text("AB12CDE")) == "AB12CDE"
    with pytest.raises(ValueError, match="ALPHABET"):
        plates.encode_text("AB12CDO")


@pytest.mark.parametrize("height", [12, 32, 64])
def test_render_plate_mask_agrees_with_boxes(height):
    p = plates.render_plate("XY34ZWM", np.random.default_rng(height), height=height)
    h, w = p.image.shape[:2]
    assert h == height and p.image.dtype == np.uint8 and p.image.shape[2] == 3
    assert p.char_mask.shape == (h, w) and p.char_mask.dtype == np.uint8
    assert p.char_boxes.shape == (7, 4) and p.char_boxes.dtype == np.float32
    assert set(np.unique(p.char_mask)) == set(range(8))
    for i, box in enumerate(p.char_boxes):
        ys, xs = np.nonzero(p.char_mask == i + 1)
        assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    # left to right, inside the plate, the gap after the 4th character wider than the others
    assert np.all(np.diff(p.char_boxes[:, 0]) > 0)
    assert p.char_boxes[:, :2].min() >= 0 and p.char_boxes[:, 2].max() <= w and p.char_boxes[:, 3].max() <= h
    gaps = p.char_boxes[1:, 0] - p.char_boxes[:-1, 2]
    assert gaps[plates.GAP_AFTER - 1] > gaps.max(initial=0) - 1e-6 and gaps[plates.GAP_AFTER - 1] > np.median(gaps)
    # ink is dark on a light plate
    assert p.image[p.char_mask > 0].mean() < 90 < p.image[p.char_mask == 0].mean()


def test_render_plate_canonical_and_bad_input():
    a = plates.render_plate("AB12CDE")
    b = plates.render_plate("AB12CDE")
    assert np.array_equal(a.image, b.image) and np.array_equal(a.char_mask, b.char_mask)
    with pytest.raises(ValueError, match="height"):
        plates.render_plate("AB12CDE", height=5)
    with pytest.raises(ValueError, match="ALPHABET"):
        plates.render_plate("ab12cde")
    with pytest.raises(ValueError, match="colour"):
        plates.render_plate("AB12CDE", colour="red")


def test_scenes_are_deterministic_and_independent_of_n():
    a = plates.make_scenes(6, seed=3)
    b = plates.make_scenes(3, seed=3)
    c = plates.make_scenes(3, seed=4)
    for x, y in zip(a[:3], b):
        assert np.array_equal(x.image, y.image) and np.array_equal(x.corners, y.corners) and x.text == y.text
    assert not np.array_equal(a[0].image, c[0].image)


def test_scene_geometry_is_inside_and_consistent():
    for s in plates.make_scenes(40, seed=5, size=96):
        assert s.image.shape == (96, 96, 3) and s.image.dtype == np.uint8
        assert s.corners.shape == (4, 2) and s.corners.dtype == np.float32
        assert s.corners.min() >= 0 and s.corners.max() <= 96
        assert np.allclose(s.plate_box, plates.corners_to_box(s.corners))
        x1, y1, x2, y2 = s.plate_box
        assert 0 <= x1 < x2 <= 96 and 0 <= y1 < y2 <= 96
        # corners in the stated order: TL above BL, TR above BR, TL left of TR, BL left of BR
        tl, tr, br, bl = s.corners
        assert tl[1] < bl[1] and tr[1] < br[1] and tl[0] < tr[0] and bl[0] < br[0]
        assert s.char_boxes.shape == (7, 4) and s.char_polygons.shape == (7, 4, 2)
        # every character inside the plate box, left to right
        assert np.all(s.char_boxes[:, :2] >= s.plate_box[:2] - 1e-3)
        assert np.all(s.char_boxes[:, 2:] <= s.plate_box[2:] + 1e-3)
        centres = s.char_polygons.mean(axis=1)
        assert np.all(np.diff(centres[:, 0]) > 0)
        # the warped mask sits in the character boxes (nearest-neighbour warp: 1 px slack)
        for i, box in enumerate(s.char_boxes):
            ys, xs = np.nonzero(s.char_mask == i + 1)
            if len(xs):
                assert xs.min() >= box[0] - 1 and xs.max() + 1 <= box[2] + 1
                assert ys.min() >= box[1] - 1 and ys.max() + 1 <= box[3] + 1
        assert len(s.text) == 7 and len(s.plate_shape) == 2


def test_scene_bad_input():
    with pytest.raises(ValueError, match="size"):
        plates.plate_scene(np.random.default_rng(0), size=20)
    with pytest.raises(ValueError, match="plate_width"):
        plates.plate_scene(np.random.default_rng(0), plate_width=(0.5, 0.2))
    with pytest.raises(ValueError, match="n must"):
        plates.make_scenes(-1, 0)


def _corr(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return np.corrcoef(a, b)[0, 1]


def test_rectify_recovers_a_warped_plate():
    """Render, warp with a known homography, rectify back: the flat plate comes back."""
    import cv2

    p = plates.render_plate("KL58MNP", height=40)
    h, w = p.image.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[30, 40], [200, 55], [195, 110], [25, 90]])
    m = plates._pixel_homography(src, dst)
    scene = cv2.warpPerspective(p.image, m, (240, 160), flags=cv2.INTER_LINEAR, borderValue=(90, 90, 90))
    flat = plates.rectify(scene, dst, (h, w))
    assert flat.shape == p.image.shape and flat.dtype == np.uint8
    inner = (slice(3, -3), slice(3, -3))  # the very edge blends with the background
    assert _corr(flat[inner], p.image[inner]) > 0.95
    # a wrong corner order gives garbage
    assert _corr(plates.rectify(scene, dst[[1, 2, 3, 0]], (h, w))[inner], p.image[inner]) < 0.5


def test_rectify_scene_plate_matches_the_rendered_plate():
    s = plates.make_scenes(1, seed=11, size=160, max_blur=0.0, max_noise=0.0, plate_width=(0.7, 0.8))[0]
    flat = plates.rectify(s.image, s.corners, s.plate_shape)
    boxes = s.plate_char_boxes.astype(int)
    ink = np.zeros(s.plate_shape, bool)
    for x1, y1, x2, y2 in boxes:
        ink[y1:y2, x1:x2] = True
    rows = slice(boxes[:, 1].min(), boxes[:, 3].max())
    between = np.zeros(s.plate_shape, bool)  # plate background between the first and last character
    between[rows, boxes[0, 0]:boxes[-1, 2]] = True
    between &= ~ink
    gray = flat.mean(axis=2)
    assert gray[ink].mean() < gray[between].mean() - 30  # dark characters where the flat plate has them
    with pytest.raises(ValueError, match="corners"):
        plates.rectify(s.image, s.corners[:3])


def test_order_corners():
    corners = np.float32([[10, 20], [60, 24], [58, 40], [8, 36]])
    for perm in [[0, 1, 2, 3], [2, 0, 3, 1], [3, 2, 1, 0], [1, 3, 0, 2]]:
        assert np.array_equal(plates.order_corners(corners[perm]), corners)
    with pytest.raises(ValueError, match="shape"):
        plates.order_corners(corners[:3])


def test_stack_scenes():
    arr = plates.stack_scenes(plates.make_scenes(4, seed=0, size=64))
    assert arr["images"].shape == (4, 64, 64, 3) and arr["boxes"].shape == (4, 4)
    assert arr["corners"].shape == (4, 4, 2) and arr["texts"].shape == (4,)


def test_haar_and_edge_baselines_return_boxes_and_scores():
    s = plates.make_scenes(1, seed=2)[0]
    for boxes, scores in [plates.haar_plates(s.image, upscale=2), plates.edge_plates(s.image)]:
        assert boxes.dtype == np.float32 and boxes.shape[1:] == (4,) and scores.shape == (len(boxes),)
        if len(boxes):
            assert np.all(boxes[:, 2:] > boxes[:, :2])
    # a synthetic image with one black-on-white "plate" of vertical bars is found by the edge recipe
    img = np.full((96, 160, 3), 120, np.uint8)
    img[36:60, 40:100] = 235
    img[40:56, 44:96:5] = 10
    boxes, _ = plates.edge_plates(img)
    assert len(boxes) and detection.recall_at([np.float32([40, 36, 100, 60])], [boxes], 0.5)[0] == 1.0


def test_detector_targets_and_decoding_round_trip():
    scenes = plates.make_scenes(2, seed=9, size=64)
    y = plates.detector_targets([s.plate_box for s in scenes], [s.corners for s in scenes], 64)
    assert y.shape == (2, 16, 16, 5 + 5) and y.dtype == np.float32
    # a perfect network output (the targets without the mask channel) decodes back to the truth
    for s, t in zip(scenes, y):
        r = plates.decode_plates(t[..., :-1], stride=4)
        assert len(r["boxes"]) == 1
        assert np.allclose(r["boxes"][0], s.plate_box, atol=1e-3)
        assert np.allclose(r["corners"][0], s.corners, atol=1e-3)


def test_detector_trains_saves_and_loads(tmp_path):
    """A tiny training run learns something, detect_plates has the documented shapes, save/load round-trips."""
    model, hist = plates.train_plate_detector(n=64, seed=1, image_size=64, epochs=2, batch_size=16)
    assert len(hist["loss"]) == 2 and hist["loss"][1] < hist["loss"][0]
    s = plates.make_scenes(2, seed=77, size=64)
    res = plates.detect_plates(model, [x.image for x in s], score_threshold=0.0)
    assert len(res) == 2
    for r in res:
        n = len(r["boxes"])
        assert r["boxes"].shape == (n, 4) and r["corners"].shape == (n, 4, 2) and r["scores"].shape == (n,)
    one = plates.detect_plates(model, np.zeros((100, 80, 3), np.uint8), score_threshold=0.0)  # another size
    assert isinstance(one, dict) and (len(one["boxes"]) == 0 or one["boxes"][:, 2].max() <= 80 * 1.5)
    path = plates.save_detector(model, tmp_path / "det.keras")
    again = plates.load_detector(path)
    x = np.stack([z.image for z in s]).astype(np.float32) / 255
    assert np.allclose(model.predict(x, verbose=0), again.predict(x, verbose=0), atol=1e-5)
    with pytest.raises(FileNotFoundError, match="8_1"):
        plates.load_detector(tmp_path / "missing.keras")
    with pytest.raises(ValueError, match=".keras"):
        plates.save_detector(model, tmp_path / "det.h5")


def test_openalpr_reader_on_files_in_the_real_format(tmp_path):
    from utils.images import save_image

    us = tmp_path / "endtoend" / "us"
    us.mkdir(parents=True)
    save_image(us / "car1.jpg", np.zeros((400, 600, 3), np.uint8))
    (us / "car1.txt").write_text("car1.jpg\t243\t356\t115\t57\t627WWI\n")
    save_image(us / "car2.jpg", np.zeros((300, 500, 3), np.uint8))
    (us / "car2.txt").write_text("car2.jpg\t10\t20\t100\t50\tABC123\ncar2.jpg\t300\t200\t90\t40\n\n")
    (us / "orphan.txt").write_text("orphan.jpg\t1\t2\t3\t4\tX\n")  # no image: skipped
    (tmp_path / "endtoend" / "README.txt").write_text("OpenALPR benchmark\n")  # not an annotation: skipped
    entries = plates.read_openalpr_annotation(us / "car1.txt")
    assert entries[0]["image"] == "car1.jpg" and entries[0]["text"] == "627WWI"
    assert entries[0]["box"].tolist() == [243, 356, 358, 413]
    items = plates.openalpr_set(tmp_path / "endtoend")
    assert [i["path"].name for i in items] == ["car1.jpg", "car2.jpg"]
    assert items[1]["boxes"].shape == (2, 4) and items[1]["texts"] == ["ABC123", ""]
    (us / "bad.txt").write_text("car1.jpg\t1\tx\t3\t4\n")
    with pytest.raises(ValueError, match="line 1"):
        plates.read_openalpr_annotation(us / "bad.txt")
    with pytest.raises(FileNotFoundError, match="openalpr/benchmarks"):
        plates.openalpr_set(tmp_path / "nothing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no annotated photos"):
        plates.openalpr_set(empty)


def test_order_corners_check_passes_the_reference_and_catches_sort_by_y(monkeypatch, capsys):
    from utils import checks

    monkeypatch.delenv("COURSE_CHECKS_STRICT", raising=False)
    assert checks.order_corners(plates.order_corners) is plates.order_corners

    def top_two_by_y(points):  # the usual mistake: the two highest points taken as the top edge
        p = np.asarray(points)
        o = p[np.argsort(p[:, 1])]
        top, bottom = o[:2][np.argsort(o[:2, 0])], o[2:][np.argsort(o[2:, 0])]
        return np.stack([top[0], top[1], bottom[1], bottom[0]])

    assert checks.order_corners(top_two_by_y) is plates.order_corners  # fails, hands back the reference
    assert "tilted" in capsys.readouterr().out
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")
    with pytest.raises(checks.CheckFailed):
        checks.order_corners(top_two_by_y)
