"""The licence-plate lab (``8_1``, ``8_2``) must use no pretrained model: prove that running
its notebooks reads no weight file.

Each notebook is executed end to end (fast mode, strict checks) with a first, injected cell
that records every file the kernel opens:

- ``sys.addaudithook`` sees every ``open`` made from Python (``open``, ``io``, ``os.open``,
  ``zipfile``, ``np.load``...) and every network attempt (``socket.connect``, ``urllib.Request``);
- the loaders that open files from C/C++, which the audit hook cannot see, are wrapped to record
  their path: ``h5py.File`` (Keras ``.h5``/``.weights.h5``), OpenCV's ``cv2.dnn.readNet*``,
  ``cv2.CascadeClassifier`` and ``tf.lite.Interpreter``.

Then: nothing under ``weights/`` but its catalogue (``manifest.json``, ``README.md``) was opened,
no file with a weight-like suffix was opened outside ``outputs/`` (the course's own trainings,
e.g. 8_1's detector read back by 8_2) and the temporary folder, nothing from Keras' download
cache (``~/.keras/models``: application weights) was read, and no network was attempted.
OpenCV's Haar cascades (``.xml``, from the OpenCV package) are the classical *baseline* 8_1
measures against, not part of the lab's system; they are recorded and listed, not counted.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
WEIGHT_SUFFIXES = (".h5", ".keras", ".weights", ".pth", ".pt", ".tflite", ".caffemodel", ".onnx", ".pb")
CATALOGUE = {"manifest.json", "README.md"}

RECORDER = r'''
import json as _json, os as _os, sys as _sys
_course_opened, _course_network = [], []

def _course_audit(event, args):
    if event == "open" and args and isinstance(args[0], (str, bytes, _os.PathLike)):
        _course_opened.append(_os.path.abspath(_os.fsdecode(args[0])))
    elif event in ("socket.connect", "socket.getaddrinfo", "urllib.Request"):
        _course_network.append(f"{event} {args[1:2] if event == 'socket.connect' else args[:1]}")

_sys.addaudithook(_course_audit)

def _course_wrap(owner, name, arg=0, key=None):
    original = getattr(owner, name, None)
    if original is None:
        return
    def wrapper(*a, **kw):
        path = kw.get(key) if key and key in kw else (a[arg] if len(a) > arg else None)
        if isinstance(path, (str, bytes, _os.PathLike)) and str(path):
            _course_opened.append(_os.path.abspath(_os.fsdecode(path)))
        return original(*a, **kw)
    setattr(owner, name, wrapper)

import h5py as _h5py, cv2 as _cv2
_course_wrap(_h5py, "File", 0, "name")
for _n in dir(_cv2.dnn):
    if _n.startswith("readNet"):
        _course_wrap(_cv2.dnn, _n, 0)
        _course_wrap(_cv2.dnn, _n, 1)
_course_wrap(_cv2, "CascadeClassifier", 0, "filename")
import utils as _utils  # imports TensorFlow quietly, as a set-up cell would
import tensorflow as _tf
_course_wrap(_tf.lite, "Interpreter", 0, "model_path")
'''

DUMP = r'''
with open({out!r}, "w") as _f:
    _json.dump({{"opened": sorted(set(_course_opened)), "network": _course_network}}, _f)
'''


def _notebook(number: str) -> Path | None:
    found = sorted(NOTEBOOKS.glob(f"{number}_*.ipynb"))
    return found[0] if found else None


def _is_under(path: str, folder: Path) -> bool:
    try:
        return os.path.commonpath([os.path.realpath(path), os.path.realpath(folder)]) == os.path.realpath(folder)
    except ValueError:
        return False


def weight_reads(opened: list[str], root: Path = ROOT) -> list[str]:
    """The reads among ``opened`` (absolute paths) that break "no pretrained model", with why."""
    bad = []
    keras_cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
    allowed = [root / "outputs", Path(tempfile.gettempdir())]
    for path in opened:
        name = os.path.basename(path)
        if _is_under(path, root / "weights") and name not in CATALOGUE:
            bad.append(f"{path} (under weights/)")
        elif _is_under(path, keras_cache):
            bad.append(f"{path} (Keras application weights cache)")
        elif name.lower().endswith(WEIGHT_SUFFIXES) and not any(_is_under(path, a) for a in allowed):
            bad.append(f"{path} (a weight file outside outputs/ and the temporary folder)")
    return bad


def test_weight_reads_flags_what_it_should(tmp_path):
    opened = [str(ROOT / "weights" / "manifest.json"), str(ROOT / "outputs" / "8_1" / "detector.weights.h5"),
              str(Path(tempfile.gettempdir()) / "x.keras"), "/usr/lib/python3/cv2/data/haarcascade_plate.xml",
              str(ROOT / "weights" / "yolov3-tiny.weights"), str(ROOT / "weights" / "course" / "unet.txt"),
              "/somewhere/model.onnx", str(Path.home() / ".keras" / "models" / "resnet50.h5"), "/x/libfoo.so"]
    bad = weight_reads(opened)
    assert len(bad) == 4 and "yolov3-tiny" in bad[0] and "unet.txt" in bad[1]
    assert "model.onnx" in bad[2] and "resnet50" in bad[3]


@pytest.mark.parametrize("number", ["8_1", "8_2"])
def test_lab_notebook_reads_no_weight_file(number, tmp_path, monkeypatch):
    path = _notebook(number)
    assert path is not None, f"notebook {number}_*.ipynb is missing: both lab notebooks must be audited"
    import kernel

    nb = nbformat.read(path, 4)
    record = tmp_path / "opened.json"
    nb.cells.insert(0, nbformat.v4.new_code_cell(RECORDER))
    nb.cells.append(nbformat.v4.new_code_cell(DUMP.format(out=str(record))))
    env = dict(os.environ, COURSE_MODE="fast", COURSE_CHECKS_STRICT="1", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    kernel.execute(nb, env, path.parent, timeout=600)
    data = json.loads(record.read_text())
    assert len(data["opened"]) > 10, "the recorder saw almost nothing: the audit hook did not run"
    assert any(p.endswith(".py") for p in data["opened"])
    bad = weight_reads(data["opened"])
    assert not bad, f"{path.name} read pretrained weights: " + "; ".join(bad)
    assert not data["network"], f"{path.name} tried the network: {data['network'][:5]}"
