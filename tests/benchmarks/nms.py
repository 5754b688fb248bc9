"""Benchmark (run by hand, not a test): utils.detection.nms against cv2.dnn.NMSBoxes on 10,000 boxes.

    .venv/bin/python tests/benchmarks/nms.py [--repeats 20] [--threads 1]

Two inputs of 10,000 boxes in a 1000 x 1000 image, random scores, IoU threshold 0.5, no
limit on the number kept (``max_output=N``, OpenCV ``top_k=0``):

- ``clustered``: 10,000 jittered boxes around 200 objects, what a detector emits before
  NMS (few survivors, each suppressing many boxes);
- ``uniform``: 10,000 boxes of random size at random places (thousands survive: the worst
  case for a loop over kept boxes).

Both functions must return the same indices (checked). The target of issue 3 is
``ours / OpenCV <= 3`` on 10,000 boxes; we print the median CPU time of each
and the ratio for both inputs.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from utils.detection import convert_boxes, nms  # noqa: E402


def make_boxes(kind: str, n: int = 10_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "clustered":
        k = 200
        xy = rng.uniform(0, 900, (k, 2))
        objects = np.c_[xy, xy + rng.uniform(20, 100, (k, 2))]
        boxes = np.repeat(objects, n // k, axis=0) + rng.normal(0, 6, (n, 4))
    else:
        xy = rng.uniform(0, 950, (n, 2))
        boxes = np.c_[xy, xy + rng.uniform(5, 50, (n, 2))]
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    return boxes, rng.uniform(0.01, 1.0, n)


def median_cpu_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (NMSBoxes is single-threaded anyway)")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    print(f"numpy {np.__version__}, OpenCV {cv2.__version__}, {os.cpu_count()} CPUs, median of {args.repeats} runs (CPU time)")
    for kind in ("clustered", "uniform"):
        boxes, scores = make_boxes(kind)
        xywh, score_list = convert_boxes(boxes, "xyxy", "xywh").tolist(), scores.tolist()
        ours = nms(boxes, scores, 0.5, max_output=len(boxes))
        ref = np.asarray(cv2.dnn.NMSBoxes(xywh, score_list, 0.0, 0.5)).reshape(-1)
        assert np.array_equal(ours, ref), f"{kind}: results differ"
        t_ours = median_cpu_time(lambda: nms(boxes, scores, 0.5, max_output=len(boxes)), args.repeats)
        # OpenCV's time includes turning the arrays into the Python lists its binding takes
        t_cv2 = median_cpu_time(lambda: cv2.dnn.NMSBoxes(convert_boxes(boxes, "xyxy", "xywh").tolist(),
                                                         scores.tolist(), 0.0, 0.5), args.repeats)
        t_cv2_only = median_cpu_time(lambda: cv2.dnn.NMSBoxes(xywh, score_list, 0.0, 0.5), args.repeats)
        print(f"{kind:>9}: {len(boxes)} boxes -> {len(ours)} kept | utils.detection.nms {t_ours * 1e3:7.2f} ms | "
              f"cv2.dnn.NMSBoxes {t_cv2 * 1e3:7.2f} ms with list conversion, {t_cv2_only * 1e3:7.2f} ms without | "
              f"ratio {t_ours / t_cv2:.2f}x ({t_ours / t_cv2_only:.2f}x against the call alone)")


if __name__ == "__main__":
    main()
