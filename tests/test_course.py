"""utils.course: the mode switch, knobs, seeding and the fast-mode network guard."""
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
