"""utils.annotations: every format round-trips, conversions keep every object, validation
reports every problem at once with its file and object."""
import json

import numpy as np
import pytest

from utils import annotations as A
from utils.annotations import AnnotationError, ImageAnnotation, Object
from utils.data import mask_to_box, pasted_objects
from utils.images import save_image

NAMES = ["BG", "cat", "cup", "coin", "horse"]


@pytest.fixture(scope="module")
def dataset():
    return pasted_objects(5, 96, seed=7)


@pytest.fixture()
def exported(dataset, tmp_path):
    """The images on disk and their annotations (exact boxes, polygons from the masks)."""
    anns = A.from_instance_set(dataset)
    for i, ann in enumerate(anns):
        save_image(tmp_path / ann.file_name, dataset.images[i])
    return anns, tmp_path


def _box_only(anns):
    return [ImageAnnotation(a.file_name, a.width, a.height, [Object(o.label, o.bbox) for o in a.objects], a.source)
            for a in anns]


def _same(a_list, b_list, atol=1e-9, polygons=True):
    assert [a.file_name for a in a_list] == [b.file_name for b in b_list]
    for a, b in zip(a_list, b_list):
        assert (a.width, a.height) == (b.width, b.height)
        assert [o.label for o in a.objects] == [o.label for o in b.objects]
        for oa, ob in zip(a.objects, b.objects):
            assert np.allclose(oa.bbox, ob.bbox, atol=atol)
            if polygons:
                assert len(oa.polygons) == len(ob.polygons)
                for pa, pb in zip(oa.polygons, ob.polygons):
                    assert np.allclose(pa, pb, atol=atol)


# ------------------------------------------------------------------ polygons from masks


def test_mask_polygons_enclose_exactly_the_mask(dataset):
    from scipy.ndimage import binary_fill_holes
    from skimage.draw import polygon2mask

    for i in range(len(dataset)):
        masks = dataset.masks[i]
        for k in range(masks.shape[-1]):
            polys = A.mask_to_polygons(masks[..., k])
            assert np.allclose(A.polygons_bbox(polys), mask_to_box(masks[..., k]))
            assert sum(A.polygon_area(p) for p in polys) == pytest.approx(binary_fill_holes(masks[..., k]).sum(), rel=0.03)
            # rasterising the outlines (pixel centres inside, centre of pixel x at x + 0.5) gives the mask
            # back, holes filled (COCO polygons cannot hold holes)
            raster = np.zeros(masks.shape[:2], bool)
            for p in polys:
                raster |= polygon2mask(masks.shape[:2], p[:, ::-1] - 0.5)
            assert np.array_equal(raster, binary_fill_holes(masks[..., k]))


def test_split_mask_gives_one_polygon_per_part_and_no_holes():
    mask = np.zeros((20, 30), bool)
    mask[2:8, 2:10] = True
    mask[12:18, 15:28] = True
    mask[14:16, 18:20] = False  # a hole: not a polygon of its own
    polys = A.mask_to_polygons(mask)
    assert len(polys) == 2
    assert np.allclose(A.polygons_bbox(polys), [2, 2, 28, 18])


# --------------------------------------------------------------------- round trips


def test_voc_round_trip(exported, tmp_path):
    anns, folder = exported
    for ann in anns:
        A.write_voc(ann, folder / "voc" / (ann.file_name[:-4] + ".xml"))
    back = A.read(folder / "voc", "voc")
    for b in back:
        b.source = b.file_name
    _same(_box_only(anns), back, polygons=False)
    # VOC's 1-based inclusive pixels: our [x1, y1, x2, y2) is xmin = x1 + 1, xmax = x2
    text = (folder / "voc" / (anns[0].file_name[:-4] + ".xml")).read_text()
    x1, y1, x2, y2 = anns[0].objects[0].bbox
    assert f"<xmin>{x1 + 1:g}</xmin>" in text and f"<xmax>{x2:g}</xmax>" in text


def test_coco_round_trip_keeps_boxes_polygons_and_empty_images(exported, tmp_path):
    anns, folder = exported
    anns = anns + [ImageAnnotation("empty.png", 96, 96, [])]
    A.write_coco(anns, folder / "coco.json", NAMES)
    back, names = A.read_coco(folder / "coco.json")
    assert names == NAMES
    _same(anns, back)
    data = json.loads((folder / "coco.json").read_text())
    assert [c["id"] for c in data["categories"]] == [1, 2, 3, 4]  # COCO ids = utils.data class ids
    cat = next(a for a in data["annotations"] if a["category_id"] == 1)
    assert cat["area"] == pytest.approx(sum(A.polygon_area(np.reshape(p, (-1, 2))) for p in cat["segmentation"]))


def test_coco_from_pycocotools_point_of_view(exported):
    """pycocotools reads our file and rasterises our polygons onto the original masks."""
    from pycocotools.coco import COCO

    anns, folder = exported
    A.write_coco(anns, folder / "coco.json", NAMES)
    coco = COCO(str(folder / "coco.json"))
    ds = pasted_objects(5, 96, seed=7)
    for img_id in coco.getImgIds():
        objs = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        masks = ds.masks[img_id - 1]
        assert len(objs) == masks.shape[-1]
        for k, obj in enumerate(objs):
            m = coco.annToMask(obj).astype(bool)
            overlap = (m & masks[..., k]).sum() / (m | masks[..., k]).sum()
            assert overlap > 0.9


@pytest.mark.parametrize("task", ["detect", "segment"])
def test_yolo_round_trip(exported, task):
    anns, folder = exported
    if task == "segment":  # one outline per line: objects split in parts cannot be written (tested below)
        anns = [ImageAnnotation(a.file_name, a.width, a.height, [o for o in a.objects if len(o.polygons) == 1], a.source)
                for a in anns]
        assert sum(len(a.objects) for a in anns) >= 5
    out = A.write_yolo(anns, folder / f"yolo_{task}", NAMES, task=task)
    assert (out / "classes.txt").read_text().split() == NAMES[1:]
    back = A.read(out, "yolo", image_dir=folder)
    if task == "detect":
        _same(_box_only(anns), back, atol=1e-3, polygons=False)  # 6 decimals of a 96-pixel image
    else:
        _same(anns, back, atol=1e-3)
    line = (out / (anns[0].file_name[:-4] + ".txt")).read_text().splitlines()[0].split()
    obj = anns[0].objects[0]
    assert int(line[0]) == NAMES.index(obj.label) - 1  # YOLO classes are 0-based without BG


def test_labelme_round_trip(exported):
    anns, folder = exported
    boxes_only = _box_only(anns[:2])
    for ann in anns + boxes_only:
        A.write_labelme(ann, folder / "lm" / (ann.file_name[:-4] + ("_box" if ann in boxes_only else "") + ".json"),
                        image_path="../" + ann.file_name)
    back = A.validate(folder / "lm", "labelme", NAMES)
    by_file = {}
    for b in back:
        by_file.setdefault(b.file_name, []).append(b)
    for ann in anns:
        got = by_file["../" + ann.file_name]
        for g in got:
            g.file_name = ann.file_name
        polys = [g for g in got if g.objects[0].polygons]
        boxes = [g for g in got if not g.objects[0].polygons]
        _same([ann], polys)
        if boxes:
            _same(_box_only([ann]), boxes, polygons=False)
    shape = json.loads((folder / "lm" / (anns[0].file_name[:-4] + ".json")).read_text())["shapes"][0]
    assert shape["shape_type"] == "polygon" and set(shape) >= {"label", "points", "group_id", "flags"}


def test_via_round_trip_project_and_export(exported):
    anns, folder = exported
    mixed = anns[:3] + _box_only(anns[3:])
    A.write_via(mixed, folder / "via.json")
    project = json.loads((folder / "via.json").read_text())
    assert set(project) >= {"_via_settings", "_via_img_metadata", "_via_attributes"}
    back = A.validate(folder / "via.json", "via", NAMES)
    _same(mixed, back)
    (folder / "via_export.json").write_text(json.dumps(project["_via_img_metadata"]))  # Annotation -> Export as json
    _same(mixed, A.read(folder / "via_export.json", "via"))


def test_objects_in_several_parts_survive_labelme_via_and_coco(tmp_path):
    mask = np.zeros((40, 40), bool)
    mask[2:10, 2:10] = mask[20:30, 5:15] = True
    obj = Object("cat", mask_to_box(mask), A.mask_to_polygons(mask))
    ann = [ImageAnnotation("a.png", 40, 40, [obj, Object("cup", [20, 20, 35, 38])], "a.png")]
    A.write_labelme(ann[0], tmp_path / "a.json")
    A.write_via(ann, tmp_path / "via.json")
    A.write_coco(ann, tmp_path / "coco.json", NAMES)
    for back in ([A.read_labelme(tmp_path / "a.json")], A.read_via(tmp_path / "via.json"),
                 A.read_coco(tmp_path / "coco.json")[0]):
        assert len(back[0].objects) == 2 and len(back[0].objects[0].polygons) == 2
        assert np.allclose(back[0].objects[0].bbox, [2, 2, 15, 30])
    with pytest.raises(AnnotationError, match="object 0 .cat.: has 2 polygons"):
        A.write_yolo(ann, tmp_path / "yolo", NAMES, task="segment")


# ----------------------------------------------------------------- conversions


def test_labelme_and_via_to_coco_to_yolo_keeps_every_object(exported):
    anns, folder = exported
    for ann in anns:
        A.write_labelme(ann, folder / (ann.file_name[:-4] + ".json"))
    A.write_via(anns, folder / "project" / "via.json")
    n_objects = sum(len(a.objects) for a in anns)
    from_labelme = A.read(sorted(folder.glob("image_*.json"))[0].parent / anns[0].file_name.replace(".png", ".json"),
                          "labelme") + [A.read_labelme(folder / (a.file_name[:-4] + ".json")) for a in anns[1:]]
    from_via = A.read(folder / "project" / "via.json", "via", image_dir=folder)
    for source in (from_labelme, from_via):
        A.write_coco(source, folder / "c.json", NAMES)
        coco, _ = A.read_coco(folder / "c.json")
        A.write_yolo(coco, folder / "y", NAMES)
        yolo = A.validate(folder / "y", "yolo", NAMES, image_dir=folder)
        assert sum(len(a.objects) for a in yolo) == n_objects
        _same(_box_only(anns), yolo, atol=1e-3, polygons=False)


def test_to_detection_feeds_the_evaluator(exported, dataset):
    from utils.detection import coco_evaluate

    anns, _ = exported
    gts = A.to_detection(anns, NAMES)
    for i, g in enumerate(gts):
        assert np.array_equal(g["boxes"], dataset.boxes[i]) and np.array_equal(g["class_ids"], dataset.class_ids[i])
    preds = [dict(g, scores=np.ones(len(g["boxes"]))) for g in gts]
    assert coco_evaluate(gts, preds)["mAP"] == pytest.approx(1.0)
    with pytest.raises(AnnotationError, match="unknown class 'cat'"):
        A.to_detection(anns, ["BG", "dog"])


# ------------------------------------------------------------------- validation


def test_validate_reports_every_problem_at_once(exported):
    anns, folder = exported
    broken = folder / "broken"
    broken.mkdir()
    good = json.loads(json.dumps({"version": "5.5.0", "flags": {}, "imagePath": "../" + anns[0].file_name,
                                  "imageData": None, "imageWidth": 96, "imageHeight": 96, "shapes": []}))
    shapes = [
        {"label": "cat", "points": [[10, 10], [30, 40]], "shape_type": "rectangle"},   # fine
        {"label": "dog", "points": [[5, 5], [20, 20]], "shape_type": "rectangle"},     # unknown class
        {"label": "cup", "points": [[80, 10], [110, 30]], "shape_type": "rectangle"},  # outside the image
        {"label": "coin", "points": [[40, 40], [40, 60]], "shape_type": "rectangle"},  # zero width
        {"label": "horse", "points": [[1, 1], [2, 2]], "shape_type": "polygon"},       # 2-point polygon
        {"label": "cat", "points": [[3, 3]], "shape_type": "point"},                   # no area
    ]
    (broken / "a.json").write_text(json.dumps({**good, "shapes": shapes}))
    (broken / "b.json").write_text(json.dumps({**good, "imagePath": "missing.png",
                                               "shapes": [{"label": "cat", "points": [[1, 1], [5, 5]], "shape_type": "rectangle"}]}))
    (broken / "c.json").write_text('{"shapes": [')  # truncated file
    (broken / "d.json").write_text(json.dumps({**good, "imageWidth": 50}))  # size disagrees with the image
    with pytest.raises(AnnotationError) as err:
        A.validate(broken, "labelme", NAMES)
    problems = err.value.problems
    text = str(err.value)
    expected = [
        ("a.json", 1, "unknown class 'dog'"),
        ("a.json", 2, "outside the 96x96 image"),
        ("a.json", 3, "zero or negative size"),
        ("a.json", 4, "a polygon needs at least 3 points"),
        ("a.json", 5, "'point' has no area"),
        ("b.json", None, "image file 'missing.png' not found"),
        ("c.json", None, "not valid JSON"),
        ("d.json", None, "annotation says 50x96"),
    ]
    for file, obj, message in expected:
        assert any(p.file.endswith(file) and p.object == obj and message in p.message for p in problems), (file, obj, message, text)
    assert len(problems) == len(expected)
    assert f"{len(expected)} annotation problems" in text and "a.json: object 1 (dog)" in text


def test_validate_in_memory_and_clean_data(exported):
    anns, folder = exported
    assert A.validate(anns, class_names=NAMES, image_dir=folder) == anns
    bad = [ImageAnnotation("x.png", None, None, [Object("cat", [5, 5, 4, 9])], "x.png")]
    with pytest.raises(AnnotationError) as err:
        A.validate(bad, class_names=NAMES, image_dir=folder)
    messages = [p.message for p in err.value.problems]
    assert any("not found" in m for m in messages) and any("size of image" in m for m in messages)
    assert any("zero or negative size" in m for m in messages)


@pytest.mark.parametrize("fmt,name,content,message", [
    ("coco", "c.json", json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": 9, "height": 9}],
                                   "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]},
                                                   {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1]}],
                                   "categories": [{"id": 1, "name": "cat"}]}),
     ["image_id 2 is not in 'images'", "bbox is [0, 0, 1]"]),
    ("coco", "c.json", json.dumps({"images": []}), ["missing or not a list: annotations, categories"]),
    ("voc", "v.xml", "<annotation><filename>a.png</filename><size><width>9</width><height>9</height></size>"
                     "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>x</xmax><ymax>4</ymax></bndbox></object>"
                     "<object><name>cup</name></object></annotation>",
     ["<xmax> is 'x'", "object 1 (cup): no complete <bndbox>"]),
    ("voc", "v.xml", "<annotation><filename>", ["not valid XML"]),
    ("via", "via.json", json.dumps({"a.png1": {"filename": "a.png", "size": 1, "regions": [
        {"shape_attributes": {"name": "polyline", "all_points_x": [1, 2], "all_points_y": [1, 2]}, "region_attributes": {"class": "cat"}},
        {"shape_attributes": {"name": "rect", "x": 1, "y": 1}, "region_attributes": {"class": "cat"}},
        {"shape_attributes": {"name": "rect", "x": 1, "y": 1, "width": 3, "height": 3}, "region_attributes": {}}]}}),
     ["'polyline' has no area", "object 1 (cat): rect width is missing", "object 2: region has no class attribute"]),
])
def test_malformed_files_name_every_problem(tmp_path, fmt, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(AnnotationError) as err:
        A.read(tmp_path / name, fmt)
    text = str(err.value)
    for m in message:
        assert m in text, text
    assert name in text


def test_yolo_problems(tmp_path):
    save_image(tmp_path / "a.png", np.zeros((10, 20, 3), np.uint8))
    (tmp_path / "classes.txt").write_text("cat\ncup\n")
    (tmp_path / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.1 0.1\ncat 0.1 0.1 0.1 0.1\n1 0.5 0.5\n")
    (tmp_path / "b.txt").write_text("0 0.5 0.5 0.2 0.2\n")  # no image b.*
    with pytest.raises(AnnotationError) as err:
        A.read(tmp_path, "yolo")
    text = str(err.value)
    for m in ("class index 7 is not in 0..1", "class index is 'cat', expected a whole number", "expected 4 box values", "no readable image b.*"):
        assert m in text, text
    assert len(err.value.problems) == 4
    with pytest.raises(AnnotationError, match="classes.txt: no such file"):
        A.read(tmp_path / "nowhere", "yolo")


def test_writers_refuse_what_the_format_cannot_hold(tmp_path):
    no_size = [ImageAnnotation("a.png", None, None, [Object("cat", [1, 1, 5, 5])])]
    for write in (lambda: A.write_coco(no_size, tmp_path / "c.json", NAMES),
                  lambda: A.write_yolo(no_size, tmp_path / "y", NAMES),
                  lambda: A.write_voc(no_size[0], tmp_path / "v.xml")):
        with pytest.raises(AnnotationError, match="a.png"):
            write()
    unknown = [ImageAnnotation("a.png", 9, 9, [Object("dog", [1, 1, 5, 5])])]
    with pytest.raises(AnnotationError, match="class 'dog' is not in"):
        A.write_coco(unknown, tmp_path / "c.json", NAMES)
    assert not (tmp_path / "c.json").exists()


def test_simplified_outlines_stay_valid_polygons():
    """Simplifying must not collapse small parts below 3 points (labelme/VIA would reject them)."""
    ds = pasted_objects(12, 128, seed=42)
    anns = A.from_instance_set(ds, tolerance=1.0)
    for ann in anns:
        for obj in ann.objects:
            assert obj.polygons and all(len(p) >= 3 for p in obj.polygons)
            assert np.abs(A.polygons_bbox(obj.polygons) - obj.bbox).max() <= 1.0  # Douglas-Peucker: within the tolerance
    mask = np.zeros((10, 10), bool)
    mask[3, 3] = True  # a one-pixel part: a diamond around the pixel centre
    (poly,) = A.mask_to_polygons(mask, tolerance=1.0)
    assert len(poly) == 4 and np.allclose(A.polygons_bbox([poly]), [3, 3, 4, 4])


# ------------------------------------------------------------------ issue 10: bad input


def test_voc_round_trip_is_exact_to_the_last_bit(tmp_path):
    boxes = [[0.1, 0.2, 10.123456789, 9.87654321], [1 / 3, 2 / 3, 7.000001, 8.5], [0, 0, 12, 9.999999999999998]]
    ann = ImageAnnotation("a.png", 20, 10, [Object("cat", b) for b in boxes])
    back = A.read_voc(A.write_voc(ann, tmp_path / "a.xml"))
    assert [o.bbox.tolist() for o in back.objects] == boxes  # the old writer rounded to 2 decimals
    assert "<xmin>1</xmin>" in (tmp_path / "a.xml").read_text()  # whole numbers stay whole


def test_writers_refuse_labels_their_readers_would_read_differently(tmp_path):
    for label in ("c\x01t", "ca\nt", " cat", "t\u202eac"):
        ann = ImageAnnotation("a.png", 20, 10, [Object(label, [1, 1, 5, 5])])
        for write in (lambda: A.write_voc(ann, tmp_path / "a.xml"), lambda: A.write_yolo([ann], tmp_path / "y"),
                      lambda: A.write_labelme(ann, tmp_path / "a.json"), lambda: A.write_via([ann], tmp_path / "v.json"),
                      lambda: A.write_coco([ann], tmp_path / "c.json")):
            with pytest.raises(AnnotationError, match="object 0: class name"):
                write()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(AnnotationError, match="classes.txt: class name 'ca\\\\nt'"):
        A.write_yolo([], tmp_path / "y", ["BG", "cat", "ca\nt", "cup"])  # would shift every later class index


def test_write_yolo_refuses_colliding_stems_and_keeps_what_was_there(tmp_path):
    out = tmp_path / "labels"
    out.mkdir()
    (out / "x.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    anns = [ImageAnnotation(n, 20, 10, [Object("cat", [1, 1, 5, 5])]) for n in ("train/x.jpg", "val/x.jpg", "x.png")]
    with pytest.raises(AnnotationError) as err:
        A.write_yolo(anns, out, ["BG", "cat"])
    assert "'train/x.jpg' and 'val/x.jpg' would share the label file x.txt" in str(err.value)
    assert "'train/x.jpg' and 'x.png'" in str(err.value)
    assert (out / "x.txt").read_text() == "0 0.5 0.5 0.1 0.1\n" and sorted(p.name for p in out.iterdir()) == ["x.txt"]


def test_coco_duplicate_ids_and_fractional_sizes_are_problems(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 12.9, "height": 10},
                   {"id": 1, "file_name": "b.png", "width": 20, "height": 10}],
        "annotations": [],
        "categories": [{"id": 1, "name": "cat"}, {"id": 1, "name": "dog"}]}))
    with pytest.raises(AnnotationError) as err:
        A.read_coco(path)
    text = str(err.value)
    assert "category 1: id 1 is used twice ('cat' and 'dog')" in text
    assert "image entry 1: id 1 is used twice ('a.png' and 'b.png')" in text
    assert "image 1 width is 12.9, expected a whole number" in text


def test_via_negative_size_is_refused_not_flipped(tmp_path):
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"a.png1": {"filename": "a.png", "regions": [
        {"shape_attributes": {"name": "rect", "x": 10, "y": 5, "width": -4, "height": 3}, "region_attributes": {"class": "cat"}}]}}))
    with pytest.raises(AnnotationError, match="object 0 .cat.: rect width -4 and height 3: expected sizes >= 0"):
        A.read_via(path)


@pytest.mark.parametrize("fmt, name, content", [
    ("yolo", "a.txt", "0 nan 0.5 0.2 0.2\n"),
    ("labelme", "a.json", json.dumps({"shapes": [{"label": "cat", "points": [[1, 1], [5, 5]], "shape_type": "rectangle"}],
                                      "imagePath": "a.png", "imageWidth": 20, "imageHeight": 10}).replace("5]]", "1e999]]")),
    ("via", "a.json", json.dumps({"a.png1": {"filename": "a.png", "regions": [
        {"shape_attributes": {"name": "rect", "x": 1, "y": 1, "width": "inf", "height": 3},
         "region_attributes": {"class": "cat"}}]}}).replace('"inf"', "1e999")),
    ("coco", "a.json", json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": 20, "height": 10}],
                                   "categories": [{"id": 1, "name": "cat"}],
                                   "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4],
                                                    "segmentation": [[1, 1, 5, 1, "X", 5]]}]}).replace('"X"', "1e999")),
])
def test_non_finite_coordinates_never_pass_validate(tmp_path, fmt, name, content):
    save_image(tmp_path / "a.png", np.zeros((10, 20, 3), np.uint8))
    (tmp_path / name).write_text(content)
    if fmt == "yolo":
        (tmp_path / "classes.txt").write_text("cat\n")
    with pytest.raises(AnnotationError, match=r"object 0 \(cat\): .* is (inf|'nan')"):
        A.validate(tmp_path if fmt == "yolo" else tmp_path / name, fmt)


def test_validate_catches_non_finite_boxes_in_memory():
    ann = ImageAnnotation("a.png", 20, 10, [Object("cat", [np.nan, 1, 5, 5]), Object("cat", [1, 1, 5, np.inf])])
    with pytest.raises(AnnotationError) as err:
        A.validate([ann])
    assert str(err.value).count("NaN or infinity") == 2


def test_validate_keeps_collecting_and_numbers_objects_as_in_the_file(tmp_path):
    save_image(tmp_path / "a.png", np.zeros((10, 20, 3), np.uint8))
    shapes = [{"label": "cat", "points": [[1, 1]], "shape_type": "point"},            # object 0: no area, dropped
              {"label": "cat", "points": [[1, 1], [30, 5]], "shape_type": "rectangle"},  # object 1: outside
              {"label": "cat", "points": [[1, 1], [5, 5]], "shape_type": "rectangle", "group_id": [1]}]  # object 2
    (tmp_path / "a.json").write_text(json.dumps({"shapes": shapes, "imagePath": "a.png", "imageWidth": 20, "imageHeight": 10}))
    (tmp_path / "b.json").write_text(json.dumps({"shapes": [], "imagePath": "a.png", "imageWidth": "abc", "imageHeight": 10}))
    with pytest.raises(AnnotationError) as err:
        A.validate(tmp_path, "labelme")
    text = str(err.value)
    assert "a.json: object 0 (cat): shape type 'point' has no area" in text
    assert "a.json: object 1 (cat): box [1, 1, 30, 5] extends outside" in text  # was "object 0" before
    assert "a.json: object 2 (cat): group_id is [1]" in text
    assert "b.json: imageWidth is 'abc'" in text


def test_labelme_size_check_uses_the_upright_size_of_a_phone_photo(tmp_path):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.zeros((20, 10, 3), np.uint8)).save(tmp_path / "a.jpg", exif=exif)  # stored 10x20, shown 20x10
    ann = ImageAnnotation("a.jpg", 20, 10, [Object("cat", [1, 1, 5, 5])])
    A.write_labelme(ann, tmp_path / "a.json")
    assert A.validate(tmp_path, "labelme")[0].width == 20
