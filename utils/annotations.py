"""Reading, writing, converting and validating detection annotations (``2_6``).

Five formats, one in-memory representation. A data set is a ``list`` of
:class:`ImageAnnotation`, one per image::

    ImageAnnotation(file_name="img_000.png", width=128, height=128, objects=[
        Object(label="cat", bbox=array([x1, y1, x2, y2]), polygons=[array([[x, y], ...])]),
    ], source="labels/img_000.json")

- ``bbox`` is ``xyxy`` in pixels with exclusive ends, the convention of :mod:`utils.data`
  and :mod:`utils.detection` (pixel ``x`` covers ``[x, x + 1)``);
- ``polygons`` is a list of ``(P, 2)`` float arrays of ``(x, y)`` vertices in the same
  continuous coordinates (empty for box-only objects; several for an object split in parts);
- ``attributes`` keeps format-specific extras (VOC ``difficult``, COCO ``iscrowd`` and RLE masks);
- ``width``/``height`` may be ``None`` where the file does not say (VIA) and no image was found.

============  ==========================================  ===========================  ===============================
format        files                                       coordinates                  shapes
============  ==========================================  ===========================  ===============================
Pascal VOC    one XML per image                           1-based inclusive pixels     boxes
COCO          one JSON for the set                        ``xywh`` pixels              boxes + polygons (+ RLE kept)
YOLO          one TXT per image + ``classes.txt``         centre/size, 0..1            boxes, or polygons (segment)
labelme       one JSON per image (beside the image)       pixels, corner points        rectangles, polygons, circles
VIA 2         one project JSON for the set                pixels                       rect, polygon, circle, ellipse
============  ==========================================  ===========================  ===============================

**Nothing is dropped silently.** Readers raise :class:`AnnotationError` listing every
problem of a malformed file at once (file, object, what is wrong); :func:`validate`
checks a whole data set (files or objects already read) and raises one
:class:`AnnotationError` listing *every* problem found: malformed file, box outside the
image, zero or negative size, unknown class, missing image file, image size that
disagrees with the file. It returns the annotations only when there is no problem, so a
caller cannot go on with a broken data set by forgetting to look at a report.
Box-only formats (VOC, YOLO ``detect``) store each object's box and not its polygon.

**Nothing is lost.** Every numeric field must be a finite number of the right kind (a
whole, positive image size; COCO ids are integers, each used once), or it is a problem
naming the file and object; files that are not UTF-8, folders named like files and
deeply nested JSON are problems too, never a traceback. Writers refuse what their reader
would read back differently (labels with control or bidirectional formatting characters,
leading spaces, NaN boxes, two images sharing a YOLO label file) and replace a file only
once the new one is complete. VOC coordinates are written exactly, without rounding.

Class names follow :mod:`utils.data`: a list whose entry 0 may be ``"BG"``. COCO category
ids are 1-based and YOLO class indices 0-based in the list *without* ``"BG"``, so with
``["BG", "cat", "cup"]`` a cat is COCO id 1, YOLO class 0 and ``utils.data`` class id 1.
"""
from __future__ import annotations

import json
import math
import reprlib
import unicodedata
import xml.etree.ElementTree as ET
from decimal import Context, Decimal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

FORMATS = ("voc", "coco", "yolo", "labelme", "via")


class AnnotationError(ValueError):
    """A malformed or invalid annotation; ``problems`` lists every :class:`Problem` found."""

    def __init__(self, problems: list["Problem"], what: str = "annotation problems"):
        self.problems = list(problems)
        lines = "\n  - ".join(str(p) for p in self.problems)
        super().__init__(f"{len(self.problems)} {what}:\n  - {lines}")


@dataclass
class Problem:
    """One problem: the file, the object (if any) and what is wrong.

    ``object`` is the index of the entry *in that file* (labelme shape, VIA region, COCO
    annotation, VOC ``<object>``, YOLO line), so it can be found there; ``label`` its class.
    """

    file: str
    message: str
    object: int | None = None
    label: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.object is not None:
            where += f": object {self.object}" + (f" ({self.label})" if self.label else "")
        return f"{where}: {self.message}"


@dataclass(eq=False)
class Object:
    """One annotated object: class name, ``xyxy`` box (pixels, exclusive ends), optional polygons.

    ``index`` is the position of the object's entry in the file it was read from (its first
    shape for objects merged from parts), so problems name the entry a reader can find;
    ``None`` for objects made in memory."""

    label: str
    bbox: np.ndarray
    polygons: list[np.ndarray] = field(default_factory=list)
    attributes: dict = field(default_factory=dict)
    index: int | None = None

    def __post_init__(self):
        self.bbox = np.asarray(self.bbox, dtype=np.float64).reshape(4)
        self.polygons = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in self.polygons]


@dataclass
class ImageAnnotation:
    """The annotations of one image (see the module doc)."""

    file_name: str
    width: int | None
    height: int | None
    objects: list[Object] = field(default_factory=list)
    source: str = ""


# ------------------------------------------------------------------------------ helpers


def _collector(problems: list | None):
    """Return (list to append to, finish()) : finish raises when we own the list and it is not empty."""
    own = problems is None
    found: list[Problem] = [] if own else problems
    start = len(found)

    def finish(what: str):
        if own and len(found) > start:
            raise AnnotationError(found, what)

    return found, finish


def object_classes(class_names: Iterable[str]) -> list[str]:
    """``class_names`` without a leading ``"BG"`` (the list COCO ids and YOLO indices index)."""
    names = [str(n) for n in class_names]
    return names[1:] if names and names[0] == "BG" else names


def class_names_of(annotations: list[ImageAnnotation]) -> list[str]:
    """``["BG"] + sorted labels`` used in ``annotations`` (a class list for :mod:`utils.data`-style ids)."""
    return ["BG"] + sorted({o.label for a in annotations for o in a.objects})


def polygon_area(polygon) -> float:
    """Area of a simple polygon ``(P, 2)`` (shoelace formula, absolute value)."""
    p = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    x, y = p[:, 0], p[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) / 2)


def polygons_bbox(polygons) -> np.ndarray:
    """Tight ``xyxy`` box around one or more polygons."""
    pts = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons])
    return np.r_[pts.min(0), pts.max(0)]


def mask_to_polygons(mask, tolerance: float = 0.0) -> list[np.ndarray]:
    """Outer outlines of a 2-D bool mask as polygons ``(P, 2)`` ``(x, y)`` on pixel **borders**,
    so the polygons' bounding box equals :func:`utils.data.mask_to_box` exactly (``2_6``).

    One polygon per 8-connected part (holes, 4-connected background pockets, are filled: COCO
    polygons cannot express them);
    ``tolerance`` > 0 simplifies each outline (Douglas-Peucker, in pixels).
    """
    from skimage import measure

    m = np.pad(np.asarray(mask, dtype=bool), 1).astype(np.float64)
    out = []
    for contour in measure.find_contours(m, 0.5, fully_connected="high"):  # diagonal pixels join a part
        xy = contour[:, ::-1] - 0.5  # (row, col) in padded cell-centre units -> (x, y) pixel borders
        x, y = xy[:, 0], xy[:, 1]
        if np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y) <= 0:  # negative orientation: a hole
            continue
        if tolerance > 0:
            simpler = measure.approximate_polygon(xy, tolerance)
            if len(simpler) >= 4:  # a closed outline of >= 3 distinct points; tiny parts keep every vertex
                xy = simpler
        if np.allclose(xy[0], xy[-1]):
            xy = xy[:-1]
        out.append(xy)
    return out


def _image_size(path: Path) -> tuple[int, int] | None:
    from utils.images import ImageError, image_size

    try:
        return image_size(path)
    except (ImageError, OSError):
        return None


def _find_image(name: str, folders: Iterable[Path]) -> Path | None:
    for folder in folders:
        if folder is not None and (Path(folder) / name).is_file():
            return Path(folder) / name
    return None


# ------------------------------------------- shared checks (every reader and writer uses them)


_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxstring, _SHOW.maxother, _SHOW.maxlist, _SHOW.maxdict = 3, 60, 60, 6, 6


def _show(value) -> str:
    """A short ``repr`` of a value read from a file (safe on huge or deeply nested values)."""
    return _SHOW.repr(value)


def _num(value, what: str, file: str, found: list, obj: int | None = None, label: str | None = None, *,
         text: bool = False, whole: bool = False, minimum: float | None = None):
    """``value`` as a finite number, or ``None`` after appending a :class:`Problem` naming it.

    JSON values must be numbers (not strings, not booleans); ``text=True`` takes the ASCII
    text of an XML element or a TXT field instead. ``whole``: an integer is needed (returned
    as ``int``, never truncated); ``minimum``: the smallest value allowed.
    """
    if text:
        ok = isinstance(value, str) and value.strip().isascii()
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    try:
        v = float(value) if ok else math.nan
    except (ValueError, OverflowError):
        v = math.nan
    expected = "a whole number" if whole else "a number"
    if minimum is not None:
        expected += f" >= {minimum:g}"
    if not math.isfinite(v) or (whole and not v.is_integer()) or (minimum is not None and v < minimum):
        got = "is missing" if value is None else f"is {_show(value)}"
        found.append(Problem(file, f"{what} {got}, expected {expected}", obj, label))
        return None
    return int(v) if whole else v


def _numbers(value, what: str, file: str, found: list, obj: int | None = None, label: str | None = None,
             pairs: bool = False):
    """A JSON list of finite numbers as a float array (``pairs``: also ``[[x, y], ...]``, returned
    as ``(P, 2)``), or ``None`` after appending one :class:`Problem`."""
    flat = []
    if isinstance(value, (list, tuple)):
        for v in value:
            flat.extend(v if pairs and isinstance(v, (list, tuple)) and len(v) == 2 else [v])
    if not flat or (pairs and len(flat) % 2):
        expected = "[[x, y], ...] or [x, y, ...]" if pairs else "a list of numbers"
        found.append(Problem(file, f"{what} is {_show(value)}, expected {expected}", obj, label))
        return None
    sub: list = []
    vals = [_num(v, f"{what} value", file, sub, obj, label) for v in flat]
    if sub:
        found.append(sub[0])  # one line per field is enough
        return None
    arr = np.asarray(vals, dtype=np.float64)
    return arr.reshape(-1, 2) if pairs else arr


def _is_id(value) -> bool:
    """An id read from JSON: an int (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _bad_name(name) -> str | None:
    """Why ``name`` (a class label) cannot be written so that every reader reads it back, or ``None``."""
    if not isinstance(name, str) or not name:
        return f"class name {_show(name)} is not a non-empty string"
    if name != name.strip():
        return f"class name {name!r} has leading or trailing spaces (readers strip them)"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        return f"class name {name!r} holds control or formatting characters (a newline, tab, U+202E...)"
    return None


def _check_writable(annotations: list, fmt: str) -> None:
    """Raise one :class:`AnnotationError` when a writer could not store ``annotations`` exactly:
    labels a reader would read differently, or boxes/polygons that are not finite."""
    problems = []
    for ann in annotations:
        where = ann.source or ann.file_name
        name = ann.file_name
        if not isinstance(name, str) or not name.strip() or any(unicodedata.category(ch) == "Cc" for ch in name):
            problems.append(Problem(where, f"file name {_show(ann.file_name)} is empty or holds control characters"))
        for k, obj in enumerate(ann.objects):
            why = _bad_name(obj.label)
            if why:
                problems.append(Problem(where, why, k, None))
            if not _finite(obj):
                problems.append(Problem(where, f"box {_fmt_box(obj.bbox)} or its polygons hold NaN or infinity", k, obj.label))
    if problems:
        raise AnnotationError(problems, f"objects that cannot be written as {fmt}")


def _write_atomic(path: Path, text: str) -> Path:
    """Write UTF-8 ``text`` so that a failed write leaves an existing file as it was."""
    from utils.images import write_atomically

    return write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline="\n"))


def _finite(obj: Object) -> bool:
    return bool(np.all(np.isfinite(obj.bbox)) and all(np.all(np.isfinite(p)) for p in obj.polygons))


def _read_text(path: Path, found: list, what: str = "a text file") -> str | None:
    """A UTF-8 text file, or ``None`` after appending a :class:`Problem`."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        found.append(Problem(str(path), "no such file"))
    except IsADirectoryError:
        found.append(Problem(str(path), f"is a folder, expected {what}"))
    except OSError as err:
        found.append(Problem(str(path), f"cannot be read ({err.strerror or err})"))
    except UnicodeDecodeError as err:
        found.append(Problem(str(path), f"not UTF-8 text ({err.reason} at byte {err.start})"))
    return None


def _read_json(path: Path, found: list):
    """A JSON file (``NaN``/``Infinity`` refused), or ``None`` after appending a :class:`Problem`."""
    def no_constant(name):
        raise ValueError(f"{name} is not valid JSON")

    text = _read_text(path, found, "a JSON file")
    if text is None:
        return None
    try:
        return json.loads(text, parse_constant=no_constant)
    except RecursionError:
        found.append(Problem(str(path), "JSON nested too deeply to be an annotation file"))
    except ValueError as err:  # json.JSONDecodeError, NaN/Infinity
        found.append(Problem(str(path), f"not valid JSON ({err})"))
    return None


# -------------------------------------------------------------------------- Pascal VOC


_EXACT = Context(prec=1000)  # decimal arithmetic wide enough that VOC's +1/-1 loses no digit of a float


def read_voc(path, problems: list | None = None) -> ImageAnnotation | None:
    """One Pascal VOC XML file → :class:`ImageAnnotation`.

    VOC boxes are 1-based inclusive pixel indices: ``x1 = xmin - 1``, ``x2 = xmax`` (done in
    decimal, so what :func:`write_voc` wrote reads back bit for bit).
    ``difficult``/``truncated`` (0 or 1) go to ``Object.attributes``. Raises :class:`AnnotationError`
    listing every problem (or appends them to ``problems`` and returns what it could read).
    """
    path = Path(path)
    src = str(path)
    found, finish = _collector(problems)
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        found.append(Problem(src, "no such file"))
        root = None
    except IsADirectoryError:
        found.append(Problem(src, "is a folder, expected a VOC XML file"))
        root = None
    except OSError as err:
        found.append(Problem(src, f"cannot be read ({err.strerror or err})"))
        root = None
    except (ET.ParseError, RecursionError) as err:
        found.append(Problem(src, f"not valid XML ({err if isinstance(err, ET.ParseError) else 'nested too deeply'})"))
        root = None
    if root is None:
        finish("problems in a VOC file")
        return None
    if root.tag != "annotation":
        found.append(Problem(src, f"root element is <{root.tag}>, expected <annotation>"))
    file_name = (root.findtext("filename") or "").strip()
    if not file_name:
        found.append(Problem(src, "no <filename>"))
    width, height = (None if root.findtext(f"size/{k}") is None else
                     _num(root.findtext(f"size/{k}"), f"<size>/<{k}>", src, found, text=True, whole=True, minimum=1)
                     for k in ("width", "height"))
    ann = ImageAnnotation(file_name, width, height, source=src)
    for k, node in enumerate(root.findall("object")):
        label = (node.findtext("name") or "").strip()
        if not label:
            found.append(Problem(src, "no <name>", k))
        coords = [node.findtext(f"bndbox/{c}") for c in ("xmin", "ymin", "xmax", "ymax")]
        if any(c is None for c in coords):
            found.append(Problem(src, "no complete <bndbox> (xmin, ymin, xmax, ymax)", k, label))
            continue
        vals = [_num(c, f"<{n}>", src, found, k, label, text=True) for c, n in zip(coords, ("xmin", "ymin", "xmax", "ymax"))]
        attrs = {}
        for a in ("difficult", "truncated"):
            if node.findtext(a) is not None:
                attrs[a] = _num(node.findtext(a), f"<{a}>", src, found, k, label, text=True, whole=True, minimum=0)
        if None in vals or None in attrs.values() or not label:
            continue
        x1, y1 = (float(_EXACT.subtract(Decimal(c.strip()), 1)) for c in coords[:2])
        ann.objects.append(Object(label, [x1, y1, vals[2], vals[3]], attributes=attrs, index=k))
    finish("problems in a VOC file")
    return ann


def _voc_number(value: float, plus: int = 0) -> str:
    """``value + plus`` as exact decimal text (integers without a decimal point)."""
    d = _EXACT.add(Decimal(repr(float(value))), plus)
    return str(int(d)) if d == d.to_integral_value() else format(d, "f")


def write_voc(ann: ImageAnnotation, path) -> Path:
    """Write one :class:`ImageAnnotation` as Pascal VOC XML (boxes only; see :func:`read_voc`).

    Coordinates are written exactly (no rounding); labels with control characters,
    non-finite boxes and a missing image size are refused before anything is written."""
    path = Path(path)
    _check_writable([ann], "VOC")
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = ""
    ET.SubElement(root, "filename").text = ann.file_name
    size = ET.SubElement(root, "size")
    for key, value in (("width", ann.width), ("height", ann.height), ("depth", 3)):
        if value is None:
            raise AnnotationError([Problem(str(path), f"image {ann.file_name!r} has no {key}: VOC needs the image size")])
        if int(value) != value:
            raise AnnotationError([Problem(str(path), f"image {ann.file_name!r} has {key} {value!r}: expected a whole number")])
        ET.SubElement(size, key).text = str(int(value))
    ET.SubElement(root, "segmented").text = "0"
    for obj in ann.objects:
        node = ET.SubElement(root, "object")
        ET.SubElement(node, "name").text = obj.label
        ET.SubElement(node, "pose").text = "Unspecified"
        ET.SubElement(node, "truncated").text = str(int(obj.attributes.get("truncated", 0)))
        ET.SubElement(node, "difficult").text = str(int(obj.attributes.get("difficult", 0)))
        box = ET.SubElement(node, "bndbox")
        x1, y1, x2, y2 = obj.bbox
        for key, value, plus in (("xmin", x1, 1), ("ymin", y1, 1), ("xmax", x2, 0), ("ymax", y2, 0)):
            ET.SubElement(box, key).text = _voc_number(value, plus)
    ET.indent(root)
    return _write_atomic(path, ET.tostring(root, encoding="unicode") + "\n")


# -------------------------------------------------------------------------------- COCO


def read_coco(path, problems: list | None = None) -> tuple[list[ImageAnnotation], list[str]]:
    """A COCO JSON file → ``(annotations, class_names)``, ``class_names = ["BG"] + names``
    ordered by category id (so ids 1..K map to list positions when they are contiguous).

    Polygons (``segmentation`` lists) become ``Object.polygons``; RLE masks are kept in
    ``Object.attributes["rle"]``; ``iscrowd`` in ``attributes["iscrowd"]``. Every image
    listed is returned, with or without objects.
    """
    path = Path(path)
    found, finish = _collector(problems)
    data = _read_json(path, found)
    if data is None:
        finish("problems in a COCO file")
        return [], ["BG"]
    src = str(path)
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data.get(k) if isinstance(data, dict) else None, list)]
    if missing:
        found.append(Problem(src, f"missing or not a list: {', '.join(missing)} (expected a COCO dict with images, annotations, categories)"))
        finish("problems in a COCO file")
        return [], ["BG"]
    cats: dict = {}
    for k, c in enumerate(data["categories"]):
        if not isinstance(c, dict) or not _is_id(c.get("id")) or not isinstance(c.get("name"), str):
            found.append(Problem(src, f"category {k} needs 'id' (an integer) and 'name' (a string), got {_show(c)}"))
        elif c["id"] in cats:
            found.append(Problem(src, f"category {k}: id {c['id']!r} is used twice ({cats[c['id']]!r} and {c['name']!r})"))
        else:
            cats[c["id"]] = c["name"]
    images, anns = {}, []
    for k, im in enumerate(data["images"]):
        if not isinstance(im, dict) or not _is_id(im.get("id")) or not isinstance(im.get("file_name"), str):
            found.append(Problem(src, f"image entry {k} needs 'id' (an integer) and 'file_name' (a string), got {_show(im)}"))
            continue
        if im["id"] in images:
            found.append(Problem(src, f"image entry {k}: id {im['id']!r} is used twice "
                                      f"({images[im['id']].file_name!r} and {im['file_name']!r})"))
            continue
        w, h = (None if im.get(key) is None else _num(im[key], f"image {im['id']!r} {key}", src, found, whole=True, minimum=1)
                for key in ("width", "height"))
        images[im["id"]] = ImageAnnotation(im["file_name"], w, h, source=src)
        anns.append(images[im["id"]])
    for k, a in enumerate(data["annotations"]):
        if not isinstance(a, dict):
            found.append(Problem(src, f"annotation {k} is not a dict", k))
            continue
        where = f"{src} (annotation id {_show(a.get('id', '?'))})"
        image_id, category_id = a.get("image_id"), a.get("category_id")
        if not _is_id(image_id) or image_id not in images:
            found.append(Problem(where, f"image_id {_show(image_id)} is not in 'images'", k))
            continue
        if not _is_id(category_id) or category_id not in cats:
            found.append(Problem(where, f"category_id {_show(category_id)} is not in 'categories'", k))
            continue
        label = cats[category_id]
        bbox = a.get("bbox")
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            found.append(Problem(where, f"bbox is {_show(bbox)}, expected [x, y, width, height]", k, label))
            continue
        vals = [_num(v, f"bbox {n}", where, found, k, label) for v, n in zip(bbox, ("x", "y", "width", "height"))]
        seg, polygons, attrs = a.get("segmentation"), [], {}
        if isinstance(seg, list):
            for p in seg:
                poly = _numbers(p, "segmentation polygon", where, found, k, label, pairs=True)
                if poly is not None and len(poly) < 3:
                    found.append(Problem(where, "a segmentation polygon needs an even number (>= 6) of coordinates", k, label))
                elif poly is not None:
                    polygons.append(poly)
        elif isinstance(seg, dict):
            attrs["rle"] = seg
        elif seg is not None:
            found.append(Problem(where, f"segmentation is {_show(seg)}, expected a list of polygons or an RLE dict", k, label))
        if a.get("iscrowd") not in (None, 0, 1) or isinstance(a.get("iscrowd"), bool):
            found.append(Problem(where, f"iscrowd is {_show(a.get('iscrowd'))}, expected 0 or 1", k, label))
        elif a.get("iscrowd"):
            attrs["iscrowd"] = 1
        if None in vals:
            continue
        x, y, w, h = vals
        images[image_id].objects.append(Object(label, [x, y, x + w, y + h], polygons, attrs, index=k))
    finish("problems in a COCO file")
    names = ["BG"] + [cats[i] for i in sorted(cats)]
    return anns, names


def to_coco(annotations: list[ImageAnnotation], class_names: list[str] | None = None) -> dict:
    """The COCO dict of a data set (image ids 1..N in order, category ids 1..K in
    ``object_classes(class_names)`` order; default :func:`class_names_of`). ``area`` is the
    polygon area when the object has polygons, the box area otherwise."""
    _check_writable(annotations, "COCO")
    classes = object_classes(class_names if class_names is not None else class_names_of(annotations))
    ids = {name: k + 1 for k, name in enumerate(classes)}
    problems = []
    out = {"info": {"description": "written by utils.annotations"}, "images": [], "annotations": [],
           "categories": [{"id": i, "name": n, "supercategory": "object"} for n, i in ids.items()]}
    for img_id, ann in enumerate(annotations, start=1):
        if ann.width is None or ann.height is None:
            problems.append(Problem(ann.source or ann.file_name, f"image {ann.file_name!r} has no width/height: COCO needs them"))
        out["images"].append({"id": img_id, "file_name": ann.file_name, "width": ann.width, "height": ann.height})
        for k, obj in enumerate(ann.objects):
            if obj.label not in ids:
                problems.append(Problem(ann.source or ann.file_name, f"class {obj.label!r} is not in {classes}", k, obj.label))
                continue
            x1, y1, x2, y2 = (float(v) for v in obj.bbox)
            entry = {"id": len(out["annotations"]) + 1, "image_id": img_id, "category_id": ids[obj.label],
                     "bbox": [x1, y1, x2 - x1, y2 - y1], "iscrowd": int(obj.attributes.get("iscrowd", 0))}
            if obj.polygons:
                entry["segmentation"] = [[float(v) for v in p.reshape(-1)] for p in obj.polygons]
                entry["area"] = sum(polygon_area(p) for p in obj.polygons)
            else:
                entry["segmentation"] = obj.attributes.get("rle", [])
                entry["area"] = (x2 - x1) * (y2 - y1)
            out["annotations"].append(entry)
    if problems:
        raise AnnotationError(problems, "objects that cannot be written as COCO")
    return out


def write_coco(annotations: list[ImageAnnotation], path, class_names: list[str] | None = None) -> Path:
    """Write a data set as one COCO JSON file (see :func:`to_coco`)."""
    return _write_atomic(Path(path), json.dumps(to_coco(annotations, class_names), indent=1, allow_nan=False))


# -------------------------------------------------------------------------------- YOLO


def read_yolo_file(path, class_names, width: int, height: int, file_name: str | None = None,
                   problems: list | None = None) -> ImageAnnotation | None:
    """One YOLO label file → :class:`ImageAnnotation` (pixel boxes from normalised ones).

    A line is ``class cx cy w h`` (detection) or ``class x1 y1 x2 y2 ...`` (segmentation,
    at least 3 points); values 0..1 relative to the image ``width``/``height``; ``class``
    is the 0-based index in ``object_classes(class_names)``.
    """
    path = Path(path)
    found, finish = _collector(problems)
    classes = object_classes(class_names)
    text = _read_text(path, found)
    if text is None:
        finish("problems in a YOLO file")
        return None
    ann = ImageAnnotation(file_name or path.stem, width, height, source=str(path))
    for k, line in enumerate(ln for ln in text.splitlines() if ln.strip()):
        parts = line.split()
        cls = _num(parts[0], "class index", str(path), found, k, text=True, whole=True, minimum=0)
        if cls is None:
            continue
        if cls >= len(classes):
            found.append(Problem(str(path), f"class index {cls} is not in 0..{len(classes) - 1} ({len(classes)} classes)", k))
            continue
        label = classes[cls]
        sub: list = []
        vals = np.array([_num(v, f"value {i + 1}", str(path), sub, k, label, text=True) for i, v in enumerate(parts[1:])])
        if sub:
            found.append(sub[0])
        elif len(vals) == 4:
            cx, cy, w, h = vals * [width, height, width, height]
            ann.objects.append(Object(label, [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], index=k))
        elif len(vals) >= 6 and len(vals) % 2 == 0:
            poly = vals.astype(np.float64).reshape(-1, 2) * [width, height]
            ann.objects.append(Object(label, polygons_bbox([poly]), [poly], index=k))
        else:
            found.append(Problem(str(path), f"line {_show(line)}: expected 4 box values or >= 3 polygon points", k, label))
    finish("problems in a YOLO file")
    return ann


def read_classes(path) -> list[str]:
    """A ``classes.txt`` (one name per line, YOLO order) → ``["BG"] + names``."""
    path = Path(path)
    if not path.exists():
        raise AnnotationError([Problem(str(path), "no such file (expected one class name per line)")])
    found: list[Problem] = []
    text = _read_text(path, found)
    if text is None:
        raise AnnotationError(found)
    names = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not names:
        raise AnnotationError([Problem(str(path), "no class names in the file")])
    return ["BG"] + names


def read_yolo(folder, image_dir=None, class_names=None, problems: list | None = None) -> list[ImageAnnotation]:
    """A folder of YOLO label files (``*.txt`` + ``classes.txt``) → annotations.

    The image of ``x.txt`` is the file ``x.<image suffix>`` in ``image_dir`` (default: the
    label folder); its size converts normalised coordinates to pixels, so a missing image
    is a problem. ``class_names`` defaults to ``classes.txt`` in the folder.
    """
    from utils.images import IMAGE_SUFFIXES

    folder = Path(folder)
    found, finish = _collector(problems)
    image_dir = Path(image_dir) if image_dir else folder
    if class_names is None:
        try:
            class_names = read_classes(folder / "classes.txt")
        except AnnotationError as err:
            found.extend(err.problems)
            finish("problems in a YOLO folder")
            return []
    anns = []
    for txt in sorted(p for p in folder.glob("*.txt") if p.name != "classes.txt"):
        candidates = [image_dir / (txt.stem + s) for s in IMAGE_SUFFIXES if (image_dir / (txt.stem + s)).is_file()]
        if len(candidates) > 1:
            found.append(Problem(str(txt), f"several images share its stem ({', '.join(c.name for c in candidates)}): "
                                           "which one it labels is ambiguous"))
            continue
        image = candidates[0] if candidates else None
        size = _image_size(image) if image else None
        if size is None:
            found.append(Problem(str(txt), f"no readable image {txt.stem}.* in {image_dir} (YOLO needs it for the image size)"))
            continue
        ann = read_yolo_file(txt, class_names, size[0], size[1], image.name, found)
        if ann is not None:
            anns.append(ann)
    finish("problems in a YOLO folder")
    return anns


def write_yolo(annotations: list[ImageAnnotation], folder, class_names: list[str] | None = None,
               task: str = "detect") -> Path:
    """Write YOLO label files ``<image stem>.txt`` and ``classes.txt`` into ``folder``.

    ``task="detect"``: one ``class cx cy w h`` line per object (boxes only);
    ``task="segment"``: ``class x1 y1 x2 y2 ...`` from the object's polygon (an object
    without a polygon, or with several parts, raises: YOLO has one outline per line).
    """
    if task not in ("detect", "segment"):
        raise ValueError(f"task={task!r}: expected 'detect' or 'segment'")
    folder = Path(folder)
    _check_writable(annotations, "YOLO")
    classes = object_classes(class_names if class_names is not None else class_names_of(annotations))
    where_classes = str(folder / "classes.txt")
    problems = [Problem(where_classes, _bad_name(c)) for c in classes if _bad_name(c)]
    if len(set(classes)) != len(classes):
        problems.append(Problem(where_classes, f"class names repeat: {classes}"))
    files: dict = {}
    owner: dict = {}
    for ann in annotations:
        where = ann.source or ann.file_name
        txt = Path(ann.file_name).stem + ".txt"
        if txt in owner:
            problems.append(Problem(where, f"images {owner[txt]!r} and {ann.file_name!r} would share the label file "
                                           f"{txt} (YOLO names label files by image stem): rename one"))
            continue
        owner[txt] = ann.file_name
        if not ann.width or not ann.height:
            problems.append(Problem(where, f"image {ann.file_name!r} has no width/height: YOLO needs them"))
            continue
        lines = []
        for k, obj in enumerate(ann.objects):
            if obj.label not in classes:
                problems.append(Problem(where, f"class {obj.label!r} is not in {classes}", k, obj.label))
                continue
            cls = classes.index(obj.label)
            if task == "detect":
                cx, cy, w, h = ((obj.bbox[:2] + obj.bbox[2:]) / 2).tolist() + (obj.bbox[2:] - obj.bbox[:2]).tolist()
                vals = [cx / ann.width, cy / ann.height, w / ann.width, h / ann.height]
            elif len(obj.polygons) == 1:
                vals = (obj.polygons[0] / [ann.width, ann.height]).reshape(-1).tolist()
            else:
                problems.append(Problem(where, f"has {len(obj.polygons)} polygons; YOLO segment needs exactly one", k, obj.label))
                continue
            lines.append(" ".join([str(cls)] + [f"{v:.6f}" for v in vals]))
        files[txt] = "\n".join(lines) + ("\n" if lines else "")
    if problems:
        raise AnnotationError(problems, "objects that cannot be written as YOLO")
    for name, text in files.items():
        _write_atomic(folder / name, text)
    _write_atomic(folder / "classes.txt", "\n".join(classes) + "\n")
    return folder


# ------------------------------------------------------------------------------ labelme


def _shape_object(kind: str, pts: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]] | str:
    """(bbox, polygons) of a labelme/VIA shape from its points, or an error message."""
    if kind in ("rectangle", "rect"):
        if len(pts) != 2:
            return f"a rectangle needs 2 points, got {len(pts)}"
        return np.r_[pts.min(0), pts.max(0)], []
    if kind == "polygon":
        if len(pts) < 3:
            return f"a polygon needs at least 3 points, got {len(pts)}"
        return polygons_bbox([pts]), [pts]
    if kind == "circle":  # labelme: centre and a point on the circle
        if len(pts) != 2:
            return f"a circle needs 2 points (centre, rim), got {len(pts)}"
        r = float(np.hypot(*(pts[1] - pts[0])))
        return np.r_[pts[0] - r, pts[0] + r], []
    return f"shape type {kind!r} has no area (supported: rectangle, polygon, circle)"


def read_labelme(path, problems: list | None = None) -> ImageAnnotation | None:
    """One labelme JSON file → :class:`ImageAnnotation`.

    Rectangles become boxes; polygons become polygons (and their box); circles become
    boxes. Shapes with the same ``label`` and a non-null ``group_id`` are merged into one
    object with several polygons (labelme's own convention for split objects). Points,
    lines and line strips have no area and are reported as problems.
    """
    path = Path(path)
    found, finish = _collector(problems)
    data = _read_json(path, found)
    src = str(path)
    if data is None or not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        if data is not None:
            found.append(Problem(src, "expected a labelme dict with 'shapes' (list), 'imagePath', 'imageWidth', 'imageHeight'"))
        finish("problems in a labelme file")
        return None
    for key in ("imagePath", "imageWidth", "imageHeight"):
        if key not in data:
            found.append(Problem(src, f"missing {key!r}"))
    image_path = data.get("imagePath", "")
    if not isinstance(image_path, str):
        found.append(Problem(src, f"imagePath is {_show(image_path)}, expected a file name"))
        image_path = ""
    width, height = (None if data.get(key) is None else _num(data[key], key, src, found, whole=True, minimum=1)
                     for key in ("imageWidth", "imageHeight"))
    ann = ImageAnnotation(image_path, width, height, source=src)
    groups: dict = {}
    for k, shape in enumerate(data["shapes"]):
        raw_label = shape.get("label") if isinstance(shape, dict) else None
        label = raw_label.strip() if isinstance(raw_label, str) else ""
        if not label or "points" not in shape:
            found.append(Problem(src, "a shape needs 'label' (a string) and 'points'", k))
            continue
        pts = _numbers(shape["points"], "points", src, found, k, label, pairs=True)
        group = shape.get("group_id")
        if group is not None and not _is_id(group):
            found.append(Problem(src, f"group_id is {_show(group)}, expected an integer or null", k, label))
            continue
        if pts is None:
            continue
        kind = shape.get("shape_type", "polygon")
        got = _shape_object(kind if isinstance(kind, str) else _show(kind), pts)
        if isinstance(got, str):
            found.append(Problem(src, got, k, label))
            continue
        bbox, polygons = got
        if group is not None and (label, group) in groups:
            obj = groups[(label, group)]
            obj.polygons.extend(polygons)
            obj.bbox = np.r_[np.minimum(obj.bbox[:2], bbox[:2]), np.maximum(obj.bbox[2:], bbox[2:])]
            continue
        obj = Object(label, bbox, polygons, index=k)
        if group is not None:
            groups[(label, group)] = obj
        ann.objects.append(obj)
    finish("problems in a labelme file")
    return ann


def write_labelme(ann: ImageAnnotation, path, image_path: str | None = None) -> Path:
    """Write one :class:`ImageAnnotation` as a labelme JSON (``version`` 5.x layout).

    An object with polygons becomes ``polygon`` shapes (several parts share a
    ``group_id``), a box-only object a ``rectangle``. ``imagePath`` is ``image_path``
    (default ``ann.file_name``), relative to the JSON file as labelme stores it;
    ``imageData`` is ``null`` (labelme then loads the image from ``imagePath``).
    """
    path = Path(path)
    _check_writable([ann], "labelme")
    shapes = []
    for k, obj in enumerate(ann.objects):
        base = {"label": obj.label, "description": "", "flags": {}, "mask": None}
        if obj.polygons:
            group = k if len(obj.polygons) > 1 else None
            for poly in obj.polygons:
                shapes.append({**base, "points": poly.tolist(), "group_id": group, "shape_type": "polygon"})
        else:
            shapes.append({**base, "points": obj.bbox.reshape(2, 2).tolist(), "group_id": None, "shape_type": "rectangle"})
    data = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": image_path or ann.file_name,
            "imageData": None, "imageHeight": ann.height, "imageWidth": ann.width}
    return _write_atomic(path, json.dumps(data, indent=2, allow_nan=False))


# ---------------------------------------------------------------------------------- VIA


def read_via(path, image_dir=None, class_attribute: str | None = "class",
             problems: list | None = None) -> list[ImageAnnotation]:
    """A VIA 2 JSON file → annotations: a project (*Project → Save*, with
    ``_via_img_metadata``) or an annotation export (*Annotation → Export as json*,
    which is that part alone).

    Regions: ``rect``, ``polygon``, ``circle`` and ``ellipse`` (circles and ellipses as
    boxes). The class is the region attribute ``class_attribute`` (``None``: the only
    attribute). Regions with the same class and a ``group`` attribute form one object.
    VIA does not store image sizes: they come from the images in ``image_dir`` (default:
    the JSON's folder) and stay ``None`` when the image is not found.
    """
    path = Path(path)
    found, finish = _collector(problems)
    data = _read_json(path, found)
    src = str(path)
    if data is None:
        finish("problems in a VIA file")
        return []
    meta = data.get("_via_img_metadata", data) if isinstance(data, dict) else None
    if not isinstance(meta, dict):
        found.append(Problem(src, "expected a VIA 2 project or export (a dict of images with 'filename' and 'regions')"))
        finish("problems in a VIA file")
        return []
    folder = Path(image_dir) if image_dir else path.parent
    anns = []
    for key, entry in meta.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("regions"), list):
            found.append(Problem(f"{src} [{key}]", "expected 'filename' and 'regions' (a list, VIA 2)"))
            continue
        if not isinstance(entry.get("filename"), str) or not entry["filename"].strip():
            found.append(Problem(f"{src} [{key}]", f"filename is {_show(entry.get('filename'))}, expected a file name"))
            continue
        image = folder / entry["filename"]
        size = _image_size(image) if image.is_file() else None
        ann = ImageAnnotation(entry["filename"], *(size or (None, None)), source=f"{src} [{entry['filename']}]")
        groups: dict = {}
        for k, region in enumerate(entry["regions"]):
            shape = region.get("shape_attributes", {}) if isinstance(region, dict) else None
            attrs = region.get("region_attributes", {}) if isinstance(region, dict) else None
            if not isinstance(shape, dict) or not isinstance(attrs, dict):
                found.append(Problem(ann.source, "a region needs 'shape_attributes' and 'region_attributes' (dicts), "
                                                 f"got {_show(region)}", k))
                continue
            if class_attribute is None:
                label_keys = [a for a in attrs if a != "group"]
                value = attrs[label_keys[0]] if len(label_keys) == 1 else ""
            else:
                value = attrs.get(class_attribute, "")
            label = value.strip() if isinstance(value, str) else ""
            if not label:
                found.append(Problem(ann.source, f"region has no class attribute {class_attribute!r} (a string; "
                                                 f"its attributes: {_show(sorted(map(str, attrs)))})", k))
                continue
            kind = shape.get("name")
            pts = None
            if kind == "rect":
                x, y, w, h = (_num(shape.get(n), f"rect {n}", ann.source, found, k, label) for n in ("x", "y", "width", "height"))
                if None not in (w, h) and (w < 0 or h < 0):
                    found.append(Problem(ann.source, f"rect width {w:g} and height {h:g}: expected sizes >= 0", k, label))
                elif None not in (x, y, w, h):
                    pts = np.array([[x, y], [x + w, y + h]])
            elif kind == "polygon":
                xs, ys = (_numbers(shape.get(n), n, ann.source, found, k, label) for n in ("all_points_x", "all_points_y"))
                if xs is not None and ys is not None:
                    if len(xs) != len(ys):
                        found.append(Problem(ann.source, f"polygon has {len(xs)} x and {len(ys)} y values", k, label))
                    else:
                        pts = np.c_[xs, ys]
            elif kind in ("circle", "ellipse"):
                names = ("cx", "cy", "r", "r") if kind == "circle" else ("cx", "cy", "rx", "ry")
                cx, cy, rx, ry = (_num(shape.get(n), f"{kind} {n}", ann.source, found, k, label, minimum=0 if n[0] == "r" else None)
                                  for n in names)
                if None not in (cx, cy, rx, ry):
                    pts = np.array([[cx - rx, cy - ry], [cx + rx, cy + ry]])
            else:
                found.append(Problem(ann.source, f"region shape {_show(kind)} has no area (supported: rect, polygon, circle, ellipse)", k, label))
            if pts is None:
                continue
            got = _shape_object("polygon" if kind == "polygon" else "rect", pts)
            if isinstance(got, str):
                found.append(Problem(ann.source, got, k, label))
                continue
            bbox, polygons = got
            group = attrs.get("group")
            if group is not None and not isinstance(group, (str, int)):
                found.append(Problem(ann.source, f"group attribute is {_show(group)}, expected a string", k, label))
                continue
            if group not in (None, "") and (label, group) in groups:
                obj = groups[(label, group)]
                obj.polygons.extend(polygons)
                obj.bbox = np.r_[np.minimum(obj.bbox[:2], bbox[:2]), np.maximum(obj.bbox[2:], bbox[2:])]
                continue
            obj = Object(label, bbox, polygons, index=k)
            if group not in (None, ""):
                groups[(label, group)] = obj
            ann.objects.append(obj)
        anns.append(ann)
    finish("problems in a VIA file")
    return anns


def write_via(annotations: list[ImageAnnotation], path, image_dir=None, class_attribute: str = "class") -> Path:
    """Write a VIA 2 project JSON (open it with *Project → Load* in ``via.html``).

    Box-only objects become ``rect`` regions, polygons ``polygon`` regions (parts of one
    object share a ``group`` region attribute). Keys are ``filename + size`` as VIA makes
    them, with the image's byte size when it is found in ``image_dir`` (-1 otherwise).
    """
    path = Path(path)
    _check_writable(annotations, "VIA")
    folder = Path(image_dir) if image_dir else path.parent
    meta, names = {}, sorted({o.label for a in annotations for o in a.objects})
    twice = sorted({a.file_name for a in annotations if [b.file_name for b in annotations].count(a.file_name) > 1})
    if twice:
        raise AnnotationError([Problem(str(path), f"image {n!r} is listed twice: VIA keeps one entry per image")
                               for n in twice], "images that cannot be written as VIA")
    for ann in annotations:
        image = folder / ann.file_name
        size = image.stat().st_size if image.is_file() else -1
        regions = []
        for k, obj in enumerate(ann.objects):
            attrs = {class_attribute: obj.label}
            if len(obj.polygons) > 1:
                attrs["group"] = str(k)
            if obj.polygons:
                for poly in obj.polygons:
                    regions.append({"shape_attributes": {"name": "polygon", "all_points_x": poly[:, 0].tolist(),
                                                         "all_points_y": poly[:, 1].tolist()},
                                    "region_attributes": dict(attrs)})
            else:
                x1, y1, x2, y2 = (float(v) for v in obj.bbox)
                regions.append({"shape_attributes": {"name": "rect", "x": x1, "y": y1, "width": x2 - x1, "height": y2 - y1},
                                "region_attributes": attrs})
        meta[f"{ann.file_name}{size}"] = {"filename": ann.file_name, "size": size, "regions": regions, "file_attributes": {}}
    project = {
        "_via_settings": {"ui": {"annotation_editor_height": 25, "annotation_editor_fontsize": 0.8,
                                 "leftsidebar_width": 18, "image_grid": {}, "image": {"region_label": class_attribute}},
                          "core": {"buffer_size": 18, "filepath": {}, "default_filepath": ""},
                          "project": {"name": path.stem}},
        "_via_img_metadata": meta,
        "_via_attributes": {"region": {class_attribute: {"type": "dropdown", "description": "object class",
                                                         "options": {n: "" for n in names}, "default_options": {}}},
                            "file": {}},
        "_via_data_format_version": "2.0.10",
        "_via_image_id_list": list(meta),
    }
    return _write_atomic(path, json.dumps(project, indent=1, allow_nan=False))


# ----------------------------------------------------------------- reading any format


def read(path, fmt: str, image_dir=None, class_names=None, problems: list | None = None) -> list[ImageAnnotation]:
    """Read a data set in any format: ``voc``/``labelme`` take a file or a folder of
    ``*.xml``/``*.json`` files, ``coco``/``via`` one JSON file, ``yolo`` a label folder.
    Raises :class:`AnnotationError` listing every problem (or appends to ``problems``)."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt={fmt!r}: expected one of {', '.join(FORMATS)}")
    path = Path(path)
    found, finish = _collector(problems)
    if fmt in ("voc", "labelme"):
        files = sorted(path.glob("*.xml" if fmt == "voc" else "*.json")) if path.is_dir() else [path]
        if not files:
            found.append(Problem(str(path), f"no {'*.xml' if fmt == 'voc' else '*.json'} files in the folder"))
        reader = read_voc if fmt == "voc" else read_labelme
        anns = [a for a in (reader(f, found) for f in files) if a is not None]
    elif fmt == "coco":
        anns = read_coco(path, found)[0]
    elif fmt == "via":
        anns = read_via(path, image_dir, problems=found)
    else:
        anns = read_yolo(path, image_dir, class_names, found)
    finish(f"problems reading {fmt} annotations")
    return anns


# ------------------------------------------------------------------------- validation


def validate(source, fmt: str | None = None, class_names=None, image_dir=None) -> list[ImageAnnotation]:
    """Check a data set and raise one :class:`AnnotationError` listing **every** problem,
    each with its file and object; return the annotations when there is none (``2_6``).

    Args:
        source: a path read with :func:`read` (give ``fmt``), or a list of
            :class:`ImageAnnotation` already in memory.
        class_names: the allowed classes (``"BG"`` may lead); ``None`` skips that check.
        image_dir: where the images are; default: beside the annotation file (labelme and
            VIA), the label folder (YOLO), or not checked (VOC, COCO, in-memory lists).

    Reported: malformed files (bad JSON/XML, missing keys, shapes without area),
    unknown classes, boxes with zero or negative width or height, boxes or polygon points
    outside the image, unknown image size, missing image files, and image files whose size
    disagrees with the annotation. Nothing is skipped or fixed.
    """
    problems: list[Problem] = []
    if isinstance(source, (str, Path)):
        if fmt is None:
            raise ValueError("validate: give fmt= when source is a path")
        anns = read(source, fmt, image_dir=image_dir, class_names=class_names, problems=problems)
    else:
        anns = list(source)
    allowed = None if class_names is None else set(object_classes(class_names))
    for ann in anns:
        where = ann.source or ann.file_name
        folders = [Path(image_dir)] if image_dir else []
        if not image_dir and fmt in ("labelme", "via", "yolo") and ann.source:
            folders.append(Path(ann.source.split(" [")[0]).parent)
        if folders:
            image = _find_image(ann.file_name, folders)
            if image is None:
                problems.append(Problem(where, f"image file {ann.file_name!r} not found in {', '.join(map(str, folders))}"))
            else:
                size = _image_size(image)
                if size is None:
                    problems.append(Problem(where, f"image file {image} cannot be read"))
                elif ann.width is not None and ann.height is not None and size != (ann.width, ann.height):
                    problems.append(Problem(where, f"annotation says {ann.width}x{ann.height} but {image.name} is {size[0]}x{size[1]}"))
        if ann.width is None or ann.height is None:
            problems.append(Problem(where, f"size of image {ann.file_name!r} unknown (no width/height and no image file)"))
        for pos, obj in enumerate(ann.objects):
            k = pos if obj.index is None else obj.index  # as numbered in the file
            if allowed is not None and obj.label not in allowed:
                problems.append(Problem(where, f"unknown class {obj.label!r} (known: {', '.join(sorted(allowed))})", k, obj.label))
            if not _finite(obj):
                problems.append(Problem(where, f"box {_fmt_box(obj.bbox)} or its polygons hold NaN or infinity", k, obj.label))
                continue
            x1, y1, x2, y2 = obj.bbox
            if x2 <= x1 or y2 <= y1:
                problems.append(Problem(where, f"box {_fmt_box(obj.bbox)} has zero or negative size "
                                               f"({x2 - x1:g} x {y2 - y1:g})", k, obj.label))
            if ann.width is not None and ann.height is not None:
                if x1 < 0 or y1 < 0 or x2 > ann.width or y2 > ann.height:
                    problems.append(Problem(where, f"box {_fmt_box(obj.bbox)} extends outside the "
                                                   f"{ann.width}x{ann.height} image", k, obj.label))
                for poly in obj.polygons:
                    if np.any(poly < 0) or np.any(poly[:, 0] > ann.width) or np.any(poly[:, 1] > ann.height):
                        problems.append(Problem(where, f"polygon points outside the {ann.width}x{ann.height} image", k, obj.label))
                        break
    if problems:
        problems.sort(key=lambda p: (p.file, -1 if p.object is None else p.object))  # file by file, in file order
        raise AnnotationError(problems, "annotation problems")
    return anns


def _fmt_box(b) -> str:
    return "[" + ", ".join(f"{v:g}" for v in np.round(np.asarray(b, float), 2)) + "]"


# ------------------------------------------------------------- bridges to the course


def to_detection(annotations: list[ImageAnnotation], class_names: list[str]) -> list[dict]:
    """Annotations → ``[dict(boxes (K, 4) float32 xyxy, class_ids (K,) int32)]``, class ids
    being positions in ``class_names`` (``"BG"`` at 0 gives :mod:`utils.data`'s 1-based
    ids), ready for :func:`utils.detection.coco_evaluate` and :func:`utils.detection.draw_boxes`.
    An unknown class raises :class:`AnnotationError` listing them all."""
    names = list(class_names)
    problems, out = [], []
    for ann in annotations:
        for k, o in enumerate(ann.objects):
            if o.label not in names:
                problems.append(Problem(ann.source or ann.file_name, f"unknown class {o.label!r}", k, o.label))
        out.append({"boxes": np.array([o.bbox for o in ann.objects], np.float32).reshape(-1, 4),
                    "class_ids": np.array([names.index(o.label) if o.label in names else -1 for o in ann.objects], np.int32)})
    if problems:
        raise AnnotationError(problems, "objects with classes outside class_names")
    return out


def from_instance_set(dataset, indices=None, file_names=None, polygons: bool = True,
                      tolerance: float = 0.0) -> list[ImageAnnotation]:
    """Annotations of images of a :class:`utils.data.InstanceSet` (e.g. ``pasted_objects``):
    exact boxes, and (``polygons=True``) the outlines of the visible masks from
    :func:`mask_to_polygons` (``2_6``). ``file_names`` default ``image_000.png``, ...
    """
    indices = range(len(dataset)) if indices is None else list(indices)
    anns = []
    for n, i in enumerate(indices):
        item = dataset[i]
        h, w = item["image"].shape[:2]
        name = file_names[n] if file_names is not None else f"image_{i:03d}.png"
        objects = [Object(dataset.class_names[int(c)], box,
                          mask_to_polygons(item["masks"][..., k], tolerance) if polygons else [])
                   for k, (c, box) in enumerate(zip(item["class_ids"], item["boxes"]))]
        anns.append(ImageAnnotation(name, w, h, objects, source=name))
    return anns


# ------------------------------------------------- your own annotations, for training (2_6 -> 3_3)

VIA_EXPORT = "via_region_data.json"
"""The file name of a VIA export in an image folder (Matterport's balloon sample, ``3_3``)."""


def find_own_annotations(folder) -> tuple[str, Path]:
    """Which tool's annotations an image folder holds (``2_6``, ``3_3``, ``3_4``).

    Returns ``("via", folder/via_region_data.json)`` when VIA's export (or a saved VIA
    project under that name) is there, else ``("labelme", folder)`` when labelme's JSON
    files (one per image, with ``shapes``) are. Raises ``FileNotFoundError`` naming the
    folder and what to put there when the folder is missing, holds no image, or holds
    images but no annotation yet. Nothing is written.
    """
    from utils.images import list_images

    folder = Path(folder)
    todo = (f"put your photos in {folder} and annotate them there: with VIA, export the annotations as "
            f"{VIA_EXPORT} into that folder (Annotation > Export Annotations (as json)); with labelme, run "
            f"`labelme {folder} --nodata --autosave` (one JSON per photo beside it)")
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder. {todo}")
    if (folder / VIA_EXPORT).is_file():
        return "via", folder / VIA_EXPORT
    labelme = []
    for f in sorted(folder.glob("*.json")):
        try:
            content = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            labelme.append(f)  # a broken labelme file: reading it reports the problem
            continue
        if isinstance(content, dict) and "shapes" in content:
            labelme.append(f)
        elif isinstance(content, dict) and ("_via_img_metadata" in content or any(
                isinstance(v, dict) and "regions" in v for v in content.values())):
            raise FileNotFoundError(f"{f}: a VIA file under another name; rename it to {folder / VIA_EXPORT} "
                                    "so the course finds it")
    if labelme:
        return "labelme", folder
    try:
        list_images(folder)
    except (OSError, ValueError):  # utils.images.ImageError: no image file
        raise FileNotFoundError(f"{folder}: no images in this folder. {todo}") from None
    raise FileNotFoundError(f"{folder}: images but no annotations ({VIA_EXPORT} or labelme *.json). {todo}")


def convert_own_annotations(folder, out_json, class_names) -> tuple[str, list[ImageAnnotation]]:
    """Read, validate and convert the annotations of one image folder for Mask R-CNN
    training (``2_6`` shows it, ``3_3`` and ``3_4`` call it again before they train or score).

    Args:
        folder: the images and their VIA export or labelme files (see :func:`find_own_annotations`).
        out_json: where to write the result, a VIA 2 project whose regions all carry the
            region attribute ``"class"`` (what ``utils.mrcnn.utils.ViaDataset(folder,
            json_file=out_json, class_attribute="class")`` reads). Must lie outside ``folder``:
            the folder you annotate into is never written to.
        class_names: the allowed classes (``"BG"`` may lead). With a single class, VIA regions
            without any attribute are that class (VIA's default: plain regions, as in
            Matterport's balloon set).

    Returns ``(tool, annotations)`` with ``tool`` ``"via"`` or ``"labelme"``. Raises
    ``FileNotFoundError`` (no folder, no images, no annotations: what to put where) or one
    :class:`AnnotationError` listing every problem (the output file is then not written).
    """
    folder, out_json = Path(folder).resolve(), Path(out_json).resolve()
    if out_json == folder or folder in out_json.parents:
        raise ValueError(f"convert_own_annotations: out_json {out_json} lies inside {folder}, the folder you "
                         "annotate into; write it elsewhere (e.g. under outputs/)")
    classes = object_classes(class_names)
    tool, source = find_own_annotations(folder)
    if tool == "labelme":
        anns = validate(folder, "labelme", class_names=classes, image_dir=folder)
    else:
        found: list[Problem] = []
        data = _read_json(source, found)
        if found:
            raise AnnotationError(found, "problems in a VIA file")
        meta = data.get("_via_img_metadata", data) if isinstance(data, dict) else data
        if isinstance(meta, dict) and len(classes) == 1:  # plain regions are the one class
            for entry in meta.values():
                for region in (entry.get("regions") or []) if isinstance(entry, dict) else []:
                    attrs = region.get("region_attributes") if isinstance(region, dict) else None
                    if isinstance(region, dict) and not [a for a in (attrs or {}) if a != "group"]:
                        region["region_attributes"] = {**(attrs or {}), "class": classes[0]}
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            normalised = Path(tmp) / VIA_EXPORT
            normalised.write_text(json.dumps(meta), encoding="utf-8")
            problems: list[Problem] = []
            anns = read_via(normalised, image_dir=folder, class_attribute=None, problems=problems)
            for p in problems:
                p.file = p.file.replace(str(normalised), str(source))
            for a in anns:
                a.source = a.source.replace(str(normalised), str(source))
            if problems:
                raise AnnotationError(problems, "problems in a VIA file")
        anns = validate(anns, class_names=classes, image_dir=folder)
    if not anns:
        raise AnnotationError([Problem(str(source), "no annotated image")], "annotation problems")
    write_via(anns, out_json, image_dir=folder, class_attribute="class")
    return tool, anns
