"""Checks for the licence-plate lab (``8_1``)."""
from __future__ import annotations

import numpy as np

from ._core import Case, run_cases

__all__ = ["order_corners"]


def _plate_quad(cx: float, cy: float, w: float, h: float, angle_deg: float, skew=None) -> np.ndarray:
    """A plate's corners, top-left, top-right, bottom-right, bottom-left, rotated by ``angle_deg``."""
    rect = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    quad = rect @ rot.T + [cx, cy]
    if skew is not None:
        quad = quad + np.asarray(skew)
    return quad.astype(np.float32)


def order_corners(func):
    """``func(points (4, 2)) -> (4, 2)``: the four corners of a plate in any order, returned as
    top-left, top-right, bottom-right, bottom-left (``8_1``). Plates are wider than tall and tilted
    by less than 45 degrees; points are ``(x, y)`` with ``y`` growing downwards."""
    from utils.plates import order_corners as reference

    rng = np.random.default_rng(81)
    specs = [
        ((60, 40, 80, 18, 0.0, None), [0, 1, 2, 3], "already in order"),
        ((60, 40, 80, 18, 0.0, None), [2, 3, 0, 1], "upright, shuffled"),
        ((60, 40, 80, 18, 12.0, None), [3, 0, 1, 2], "tilted clockwise"),
        ((60, 40, 80, 18, -15.0, None), [1, 3, 2, 0], "tilted anticlockwise"),
        ((60, 40, 90, 20, 30.0, None), [2, 0, 3, 1], "tilted 30 degrees: a bottom corner is higher than a top corner"),
        ((60, 40, 90, 20, -30.0, None), [3, 2, 1, 0], "tilted -30 degrees"),
        ((50, 50, 70, 16, 5.0, rng.uniform(-5, 5, (4, 2))), [1, 0, 3, 2], "perspective"),
        ((50, 50, 70, 16, -8.0, rng.uniform(-5, 5, (4, 2))), [0, 2, 1, 3], "perspective"),
    ]
    cases = []
    for args, perm, label in specs:
        quad = _plate_quad(*args)
        cases.append(Case((quad[perm].copy(),), expected=quad, label=label))
    return run_cases("order_corners", func, cases, reference=reference,
                     convert=lambda r: np.asarray(r, np.float32).reshape(4, 2),
                     hint="the two highest points are not always the top edge: once a wide plate tilts more than "
                          "atan(height / width), one of its bottom corners rises above a top corner. Find a pair "
                          "you can be sure of first (which two points must be on the same side?), then order "
                          "inside each pair.")
