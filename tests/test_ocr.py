"""utils.ocr: segmentation metrics on hand-made cases, the classical segmenter on rendered plates,
the learned segmenter's targets, crops, reading metrics and the LaTeX report."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from utils import ocr, plates

FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSansMono-Bold.ttf"


def render(text: str, pitch: int = 20, size: int = 30, h: int = 40, w: int | None = None, start: int = 8):
    """A plain plate: dark glyphs on light grey; exact boxes from each glyph's own ink."""
    w = w or start * 2 + pitch * len(text)
    img = Image.new("L", (w, h), 230)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), size)
    boxes = []
    for i, ch in enumerate(text):
        glyph = Image.new("L", (w, h), 0)
        ImageDraw.Draw(glyph).text((start + i * pitch, 4), ch, font=font, fill=255)
        ys, xs = np.nonzero(np.array(glyph) > 128)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        draw.text((start + i * pitch, 4), ch, font=font, fill=25)
    return np.array(img), np.array(boxes, np.float64)


# ---------------------------------------------------------------------------- metrics


def test_match_characters_hand_made():
    t = np.array([[0, 0, 10, 20], [12, 0, 22, 20], [24, 0, 34, 20]], float)
    r = ocr.match_characters(t, t)
    assert (r["tp"], r["fp"], r["fn"]) == (3, 0, 0) and np.allclose(r["ious"], 1)
    p = np.array([[1, 0, 11, 20], [12, 0, 22, 20], [12, 0, 22, 20], [40, 0, 50, 20]], float)  # duplicate + stray
    r = ocr.match_characters(t, p)
    assert (r["tp"], r["fp"], r["fn"]) == (2, 2, 1)
    assert sorted(map(tuple, r["pairs"].tolist())) == [(0, 0), (1, 1)] or sorted(map(tuple, r["pairs"].tolist())) == [(0, 0), (1, 2)]
    # a box shifted by 60 % of its width has IoU 0.25: not a match at 0.5, a match at 0.2
    s = np.array([[6, 0, 16, 20]], float)
    assert ocr.match_characters(t[:1], s)["tp"] == 0
    assert ocr.match_characters(t[:1], s, iou_threshold=0.2)["tp"] == 1
    assert ocr.match_characters(np.zeros((0, 4)), t)["fp"] == 3 and ocr.match_characters(t, [])["fn"] == 3


def test_match_is_one_to_one_and_takes_the_best_pair_first():
    t = np.array([[0, 0, 10, 10], [8, 0, 18, 10]], float)
    p = np.array([[7, 0, 17, 10]], float)  # overlaps both; the second true box better
    r = ocr.match_characters(t, p)
    assert r["pairs"].tolist() == [[1, 0]] and (r["fp"], r["fn"]) == (0, 1)


def test_segmentation_metrics_counts_plates_all_right():
    t = [np.array([[0, 0, 10, 20], [12, 0, 22, 20]], float)] * 3
    p = [t[0], t[0][:1], np.r_[t[0], [[30, 0, 40, 20]]]]
    m = ocr.segmentation_metrics(t, p)
    assert (m["tp"], m["fp"], m["fn"]) == (5, 1, 1)
    assert m["precision"] == pytest.approx(5 / 6) and m["recall"] == pytest.approx(5 / 6)
    assert m["f1"] == pytest.approx(5 / 6) and m["plates_all_right"] == pytest.approx(1 / 3)
    assert m["mean_iou"] == pytest.approx(5 / 6)  # five perfect matches, one miss counted as 0


def test_reading_metrics():
    m = ocr.reading_metrics(["AB123", "XY999", "Q1"], ["AB123", "XY99", "Q7"])
    assert m["plate_accuracy"] == pytest.approx(1 / 3)
    assert m["char_accuracy"] == pytest.approx(1 - 2 / 12)
    assert ocr.edit_distance("KITTEN", "SITTING") == 3 and ocr.edit_distance("", "AB") == 2
    with pytest.raises(ValueError, match="one entry per plate"):
        ocr.reading_metrics(["A"], [])


def test_projection_cuts_finds_the_gaps():
    profile = np.array([5, 6, 7, 6, 0, 5, 9, 9, 6, 1, 4, 4, 8, 7])
    assert ocr.projection_cuts(profile, 3).tolist() == [4, 9]
    assert ocr.projection_cuts(profile, 1).tolist() == []
    with pytest.raises(ValueError, match="profile"):
        ocr.projection_cuts(np.ones((3, 3)), 2)
    with pytest.raises(ValueError, match="n=0"):
        ocr.projection_cuts(profile, 0)


# ------------------------------------------------------------------ classical segmentation


@pytest.mark.parametrize("method", ["otsu", "adaptive"])
def test_classical_segmenter_on_rendered_plates(method):
    rng = np.random.default_rng(0)
    trues, preds = [], []
    for _ in range(12):
        text = "".join(rng.choice(list(ocr.ALPHABET), 7))
        plate, boxes = render(text)
        noisy = np.clip(plate + rng.normal(0, 4, plate.shape), 0, 255).astype(np.uint8)
        trues.append(boxes)
        preds.append(ocr.classical_segment(noisy, method))
    m = ocr.segmentation_metrics(trues, preds)
    assert m["f1"] >= 0.95 and m["mean_iou"] >= 0.8


def test_classical_segmenter_splits_touching_glyphs():
    plate, boxes = render("MWMW", pitch=16, size=30)  # wide glyphs closer than their width: they touch
    ink = ocr.binarise(plate)
    import cv2

    n, _ = cv2.connectedComponents(ink.astype(np.uint8))
    assert n - 1 < 4, "the test needs glyphs that touch"
    no_split = ocr.classical_segment(plate, split=False)
    split = ocr.classical_segment(plate)
    assert len(split) == 4 and len(no_split) < 4
    assert ocr.segmentation_metrics([boxes], [split])["f1"] > ocr.segmentation_metrics([boxes], [no_split])["f1"]


def test_classical_segmenter_ignores_the_frame_and_noise():
    plate, boxes = render("AB12")
    plate[0:2, :] = plate[-2:, :] = plate[:, :2] = plate[:, -2:] = 20  # a dark frame
    plate[5, 5] = plate[30, 40] = 0  # specks
    pred, steps = ocr.classical_segment(plate, return_steps=True)
    assert steps["ink"].shape == plate.shape and len(steps["components"]) > 4
    assert ocr.segmentation_metrics([boxes], [pred])["f1"] == 1.0


def test_binarise_is_polarity_proof_and_rejects_bad_input():
    plate, _ = render("7")
    assert ocr.binarise(plate).mean() < 0.5 and ocr.binarise(255 - plate).mean() < 0.5
    with pytest.raises(ValueError, match="method"):
        ocr.binarise(plate, "sauvola")
    with pytest.raises(ValueError, match="plate"):
        ocr.classical_segment(np.zeros(10))


# --------------------------------------------------------------------- learned segmenter


def test_column_targets_round_trip_through_the_decoder():
    plate, boxes = render("AB123CD")
    t = ocr.column_targets(boxes, plate.shape)
    assert t.shape == (ocr.SEG_COLUMNS, 6) and t[:, 0].sum() < t[:, 1].sum()
    # the cores of neighbours never touch: one run per character
    runs = np.flatnonzero(np.diff(np.r_[0, t[:, 0], 0]) == 1)
    assert len(runs) == 7
    perfect = np.c_[np.where(t[:, 0] > 0, 10.0, -10.0), t[:, 2:6]]
    decoded = ocr.decode_columns(perfect, plate.shape)
    m = ocr.segmentation_metrics([boxes], [decoded])
    assert m["f1"] == 1.0 and m["mean_iou"] > 0.99  # a perfect output decodes to the exact boxes
    with pytest.raises(ValueError, match="column_segmenter"):
        ocr.decode_columns(np.zeros((64, 3)), plate.shape)


def test_networks_have_the_documented_shapes():
    seg = ocr.column_segmenter()
    x = ocr.segmenter_inputs([render("AB1")[0], np.zeros((30, 90, 3), np.uint8)])
    assert x.shape == (2, *ocr.SEG_SHAPE, 1)
    assert seg(x).shape == (2, ocr.SEG_COLUMNS, 5)
    for kind in ("cnn", "resnet"):
        clf = ocr.char_classifier(kind)
        out = np.asarray(clf(np.zeros((3, *ocr.CHAR_SHAPE, 1), np.float32)))
        assert out.shape == (3, len(ocr.ALPHABET)) and np.allclose(out.sum(1), 1, atol=1e-5)
    assert any(type(layer).__name__ == "Add" for layer in ocr.char_classifier("resnet").layers)
    with pytest.raises(ValueError, match="kind"):
        ocr.char_classifier("vgg")


def test_crops_and_character_set():
    plate, boxes = render("AB12")
    crops = ocr.crop_characters(plate, boxes)
    assert crops.shape == (4, *ocr.CHAR_SHAPE, 1) and crops.dtype == np.float32
    assert np.allclose(crops.mean(axis=(1, 2, 3)), 0, atol=1e-3)
    off_plate = ocr.crop_characters(plate, [[-20, -5, 5, 60]])  # partly outside: border repeated, no error
    assert np.isfinite(off_plate).all()
    x, y = ocr.character_set([plate], [boxes], ["AB12"], np.random.default_rng(0), copies=2)
    assert x.shape == (12, *ocr.CHAR_SHAPE, 1) and y.tolist() == [10, 11, 1, 2] * 3
    x2, _ = ocr.character_set([plate], [boxes], ["AB12"], copies=0, extra_boxes=[boxes + 1])
    x3, _ = ocr.character_set([plate], [boxes], ["AB12"], copies=0, extra_boxes=[boxes[:3]])  # wrong count: unused
    assert len(x2) == 8 and len(x3) == 4
    j1 = ocr.jitter_boxes(boxes, np.random.default_rng(1))
    assert np.allclose(j1, ocr.jitter_boxes(boxes, np.random.default_rng(1))) and not np.allclose(j1, boxes)
    with pytest.raises(ValueError, match="4 boxes but text"):
        ocr.character_set([plate], [boxes], ["AB1"])
    with pytest.raises(ValueError, match="outside the alphabet"):
        ocr.character_set([plate], [boxes], ["ab12"])


# ---------------------------------------------------------------------------------- report


RESULTS = {
    "detection": [{"method": "Haar cascade (haarcascade_russian_plate_number)", "recall": 0.21, "AP50": float("nan")},
                  {"method": "CenterNet_small & corners", "recall": 1.0, "AP50": 0.987}],
    "segmentation": [{"method": "Otsu + CC", "precision": 0.9, "recall": 0.91, "f1": 0.905, "plates": 200},
                     {"method": "per-column 100% learned", "precision": 0.99, "recall": 0.99, "f1": 0.99,
                      "plates": 200}],
    "reading": [{"model": "cnn #1", "parameters": 25972, "char_accuracy": 0.991, "plate_accuracy": 0.95}],
    "data": {"train": "seed 11, 400 plates; costs $0 ^_^", "test": "seed 12 {held out}"},
    "author": "A. Student_1",
}


def test_report_is_written_and_parses(tmp_path):
    path = ocr.write_report(tmp_path, RESULTS)
    assert path == tmp_path / "Report.7.Detection.Segmentation.tex"
    text = path.read_text()
    assert ocr.latex_problems(text) == []
    assert "0.987" in text and "0.905" in text and "25\\,972" in text and "--" in text
    assert "haarcascade\\_russian\\_plate\\_number" in text and "CenterNet\\_small \\& corners" in text
    assert "100\\%" in text and "\\#1" in text and "\\$0" in text and "\\{held out\\}" in text
    assert text.count("\\begin{table}") == 3 and "TODO" in text and "\\section{Evaluation}" in text
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file left behind"


def test_report_with_architectures(tmp_path):
    model = ocr.char_classifier("resnet")
    path = ocr.write_report(tmp_path / "r.tex", {**RESULTS, "architectures": {"Reader (ResNet_style)": model}})
    text = path.read_text()
    assert ocr.latex_problems(text) == []
    assert "res1\\_add" in text and f"{model.count_params():,}".replace(",", "\\,") in text


def test_latex_checker_finds_real_problems():
    good = "\\documentclass{article}\n\\begin{document}\n$x_1$ a \\_ b \\begin{tabular}{ll} a & b \\\\ \\end{tabular}\n\\end{document}\n"
    assert ocr.latex_problems(good) == []
    bad = {"x_1 outside math": good.replace("a \\_ b", "a _ b"),
           "100%": good.replace("a \\_ b", "100%"),
           "A & B": good.replace("a \\_ b", "A & B"),
           "#": good.replace("a \\_ b", "#1"),
           "unclosed brace": good.replace("a \\_ b", "\\textbf{a"),
           "stray brace": good.replace("a \\_ b", "a}"),
           "mismatched env": good.replace("\\end{tabular}", "\\end{table}"),
           "unclosed env": good.replace("\\end{document}\n", ""),
           "unclosed math": good.replace("$x_1$", "$x_1")}
    for what, text in bad.items():
        assert ocr.latex_problems(text), what
    assert any("line 3" in p for p in ocr.latex_problems(bad["x_1 outside math"]))


def test_report_bad_inputs_leave_the_old_file(tmp_path):
    path = ocr.write_report(tmp_path, RESULTS)
    before = path.read_text()
    with pytest.raises(ValueError, match="results"):
        ocr.write_report(tmp_path, [1, 2])
    with pytest.raises(ValueError, match="unknown keys"):
        ocr.write_report(tmp_path, {"detections": []})
    with pytest.raises(ValueError, match="no measured table"):
        ocr.write_report(tmp_path, {"author": "x"})
    with pytest.raises(ValueError, match="list of dicts"):
        ocr.write_report(tmp_path, {"reading": {"acc": 1}})
    assert path.read_text() == before
    if os.name == "posix" and os.geteuid() != 0:
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o500)
        with pytest.raises(OSError):
            ocr.write_report(tmp_path / "ro", RESULTS)


# ------------------------------------------------------------------ data and the pipeline


def test_synthetic_and_scene_plates():
    from utils import plates

    a, b = ocr.synthetic_plates(6, seed=3), ocr.synthetic_plates(6, seed=3)
    assert a["plates"].shape == (6, *ocr.PLATE_SIZE, 3) and a["plates"].dtype == np.uint8
    assert np.array_equal(a["plates"], b["plates"]) and a["texts"] == b["texts"]
    for boxes, text in zip(a["boxes"], a["texts"]):
        assert boxes.shape == (len(text), 4) and (boxes[:, 2] > boxes[:, 0]).all()
        assert (boxes >= 0).all() and (boxes[:, 2] <= ocr.PLATE_SIZE[1]).all()
    scenes = plates.make_scenes(8, seed=5, size=256)
    held = ocr.scene_plates(scenes)
    assert held["plates"].shape == (8, *ocr.PLATE_SIZE, 3) and held["texts"] == [s.text for s in scenes]
    # the classical segmenter on the plates module's rendered, warped and rectified plates
    m = ocr.segmentation_metrics(held["boxes"], [ocr.classical_segment(p) for p in held["plates"]])
    assert m["f1"] >= 0.8
    with pytest.raises(ValueError, match="corners"):
        ocr.scene_plates(scenes, corners=[s.corners for s in scenes[:2]])


def test_read_scenes_returns_the_documented_structure():
    from utils import plates

    scenes = plates.make_scenes(2, seed=9, size=128)
    detector = plates.plate_detector(128)
    out = ocr.read_scenes([s.image for s in scenes], detector, ocr.column_segmenter(), ocr.char_classifier(),
                          score_threshold=0.0, max_plates=2)
    assert len(out) == 2 and all(isinstance(r, list) for r in out)
    for found in out:
        for p in found:
            assert p["box"].shape == (4,) and p["corners"].shape == (4, 2) and p["plate"].shape == (*ocr.PLATE_SIZE, 3)
            assert isinstance(p["text"], str) and len(p["text"]) == len(p["plate_char_boxes"]) == len(p["char_boxes"])
            assert p["char_polygons"].shape == (len(p["text"]), 4, 2)
    assert ocr.read_scenes([], detector, None, None) == []


@pytest.mark.parametrize("direction", ["left", "right", "up", "down"])
def test_refine_corners_puts_displaced_corners_back_on_the_plate(direction):
    scenes = plates.make_scenes(12, seed=77, size=256)
    rng = np.random.default_rng(0)
    axis, sign = {"left": (0, -1), "right": (0, 1), "up": (1, -1), "down": (1, 1)}[direction]
    errors = []
    for s in scenes:
        off = np.zeros((4, 2), np.float32)
        off[:, axis] = sign * 4.0 + rng.uniform(-1, 1, 4)  # the whole quadrilateral shifted, as a detector errs
        fixed = ocr.refine_corners(s.image, s.corners + off)
        assert fixed.shape == (4, 2) and fixed.dtype == np.float32
        errors.append(np.abs(fixed - s.corners).mean(axis=0).max())  # mean error of x or y, the worse one
    errors = np.array(errors)
    assert np.median(errors) <= 1.0 and (errors <= 1.5).sum() >= 10, errors.round(2)


def test_refine_corners_fixes_one_corner_off_alone():
    scenes = plates.make_scenes(12, seed=77, size=256)
    rng = np.random.default_rng(0)
    errors = []
    for i, s in enumerate(scenes):
        bad = s.corners.copy()
        bad[i % 4] += rng.choice([-1, 1], 2) * np.float32([10, 6])  # one corner 10 px and 6 px off, as a detector errs
        errors.append(np.abs(ocr.refine_corners(s.image, bad) - s.corners).max())
    errors = np.array(errors)
    assert np.median(errors) <= 1.5 and (errors <= 2.0).sum() >= 9, errors.round(2)


def test_refine_corners_only_top_and_bottom_keeps_the_ends():
    s = plates.make_scenes(1, seed=77, size=256)[0]
    bad = s.corners + np.float32([[3, 4], [3, 4], [3, 4], [3, 4]])
    fixed = ocr.refine_corners(s.image, bad, sides=False, passes=1)
    assert np.abs(fixed - s.corners)[:, 1].mean() < 1.5
    assert np.abs(fixed[:, 0] - bad[:, 0]).max() < 1.0  # left and right ends stay on the given sides


def test_refine_corners_returns_implausible_input_unchanged():
    s = plates.make_scenes(1, seed=77, size=256)[0]
    flat = np.full((256, 256, 3), 120, np.uint8)  # no plate: no edge anywhere
    np.testing.assert_array_equal(ocr.refine_corners(flat, s.corners), s.corners)
    image = s.image.copy()
    image[180:] = 120  # a flat strip at the bottom of the scene
    far = np.float32([[10, 200], [60, 200], [60, 215], [10, 215]])  # a quadrilateral on the flat strip
    np.testing.assert_array_equal(ocr.refine_corners(image, far), far)


def test_refine_corners_rejects_bad_input():
    image = plates.make_scenes(1, seed=77, size=256)[0].image
    with pytest.raises(ValueError, match="corners"):
        ocr.refine_corners(image, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="corners"):
        ocr.refine_corners(image, np.full((4, 2), np.nan))
    with pytest.raises(ValueError, match="passes"):
        ocr.refine_corners(image, np.float32([[0, 0], [9, 0], [9, 3], [0, 3]]), passes=0)
