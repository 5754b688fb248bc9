"""python -m utils.faces: enrol, recognize, list, remove; JSON output and exit codes."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from utils import data, faces
from utils.faces import samples
from utils.faces.__main__ import main
from utils.images import save_image

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """people/<name>/<image>, query images, a non-image, a faceless photo, a group photo."""
    root = tmp_path_factory.mktemp("cli")
    people = samples.people()
    save_image(root / "people" / "Grace Hopper" / "grace.png", people["Grace Hopper"])
    save_image(root / "people" / "Cameraman" / "camera.png", people["Cameraman"])
    q = root / "queries"
    save_image(q / "grace_flip.png", samples.augment(people["Grace Hopper"], "flip"))
    save_image(q / "eileen_dark.png", samples.augment(people["Eileen Collins"], "dark"))
    save_image(q / "coffee.png", data.photo("coffee"))
    (q / "notes.jpg").write_text("not an image")
    save_image(root / "eileen.png", people["Eileen Collins"])
    return root


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_enrol_recognize_list_remove(files, tmp_path, capsys):
    db = tmp_path / "faces.db"
    code, out, err = run(capsys, "enrol", "--db", db, "--folder", files / "people")
    assert code == 0 and out.count("enrolled '") == 2 and "2 enrolled" in out and err == ""
    code, out, err = run(capsys, "enrol", "--db", db, "--name", "Eileen Collins", files / "eileen.png")
    assert code == 2 and "eileen.png: 2 faces found" in err and "--largest" not in out
    code, out, err = run(capsys, "enrol", "--db", db, "--name", "Eileen Collins", "--largest", files / "eileen.png")
    assert code == 0 and "enrolled 'Eileen Collins'" in out
    code, out, err = run(capsys, "enrol", "--db", db, "--name", "Eileen Collins", "--largest", files / "eileen.png")
    assert code == 0 and "already enrolled as 'Eileen Collins'" in out

    q = files / "queries"
    code, out, err = run(capsys, "recognize", "--db", db, q / "grace_flip.png", q / "notes.jpg",
                         q / "eileen_dark.png", q / "coffee.png")
    assert code == 2 and "notes.jpg: not an image file" in err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [Path(r["image"]).name for r in lines] == ["grace_flip.png", "eileen_dark.png", "coffee.png"]
    assert [f["name"] for f in lines[0]["faces"]] == ["Grace Hopper"]
    assert sorted(f["name"] for f in lines[1]["faces"]) == ["Eileen Collins", "unknown"]  # and the patch
    assert lines[2]["faces"] == []
    face = lines[0]["faces"][0]
    assert set(face) == {"name", "distance", "box"} and len(face["box"]) == 4 and 0 <= face["distance"] <= 0.6
    # the same numbers as the Python API
    with faces.FaceDB(db, create=False) as fdb:
        api = faces.recognize(fdb, samples.augment(samples.people()["Grace Hopper"], "flip"))
    assert face == api[0].as_dict()
    code, out, _ = run(capsys, "recognize", "--db", db, "--tolerance", "0.0", q / "grace_flip.png")
    assert code == 0 and json.loads(out)["faces"][0]["name"] == "unknown"

    code, out, _ = run(capsys, "list", "--db", db, "--json")
    assert code == 0 and [json.loads(x)["name"] for x in out.splitlines()] == ["Cameraman", "Eileen Collins", "Grace Hopper"]
    code, out, _ = run(capsys, "remove", "--db", db, "--name", "Grace Hopper")
    assert code == 0 and "1 face row(s)" in out
    code, _, err = run(capsys, "remove", "--db", db, "--name", "Grace Hopper")
    assert code == 2 and "nobody named 'Grace Hopper'" in err
    code, out, _ = run(capsys, "list", "--db", db)
    assert code == 0 and "2 people, 2 face(s)" in out


def test_bad_input_exits_2_naming_the_file(files, tmp_path, capsys):
    db = tmp_path / "faces.db"
    q = files / "queries"
    code, _, err = run(capsys, "enrol", "--db", db, "--name", "Nobody", q / "coffee.png", q / "notes.jpg")
    assert code == 2 and "coffee.png: no face found" in err and "notes.jpg: not an image file" in err
    code, _, err = run(capsys, "enrol", "--db", db, "--name", "Nobody", tmp_path / "missing.png")
    assert code == 2 and "missing.png: no such file" in err
    code, _, err = run(capsys, "enrol", "--db", db, "--folder", q)
    assert code == 2 and "directly in" in err  # images outside person folders
    code, _, err = run(capsys, "recognize", "--db", tmp_path / "none.db", q / "coffee.png")
    assert code == 2 and "none.db: no such face database" in err
    code, _, err = run(capsys, "list", "--db", q / "notes.jpg")
    assert code == 2 and "notes.jpg: not a SQLite file" in err
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.commit()
    code, _, err = run(capsys, "remove", "--db", foreign, "--name", "x")
    assert code == 2 and "not a face database" in err
    code, _, err = run(capsys, "enrol", "--db", db, "--name", "unknown", files / "eileen.png")
    assert code == 2 and "reserved" in err


@pytest.mark.parametrize("argv", [[], ["enrol", "--folder", "x", "--name", "y"], ["enrol", "--name", "y"],
                                  ["enrol", "--name", "y", "a.png", "--face-index", "0", "--largest"],
                                  ["recognize"], ["recognize", "--tolerance", "-1", "a.png"], ["remove"],
                                  ["frobnicate"]])
def test_bad_usage_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_names_with_quotes_through_the_cli(files, tmp_path, capsys):
    db = tmp_path / "faces.db"
    name = "Grace \"Amazing\" O'Hopper; DROP TABLE faces;--"
    assert run(capsys, "enrol", "--db", db, "--name", name, files / "people" / "Grace Hopper" / "grace.png")[0] == 0
    code, out, _ = run(capsys, "recognize", "--db", db, files / "queries" / "grace_flip.png")
    assert code == 0 and json.loads(out)["faces"][0]["name"] == name
    assert run(capsys, "remove", "--db", db, "--name", name)[0] == 0


def test_enrol_from_a_video_file(tmp_path, capsys):
    grace = cv2.resize(data.photo("grace_hopper"), (256, 300), interpolation=cv2.INTER_AREA)
    frames = [samples.augment(grace, k) for k in ("flip", "bright", "dark", "rotate+8")] + [data.photo("coffee")[:300, :256]]
    video = faces.write_video(tmp_path / "me.avi", frames, fps=5)
    db = tmp_path / "faces.db"
    code, out, err = run(capsys, "enrol", "--db", db, "--name", "Grace", "--video", video, "--every", "1")
    assert code == 2 and out.count("enrolled 'Grace'") == 4 and "me.avi#frame=4: no face found" in err
    with faces.FaceDB(db, create=False) as fdb:
        assert [r["source"] for r in fdb.rows()] == [f"{video}#frame={i}" for i in range(4)]


def test_real_process_exit_codes(files, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    db = tmp_path / "faces.db"

    def cli(*argv):
        return subprocess.run([sys.executable, "-m", "utils.faces", *map(str, argv)], capture_output=True,
                              text=True, cwd=ROOT, env=env)

    p = cli("enrol", "--db", db, "--folder", files / "people")
    assert p.returncode == 0, p.stderr
    p = cli("recognize", "--db", db, files / "queries" / "grace_flip.png")
    assert p.returncode == 0 and json.loads(p.stdout)["faces"][0]["name"] == "Grace Hopper"
    p = cli("recognize", "--db", db, files / "queries" / "notes.jpg")
    assert p.returncode == 2 and "notes.jpg" in p.stderr and p.stdout == ""


@contextlib.contextmanager
def read_only(*paths):
    """Make files and folders read-only even for root (``chattr +i``), or by permissions for
    other users; skip when neither works here."""
    used = None
    try:
        if os.geteuid() == 0:
            if shutil.which("chattr") is None:
                pytest.skip("needs chattr to make a file read-only for root")
            for p in paths:
                if subprocess.run(["chattr", "+i", str(p)], capture_output=True).returncode:
                    pytest.skip("this file system has no immutable attribute")
            used = "chattr"
        else:
            for p in paths:
                p.chmod(0o555 if p.is_dir() else 0o444)
            used = "chmod"
        yield
    finally:
        for p in paths:
            if used == "chattr":
                subprocess.run(["chattr", "-i", str(p)], capture_output=True)
            elif used == "chmod":
                p.chmod(0o755 if p.is_dir() else 0o644)


def test_read_only_database_in_a_read_only_folder_can_be_listed_not_changed(files, tmp_path, capsys):
    folder = tmp_path / "ro"
    db = folder / "faces.db"
    assert run(capsys, "enrol", "--db", db, "--folder", files / "people")[0] == 0
    with faces.FaceDB(db) as fdb:  # a clean close merges the WAL and removes -wal and -shm
        fdb.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert sorted(p.name for p in folder.iterdir()) == ["faces.db"]
    before = db.read_bytes()
    with read_only(db, folder):
        code, out, err = run(capsys, "list", "--db", db)
        assert code == 0 and "2 people, 2 face(s)" in out, err
        code, out, err = run(capsys, "recognize", "--db", db, files / "queries" / "grace_flip.png")
        assert code == 0 and json.loads(out)["faces"][0]["name"] == "Grace Hopper", err
        code, out, err = run(capsys, "remove", "--db", db, "--name", "Cameraman")
        assert code == 2 and err.count("\n") == 1 and "faces.db: read-only (the file or its folder" in err
    assert db.read_bytes() == before


def test_remove_on_a_read_only_database_file(files, tmp_path, capsys):
    db = tmp_path / "faces.db"
    assert run(capsys, "enrol", "--db", db, "--folder", files / "people")[0] == 0
    with faces.FaceDB(db) as fdb:
        fdb.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = db.read_bytes()
    with read_only(db):
        code, out, err = run(capsys, "remove", "--db", db, "--name", "Cameraman")
    assert code == 2 and "could not remove 'Cameraman'" in err and "Traceback" not in err
    assert db.read_bytes() == before


@pytest.mark.parametrize("argv, message", [
    (["recognize", "--tolerance", "nan", "a.png"], "--tolerance: nan is not a distance between 0 and 1"),
    (["recognize", "--tolerance", "inf", "a.png"], "--tolerance: inf is not a distance"),
    (["recognize", "--tolerance", "1.01", "a.png"], "--tolerance: 1.01 is not a distance"),
    (["recognize", "--upsample", "-1", "a.png"], "--upsample: -1 is below 0"),
    (["enrol", "--name", "Ada", "--video", "v.avi", "--every", "0"], "--every: 0 is below 1"),
    (["enrol", "--name", "Ada", "--camera", "-1"], "--camera: -1 is below 0"),
])
def test_out_of_range_arguments_exit_2_with_one_error_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err
    assert [line for line in err.splitlines() if "error" in line] == [line for line in err.splitlines() if message in line]
