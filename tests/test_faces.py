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


# ------------------------------------------------- OpenCV's res10 SSD and MediaPipe's BlazeFace

needs_dnn_files = pytest.mark.skipif(bool(faces.missing_models()),
                                     reason=f"pretrained detector files missing: {faces.missing_models()}")


@needs_dnn_files
@pytest.mark.parametrize("name", ["grace_hopper", "astronaut"])
def test_res10_ssd_finds_the_faces_of_grace_hopper_and_the_astronaut(name):
    img = data.photo(name)
    found = faces.detect_faces(img, "ssd")
    hog = faces.largest(faces.detect_faces(img, "hog"))
    assert len(found) == 1 and found[0].confidence > 0.9 and found[0].detector == "ssd"
    assert iou(found[0].box, hog.box) > 0.5 and found[0].landmarks is None
    # smaller photos too (4_3 runs them at 256 pixels)
    small = cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    assert len(faces.detect_faces(small, "ssd")) == 1
    assert faces.detect_faces(img, "ssd", threshold=1.01) == []


def test_blazeface_anchors_are_mediapipes():
    anchors = faces.blazeface_anchors()
    assert anchors.shape == (896, 2) and anchors.dtype == np.float32
    # 16x16 grid, 2 per cell, then 8x8 grid, 6 per cell; centres at (i + 0.5) / n
    np.testing.assert_allclose(anchors[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(anchors[512], [0.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(anchors[512:518], np.repeat(anchors[512:513], 6, axis=0))
    np.testing.assert_allclose(anchors[-1], [7.5 / 8, 7.5 / 8])


def test_decode_blazeface_by_hand():
    logits = np.full(896, -10.0)
    raw = np.zeros((896, 16))
    logits[600] = 3.0  # an anchor of the 8x8 grid
    raw[600, :4] = [6.4, -12.8, 32.0, 64.0]  # centre moved by (+0.05, -0.1) of the input, 0.25 x 0.5 in size
    raw[600, 4:] = np.arange(12)
    logits[601] = 2.0  # the same anchor cell, nearly the same box: suppressed by NMS
    raw[601, :4] = [6.4, -12.8, 30.0, 64.0]
    logits[0] = 0.0  # probability 0.5: kept at the threshold
    raw[0, :4] = [0, 0, 12.8, 12.8]
    boxes, scores, keypoints = faces.decode_blazeface(logits[None, :, None], raw[None], threshold=0.5)
    ax, ay = faces.blazeface_anchors()[600]
    assert len(boxes) == 2 and scores[0] == pytest.approx(1 / (1 + np.exp(-3.0)))
    np.testing.assert_allclose(boxes[0], [ax + 0.05 - 0.125, ay - 0.1 - 0.25, ax + 0.05 + 0.125, ay - 0.1 + 0.25])
    np.testing.assert_allclose(keypoints[0], np.array([ax, ay]) + np.arange(12).reshape(6, 2) / 128)
    np.testing.assert_allclose(boxes[1], [1 / 32 - 0.05, 1 / 32 - 0.05, 1 / 32 + 0.05, 1 / 32 + 0.05])
    assert len(faces.decode_blazeface(logits, raw, threshold=0.9)[0]) == 1
    with pytest.raises(ValueError, match="896"):
        faces.decode_blazeface(logits[:10], raw[:10])


@needs_dnn_files
def test_blazeface_finds_faces_with_keypoints_on_the_viewers_side(grace, astronaut):
    for img in (grace, astronaut):
        found = faces.detect_faces(img, "blazeface")
        assert len(found) == 1 and found[0].confidence > 0.8 and found[0].detector == "blazeface"
        assert iou(found[0].box, faces.largest(faces.detect_faces(img, "hog")).box) > 0.5
        marks = found[0].landmarks
        assert tuple(marks) == faces.BLAZEFACE_KEYPOINTS
        assert marks["left_ear"][0] < marks["left_eye"][0] < marks["nose"][0] < marks["right_eye"][0] < marks["right_ear"][0]
        assert max(marks["left_eye"][1], marks["right_eye"][1]) < marks["mouth"][1]
    # a wide picture is letterboxed, and boxes come back in its own pixels
    wide = cv2.copyMakeBorder(grace, 0, 0, 300, 0, cv2.BORDER_CONSTANT, value=0)
    moved = faces.detect_faces(wide, "blazeface")
    top, right, bottom, left = faces.detect_faces(grace, "blazeface")[0].box
    assert len(moved) == 1 and iou(moved[0].box, (top, right + 300, bottom, left + 300)) > 0.8


def test_missing_model_files_are_named(monkeypatch, tmp_path):
    from utils import weights

    empty = tmp_path / "weights"
    empty.mkdir()
    (empty / "manifest.json").write_text(weights.MANIFEST.read_text())
    monkeypatch.setattr(weights, "MANIFEST", empty / "manifest.json")
    monkeypatch.setattr(weights.Registry.__init__, "__defaults__", (empty / "manifest.json", None))
    missing = faces.missing_models()
    assert set(missing) == {"ssd", "blazeface"}
    assert "python -m utils.weights fetch face_detection_short_range.tflite" in missing["blazeface"]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="detector='yolo'"):
        faces.detect_faces(np.zeros((10, 10, 3), np.uint8), "yolo")
    with pytest.raises(ImageError, match=r"expected \(H, W, 3\) uint8"):
        faces.detect_faces(np.zeros((10, 10), np.float32))
    with pytest.raises(ValueError, match="upsample"):
        faces.detect_faces(np.zeros((10, 10, 3), np.uint8), upsample=-1)
    assert faces.detect_faces(np.zeros((64, 64, 3), np.uint8)) == []


# ------------------------------------------------------------------ encodings, crops


def test_encode_defaults_are_face_recognitions(grace, astronaut):
    assert faces.DEFAULT_MODEL == "small" and faces.NUM_JITTERS == 1  # face_encodings(..., num_jitters=1, model="small")
    for img in (grace, astronaut):
        np.testing.assert_array_equal(faces.encode(img), np.array(fr.face_encodings(img)))


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


def test_names_and_distances_equal_face_recognitions_on_real_photos(tmp_path, grace, astronaut):
    """The library's own calls with its defaults, against the course database and faces.recognize."""
    known = {"Grace Hopper": grace, "Eileen Collins": astronaut}
    db = faces.course_database(tmp_path / "faces.db", samples=False)
    names, encodings = [], []
    for name, img in known.items():
        db.enrol_image(name, img, largest=True)
        locs = fr.face_locations(img)
        box = max(locs, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
        names.append(name)
        encodings.append(fr.face_encodings(img, [box])[0])
    queries = [samples.augment(grace, "dark"), samples.augment(astronaut, "rotate-8"), samples.augment(grace, "flip")]
    queries += [np.ascontiguousarray(t) for t in samples.lfw_faces(6)]  # strangers (scikit-image lfw_subset)
    compared = 0
    for img in queries:
        ours = faces.recognize(db, img)
        locs = fr.face_locations(img)
        assert [m.box for m in ours] == locs
        for m, enc in zip(ours, fr.face_encodings(img, locs)):
            d = fr.face_distance(encodings, enc)
            j = int(np.argmin(d))
            expected = names[j] if fr.compare_faces(encodings, enc)[j] else "unknown"
            assert m.name == expected and abs(m.distance - d[j]) < 1e-4
            compared += 1
    assert compared >= 8
    db.close()


def test_course_database_starts_with_the_sample_people_once(tmp_path):
    path = tmp_path / "course" / "faces.db"
    with faces.course_database(path) as db:
        assert [(p["name"], p["faces"]) for p in db.people()] == [(n, 1) for n in sorted(samples.PEOPLE)]
        assert {r["model"] for r in db.rows()} == {f"{faces.ENCODER}/small"} and db.num_jitters == 1
        db.enrol_image("Ada", samples.augment(samples.people()["Grace Hopper"], "bright"), source="ada")
    with faces.course_database(path) as again, faces.course_database(path) as third:  # reopening adds nothing
        assert len(again) == len(third) == 4
    # the same sample files enrolled through a folder (4_1's fast-mode stand-ins) are duplicates
    folder = samples.write_people_folder(tmp_path / "stand_ins", kinds=("original",))
    with faces.course_database(path) as db:
        report = db.enrol_folder(folder, largest=True)
        assert len(report.enrolled) == 0 and len(report.duplicates) == 3 and len(db) == 4
    with faces.course_database(tmp_path / "empty.db", samples=False) as empty:
        assert len(empty) == 0


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
    db = faces.course_database(tmp_path_factory.mktemp("db") / "faces.db", samples=False)
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


def test_checks_return_the_reference_when_the_answer_is_wrong(capsys):
    from utils import checks

    wrong = {checks.encoding_distance: lambda a, b: 0.0, checks.nearest_name: lambda d, n, t: "unknown",
             checks.error_rates: lambda s, d, t: (0.0, 0.0), checks.box_iou: lambda a, b: 0.5}
    for check, func in wrong.items():
        reference = check(func)
        assert reference is not func and callable(reference)
        assert "reference" in capsys.readouterr().out
        assert check(reference) is reference  # the course's reference passes its own check
    stub = lambda folder, db: (_ for _ in ()).throw(NotImplementedError)  # noqa: E731
    reference = checks.enrol_people(stub)
    assert reference is not stub and checks.enrol_people(reference) is reference
    assert checks.face_database("no/such.db", reference="fallback.db") == "fallback.db"


def test_enrol_people_check(monkeypatch):
    from utils import checks
    from utils.checks import CheckFailed

    good = lambda folder, db: db.enrol_folder(folder, largest=True)  # noqa: E731
    assert checks.enrol_people(good) is good
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")
    with pytest.raises(CheckFailed, match="expected Grace Hopper and Eileen Collins"):
        checks.enrol_people(lambda folder, db: db.enrol_folder(folder))  # the astronaut photo has 2 "faces"
    with pytest.raises(CheckFailed, match="EnrolReport"):
        checks.enrol_people(lambda folder, db: len(db.enrol_folder(folder, largest=True).enrolled))


def test_exercise_checks_pass_right_answers_and_fail_wrong_ones(monkeypatch):
    from utils import checks
    from utils.checks import CheckFailed

    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")

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
