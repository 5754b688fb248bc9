"""The course's one switch, fast or full, and the set-up every notebook runs first.

Taught in every notebook's set-up cell (``0_1`` explains it)::

    from utils import course
    cfg = course.setup("0_2", seed=42)   # prints the mode banner and versions
    cfg.epochs                            # this notebook's knob for the current mode

The mode comes from the ``COURSE_MODE`` environment variable (``fast`` when unset),
or from ``course.set_mode("full")`` in a notebook's first cell.

- **fast** (CI, laptops without a GPU): offline data only, reduced epochs, and no
  network at all: :func:`setup` installs a guard that refuses outbound connections.
- **full** (class): course-size data and epochs, official pretrained weights fetched
  once into ``weights/`` with ``python -m utils.weights fetch NAME``.
"""
from __future__ import annotations

import os
import random
import re
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODES = ("fast", "full")
ROOT = Path(__file__).resolve().parent.parent
"""The repository root (holds ``notebooks/``, ``data/``, ``weights/``)."""

REPOSITORY = "advanced-cv-course/advanced-cv-course"
"""The course's public GitHub repository, ``owner/name``: the one place the Colab badges and the
Colab set-up lines are made from. A fork changes it with
``python -m utils.notebooks set-repository OWNER/NAME [BRANCH]``, which rewrites this line and
every notebook's badge and set-up cell; a test checks that they all agree."""
BRANCH = "main"

PATH_PREFIXES = ("data/", "weights/", "outputs/")
"""Knob values starting with one of these are paths inside the repository: :func:`knobs`
returns them as absolute :class:`~pathlib.Path` objects under :data:`ROOT`, so a notebook finds
``data/...`` whether it runs in ``notebooks/`` (JupyterLab), the repository root or Colab."""

_mode_override: str | None = None


class NetworkBlocked(ConnectionError):
    """Raised when code tries to reach the network in fast mode."""


def repository_url() -> str:
    """``https://github.com/<REPOSITORY>``: what the Colab set-up cell clones."""
    return f"https://github.com/{REPOSITORY}"


def colab_badge(filename: str) -> str:
    """The markdown "Open in Colab" badge for ``notebooks/<filename>`` on :data:`BRANCH`."""
    return ("[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/notebooks/{filename})")


def colab_setup_lines() -> str:
    """The first lines of every set-up cell: on Colab only, clone the course, install its pinned
    requirements except the deep-learning stack Colab already provides with a working GPU
    (TensorFlow, Keras, NumPy, h5py: the pinned wheels would replace it), fetch the fast-mode
    pretrained set, and make ``utils`` importable. Elsewhere they do nothing."""
    return (
        'if "google.colab" in sys.modules:  # Colab only: fetch the course; keep Colab\'s GPU TensorFlow\n'
        "    import subprocess\n"
        f'    subprocess.run("test -d course || (git clone -q --depth 1 -b {BRANCH} {repository_url()} course"\n'
        "                   \" && grep -vE '^(tensorflow|keras|numpy|h5py)==' course/requirements.txt > /tmp/course-req.txt\"\n"
        '                   " && pip install -q -r /tmp/course-req.txt && pip install -q --no-deps -e course face_recognition==1.3.0"\n'
        '                   " && cd course && (python -m utils.weights fetch --fast"\n'
        '                   " || echo warning: fast-mode pretrained files not fetched, notebooks use the course models))",\n'
        "                   shell=True, check=True)\n"
        '    sys.path.insert(0, "course")'
    )


def get_mode() -> str:
    """Return the current mode, ``"fast"`` or ``"full"``.

    ``course.set_mode`` wins over the ``COURSE_MODE`` environment variable;
    an unknown value raises ``ValueError`` naming the accepted ones.
    """
    mode = _mode_override or os.environ.get("COURSE_MODE", "fast").strip().lower() or "fast"
    if mode not in MODES:
        raise ValueError(f"COURSE_MODE={mode!r} is not a mode: use one of {', '.join(MODES)}")
    return mode


def set_mode(mode: str) -> str:
    """Set the mode for this Python process (call it before :func:`setup`)."""
    global _mode_override
    mode = str(mode).strip().lower()
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not a mode: use one of {', '.join(MODES)}")
    _mode_override = mode
    os.environ["COURSE_MODE"] = mode
    return mode


def is_fast() -> bool:
    """True in fast mode."""
    return get_mode() == "fast"


@dataclass
class Settings:
    """A notebook's knobs for the current mode, readable as attributes (``cfg.epochs``)."""

    notebook: str
    mode: str
    seed: int
    knobs: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        knobs = self.__dict__.get("knobs", {})
        if name in knobs:
            return knobs[name]
        raise AttributeError(
            f"notebook {self.__dict__.get('notebook')!r} has no knob {name!r}; "
            f"its knobs are: {', '.join(sorted(knobs)) or '(none)'} (see utils/knobs.py)"
        )

    def display(self) -> None:
        """Print every knob of this notebook, one per line."""
        print(f"Knobs of notebook {self.notebook} in {self.mode} mode:")
        width = max((len(k) for k in self.knobs), default=0)
        for key in sorted(self.knobs):
            print(f"  {key:<{width}}  {self.knobs[key]!r}")


def path(relative: str | os.PathLike) -> Path:
    """``relative`` (e.g. ``"data/giraffe.jpg"``) resolved from the repository root, never from the
    working directory. An absolute path is returned unchanged (``~`` is expanded)."""
    p = Path(relative).expanduser()
    return p if p.is_absolute() else ROOT / p


def _resolve_paths(value: Any) -> Any:
    """Knob values that name repository paths (see :data:`PATH_PREFIXES`) become absolute paths."""
    if isinstance(value, str) and value.startswith(PATH_PREFIXES):
        return path(value)
    if isinstance(value, list):
        return [_resolve_paths(v) for v in value]
    return value


def knobs(notebook: str, mode: str | None = None) -> dict[str, Any]:
    """Return the knobs of ``notebook`` (e.g. ``"0_2"``) for ``mode`` (default: current).

    Knobs shared by both modes are merged with the mode's own ones. A knob naming a file or
    folder of the repository (``"data/..."``, ``"weights/..."``, ``"outputs/..."``) comes back
    as an absolute ``Path`` under :data:`ROOT`: resolving it is the course's job, in this one place.
    """
    from utils.knobs import KNOBS

    mode = mode or get_mode()
    if notebook not in KNOBS:
        raise KeyError(f"no knobs for notebook {notebook!r}: add an entry to utils/knobs.py")
    entry = KNOBS[notebook]
    merged = dict(entry.get("both", {}))
    merged.update(entry.get(mode, {}))
    return {key: _resolve_paths(value) for key, value in merged.items()}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and (if imported) TensorFlow/Keras, and make TF ops deterministic."""
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    import numpy as np

    np.random.seed(seed)
    if "tensorflow" in sys.modules or "keras" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)
        try:
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
        except Exception:  # pragma: no cover - older TF or other backend
            pass


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) and address else address
    host = host.decode() if isinstance(host, bytes) else str(host)
    return host in ("localhost", "::1", "0.0.0.0", "") or host.startswith("127.")


def _refuse(what: str) -> None:
    raise NetworkBlocked(
        f"fast mode is offline: refused network access to {what}. Fast mode uses only "
        "data that ships with the installed packages; switch to COURSE_MODE=full "
        "and fetch assets with `python -m utils.weights fetch NAME`."
    )


def block_network() -> None:
    """Refuse every outbound connection of this process (loopback stays allowed).

    Installed by :func:`setup` in fast mode, so a download that sneaks into a fast
    notebook fails loudly instead of silently hanging on an offline laptop.
    """

    def connect(self, address):  # noqa: ANN001
        if not _is_local(address):
            _refuse(repr(address))
        return _real_connect(self, address)

    def connect_ex(self, address):  # noqa: ANN001
        if not _is_local(address):
            _refuse(repr(address))
        return _real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):  # noqa: ANN001
        if not _is_local((host,)):
            _refuse(repr(host))
        return _real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo


def unblock_network() -> None:
    """Undo :func:`block_network`."""
    socket.socket.connect = _real_connect
    socket.socket.connect_ex = _real_connect_ex
    socket.getaddrinfo = _real_getaddrinfo


_TF_STARTUP_NOISE = re.compile(
    r"absl::InitializeLog|oneDNN custom operations|Could not find cuda drivers|cpu_feature_guard|"
    r"To enable the following instructions|rebuild TensorFlow with the appropriate compiler flags|"
    r"Unable to register cu(DNN|FFT|BLAS) factory|TF-TRT Warning|failed call to cuInit|"
    r"computation placer already registered")


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up lines (CUDA probing on a machine without a GPU,
    CPU instruction notes) filtered out of standard error; any other line is passed on.

    Those lines are written before TensorFlow reads its log level, so no setting hides them;
    ``utils`` calls this in notebook kernels, where they would look like errors to a student.
    Does nothing if TensorFlow is already imported or not installed.
    """
    import importlib.util
    import tempfile

    if "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is None:
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real file descriptor 2: nothing to filter
        import tensorflow  # noqa: F401
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        text = captured.read().decode("utf-8", errors="replace")
    kept = [line for line in text.splitlines() if line.strip() and not _TF_STARTUP_NOISE.search(line)]
    if kept:
        print("\n".join(kept), file=sys.stderr)


def versions() -> dict[str, str]:
    """Versions of the libraries the course depends on that are already importable."""
    import importlib

    out = {"python": sys.version.split()[0]}
    for name, module in [("tensorflow", "tensorflow"), ("keras", "keras"), ("opencv", "cv2"),
                         ("numpy", "numpy"), ("scikit-image", "skimage"), ("matplotlib", "matplotlib")]:
        if module in sys.modules or name in ("numpy",):
            try:
                out[name] = importlib.import_module(module).__version__
            except Exception:  # pragma: no cover
                pass
    return out


def check_versions() -> None:
    """Fail at cell 1, not cell 40, when the environment is not the course's."""
    if not ((3, 10) <= sys.version_info[:2] <= (3, 12)):
        raise RuntimeError(f"the course needs Python 3.10-3.12, this is {sys.version.split()[0]}")
    if "keras" in sys.modules:
        import keras

        if int(keras.__version__.split(".")[0]) < 3:
            raise RuntimeError(f"the course needs Keras 3, this is Keras {keras.__version__}: "
                               "run `make lab` to use the course environment")
    if "cv2" in sys.modules:
        import cv2

        if not cv2.__version__.startswith("4."):
            raise RuntimeError(f"the course needs OpenCV 4.x (5.0 ships no Haar cascades), this is {cv2.__version__}")


def gpu_line() -> str | None:
    """The set-up banner's GPU line: what TensorFlow sees (``None`` when TensorFlow is not imported).

    This is the line an instructor checks before a full-mode class: ``GPU: none`` means TensorFlow
    runs on the CPU (see the README, "Full mode on a GPU")."""
    if "tensorflow" not in sys.modules:
        return None
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "GPU: none, TensorFlow runs on the CPU (fine in fast mode; for full mode see README 'Full mode on a GPU')"
    names = []
    for gpu in gpus:
        try:
            names.append(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name))
        except Exception:  # pragma: no cover - details are optional
            names.append(gpu.name)
    return f"GPU: {len(gpus)} visible to TensorFlow ({', '.join(names)})"


def setup(notebook: str, seed: int = 42, quiet: bool = False) -> Settings:
    """Set up a notebook: check versions, seed everything, block the network in fast
    mode, and print a one-line banner. Returns the notebook's :class:`Settings`.

    Call it in the set-up cell after importing TensorFlow/Keras/OpenCV, so their
    versions are checked and printed.
    """
    mode = get_mode()
    check_versions()
    seed_everything(seed)
    if mode == "fast":
        block_network()
    cfg = Settings(notebook=notebook, mode=mode, seed=seed, knobs=knobs(notebook, mode))
    if not quiet:
        what = ("offline data, reduced epochs, no network" if mode == "fast"
                else "course-size data, pretrained weights from weights/")
        print(f"[{notebook}] mode: {mode.upper()} ({what}) | seed {seed}")
        print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
        gpu = gpu_line()
        if gpu:
            print(gpu)
    return cfg


def outputs_dir(notebook: str) -> Path:
    """A git-ignored folder for the files a notebook writes (``outputs/<notebook>``)."""
    path = ROOT / "outputs" / notebook
    path.mkdir(parents=True, exist_ok=True)
    return path
