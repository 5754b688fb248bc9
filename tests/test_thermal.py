"""utils.thermal: radiometry, gain controls, deterministic synthetic scenes, the 16-bit
single-channel YOLO folder round trip, the full-mode reader, and the 7_1 checks."""
import json
from pathlib import Path

import numpy as np
import pytest

from utils import checks
from utils import datasets as D
from utils import thermal as T
from utils.annotations import AnnotationError
from utils.images import ImageError, load_image, save_image


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------ radiometry


def test_radiance_grows_with_temperature_and_counts_invert():
    t = np.array([-20.0, 0.0, 20.0, 37.0, 100.0])
    r = T.band_radiance(t)
    assert np.all(np.diff(r) > 0)
    # Stefan-Boltzmann sanity: the 8-14 um band holds roughly a third of a 300 K black body's radiance
    total = 5.670374419e-8 * 300.0 ** 4 / np.pi
    assert 0.25 < T.band_radiance(26.85) / total < 0.45
    counts = T.temperature_to_counts(t)
    assert np.allclose(T.counts_to_temperature(counts), t, atol=1e-3)
    q = T.quantize(counts)
    assert q.dtype == np.uint16 and q.max() < 2 ** 14 and q.min() > 0


def test_low_emissivity_looks_colder_than_it_is():
    hot = 40.0
    assert T.temperature_to_counts(hot, emissivity=0.8, reflected_c=-20) < T.temperature_to_counts(hot)
    assert np.isclose(T.counts_to_temperature(T.temperature_to_counts(hot, 0.8, -20), 0.8, -20), hot, atol=1e-3)
    with pytest.raises(ValueError, match="emissivity"):
        T.temperature_to_counts(20.0, emissivity=1.5)


# ------------------------------------------------------------------------------ gain control


def test_agc_linear_maps_min_and_max():
    x = np.array([[1000, 1500], [2000, 1250]], np.uint16)
    out = T.agc_linear(x)
    assert out.dtype == np.uint8 and out.tolist() == [[0, 128], [255, 64]]


def test_agc_percentile_ignores_a_hot_lamp():
    rng = np.random.default_rng(0)
    x = rng.normal(3000, 30, (64, 64)).round().astype(np.uint16)
    with_lamp = x.copy()
    with_lamp[:2, :2] = 12000
    lin, pct = T.agc_linear(with_lamp), T.agc_percentile(with_lamp)
    assert len(np.unique(lin[2:, 2:])) < 20  # min-max: the lamp squeezes the scene into a few grey levels
    assert len(np.unique(pct[2:, 2:])) > 100  # every distinct count in the 1..99 % range keeps its own level
    lo, hi = np.percentile(with_lamp, [1, 99])
    assert pct[with_lamp <= lo].max() == 0 and pct[with_lamp >= hi].min() == 255
    with pytest.raises(ValueError, match="low < high"):
        T.agc_percentile(x, 50, 10)


def test_agc_histeq_spreads_levels_and_keeps_order():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.integers(1000, 1010, 900), rng.integers(5000, 9000, 100)]).reshape(25, 40).astype(np.uint16)
    out = T.agc_histeq(x)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    order = np.argsort(x.ravel(), kind="stable")
    assert np.all(np.diff(out.ravel()[order].astype(int)) >= 0)  # monotone in the counts
    assert np.median(out[x < 2000]) > 60  # the crowded cold values get most of the grey levels


@pytest.mark.parametrize("agc", sorted(T.AGC))
def test_agc_flat_image_and_bad_input(agc):
    assert (T.AGC[agc](np.full((4, 5), 777, np.uint16)) == 128).all()
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        T.AGC[agc](np.zeros((4, 5, 3), np.uint16))


def test_colorize():
    img = T.colorize(np.arange(256, dtype=np.uint8).reshape(16, 16), "inferno")
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8
    assert img[0, 0].sum() < img[-1, -1].sum()  # dark cold, bright hot
    with pytest.raises(ValueError, match="gain control"):
        T.colorize(np.zeros((4, 4), np.uint16))


# ------------------------------------------------------------------------------- scenes


def test_scenes_are_deterministic_and_boxes_exact():
    a, b = T.thermal_scenes(6, seed=5), T.thermal_scenes(6, seed=5)
    c = T.thermal_scenes(6, seed=6)
    for sa, sb in zip(a, b):
        assert np.array_equal(sa.counts, sb.counts) and np.array_equal(sa.boxes, sb.boxes) and sa.labels == sb.labels
    assert not all(np.array_equal(sa.counts, sc.counts) for sa, sc in zip(a, c))
    for s in a:
        assert s.counts.dtype == np.uint16 and s.counts.shape == (128, 128) and s.counts.max() < 2 ** 14
        assert set(s.labels) <= set(T.CLASSES) and len(s.labels) == len(s.boxes) >= 1
        for box, label in zip(s.boxes, s.labels):
            x0, y0, x1, y1 = box.astype(int)
            assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 128
            if label == "person":
                assert (y1 - y0) > 1.8 * (x1 - x0)  # upright


def test_scenes_hold_the_hard_cases():
    scenes = T.thermal_scenes(40, seed=3)
    kinds = {k for s in scenes for k in s.distractors}
    assert {"lamp", "sun-heated surface", "warm post", "warm patch"} <= kinds
    tags = [t for s in scenes for t in s.hard]
    assert 0.05 < np.mean(["low-contrast" in t for t in tags]) < 0.4
    assert {"person", "vehicle"} <= {lab for s in scenes for lab in s.labels}
    # fixed-pattern column noise: column means of a scene differ more than temporal noise alone would
    easy = T.thermal_scenes(1, seed=3, hard=False)[0]
    assert easy.distractors == [] and all(not t for t in easy.hard)


# ------------------------------------------------------------- 16-bit single-channel files


def test_uint16_png_round_trip(tmp_path):
    x = (np.arange(64 * 48).reshape(48, 64) * 5).astype(np.uint16)
    save_image(tmp_path / "c.png", x)
    back = load_image(tmp_path / "c.png", mode="keep", dtype="keep")
    assert back.dtype == np.uint16 and np.array_equal(back, x)
    assert load_image(tmp_path / "c.png", mode="gray", dtype="keep").dtype == np.uint16
    assert load_image(tmp_path / "c.png").dtype == np.uint8  # the default stays 8-bit RGB
    with pytest.raises(ImageError, match="uint16"):
        save_image(tmp_path / "c.jpg", x)
    with pytest.raises(ImageError, match="uint16"):
        save_image(tmp_path / "rgb.png", np.zeros((4, 4, 3), np.uint16))


def test_yolo_folder_round_trip_is_byte_identical(tmp_path):
    root = tmp_path / "thermal"
    ds = T.write_yolo_set(root, {"train": 5, "test": 3}, {"train": 11, "test": 12})
    assert ds.channels == 1 and ds.names == T.CLASSES
    assert "channels: 1" in (root / "data.yaml").read_text()
    img = load_image(root / "images" / "train" / "train_0000.png", mode="keep", dtype="keep")
    assert img.dtype == np.uint16 and img.ndim == 2
    assert np.array_equal(img, T.thermal_scenes(1, seed=11)[0].counts)
    before = _files(root)
    again = D.read_dataset(root)
    D.write_dataset(root, D.dataset_samples(again), again.names, channels=again.channels, overwrite=True)
    assert _files(root) == before
    T.write_yolo_set(tmp_path / "second", {"train": 5, "test": 3}, {"train": 11, "test": 12})
    strip = lambda f: {k: v for k, v in f.items() if k != "data.yaml"}  # noqa: E731 - data.yaml holds the path
    assert strip(_files(tmp_path / "second")) == strip(before)
    with pytest.raises(FileExistsError, match="delete that folder"):  # fewer images over a larger set
        T.write_yolo_set(root, {"train": 4, "test": 3}, {"train": 11, "test": 12}, overwrite=True)
    with pytest.raises(ValueError, match="own seed"):
        T.write_yolo_set(tmp_path / "x", {"train": 2, "test": 2}, {"train": 1, "test": 1})


def test_load_split_gives_network_input(tmp_path):
    ds = T.write_yolo_set(tmp_path / "s", {"train": 3, "val": 2}, {"train": 1, "val": 2})
    x, gts = T.load_split(ds, "val", agc="percentile")
    assert x.shape == (2, 128, 128, 1) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    scenes = T.thermal_scenes(2, seed=2)
    for g, s in zip(gts, scenes):
        assert np.allclose(g["boxes"], s.boxes, atol=1e-3)
        assert g["class_ids"].tolist() == [T.CLASSES.index(n) + 1 for n in s.labels]
    small, gs = T.load_split(ds, "val", size=64)
    assert small.shape == (2, 64, 64, 1) and np.allclose(gs[0]["boxes"], gts[0]["boxes"] / 2, atol=1e-3)
    with pytest.raises(KeyError, match="test"):
        T.load_split(ds, "test")
    mine, _ = T.load_split(ds, "val", agc=lambda c: T.agc_percentile(c, 1, 99))
    assert np.array_equal(mine, x)
    with pytest.raises(ValueError, match="agc="):
        T.load_split(ds, "val", agc="auto")


def test_write_dataset_refuses_colour_in_a_single_channel_set(tmp_path):
    from utils.annotations import ImageAnnotation

    rgb = D.Sample(ImageAnnotation("a.png", 8, 8, []), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(AnnotationError, match="channels=1"):
        D.write_dataset(tmp_path / "x", {"train": [rgb]}, ["person"], channels=1)
    wide = D.Sample(ImageAnnotation("b.jpg", 8, 8, []), np.zeros((8, 8), np.uint16))
    with pytest.raises(AnnotationError, match="16-bit"):
        D.write_dataset(tmp_path / "y", {"train": [wide]}, ["person"], channels=1)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


# ------------------------------------------------------------------------------ full mode


def test_read_real_set_names_the_folder_and_the_source(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        T.read_real_set(tmp_path / "hit_uav_yolo")
    text = str(err.value)
    assert "hit_uav_yolo" in text and "HIT-UAV" in text and "convert-hit-uav" in text


def test_full_mode_path_hit_uav_json_to_training_input(tmp_path):
    """A HIT-UAV-style file (keys 'annotation' and 'filename', 0-based category ids, 8-bit JPEGs)
    goes through coco_to_yolo(keys='hit-uav'), then read_real_set and load_split."""
    src = tmp_path / "hit"
    rng = np.random.default_rng(0)
    images, anns = [], []
    for i in range(3):
        name = f"0_60_30_0_{i:05d}.jpg"
        save_image(src / name, rng.integers(0, 255, (64, 80), dtype=np.uint8))
        images.append({"filename": name, "height": 64, "width": 80, "id": 10 + i})
        anns.append({"image_id": 10 + i, "bbox": [5, 6, 8, 16], "category_id": 0, "id": 100 + i, "area": 128})
        anns.append({"image_id": 10 + i, "bbox": [30, 20, 30, 20], "category_id": 1, "id": 200 + i, "area": 600})
    cats = [{"id": 0, "name": "Person"}, {"id": 1, "name": "Car"}]
    (src / "train.json").write_text(json.dumps({"images": images, "annotation": anns, "categories": cats}))
    out = tmp_path / "data" / "hit_uav_yolo"
    D.coco_to_yolo(src / "train.json", src, out, split={"train": 2 / 3, "test": 1 / 3}, keys="hit-uav")
    ds = T.read_real_set(out)
    assert ds.names == ["Person", "Car"] and ds.counts()["train"]["images"] == 2
    x, gts = T.load_split(ds, "test", size=32)
    assert x.shape == (1, 32, 32, 1)
    assert np.allclose(gts[0]["boxes"], [[2, 3, 5.2, 11], [12, 10, 24, 20]], atol=1e-3)
    assert gts[0]["class_ids"].tolist() == [1, 2]


def _hit_uav_clone(root: Path) -> Path:
    """A tiny HIT-UAV clone in its real layout: normal_json/annotations/{train,test}.json (keys
    'annotation'/'filename', ids from 0, DontCare, a box past the border, an unlisted image id)."""
    rng = np.random.default_rng(1)
    cats = [{"id": 0, "name": "Person"}, {"id": 1, "name": "Car"}, {"id": 2, "name": "Bicycle"},
            {"id": 3, "name": "OtherVehicle"}, {"id": 4, "name": "DontCare"}]
    for split, n in (("train", 3), ("test", 2)):
        images, anns = [], []
        for i in range(n):
            name = f"1_60_30_0_{split}{i:03d}.jpg"
            save_image(root / "normal_json" / split / name, rng.integers(0, 255, (64, 80), dtype=np.uint8))
            images.append({"filename": name, "height": 64, "width": 80, "id": 100 * (split == "test") + i})
            anns += [{"image_id": images[-1]["id"], "bbox": [5, 6, 8, 16], "category_id": 0, "id": len(anns)},
                     {"image_id": images[-1]["id"], "bbox": [60, 20, 25, 20], "category_id": 1, "id": len(anns) + 1},
                     {"image_id": images[-1]["id"], "bbox": [30, 30, 10, 10], "category_id": 4, "id": len(anns) + 2}]
        anns.append({"image_id": 999, "bbox": [1, 1, 5, 5], "category_id": 0, "id": 9999})
        path = root / "normal_json" / "annotations" / f"{split}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"images": images, "annotation": anns, "categories": cats}))
    return root


def test_hit_uav_to_yolo_makes_the_notebook_decisions(tmp_path, capsys):
    src = _hit_uav_clone(tmp_path / "HIT-UAV")
    ds, stats = T.hit_uav_to_yolo(src, tmp_path / "data" / "hit_uav_yolo")
    assert ds.names == ["Person", "Car", "Bicycle", "OtherVehicle"]  # DontCare is not a class
    assert ds.counts()["train"] == {"images": 3, "objects": 6, "Person": 3, "Car": 3, "Bicycle": 0, "OtherVehicle": 0}
    assert stats == {"dropped": 5 + 2, "clipped": 5}  # 5 DontCare + 2 unlisted images; 5 cars past the edge
    car = next(o for o in ds.splits["test"][0].annotation.objects if o.label == "Car")
    assert np.allclose(car.bbox, [60, 20, 80, 40], atol=1e-3)
    again = T.read_real_set(tmp_path / "data" / "hit_uav_yolo")
    x, gts = T.load_split(again, "test", size=64)
    assert x.shape == (2, 64, 64, 1) and gts[0]["class_ids"].tolist() == [1, 2]
    assert T.main(["convert-hit-uav", str(src), str(tmp_path / "cli")]) == 0
    assert "7 annotations left out, 5 boxes clipped" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="HIT-UAV"):
        T.hit_uav_to_yolo(tmp_path / "nothing", tmp_path / "out")


# ----------------------------------------------------------------------------------- checks


def test_checks_pass_the_references_and_catch_mistakes(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")
    assert checks.gain_to_8bit(T.agc_percentile) is T.agc_percentile

    def truncating(counts, low=1.0, high=99.0):  # no rounding: off by one at most, accepted
        lo, hi = np.percentile(counts.astype(float), [low, high])
        if hi <= lo:
            return np.full(counts.shape, 128, np.uint8)
        return np.clip((counts - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)

    assert checks.gain_to_8bit(truncating) is truncating
    with pytest.raises(checks.CheckFailed, match="grey levels away"):  # min-max is not percentile clipping
        checks.gain_to_8bit(lambda c, low=1, high=99: T.agc_linear(c))
    with pytest.raises(checks.CheckFailed, match="flat"):
        checks.gain_to_8bit(lambda c, low=1, high=99: truncating(c, low, high) if c.std() else np.zeros(c.shape, np.uint8))

    def line(bbox, k, w, h):
        x, y, bw, bh = bbox
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + bw, w), min(y + bh, h)
        return f"{k} {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} {(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}"

    assert checks.yolo_line(line) is line
    with pytest.raises(checks.CheckFailed, match="past the right edge"):
        checks.yolo_line(lambda b, k, w, h: f"{k} {(b[0] + b[2] / 2) / w} {(b[1] + b[3] / 2) / h} {b[2] / w} {b[3] / h}")
    with pytest.raises(checks.CheckFailed, match="not the expected form"):
        checks.yolo_line(lambda b, k, w, h: [k, 0.5, 0.5, 0.1, 0.1])
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "0")
    fallback = checks.yolo_line(lambda b, k, w, h: "nonsense")
    assert fallback("x" and [0, 0, 10, 10], 0, 10, 10) == "0 0.500000 0.500000 1.000000 1.000000"
    assert "reference" in capsys.readouterr().out
