"""Checks for the custom-data-set notebooks: thermal images (``7_1``)."""
from __future__ import annotations

import numpy as np

from ._core import Case, run_cases

__all__ = ["gain_to_8bit", "yolo_line"]


def _ref_gain(counts, low=1.0, high=99.0):
    from utils.thermal import agc_percentile

    return agc_percentile(counts, low, high)


def gain_to_8bit(func):
    """``func(counts (H, W) uint16, low=1, high=99) -> (H, W) uint8``: percentile-clip gain
    control. The ``low`` percentile maps to 0, the ``high`` one to 255, linearly in between,
    values outside clipped, rounded to the nearest integer; a flat image gives 128 (``7_1``)."""
    rng = np.random.default_rng(71)
    scene = rng.normal(3000, 40, (32, 40)).round().astype(np.uint16)
    lamp = scene.copy()
    lamp[5:7, 5:7] = 9000
    cases = [
        Case((scene,), label="noisy 14-bit counts around 3,000"),
        Case((lamp,), label="the same scene with a hot lamp: it must not decide the contrast"),
        Case((lamp, 0.0, 100.0), label="low=0, high=100: plain min-max"),
        Case((rng.integers(1000, 1100, (16, 16)).astype(np.uint16), 5.0, 95.0), label="low=5, high=95"),
        Case((np.full((8, 8), 4321, np.uint16),), label="a flat image (no contrast at all)"),
        Case((np.linspace(2000, 2255, 256).reshape(16, 16).astype(np.uint16), 0.0, 100.0),
             label="a ramp of 256 values: every grey level once"),
    ]
    for case in cases:
        case.expected = _ref_gain(*case.args)

    def judge_for(expected):
        def judge(out):
            arr = np.asarray(out)
            if arr.shape != expected.shape:
                return f"shape {arr.shape}, expected {expected.shape}"
            if arr.dtype != np.uint8:
                return f"dtype {arr.dtype}, expected uint8 (what an 8-bit display shows)"
            worst = int(np.abs(arr.astype(int) - expected.astype(int)).max())
            return None if worst <= 1 else f"some pixels are {worst} grey levels away from the expected value"
        return judge

    for case in cases:
        case.judge = judge_for(case.expected)
    return run_cases("gain_to_8bit", func, cases, reference=_ref_gain,
                     hint="np.percentile gives the two counts that become 0 and 255; scale linearly between "
                          "them, clip to 0..255, round, then convert to uint8. When both percentiles are equal "
                          "there is nothing to stretch.")


def _ref_line(bbox, class_index, width, height):
    x, y, w, h = (float(v) for v in bbox)
    x0, y0 = min(max(x, 0.0), width), min(max(y, 0.0), height)
    x1, y1 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
    return (f"{int(class_index)} {(x0 + x1) / 2 / width:.6f} {(y0 + y1) / 2 / height:.6f} "
            f"{(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}")


def _parse(line):
    if not isinstance(line, str):
        raise TypeError("not a string")
    parts = line.split()
    if len(parts) != 5 or not parts[0].lstrip("-").isdigit():
        raise ValueError("not 'class cx cy w h'")
    return (int(parts[0]), *(float(v) for v in parts[1:]))


def yolo_line(func):
    """``func(bbox [x, y, w, h] COCO pixels, class_index, width, height) -> str``: one YOLO label
    line ``"k cx cy w h"``, the box first clipped to the image, values as fractions of the image
    size (``7_1``)."""
    rng = np.random.default_rng(72)
    args = [([10.0, 20.0, 30.0, 40.0], 0, 100, 200, "a 30x40 box at (10, 20), class 0"),
            ([603.0, 142.0, 40.0, 86.0], 1, 640, 512, "a HIT-UAV car whose box runs 3 px past the right edge"),
            ([-2.0, -3.0, 12.0, 20.0], 3, 640, 512, "a box starting above and left of the image"),
            ([0.0, 0.0, 640.0, 512.0], 2, 640, 512, "the whole image")]
    for _ in range(3):
        w_img, h_img = (int(v) for v in rng.integers(64, 800, 2))
        x, y = rng.uniform(0, w_img * 0.7), rng.uniform(0, h_img * 0.7)
        args.append(([x, y, rng.uniform(2, w_img * 0.3), rng.uniform(2, h_img * 0.3)], int(rng.integers(0, 5)),
                     w_img, h_img, f"random float box in a {w_img}x{h_img} image"))
    cases = []
    for bbox, k, w, h, label in args:
        expected = _parse(_ref_line(bbox, k, w, h))

        def judge(out, expected=expected):
            if out[0] != expected[0]:
                return f"class {out[0]}, expected {expected[0]} (the class index comes first)"
            got = np.array(out[1:])
            if not np.allclose(got, expected[1:], atol=2e-6):
                return f"values {np.round(got, 6).tolist()}, expected {list(expected[1:])}"
            return None
        cases.append(Case((np.array(bbox), k, w, h), judge=judge, label=label))
    return run_cases("yolo_line", func, cases, reference=_ref_line, convert=_parse,
                     hint="clip the corners (x, y) and (x + w, y + h) to the image first; the centre is the middle "
                          "of the clipped corners; divide x values by the width and y values by the height; "
                          "format as 'k cx cy w h' with spaces.")
