"""The face database: one SQLite file of 128-d encodings, one row per enrolled image (``4_1``).

Tables (``sqlite3 faces.db .schema`` shows them):

- ``meta(key, value)``: ``app = utils.faces`` and ``schema_version``; a database without
  them is refused as foreign;
- ``people(id, name UNIQUE, added)``;
- ``faces(id, person_id → people ON DELETE CASCADE, encoding BLOB (128 float64), source,
  sha256 UNIQUE, box_top, box_right, box_bottom, box_left, detector, model, model_version,
  added, photo BLOB NULL)``.

Guarantees:

- **one image, once**: ``sha256`` is the content hash of the file (or of a video frame's
  pixels); enrolling the same content again is reported as a duplicate and skipped;
- **all or nothing**: each image is enrolled in one transaction (person row and face row
  together), so a crash or ``kill -9`` leaves only whole images, and loses none already committed;
- **readers while a writer enrols**: the file is in WAL mode, so another process can
  recognise while this one enrols;
- **personal data**: encodings only; the face crop is stored (PNG in ``photo``) only with
  ``keep_photos=True``; :meth:`FaceDB.remove` deletes every row of a person;
- every SQL statement is parameterised, so names may hold quotes or SQL metacharacters.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from utils import course
from utils.images import ImageError, load_image

from .detect import DEFAULT_MODEL, ENCODER, Face, crop_faces, detect_faces, encode, model_version

APP = "utils.faces"
SCHEMA_VERSION = 1
DEFAULT_DB = course.ROOT / "outputs" / "faces.db"
"""Where the database lives when no path is given (``outputs/`` is git-ignored)."""
UNKNOWN = "unknown"
"""The name recognition gives a face farther than the tolerance from everyone; reserved."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    added TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS faces (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    encoding BLOB NOT NULL CHECK (length(encoding) = 1024),
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    box_top INTEGER NOT NULL, box_right INTEGER NOT NULL,
    box_bottom INTEGER NOT NULL, box_left INTEGER NOT NULL,
    detector TEXT NOT NULL,
    model TEXT NOT NULL,
    model_version TEXT NOT NULL,
    added TEXT NOT NULL,
    photo BLOB
);
CREATE INDEX IF NOT EXISTS faces_person ON faces(person_id);
"""


class FaceDBError(RuntimeError):
    """The database file cannot be used (missing, not SQLite, foreign, corrupt); names the file."""


class EnrolError(ValueError):
    """An image cannot be enrolled (no face, several faces, bad name); names the image."""


@dataclass
class Enrolled:
    """The outcome of enrolling one image: ``status`` is ``"enrolled"`` or ``"duplicate"``
    (already in the database as ``name``)."""

    source: str
    name: str
    status: str
    box: tuple[int, int, int, int] | None = None
    face_id: int | None = None


@dataclass
class EnrolReport:
    """What an enrolment of many images did: ``enrolled`` and ``duplicates`` (:class:`Enrolled`),
    ``errors`` as ``(source, message)`` pairs, nothing dropped silently."""

    enrolled: list[Enrolled] = field(default_factory=list)
    duplicates: list[Enrolled] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    def add(self, result: Enrolled) -> None:
        (self.enrolled if result.status == "enrolled" else self.duplicates).append(result)

    def __str__(self) -> str:
        return (f"{len(self.enrolled)} enrolled, {len(self.duplicates)} duplicate(s) skipped, "
                f"{len(self.errors)} error(s)")


_JOINERS = {"\u200c", "\u200d"}  # zero-width (non-)joiners: part of the spelling of names in many scripts


def check_name(name) -> str:
    """A person's name, stripped and in Unicode NFC form (so ``"Zoë"`` typed either way is
    one person); refuses empty names, control characters (C0 and C1), invisible formatting
    characters such as the right-to-left override U+202E (which make one name display as
    another), line separators, over 128 characters and the reserved ``"unknown"``. Quotes
    and SQL metacharacters are fine. :meth:`FaceDB.remove` uses it too."""
    if not isinstance(name, str):
        raise EnrolError(f"name {name!r}: expected a string")
    clean = unicodedata.normalize("NFC", name.strip())
    if not clean:
        raise EnrolError("name is empty: give the person's name")
    if len(clean) > 128:
        raise EnrolError(f"name {clean[:40]!r}...: longer than 128 characters")
    bad = [ch for ch in clean if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")
           and ch not in _JOINERS]
    if bad:
        raise EnrolError(f"name {clean!r}: contains control or invisible formatting characters "
                         f"({', '.join(f'U+{ord(ch):04X}' for ch in dict.fromkeys(bad))})")
    if clean.lower() == UNKNOWN:
        raise EnrolError(f"name {clean!r} is reserved for faces nobody in the database matches")
    return clean


def content_hash(data: bytes | np.ndarray) -> str:
    """sha256 hex of a file's bytes, or of an array's shape and pixels."""
    if isinstance(data, np.ndarray):
        h = hashlib.sha256(str(data.shape).encode())
        h.update(np.ascontiguousarray(data).tobytes())
        return h.hexdigest()
    return hashlib.sha256(data).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class FaceDB:
    """A face database in one SQLite file (``4_1``; recognition in ``4_2``).

    Args:
        path: the file (default :data:`DEFAULT_DB`); created with ``create=True``.
        detector, upsample: how enrolment finds faces (see ``detect_faces``).
        model: landmark model of the encoder: ``"small"`` (5 points, ``face_recognition``'s own
            default, :data:`~utils.faces.DEFAULT_MODEL`) or ``"large"`` (68 points); recognition
            compares only with encodings made by the same model.
        num_jitters: passed to ``encode``.
        keep_photos: also store each enrolled face crop (150×150 PNG). Off by default:
            face images are personal data.
        create: make the file when missing; otherwise a missing file is a :class:`FaceDBError`.
        read_only: open without ever writing (``list``, ``recognize``): implies ``create=False``,
            an empty file is refused instead of receiving the schema, and a database in a
            read-only folder can be read.
        timeout: seconds to wait for another process's write lock.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path=None, detector: str = "hog", upsample: int | None = 1, model: str = DEFAULT_MODEL,
                 num_jitters: int = 1, keep_photos: bool = False, create: bool = True, timeout: float = 30.0,
                 read_only: bool = False):
        self.path = Path(path) if path is not None else DEFAULT_DB
        self.detector, self.upsample, self.model = detector, upsample, model
        self.num_jitters, self.keep_photos = num_jitters, keep_photos
        self.model_name = f"{ENCODER}/{model}"
        self._version = None
        self._cache: tuple | None = None
        self.read_only = read_only
        self.con = self._open(create and not read_only, timeout)

    # ------------------------------------------------------------ opening and checks

    def _open(self, create: bool, timeout: float) -> sqlite3.Connection:
        """Connect, refusing anything that is not a face database *before* changing it.

        Nothing is written before the file is known to be ours, and nothing at all with
        ``read_only``."""
        path = self.path
        if path.is_dir():
            raise FaceDBError(f"{path}: is a folder, expected a face database file")
        if not path.exists():
            if not create:
                raise FaceDBError(f"{path}: no such face database (enrol someone first)")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise FaceDBError(f"{path}: cannot create its folder {path.parent} ({err.strerror or err})") from None
        elif path.stat().st_size > 0:
            try:
                with open(path, "rb") as f:
                    header = f.read(16)
            except OSError as err:
                raise FaceDBError(f"{path}: cannot be read ({err.strerror})") from None
            if header != b"SQLite format 3\x00":
                raise FaceDBError(f"{path}: not a SQLite file, so not a face database "
                                  "(expected a file made by utils.faces)")
        con = None
        try:
            con = self._connect(timeout)
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables and not create:
                raise FaceDBError(f"{path}: an empty file, not a face database (enrol someone first)")
            if not tables:
                con.execute("BEGIN IMMEDIATE")  # two processes creating the file at once: one waits
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if not tables:
                    for stmt in filter(str.strip, _SCHEMA.split(";")):
                        con.execute(stmt)
                    con.execute("INSERT OR IGNORE INTO meta VALUES ('app', ?)", (APP,))
                    con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                    tables = {"meta", "people", "faces"}
                con.execute("COMMIT")
            meta = dict(con.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
            if meta.get("app") != APP or not {"people", "faces"} <= tables:
                raise FaceDBError(f"{path}: a SQLite database, but not a face database made by {APP} "
                                  f"(tables: {', '.join(sorted(tables)) or 'none'})")
            version = str(meta.get("schema_version", ""))
            if not version.isascii() or not version.isdigit():
                raise FaceDBError(f"{path}: malformed schema version {version!r} in its meta table "
                                  f"(expected an integer; this code writes {SCHEMA_VERSION})")
            if int(version) > SCHEMA_VERSION:
                raise FaceDBError(f"{path}: schema version {version} is newer than this "
                                  f"code's {SCHEMA_VERSION}; update the course")
            if not self.read_only:  # a face database of ours: now (and only now) it may be switched to WAL
                con.execute("PRAGMA journal_mode = WAL")
                con.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: a killed process loses nothing committed
        except (FaceDBError, sqlite3.DatabaseError) as err:
            if con is not None:
                con.close()
            if isinstance(err, FaceDBError):
                raise
            if not self.read_only and self._readable_read_only(timeout):
                raise FaceDBError(f"{path}: read-only (the file or its folder cannot be written); "
                                  "`list` and `recognize` can read it, nothing can change it") from None
            raise FaceDBError(f"{path}: unreadable face database ({err})") from None
        return con

    def _readable_read_only(self, timeout: float) -> bool:
        """Whether the file opens read-only (after a read-write open failed)."""
        self.read_only = True
        try:
            self._connect(timeout).close()
            return True
        except sqlite3.DatabaseError:
            return False
        finally:
            self.read_only = False

    def _connect(self, timeout: float) -> sqlite3.Connection:
        """A connection: read-write, or read-only (``read_only``) through a ``mode=ro`` URI;
        a read-only database in a folder where SQLite cannot make its WAL index is opened
        ``immutable`` (nobody can be writing there)."""
        from urllib.request import pathname2url

        kw = dict(timeout=timeout, isolation_level=None, check_same_thread=False)
        if not self.read_only:
            con = sqlite3.connect(self.path, **kw)
        else:
            url = "file:" + pathname2url(str(self.path.absolute()))
            con = sqlite3.connect(url + "?mode=ro", uri=True, **kw)
            try:
                con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:
                con.close()
                if os.access(self.path.parent, os.W_OK):
                    raise
                con = sqlite3.connect(url + "?mode=ro&immutable=1", uri=True, **kw)
        con.execute("PRAGMA foreign_keys = ON")
        return con

    def close(self) -> None:
        """Close the connection (committed enrolments are already on disk)."""
        self.con.close()

    def __enter__(self) -> "FaceDB":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def integrity(self) -> str:
        """SQLite's own ``PRAGMA integrity_check``: ``"ok"`` for a sound file."""
        return self.con.execute("PRAGMA integrity_check").fetchone()[0]

    # ------------------------------------------------------------------ enrolment

    def _insert_face(self, person_id: int, encoding: np.ndarray, source: str, sha: str, box,
                     photo: bytes | None) -> int:
        """Insert one face row (inside the caller's transaction)."""
        if self._version is None:
            self._version = model_version()
        cur = self.con.execute(
            "INSERT INTO faces (person_id, encoding, source, sha256, box_top, box_right, box_bottom, box_left, "
            "detector, model, model_version, added, photo) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (person_id, np.asarray(encoding, "<f8").tobytes(), source, sha, *[int(v) for v in box],
             self.detector, self.model_name, self._version, _now(), photo))
        return cur.lastrowid

    def _choose(self, faces: list[Face], source: str, face_index: int | None, largest: bool) -> Face:
        if not faces:
            raise EnrolError(f"{source}: no face found (detector {self.detector}, upsample {self.upsample}); "
                             "use a photo where the face is larger and frontal, or detector='cnn'")
        faces = sorted(faces, key=lambda f: (f.box[3], f.box[0]))  # left to right
        if face_index is not None:
            if not 0 <= face_index < len(faces):
                raise EnrolError(f"{source}: face index {face_index} out of range, found {len(faces)} face(s) "
                                 f"(0 = leftmost)")
            return faces[face_index]
        if largest:
            return max(faces, key=lambda f: (f.area, f.confidence or 0.0))  # ties: the surer detection
        if len(faces) > 1:
            boxes = ", ".join(f"{i}: {list(f.box)}" for i, f in enumerate(faces))
            raise EnrolError(f"{source}: {len(faces)} faces found ({boxes}); enrolling one person needs one: "
                             "say which with face_index (0 = leftmost) or largest=True")
        return faces[0]

    def enrol_image(self, name: str, image, source: str | None = None, face_index: int | None = None,
                    largest: bool = False) -> Enrolled:
        """Enrol one face of one image as ``name``, in one transaction.

        ``image`` is a file path or an ``(H, W, 3)`` uint8 RGB array (then ``source``
        names it in the database; default ``"array"``). ``face_index`` counts faces from
        the left; ``largest`` takes the largest box (ties: the higher score). Raises ``ImageError`` /
        ``FileNotFoundError`` for a bad file and :class:`EnrolError` for no face, or
        several faces without ``face_index``/``largest``. Returns an :class:`Enrolled`
        whose status is ``"duplicate"`` when this content is already enrolled.
        """
        name = check_name(name)
        if isinstance(image, (str, Path)):
            path = Path(image)
            rgb = load_image(path)  # names the file on any problem
            sha = content_hash(path.read_bytes())
            source = source or str(path)
        else:
            from .detect import _rgb

            rgb = _rgb(image, source or "image")
            sha = content_hash(rgb)
            source = source or "array"
        found = self._find(sha)
        if found:
            return Enrolled(source, found[0], "duplicate", found[1], found[2])
        face = self._choose(detect_faces(rgb, self.detector, self.upsample), source, face_index, largest)
        encoding = encode(rgb, [face], num_jitters=self.num_jitters, model=self.model)[0]
        photo = None
        if self.keep_photos:
            import cv2

            ok, png = cv2.imencode(".png", crop_faces(rgb, [face], size=150)[0][..., ::-1])
            photo = png.tobytes()
        try:
            self.con.execute("BEGIN IMMEDIATE")
            try:
                self.con.execute("INSERT OR IGNORE INTO people (name, added) VALUES (?, ?)", (name, _now()))
                person_id = self.con.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()[0]
                face_id = self._insert_face(person_id, encoding, source, sha, face.box, photo)
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")
        except sqlite3.IntegrityError:  # another process enrolled the same content meanwhile
            found = self._find(sha)
            if not found:
                raise
            return Enrolled(source, found[0], "duplicate", found[1], found[2])
        except sqlite3.DatabaseError as err:
            raise FaceDBError(f"{self.path}: could not write ({err})") from None
        return Enrolled(source, name, "enrolled", tuple(int(v) for v in face.box), face_id)

    def _find(self, sha: str):
        row = self.con.execute("SELECT p.name, f.box_top, f.box_right, f.box_bottom, f.box_left, f.id "
                               "FROM faces f JOIN people p ON p.id = f.person_id WHERE f.sha256 = ?", (sha,)).fetchone()
        return (row[0], tuple(row[1:5]), row[5]) if row else None

    def _enrol_many(self, items: Iterable[tuple[str, object, str | None]], on_image: Callable | None,
                    **choose) -> EnrolReport:
        report = EnrolReport()
        for name, image, source in items:
            label = source or str(image)
            try:
                result = self.enrol_image(name, image, source=source, **choose)
            except (EnrolError, ImageError, FileNotFoundError) as err:
                report.errors.append((label, str(err)))
                if on_image:
                    on_image(label, None, str(err))
                continue
            report.add(result)
            if on_image:
                on_image(label, result, None)
        return report

    def enrol_images(self, name: str, images: Iterable, on_image: Callable | None = None, **choose) -> EnrolReport:
        """Enrol several images (paths or arrays) of one person; each image is its own
        transaction. Bad images are listed in ``report.errors`` and the rest still enrolled.
        ``on_image(source, Enrolled | None, error | None)`` is called after each image;
        ``choose`` is ``face_index=`` or ``largest=`` as in :meth:`enrol_image`."""
        name = check_name(name)
        items = [(name, img, None if isinstance(img, (str, Path)) else f"array {i}") for i, img in enumerate(images)]
        return self._enrol_many(items, on_image, **choose)

    def enrol_folder(self, folder, on_image: Callable | None = None, **choose) -> EnrolReport:
        """Enrol ``folder/<person name>/<images>`` (the layout is checked by
        ``utils.data.scan_image_folder``); the sub-folder names are the people's names."""
        from utils.data import scan_image_folder

        layout = scan_image_folder(folder)
        for person in layout:
            check_name(person)
        items = [(person, path, None) for person, paths in layout.items() for path in paths]
        return self._enrol_many(items, on_image, **choose)

    def enrol_video(self, name: str, source, every: int = 10, max_frames: int = 20,
                    on_image: Callable | None = None, **choose) -> EnrolReport:
        """Enrol ``name`` from every ``every``-th frame of a video file or camera (an int,
        e.g. ``0`` for the first webcam), up to ``max_frames`` frames read in all. Frames
        without a face are listed in ``report.errors`` (as ``"file#frame=N"``)."""
        from .recognize import video_frames

        name = check_name(name)
        label = f"camera:{source}" if isinstance(source, int) else str(source)
        frames = [0]

        def items():
            for i, frame in video_frames(source, every=every, max_frames=max_frames):
                frames[0] += 1
                yield name, frame, f"{label}#frame={i}"

        report = self._enrol_many(items(), on_image, **choose)
        if not frames[0]:
            raise ImageError(f"{label}: no frame could be read (not a video OpenCV can decode?)")
        return report

    # ---------------------------------------------------------------- reading

    def people(self) -> list[dict]:
        """One dict per person: ``name``, ``faces`` (count), ``first_added``, ``last_added``, sorted by name."""
        rows = self.con.execute(
            "SELECT p.name, COUNT(f.id), MIN(f.added), MAX(f.added) FROM people p "
            "LEFT JOIN faces f ON f.person_id = p.id GROUP BY p.id ORDER BY p.name").fetchall()
        return [{"name": n, "faces": c, "first_added": a, "last_added": b} for n, c, a, b in rows]

    def rows(self, name: str | None = None) -> list[dict]:
        """Every face row (without the encoding bytes) for inspection, optionally of one person."""
        sql = ("SELECT f.id, p.name, f.source, f.sha256, f.box_top, f.box_right, f.box_bottom, f.box_left, "
               "f.detector, f.model, f.model_version, f.added, f.photo IS NOT NULL "
               "FROM faces f JOIN people p ON p.id = f.person_id")
        args: tuple = ()
        if name is not None:
            sql, args = sql + " WHERE p.name = ?", (name,)
        out = []
        for r in self.con.execute(sql + " ORDER BY f.id", args):
            out.append({"id": r[0], "name": r[1], "source": r[2], "sha256": r[3], "box": list(r[4:8]),
                        "detector": r[8], "model": r[9], "model_version": r[10], "added": r[11], "photo": bool(r[12])})
        return out

    def photo(self, face_id: int) -> np.ndarray | None:
        """The stored face crop of a row as ``(150, 150, 3)`` uint8 RGB, or ``None`` if none was kept."""
        import cv2

        row = self.con.execute("SELECT photo FROM faces WHERE id = ?", (int(face_id),)).fetchone()
        if row is None or row[0] is None:
            return None
        return cv2.imdecode(np.frombuffer(row[0], np.uint8), cv2.IMREAD_COLOR)[..., ::-1].copy()

    def known(self) -> tuple[list[str], np.ndarray]:
        """Names ``(K,)`` and encodings ``(K, 128)`` float64 of this database's model, in row order.

        Re-read only when the file changed (``PRAGMA data_version``), so recognising many
        images costs one query. Raises :class:`FaceDBError` when every enrolment was made
        with another landmark model.
        """
        version = (self.con.execute("PRAGMA data_version").fetchone()[0],
                   self.con.total_changes)
        if self._cache and self._cache[0] == version:
            return self._cache[1], self._cache[2]
        rows = self.con.execute("SELECT p.name, f.encoding FROM faces f JOIN people p ON p.id = f.person_id "
                                "WHERE f.model = ? ORDER BY f.id", (self.model_name,)).fetchall()
        if not rows:
            others = [r[0] for r in self.con.execute("SELECT DISTINCT model FROM faces")]
            if others:
                raise FaceDBError(f"{self.path}: every face was encoded with {', '.join(others)}, "
                                  f"not {self.model_name}; open it with that model")
        names = [r[0] for r in rows]
        encodings = np.array([np.frombuffer(r[1], "<f8") for r in rows], np.float64).reshape(-1, 128)
        self._cache = (version, names, encodings)
        return names, encodings

    def __len__(self) -> int:
        return self.con.execute("SELECT COUNT(*) FROM faces").fetchone()[0]

    # ---------------------------------------------------------------- removing

    def remove(self, name: str) -> int:
        """Delete a person and every face row of theirs (one transaction). ``name`` is
        normalised as at enrolment (:func:`check_name`). Returns how many face rows went;
        0 when nobody has that name. Raises :class:`FaceDBError` when the file cannot be written."""
        name = check_name(name)
        try:
            self.con.execute("BEGIN IMMEDIATE")
            try:
                n = self.con.execute("SELECT COUNT(*) FROM faces f JOIN people p ON p.id = f.person_id "
                                     "WHERE p.name = ?", (name,)).fetchone()[0]
                gone = self.con.execute("DELETE FROM people WHERE name = ?", (name,)).rowcount
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")
        except sqlite3.DatabaseError as err:
            raise FaceDBError(f"{self.path}: could not remove {name!r} ({err})") from None
        return n if gone else 0
