"""Recognition against a :class:`~utils.faces.db.FaceDB`: nearest neighbour with a tolerance,
an optional k-NN vote, annotated images, and a video/webcam loop (``4_2``).

A face is given the name of its nearest enrolled encoding when that distance is at most
``tolerance`` (0.6, face_recognition's default), else :data:`~utils.faces.db.UNKNOWN`.
With ``k > 1`` the ``k`` nearest encodings within the tolerance vote; ties go to the
name with the nearest encoding.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from utils.images import ImageError

from .db import UNKNOWN, FaceDB
from .detect import Face, detect_faces, draw_faces, encode, face_distance

TOLERANCE = 0.6


@dataclass
class Match:
    """One recognised face: ``name`` (or ``"unknown"``), ``distance`` to the nearest encoding
    of that name (to the nearest of all when unknown; ``None`` for an empty database),
    ``box`` ``(top, right, bottom, left)``, ``votes`` (k-NN votes for the name, 1 for k=1)."""

    name: str
    distance: float | None
    box: tuple[int, int, int, int]
    votes: int = 1
    face: Face | None = None

    def as_dict(self) -> dict:
        """``{"name", "distance", "box": [top, right, bottom, left]}`` for JSON."""
        return {"name": self.name, "distance": self.distance, "box": [int(v) for v in self.box]}


def match(known_names: Sequence[str], known_encodings: np.ndarray, encodings: np.ndarray,
          tolerance: float = TOLERANCE, k: int = 1) -> list[tuple[str, float | None, int]]:
    """Name each row of ``encodings`` ``(Q, 128)`` from ``known_encodings`` ``(K, 128)``.

    Returns ``(name, distance, votes)`` per query (see the module doc for the rule).
    """
    if k < 1:
        raise ValueError(f"k={k}: expected 1 or more")
    if tolerance < 0:
        raise ValueError(f"tolerance={tolerance}: expected 0 or more")
    encodings = np.asarray(encodings, np.float64).reshape(-1, 128)
    if len(known_names) == 0:
        return [(UNKNOWN, None, 0) for _ in encodings]
    dist = face_distance(known_encodings, encodings)
    out = []
    for row in dist:
        nearest = int(np.argmin(row))
        if row[nearest] > tolerance:
            out.append((UNKNOWN, float(row[nearest]), 0))
        elif k == 1:
            out.append((known_names[nearest], float(row[nearest]), 1))
        else:
            order = [j for j in np.argsort(row, kind="stable")[:k] if row[j] <= tolerance]
            votes = Counter(known_names[j] for j in order)
            best = {}
            for j in order:
                best.setdefault(known_names[j], float(row[j]))
            name = max(votes, key=lambda n: (votes[n], -best[n]))
            out.append((name, best[name], votes[name]))
    return out


def recognize(db: FaceDB, image_rgb, tolerance: float = TOLERANCE, k: int = 1,
              faces: list[Face] | None = None) -> list[Match]:
    """Detect (with the database's detector) and name every face in an RGB image (``4_2``).

    ``faces`` skips detection. Returns one :class:`Match` per face, in detection order.
    """
    if faces is None:
        faces = detect_faces(image_rgb, db.detector, db.upsample)
    encodings = encode(image_rgb, faces, num_jitters=db.num_jitters, model=db.model)
    names, known = db.known()
    return [Match(n, d, f.box, v, f) for f, (n, d, v) in zip(faces, match(names, known, encodings, tolerance, k))]


def annotate(image_rgb, matches: Sequence[Match]) -> np.ndarray:
    """A copy of the image with each face boxed and labelled ``name distance``: green for a
    known person, red for unknown (``4_2``)."""
    labels = [m.name if m.distance is None else f"{m.name} {m.distance:.2f}" for m in matches]
    colors = [(0, 200, 0) if m.name != UNKNOWN else (230, 40, 40) for m in matches]
    return draw_faces(image_rgb, [m.box for m in matches], labels, color=colors or (0, 200, 0))


# ------------------------------------------------------------------------- video


def _open_video(source):
    import cv2

    if isinstance(source, (int, np.integer)):
        cap = cv2.VideoCapture(int(source))
        if not cap.isOpened():
            raise ImageError(f"camera {source}: cannot be opened (no webcam here? use a video file)")
        return cap
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such video file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ImageError(f"{path}: not a video OpenCV can read (expected .mp4, .avi, ...)")
    return cap


def video_frames(source, every: int = 1, max_frames: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame)`` for every ``every``-th frame of a video file or camera (int),
    among the first ``max_frames`` frames; frames are ``(H, W, 3)`` uint8 RGB."""
    if every < 1:
        raise ValueError(f"every={every}: expected 1 or more")
    cap = _open_video(source)
    try:
        i = -1
        while max_frames is None or i + 1 < max_frames:
            if not cap.grab():
                break
            i += 1
            if i % every == 0:
                ok, bgr = cap.retrieve()
                if ok:
                    yield i, np.ascontiguousarray(bgr[..., ::-1])
    finally:
        cap.release()


@dataclass
class VideoResult:
    """What :func:`recognize_video` did: ``frames`` read, ``processed`` frame indices,
    ``results`` (one list of :class:`Match` per processed frame), ``video_fps``, and
    ``fps`` (processed frames per second of wall time, as drawn on the frames)."""

    frames: int = 0
    processed: list[int] = field(default_factory=list)
    results: list[list[Match]] = field(default_factory=list)
    video_fps: float = 0.0
    fps: float = 0.0

    @property
    def skipped(self) -> int:
        return self.frames - len(self.processed)


def recognize_video(db: FaceDB, source, tolerance: float = TOLERANCE, k: int = 1, realtime: bool = True,
                    every: int = 1, max_frames: int | None = None, output=None,
                    on_frame: Callable[[int, np.ndarray, list[Match], bool], None] | None = None,
                    clock: Callable[[], float] = time.perf_counter) -> VideoResult:
    """Recognise faces in a video file or a webcam (int) frame by frame (``4_2``).

    With ``realtime=True`` a frame is processed only if recognition has kept up with the
    video's clock (frame ``i`` is due at ``i / fps`` seconds); frames that arrive while it
    is still busy are skipped and shown with the last boxes, so a slow machine drops frames
    instead of falling behind. With ``realtime=False`` every ``every``-th frame is processed.
    Each frame gets the boxes, names and the measured FPS drawn on it; it goes to
    ``on_frame(index, annotated_rgb, matches, processed)`` and, with ``output``, into a
    video file (``.mp4`` or ``.avi``) of the same frame rate.
    """
    import cv2

    cap = _open_video(source)
    result = VideoResult(video_fps=float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0)
    writer, last = None, []
    start = clock()
    try:
        while max_frames is None or result.frames < max_frames:
            if not cap.grab():
                break
            i = result.frames
            result.frames += 1
            # real time: process frame i unless frame i + 1 is already due (the first frame always)
            due = not result.processed or clock() - start <= (i + 1) / result.video_fps
            process = due if realtime else i % every == 0
            if not (process or output or on_frame):
                continue
            ok, bgr = cap.retrieve()
            if not ok:
                continue
            rgb = np.ascontiguousarray(bgr[..., ::-1])
            if process:
                last = recognize(db, rgb, tolerance=tolerance, k=k)
                result.processed.append(i)
                result.results.append(last)
                result.fps = len(result.processed) / max(clock() - start, 1e-9)
            if output or on_frame:
                shown = annotate(rgb, last)
                cv2.putText(shown, f"{result.fps:.1f} FPS", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                            (255, 255, 0), 2, cv2.LINE_AA)
                if output:
                    if writer is None:
                        fourcc = cv2.VideoWriter_fourcc(*("mp4v" if str(output).endswith(".mp4") else "MJPG"))
                        writer = cv2.VideoWriter(str(output), fourcc, result.video_fps, shown.shape[1::-1])
                    writer.write(shown[..., ::-1])
                if on_frame:
                    on_frame(i, shown, last, process)
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    return result


def write_video(path, frames: Sequence[np.ndarray], fps: float = 10.0) -> Path:
    """Write RGB frames ``(H, W, 3)`` uint8 (all the same size) to ``path`` (``.avi``: MJPG,
    ``.mp4``: mp4v) with OpenCV; used to make the course's small test videos."""
    import cv2

    path = Path(path)
    if not len(frames):
        raise ValueError(f"{path}: no frames to write")
    h, w = frames[0].shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if path.suffix == ".mp4" else "MJPG"))
    writer = cv2.VideoWriter(str(path), fourcc, float(fps), (w, h))
    if not writer.isOpened():
        raise ImageError(f"{path}: OpenCV cannot write this video format")
    try:
        for frame in frames:
            if frame.shape[:2] != (h, w):
                raise ValueError(f"{path}: frame of shape {frame.shape}, expected ({h}, {w}, 3) like the first")
            writer.write(np.ascontiguousarray(frame[..., ::-1]))
    finally:
        writer.release()
    return path
