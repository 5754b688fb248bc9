"""utils.faces.FaceDB: enrolment, recognition equal to face_recognition's, transactions,
kill -9, WAL readers, duplicates, names, removal and foreign files."""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from utils import data, faces
from utils.faces import samples
from utils.images import ImageError, save_image

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import face_recognition as fr

ROOT = Path(__file__).resolve().parent.parent
N_LFW = 10
QUERY_VARIANTS = ("flip", "crop", "dark", "rotate+8")


def fr_known(known_images):
    """Encodings of the enrolment photos by face_recognition's own functions."""
    known_enc, known_names = [], []
    for name, (img, pick) in known_images.items():
        locs = fr.face_locations(img)
        loc = max(locs, key=lambda b: (b[2] - b[0]) * (b[1] - b[3])) if pick == "largest" else locs[0]
        known_enc.append(fr.face_encodings(img, [loc])[0])  # the library's own defaults
        known_names.append(name)
    return known_names, known_enc


def fr_reference(known_names, known_enc, query, tolerance=0.6):
    """Names, distances and boxes by face_recognition's own functions only."""
    query = np.ascontiguousarray(query)  # dlib needs contiguous arrays
    out = []
    locs = fr.face_locations(query)
    for loc, enc in zip(locs, fr.face_encodings(query, locs)):
        d = fr.face_distance(np.array(known_enc), enc)
        j = int(np.argmin(d))
        out.append((known_names[j] if d[j] <= tolerance else "unknown", float(d[j]), loc))
    return out


def test_recognition_equals_face_recognition_on_real_people(tmp_path):
    """Done-when: enrol one photo per person, recognise other photos; same names and
    distances (1e-4) as face_recognition. People: Grace Hopper, Eileen Collins, the
    cameraman (3 named people at photo resolution) and 10 unnamed LFW thumbnails."""
    people = samples.people()
    pool = samples.lfw_faces(N_LFW + 8)
    lfw = [img for img in pool if len(fr.face_locations(img)) == 1][:N_LFW]  # HOG misses a few thumbnails
    assert len(lfw) == N_LFW
    known = {name: (img, "largest") for name, img in people.items()}
    known.update({f"lfw {i:02d}": (img, "first") for i, img in enumerate(lfw)})
    with faces.FaceDB(tmp_path / "faces.db") as db:
        for name, (img, pick) in known.items():
            path = save_image(tmp_path / "enrol" / f"{name}.png", img)
            assert db.enrol_image(name, path, largest=(pick == "largest")).status == "enrolled"
        assert len(db) == len(known) == 3 + N_LFW
        queries = {f"{n} {k}": v for n, img in people.items() for k, v in samples.variants(img, QUERY_VARIANTS).items()}
        queries.update({f"lfw {i:02d} flip": img[:, ::-1] for i, img in enumerate(lfw)})
        queries["lfw 40 (not enrolled)"] = samples.lfw_faces(41)[40]
        known_names, known_enc = fr_known(known)
        compared = right = detected = 0
        for label, img in queries.items():
            ours = [(m.name, m.distance, m.box) for m in faces.recognize(db, img)]
            ref = fr_reference(known_names, known_enc, img)
            assert [o[0] for o in ours] == [r[0] for r in ref], label
            assert [o[2] for o in ours] == [r[2] for r in ref], label
            np.testing.assert_allclose([o[1] for o in ours], [r[1] for r in ref], rtol=0, atol=1e-4, err_msg=label)
            compared += len(ours)
            person = label.rsplit(" ", 1)[0]
            if person in people:
                detected += bool(ours)
                right += any(o[0] == person for o in ours)
    # the library is also right: each named person is recognised as themself wherever HOG finds the face
    assert compared >= 25 and right == detected >= 10


def test_enrol_folder_duplicates_and_report(tmp_path):
    folder = samples.write_people_folder(tmp_path / "people", kinds=("original", "flip"))
    (tmp_path / "people" / "Grace Hopper" / "copy.png").write_bytes(
        (folder / "Grace Hopper" / "original.png").read_bytes())  # same content, another name
    (tmp_path / "people" / "Grace Hopper" / "broken.jpg").write_text("this is not a JPEG")
    with faces.FaceDB(tmp_path / "f.db") as db:
        report = db.enrol_folder(folder, largest=True)
        assert len(report.enrolled) == 5  # the cameraman's mirror image has no face HOG can find
        assert len(report.duplicates) == 1 and report.duplicates[0].name == "Grace Hopper"
        errors = dict(report.errors)
        assert len(errors) == 2
        assert "not an image file" in errors[str(folder / "Grace Hopper" / "broken.jpg")]
        assert "no face found" in errors[str(folder / "Cameraman" / "flip.png")]
        again = db.enrol_folder(folder, largest=True)
        assert len(again.enrolled) == 0 and len(again.duplicates) == 6 and len(db) == 5
        # an array with the same pixels as an enrolled array is a duplicate too
        arr = samples.people()["Grace Hopper"][::2, ::2]
        assert db.enrol_image("Grace Hopper", arr).status == "enrolled"
        assert db.enrol_image("Someone Else", arr.copy()).status == "duplicate"
        assert [p["name"] for p in db.people()] == ["Cameraman", "Eileen Collins", "Grace Hopper"]


def test_several_faces_refused_unless_told_which(tmp_path):
    path = save_image(tmp_path / "eileen.png", data.photo("astronaut"))
    with faces.FaceDB(tmp_path / "f.db") as db:
        with pytest.raises(faces.EnrolError, match=r"eileen.png: 2 faces found.*face_index"):
            db.enrol_image("Eileen Collins", path)
        with pytest.raises(faces.EnrolError, match="face index 5 out of range"):
            db.enrol_image("Eileen Collins", path, face_index=5)
        assert len(db) == 0 and db.people() == []
        got = db.enrol_image("Eileen Collins", path, face_index=1)  # 0 = leftmost: the patch
        assert got.box == (76, 265, 166, 175)
        with pytest.raises(faces.EnrolError, match="no face found"):
            db.enrol_image("Nobody", save_image(tmp_path / "coffee.png", data.photo("coffee")))
        with pytest.raises(FileNotFoundError, match="nothere.png"):
            db.enrol_image("Nobody", tmp_path / "nothere.png")
        assert [p["name"] for p in db.people()] == ["Eileen Collins"]


@pytest.mark.parametrize("name", ["O'Brien \"Bob\"", "Robert'); DROP TABLE people;--", "x%_*\\", "Zoë Ñúñez 李"])
def test_names_with_quotes_and_sql_metacharacters(tmp_path, name):
    with faces.FaceDB(tmp_path / "f.db") as db:
        db.enrol_image(name, data.photo("grace_hopper"))
        db.enrol_image("Other", data.photo("astronaut"), largest=True)
        assert [p["name"] for p in db.people()] == sorted([name, "Other"])
        assert [m.name for m in faces.recognize(db, samples.augment(data.photo("grace_hopper"), "flip"))] == [name]
        assert db.remove(name) == 1 and [p["name"] for p in db.people()] == ["Other"]


@pytest.mark.parametrize("bad, message", [("", "empty"), ("  ", "empty"), ("Unknown", "reserved"),
                                          ("a\nb", "control"), ("x" * 129, "longer than 128"), (3, "string")])
def test_bad_names_refused(tmp_path, bad, message):
    with faces.FaceDB(tmp_path / "f.db") as db:
        with pytest.raises(faces.EnrolError, match=message):
            db.enrol_image(bad, data.photo("grace_hopper"))
        assert len(db) == 0


def test_remove_deletes_every_row_and_photos_only_when_asked(tmp_path):
    grace = samples.people()["Grace Hopper"]
    with faces.FaceDB(tmp_path / "f.db") as db:
        db.enrol_images("Grace", [grace, samples.augment(grace, "dark")])
        db.enrol_image("Eileen", data.photo("astronaut"), largest=True)
        assert len(db) == 3
        raw = sqlite3.connect(tmp_path / "f.db")
        assert raw.execute("SELECT COUNT(*) FROM faces WHERE photo IS NOT NULL").fetchone()[0] == 0
        assert db.remove("Grace") == 2 and db.remove("Grace") == 0
        assert raw.execute("SELECT COUNT(*) FROM people WHERE name = 'Grace'").fetchone()[0] == 0
        assert raw.execute("SELECT COUNT(*) FROM faces WHERE person_id NOT IN (SELECT id FROM people)").fetchone()[0] == 0
        assert [r["name"] for r in db.rows()] == ["Eileen"]
        raw.close()
    with faces.FaceDB(tmp_path / "p.db", keep_photos=True) as db:
        got = db.enrol_image("Grace", grace)
        assert db.photo(got.face_id).shape == (150, 150, 3) and db.rows()[0]["photo"] is True


def test_model_is_recorded_and_not_mixed(tmp_path):
    with faces.FaceDB(tmp_path / "f.db", model="small") as db:
        db.enrol_image("Grace", data.photo("grace_hopper"))
        row = db.rows()[0]
        assert row["model"].endswith("/small") and "dlib" in row["model_version"] and row["detector"] == "hog"
        assert len(row["sha256"]) == 64 and row["added"].startswith("20")
    with faces.FaceDB(tmp_path / "f.db", model="large") as db:
        with pytest.raises(faces.FaceDBError, match="encoded with .*small"):
            db.known()


def test_foreign_or_unreadable_files_are_refused(tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("hello, not a database at all")
    with pytest.raises(faces.FaceDBError, match="notes.db: not a SQLite file"):
        faces.FaceDB(text)
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.commit()
    con.close()
    with pytest.raises(faces.FaceDBError, match="other.sqlite: a SQLite database, but not a face database"):
        faces.FaceDB(other)
    assert sqlite3.connect(other).execute("SELECT name FROM sqlite_master").fetchall() == [("invoices",)]
    with pytest.raises(faces.FaceDBError, match="no such face database"):
        faces.FaceDB(tmp_path / "missing.db", create=False)
    with pytest.raises(faces.FaceDBError, match="is a folder"):
        faces.FaceDB(tmp_path)
    newer = tmp_path / "newer.db"
    faces.FaceDB(newer).close()
    con = sqlite3.connect(newer)
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(faces.FaceDBError, match="schema version 99"):
        faces.FaceDB(newer)
    truncated = tmp_path / "truncated.db"
    good = tmp_path / "good.db"
    with faces.FaceDB(good) as db:
        db.enrol_image("Grace", data.photo("grace_hopper"))
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(faces.FaceDBError, match="truncated.db"):
        faces.FaceDB(truncated).known()


# ------------------------------------------------------------------ crash safety

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from utils import faces

    class Slow(faces.FaceDB):
        def _insert_face(self, person_id, *args, **kwargs):
            if self.pause_on == args[1]:           # args[1] is the source
                print("INSIDE", args[1], flush=True)
                time.sleep(120)                    # killed here, between the person and the face rows
            return super()._insert_face(person_id, *args, **kwargs)

    db_path, folder, pause_on = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    db = Slow(db_path)
    db.pause_on = pause_on
    for path in sorted(folder.glob("*.png")):
        name = "Late Person" if str(path) == pause_on else "Grace " + path.stem[-1]
        result = db.enrol_image(name, path)
        print("COMMITTED", path, result.status, flush=True)
""")


@pytest.fixture(scope="module")
def many_images(tmp_path_factory):
    """16 distinct small images of Grace Hopper (brightness steps of the variants)."""
    folder = tmp_path_factory.mktemp("many")
    grace = cv2.resize(data.photo("grace_hopper"), (256, 300), interpolation=cv2.INTER_AREA)
    for i in range(16):
        img = samples.augment(grace, ("flip", "bright", "dark", "rotate+8")[i % 4])
        img = np.clip(img.astype(int) + i, 0, 255).astype(np.uint8)
        save_image(folder / f"{i:02d}_{i % 3}.png", img)
    return folder


def _run_child(db_path, folder, pause_on):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-c", CHILD, str(db_path), str(folder), str(pause_on)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)


def _read_until(proc, predicate, timeout=240):
    lines, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.split())
        if predicate(lines):
            return lines
    proc.kill()
    raise AssertionError(f"child stopped early: {lines}\n{proc.stderr.read()}")


def _check_whole(db_path, expected_sources):
    with faces.FaceDB(db_path, create=False) as db:
        assert db.integrity() == "ok"
        rows = db.rows()
        assert sorted(r["source"] for r in rows) == sorted(expected_sources)
        assert all(len(r["sha256"]) == 64 and len(r["box"]) == 4 and r["model_version"] for r in rows)
        names, encodings = db.known()
        assert encodings.shape == (len(expected_sources), 128) and np.isfinite(encodings).all()
        assert all(p["faces"] >= 1 for p in db.people())  # no person row without its face
        return db.people()


def test_kill_inside_a_transaction_leaves_only_whole_images(tmp_path, many_images):
    db_path = tmp_path / "faces.db"
    pause_on = sorted(many_images.glob("*.png"))[5]
    proc = _run_child(db_path, many_images, pause_on)
    try:
        lines = _read_until(proc, lambda ls: ls[-1][0] == "INSIDE")
        committed = [ls[1] for ls in lines if ls[0] == "COMMITTED"]
        assert len(committed) == 5
        # WAL: another process reads and recognises while the writer holds its transaction open
        with faces.FaceDB(db_path, create=False, timeout=1) as reader:
            assert reader.con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert len(reader) == 5
            assert {m.name for m in faces.recognize(reader, data.photo("grace_hopper"))} <= {
                "Grace 0", "Grace 1", "Grace 2"}
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    people = _check_whole(db_path, committed)
    assert "Late Person" not in {p["name"] for p in people}  # its person row was rolled back
    with faces.FaceDB(db_path) as db:  # enrolment carries on where it stopped
        assert db.enrol_image("Late Person", pause_on).status == "enrolled"
        assert db.enrol_image("Grace 0", committed[0]).status == "duplicate"


def test_kill_at_any_moment_loses_nothing_committed(tmp_path, many_images):
    db_path = tmp_path / "faces.db"
    proc = _run_child(db_path, many_images, "never")
    try:
        lines = _read_until(proc, lambda ls: sum(x[0] == "COMMITTED" for x in ls) >= 4)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # mid-way through whatever it was doing
        proc.wait()
    printed = [ls[1] for ls in lines if ls[0] == "COMMITTED"]
    with faces.FaceDB(db_path, create=False) as db:
        stored = [r["source"] for r in db.rows()]
    assert stored[:len(printed)] == printed and len(stored) - len(printed) in (0, 1)
    _check_whole(db_path, stored)


def test_face_database_check(tmp_path):
    from utils import checks
    from utils.checks import CheckFailed

    folder = samples.write_people_folder(tmp_path / "people", kinds=("original", "bright"))
    with faces.FaceDB(tmp_path / "good.db") as db:
        db.enrol_folder(folder, largest=True)
    assert checks.face_database(tmp_path / "good.db", min_people=2)
    with pytest.raises(CheckFailed, match="3 people enrolled, expected at least 4"):
        checks.face_database(tmp_path / "good.db", min_people=4)
    with faces.FaceDB(tmp_path / "photos.db", keep_photos=True) as db:
        db.enrol_folder(folder, largest=True)
    with pytest.raises(CheckFailed, match="photos are stored"):
        checks.face_database(tmp_path / "photos.db")
    with faces.FaceDB(tmp_path / "mixed.db") as db:  # the same person under two names
        db.enrol_image("Grace", samples.people()["Grace Hopper"])
        db.enrol_image("Not Grace", samples.augment(samples.people()["Grace Hopper"], "bright"))
    with pytest.raises(CheckFailed, match="would be confused"):
        checks.face_database(tmp_path / "mixed.db")
    with pytest.raises(CheckFailed, match="no such face database"):
        checks.face_database(tmp_path / "missing.db")


@pytest.mark.parametrize("bad, code", [("Ada\x85Lovelace", "U+0085"), ("\u202eecalevoL adA", "U+202E"),
                                       ("Ada\u200bLovelace", "U+200B"), ("Ada\u2028Lovelace", "U+2028")])
def test_c1_controls_and_bidi_overrides_refused(tmp_path, bad, code):
    with faces.FaceDB(tmp_path / "f.db") as db:
        with pytest.raises(faces.EnrolError, match=re.escape(code)):
            db.enrol_image(bad, data.photo("grace_hopper"))
        with pytest.raises(faces.EnrolError, match=re.escape(code)):
            db.remove(bad)


def test_names_are_normalised_for_enrol_and_remove(tmp_path):
    composed, decomposed = "Zo\u00eb", "Zoe\u0308"
    assert faces.check_name(f"  {decomposed} ") == composed
    assert faces.check_name("\u0646\u0627\u200c\u0645") == "\u0646\u0627\u200c\u0645"  # a zero-width non-joiner stays
    with faces.FaceDB(tmp_path / "f.db") as db:
        db.enrol_image(decomposed, data.photo("grace_hopper"))
        assert [p["name"] for p in db.people()] == [composed]
        assert db.remove(f" {decomposed}") == 1 and len(db) == 0


def _header(path):
    return path.read_bytes()[:100]


def test_foreign_sqlite_file_is_refused_before_anything_touches_it(tmp_path):
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.commit()
    con.close()
    before = other.read_bytes()
    for kw in ({}, {"create": False}, {"read_only": True}):
        with pytest.raises(faces.FaceDBError, match="not a face database"):
            faces.FaceDB(other, **kw)
    assert other.read_bytes() == before  # bytes 18-19 of the header would say 2 (WAL) after a switch
    assert sqlite3.connect(other).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.sqlite"]


def test_read_only_opening_never_writes(tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(faces.FaceDBError, match="empty.db: an empty file, not a face database"):
        faces.FaceDB(empty, read_only=True)
    assert empty.read_bytes() == b""
    good = tmp_path / "good.db"
    with faces.FaceDB(good) as db:
        db.enrol_image("Grace", data.photo("grace_hopper"))
    before = good.read_bytes()
    with faces.FaceDB(good, read_only=True) as db:
        assert [p["name"] for p in db.people()] == ["Grace"] and len(db.known()[0]) == 1
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db.con.execute("DELETE FROM people")
    assert good.read_bytes() == before


@pytest.mark.parametrize("value", ["one", "", "1.5", "-1"])
def test_malformed_schema_version_is_a_clear_error(tmp_path, value):
    path = tmp_path / "f.db"
    faces.FaceDB(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (value,))
    con.commit()
    con.close()
    with pytest.raises(faces.FaceDBError, match=f"f.db: malformed schema version {value!r}"):
        faces.FaceDB(path)


def test_db_folder_that_cannot_be_created(tmp_path):
    (tmp_path / "blocker").write_text("a file where the folder should be")
    with pytest.raises(faces.FaceDBError, match="blocker/f.db: cannot create its folder"):
        faces.FaceDB(tmp_path / "blocker" / "f.db")


def test_enrol_video_without_a_readable_frame(tmp_path):
    writer = cv2.VideoWriter(str(tmp_path / "empty.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 5, (32, 32))
    writer.release()
    with faces.FaceDB(tmp_path / "f.db") as db:
        with pytest.raises(ImageError, match="empty.avi: no frame could be read"):
            db.enrol_video("Ada", tmp_path / "empty.avi")


def test_decompression_bomb_is_reported_per_image(tmp_path):
    from tests.test_bad_inputs import bomb_png

    (tmp_path / "bomb.png").write_bytes(bomb_png())
    save_image(tmp_path / "grace.png", data.photo("grace_hopper"))
    with faces.FaceDB(tmp_path / "f.db") as db:
        report = db.enrol_images("Grace", [tmp_path / "bomb.png", tmp_path / "grace.png"])
    assert len(report.enrolled) == 1 and "bomb.png: refused" in report.errors[0][1]


def test_sideways_phone_photo_is_enrolled_upright(tmp_path):
    from PIL import Image

    grace = data.photo("grace_hopper")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view": the pixels are stored turned left
    Image.fromarray(np.rot90(grace)).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    with faces.FaceDB(tmp_path / "f.db") as db:
        assert db.enrol_image("Grace", tmp_path / "phone.jpg").status == "enrolled"
