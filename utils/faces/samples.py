"""Offline photos of real people for the face notebooks, their augmented variants, and the
course's face database (``4_1``, ``4_2``).

Only three photos of people at photo resolution ship with the course's packages:
Grace Hopper (matplotlib), the astronaut Eileen Collins and the "cameraman" test image
(scikit-image). :func:`variants` makes other photos of each by flipping, cropping,
changing brightness and rotating a little; :func:`lfw_faces` upscales scikit-image's
25×25 LFW thumbnails (unnamed people, so a face may repeat). :func:`course_database`
opens the one database 4_1 enrols people into and 4_2 recognises them with.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from utils.images import save_image

PEOPLE = ("Grace Hopper", "Eileen Collins", "Cameraman")
"""The people of :func:`people`."""

VARIANTS = ("flip", "crop", "bright", "dark", "rotate+8", "rotate-8")
"""The augmentations of :func:`variants`, in order."""


def people() -> dict[str, np.ndarray]:
    """``{name: (H, W, 3) uint8 RGB}`` for the three people of :data:`PEOPLE`.

    The astronaut photo also holds a mission patch that dlib's HOG detector takes for a
    small face; the cameraman is cut to 260×260 around his head (HOG misses him in the
    full 512×512 picture, where he looks down into his camera).
    """
    from skimage import data as skdata

    from utils import data

    camera = np.repeat(skdata.camera()[40:300, 100:360, None], 3, axis=2)
    return {"Grace Hopper": data.photo("grace_hopper"), "Eileen Collins": data.photo("astronaut"),
            "Cameraman": np.ascontiguousarray(camera)}


def augment(image: np.ndarray, kind: str) -> np.ndarray:
    """One variant of an RGB image (see :data:`VARIANTS`): ``flip`` (mirror), ``crop`` (the
    central 80 %, resized back), ``bright`` (×1.3), ``dark`` (×0.6), ``rotate+8`` / ``rotate-8``
    (degrees about the centre, edges replicated). Same shape and dtype as the input."""
    import cv2

    h, w = image.shape[:2]
    if kind == "flip":
        out = image[:, ::-1]
    elif kind == "crop":
        dy, dx = h // 10, w // 10
        out = cv2.resize(image[dy:h - dy, dx:w - dx], (w, h), interpolation=cv2.INTER_LINEAR)
    elif kind in ("bright", "dark"):
        out = np.clip(image.astype(np.float32) * (1.3 if kind == "bright" else 0.6), 0, 255).round().astype(np.uint8)
    elif kind.startswith("rotate"):
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), float(kind[len("rotate"):]), 1.0)
        out = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    else:
        raise ValueError(f"kind={kind!r}: expected one of {', '.join(VARIANTS)}")
    return np.ascontiguousarray(out)


def variants(image: np.ndarray, kinds=VARIANTS) -> dict[str, np.ndarray]:
    """``{kind: augment(image, kind)}`` for every kind."""
    return {k: augment(image, k) for k in kinds}


def lfw_faces(n: int = 20, size: int = 100) -> np.ndarray:
    """The first ``n`` faces of ``utils.data.lfw_subset`` as ``(n, size, size, 3)`` uint8 RGB,
    upscaled (bicubic) from 25×25 so dlib's detectors, which need faces of about 40 pixels
    or more, can see them. The people are not named; the same person may appear twice."""
    import cv2

    from utils import data

    images, labels = data.lfw_subset()
    face = images[labels == 1][:n]
    out = [cv2.resize(np.round(f * 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_CUBIC) for f in face]
    return np.repeat(np.stack(out)[..., None], 3, axis=3)


def write_people_folder(folder, kinds=("original",) + VARIANTS[:2]) -> Path:
    """Write ``folder/<name>/<kind>.png`` for every person and kind (``"original"`` is the
    photo itself): the one-sub-folder-per-person layout ``FaceDB.enrol_folder`` reads."""

    folder = Path(folder)
    for name, image in people().items():
        for kind in kinds:
            save_image(folder / name / f"{kind}.png", image if kind == "original" else augment(image, kind))
    return folder


SAMPLE_FOLDER = "sample_people"
"""Sub-folder, beside the course database, where :func:`course_database` writes the sample people."""


def course_database(path=None, model: str | None = None, samples: bool = True):
    """Open the course's face database, the one ``4_1`` enrols into and ``4_2`` recognises with.

    Args:
        path: the SQLite file (notebooks pass their ``database`` knob; default
            ``utils.faces.DEFAULT_DB``, ``outputs/faces.db``, also the command line's default).
        model: the encoder's landmark model; default :data:`utils.faces.DEFAULT_MODEL` (``"small"``,
            face_recognition's own), with face_recognition's default jitters and HOG detector.
        samples: when the database holds no face of this model yet, enrol :data:`PEOPLE` first,
            one photo each (``SAMPLE_FOLDER/<name>/original.png`` beside the file, largest face).
            Re-enrolling them is a no-op (same file bytes, same hash), so opening it again, from
            several notebooks at once, always leaves one row per sample photo.

    Returns:
        An open :class:`~utils.faces.db.FaceDB` (close it, or use it in a ``with`` block).
    """
    from .db import DEFAULT_DB, FaceDB
    from .detect import DEFAULT_MODEL, NUM_JITTERS

    db = FaceDB(DEFAULT_DB if path is None else Path(path), model=model or DEFAULT_MODEL, num_jitters=NUM_JITTERS)
    try:
        if samples and not any(r["model"] == db.model_name for r in db.rows()):
            folder = db.path.parent / SAMPLE_FOLDER
            for name, image in people().items():
                save_image(folder / name / "original.png", image)  # atomic: no reader sees half a file
            report = db.enrol_folder(folder, largest=True)
            if report.errors:
                raise RuntimeError(f"{db.path}: could not enrol the sample people: {report.errors}")
    except BaseException:
        db.close()
        raise
    return db


