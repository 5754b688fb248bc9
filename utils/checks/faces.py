"""Checks for the face notebooks (``4_1`` to ``4_3``).

Every check returns what the cells after it use: the student's function (or database) when it
passes, else the course's reference with a note (strict mode raises instead). The references
are written out here, apart from the code they check.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._core import Case, CheckFailed, check_value, run_cases
from .detection import _ref_iou as _ref_iou_xyxy

__all__ = ["encoding_distance", "enrol_people", "face_database", "nearest_name", "error_rates", "box_iou"]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(40_000 + seed)


def _ref_distance(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


def encoding_distance(func):
    """``func(a: (128,), b: (128,)) -> float``: the Euclidean distance between two face
    encodings, as ``face_recognition.face_distance`` measures it (``4_1``)."""
    rng = _rng(1)
    a, b = rng.normal(0, 0.1, 128), rng.normal(0, 0.1, 128)
    cases = [Case((a, a.copy()), expected=0.0, label="a face and itself"),
             Case((np.zeros(128), np.r_[3.0, 4.0, np.zeros(126)]), expected=5.0, label="3-4-5 triangle"),
             Case((a, b), expected=float(np.sqrt(((a - b) ** 2).sum())), label="two random encodings"),
             Case((b, a), expected=float(np.sqrt(((a - b) ** 2).sum())), label="order does not matter")]
    return run_cases("encoding_distance", func, cases, reference=_ref_distance,
                     hint="the Euclidean distance between two 128-number vectors; the 3-4-5 case tells you whether "
                          "you took the last step.")


def _ref_nearest_name(distances, names, tolerance) -> str:
    if len(distances) == 0:
        return "unknown"
    j = int(np.argmin(distances))
    return names[j] if distances[j] <= tolerance else "unknown"


def nearest_name(func):
    """``func(distances: (K,), names: list of K str, tolerance: float) -> str``: the name of the
    nearest known face if its distance is at most ``tolerance``, else ``"unknown"`` (``4_2``)."""
    names = ["Ada", "Grace", "Alan", "Grace"]
    cases = [Case((np.array([0.7, 0.35, 0.5, 0.8]), names, 0.6), expected="Grace", label="nearest is Grace"),
             Case((np.array([0.7, 0.65, 0.9, 0.8]), names, 0.6), expected="unknown", label="everyone too far"),
             Case((np.array([0.7, 0.65, 0.6, 0.8]), names, 0.6), expected="Alan",
                  label="exactly at the tolerance counts as a match"),
             Case((np.array([0.3, 0.2, 0.25, 0.1]), names, 0.15), expected="Grace", label="strict tolerance"),
             Case((np.zeros(0), [], 0.6), expected="unknown", label="an empty database")]
    return run_cases("nearest_name", func, cases, reference=_ref_nearest_name,
                     hint="an empty database has nobody to match; otherwise the candidate is the closest face, and "
                          "it only counts when it is within the tolerance (a distance exactly at the tolerance "
                          "matches).")


def _ref_error_rates(same, different, tolerance) -> tuple[float, float]:
    return float(np.mean(np.asarray(same) > tolerance)), float(np.mean(np.asarray(different) <= tolerance))


def error_rates(func):
    """``func(same: (P,), different: (N,), tolerance) -> (false_reject_rate, false_accept_rate)``:
    the share of same-person distances above the tolerance (wrongly rejected) and of
    different-person distances at or below it (wrongly accepted) (``4_2``)."""
    rng = _rng(2)
    same, diff = rng.uniform(0.1, 0.7, 50), rng.uniform(0.4, 1.0, 80)
    cases = [Case((np.array([0.2, 0.5, 0.7, 0.3]), np.array([0.5, 0.9, 0.65]), 0.6), expected=(0.25, 1 / 3),
                  label="the slide"),
             Case((same, diff, 0.0), expected=(1.0, 0.0), label="tolerance 0: accept nobody"),
             Case((same, diff, 2.0), expected=(0.0, 1.0), label="tolerance 2: accept everybody"),
             Case((same, diff, 0.55), expected=(float((same > 0.55).mean()), float((diff <= 0.55).mean())),
                  label="random distances")]
    return run_cases("error_rates", func, cases, reference=_ref_error_rates,
                     convert=lambda r: np.array([float(r[0]), float(r[1])]) if len(r) == 2 else None,
                     hint="a false reject is a same-person distance above the tolerance, a false accept a "
                          "different-person distance at or below it; return the two shares (means of booleans).")


def _ref_iou(a, b) -> float:
    """IoU of two ``(top, right, bottom, left)`` boxes: the ``xyxy`` definition of ``2_2`` after reordering."""
    return _ref_iou_xyxy((a[3], a[0], a[1], a[2]), (b[3], b[0], b[1], b[2]))


def box_iou(func):
    """``func(a, b) -> float``: intersection over union of two boxes given as
    ``(top, right, bottom, left)`` pixels, face_recognition's order (``4_3``)."""
    rng = _rng(3)
    cases = [Case(((10, 50, 50, 10), (10, 50, 50, 10)), expected=1.0, label="the same box"),
             Case(((0, 10, 10, 0), (20, 40, 40, 20)), expected=0.0, label="far apart"),
             Case(((0, 10, 10, 0), (0, 20, 10, 10)), expected=0.0, label="touching edges only"),
             Case(((0, 10, 10, 0), (5, 15, 15, 5)), expected=25 / 175, label="quarter overlap"),
             Case(((0, 100, 100, 0), (25, 75, 75, 25)), expected=0.25, label="one inside the other")]
    for _ in range(3):
        t, l = rng.integers(0, 50, 2)
        a = (int(t), int(l + rng.integers(5, 60)), int(t + rng.integers(5, 60)), int(l))
        t, l = rng.integers(0, 50, 2)
        b = (int(t), int(l + rng.integers(5, 60)), int(t + rng.integers(5, 60)), int(l))
        cases.append(Case((a, b), expected=_ref_iou(a, b), label=f"random {a} and {b}"))
    return run_cases("box_iou", func, cases, reference=_ref_iou,
                     hint="face_recognition boxes are (top, right, bottom, left). The overlap's edges are the inner "
                          "edges of the two boxes, and boxes that do not touch overlap by 0 (never a negative "
                          "width); the union counts the overlap once.")


def _database_problems(fdb, min_people: int, min_faces: int) -> list[str]:
    """What is wrong with an open face database (empty list: nothing)."""
    from utils.faces import face_distance

    people = fdb.people()
    rows = fdb.rows()
    names, enc = fdb.known()
    problems = []
    if fdb.integrity() != "ok":
        problems.append("SQLite's integrity check fails")
    if len(people) < min_people:
        problems.append(f"{len(people)} people enrolled, expected at least {min_people} (you and your neighbours)")
    few = [p["name"] for p in people if p["faces"] < min_faces]
    if few:
        problems.append(f"fewer than {min_faces} face(s) for: {', '.join(few)}")
    if len({r['model'] for r in rows}) > 1:
        problems.append("faces made with different encoder models are mixed")
    if any(r["photo"] for r in rows):
        problems.append("face photos are stored: enrol without keep_photos (encodings only)")
    if enc.shape != (len(rows), 128) or not np.isfinite(enc).all():
        problems.append(f"encodings of shape {enc.shape}, expected ({len(rows)}, 128) finite numbers")
        return problems
    d = face_distance(enc, enc)
    np.fill_diagonal(d, np.inf)
    wrong = []
    for i, name in enumerate(names):
        if len(names) < 2:
            break
        j = int(np.argmin(d[i]))
        if sum(n == name for n in names) > 1 and names[j] != name:
            wrong.append(f"{rows[i]['source']} ({name}) is nearest to {names[j]}")
        elif sum(n == name for n in names) == 1 and d[i, j] <= 0.6:
            wrong.append(f"{rows[i]['source']} ({name}) is within 0.6 of {names[j]}")
    if wrong:
        problems.append("faces that would be confused: " + "; ".join(wrong[:3]))
    return problems


def face_database(db, min_people: int = 2, min_faces: int = 1, reference=None):
    """Check the face database you built (``4_1`` exercise): it opens as a face database,
    SQLite finds it sound, it holds at least ``min_people`` people with at least ``min_faces``
    face(s) each, every encoding is 128 finite numbers made by one model, no face photo is
    stored, and every enrolled face is recognised as its own person (leave-one-out when a
    person has several faces, otherwise nobody else is nearer than the tolerance).

    ``db``: a path or an open ``FaceDB``. Returns ``db`` when it passes, else ``reference``
    (a database the course built, e.g. ``faces.course_database()``'s path) with a note.
    """
    from utils.faces import DEFAULT_MODEL, FaceDB, FaceDBError

    own = not isinstance(db, FaceDB)
    fdb = None
    try:
        if own:
            path = Path(db)
            fdb = FaceDB(path, create=False)
            models = {r["model"].rsplit("/", 1)[-1] for r in fdb.rows()}
            fdb.close()
            fdb = FaceDB(path, create=False, model=models.pop() if len(models) == 1 else DEFAULT_MODEL)
        else:
            fdb = db
        problems = _database_problems(fdb, min_people, min_faces)
    except (FaceDBError, TypeError, ValueError) as err:
        problems = [f"{err} (pass the path of the database your enrol cell wrote)"]
    finally:
        if own and fdb is not None:
            fdb.close()
    return check_value("face_database", db if not problems else problems,
                       judge=lambda v: "; ".join(problems) or None, reference=reference,
                       hint="enrol one sub-folder per person with FaceDB.enrol_folder; use clear, frontal, "
                            "well-lit photos of each person, one face per photo.")


class _Uncopied(tuple):
    """Case arguments that ``run_cases`` must not deep-copy (an open database connection)."""

    def __deepcopy__(self, memo):
        return self


def _ref_enrol_people(folder, db):
    return db.enrol_folder(folder, largest=True)


def enrol_people(func):
    """``func(folder, db) -> EnrolReport``: enrol every person of ``folder`` (one sub-folder of
    photos per person, named after them) into the open face database ``db``, taking the largest
    face of each photo, and return the report (``4_1``). Runs it twice on a small folder of two
    sample people in a temporary database: the first run enrols both, the second adds nothing."""
    import tempfile

    from utils.faces import EnrolReport, samples
    from utils.images import save_image

    def judge_run(expect_new: int):
        def judge(result):
            db = holder["db"]
            if not isinstance(result, EnrolReport):
                return f"returned {type(result).__name__}, expected the EnrolReport that enrol_folder returns"
            people = {p["name"]: p["faces"] for p in db.people()}
            if people != {"Grace Hopper": 1, "Eileen Collins": 1}:
                return f"the database holds {people}, expected Grace Hopper and Eileen Collins with 1 face each"
            if len(result.enrolled) != expect_new:
                return f"the report says {len(result.enrolled)} image(s) enrolled, expected {expect_new}"
            return None
        return judge

    holder = {}
    with tempfile.TemporaryDirectory(prefix="enrol-check-") as tmp:
        folder = Path(tmp) / "people"
        photos = samples.people()
        for name in ("Grace Hopper", "Eileen Collins"):
            save_image(folder / name / "photo.png", photos[name])
        holder["db"] = samples.course_database(Path(tmp) / "check.db", samples=False)
        try:
            db = holder["db"]
            cases = [Case((folder, db), judge=judge_run(2), label="two people, one photo each (the astronaut "
                          "photo also holds a mission patch HOG takes for a face)"),
                     Case((folder, db), judge=judge_run(0), label="the same folder again: nothing new")]
            for case in cases:  # the open database is passed as it is, not as a deep copy
                case.args = _Uncopied(case.args)
            return run_cases("enrol_people", func, cases, reference=_ref_enrol_people,
                             hint="FaceDB.enrol_folder reads one sub-folder per person; say which face to take "
                                  "when a photo has several; return what it returns.")
        finally:
            holder["db"].close()
