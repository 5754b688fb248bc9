"""utils.course: the mode switch, knobs, seeding and the fast-mode network guard."""
import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from utils import course
from utils.knobs import KNOBS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _restore(monkeypatch):
    monkeypatch.setattr(course, "_mode_override", None)
    yield
    course.unblock_network()


def test_mode_from_environment(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "full")
    assert course.get_mode() == "full"
    monkeypatch.setenv("COURSE_MODE", " FAST ")
    assert course.get_mode() == "fast" and course.is_fast()
    monkeypatch.delenv("COURSE_MODE")
    assert course.get_mode() == "fast"


def test_unknown_mode_is_refused_with_the_choices(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "turbo")
    with pytest.raises(ValueError, match="fast, full"):
        course.get_mode()
    with pytest.raises(ValueError, match="turbo"):
        course.set_mode("turbo")


def test_set_mode_wins_over_environment(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "fast")
    course.set_mode("full")
    assert course.get_mode() == "full"


def test_knobs_merge_shared_and_mode_values():
    fast, full = course.knobs("0_2", "fast"), course.knobs("0_2", "full")
    assert fast["epochs"] < full["epochs"]
    assert course.knobs("2_1", "fast")["photos"] == course.knobs("2_1", "full")["photos"]
    with pytest.raises(KeyError, match="utils/knobs.py"):
        course.knobs("9_9")


def test_every_knob_table_entry_is_well_formed():
    for notebook, entry in KNOBS.items():
        assert set(entry) <= {"both", "fast", "full"}, notebook
        if "fast" in entry or "full" in entry:  # a knob that differs must exist in both modes
            assert set(entry.get("fast", {})) == set(entry.get("full", {})), notebook


def test_settings_attribute_access_and_helpful_error(capsys):
    cfg = course.setup("0_2", seed=3)
    out = capsys.readouterr().out
    assert "mode: FAST" in out and "seed 3" in out and "python" in out
    assert cfg.epochs == KNOBS["0_2"]["fast"]["epochs"]
    with pytest.raises(AttributeError, match="epochs"):
        cfg.no_such_knob
    cfg.display()
    assert "batch_size" in capsys.readouterr().out


def test_seed_everything_is_reproducible():
    course.seed_everything(7)
    a = np.random.rand(3)
    course.seed_everything(7)
    assert np.array_equal(a, np.random.rand(3))


def test_fast_mode_blocks_outbound_connections_but_not_loopback():
    course.block_network()
    with pytest.raises(OSError, match="fast mode is offline"):  # urllib wraps it in URLError
        urllib.request.urlopen("http://example.com", timeout=2)
    with pytest.raises(course.NetworkBlocked):
        socket.create_connection(("93.184.216.34", 80), timeout=2)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=2)  # loopback still works
    client.close()
    server.close()


def test_test_run_network_guard_logs_and_refuses(tmp_path):
    """The guard `make test` puts in every process (notebook kernels too) logs each attempt."""
    log = tmp_path / "attempts.log"
    code = ("import urllib.request\n"
            "try:\n urllib.request.urlopen('http://example.com', timeout=2)\n"
            "except Exception as e:\n print(type(e).__name__)\n")
    env = {"PYTHONPATH": str(ROOT / "tests" / "offline"), "COURSE_NETWORK_LOG": str(log), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "example.com" in log.read_text()
    assert out.stdout.strip() in ("URLError", "ConnectionRefusedError")


def test_setup_in_full_mode_leaves_network_alone(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "full")
    course.setup("0_2", quiet=True)
    assert socket.socket.connect is course._real_connect


_NOISE = ("cuInit", "Could not find cuda drivers", "NodeDef mentions attribute", "absl::InitializeLog",
          "oneDNN custom operations", "cpu_feature_guard")


def _run_cells(cells, tmp_path, env_extra=None):
    import nbformat
    import kernel

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    env = dict(os.environ, PYTHONPATH=str(ROOT), COURSE_MODE="fast", **(env_extra or {}))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as on a student's laptop: nothing set beforehand
    kernel.execute(nb, env, tmp_path, timeout=120)
    return ["".join(o.get("text", "")) + json.dumps(o.get("data", {})) for c in nb.cells for o in c.outputs]


def test_notebook_outputs_carry_no_tensorflow_startup_noise(tmp_path):
    """A set-up cell imports utils first; TensorFlow's C++ start-up and CUDA-probing lines
    (which read as failures to a student) must not reach the cell outputs, but the work runs."""
    outputs = _run_cells([
        "from utils import course\nimport keras\nimport numpy as np\nimport tensorflow as tf",
        "cfg = course.setup('0_2', seed=1)",
        "ds = tf.data.Dataset.from_tensor_slices((np.ones((16, 4), 'float32'), np.ones((16, 2), 'float32'))).batch(4)\n"
        "m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\nm.compile('adam', 'mse')\n"
        "m.fit(ds, epochs=2, verbose=0)\nprint('predicted', m.predict(ds, verbose=0).shape)",
    ], tmp_path)
    text = "\n".join(outputs)
    assert "predicted (16, 2)" in text and "mode: FAST" in text
    assert not [n for n in _NOISE if n in text], text


def test_tensorflow_startup_lines_are_filtered_and_other_lines_kept():
    """Control first: a plain `import tensorflow` prints its C++ start-up lines on this machine;
    `import_tensorflow_quietly` removes exactly those and passes anything else on."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    plain = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, text=True, env=env)
    quiet = subprocess.run([sys.executable, "-c", "import os, sys\nfrom utils.course import import_tensorflow_quietly\n"
                            "import_tensorflow_quietly()\nimport tensorflow as tf\n"
                            "os.write(2, b'a real warning\\n')\nprint(tf.constant(2).numpy())"],
                           capture_output=True, text=True, env=env)
    assert quiet.returncode == 0 and quiet.stdout.strip() == "2"
    assert "a real warning" in quiet.stderr
    assert not [n for n in _NOISE if n in quiet.stderr], quiet.stderr
    if not [n for n in _NOISE if n in plain.stderr]:
        pytest.skip("this TensorFlow build prints no start-up lines here: nothing to filter")


def test_every_full_mode_path_knob_resolves_from_the_root_in_any_working_directory(tmp_path):
    """Run the knob resolution of every notebook, both modes, from an unrelated working directory
    (as JupyterLab does from notebooks/ and Colab from its own folder)."""
    code = ("import json\nfrom utils import course\nfrom utils.knobs import KNOBS\nout = {}\n"
            "for nb in KNOBS:\n    for mode in course.MODES:\n"
            "        for k, v in course.knobs(nb, mode).items():\n"
            "            for item in (v if isinstance(v, list) else [v]):\n"
            "                if not isinstance(item, (str, bytes)) and hasattr(item, '__fspath__'):\n"
            "                    out[f'{nb}/{mode}/{k}'] = str(item)\n"
            "                elif isinstance(item, str) and item.startswith(('data/', 'weights/', 'outputs/')):\n"
            "                    out[f'{nb}/{mode}/{k}'] = 'UNRESOLVED ' + item\n"
            "print(json.dumps(out))")
    for cwd in (tmp_path, ROOT / "notebooks"):
        run = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert run.returncode == 0, run.stderr
        paths = json.loads(run.stdout)
        assert paths, "no path knobs found at all"
        for key, value in paths.items():
            assert not value.startswith("UNRESOLVED"), f"{key}: {value}"
            assert Path(value).is_absolute() and Path(value).is_relative_to(ROOT), f"{key}: {value}"
    assert any(k.startswith("3_3/full/") for k in paths) and any(k.startswith("3_4/full/") for k in paths)


def test_course_path_resolves_from_the_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert course.path("data/giraffe.jpg") == ROOT / "data" / "giraffe.jpg"
    assert course.path(tmp_path / "x") == tmp_path / "x"
    assert course.knobs("3_3", "full")["dataset"] == ROOT / "data" / "kick_scooters"
