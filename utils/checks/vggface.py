"""Checks for face recognition by transfer learning (``4_4``).

Each check returns the student's function when it passes, else the course's reference (with a
note; strict mode raises), so the cells after it still run.
"""
from __future__ import annotations

import numpy as np

from ._core import Case, compare, run_cases

__all__ = ["vggface_preprocess", "nearest_centroid"]

# the channel means (B, G, R) of rcmalli's keras-vggface, written out here on purpose so the
# check does not trust the code it is checking (utils.vggface)
_MEANS = {1: np.array([93.5940, 104.7624, 129.1863]), 2: np.array([91.4953, 103.8827, 131.0912])}


def _ref_preprocess(x, version):
    return np.asarray(x, dtype=np.float64)[..., ::-1] - _MEANS[version]


def _ref_preprocess_float32(x, version):
    """The reference later cells get: float32, like the images the networks take."""
    return _ref_preprocess(x, version).astype(np.float32)


def _judge(x, version, atol=1e-3):
    expected = _ref_preprocess(x, version)
    unflipped = np.asarray(x, dtype=np.float64) - _MEANS[version]

    def judge(result):
        arr = np.asarray(result)
        if arr.shape != expected.shape:
            return f"shape {arr.shape}, expected {expected.shape} (keep the input's shape)"
        wrong = compare(arr, expected, atol=atol, rtol=0)
        if wrong and compare(arr, unflipped, atol=atol, rtol=0) is None:
            return "the means were subtracted from RGB channels: reverse RGB to BGR first"
        if wrong and compare(arr, _ref_preprocess(x, 3 - version), atol=atol, rtol=0) is None:
            return f"these are the means of version {3 - version}, not version {version}"
        return wrong

    return judge


def vggface_preprocess(func):
    """``func(x: (..., H, W, 3) RGB in 0..255, version: 1 or 2) -> same shape``: the image in
    BGR order minus the channel means of VGGFace (version 1) or VGGFace2 (version 2) (``4_4``)."""
    rng = np.random.default_rng(44)
    pixel = np.array([[[[10, 20, 30]]]], dtype=np.uint8)
    cases = [Case((pixel, 1), judge=_judge(pixel, 1), label="one pixel (R, G, B) = (10, 20, 30), version 1"),
             Case((pixel, 2), judge=_judge(pixel, 2), label="the same pixel, version 2")]
    batch = rng.integers(0, 256, size=(2, 3, 4, 3)).astype(np.uint8)
    cases.append(Case((batch, 2), judge=_judge(batch, 2), label="random uint8 batch (2, 3, 4, 3)"))
    single = rng.uniform(0, 255, size=(5, 5, 3)).astype(np.float32)
    cases.append(Case((single, 1), judge=_judge(single, 1), label="one float image (5, 5, 3)"))
    return run_cases("vggface_preprocess", func, cases, reference=_ref_preprocess_float32,
                     hint="convert to float, reverse the last axis (x[..., ::-1]) to get BGR, then subtract "
                          "the (B, G, R) means of the version: one number per channel, broadcast over pixels.")


def _ref_centroid(train, labels, test):
    classes = np.unique(labels)
    means = np.stack([train[labels == c].mean(axis=0) for c in classes])
    dist = np.linalg.norm(test[:, None, :] - means[None, :, :], axis=2)
    return classes[np.argmin(dist, axis=1)]


def nearest_centroid(func):
    """``func(train_emb: (N, D), train_labels: (N,) ints, test_emb: (M, D)) -> (M,) ints``: the
    label of the class whose mean training embedding is nearest (Euclidean) to each test row (``4_4``)."""
    rng = np.random.default_rng(45)
    train = np.array([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 2.0]])
    labels = np.array([0, 0, 1, 1])
    test = np.array([[1.0, 1.0], [9.0, 5.0], [4.9, 1.0]])
    cases = [Case((train, labels, test), expected=np.array([0, 1, 0]), label="two classes in 2-D")]
    centres = rng.normal(0, 1, size=(4, 16)) * 3
    lab = np.repeat([3, 7, 11, 42], 5)  # labels need not be 0..K-1: return the labels themselves
    tr = centres[np.repeat(np.arange(4), 5)] + rng.normal(0, 0.5, size=(20, 16))
    te = centres[rng.integers(0, 4, size=12)] + rng.normal(0, 0.5, size=(12, 16))
    cases.append(Case((tr, lab, te), expected=_ref_centroid(tr, lab, te),
                      label="4 classes labelled 3, 7, 11, 42 in 16-D"))
    unbalanced = np.array([0, 0, 0, 0, 1])
    tr2 = np.array([[0.0], [0.0], [0.0], [6.0], [4.0]])  # class 0 mean 1.5, class 1 mean 4
    cases.append(Case((tr2, unbalanced, np.array([[2.5], [3.0]])), expected=np.array([0, 1]),
                      label="class means, not nearest single examples"))
    return run_cases("nearest_centroid", func, cases, reference=_ref_centroid,
                     hint="np.unique(train_labels) gives the classes; average each class's rows; for every "
                          "test row take the class whose mean is at the smallest Euclidean distance.")
