"""utils.faces: detectors, landmarks, crops, encodings, matching and the video loop."""
from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest

from utils import data, faces
from utils.faces import samples
from utils.images import ImageError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import face_recognition as fr


@pytest.fixture(scope="module")
def grace():
    return data.photo("grace_hopper")


@pytest.fixture(scope="module")
def astronaut():
    return data.photo("astronaut")


def iou(a, b):
    """IoU of two (top, right, bottom, left) boxes."""
    h = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    w = max(0, min(a[1], b[1]) - max(a[3], b[3]))
    area = lambda x: (x[2] - x[0]) * (x[1] - x[3])  # noqa: E731
    return h * w / (area(a) + area(b) - h * w)


# ------------------------------------------------------------------------ detection


@pytest.mark.parametrize("name, upsample", [("grace_hopper", 1), ("astronaut", 1), ("astronaut", 0)])
def test_hog_boxes_are_face_recognitions(name, upsample):
    img = data.photo(name)
    found = faces.detect_faces(img, "hog", upsample=upsample)
    assert [f.box for f in found] == fr.face_locations(img, upsample, "hog")
    assert all(isinstance(f.confidence, float) and f.detector == "hog" and f.landmarks is None for f in found)
    assert all(isinstance(v, int) for f in found for v in f.box)


def test_astronaut_hog_finds_the_face_and_a_false_positive(astronaut):
    found = faces.detect_faces(astronaut, "hog")
    assert len(found) == 2  # the mission patch looks like a small face to HOG
    best = faces.largest(found)
    assert best.box == (76, 265, 166, 175) and best.confidence > max(f.confidence for f in found if f is not best)


def test_cnn_on_a_small_image_matches_face_recognition(grace):
    small = cv2.resize(grace, (128, 150), interpolation=cv2.INTER_AREA)
    found = faces.detect_faces(small, "cnn", upsample=1)
    assert [f.box for f in found] == fr.face_locations(small, 1, "cnn")
    assert len(found) == 1 and found[0].confidence > 0.5


def test_haar_and_mtcnn_agree_with_hog(grace):
    hog = faces.detect_faces(grace, "hog")[0]
    haar = faces.detect_faces(grace, "haar")
    assert len(haar) == 1 and iou(haar[0].box, hog.box) > 0.5 and haar[0].landmarks is None
    mt = faces.detect_faces(grace, "mtcnn")
    assert len(mt) == 1 and iou(mt[0].box, hog.box) > 0.5 and mt[0].confidence > 0.9
    marks = mt[0].landmarks
    assert set(marks) == set(faces.LANDMARKS)
    assert marks["left_eye"][0] < marks["right_eye"][0] and marks["mouth_left"][0] < marks["mouth_right"][0]
    assert marks["left_eye"][1] < marks["nose"][1] < marks["mouth_left"][1]
    # dlib's landmarks on the Haar box land close to MTCNN's own (same names, viewer's side)
    dlib_marks = faces.detect_faces(grace, "haar", landmarks=True)[0].landmarks
    for key in faces.LANDMARKS:
        assert np.hypot(*np.subtract(dlib_marks[key], marks[key])) < 15, key


def test_upsampling_haar_rescales_boxes(grace):
    small = cv2.resize(grace, (256, 300))
    one = faces.detect_faces(small, "haar", upsample=0)
    two = faces.detect_faces(small, "haar", upsample=1)
    assert len(one) == len(two) == 1 and iou(one[0].box, two[0].box) > 0.7


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="detector='yolo'"):
        faces.detect_faces(np.zeros((10, 10, 3), np.uint8), "yolo")
    with pytest.raises(ImageError, match=r"expected \(H, W, 3\) uint8"):
        faces.detect_faces(np.zeros((10, 10), np.float32))
    with pytest.raises(ValueError, match="upsample"):
        faces.detect_faces(np.zeros((10, 10, 3), np.uint8), upsample=-1)
    assert faces.detect_faces(np.zeros((64, 64, 3), np.uint8)) == []


# ------------------------------------------------------------------ encodings, crops


@pytest.mark.parametrize("model", ["large", "small"])
def test_encode_equals_face_recognition(astronaut, model):
    ours = faces.encode(astronaut, model=model)
    ref = fr.face_encodings(astronaut, fr.face_locations(astronaut), model=model)
    assert ours.shape == (2, 128) and ours.dtype == np.float64
    np.testing.assert_array_equal(ours, np.array(ref))


def test_encode_accepts_faces_boxes_and_views(grace):
    found = faces.detect_faces(grace)
    by_face = faces.encode(grace, found)
    by_box = faces.encode(grace, [found[0].box])
    np.testing.assert_array_equal(by_face, by_box)
    assert faces.encode(np.zeros((40, 40, 3), np.uint8)).shape == (0, 128)
    flipped = faces.encode(grace[:, ::-1])  # a strided view is fine
    assert flipped.shape == (1, 128) and faces.face_distance(by_face, flipped)[0, 0] < 0.3
    with pytest.raises(ValueError, match="model"):
        faces.encode(grace, model="huge")


def test_face_distance_matches_face_recognition():
    rng = np.random.default_rng(0)
    known, queries = rng.normal(size=(5, 128)), rng.normal(size=(3, 128))
    d = faces.face_distance(known, queries)
    assert d.shape == (3, 5)
    for q in range(3):
        np.testing.assert_allclose(d[q], fr.face_distance(known, queries[q]), rtol=0, atol=1e-12)


def test_crop_faces_sizes_margin_and_padding(grace):
    face = faces.detect_faces(grace)[0]
    (crop,) = faces.crop_faces(grace, [face], size=None, margin=0)
    top, right, bottom, left = face.box
    np.testing.assert_array_equal(crop, grace[top:bottom, left:right])
    (resized,) = faces.crop_faces(grace, [face], size=(60, 40), margin=0.5)
    assert resized.shape == (60, 40, 3)
    corner = faces.Face((-20, 30, 30, -20))  # partly outside: edge pixels repeated
    (pad,) = faces.crop_faces(grace, [corner], size=None, margin=0)
    assert pad.shape == (50, 50, 3) and (pad[:20, 20] == grace[0, 0]).all()
    with pytest.raises(ValueError, match="empty"):
        faces.crop_faces(grace, [(10, 5, 10, 5)], margin=0)


def test_aligned_crop_levels_the_eyes(grace):
    tilted = samples.augment(grace, "rotate+8")
    face = faces.detect_faces(tilted, landmarks=True)[0]
    (lx, ly), (rx, ry) = face.landmarks["left_eye"], face.landmarks["right_eye"]
    assert abs(np.degrees(np.arctan2(ry - ly, rx - lx))) > 5  # the eyes are tilted before
    (chip,) = faces.crop_faces(tilted, [face], size=150, aligned=True)
    assert chip.shape == (150, 150, 3)
    marks = faces.face_landmarks(chip, [(0, 150, 150, 0)])[0]
    (lx, ly), (rx, ry) = marks["left_eye"], marks["right_eye"]
    assert abs(ly - ry) < 4 and abs((lx + rx) / 2 - 75) < 6 and 40 < rx - lx < 70


def test_draw_faces_draws_on_a_copy(grace):
    found = faces.detect_faces(grace, landmarks=True)
    out = faces.draw_faces(grace, found, labels=["Grace"])
    assert out.shape == grace.shape and (out != grace).any() and grace.flags.writeable is True
    with pytest.raises(ValueError, match="labels"):
        faces.draw_faces(grace, found, labels=["a", "b"])


# ------------------------------------------------------------------------- matching


def test_match_nearest_tolerance_and_unknown():
    known = np.zeros((3, 128))
    known[1, 0], known[2, 0] = 1.0, 2.0
    names = ["a", "b", "c"]
    q = np.zeros((4, 128))
    q[:, 0] = [0.1, 0.9, 1.55, 5.0]
    got = faces.match(names, known, q, tolerance=0.5)
    assert [g[0] for g in got] == ["a", "b", "c", "unknown"]
    np.testing.assert_allclose([g[1] for g in got], [0.1, 0.1, 0.45, 3.0])
    assert faces.match(names, known, q[2:3], tolerance=0.4)[0][:2] == ("unknown", pytest.approx(0.45))
    q[0, 0] = 0.5  # exactly at the tolerance: still a match
    assert faces.match(names, known, q[:1], tolerance=0.5)[0][0] == "a"
    assert faces.match([], np.zeros((0, 128)), q[:1]) == [("unknown", None, 0)]


def test_match_knn_vote():
    known = np.zeros((5, 128))
    known[:, 0] = [0.0, 0.35, 0.4, 0.1, 3.0]
    names = ["x", "y", "y", "z", "y"]
    q = np.zeros((1, 128))
    q[0, 0] = 0.2
    assert faces.match(names, known, q, 0.6, k=1)[0][0] == "z"
    name, dist, votes = faces.match(names, known, q, 0.6, k=4)[0]
    assert (name, votes) == ("y", 2) and dist == pytest.approx(0.15)
    # the far "y" lies beyond the tolerance and does not vote: x, z, y(0.35) with k=3 is a tie
    name, dist, votes = faces.match(names, known, q, 0.6, k=3)[0]
    assert (name, votes) == ("z", 1)  # ties go to the nearest
    with pytest.raises(ValueError):
        faces.match(names, known, q, k=0)


# --------------------------------------------------------------------------- video


@pytest.fixture(scope="module")
def small_video(tmp_path_factory):
    """A 12-frame MJPG video written from the shipped photos: Grace, Eileen, Grace, ..."""
    grace = cv2.resize(data.photo("grace_hopper"), (256, 300), interpolation=cv2.INTER_AREA)
    eileen = cv2.resize(data.photo("astronaut")[:300, 50:306], (256, 300), interpolation=cv2.INTER_AREA)
    frames = [grace if (i // 3) % 2 == 0 else eileen for i in range(12)]
    path = tmp_path_factory.mktemp("video") / "people.avi"
    faces.write_video(path, frames, fps=10)
    return path


@pytest.fixture(scope="module")
def two_people_db(tmp_path_factory):
    db = faces.FaceDB(tmp_path_factory.mktemp("db") / "faces.db")
    db.enrol_image("Grace Hopper", data.photo("grace_hopper"), source="grace")
    db.enrol_image("Eileen Collins", data.photo("astronaut"), source="eileen", largest=True)
    yield db
    db.close()


def test_video_frames_reads_what_was_written(small_video):
    frames = list(faces.video_frames(small_video, every=5))
    assert [i for i, _ in frames] == [0, 5, 10] and frames[0][1].shape == (300, 256, 3)
    assert len(list(faces.video_frames(small_video, max_frames=4))) == 4


def test_recognize_video_every_other_frame(small_video, two_people_db, tmp_path):
    shown = []
    out = tmp_path / "annotated.avi"
    result = faces.recognize_video(two_people_db, small_video, realtime=False, every=2, output=out,
                                   on_frame=lambda i, img, m, p: shown.append((i, p, img.shape)))
    assert result.frames == 12 and result.processed == [0, 2, 4, 6, 8, 10] and result.skipped == 6
    names = [[m.name for m in r] for r in result.results]
    assert names == [["Grace Hopper"], ["Grace Hopper"], ["Eileen Collins"], ["Grace Hopper"],
                     ["Grace Hopper"], ["Eileen Collins"]]
    assert [s[1] for s in shown] == [i % 2 == 0 for i in range(12)] and result.fps > 0
    assert len(list(faces.video_frames(out))) == 12


def test_recognize_video_skips_frames_to_stay_real_time(small_video, two_people_db):
    ticks = iter(np.arange(0, 100, 0.125))  # each clock reading is 125 ms later: 1.25 frames of a 10 fps video
    result = faces.recognize_video(two_people_db, small_video, realtime=True, clock=lambda: float(next(ticks)))
    assert result.frames == 12 and 0 < len(result.processed) < 12 and result.processed[0] == 0
    fast = faces.recognize_video(two_people_db, small_video, realtime=True, clock=lambda: 0.0)
    assert fast.processed == list(range(12))  # never behind: every frame processed


def test_video_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.avi"):
        list(faces.video_frames(tmp_path / "missing.avi"))
    bad = tmp_path / "notes.avi"
    bad.write_text("not a video")
    with pytest.raises(ImageError, match="notes.avi"):
        list(faces.video_frames(bad))


# --------------------------------------------------------------------------- checks


def test_exercise_checks_pass_right_answers_and_fail_wrong_ones():
    from utils import checks
    from utils.checks import CheckFailed

    assert checks.encoding_distance(lambda a, b: float(np.linalg.norm(a - b)))
    with pytest.raises(CheckFailed, match="encoding_distance"):
        checks.encoding_distance(lambda a, b: float(np.sum(np.abs(a - b))))  # L1, not Euclidean

    def right_name(d, names, tol):
        if len(d) == 0:
            return "unknown"
        j = int(np.argmin(d))
        return names[j] if d[j] <= tol else "unknown"

    assert checks.nearest_name(right_name)
    with pytest.raises(CheckFailed, match="exactly at the tolerance"):
        checks.nearest_name(lambda d, n, t: right_name(d, n, t - 1e-9))  # strict < instead of <=

    assert checks.error_rates(lambda s, d, t: (float(np.mean(s > t)), float(np.mean(d <= t))))
    with pytest.raises(CheckFailed, match="the slide"):
        checks.error_rates(lambda s, d, t: (float(np.mean(d <= t)), float(np.mean(s > t))))  # swapped

    def iou(a, b):
        h = max(0, min(a[2], b[2]) - max(a[0], b[0]))
        w = max(0, min(a[1], b[1]) - max(a[3], b[3]))
        return h * w / ((a[2] - a[0]) * (a[1] - a[3]) + (b[2] - b[0]) * (b[1] - b[3]) - h * w)

    assert checks.box_iou(iou)
    with pytest.raises(CheckFailed, match="far apart"):
        checks.box_iou(lambda a, b: iou(a, b) if iou(a, b) > 0 else 1.0)
