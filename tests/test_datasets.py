"""utils.datasets: YOLO data set folders validate, round-trip byte for byte, convert from and to
COCO (HIT-UAV's keys too) and VOC within a pixel, and report every problem of a broken folder."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from utils import annotations as A
from utils import datasets as D
from utils.annotations import AnnotationError
from utils.images import save_image


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _without_path(files: dict[str, bytes]) -> dict[str, bytes]:
    out = dict(files)
    out["data.yaml"] = b"\n".join(ln for ln in out["data.yaml"].split(b"\n") if not ln.startswith(b"path:"))
    return out


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn") / "set"
    return D.write_synthetic(root, 8, seed=3, size=96)


@pytest.fixture()
def coco_source(tmp_path):
    """A COCO JSON and its images, from pasted objects (exact, fractional-free boxes)."""
    from utils.data import pasted_objects

    data = pasted_objects(6, 80, seed=11)
    anns = A.from_instance_set(data, polygons=False)
    for i, a in enumerate(anns):
        save_image(tmp_path / "src" / a.file_name, data.images[i])
    # fractional boxes too: COCO files are often float
    anns[0].objects[0].bbox = anns[0].objects[0].bbox + [0.37, 0.21, -0.44, -0.13]
    A.write_coco(anns, tmp_path / "src" / "instances.json", data.class_names)
    return tmp_path / "src" / "instances.json", tmp_path / "src", anns, data.class_names


def test_synthetic_set_validates_and_has_the_layout(synthetic):
    root = synthetic.root
    assert (root / "data.yaml").is_file()
    for split in ("train", "val"):
        images = sorted(p.stem for p in (root / "images" / split).iterdir())
        labels = sorted(p.stem for p in (root / "labels" / split).glob("*.txt") if p.name != "classes.txt")
        assert images == labels and images
    data = D.read_data_yaml(root / "data.yaml")
    assert data["names"] == ["cat", "cup", "coin", "horse"] and data["train"] == "images/train"
    assert Path(data["path"]) == root.resolve()
    assert D.validate_dataset(root).counts()["train"]["images"] == 6
    assert synthetic.class_names[0] == "BG"


def test_write_read_write_gives_identical_files(synthetic, tmp_path):
    root = synthetic.root
    before = _files(root)
    ds = D.read_dataset(root)
    D.write_dataset(root, D.dataset_samples(ds), ds.names, overwrite=True)  # the same folder: byte for byte
    assert _files(root) == before
    D.write_dataset(tmp_path / "copy", D.dataset_samples(ds), ds.names)  # elsewhere: only path differs
    assert _without_path(_files(tmp_path / "copy")) == _without_path(before)
    again = D.read_dataset(tmp_path / "copy")
    for split in ds.splits:
        for a, b in zip(ds.annotations(split), again.annotations(split)):
            assert a.file_name == b.file_name and [o.label for o in a.objects] == [o.label for o in b.objects]
            assert np.allclose([o.bbox for o in a.objects], [o.bbox for o in b.objects], atol=1e-9)


def test_synthetic_is_deterministic_and_boxes_are_exact(tmp_path):
    from utils.data import pasted_objects

    a = D.write_synthetic(tmp_path / "a", 6, seed=5, size=64)
    D.write_synthetic(tmp_path / "b", 6, seed=5, size=64)
    assert _without_path(_files(tmp_path / "a")) == _without_path(_files(tmp_path / "b"))
    D.write_synthetic(tmp_path / "c", 6, seed=6, size=64)
    assert _without_path(_files(tmp_path / "a")) != _without_path(_files(tmp_path / "c"))
    truth = pasted_objects(6, 64, seed=5)
    samples = a.splits["train"] + a.splits["val"]
    for i, s in enumerate(samples):
        assert np.allclose([o.bbox for o in s.annotation.objects], truth.boxes[i], atol=64 * 1e-6)


def test_single_channel_set(tmp_path):
    ds = D.write_synthetic(tmp_path / "g", 4, seed=1, size=48, channels=1)
    assert ds.channels == 1 and "channels: 1" in (tmp_path / "g" / "data.yaml").read_text()
    from PIL import Image

    assert Image.open(ds.splits["train"][0].image).mode == "L"
    save_image(ds.splits["train"][0].image, np.zeros((48, 48, 3), np.uint8))  # a colour image slips in
    with pytest.raises(AnnotationError, match="colour image in a set whose data.yaml says channels: 1"):
        D.read_dataset(tmp_path / "g")


def test_coco_to_yolo_to_coco_keeps_every_box_within_a_pixel(coco_source, tmp_path):
    json_path, image_dir, anns, class_names = coco_source
    ds = D.coco_to_yolo(json_path, image_dir, tmp_path / "yolo", split={"train": 0.5, "val": 0.5}, seed=0)
    assert sorted(len(v) for v in ds.splits.values()) == [3, 3]
    paths = D.to_coco(ds, tmp_path / "back")
    back = {}
    for path in paths.values():
        got, names = A.read_coco(path)
        assert names == class_names
        back.update({a.file_name: a for a in got})
    assert sorted(back) == sorted(a.file_name for a in anns)
    n = 0
    for a in anns:
        b = back[a.file_name]
        assert (a.width, a.height) == (b.width, b.height)
        assert [o.label for o in a.objects] == [o.label for o in b.objects]
        for oa, ob in zip(a.objects, b.objects):
            assert np.abs(oa.bbox - ob.bbox).max() < 1.0
            n += 1
    assert n == sum(len(a.objects) for a in anns) > 6


def test_hit_uav_keys_are_an_explicit_option(coco_source, tmp_path):
    json_path, image_dir, anns, _ = coco_source
    data = json.loads(json_path.read_text())
    data["annotation"] = data.pop("annotations")
    for im in data["images"]:
        im["filename"] = im.pop("file_name")
    quirky = tmp_path / "hit_uav.json"
    quirky.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match="missing or not a list: annotations"):
        D.from_coco(quirky, image_dir)  # no silent guess
    samples, names = D.from_coco(quirky, image_dir, keys="hit-uav")
    standard, names2 = D.from_coco(json_path, image_dir)
    assert names == names2 == ["cat", "cup", "coin", "horse"]
    for s, t in zip(samples, standard):
        assert s.annotation.file_name == t.annotation.file_name and s.image == t.image
        assert s.annotation.source == str(quirky)
        assert np.array_equal([o.bbox for o in s.annotation.objects], [o.bbox for o in t.annotation.objects])
    with pytest.raises(AnnotationError, match="'annotation' to rename into 'annotations' is not there"):
        D.from_coco(json_path, image_dir, keys="hit-uav")  # a standard file given the option
    data["annotations"] = []
    quirky.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match="both 'annotation' and 'annotations' are present"):
        D.from_coco(quirky, image_dir, keys="hit-uav")


def test_voc_to_yolo_to_voc(coco_source, tmp_path):
    _, image_dir, anns, class_names = coco_source
    for a in anns:
        A.write_voc(a, tmp_path / "voc" / (Path(a.file_name).stem + ".xml"))
    samples = D.from_voc(tmp_path / "voc", image_dir)
    D.write_dataset(tmp_path / "yolo", {"train": samples}, class_names)
    ds = D.read_dataset(tmp_path / "yolo")
    D.to_voc(ds, tmp_path / "back")
    for a in anns:
        b = A.read_voc(tmp_path / "back" / "train" / (Path(a.file_name).stem + ".xml"))
        assert [o.label for o in a.objects] == [o.label for o in b.objects]
        assert np.abs(np.array([o.bbox for o in a.objects]) - [o.bbox for o in b.objects]).max() < 1.0


def test_same_stem_in_two_folders_never_shares_a_label_file(coco_source, tmp_path):
    json_path, image_dir, anns, _ = coco_source
    (image_dir / "a").mkdir()
    (image_dir / "b").mkdir()
    data = json.loads(json_path.read_text())
    for k, im in enumerate(data["images"][:2]):
        folder = "a" if k == 0 else "b"
        (image_dir / im["file_name"]).rename(image_dir / folder / "x.png")
        im["file_name"] = f"{folder}/x.png"
    json_path.write_text(json.dumps(data))
    samples, names = D.from_coco(json_path, image_dir)
    with pytest.raises(AnnotationError, match=r"would share the label file x.txt .*flatten=True"):
        D.write_dataset(tmp_path / "yolo", {"train": samples}, names)
    assert not (tmp_path / "yolo").exists()  # nothing written
    ds = D.read_dataset(D.write_dataset(tmp_path / "yolo", {"train": samples}, names, flatten=True))
    assert {"a__x.png", "b__x.png"} <= {a.file_name for a in ds.annotations("train")}
    # across splits too
    with pytest.raises(AnnotationError, match="would share the label file"):
        D.write_dataset(tmp_path / "y2", {"train": samples[:1], "val": samples[1:2]}, names)


def test_non_empty_folder_is_refused_and_nothing_is_deleted(synthetic, tmp_path):
    root = tmp_path / "s"
    D.write_synthetic(root, 4, seed=2, size=48)
    stray = root / "images" / "val" / "notes.txt"
    stray.write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        D.write_synthetic(root, 4, seed=2, size=48)
    (root / "labels" / "train" / "old.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(AnnotationError) as err:  # written, then read back: the leftovers are reported
        D.write_synthetic(root, 4, seed=2, size=48, overwrite=True)
    assert stray.read_text() == "mine" and (root / "labels" / "train" / "old.txt").exists()  # not deleted
    assert "old.txt: label file without an image" in str(err.value)
    assert "files that are not images" in str(err.value)


def test_write_refuses_bad_boxes_before_writing(synthetic, tmp_path):
    ds = D.read_dataset(synthetic.root)
    s = ds.splits["train"][0]
    s.annotation.objects[0].bbox = np.array([-5.0, 0, 10, 10])
    bad = D.Sample(A.ImageAnnotation("img_x.png", s.annotation.width, s.annotation.height,
                                     [A.Object("dog", [1, 1, 5, 5])]), s.image)
    with pytest.raises(AnnotationError) as err:
        D.write_dataset(tmp_path / "out", {"train": [s, bad]}, ds.names)
    text = str(err.value)
    assert "extends outside" in text and "unknown class 'dog'" in text
    assert not (tmp_path / "out").exists()
    renamed = D.Sample(A.ImageAnnotation("photo.jpg", 96, 96, []), ds.splits["val"][0].image)
    with pytest.raises(AnnotationError, match="the suffix .the format. would change"):
        D.write_dataset(tmp_path / "out", {"train": [renamed]}, ds.names)
    with pytest.raises(AnnotationError, match="expected \\(H, W\\) or \\(H, W, 3\\) uint8"):
        D.write_dataset(tmp_path / "out", {"train": [D.Sample(A.ImageAnnotation("f.png", 4, 4, []),
                                                               np.zeros((4, 4), np.float32))]}, ds.names)
    assert not (tmp_path / "out").exists()


def test_broken_folder_reports_every_problem_at_once(synthetic, tmp_path):
    import shutil

    root = tmp_path / "broken"
    shutil.copytree(synthetic.root, root)
    train, val = root / "labels" / "train", root / "labels" / "val"
    stems = sorted(p.stem for p in (root / "images" / "train").iterdir())
    (train / f"{stems[0]}.txt").unlink()                                      # missing label file
    (train / "ghost.txt").write_text("0 0.5 0.5 0.2 0.2\n")                   # label without image
    (train / f"{stems[1]}.txt").write_text("0 0.5 0.5 1.4 0.2\n")             # out of range
    (train / f"{stems[2]}.txt").write_text("1 nan 0.5 0.2 0.2\n")             # non-finite
    (train / f"{stems[3]}.txt").write_text("7 0.5 0.5 0.2 0.2\n")             # unknown class id
    (root / "images" / "train" / f"{stems[4]}.png").write_bytes(b"not a png")  # unreadable image
    val_stem = sorted(p.stem for p in (root / "images" / "val").iterdir())[0]
    shutil.copy(root / "images" / "val" / f"{val_stem}.png", root / "images" / "train" / f"{val_stem}.png")
    shutil.copy(val / f"{val_stem}.txt", train / f"{val_stem}.txt")            # duplicate stem across splits
    (val / "classes.txt").write_text("cat\ncup\ncoin\n")                        # names disagree
    (root / "data.yaml").write_text((root / "data.yaml").read_text().replace("nc: 4", "nc: 5"))
    with pytest.raises(AnnotationError) as err:
        D.read_dataset(root)
    text = str(err.value)
    expected = [
        f"{stems[0]}.txt: missing label file for {stems[0]}.png",
        "ghost.txt: label file without an image",
        f"{stems[1]}.txt: object 0 (cat): box corners",
        f"{stems[2]}.txt: object 0 (cup): value 1 is 'nan'",
        f"{stems[3]}.txt: object 0: class index 7 is not in 0..3",
        f"{stems[4]}.png: image cannot be read",
        f"stem {val_stem!r} is used in split 'train' too",
        "classes.txt: lists ['cat', 'cup', 'coin'], but data.yaml names are",
    ]
    for e in expected:
        assert e in text, f"{e!r} not in:\n{text}"
    assert "data.yaml: nc is 5 but names has 4 entries" in text
    assert text.startswith(f"{len(expected) + 1} problems")  # nothing else, nothing twice
    # without a data.yaml, the folders are still checked
    (root / "data.yaml").unlink()
    with pytest.raises(AnnotationError) as err:
        D.read_dataset(root)
    text = str(err.value)
    assert "data.yaml: no such file" in text
    for e in expected[:2] + expected[5:7]:
        assert e in text, f"{e!r} not in:\n{text}"


def test_data_yaml_problems_are_named(tmp_path):
    y = tmp_path / "data.yaml"
    y.write_text("train: images/train\nnames: {0: cat, 2: dog}\n")
    with pytest.raises(AnnotationError, match="names keys are"):
        D.read_data_yaml(y)
    y.write_text("train: images/train\nnames: [cat, cat]\nchannels: 2\n")
    with pytest.raises(AnnotationError) as err:
        D.read_data_yaml(y)
    assert "class names repeat" in str(err.value) and "channels is 2" in str(err.value)
    y.write_text("train: [images/train\n")
    with pytest.raises(AnnotationError, match="data.yaml"):
        D.read_data_yaml(y)
    with pytest.raises(AnnotationError, match="no such folder"):
        D.read_dataset(tmp_path / "nowhere")


def test_small_yaml_parser_reads_what_pyyaml_reads(synthetic, monkeypatch):
    with_yaml = D.read_data_yaml(synthetic.root / "data.yaml")
    monkeypatch.setitem(sys.modules, "yaml", None)  # as if PyYAML were not installed
    assert D.read_data_yaml(synthetic.root / "data.yaml") == with_yaml
    text = 'path: /x\ntrain: images/train  # comment\nnames:\n  - cat\n  - "a: b"\n'
    found = []
    assert D._small_yaml(text, "t", found) == {"path": "/x", "train": "images/train", "names": ["cat", "a: b"]}
    assert D._small_yaml("names: [cat, dog]\n", "t", found)["names"] == ["cat", "dog"] and not found
    assert D._small_yaml("  stray indent\n", "t", found) is None and found


def test_odd_class_names_survive_the_yaml(tmp_path, monkeypatch):
    names = ["1st", "yes", "a: b", "café", "x#y", "a #1", 'say "hi"', "- dash"]
    text = D.data_yaml_text(tmp_path, names, ["train"])
    (tmp_path / "data.yaml").write_text(text)
    assert D.read_data_yaml(tmp_path / "data.yaml")["names"] == names
    monkeypatch.setitem(sys.modules, "yaml", None)  # the small parser too
    assert D.read_data_yaml(tmp_path / "data.yaml")["names"] == names


def test_split_samples_is_deterministic_and_order_free(coco_source):
    json_path, image_dir, *_ = coco_source
    samples, _ = D.from_coco(json_path, image_dir)
    a = D.split_samples(samples, {"train": 0.5, "val": 0.3, "test": 0.2}, seed=4)
    b = D.split_samples(samples[::-1], {"train": 0.5, "val": 0.3, "test": 0.2}, seed=4)
    names = lambda d: {k: [s.annotation.file_name for s in v] for k, v in d.items()}  # noqa: E731
    assert names(a) == names(b) and sum(len(v) for v in a.values()) == len(samples)
    with pytest.raises(ValueError, match="summing to 1"):
        D.split_samples(samples, {"train": 0.5})


def test_augment_keeps_boxes_on_their_objects():
    tf = pytest.importorskip("tensorflow")
    img = np.zeros((64, 80, 1), np.float32)
    boxes = np.array([[10, 20, 30, 44], [50, 5, 70, 25], [0, 0, 0, 0]], np.float32)
    for x1, y1, x2, y2 in boxes[:2].astype(int):
        img[y1:y2, x1:x2] = 1.0
    flips = 0
    for seed in range(12):
        out, b, c = D.augment(tf.constant(img), tf.constant(boxes), tf.constant([1, 2, 0], tf.int32),
                              tf.constant([seed, 0]), scale=(0.7, 1.4), min_visible=0.4)
        out, b, c = out.numpy()[..., 0], b.numpy(), c.numpy()
        assert out.shape == (64, 80) and c[2] == 0 and np.all(b[2] == 0)
        again = D.augment(tf.constant(img), tf.constant(boxes), tf.constant([1, 2, 0], tf.int32), tf.constant([seed, 0]),
                          scale=(0.7, 1.4), min_visible=0.4)
        assert np.array_equal(again[1].numpy(), b)  # deterministic
        for k in range(2):
            if c[k] == 0:
                continue
            x1, y1, x2, y2 = b[k]
            assert 0 <= x1 < x2 <= 80 and 0 <= y1 < y2 <= 64
            inside = out[int(np.ceil(y1)) + 1:int(y2) - 1, int(np.ceil(x1)) + 1:int(x2) - 1]
            assert inside.size and inside.min() > 0.9  # the box covers its object...
            ring = np.ones_like(out, bool)
            ring[max(0, int(y1) - 1):int(np.ceil(y2)) + 1, max(0, int(x1) - 1):int(np.ceil(x2)) + 1] = False
            other = b[1 - k] if c[1 - k] else None
            if other is not None:  # ...and nothing of it lies outside (the other object aside)
                ring[max(0, int(other[1]) - 1):int(np.ceil(other[3])) + 1,
                     max(0, int(other[0]) - 1):int(np.ceil(other[2])) + 1] = False
            assert out[ring].max(initial=0) < 0.6
        flips += b[0, 0] > 40 if c[0] else 0
    assert flips > 0  # the flip happened at least once (object 0 starts on the left)


def test_tf_dataset_batches_a_folder(synthetic):
    pytest.importorskip("tensorflow")
    data = D.tf_dataset(synthetic, "train", image_size=(64, 64), batch_size=4, max_boxes=4)
    images, target = next(iter(data))
    assert images.shape == (4, 64, 64, 3) and target["boxes"].shape == (4, 4, 4)
    first = synthetic.splits["train"][0].annotation
    got = target["boxes"].numpy()[0][:len(first.objects)]
    assert np.allclose(got, np.array([o.bbox for o in first.objects]) * 64 / 96, atol=1e-4)
    assert list(target["class_ids"].numpy()[0][:len(first.objects)]) == \
        [synthetic.class_names.index(o.label) for o in first.objects]
    aug = D.tf_dataset(synthetic, "train", image_size=(64, 64), batch_size=4, max_boxes=4, augment_seed=1)
    a1, a2 = next(iter(aug)), next(iter(aug))
    assert np.array_equal(a1[0].numpy(), a2[0].numpy())  # same seed, same augmentation
    mixed = list(D.tf_dataset(synthetic, "train", image_size=(64, 64), batch_size=2, max_boxes=4, augment_seed=1,
                              use_mosaic=True))
    assert len(mixed) == 1 and mixed[0][0].shape == (1, 64, 64, 3) and mixed[0][1]["boxes"].shape == (1, 16, 4)
    with pytest.raises(ValueError, match="needs augment_seed"):
        D.tf_dataset(synthetic, "train", use_mosaic=True)


def test_crowd_regions_are_never_dropped_silently(coco_source):
    json_path, image_dir, anns, _ = coco_source
    data = json.loads(json_path.read_text())
    data["annotations"][1]["iscrowd"] = 1
    json_path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match="object 1 .*iscrowd region"):
        D.from_coco(json_path, image_dir)
    n = sum(len(a.objects) for a in anns)
    assert sum(len(s.annotation.objects) for s in D.from_coco(json_path, image_dir, crowd="skip")[0]) == n - 1
    assert sum(len(s.annotation.objects) for s in D.from_coco(json_path, image_dir, crowd="keep")[0]) == n


def _boxes_match_pixels(out, b, c, bright=0.9, dark=0.6):
    """Each kept box covers bright pixels inside, and every bright pixel lies in some kept box."""
    covered = np.zeros(out.shape, bool)
    for (x1, y1, x2, y2), k in zip(b, c):
        if k == 0:
            continue
        assert 0 <= x1 < x2 <= out.shape[1] and 0 <= y1 < y2 <= out.shape[0]
        inside = out[int(np.ceil(y1)) + 1:int(y2) - 1, int(np.ceil(x1)) + 1:int(x2) - 1]
        if inside.size:
            assert inside.min() > bright
        covered[max(0, int(y1) - 1):int(np.ceil(y2)) + 1, max(0, int(x1) - 1):int(np.ceil(x2)) + 1] = True
    assert out[~covered].max(initial=0) < dark


def test_mosaic_keeps_boxes_on_their_objects():
    tf = pytest.importorskip("tensorflow")
    images = np.zeros((4, 48, 64, 1), np.float32)
    boxes = np.zeros((4, 2, 4), np.float32)
    ids = np.zeros((4, 2), np.int32)
    rng = np.random.default_rng(0)
    for k in range(4):
        x1, y1 = int(rng.integers(0, 44)), int(rng.integers(0, 28))
        boxes[k, 0] = [x1, y1, x1 + 20, y1 + 20]
        ids[k, 0] = k + 1
        images[k, y1:y1 + 20, x1:x1 + 20] = 1.0
    kept = 0
    for seed in range(10):
        out, b, c = (t.numpy() for t in D.mosaic(tf.constant(images), tf.constant(boxes), tf.constant(ids),
                                                    tf.constant([seed, 0]), min_visible=0.0))
        assert out.shape == (48, 64, 1) and b.shape == (8, 4) and c.shape == (8,)
        _boxes_match_pixels(out[..., 0], b, c)
        kept += (c > 0).sum()
    assert kept > 10
