"""Checks for the GAN notebooks (``6_3`` DCGAN, ``6_4`` conditional GAN)."""
from __future__ import annotations

import numpy as np

from ._core import Case, compare, run_cases

__all__ = ["label_planes", "requested_label_accuracy", "per_pixel_gaussian"]


def _ref_label_planes(labels, n_classes: int, height: int, width: int) -> np.ndarray:
    """Integer labels ``(N,)`` → float32 ``(N, height, width, n_classes)``: channel ``labels[i]`` all ones."""
    labels = np.asarray(labels).astype(int).reshape(-1)
    one_hot = np.eye(n_classes, dtype="float32")[labels]
    return np.broadcast_to(one_hot[:, None, None, :], (len(labels), height, width, n_classes)).copy()


def label_planes(func):
    """``func(labels (N,) int, n_classes, height, width) -> (N, height, width, n_classes) float``:
    the label as constant one-hot image channels, the way the plain conditional discriminator
    of ``6_4`` sees it (channel ``labels[i]`` is all ones, every other channel all zeros)."""
    specs = [(([3], 10, 2, 2), "one label"), (([0, 9, 4], 10, 8, 8), "three digits, 8x8"),
             ((np.array([1, 1, 0]), 2, 3, 5), "two classes, 3x5 (height 3, width 5)"),
             ((np.array([2]), 3, 1, 1), "1x1 planes")]
    cases = [Case(a, expected=_ref_label_planes(*a), label=lab) for a, lab in specs]
    return run_cases("label_planes", func, cases, reference=_ref_label_planes,
                     convert=lambda r: np.asarray(r, dtype="float32"),
                     hint="one-hot the labels to (N, n_classes) (np.eye(n_classes)[labels]), then give them two "
                          "image axes (N, 1, 1, n_classes) and repeat (np.broadcast_to / np.tile) to "
                          "(N, height, width, n_classes).")


def _ref_requested_label_accuracy(predicted, requested, n_classes: int = 10):
    """``(overall, per_class)``: fraction of samples whose predicted label is the requested one,
    over all samples and per requested class (NaN for a class never requested)."""
    predicted, requested = np.asarray(predicted).reshape(-1), np.asarray(requested).reshape(-1)
    hit = (predicted == requested).astype(float)
    per_class = np.full(n_classes, np.nan)
    for c in range(n_classes):
        if np.any(requested == c):
            per_class[c] = hit[requested == c].mean()
    return float(hit.mean()), per_class


def requested_label_accuracy(func):
    """``func(predicted (N,) int, requested (N,) int, n_classes=10) -> (overall, per_class (n_classes,))``:
    how often a classifier trained on real digits recognises the digit the conditional GAN was
    asked for (``6_4``); ``per_class[c]`` is the accuracy over the samples requested as ``c``
    (NaN when ``c`` was never requested)."""
    specs = [
        (([1, 2, 3, 4], [1, 2, 3, 4], 5), "all right"),
        (([0, 1, 1, 1], [0, 0, 1, 1], 2), "one miss in class 0"),
        (([2, 0, 2, 2, 1, 0], [2, 2, 2, 2, 1, 1], 3), "class 0 never requested"),
        ((np.array([3, 3, 3]), np.array([0, 1, 2]), 4), "all wrong"),
    ]
    cases = []
    for a, lab in specs:
        overall, per = _ref_requested_label_accuracy(*a)
        cases.append(Case(a, judge=lambda r, o=overall, p=per: compare(r[0], o) or compare(r[1], p), label=lab))
    return run_cases("requested_label_accuracy", func, cases, reference=_ref_requested_label_accuracy,
                     convert=lambda r: (float(r[0]), np.asarray(r[1], dtype=float).reshape(-1)),
                     hint="hits = predicted == requested; overall is their mean; per_class[c] is the mean of "
                          "hits where requested == c, and NaN (np.nan) for a class that was never requested. "
                          "Return a tuple (overall, per_class).")


def _ref_per_pixel_gaussian(x, n: int, seed: int = 0) -> np.ndarray:
    """``n`` samples with every pixel drawn independently from ``N(mean, std)`` of ``x (N, ...)``."""
    x = np.asarray(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    flat = x.reshape(len(x), -1)
    out = flat.mean(axis=0) + rng.standard_normal((n, flat.shape[1])) * flat.std(axis=0, ddof=1)
    return out.reshape((n,) + x.shape[1:])


def per_pixel_gaussian(func):
    """``func(x (N, H, W, C), n, seed=0) -> (n, H, W, C)``: the per-pixel Gaussian baseline of
    ``6_3``: each pixel independent, with the data's per-pixel mean and standard deviation
    (``ddof=1``), noise from ``np.random.default_rng(seed).standard_normal((n, pixels))``.
    Judged on its statistics (shape, per-pixel mean and std of many samples), not exact values."""
    rng = np.random.default_rng(3)
    x1 = rng.normal(size=(50, 4, 4, 3)) * np.linspace(0.1, 2, 48).reshape(4, 4, 3) + np.arange(48).reshape(4, 4, 3)
    x2 = np.repeat(np.linspace(-1, 1, 6).reshape(6, 1, 1, 1), 2, axis=1) * np.ones((6, 2, 3, 1))

    def judge_for(x, n):
        flat = np.asarray(x, dtype=float).reshape(len(x), -1)
        mu, sd = flat.mean(0), flat.std(0, ddof=1)

        def judge(r):
            r = np.asarray(r, dtype=float)
            if r.shape != (n,) + x.shape[1:]:
                return f"shape {r.shape}, expected {(n,) + x.shape[1:]}"
            rf = r.reshape(n, -1)
            tol = 6 * sd / np.sqrt(n) + 1e-9
            if np.any(np.abs(rf.mean(0) - mu) > tol):
                return "the per-pixel means of your samples are far from the data's per-pixel means"
            if np.any(np.abs(rf.std(0, ddof=1) - sd) > 0.1 * sd + 1e-9):
                return "the per-pixel spread of your samples is not the data's per-pixel standard deviation"
            if n > 100 and flat.shape[1] > 1:
                c = np.corrcoef(rf[:, :2], rowvar=False)[0, 1]
                if abs(c) > 0.2 and sd[0] > 0 and sd[1] > 0:
                    return "pixels are correlated: each pixel must get its own independent noise"
            return None
        return judge

    cases = [Case((x1, 4000), judge=judge_for(x1, 4000), label="50 colour 4x4 images, 4000 samples"),
             Case((x2, 2000), {"seed": 1}, judge=judge_for(x2, 2000), label="6 images 2x3x1, seed 1")]
    return run_cases("per_pixel_gaussian", func, cases, reference=_ref_per_pixel_gaussian,
                     hint="each pixel gets its own Gaussian: estimate its mean and spread over the images, draw "
                          "independent noise per pixel and per sample, and give the samples the images' shape.")
