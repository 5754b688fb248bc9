"""Checks for the segmentation day (``5_1`` to ``5_3``)."""
from __future__ import annotations

import numpy as np

from ._core import Case, compare, run_cases

__all__ = ["voc_color", "receptive_field", "weight_map"]


def _ref_voc_color(class_id: int) -> tuple[int, int, int]:
    """VOC's palette colour of ``class_id`` (0..255) by its bit-spreading rule."""
    r = g = b = 0
    c = int(class_id)
    for j in range(8):
        r |= ((c >> 0) & 1) << (7 - j)
        g |= ((c >> 1) & 1) << (7 - j)
        b |= ((c >> 2) & 1) << (7 - j)
        c >>= 3
    return r, g, b


def voc_color(func):
    """``func(class_id: int) -> (r, g, b)``: Pascal VOC's colour of a class id 0..255 (``5_1``):
    bits 0, 1, 2 of the id go to the top bit of R, G, B, bits 3, 4, 5 to the next bit, and so on."""
    ids = [0, 1, 2, 3, 4, 7, 8, 15, 20, 64, 100, 255]
    cases = [Case((i,), expected=np.array(_ref_voc_color(i)), label=f"class {i}") for i in ids]
    return run_cases("voc_color", func, cases, reference=_ref_voc_color,
                     convert=lambda r: np.asarray([int(v) for v in r]),
                     hint="the id is read three bits at a time, lowest first: one bit each for red, green, blue. "
                          "The first three bits land on each channel's TOP bit (value 128), the next three one "
                          "bit lower, and so on. Class 1 is (128, 0, 0), class 8 is (64, 0, 0).")


def _ref_receptive_field(kernel_sizes, dilations=None, strides=None) -> int:
    """Receptive field of a stack of convolutions, in input pixels."""
    n = len(kernel_sizes)
    dilations = [1] * n if dilations is None else list(dilations)
    strides = [1] * n if strides is None else list(strides)
    rf, jump = 1, 1
    for k, d, s in zip(kernel_sizes, dilations, strides):
        rf += (k - 1) * d * jump
        jump *= s
    return int(rf)


def receptive_field(func):
    """``func(kernel_sizes, dilations=None, strides=None) -> int``: how many input pixels (along
    one axis) one output pixel of a stack of convolutions sees (``5_2``). Each layer adds
    ``(k - 1) * d * jump``, where ``jump`` is the product of the strides before it."""
    specs = [
        (([3],), {}, "one 3x3 convolution"),
        (([3, 3],), {}, "two 3x3 convolutions"),
        (([3, 3, 3],), {"dilations": [1, 2, 4]}, "dilations 1, 2, 4"),
        (([3],), {"dilations": [6]}, "one 3x3 at rate 6 (an ASPP branch)"),
        (([3, 3, 3, 3],), {"dilations": [1, 1, 1, 1], "strides": [2, 2, 2, 1]}, "strided stack"),
        (([7, 3, 3],), {"dilations": [1, 2, 1], "strides": [2, 1, 1]}, "stride then dilation"),
        (([1, 1],), {}, "1x1 convolutions see one pixel"),
    ]
    cases = [Case(a, dict(kw), expected=_ref_receptive_field(*a, **kw), label=lab) for a, kw, lab in specs]
    return run_cases("receptive_field", func, cases, reference=_ref_receptive_field,
                     hint="walk the layers in order: each one widens the field by its kernel's reach (a dilation "
                          "spreads the taps), measured in input pixels, and a stride makes every later step "
                          "count for more input pixels. Missing dilations/strides mean all 1.")


def _ref_weight_map(instances, w0: float = 10.0, sigma: float = 5.0) -> np.ndarray:
    from utils.segmentation import unet_weight_map

    return unet_weight_map(instances, w0=w0, sigma=sigma)


def weight_map(func):
    """``func(instances (H, W) int, w0=10, sigma=5) -> (H, W) float``: the U-Net paper's border
    weights, ``1 + w0 * exp(-(d1 + d2)**2 / (2 sigma**2))`` on background pixels (``d1``, ``d2``:
    distances to the nearest and second-nearest cell), 1 on cells; all ones with fewer than two cells (``5_3``)."""
    from utils.segmentation import hard_cells

    two = np.zeros((12, 20), np.int32)
    two[3:9, 2:7], two[3:9, 10:15] = 1, 2
    one = (two == 1).astype(np.int32)
    three = two.copy()
    three[10:12, 16:20] = 3
    _, cells = hard_cells(2, size=32, seed=3)
    specs = [((two,), {}, "two rectangles"), ((two,), {"w0": 5.0, "sigma": 2.0}, "w0=5, sigma=2"),
             ((one,), {}, "a single cell: no border term"), ((three,), {}, "three cells: nearest two count"),
             ((cells[0],), {}, "synthetic cells"), ((cells[1],), {"sigma": 3.0}, "synthetic cells, sigma=3")]

    def judge_for(args, kw):
        expected = _ref_weight_map(*args, **kw)

        def judge(result):
            problem = compare(result, expected, atol=1e-4, rtol=1e-4)
            if problem and np.shape(result) == expected.shape:
                res = np.asarray(result, float)
                on_cells = args[0] > 0
                if not np.allclose(res[on_cells], 1.0, atol=1e-4):
                    return problem + " (pixels inside cells should weigh 1)"
                return problem + " (on background pixels)"
            return problem
        return judge

    cases = [Case(a, dict(kw), judge=judge_for(a, kw), label=lab) for a, kw, lab in specs]
    return run_cases("weight_map", func, cases, reference=_ref_weight_map,
                     hint="d1 and d2 are each pixel's distances to its nearest and second-nearest cell: a Euclidean "
                          "distance transform measured from one cell at a time gives them. The border term "
                          "belongs to background pixels only; check an image with a single cell.")
