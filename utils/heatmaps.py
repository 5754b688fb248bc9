"""Heatmaps for points and boxes: Gaussian targets, peak decoding with sub-pixel refinement,
a small CenterNet-style box detector and a "simple baselines" keypoint network
(used by ``7_1``, ``7_2``, ``8_1`` and ``8_3``).

The idea shared by all of them: instead of regressing coordinates, a network paints a map
that is high where a point is (a keypoint, or the centre of an object) and the point is read
back as the map's peak. Conventions:

- points are ``(x, y)`` floats, boxes are ``xyxy`` pixels (as in :mod:`utils.detection`);
- a network's output grid is ``stride`` times coarser than its input: the input point
  ``p`` sits at ``p / stride`` on the grid, and grid point ``q`` is ``q * stride`` in the input;
- class ids here are 0-based channel indices (add 1 for :mod:`utils.data`-style ids);
- a heatmap is float ``(H, W)`` or ``(H, W, K)`` with one channel per keypoint or class.

Box targets (CenterNet, Zhou et al. 2019, "Objects as Points") pack, per grid cell,
``C`` class heat channels, the box size in cells (2), the sub-cell offset of the centre (2)
and a mask (1) that is 1 at object centres: ``(H / stride, W / stride, C + 5)``. The detector
outputs the same minus the mask: ``(.., C + 4)``. Two boxes of one class whose centres fall in
the same cell share that cell's size and offset (the later box's): with stride 4 that needs
centres within 4 pixels of each other.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

# ----------------------------------------------------------------------------- input checks


def _finite(arr, name: str, shape_hint: str) -> np.ndarray:
    try:
        out = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: expected numbers {shape_hint}, got {type(arr).__name__}") from err
    if out.size and not np.all(np.isfinite(out)):
        raise ValueError(f"{name}: expected finite numbers {shape_hint}, found NaN or inf")
    return out


def _map2d(heatmap, name: str = "heatmap") -> np.ndarray:
    h = _finite(heatmap, name, "in a 2-D map (H, W)")
    if h.ndim != 2 or 0 in h.shape:
        raise ValueError(f"{name}: expected a 2-D map (H, W), got shape {h.shape}")
    return h


def _grid(image_size, stride: int) -> tuple[int, int]:
    h, w = (int(v) for v in image_size)
    if stride < 1 or h % stride or w % stride:
        raise ValueError(f"image_size {(h, w)} must be divisible by stride {stride}")
    return h // stride, w // stride


# --------------------------------------------------------------------- Gaussian targets


def draw_gaussian(heatmap: np.ndarray, center_xy, sigma: float) -> np.ndarray:
    """Paint ``exp(-d² / 2σ²)`` around ``center_xy`` into the 2-D float ``heatmap`` (in place,
    element-wise maximum, so overlapping peaks keep their heights) and return it.

    Only the window of ±3σ is touched. A centre outside the map paints the part that falls inside.
    """
    if not isinstance(heatmap, np.ndarray) or heatmap.ndim != 2 or not np.issubdtype(heatmap.dtype, np.floating):
        raise ValueError("heatmap: expected a 2-D float numpy array to paint into")
    cx, cy = _finite(center_xy, "center_xy", "(x, y)").reshape(2)
    if not sigma > 0:
        raise ValueError(f"sigma: expected a positive width, got {sigma}")
    r = int(np.ceil(3 * sigma))
    h, w = heatmap.shape
    x0, x1 = max(0, int(np.floor(cx)) - r), min(w, int(np.floor(cx)) + r + 2)
    y0, y1 = max(0, int(np.floor(cy)) - r), min(h, int(np.floor(cy)) + r + 2)
    if x0 >= x1 or y0 >= y1:
        return heatmap
    ys, xs = np.mgrid[y0:y1, x0:x1]
    g = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma ** 2))
    np.maximum(heatmap[y0:y1, x0:x1], g, out=heatmap[y0:y1, x0:x1])
    return heatmap


def gaussian_heatmaps(points, shape, sigma: float = 2.0, visible=None) -> np.ndarray:
    """One Gaussian channel per point: float32 ``(H, W, K)`` with values in 0..1.

    ``points``: ``(K, 2)`` ``(x, y)`` in grid coordinates (divide input pixels by the stride);
    ``visible``: optional ``(K,)`` booleans, an invisible point gets an all-zero channel
    (so a network is not taught to guess it). A point on a grid cell gives a peak of exactly 1.
    """
    pts = _finite(points, "points", "(K, 2) as (x, y)")
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points: expected shape (K, 2) as (x, y), got {pts.shape}")
    h, w = (int(v) for v in shape)
    vis = np.ones(len(pts), bool) if visible is None else np.asarray(visible, bool).reshape(-1)
    if len(vis) != len(pts):
        raise ValueError(f"visible: expected {len(pts)} flags (one per point), got {len(vis)}")
    out = np.zeros((h, w, len(pts)), np.float64)
    for k, (p, v) in enumerate(zip(pts, vis)):
        if v:
            layer = np.zeros((h, w))
            out[..., k] = draw_gaussian(layer, p, sigma)
    return out.astype(np.float32)


# ------------------------------------------------------------------------------ decoding


def find_peaks(heatmap, threshold: float = 0.3, max_peaks: int = 100, window: int = 3):
    """Local maxima of a 2-D map, best first: ``(yx int (N, 2), scores (N,))``.

    A cell is a peak when it is the largest in its ``window × window`` neighbourhood (the
    max-pooling trick that replaces NMS in CenterNet) and at least ``threshold``.
    Equal neighbours on a flat top are reported once (the first in row-major order).
    """
    from scipy import ndimage

    h = _map2d(heatmap)
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window: expected an odd size >= 1, got {window}")
    local_max = ndimage.maximum_filter(h, size=window, mode="constant", cval=-np.inf)
    ys, xs = np.nonzero((h == local_max) & (h >= threshold))
    scores = h[ys, xs]
    order = np.lexsort((xs, ys, -scores))
    keep, taken = [], np.zeros(h.shape, bool)
    half = window // 2
    for i in order:
        y, x = ys[i], xs[i]
        if taken[y, x]:
            continue
        keep.append(i)
        taken[max(0, y - half):y + half + 1, max(0, x - half):x + half + 1] |= h[max(0, y - half):y + half + 1,
                                                                              max(0, x - half):x + half + 1] == h[y, x]
        if len(keep) == max_peaks:
            break
    keep = np.asarray(keep, int)
    return np.stack([ys[keep], xs[keep]], axis=1).reshape(-1, 2), scores[keep]


def refine_peak(heatmap, y: int, x: int) -> tuple[float, float]:
    """Sub-pixel position ``(x, y)`` of the peak at integer cell ``(y, x)``.

    Along each axis a parabola is fitted through the peak and its two neighbours and its
    vertex is taken (clipped to ±0.5 cell). The fit is made on the logarithm of the values
    when all three are positive: a Gaussian is exactly a parabola in log space, so a Gaussian
    target is recovered to float precision. On a border the offset along that axis is 0.
    """
    h = _map2d(heatmap)
    y, x = int(y), int(x)
    if not (0 <= y < h.shape[0] and 0 <= x < h.shape[1]):
        raise ValueError(f"peak ({y}, {x}) is outside the map of shape {h.shape}")

    def offset(prev: float, mid: float, nxt: float) -> float:
        if min(prev, mid, nxt) > 1e-12:
            prev, mid, nxt = np.log(prev), np.log(mid), np.log(nxt)
        curvature = prev - 2 * mid + nxt
        if curvature >= 0:          # not a maximum along this axis: keep the cell
            return 0.0
        return float(np.clip(0.5 * (prev - nxt) / curvature, -0.5, 0.5))

    dx = offset(h[y, x - 1], h[y, x], h[y, x + 1]) if 0 < x < h.shape[1] - 1 else 0.0
    dy = offset(h[y - 1, x], h[y, x], h[y + 1, x]) if 0 < y < h.shape[0] - 1 else 0.0
    return x + dx, y + dy


def decode_keypoints(heatmaps, stride: int = 1):
    """Read one keypoint per channel: ``(xy (K, 2) in input pixels, scores (K,))``.

    ``heatmaps``: ``(H, W, K)``. Each channel's arg-max, refined by :func:`refine_peak`,
    multiplied by ``stride``; the score is the channel's maximum (low = probably not visible).
    """
    hm = _finite(heatmaps, "heatmaps", "(H, W, K)")
    if hm.ndim != 3:
        raise ValueError(f"heatmaps: expected shape (H, W, K), got {hm.shape}")
    xy = np.zeros((hm.shape[2], 2))
    scores = np.zeros(hm.shape[2])
    for k in range(hm.shape[2]):
        y, x = np.unravel_index(np.argmax(hm[..., k]), hm.shape[:2])
        xy[k] = refine_peak(hm[..., k], y, x)
        scores[k] = hm[y, x, k]
    return xy * stride, scores


# ---------------------------------------------------------------------------- box targets


def box_sigma(width_cells: float, height_cells: float, min_sigma: float = 0.5) -> float:
    """Width of a box's centre Gaussian in cells: ``sqrt(w · h) / 6``, at least ``min_sigma``.

    Bigger objects get wider peaks: a centre found a cell away is still a good box for them.
    """
    return max(float(min_sigma), float(np.sqrt(max(width_cells, 0) * max(height_cells, 0))) / 6.0)


def box_targets(boxes, class_ids, image_size, num_classes: int, stride: int = 4,
                min_sigma: float = 0.5) -> np.ndarray:
    """CenterNet training target of one image: float32 ``(H/s, W/s, C + 5)``.

    ``boxes``: ``(N, 4)`` xyxy input pixels; ``class_ids``: ``(N,)`` ints in ``0..C-1``;
    ``image_size``: ``(H, W)`` divisible by ``stride``. Channels: ``[0:C]`` heat (1 at each
    centre cell, Gaussian around it, :func:`box_sigma`), ``[C:C+2]`` box ``(w, h)`` in cells,
    ``[C+2:C+4]`` offset of the true centre inside its cell (0..1), ``[C+4]`` mask.
    """
    gh, gw = _grid(image_size, stride)
    b = _finite(boxes, "boxes", "(N, 4) as xyxy pixels").reshape(-1, 4) if np.size(boxes) else np.zeros((0, 4))
    cls = np.asarray(class_ids).reshape(-1)
    if len(cls) != len(b):
        raise ValueError(f"class_ids: expected {len(b)} ids (one per box), got {len(cls)}")
    if len(cls) and (not np.issubdtype(cls.dtype, np.integer) or cls.min() < 0 or cls.max() >= num_classes):
        raise ValueError(f"class_ids: expected integers in 0..{num_classes - 1}, got {cls.tolist()}")
    if len(b) and np.any(b[:, 2:] <= b[:, :2]):
        bad = int(np.nonzero(np.any(b[:, 2:] <= b[:, :2], axis=1))[0][0])
        raise ValueError(f"boxes[{bad}] = {b[bad].tolist()}: expected x1 > x0 and y1 > y0 (xyxy pixels)")
    out = np.zeros((gh, gw, num_classes + 5), np.float64)
    for (x0, y0, x1, y1), c in zip(b, cls):
        cx, cy = (x0 + x1) / 2 / stride, (y0 + y1) / 2 / stride
        ix, iy = int(np.clip(np.floor(cx), 0, gw - 1)), int(np.clip(np.floor(cy), 0, gh - 1))
        w, h = (x1 - x0) / stride, (y1 - y0) / stride
        draw_gaussian(out[..., c], (ix, iy), box_sigma(w, h, min_sigma))
        out[iy, ix, c] = 1.0
        out[iy, ix, num_classes:num_classes + 5] = (w, h, cx - ix, cy - iy, 1.0)
    return out.astype(np.float32)


def box_targets_batch(boxes_list: Sequence, class_ids_list: Sequence, image_size, num_classes: int,
                      stride: int = 4, min_sigma: float = 0.5) -> np.ndarray:
    """:func:`box_targets` for each image: ``(B, H/s, W/s, C + 5)``."""
    if len(boxes_list) != len(class_ids_list):
        raise ValueError(f"boxes_list and class_ids_list: expected one entry per image, "
                         f"got {len(boxes_list)} and {len(class_ids_list)}")
    return np.stack([box_targets(b, c, image_size, num_classes, stride, min_sigma)
                     for b, c in zip(boxes_list, class_ids_list)]) if len(boxes_list) else \
        np.zeros((0, *_grid(image_size, stride), num_classes + 5), np.float32)


def decode_boxes(output, stride: int = 4, score_threshold: float = 0.3, max_detections: int = 100):
    """Boxes from one image's detector output ``(H/s, W/s, C + 4)``:
    ``(boxes xyxy (N, 4) input pixels, scores (N,), class_ids (N,) 0-based)``, best first.

    Peaks of each class channel (:func:`find_peaks`), then the size and offset stored at the
    peak's cell: centre ``(cell + offset) * stride``, size ``(w, h) * stride``.
    """
    out = _finite(output, "output", "(H/s, W/s, C + 4)")
    if out.ndim != 3 or out.shape[-1] < 5:
        raise ValueError(f"output: expected one image's map (H/s, W/s, C + 4) with C >= 1, got {out.shape}")
    c = out.shape[-1] - 4
    boxes, scores, classes = [], [], []
    for k in range(c):
        yx, s = find_peaks(out[..., k], score_threshold, max_detections)
        for (iy, ix), score in zip(yx, s):
            w, h, ox, oy = out[iy, ix, c:c + 4]
            cx, cy = (ix + ox) * stride, (iy + oy) * stride
            w, h = max(w, 0.0) * stride, max(h, 0.0) * stride
            boxes.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
            scores.append(score)
            classes.append(k)
    order = np.argsort(-np.asarray(scores), kind="stable")[:max_detections]
    return (np.asarray(boxes, np.float64).reshape(-1, 4)[order], np.asarray(scores, np.float64)[order],
            np.asarray(classes, np.int64)[order])


# ------------------------------------------------------------------------------ networks


def _conv(x, filters: int, bn_momentum: float, strides: int = 1, name: str | None = None):
    import keras
    x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                            name=None if name is None else name + "_conv")(x)
    x = keras.layers.BatchNormalization(momentum=bn_momentum, name=None if name is None else name + "_bn")(x)
    return keras.layers.ReLU(name=None if name is None else name + "_relu")(x)


def _encoder(inputs, width: int, bn_momentum: float, levels: int = 4):
    """Conv-BN-ReLU stages, each halving the size: features at strides 1, 2, 4, ..., 2**levels."""
    x = _conv(inputs, width, bn_momentum, name="stem")
    feats = [x]
    for i in range(1, levels + 1):
        filters = width * min(2 ** ((i + 1) // 2), 8)
        x = _conv(x, filters, bn_momentum, strides=2, name=f"down{i}")
        x = _conv(x, filters, bn_momentum, name=f"down{i}b")
        feats.append(x)
    return feats


def _check_net(input_shape, stride: int, width: int) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise ValueError(f"input_shape: expected (H, W, channels), got {input_shape}")
    if stride not in (1, 2, 4, 8, 16):
        raise ValueError(f"stride: expected one of 1, 2, 4, 8, 16, got {stride}")
    h, w, ch = input_shape
    if (h is not None and h % 16) or (w is not None and w % 16):
        raise ValueError(f"input_shape {input_shape}: height and width must be multiples of 16 (the encoder's depth)")
    if width < 1:
        raise ValueError(f"width: expected a positive number of filters, got {width}")
    return h, w, ch


def centernet(input_shape=(128, 128, 3), num_classes: int = 1, width: int = 16, stride: int = 4,
              bn_momentum: float = 0.9, name: str = "centernet"):
    """A small CenterNet-style detector: ``(B, H, W, ch)`` images in 0..1 ->
    ``(B, H/s, W/s, C + 4)``: sigmoid class heat, box size in cells, centre offset.

    An encoder down to stride 16, then upsampling with skip connections back to ``stride``
    (small objects need the fine features), and three heads of a 3×3 and a 1×1 convolution.
    The heat head starts at probability 0.1 (bias -2.2) so early training is not swamped by
    the many background cells. BatchNorm ``momentum=0.9`` (Keras' default 0.99 lets the
    running statistics lag far behind in a short training, and inference then fails).
    About 0.2 M parameters with ``width=16``.
    """
    import keras

    _check_net(input_shape, stride, width)
    if num_classes < 1:
        raise ValueError(f"num_classes: expected at least 1, got {num_classes}")
    inputs = keras.Input(input_shape, name="image")
    feats = _encoder(inputs, width, bn_momentum)
    level = int(np.log2(stride))
    x = feats[-1]
    for i in range(len(feats) - 2, level - 1, -1):
        x = keras.layers.UpSampling2D(name=f"up{i}")(x)
        x = keras.layers.Concatenate(name=f"skip{i}")([x, feats[i]])
        x = _conv(x, feats[i].shape[-1], bn_momentum, name=f"fuse{i}")

    def head(out: int, activation, hname: str, bias=0.0):
        y = keras.layers.Conv2D(width * 2, 3, padding="same", activation="relu", name=f"{hname}_hidden")(x)
        return keras.layers.Conv2D(out, 1, activation=activation, name=hname,
                                   bias_initializer=keras.initializers.Constant(bias))(y)

    heat = head(num_classes, "sigmoid", "heat", bias=-2.2)
    size = head(2, "relu", "size", bias=1.0)
    offset = head(2, "sigmoid", "offset")
    outputs = keras.layers.Concatenate(name="output")([heat, size, offset])
    return keras.Model(inputs, outputs, name=name)


def centernet_loss(y_true, y_pred):
    """CenterNet's loss for ``y_true (.., C + 5)`` from :func:`box_targets` and ``y_pred (.., C + 4)``.

    Heat: the penalty-reduced focal loss (positives at cells whose target is 1; negatives
    near a centre are down-weighted by ``(1 - target)^4``). Size (weight 0.1) and offset
    (weight 1): L1 at the centre cells only. Everything is divided by the number of objects
    in the batch (at least 1). Use as ``model.compile(loss=heatmaps.centernet_loss)``.
    """
    from keras import ops

    c = y_pred.shape[-1] - 4
    heat_t, size_t, off_t, mask = (y_true[..., :c], y_true[..., c:c + 2], y_true[..., c + 2:c + 4],
                                   y_true[..., c + 4:c + 5])
    p = ops.clip(y_pred[..., :c], 1e-4, 1 - 1e-4)
    pos = ops.cast(heat_t >= 1 - 1e-4, p.dtype)
    pos_loss = -ops.log(p) * ops.square(1 - p) * pos
    neg_loss = -ops.log(1 - p) * ops.square(p) * ops.power(1 - heat_t, 4) * (1 - pos)
    n = ops.maximum(ops.sum(mask), 1.0)
    size_l = ops.sum(ops.abs(y_pred[..., c:c + 2] - size_t) * mask)
    off_l = ops.sum(ops.abs(y_pred[..., c + 2:c + 4] - off_t) * mask)
    return (ops.sum(pos_loss) + ops.sum(neg_loss) + 0.1 * size_l + off_l) / n


def keypoint_net(input_shape=(64, 64, 3), num_keypoints: int = 13, width: int = 16, stride: int = 4,
                 bn_momentum: float = 0.9, name: str = "keypoint_net"):
    """"Simple baselines" (Xiao et al. 2018) in small: ``(B, H, W, ch)`` images in 0..1 ->
    ``(B, H/s, W/s, K)`` linear heatmaps, one channel per keypoint.

    A conv encoder down to stride 16, then 4×4 transposed convolutions (stride 2, BN, ReLU)
    back up to ``stride``, and a 1×1 convolution. Train with mean squared error against
    :func:`gaussian_heatmaps` targets; read keypoints with :func:`decode_keypoints`.
    """
    import keras

    _check_net(input_shape, stride, width)
    if num_keypoints < 1:
        raise ValueError(f"num_keypoints: expected at least 1, got {num_keypoints}")
    inputs = keras.Input(input_shape, name="image")
    x = _encoder(inputs, width, bn_momentum)[-1]
    size = 16
    i = 0
    while size > stride:
        i += 1
        x = keras.layers.Conv2DTranspose(width * 4, 4, strides=2, padding="same", use_bias=False,
                                         name=f"deconv{i}")(x)
        x = keras.layers.BatchNormalization(momentum=bn_momentum, name=f"deconv{i}_bn")(x)
        x = keras.layers.ReLU(name=f"deconv{i}_relu")(x)
        size //= 2
    outputs = keras.layers.Conv2D(num_keypoints, 1, name="heatmaps")(x)
    return keras.Model(inputs, outputs, name=name)
