"""utils.weights: verified, resumable, atomic downloads with clear messages (tested on loopback)."""
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from utils import weights
from utils.weights import AssetError, Registry

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes


class _Handler(BaseHTTPRequestHandler):
    payload = PAYLOAD
    served = []

    def do_GET(self):  # noqa: N802
        if self.path == "/broken":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.payload)))
            self.end_headers()
            self.wfile.write(b"x" * len(self.payload))
            return
        start = 0
        rng = self.headers.get("Range")
        if rng:
            start = int(re.match(r"bytes=(\d+)-", rng).group(1))
            if start >= len(self.payload):  # as real servers do: nothing left to send
                self.served.append(416)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(self.payload)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(self.payload) - 1}/{len(self.payload)}")
        else:
            self.send_response(200)
        body = self.payload[start:]
        self.served.append(len(body))  # before writing: the client may finish before this thread goes on
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.served = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _manifest(tmp_path, url, **entry):
    asset = {"url": url, "sha256": hashlib.sha256(PAYLOAD).hexdigest(), "size": len(PAYLOAD),
             "licence": "test", "notebooks": ["0_1"], "filename": "model.bin"}
    asset.update(entry)
    asset = {k: v for k, v in asset.items() if v is not ...}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"assets": {"model": asset}}))
    return path


def test_fetch_verifies_and_places_the_file(tmp_path, server):
    reg = Registry(_manifest(tmp_path, server + "/model"))
    with pytest.raises(AssetError, match="python -m utils.weights fetch model"):
        reg.verify("model")
    path = reg.fetch("model", quiet=True)
    assert path == tmp_path / "model.bin" and path.read_bytes() == PAYLOAD
    assert not (tmp_path / "model.bin.part").exists()
    assert reg.fetch("model", quiet=True) == path and _Handler.served == [len(PAYLOAD)]  # cached: no second download


def test_fetch_resumes_from_a_partial_file(tmp_path, server):
    reg = Registry(_manifest(tmp_path, server + "/model"))
    (tmp_path / "model.bin.part").write_bytes(PAYLOAD[:30000])
    assert reg.fetch("model", quiet=True).read_bytes() == PAYLOAD
    assert _Handler.served == [len(PAYLOAD) - 30000]


def test_checksum_mismatch_deletes_the_download_and_says_so(tmp_path, server):
    reg = Registry(_manifest(tmp_path, server + "/broken"))
    with pytest.raises(AssetError, match="expected") as err:
        reg.fetch("model", quiet=True)
    assert "deleted" in str(err.value)
    assert not (tmp_path / "model.bin").exists() and not (tmp_path / "model.bin.part").exists()


def test_sha1_and_md5_digests_are_supported(tmp_path, server):
    for algo in ("sha1", "md5"):
        m = _manifest(tmp_path, server + "/model", sha256=..., **{algo: hashlib.new(algo, PAYLOAD).hexdigest()})
        reg = Registry(m)
        (tmp_path / "model.bin").unlink(missing_ok=True)
        assert reg.fetch("model", quiet=True).read_bytes() == PAYLOAD


def test_unpinned_asset_is_checked_by_size(tmp_path, server, capsys):
    reg = Registry(_manifest(tmp_path, server + "/model", sha256=None))
    reg.fetch("model", quiet=True)
    assert hashlib.sha256(PAYLOAD).hexdigest() in capsys.readouterr().err
    (tmp_path / "model.bin").write_bytes(PAYLOAD[:-1])
    with pytest.raises(AssetError, match="size is"):
        reg.verify("model")


def test_corrupt_local_file_is_detected(tmp_path, server):
    reg = Registry(_manifest(tmp_path, server + "/model"))
    reg.fetch("model", quiet=True)
    (tmp_path / "model.bin").write_bytes(b"y" * len(PAYLOAD))
    with pytest.raises(AssetError, match="corrupt"):
        reg.verify("model")


def test_offline_gives_a_clear_message_and_keeps_the_partial(tmp_path):
    reg = Registry(_manifest(tmp_path, "http://127.0.0.1:9/model"))  # discard port: connection refused
    (tmp_path / "model.bin.part").write_bytes(b"abc")
    with pytest.raises(AssetError, match="Are you online"):
        reg.fetch("model", quiet=True, timeout=2)
    assert (tmp_path / "model.bin.part").read_bytes() == b"abc"


def test_unknown_asset_and_bad_manifest(tmp_path):
    reg = Registry(_manifest(tmp_path, "http://127.0.0.1:9/x"))
    with pytest.raises(AssetError, match="no asset 'nope'"):
        reg.get("nope")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(AssetError, match="bad.json: not valid JSON"):
        Registry(bad)
    bad.write_text(json.dumps({"assets": {"a": {"url": "x", "licence": "y", "notebooks": []}}}))
    with pytest.raises(AssetError, match="checksum"):
        Registry(bad)
    with pytest.raises(AssetError, match="manifest not found"):
        Registry(tmp_path / "none.json")


def test_cli_list_and_fetch(tmp_path, server, capsys):
    m = _manifest(tmp_path, server + "/model")
    assert weights.main(["--manifest", str(m), "list"]) == 0
    assert re.search(r"model .* missing", capsys.readouterr().out)
    assert weights.main(["--manifest", str(m), "fetch", "model"]) == 0
    assert (tmp_path / "model.bin").exists()
    weights.main(["--manifest", str(m), "list"])
    assert re.search(r"model .* here", capsys.readouterr().out)
    assert weights.main(["--manifest", str(m), "fetch", "nope"]) == 1
    assert "no asset" in capsys.readouterr().err


def test_the_course_manifest_is_valid_and_points_at_real_notebooks():
    reg = Registry()
    notebooks = {p.name.split("_")[0] + "_" + p.name.split("_")[1] for p in (weights.ROOT / "notebooks").glob("*.ipynb")}
    for asset in reg.assets.values():
        assert asset.url.startswith("https://"), asset.name
        assert asset.digest is None or re.fullmatch(r"[0-9a-f]+", asset.digest), asset.name
        assert asset.notebooks and set(asset.notebooks) <= notebooks, (asset.name, asset.notebooks)
