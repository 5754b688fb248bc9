"""YOLO data set folders on disk, the way practitioners keep them (used by ``7_1`` and ``7_2``).

The layout of the YOLO ecosystem (Ultralytics, YOLOv5/v8)::

    root/
      data.yaml                  path, train, val, test, names (and ``channels: 1``)
      images/train/x.png ...     one image per file
      labels/train/x.txt ...     one label file per image, same stem: ``class cx cy w h`` per line
      labels/train/classes.txt   the class names, one a line (so ``utils.annotations.read_yolo``
      images/val/ labels/val/    reads a split folder on its own)
      images/test/ labels/test/

- Label lines are read and written by :mod:`utils.annotations` (``read_yolo_file``,
  ``write_yolo``): class index 0-based in ``names``, values 0..1 relative to the image size.
  An image with no object has an **empty** label file; a missing label file is a problem
  (the YOLO trainers would silently take it as background).
- ``names`` never holds ``"BG"``; :attr:`YoloDataset.class_names` is ``["BG"] + names`` for
  :mod:`utils.data`-style 1-based class ids (:func:`utils.annotations.to_detection`).
- The folder that holds ``data.yaml`` is the root used to find ``images/`` and ``labels/``.
  ``path`` is written as that folder's absolute path (what Ultralytics needs to train from
  anywhere) and read back as :attr:`YoloDataset.yaml_path`; a folder moved elsewhere still reads.

In memory a data set is a :class:`YoloDataset`: ``names`` and, per split, a list of
:class:`Sample` (an :class:`utils.annotations.ImageAnnotation` with pixel ``xyxy`` boxes and its
image: a file path, or an array to save).

**Nothing is lost silently.** :func:`read_dataset` (alias :func:`validate_dataset`) checks the
whole folder and raises one :class:`utils.annotations.AnnotationError` listing every problem
with its file: bad ``data.yaml``, missing split folders, images without label files, label
files without images, unreadable images, malformed lines, non-finite numbers, values outside
0..1, boxes without area, unknown class ids, several images sharing a stem (in one split or
across splits), a ``classes.txt`` or ``nc`` disagreeing with ``names``, a ``channels: 1`` set
holding colour images. :func:`write_dataset` refuses (before writing anything) what would not
read back the same, refuses a non-empty folder unless ``overwrite=True``, never deletes a file,
and writes every file atomically.

Conversions: :func:`from_coco` (with ``keys="hit-uav"`` for HIT-UAV's COCO-like JSON whose
keys are ``annotation`` and ``filename``), :func:`from_voc`, :func:`coco_to_yolo`,
and back with :func:`to_coco` and :func:`to_voc`. :func:`write_synthetic` writes a small
deterministic set from :func:`utils.data.pasted_objects`, so notebooks train from a folder.

Training input: :func:`tf_dataset` turns a split into a ``tf.data.Dataset`` of images and
padded boxes, optionally through :func:`augment` (flip, scale, crop/pad) and :func:`mosaic`,
which move every box with its pixels (stateless random ops: same seed, same batches).

Atomic means per file: each file is complete or absent, never half-written; a set written
into an existing folder (``overwrite=True``) is replaced file by file.
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utils import annotations as A
from utils.annotations import AnnotationError, ImageAnnotation, Object, Problem

SPLITS = ("train", "val", "test")
HIT_UAV_KEYS = {"annotation": "annotations", "filename": "file_name"}
"""HIT-UAV's JSON keys → COCO's (``keys="hit-uav"`` in :func:`from_coco`)."""
_TOL = 1e-6  # label values are written with 6 decimals: corners may pass 0..1 by this much


@dataclass
class Sample:
    """One image of a data set: its annotation (pixel ``xyxy`` boxes, ``file_name`` the image's
    name inside ``images/<split>/``) and its pixels: a ``Path`` to an image file (copied byte
    for byte when written) or an array ``(H, W)`` / ``(H, W, 3)`` uint8, or ``(H, W)`` uint16 (a
    16-bit single-channel image such as radiometric thermal counts, ``7_1``: saved as a 16-bit
    PNG or TIFF), saved by suffix."""

    annotation: ImageAnnotation
    image: Path | np.ndarray


@dataclass
class YoloDataset:
    """A YOLO data set: ``names`` (YOLO order, no ``"BG"``), ``splits`` ``{split: [Sample]}``,
    ``channels`` (1 or 3), ``root`` (where it was read from), ``yaml_path`` (``path`` in data.yaml)
    and ``extra`` (its other keys)."""

    names: list[str]
    splits: dict[str, list[Sample]] = field(default_factory=dict)
    channels: int = 3
    root: Path | None = None
    yaml_path: str | None = None
    extra: dict = field(default_factory=dict)
    """Other data.yaml keys (``download``, an exporter's own...), kept as read, not written back."""

    @property
    def class_names(self) -> list[str]:
        """``["BG"] + names``: the class list of :mod:`utils.data` (class id = YOLO index + 1)."""
        return ["BG"] + list(self.names)

    def annotations(self, split: str) -> list[ImageAnnotation]:
        """The annotations of one split."""
        return [s.annotation for s in self.splits.get(split, [])]

    def counts(self) -> dict[str, dict[str, int]]:
        """``{split: {"images": N, "objects": M, <class>: count, ...}}`` for a quick look."""
        out = {}
        for split, samples in self.splits.items():
            c = {"images": len(samples), "objects": sum(len(s.annotation.objects) for s in samples)}
            for name in self.names:
                c[name] = sum(o.label == name for s in samples for o in s.annotation.objects)
            out[split] = c
        return out


# ------------------------------------------------------------------------------ data.yaml


def _yaml_text(value) -> str:
    """A YAML scalar: plain when safe, else a JSON string (valid YAML double-quoted)."""
    s = str(value)
    plain = s and all(ch.isalnum() or ch in "_-./ " for ch in s) and s == s.strip() \
        and s.lower() not in ("yes", "no", "true", "false", "on", "off", "null", "~") \
        and not s[0].isdigit() and not s.startswith(("-", "."))
    return s if plain else json.dumps(s)


def data_yaml_text(root, names, splits, channels: int = 3) -> str:
    """The text of ``data.yaml`` for a set at ``root`` with these ``names`` and ``splits``."""
    lines = [f"path: {json.dumps(str(Path(root).resolve()))}"]
    lines += [f"{s}: images/{s}" for s in SPLITS if s in splits]
    if channels != 3:
        lines.append(f"channels: {int(channels)}")
    lines.append(f"nc: {len(names)}")
    lines.append("names:")
    lines += [f"  {k}: {_yaml_text(n)}" for k, n in enumerate(names)]
    return "\n".join(lines) + "\n"


def _small_yaml(text: str, where: str, found: list) -> dict | None:
    """The subset of YAML data.yaml files use (``key: scalar`` lines; ``names`` as a block of
    ``- name`` or ``N: name`` lines, or a flow ``[a, b]``). Anything else is a problem."""
    def scalar(v: str):
        v = v.strip()
        if v.startswith('"'):
            value, end = json.JSONDecoder().raw_decode(v)
            if v[end:].strip() and not v[end:].strip().startswith("#"):
                raise ValueError(f"text after a quoted string: {v!r}")
            return value
        if v.startswith("'") and v.endswith("'") and len(v) >= 2:
            return v[1:-1].replace("''", "'")
        if v.lstrip("-").isdigit():
            return int(v)
        return v

    data: dict = {}
    block = None
    try:
        for n, raw in enumerate(text.splitlines(), 1):
            cut = raw.find(" #")
            line = "" if raw.lstrip().startswith("#") else raw if '"' in raw[:max(cut, 0)] else raw.split(" #")[0].rstrip()
            if not line.strip():
                continue
            if line[0] == " " and block is not None:
                item = line.strip()
                if item.startswith("- "):
                    data[block].append(scalar(item[2:]))
                elif ":" in item:
                    k, v = item.split(":", 1)
                    data[block].append((int(k), scalar(v)))
                else:
                    raise ValueError(f"line {n}: {raw!r}")
                continue
            if ":" not in line or line[0] == " ":
                raise ValueError(f"line {n}: {raw!r}")
            key, value = (p.strip() for p in line.split(":", 1))
            block = None
            if not value:
                data[key], block = [], key
            elif value.startswith("["):
                data[key] = [scalar(v) for v in value.strip("[]").split(",") if v.strip()]
            else:
                data[key] = scalar(value)
        for key, value in data.items():
            if isinstance(value, list) and value and isinstance(value[0], tuple):
                data[key] = dict(value)
    except ValueError as err:
        found.append(Problem(where, f"not the YAML subset a data.yaml uses ({err})"))
        return None
    return data


def read_data_yaml(path, problems: list | None = None) -> dict | None:
    """``data.yaml`` → dict (``yaml.safe_load`` when PyYAML is installed, else a strict
    small parser). ``names`` comes back as a list of strings (a ``{index: name}`` dict is
    accepted when its indices are 0..K-1). Raises :class:`AnnotationError` listing every
    problem (or appends them to ``problems`` and returns ``None``)."""
    path = Path(path)
    where = str(path)
    found, finish = A._collector(problems)
    text = A._read_text(path, found, "a data.yaml file")
    data = None
    if text is not None:
        try:
            import yaml
        except ImportError:
            data = _small_yaml(text, where, found)
        else:
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as err:
                found.append(Problem(where, f"not valid YAML ({err})"))
        if data is not None and not isinstance(data, dict):
            found.append(Problem(where, f"expected a mapping with path, train, val, names; got {A._show(data)}"))
            data = None
    if data is not None:
        names = data.get("names")
        if isinstance(names, dict):
            if not all(isinstance(k, int) and not isinstance(k, bool) for k in names) \
                    or set(names) != set(range(len(names))):
                found.append(Problem(where, f"names keys are {A._show(list(names))}, expected 0..{len(names) - 1}"))
                names = None
            else:
                names = [names[k] for k in range(len(names))]
        if not isinstance(names, list) or not names:
            if names is not None or "names" not in data:
                found.append(Problem(where, f"names is {A._show(data.get('names'))}, expected a list of class names"))
            data = None
        else:
            bad = [A._bad_name(n) for n in names if A._bad_name(n)]
            found.extend(Problem(where, why) for why in bad)
            if len(set(map(str, names))) != len(names):
                found.append(Problem(where, f"class names repeat: {names}"))
            nc = data.get("nc")
            if nc is not None and nc != len(names):
                found.append(Problem(where, f"nc is {A._show(nc)} but names has {len(names)} entries"))
            channels = data.get("channels", 3)
            if channels not in (1, 3) or isinstance(channels, bool):
                found.append(Problem(where, f"channels is {A._show(channels)}, expected 1 or 3"))
            data["names"] = names
            if bad or len(set(map(str, names))) != len(names):
                data = None
    finish("problems in a data.yaml")
    return data


# ------------------------------------------------------------------------------- reading


def _image_channels(path: Path) -> int | None:
    """1 or 3 from the image header (``None`` when unreadable)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return 1 if img.mode in ("1", "L", "I;16", "I;16B", "I;16L", "I", "F") else 3
    except Exception:  # noqa: BLE001 - unreadable images are reported by image_size
        return None


def read_dataset(root, check_channels: bool = True) -> YoloDataset:
    """Read **and validate** a YOLO data set folder (layout in the module doc); raise one
    :class:`AnnotationError` listing every problem, each with its file (``7_1``, ``7_2``).

    Returns a :class:`YoloDataset` whose samples' ``image`` are the image paths and whose
    boxes are pixel ``xyxy`` (exclusive ends), splits in ``train, val, test`` order.
    A broken or missing data.yaml is reported together with the problems of the
    ``images/<split>`` folders on disk (label lines checked against ``classes.txt`` when there is one).
    """
    from utils.images import IMAGE_SUFFIXES, ImageError, image_size

    root = Path(root)
    found: list[Problem] = []
    if not root.is_dir():
        raise AnnotationError([Problem(str(root), "no such folder (expected a YOLO data set with data.yaml)")],
                              "problems in a YOLO data set")
    data = read_data_yaml(root / "data.yaml", found)
    if data is None:  # still check the folders on disk (labels against classes.txt where there is one)
        data = {s: f"images/{s}" for s in SPLITS if (root / "images" / s).is_dir()}
        names = None
    else:
        names = [str(n) for n in data["names"]]
    channels = data.get("channels", 3)
    ds = YoloDataset(names or [], {}, channels if channels in (1, 3) else 3, root,
                     None if data.get("path") is None else str(data["path"]))
    where_yaml = str(root / "data.yaml")
    present = [s for s in SPLITS if data.get(s) is not None]
    if names is not None and "train" not in present and "val" not in present:
        found.append(Problem(where_yaml, "no train or val entry (expected e.g. 'train: images/train')"))
    ds.extra = {k: v for k, v in data.items() if k not in SPLITS + ("path", "names", "nc", "channels")}
    stems: dict[str, str] = {}
    for split in present:
        entry = data[split]
        if entry != f"images/{split}":
            found.append(Problem(where_yaml, f"{split} is {A._show(entry)}, expected 'images/{split}' "
                                             "(the folder layout this course reads)"))
            continue
        image_dir, label_dir = root / "images" / split, root / "labels" / split
        for d in (image_dir, label_dir):
            if not d.is_dir():
                found.append(Problem(str(d), "no such folder (data.yaml lists this split)"))
        if not image_dir.is_dir() or not label_dir.is_dir():
            continue
        classes_txt = label_dir / "classes.txt"
        split_names = names
        if classes_txt.exists():
            try:
                listed = A.object_classes(A.read_classes(classes_txt))
                if names is None:
                    split_names = listed
                elif listed != names:
                    found.append(Problem(str(classes_txt), f"lists {listed}, but data.yaml names are {names}"))
            except AnnotationError as err:
                found.extend(err.problems)
        images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        others = sorted(p.name for p in image_dir.iterdir() if p.suffix.lower() not in IMAGE_SUFFIXES
                        and not p.name.startswith("."))
        if others:
            found.append(Problem(str(image_dir), f"files that are not images (by suffix): {A._show(others)}"))
        by_stem: dict[str, list[Path]] = {}
        for p in images:
            by_stem.setdefault(p.stem, []).append(p)
        labels = {p.stem: p for p in label_dir.glob("*.txt") if p.name != "classes.txt"}
        samples = []
        for stem, paths in sorted(by_stem.items()):
            if stem in stems:
                found.append(Problem(str(paths[0]), f"stem {stem!r} is used in split {stems[stem]!r} too "
                                                    "(one image in two splits leaks test data; rename one)"))
            stems.setdefault(stem, split)
            if len(paths) > 1:
                found.append(Problem(str(image_dir), f"images {', '.join(p.name for p in paths)} share the stem "
                                                     f"{stem!r} and so one label file"))
                continue
            image = paths[0]
            try:
                w, h = image_size(image)
            except (ImageError, OSError) as err:
                found.append(Problem(str(image), f"image cannot be read ({err})"))
                continue
            if check_channels and channels == 1 and _image_channels(image) == 3:
                found.append(Problem(str(image), "colour image in a set whose data.yaml says channels: 1"))
            txt = labels.get(stem)
            if txt is None:
                found.append(Problem(str(label_dir / f"{stem}.txt"), f"missing label file for {image.name} "
                                                                     "(an image without objects needs an empty one)"))
                continue
            if split_names is None:  # no class names to check the label lines against
                continue
            ann = A.read_yolo_file(txt, split_names, w, h, image.name, found)
            if ann is None:
                continue
            _check_ranges(ann, w, h, found)
            samples.append(Sample(ann, image))
        for stem in sorted(set(labels) - set(by_stem)):
            found.append(Problem(str(labels[stem]), f"label file without an image {stem}.* in {image_dir}"))
        ds.splits[split] = samples
    if found:
        found.sort(key=lambda p: (p.file, -1 if p.object is None else p.object))  # file by file, line by line
        raise AnnotationError(found, "problems in a YOLO data set")
    return ds


validate_dataset = read_dataset


def _check_ranges(ann: ImageAnnotation, w: int, h: int, found: list) -> None:
    """Values outside 0..1 and boxes without area, in the file's own normalised terms."""
    for obj in ann.objects:
        x1, y1, x2, y2 = obj.bbox / [w, h, w, h]
        if not (x2 > x1 and y2 > y1):
            found.append(Problem(ann.source, f"box has zero or negative size (w {x2 - x1:.6g}, h {y2 - y1:.6g})",
                                 obj.index, obj.label))
        elif min(x1, y1) < -_TOL or max(x2, y2) > 1 + _TOL:
            found.append(Problem(ann.source, f"box corners ({x1:.6g}, {y1:.6g}, {x2:.6g}, {y2:.6g}) outside 0..1",
                                 obj.index, obj.label))


# ------------------------------------------------------------------------------- writing


def _snapped(obj: Object, w, h) -> Object:
    """For checking only: ``obj`` with a box that passes the image border by no more than
    label rounding (``_TOL`` of the size, as read from a label file) moved onto the border."""
    if not w or not h or not np.all(np.isfinite(obj.bbox)):
        return obj
    size = np.array([w, h, w, h], np.float64)
    b = obj.bbox.copy()
    near = (np.abs(b) <= _TOL * size) | (np.abs(b - size) <= _TOL * size)
    b[near] = np.clip(b[near], 0, size[near])
    return Object(obj.label, b, obj.polygons, obj.attributes, obj.index)


def _target_name(ann: ImageAnnotation, flatten: bool) -> str:
    parts = [p for p in Path(ann.file_name).parts if p != Path(ann.file_name).anchor and p not in (".", "..")]
    return "__".join(parts) if flatten else parts[-1] if parts else ann.file_name


def write_dataset(root, splits: dict[str, list[Sample]], names, channels: int = 3,
                  overwrite: bool = False, flatten: bool = False) -> Path:
    """Write a YOLO data set folder (layout in the module doc) and return ``root`` (``7_1``, ``7_2``).

    Args:
        splits: ``{"train": [Sample, ...], "val": [...], "test": [...]}`` (any of the three).
            A sample's image is copied (a path) or saved (an array) to ``images/<split>/<name>``,
            ``<name>`` being the last part of ``annotation.file_name``.
        names: class names in YOLO order (a leading ``"BG"`` is dropped).
        channels: 1 writes ``channels: 1`` to data.yaml (gray images expected: ``(H, W)`` uint8,
            or uint16 for 16-bit PNG/TIFF files such as thermal counts, ``7_1``).
        overwrite: write into an existing non-empty folder (files are replaced one by
            one, atomically; nothing is deleted, so leftovers show up in :func:`read_dataset`).
        flatten: name images after their whole relative path (``a/x.jpg`` → ``a__x.jpg``),
            for sources whose sub-folders reuse file names.

    Everything is checked before the first file is written; :class:`AnnotationError` lists
    every problem: two images that would share a label file (same stem anywhere in the set),
    missing image files, classes not in ``names``, boxes outside the image or without area,
    labels that cannot be written.
    """
    from utils.images import IMAGE_SUFFIXES, save_image, write_atomically

    root = Path(root)
    names = A.object_classes(names)
    if channels not in (1, 3):
        raise ValueError(f"channels={channels!r}: expected 1 or 3")
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ValueError(f"splits {unknown}: expected some of {SPLITS}")
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"{root}: is a file, expected a folder for a YOLO data set")
    if root.is_dir() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(f"{root}: folder is not empty ({len(list(root.iterdir()))} entries); "
                              "pass overwrite=True to write into it (nothing is deleted)")
    problems = [Problem("names", A._bad_name(n)) for n in names if A._bad_name(n)]
    if len(set(names)) != len(names):
        problems.append(Problem("names", f"class names repeat: {names}"))
    stems: dict[str, str] = {}
    plan = []  # (split, target name, sample)
    for split in SPLITS:
        for s in splits.get(split, []):
            ann = s.annotation
            where = ann.source or ann.file_name
            name = _target_name(ann, flatten)
            stem = Path(name).stem
            if Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                problems.append(Problem(where, f"image name {name!r} has no image suffix ({', '.join(IMAGE_SUFFIXES)})"))
            if stem in stems:
                problems.append(Problem(where, f"{split}/{name} and {stems[stem]} would share the label file {stem}.txt "
                                               "(YOLO names labels by image stem; rename one, or flatten=True "
                                               "when sub-folders reuse names)"))
                continue
            stems[stem] = f"{split}/{ann.file_name}"
            if isinstance(s.image, (str, Path)):
                if not Path(s.image).is_file():
                    problems.append(Problem(where, f"image file {s.image} not found"))
                    continue
                if Path(s.image).suffix.lower() != Path(name).suffix.lower():
                    problems.append(Problem(where, f"image file {s.image} would be copied to {name}: "
                                                   "the suffix (the format) would change"))
                    continue
            else:
                arr = np.asarray(s.image)
                if not ((arr.ndim in (2, 3) and arr.dtype == np.uint8) or (arr.ndim == 2 and arr.dtype == np.uint16)):
                    problems.append(Problem(where, f"image array {arr.shape} {arr.dtype}: expected (H, W) or (H, W, 3) "
                                                   "uint8, or (H, W) uint16"))
                    continue
                if arr.dtype == np.uint16 and Path(name).suffix.lower() not in (".png", ".tif", ".tiff"):
                    problems.append(Problem(where, f"a 16-bit image cannot be saved as {name!r}: use .png or .tif "
                                                   "(JPEG and the others keep 8 bits)"))
                    continue
                if channels == 1 and arr.ndim == 3:
                    problems.append(Problem(where, f"colour image array {arr.shape} in a set with channels=1"))
                    continue
                if (arr.shape[1], arr.shape[0]) != (ann.width, ann.height):
                    problems.append(Problem(where, f"annotation says {ann.width}x{ann.height} but the array is "
                                                   f"{arr.shape[1]}x{arr.shape[0]}"))
            plan.append((split, name, s))
    try:
        A.validate([ImageAnnotation(_target_name(s.annotation, flatten), s.annotation.width, s.annotation.height,
                                    [_snapped(o, s.annotation.width, s.annotation.height) for o in s.annotation.objects],
                                    s.annotation.source or s.annotation.file_name)
                    for _, _, s in plan], class_names=names)
    except AnnotationError as err:
        problems.extend(err.problems)
    if problems:
        raise AnnotationError(problems, "problems writing a YOLO data set")
    # labels first go to a temporary folder (write_yolo's own checks), then each file is moved in atomically
    for split in SPLITS:
        if split not in splits:
            continue
        items = [(n, s) for sp, n, s in plan if sp == split]
        anns = [ImageAnnotation(n, s.annotation.width, s.annotation.height,
                                [Object(o.label, o.bbox) for o in s.annotation.objects], s.annotation.source)
                for n, s in items]
        with tempfile.TemporaryDirectory() as tmp:
            A.write_yolo(anns, tmp, ["BG"] + names)
            for f in sorted(Path(tmp).iterdir()):
                write_atomically(root / "labels" / split / f.name, lambda t, f=f: shutil.copyfile(f, t))
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        for name, s in items:
            target = root / "images" / split / name
            if isinstance(s.image, (str, Path)):
                if Path(s.image).resolve() != target.resolve():
                    write_atomically(target, lambda t, src=Path(s.image): shutil.copyfile(src, t))
            else:
                save_image(target, s.image)
    A._write_atomic(root / "data.yaml", data_yaml_text(root, names, [s for s in SPLITS if s in splits], channels))
    return root


def dataset_samples(ds: YoloDataset) -> dict[str, list[Sample]]:
    """``ds.splits`` (to pass a read set back to :func:`write_dataset`)."""
    return {k: list(v) for k, v in ds.splits.items()}


def split_samples(samples: list[Sample], fractions: dict[str, float], seed: int = 0) -> dict[str, list[Sample]]:
    """Shuffle ``samples`` (order of ``file_name`` first, so the result does not depend on the
    input order) with ``seed`` and cut them by ``fractions`` (e.g. ``{"train": 0.8, "val": 0.2}``,
    summing to 1); the last split takes the rounding remainder."""
    if not fractions or abs(sum(fractions.values()) - 1) > 1e-9 or min(fractions.values()) < 0:
        raise ValueError(f"fractions={fractions!r}: expected non-negative fractions summing to 1")
    ordered = sorted(samples, key=lambda s: s.annotation.file_name)
    order = np.random.default_rng(seed).permutation(len(ordered))
    out, start = {}, 0
    keys = list(fractions)
    for k, key in enumerate(keys):
        stop = len(ordered) if k == len(keys) - 1 else start + int(round(fractions[key] * len(ordered)))
        out[key] = [ordered[i] for i in order[start:stop]]
        start = stop
    return out


# ----------------------------------------------------------------------------- conversions


def normalise_coco_keys(data: dict, keys: dict[str, str], where: str = "COCO JSON") -> dict:
    """A copy of a COCO-like dict with its non-standard ``keys`` renamed (top level and in each
    image entry), e.g. :data:`HIT_UAV_KEYS`. Explicit: a key to rename that is absent, or whose
    standard name is already present, is an :class:`AnnotationError` (never a guess)."""
    problems = []
    out = dict(data)
    images = [dict(im) if isinstance(im, dict) else im for im in out.get("images", out.get("image", []))]
    for old, new in keys.items():
        top = old in out
        inner = any(isinstance(im, dict) and old in im for im in images)
        if not top and not inner:
            problems.append(Problem(where, f"key {old!r} to rename into {new!r} is not there (is this file "
                                           "already standard COCO? then read it without keys=)"))
        if top:
            if new in out:
                problems.append(Problem(where, f"both {old!r} and {new!r} are present: which one holds the data is ambiguous"))
            else:
                out[new] = out.pop(old)
        if inner:
            for k, im in enumerate(images):
                if isinstance(im, dict) and old in im:
                    if new in im:
                        problems.append(Problem(where, f"image entry {k} has both {old!r} and {new!r}"))
                    else:
                        im[new] = im.pop(old)
    if "images" in out:
        out["images"] = images
    if problems:
        raise AnnotationError(problems, "problems normalising a COCO-like file")
    return out


def from_coco(json_path, image_dir, keys: str | dict | None = None,
              crowd: str = "refuse") -> tuple[list[Sample], list[str]]:
    """A COCO JSON file and its image folder → ``(samples, names)`` for :func:`write_dataset`.

    ``keys``: ``None`` for standard COCO; ``"hit-uav"`` (:data:`HIT_UAV_KEYS`) or a dict
    ``{their key: COCO key}`` for COCO-like files (renamed by :func:`normalise_coco_keys`).
    A sample's image is ``image_dir / file_name``. Boxes keep their pixel values;
    polygons and RLE masks are not kept (YOLO ``detect`` stores boxes), nor are the
    category ids (:func:`to_coco` numbers ``names`` 1..K). ``iscrowd`` regions (a crowd, not
    one object) have no YOLO equivalent: ``crowd="refuse"`` lists them in an
    :class:`AnnotationError`, ``"skip"`` leaves them out, ``"keep"`` makes them plain boxes.
    """
    if crowd not in ("refuse", "skip", "keep"):
        raise ValueError(f"crowd={crowd!r}: expected 'refuse', 'skip' or 'keep'")
    json_path = Path(json_path)
    if keys is not None:
        keys = HIT_UAV_KEYS if keys == "hit-uav" else keys
        if not isinstance(keys, dict):
            raise ValueError(f"keys={keys!r}: expected None, 'hit-uav' or a dict of key renames")
        found: list[Problem] = []
        data = A._read_json(json_path, found)
        if data is None:
            raise AnnotationError(found, "problems in a COCO file")
        if not isinstance(data, dict):
            raise AnnotationError([Problem(str(json_path), "expected a COCO-like dict")], "problems in a COCO file")
        data = normalise_coco_keys(data, keys, str(json_path))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / json_path.name
            path.write_text(json.dumps(data), encoding="utf-8")
            try:
                anns, class_names = A.read_coco(path)
            except AnnotationError as err:
                for p in err.problems:
                    p.file = p.file.replace(str(path), f"{json_path} (keys renamed)")
                raise AnnotationError(err.problems, "problems in a COCO file") from None
        for a in anns:
            a.source = str(json_path)
    else:
        anns, class_names = A.read_coco(json_path)
    crowds = [(a, k, o) for a in anns for k, o in enumerate(a.objects) if o.attributes.get("iscrowd")]
    if crowds and crowd == "refuse":
        raise AnnotationError([Problem(f"{json_path} [{a.file_name}]", "iscrowd region: YOLO has no crowd boxes "
                                       "(from_coco(..., crowd='skip' or 'keep'))", o.index, o.label)
                               for a, _, o in crowds], "crowd regions in a COCO file")
    if crowd == "skip":
        for a in anns:
            a.objects = [o for o in a.objects if not o.attributes.get("iscrowd")]
    image_dir = Path(image_dir)
    return [Sample(_boxes_only(a), image_dir / a.file_name) for a in anns], A.object_classes(class_names)


def from_voc(xml_folder, image_dir) -> list[Sample]:
    """A folder of Pascal VOC XML files and its image folder → samples (images ``image_dir /
    <filename>``). Class names: ``A.object_classes(A.class_names_of(...))`` or your own list.
    VOC's ``difficult``/``truncated`` flags have no YOLO field: such objects become plain boxes."""
    anns = A.read(xml_folder, "voc")
    return [Sample(_boxes_only(a), Path(image_dir) / a.file_name) for a in anns]


def _boxes_only(a: ImageAnnotation) -> ImageAnnotation:
    return ImageAnnotation(a.file_name, a.width, a.height, [Object(o.label, o.bbox, index=o.index) for o in a.objects],
                           a.source)


def coco_to_yolo(json_path, image_dir, root, split: str | dict[str, float] = "train", keys=None,
                 seed: int = 0, overwrite: bool = False, flatten: bool = False, crowd: str = "refuse") -> YoloDataset:
    """COCO (or COCO-like, see ``keys``) → a YOLO folder at ``root``, read back and validated.
    ``split``: one split name for every image, or fractions for :func:`split_samples`;
    ``keys``, ``crowd``: see :func:`from_coco`."""
    samples, names = from_coco(json_path, image_dir, keys, crowd)
    splits = {split: samples} if isinstance(split, str) else split_samples(samples, split, seed)
    write_dataset(root, splits, names, overwrite=overwrite, flatten=flatten)
    return read_dataset(root)


def to_coco(ds: YoloDataset, folder) -> dict[str, Path]:
    """Write ``folder/instances_<split>.json`` per split (COCO's naming), file names relative to
    ``images/<split>/``, category ids 1..K in ``names`` order. Returns ``{split: path}``."""
    return {split: A.write_coco(ds.annotations(split), Path(folder) / f"instances_{split}.json", ds.class_names)
            for split in ds.splits}


def to_voc(ds: YoloDataset, folder) -> dict[str, Path]:
    """Write one Pascal VOC XML per image into ``folder/<split>/<stem>.xml``. Returns ``{split: folder}``."""
    out = {}
    for split in ds.splits:
        for a in ds.annotations(split):
            A.write_voc(a, Path(folder) / split / (Path(a.file_name).stem + ".xml"))
        out[split] = Path(folder) / split
    return out


# ------------------------------------------------------------------------------ synthetic


def write_synthetic(root, n: int = 24, seed: int = 0, size: int = 128,
                    fractions: dict[str, float] | None = None, channels: int = 3,
                    overwrite: bool = False) -> YoloDataset:
    """A small deterministic YOLO data set folder from :func:`utils.data.pasted_objects`
    (photo cut-outs on photo backgrounds, exact boxes), read back and validated (``7_1``, ``7_2``).

    ``n`` images ``img_0000.png``... of ``size`` × ``size``, split by ``fractions`` (default
    ``{"train": 0.75, "val": 0.25}``) in image order; ``channels=1`` saves gray images and
    writes ``channels: 1``. Same arguments → byte-identical files.
    """
    from utils.data import pasted_objects

    fractions = fractions or {"train": 0.75, "val": 0.25}
    if abs(sum(fractions.values()) - 1) > 1e-9:
        raise ValueError(f"fractions={fractions!r}: expected fractions summing to 1")
    data = pasted_objects(n, size, seed=seed)
    names = [f"img_{i:04d}.png" for i in range(n)]
    anns = A.from_instance_set(data, file_names=names, polygons=False)
    samples = []
    for i, ann in enumerate(anns):
        img = data.images[i]
        if channels == 1:
            img = np.clip(np.rint(img.astype(np.float64) @ [0.299, 0.587, 0.114]), 0, 255).astype(np.uint8)
        samples.append(Sample(ann, img))
    splits, start = {}, 0
    for k, (key, frac) in enumerate(fractions.items()):
        stop = n if k == len(fractions) - 1 else start + int(round(frac * n))
        splits[key] = samples[start:stop]
        start = stop
    write_dataset(root, splits, data.class_names, channels=channels, overwrite=overwrite)
    return read_dataset(root)


# ------------------------------------------------------------------------------- tf.data


def augment(image, boxes, class_ids, seed, flip: bool = True, scale=(0.75, 1.25), min_visible: float = 0.4):
    """Box-preserving augmentation of one image in TensorFlow ops (``7_1``, ``7_2``).

    Args:
        image: ``(H, W, C)`` float32 tensor.
        boxes: ``(K, 4)`` float32 ``xyxy`` pixels (exclusive ends); ``class_ids``: ``(K,)`` int32.
        seed: ``(2,)`` int32 tensor for the stateless random ops (same seed, same result).
        flip: mirror left-right with probability 0.5.
        scale: zoom factor range; the zoomed image is cropped (zoom in) or padded with 0.5
            (zoom out) back to ``(H, W)`` at a random offset.
        min_visible: a box keeping less than this fraction of its area after the crop is
            removed (class id 0 and box zeros: padding, so the count ``K`` stays the same).

    Returns ``(image (H, W, C), boxes (K, 4), class_ids (K,))``, boxes clipped to the image.
    """
    import tensorflow as tf

    h, w = tf.shape(image)[0], tf.shape(image)[1]
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
    if flip:
        do = tf.random.stateless_uniform([], seeds[0]) < 0.5
        image = tf.cond(do, lambda: image[:, ::-1], lambda: image)
        flipped = tf.stack([wf - boxes[:, 2], boxes[:, 1], wf - boxes[:, 0], boxes[:, 3]], axis=1)
        boxes = tf.where(do, flipped, boxes)
    s = tf.random.stateless_uniform([], seeds[1], scale[0], scale[1])
    nh = tf.maximum(1, tf.cast(tf.round(hf * s), tf.int32))
    nw = tf.maximum(1, tf.cast(tf.round(wf * s), tf.int32))
    zoomed = tf.image.resize(image, [nh, nw])
    sy, sx = tf.cast(nh, tf.float32) / hf, tf.cast(nw, tf.float32) / wf
    boxes = boxes * tf.stack([sx, sy, sx, sy])
    ph, pw = tf.maximum(nh, h), tf.maximum(nw, w)
    py = tf.random.stateless_uniform([], seeds[2], 0, ph - nh + 1, dtype=tf.int32)
    px = tf.random.stateless_uniform([], seeds[2] + 1, 0, pw - nw + 1, dtype=tf.int32)
    canvas = tf.image.pad_to_bounding_box(zoomed - 0.5, py, px, ph, pw) + 0.5
    cy = tf.random.stateless_uniform([], seeds[3], 0, ph - h + 1, dtype=tf.int32)
    cx = tf.random.stateless_uniform([], seeds[3] + 1, 0, pw - w + 1, dtype=tf.int32)
    image = tf.image.crop_to_bounding_box(canvas, cy, cx, h, w)
    shift = tf.cast(tf.stack([px - cx, py - cy, px - cx, py - cy]), tf.float32)
    moved = boxes + shift
    clipped = tf.clip_by_value(moved, 0.0, tf.stack([wf, hf, wf, hf]))
    area = lambda b: tf.maximum(b[:, 2] - b[:, 0], 0.0) * tf.maximum(b[:, 3] - b[:, 1], 0.0)  # noqa: E731
    keep = (area(clipped) >= min_visible * area(moved)) & (area(clipped) > 0) & (class_ids > 0)
    boxes = tf.where(keep[:, None], clipped, tf.zeros_like(clipped))
    class_ids = tf.where(keep, class_ids, tf.zeros_like(class_ids))
    return image, boxes, class_ids


def mosaic(images, boxes, class_ids, seed, min_visible: float = 0.4):
    """Mosaic of four examples in TensorFlow ops (the YOLOv4 idea, ``7_1``, ``7_2``): a random
    centre splits the output into four quadrants; quadrant ``k`` shows a window of image ``k``
    cut at a random place, boxes moved with it and clipped (less than ``min_visible`` of a box
    left: removed, class 0).

    Args: ``images (4, H, W, C)``, ``boxes (4, K, 4)`` ``xyxy`` pixels, ``class_ids (4, K)``
    int32 (0 = padding), ``seed (2,)`` int32. Returns ``image (H, W, C)``, ``boxes (4K, 4)``,
    ``class_ids (4K,)``: no object is lost to a fixed box count.
    """
    import tensorflow as tf

    shape = tf.shape(images)
    h, w = shape[1], shape[2]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 5)
    cy = tf.random.stateless_uniform([], seeds[0], h // 4, 3 * h // 4 + 1, dtype=tf.int32)
    cx = tf.random.stateless_uniform([], seeds[0] + 1, w // 4, 3 * w // 4 + 1, dtype=tf.int32)
    tiles, out_boxes, out_ids = [], [], []
    for k, (y0, x0, qh, qw) in enumerate(((0, 0, cy, cx), (0, cx, cy, w - cx), (cy, 0, h - cy, cx), (cy, cx, h - cy, w - cx))):
        oy = tf.random.stateless_uniform([], seeds[k + 1], 0, h - qh + 1, dtype=tf.int32)
        ox = tf.random.stateless_uniform([], seeds[k + 1] + 1, 0, w - qw + 1, dtype=tf.int32)
        tiles.append(images[k, oy:oy + qh, ox:ox + qw])
        shift = tf.cast(tf.stack([x0 - ox, y0 - oy, x0 - ox, y0 - oy]), tf.float32)
        moved = boxes[k] + shift
        lo = tf.cast(tf.stack([x0, y0, x0, y0]), tf.float32)
        hi = tf.cast(tf.stack([x0 + qw, y0 + qh, x0 + qw, y0 + qh]), tf.float32)
        clipped = tf.clip_by_value(moved, lo, hi)
        area = lambda b: tf.maximum(b[:, 2] - b[:, 0], 0.0) * tf.maximum(b[:, 3] - b[:, 1], 0.0)  # noqa: E731
        keep = (area(clipped) >= min_visible * area(moved)) & (area(clipped) > 0) & (class_ids[k] > 0)
        out_boxes.append(tf.where(keep[:, None], clipped, tf.zeros_like(clipped)))
        out_ids.append(tf.where(keep, class_ids[k], tf.zeros_like(class_ids[k])))
    rows = [tf.concat(tiles[:2], axis=1), tf.concat(tiles[2:], axis=1)]
    return tf.concat(rows, axis=0), tf.concat(out_boxes, axis=0), tf.concat(out_ids, axis=0)


def tf_dataset(ds: YoloDataset, split: str, image_size=(128, 128), batch_size: int = 8, max_boxes: int = 16,
               shuffle: bool = False, augment_seed: int | None = None, use_mosaic: bool = False, **augment_args):
    """A ``tf.data.Dataset`` of one split of a data set read with :func:`read_dataset` (``7_1``, ``7_2``).

    Yields ``(images, {"boxes": (B, max_boxes, 4) float32, "class_ids": (B, max_boxes) int32})``:
    images ``(B, H, W, channels)`` float32 0..1 resized to ``image_size`` ``(H, W)``, boxes
    ``xyxy`` pixels of the resized image, class ids :mod:`utils.data`-style (1-based, ``0`` is
    padding). ``augment_seed`` set: :func:`augment` with a per-example seed (``augment_args``
    go to it), deterministic for a given seed; with ``use_mosaic`` too, each output image is a
    :func:`mosaic` of four augmented ones (a quarter as many images, ``4 * max_boxes`` boxes
    each). More than ``max_boxes`` objects in an image raises.
    """
    import tensorflow as tf

    from utils.images import load_image

    samples = ds.splits[split]
    too_many = [str(s.image) for s in samples if len(s.annotation.objects) > max_boxes]
    if too_many:
        raise ValueError(f"max_boxes={max_boxes}: images with more objects: {too_many[:5]}")
    H, W = int(image_size[0]), int(image_size[1])
    index = {n: k + 1 for k, n in enumerate(ds.names)}

    def gen():
        for s in samples:
            img = load_image(s.image, mode="gray" if ds.channels == 1 else "rgb", dtype="float32")
            img = img[..., None] if img.ndim == 2 else img
            a = s.annotation
            b = np.zeros((max_boxes, 4), np.float32)
            c = np.zeros(max_boxes, np.int32)
            for k, o in enumerate(a.objects):
                b[k] = o.bbox * [W / a.width, H / a.height, W / a.width, H / a.height]
                c[k] = index[o.label]
            yield img, b, c

    out = tf.data.Dataset.from_generator(gen, output_signature=(
        tf.TensorSpec((None, None, ds.channels), tf.float32),
        tf.TensorSpec((max_boxes, 4), tf.float32), tf.TensorSpec((max_boxes,), tf.int32)))
    out = out.map(lambda i, b, c: (tf.image.resize(i, [H, W]), b, c))
    if shuffle:
        out = out.shuffle(len(samples), seed=0 if augment_seed is None else augment_seed)
    if augment_seed is not None:
        out = out.enumerate().map(lambda k, x: augment(x[0], x[1], x[2], tf.stack([augment_seed, tf.cast(k, tf.int32)]),
                                                       **augment_args))
        if use_mosaic:
            out = out.batch(4, drop_remainder=True).enumerate().map(
                lambda k, x: mosaic(x[0], x[1], x[2], tf.stack([augment_seed + 1, tf.cast(k, tf.int32)])))
    elif use_mosaic:
        raise ValueError("use_mosaic=True needs augment_seed (mosaic is an augmentation)")
    return out.map(lambda i, b, c: (i, {"boxes": b, "class_ids": c})).batch(batch_size)
