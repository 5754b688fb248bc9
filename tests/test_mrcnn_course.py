"""The Mask R-CNN part as a chain (2_6 -> 3_3 -> 3_4): knobs, full-mode paths, your own
annotations converted for training, the exercise checks, readable labels."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from utils import annotations, checks, course, data  # noqa: E402
from utils.images import save_image  # noqa: E402
from utils.knobs import KNOBS  # noqa: E402
from utils.mrcnn import utils as mu  # noqa: E402
from utils.mrcnn import visualize  # noqa: E402

# ------------------------------------------------------------------------ knobs and paths


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_every_training_stage_of_3_3_trains(mode):
    knobs = course.knobs("3_3", mode)
    for stages in (knobs["stages"], knobs["class_demo_stages"]):
        assert list(stages) == ["heads", "all", "all_low_lr"]
        assert all(isinstance(v, int) and v >= 1 for v in stages.values()), stages
    assert sum(knobs["class_demo_stages"].values()) == 3  # the class demo: one epoch per stage


def test_train_shapes_refuses_a_stage_without_epochs():
    from utils.mrcnn import train_shapes

    with pytest.raises(ValueError, match="leave a stage without epochs"):
        train_shapes.train("unused", None, None, epochs_heads=20, epochs=30, epochs_low_lr=10)  # the old 3_3 knobs


def test_full_mode_paths_resolve_from_the_repository_root_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as JupyterLab (notebooks/) or Colab would run them
    expected = {("2_6", "own_folder"): "data/kick_scooters", ("3_2", "photo_file"): "data/giraffe.jpg",
                ("3_3", "dataset"): "data/kick_scooters", ("3_4", "image_folder"): "data/kick_scooters/test",
                ("3_4", "own_folder"): "data/my_annotated_image"}
    for (notebook, knob), relative in expected.items():
        value = course.knobs(notebook, "full")[knob]
        assert isinstance(value, Path) and value.is_absolute(), (notebook, knob, value)
        assert value == course.ROOT / relative
        assert KNOBS[notebook]["full"][knob] == relative  # the table keeps the readable form


def test_3_2_names_a_class_its_model_knows():
    from utils.mrcnn.config import COCO_CLASS_NAMES

    assert course.knobs("3_2", "fast")["crop_class"] in data.SHAPE_CLASSES
    assert course.knobs("3_2", "full")["crop_class"] == "giraffe" and "giraffe" in COCO_CLASS_NAMES


# ------------------------------------------------------------- your own annotations


def _photos(folder: Path, n: int = 3, size=(40, 48)) -> list[str]:
    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        names.append(f"IMG_{i:03d}.jpg")
        save_image(folder / names[-1], rng.integers(0, 255, size + (3,), dtype=np.uint8))
    return names


def _snapshot(folder: Path) -> dict:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir()}


def _labelme(folder: Path, name: str, shapes: list[dict], size=(40, 48)) -> None:
    (folder / name.replace(".jpg", ".json")).write_text(json.dumps(
        {"version": "5.5.0", "shapes": shapes, "imagePath": name, "imageData": None,
         "imageHeight": size[0], "imageWidth": size[1]}))


def _polygon(label, pts, group=None):
    return {"label": label, "points": pts, "shape_type": "polygon", "group_id": group}


def test_labelme_folder_is_validated_and_converted_for_3_3_without_touching_it(tmp_path):
    own = tmp_path / "data" / "kick_scooters" / "train"
    names = _photos(own)
    _labelme(own, names[0], [_polygon("kick_scooter", [[2, 3], [20, 3], [20, 30], [2, 30]])])
    _labelme(own, names[1], [_polygon("kick_scooter", [[5, 5], [15, 5], [10, 20]], group=1),
                             _polygon("kick_scooter", [[25, 5], [40, 5], [30, 25]], group=1),
                             {"label": "kick_scooter", "points": [[30, 30], [45, 38]], "shape_type": "rectangle"}])
    _labelme(own, names[2], [])  # a photo without a scooter: kept as a negative
    before = _snapshot(own)
    out = tmp_path / "outputs" / "3_3" / "train" / annotations.VIA_EXPORT
    tool, anns = annotations.convert_own_annotations(own, out, ["BG", "kick_scooter"])
    assert tool == "labelme" and [len(a.objects) for a in anns] == [1, 2, 0]
    assert _snapshot(own) == before  # the folder you annotate into is never written to
    ds = mu.ViaDataset(own, json_file=out, class_names=["kick_scooter"], class_attribute="class")
    counts = [ds.load_mask(i)[0].shape[-1] for i in ds.image_ids]
    assert counts == [1, 2, 0]  # the two polygons of one group stay one instance
    masks, ids = ds.load_mask(1)
    assert masks.shape == (40, 48, 2) and ids.tolist() == [1, 1] and masks[..., 0].sum() > masks[..., 1].sum()


def test_via_export_with_plain_regions_is_one_class(tmp_path):
    own = tmp_path / "val"
    names = _photos(own, n=2)
    size = (own / names[0]).stat().st_size
    via = {f"{names[0]}{size}": {"filename": names[0], "size": size, "file_attributes": {}, "regions": [
        {"shape_attributes": {"name": "polygon", "all_points_x": [2, 20, 20, 2], "all_points_y": [3, 3, 30, 30]},
         "region_attributes": {}}]},
        "b": {"filename": names[1], "size": 1, "file_attributes": {}, "regions": [
            {"shape_attributes": {"name": "rect", "x": 4, "y": 5, "width": 10, "height": 8}, "region_attributes": {}}]}}
    (own / annotations.VIA_EXPORT).write_text(json.dumps(via))
    before = _snapshot(own)
    out = tmp_path / "converted" / annotations.VIA_EXPORT
    tool, anns = annotations.convert_own_annotations(own, out, ["kick_scooter"])
    assert tool == "via" and [o.label for a in anns for o in a.objects] == ["kick_scooter"] * 2
    assert _snapshot(own) == before
    ds = mu.ViaDataset(own, json_file=out, class_names=["kick_scooter"], class_attribute="class")
    assert ds.load_mask(1)[0][..., 0].sum() == 80


def test_own_annotations_problems_are_all_reported_and_nothing_is_written(tmp_path):
    own = tmp_path / "train"
    names = _photos(own)
    _labelme(own, names[0], [_polygon("scooter", [[2, 3], [20, 3], [20, 30]])])       # unknown class
    _labelme(own, names[1], [_polygon("kick_scooter", [[2, 3], [60, 3], [20, 30]])])  # outside the image
    out = tmp_path / "out" / annotations.VIA_EXPORT
    with pytest.raises(annotations.AnnotationError) as err:
        annotations.convert_own_annotations(own, out, ["BG", "kick_scooter"])
    assert {Path(p.file).name for p in err.value.problems} == {"IMG_000.json", "IMG_001.json"}  # both, at once
    assert "unknown class 'scooter'" in str(err.value) and "outside" in str(err.value)
    assert not out.exists()


def test_missing_or_empty_folders_say_what_to_put_where(tmp_path):
    out = tmp_path / "out.json"
    with pytest.raises(FileNotFoundError, match="no such folder.*via_region_data.json.*labelme"):
        annotations.convert_own_annotations(tmp_path / "kick_scooters" / "train", out, ["kick_scooter"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        annotations.find_own_annotations(empty)
    _photos(empty, n=1)
    with pytest.raises(FileNotFoundError, match="images but no annotations"):
        annotations.find_own_annotations(empty)
    (empty / "project.json").write_text(json.dumps({"_via_img_metadata": {}}))
    with pytest.raises(FileNotFoundError, match="rename it"):
        annotations.find_own_annotations(empty)
    with pytest.raises(ValueError, match="inside"):  # never into the folder you annotate
        annotations.convert_own_annotations(empty, empty / "converted.json", ["kick_scooter"])


# ------------------------------------------------------------------------ the checks


def _r(class_ids, shape=(12, 16)):
    n = len(class_ids)
    masks = np.zeros(shape + (n,), bool)
    rois = np.array([[1 + k, 2 + k, 6 + k, 9 + k] for k in range(n)], np.int32).reshape(-1, 4)
    for k, (y1, x1, y2, x2) in enumerate(rois):
        masks[y1:y2, x1:x2, k] = True
    return {"rois": rois, "class_ids": np.array(class_ids, np.int32), "scores": np.linspace(0.9, 0.5, n),
            "masks": masks}


def stub(*args, **kwargs):
    raise NotImplementedError


MRCNN_CHECKS = ["crop_first_of_class", "mask_first_of_class", "mask_iou", "color_splash", "ap_on_image",
                "paste_mask"]


@pytest.mark.parametrize("name", MRCNN_CHECKS)
def test_a_stuck_student_gets_a_reference_that_passes_its_own_check(name, monkeypatch, capsys):
    monkeypatch.delenv("COURSE_CHECKS_STRICT", raising=False)
    check = getattr(checks, name)
    reference = check(stub)
    assert callable(reference) and reference is not stub
    assert "reference" in capsys.readouterr().out
    assert check(reference) is reference  # the reference passes every hidden case
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")
    with pytest.raises(checks.CheckFailed):
        check(stub)


def test_first_of_class_references_behave_as_the_exercise_says():
    image = np.arange(12 * 16 * 3, dtype=np.uint8).reshape(12, 16, 3)
    names = ["BG", "square", "circle", "triangle"]
    crop = checks.crop_first_of_class(stub)
    mask = checks.mask_first_of_class(stub)
    r = _r([1, 3, 3])
    np.testing.assert_array_equal(crop(image, r, names, "triangle"), image[2:7, 3:10])
    m = mask(r, names, "triangle")
    assert m.dtype == np.uint8 and m.sum() == 255 * 35 and m[2, 3] == 255 and m[1, 2] == 0
    assert crop(image, r, names, "circle") is None and mask(r, names, "circle") is None


def test_crop_check_catches_the_usual_mistakes(monkeypatch):
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")
    with pytest.raises(checks.CheckFailed, match="second detection"):  # the first detection, whatever its class
        checks.crop_first_of_class(lambda image, r, names, name: image[slice(*r["rois"][0][[0, 2]]),
                                                                       slice(*r["rois"][0][[1, 3]])])
    with pytest.raises(checks.CheckFailed, match="shape"):  # x and y swapped
        checks.crop_first_of_class(lambda image, r, names, name: next(
            (image[r["rois"][i][1]:r["rois"][i][3], r["rois"][i][0]:r["rois"][i][2]]
             for i, c in enumerate(r["class_ids"]) if names[c] == name), None))
    with pytest.raises(checks.CheckFailed, match="uint8"):  # a bool mask is not an image file
        checks.mask_first_of_class(lambda r, names, name: next(
            (r["masks"][:, :, i] for i, c in enumerate(r["class_ids"]) if names[c] == name), None))


# ------------------------------------------------------------------ readable labels


def test_place_labels_keeps_labels_apart_and_inside():
    anchors = [(5, 5)] * 4 + [(60, 60), (62, 61)]
    sizes = [(30, 8)] * 6
    corners = visualize.place_labels(anchors, sizes, 64, 64)
    rects = [(x, y, x + w, y + h) for (x, y), (w, h) in zip(corners, sizes)]
    for i, a in enumerate(rects):
        assert 0 <= a[0] and 0 <= a[1] and a[2] <= 64 + 1e-9 and a[3] <= 64 + 1e-9, a
        for b in rects[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    assert corners[0] == (5, 5)  # a label that fits stays at its box


def test_labels_of_overlapping_detections_on_a_small_image_do_not_overlap():
    from utils.mrcnn import opencv as mocv

    r = _r([1, 2, 3, 1], shape=(32, 32))
    r["rois"][:] = [4, 4, 20, 20]  # four detections of one object
    fig, ax = plt.subplots(figsize=(3, 3))
    visualize.display_instances(np.zeros((32, 32, 3), np.uint8), r["rois"], r["masks"], r["class_ids"],
                                ["BG", "square", "circle", "triangle"], r["scores"], ax=ax)
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.texts]
    assert len(boxes) == 4
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)
    plt.close(fig)
    drawn = mocv.draw_detections(np.zeros((32, 32, 3), np.uint8), r, ["BG", "square", "circle", "triangle"])
    assert drawn.shape == (256, 256, 3)
