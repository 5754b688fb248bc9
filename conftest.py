"""Test-run plumbing shared by the unit tests and the notebooks (run with nbval):

- every process the run starts, notebook kernels included, has outbound network blocked
  (``tests/offline/sitecustomize.py``); any attempt fails the run;
- each notebook's wall time (and its kernel's peak memory, on Linux) is collected and
  printed as a table at the end, and written to ``build/notebook-times.json``.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
OFFLINE = ROOT / "tests" / "offline"

if os.environ.get("PYTEST_XDIST_WORKER") is None and "COURSE_NETWORK_LOG" not in os.environ:
    os.environ["COURSE_NETWORK_LOG"] = str(Path(tempfile.mkdtemp(prefix="course-net-")) / "attempts.log")
os.environ["PYTHONPATH"] = os.pathsep.join([str(OFFLINE), str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
os.environ.setdefault("COURSE_MODE", "fast")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The instructor notebooks must pass their own checks (a failed check raises there); student copies run by
# `make test` from build/student keep the student behaviour (a failed check falls back to the reference).
os.environ.setdefault("COURSE_CHECKS_STRICT", str(ROOT / "notebooks"))

_times: dict[str, float] = defaultdict(float)
_memory: dict[str, float] = {}


def _kernel_peak_mb() -> float | None:
    """Peak resident memory (VmHWM) of this process's children, i.e. the notebook kernel."""
    try:
        import psutil

        peaks = []
        for child in psutil.Process().children(recursive=True):
            status = Path(f"/proc/{child.pid}/status")
            if status.exists():
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) / 1024)
        return max(peaks) if peaks else None
    except Exception:
        return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if item.nodeid.split("::")[0].endswith(".ipynb") and call.when == "call":
        peak = _kernel_peak_mb()
        if peak is not None:
            report.user_properties.append(("kernel_peak_mb", peak))


def pytest_runtest_logreport(report):
    file = report.nodeid.split("::")[0]
    if not file.endswith(".ipynb"):
        return
    _times[file] += report.duration
    for key, value in report.user_properties:
        if key == "kernel_peak_mb":
            _memory[file] = max(_memory.get(file, 0.0), value)


def pytest_terminal_summary(terminalreporter):
    if not _times:
        return
    tr = terminalreporter
    tr.section("notebook wall times (fast mode)")
    width = max(len(Path(f).name) for f in _times)
    tr.write_line(f"{'notebook':<{width}}  {'seconds':>8}  {'peak MB':>8}")
    for file in sorted(_times):
        mem = f"{_memory[file]:8.0f}" if file in _memory else f"{'?':>8}"
        flag = "  over the 60 s budget" if _times[file] > 60 and not Path(file).name.startswith("3_3") else ""
        tr.write_line(f"{Path(file).name:<{width}}  {_times[file]:8.1f}  {mem}{flag}")
    tr.write_line(f"{'total':<{width}}  {sum(_times.values()):8.1f}")
    out = ROOT / "build" / "notebook-times.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"seconds": dict(_times), "peak_mb": _memory}, indent=1, sort_keys=True))


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    log = Path(os.environ.get("COURSE_NETWORK_LOG", ""))
    if log.is_file() and log.read_text().strip():
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            "network access was attempted during the tests (fast mode must be offline):\n" + log.read_text(), red=True)
        session.exitstatus = 1
