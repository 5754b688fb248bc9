"""Checks for day 0 (``0_1``, ``0_2``) and the Haar cascade notebook (``2_1``)."""
from __future__ import annotations

import numpy as np

from ._core import Case, run_cases

__all__ = ["integral_image", "convolve2d", "max_pool", "conv_transpose2d", "rect_sum",
           "haar_two_rect", "confusion_matrix"]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _ref_integral(img: np.ndarray) -> np.ndarray:
    return np.asarray(img, dtype=np.int64).cumsum(0).cumsum(1)


def integral_image(func):
    """``func(img: (H, W) ints) -> (H, W)`` where ``out[r, c] = img[:r+1, :c+1].sum()``
    (taught in ``0_1``, used by Viola-Jones in ``2_1``)."""
    slide = np.array([[2, 4, 1, 2], [1, 1, 2, 2], [3, 2, 2, 1]])
    cases = [Case((slide,), expected=np.array([[2, 6, 7, 9], [3, 8, 11, 15], [6, 13, 18, 23]]), label="the slide")]
    cases.append(Case((np.array([[5]]),), expected=np.array([[5]]), label="1x1"))
    cases.append(Case((np.ones((1, 6), int),), expected=np.arange(1, 7)[None], label="one row"))
    rand = _rng(1).integers(0, 256, size=(7, 9))
    cases.append(Case((rand,), expected=_ref_integral(rand), label="random 7x9"))
    return run_cases("integral_image", func, cases, reference=_ref_integral,
                     hint="out[r, c] is the sum of every pixel above and to the left, inclusive: "
                          "cumulative sums along both axes.")


def _ref_correlate(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    kh, kw = kernel.shape
    h, w = img.shape[0] - kh + 1, img.shape[1] - kw + 1
    out = np.zeros((h, w))
    for r in range(h):
        for c in range(w):
            out[r, c] = (img[r:r + kh, c:c + kw] * kernel).sum()
    return out


def convolve2d(func):
    """``func(img: (H, W), kernel: (kh, kw)) -> (H-kh+1, W-kw+1)``: 'valid' sliding-window
    product-and-sum, as Keras ``Conv2D`` computes it (no kernel flip; ``0_1``)."""
    rng = _rng(2)
    cases = []
    img = np.arange(16, dtype=float).reshape(4, 4)
    k = np.array([[1.0, 0.0], [0.0, -1.0]])
    cases.append(Case((img, k), expected=_ref_correlate(img, k), label="diagonal difference"))
    sobel = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    img = rng.random((6, 8))
    cases.append(Case((img, sobel), expected=_ref_correlate(img, sobel), label="Sobel x on 6x8"))
    k = rng.random((1, 3))
    cases.append(Case((img, k), expected=_ref_correlate(img, k), label="1x3 kernel (not square)"))
    return run_cases("convolve2d", func, cases, reference=_ref_correlate,
                     hint="slide the kernel over every position where it fits entirely; multiply "
                          "element-wise and sum. Do not flip the kernel.")


def _ref_pool(x: np.ndarray, size: int, op) -> np.ndarray:
    h, w = x.shape[0] // size, x.shape[1] // size
    return op(x[:h * size, :w * size].reshape(h, size, w, size), axis=(1, 3))


def max_pool(func):
    """``func(x: (H, W), size: int) -> (H//size, W//size)``: non-overlapping max pooling
    (stride = size, leftover rows/columns dropped, as Keras ``MaxPooling2D``; ``0_1``)."""
    rng = _rng(3)
    x = np.array([[1, 3, 2, 1], [4, 2, 0, 1], [5, 1, 9, 7], [0, 2, 3, 8]], dtype=float)
    cases = [Case((x, 2), expected=np.array([[4, 2], [5, 9]], float), label="4x4, size 2")]
    y = rng.random((7, 9))
    cases.append(Case((y, 2), expected=_ref_pool(y, 2, np.max), label="7x9: drop the odd row and column"))
    cases.append(Case((y, 3), expected=_ref_pool(y, 3, np.max), label="size 3"))
    return run_cases("max_pool", func, cases, reference=lambda x, size: _ref_pool(np.asarray(x), size, np.max),
                     hint="the windows do not overlap: how many fit along each axis, and what happens to leftover "
                          "rows and columns? Take the largest value of each window.")


def _ref_conv_transpose(x: np.ndarray, k: np.ndarray, stride: int) -> np.ndarray:
    kh, kw = k.shape
    out = np.zeros(((x.shape[0] - 1) * stride + kh, (x.shape[1] - 1) * stride + kw))
    for r in range(x.shape[0]):
        for c in range(x.shape[1]):
            out[r * stride:r * stride + kh, c * stride:c * stride + kw] += x[r, c] * k
    return out


def conv_transpose2d(func):
    """``func(x: (H, W), kernel: (kh, kw), stride: int) -> ((H-1)*stride+kh, (W-1)*stride+kw)``:
    each input value scales the kernel, pasted at ``stride`` steps and summed (``0_1``)."""
    rng = _rng(4)
    x = np.array([[2.0, 4.0], [0.0, 1.0]])
    k = np.array([[3.0, 1.0], [1.0, 5.0]])
    cases = [Case((x, k, 1), expected=np.array([[6, 14, 4], [2, 17, 21], [0, 1, 5]], float), label="the slide")]
    cases.append(Case((x, k, 2), expected=_ref_conv_transpose(x, k, 2), label="stride 2"))
    x3, k3 = rng.random((3, 2)), rng.random((3, 3))
    cases.append(Case((x3, k3, 2), expected=_ref_conv_transpose(x3, k3, 2), label="3x2 input, 3x3 kernel"))
    return run_cases("conv_transpose2d", func, cases, reference=_ref_conv_transpose,
                     hint="start from zeros of the output size; for each input (r, c) add "
                          "x[r, c] * kernel at rows r*stride.., columns c*stride...")


def _ref_rect_sum(ii, top, left, bottom, right):
    ii = np.asarray(ii)

    def at(r, c):
        return ii[r, c] if r >= 0 and c >= 0 else 0

    return at(bottom, right) - at(top - 1, right) - at(bottom, left - 1) + at(top - 1, left - 1)


def _ref_haar_two_rect(img, top, left, height, width):
    img = np.asarray(img)
    return (img[top:top + height, left:left + width].sum()
            - img[top:top + height, left + width:left + 2 * width].sum())


def _ref_confusion(y_true, y_pred, num_classes):
    matrix = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def rect_sum(func):
    """``func(ii, top, left, bottom, right) -> number``: the sum of ``img[top:bottom+1,
    left:right+1]`` from its integral image ``ii`` with at most four look-ups (``2_1``)."""
    rng = _rng(5)
    img = rng.integers(0, 256, size=(12, 10))
    ii = _ref_integral(img)
    cases = []
    for top, left, bottom, right in [(0, 0, 11, 9), (0, 0, 0, 0), (3, 2, 7, 5), (0, 4, 5, 9), (6, 0, 11, 3), (5, 5, 5, 5)]:
        cases.append(Case((ii, top, left, bottom, right), expected=int(img[top:bottom + 1, left:right + 1].sum()),
                          label=f"rows {top}..{bottom}, cols {left}..{right}"))
    return run_cases("rect_sum", func, cases, reference=_ref_rect_sum,
                     hint="draw the rectangle on the integral image: the value at its bottom-right corner covers too "
                          "much. Which three look-ups just outside it remove (and add back) the extra? Mind the "
                          "first row and column.")


def haar_two_rect(func):
    """``func(img, top, left, height, width) -> number``: a horizontal two-rectangle Haar
    feature, (sum of the left block) - (sum of the right block), each block ``height x width``,
    the right block starting at column ``left + width`` (``2_1``)."""
    rng = _rng(6)
    img = rng.integers(0, 256, size=(10, 12)).astype(float)
    cases = []
    for top, left, height, width in [(0, 0, 4, 3), (2, 3, 5, 2), (1, 0, 9, 6), (4, 6, 3, 1)]:
        cases.append(Case((img, top, left, height, width), judge=_haar_judge(img, top, left, height, width),
                          label=f"at ({top}, {left}) {height}x{width}"))
    return run_cases("haar_two_rect", func, cases, reference=_ref_haar_two_rect,
                     hint="use an integral image and rect_sum twice: left block starts at column "
                          "left, right block at column left+width.")


def _haar_judge(img, top, left, height, width):
    left_sum = img[top:top + height, left:left + width].sum()
    right_sum = img[top:top + height, left + width:left + 2 * width].sum()
    expected = left_sum - right_sum

    def judge(result):
        try:
            value = float(result)
        except (TypeError, ValueError):
            return f"expected a number, got {type(result).__name__}"
        if abs(value - expected) > 1e-6:
            if abs(value + expected) < 1e-6:
                return f"got {value}, expected {expected}: the sign is flipped (left minus right)"
            return f"got {value}, expected {expected}"
        return None

    return judge


def confusion_matrix(func):
    """``func(y_true: (N,) ints, y_pred: (N,) ints, num_classes: int) -> (C, C)`` with rows
    = true class, columns = predicted class, entries = counts (``0_2``)."""
    rng = _rng(7)
    cases = [Case((np.array([0, 1, 1, 2]), np.array([0, 2, 1, 2]), 3),
                  expected=np.array([[1, 0, 0], [0, 1, 1], [0, 0, 1]]), label="4 samples")]
    yt, yp = rng.integers(0, 10, 200), rng.integers(0, 10, 200)
    cases.append(Case((yt, yp, 10), expected=_ref_confusion(yt, yp, 10), label="200 random labels"))
    cases.append(Case((np.array([3, 3]), np.array([3, 3]), 5), expected=np.diag([0, 0, 0, 2, 0]),
                      label="classes that never occur still get a row"))
    return run_cases("confusion_matrix", func, cases, reference=_ref_confusion,
                     hint="start from zeros((C, C)) and add one at [true, predicted] for every sample.")
