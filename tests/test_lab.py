"""`make lab` as an instructor uses it: the JupyterLab server starts headless, a notebook opens
with the course kernel through the Jupyter server's REST API, and its set-up cell runs over the
kernel's websocket channel (the same messages the browser sends)."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "0_1_Images_Kernels_Pooling.ipynb"
KERNEL = "advanced-cv"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base, token, path, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}{path}", data=data, method=method,
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
        return json.loads(text) if text else None


def _execute(ws, code, timeout=240):
    """Send one execute_request on the kernel channel; return (stream text, error or None)."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({"header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                                   "session": uuid.uuid4().hex, "version": "5.3"},
                        "parent_header": {}, "metadata": {}, "channel": "shell",
                        "content": {"code": code, "silent": False, "store_history": True,
                                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
    text, error, deadline = [], None, time.time() + timeout
    while time.time() < deadline:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "stream":
            text.append(msg["content"]["text"])
        elif kind == "error":
            error = f"{msg['content']['ename']}: {msg['content']['evalue']}"
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(text), error
    raise TimeoutError(f"no reply within {timeout} s")


def test_make_lab_serves_the_course_and_runs_a_setup_cell(tmp_path):
    websocket = pytest.importorskip("websocket")
    port, token = _free_port(), uuid.uuid4().hex
    env = dict(os.environ, COURSE_MODE="fast", JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    log = open(tmp_path / "lab.log", "w")
    server = subprocess.Popen(["make", "--no-print-directory", "lab",
                               f"LAB_ARGS=--port={port} --ServerApp.token={token} --ServerApp.ip=127.0.0.1"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                status = _api(base, token, "/api/status")
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "lab.log").read_text()[-3000:]
                assert time.time() < deadline, "JupyterLab did not start: " + (tmp_path / "lab.log").read_text()[-3000:]
                time.sleep(1)
        assert "started" in status
        specs = _api(base, token, "/api/kernelspecs")["kernelspecs"]
        assert KERNEL in specs, f"the course kernel is not installed: {sorted(specs)}"
        listing = {item["name"] for item in _api(base, token, "/api/contents/")["content"]}
        assert NOTEBOOK in listing, "make lab must serve notebooks/"
        nb = _api(base, token, f"/api/contents/{NOTEBOOK}")["content"]
        setup_cell = next(c for c in nb["cells"] if c["cell_type"] == "code" and "course.setup(" in "".join(c["source"]))
        session = _api(base, token, "/api/sessions", "POST",
                       {"path": NOTEBOOK, "type": "notebook", "name": NOTEBOOK, "kernel": {"name": KERNEL}})
        kernel_id = session["kernel"]["id"]
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels?token={token}",
                                         timeout=240)
        try:
            text, error = _execute(ws, "".join(setup_cell["source"]))
            assert error is None, error
            assert "[0_1] mode: FAST" in text and "versions:" in text and "GPU:" in text
            text, error = _execute(ws, "import os, sys\nprint(os.getcwd())\nprint(sys.executable)")
            assert error is None and text.splitlines()[0] == str(ROOT / "notebooks")
        finally:
            ws.close()
        _api(base, token, f"/api/sessions/{session['id']}", "DELETE")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
