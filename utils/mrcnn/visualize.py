"""Drawing Mask R-CNN inputs and outputs (Matterport's ``mrcnn/visualize.py`` role).

The same call shows ground truth and predictions (``3_1``-``3_4``)::

    visualize.display_instances(image, r["rois"], r["masks"], r["class_ids"], class_names, r["scores"])

Conventions as in :mod:`utils.mrcnn.utils`: images ``(H, W, 3)`` uint8 RGB, masks
``(H, W, N)`` bool, boxes ``(N, (y1, x1, y2, x2))`` with ``y2``/``x2`` exclusive, colours
RGB floats in 0..1. Every function draws with matplotlib and returns what it drew on,
so it also works headless (the ``Agg`` backend used by the tests).
"""
from __future__ import annotations

import colorsys
import random

import numpy as np

from utils.images import check_rgb

__all__ = ["random_colors", "apply_mask", "display_instances", "display_images", "display_top_masks",
           "plot_precision_recall", "plot_overlaps", "display_differences", "draw_boxes", "color_splash",
           "replace_background", "blur_background", "place_labels"]


def random_colors(n: int, bright: bool = True, seed: int | None = 0) -> list[tuple[float, float, float]]:
    """``n`` distinct RGB colours (floats 0..1): evenly spaced hues, shuffled.

    ``seed`` makes the order reproducible (``None``: Python's global ``random``, like
    Matterport, so it follows ``course.setup``'s seed).
    """
    brightness = 1.0 if bright else 0.7
    colors = [colorsys.hsv_to_rgb(i / max(n, 1), 1.0, brightness) for i in range(n)]
    (random.Random(seed) if seed is not None else random).shuffle(colors)
    return colors


def apply_mask(image: np.ndarray, mask: np.ndarray, color, alpha: float = 0.5) -> np.ndarray:
    """Blend ``color`` (RGB 0..1) into ``image`` ``(H, W, 3)`` where the 2-D ``mask`` is
    set, with opacity ``alpha``. Returns a new array of the image's dtype."""
    image = np.asarray(image)
    mask = np.asarray(mask).astype(bool)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"apply_mask: mask {mask.shape} does not match image {image.shape[:2]}")
    out = image.astype(np.float64).copy()
    scale = 255.0 if image.dtype == np.uint8 else 1.0
    out[mask] = out[mask] * (1 - alpha) + alpha * np.asarray(color, dtype=np.float64)[:3] * scale
    return out.astype(image.dtype) if image.dtype != np.uint8 else np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _check_instances(boxes, masks, class_ids, scores=None):
    boxes = np.asarray(boxes).reshape(-1, 4)
    class_ids = np.asarray(class_ids).reshape(-1)
    n = len(boxes)
    if masks is not None and np.asarray(masks).shape[-1] != n:
        raise ValueError(f"{n} boxes but {np.asarray(masks).shape[-1]} masks (masks must be (H, W, N))")
    if len(class_ids) != n:
        raise ValueError(f"{n} boxes but {len(class_ids)} class ids")
    if scores is not None and len(np.asarray(scores).reshape(-1)) != n:
        raise ValueError(f"{n} boxes but {len(np.asarray(scores).reshape(-1))} scores")
    return boxes, class_ids


def place_labels(anchors, sizes, width: float, height: float, gap: float = 1.0) -> list[tuple[float, float]]:
    """Top-left corners for labels that do not hide each other (``3_1``-``3_4``).

    ``anchors``: ``(x, y)`` where each label would like its top-left corner (a box's corner);
    ``sizes``: each label's ``(w, h)``, in the same units; ``width``/``height``: the image.
    Labels are placed in order: each is kept inside the image and, while it overlaps one
    already placed, moved just below that one (or above the image's bottom edge, then right).
    """
    placed: list[tuple[float, float, float, float]] = []
    out = []
    for (x, y), (lw, lh) in zip(anchors, sizes):
        x = float(min(max(x, 0.0), max(width - lw, 0.0)))
        y = float(min(max(y, 0.0), max(height - lh, 0.0)))
        for _ in range(4 * len(placed) + 1):
            hit = next((p for p in placed if x < p[2] and p[0] < x + lw and y < p[3] and p[1] < y + lh), None)
            if hit is None:
                break
            if hit[3] + gap + lh <= height:
                y = hit[3] + gap
            elif hit[1] - gap - lh >= 0:
                y = hit[1] - gap - lh
            else:
                x = hit[2] + gap
        placed.append((x, y, x + lw, y + lh))
        out.append((x, y))
    return out


def display_instances(image, boxes, masks, class_ids, class_names, scores=None, title: str = "",
                      figsize=(16, 16), ax=None, show_mask: bool = True, show_bbox: bool = True,
                      colors=None, captions=None):
    """Draw instances: coloured masks with outlines, dashed boxes, ``"class score"`` captions.

    Args:
        image: ``(H, W, 3)`` uint8 RGB; boxes: ``(N, (y1, x1, y2, x2))``; masks:
            ``(H, W, N)`` bool (or ``None``); class_ids: ``(N,)`` indices into
            ``class_names``; scores: ``(N,)`` or ``None`` (ground truth).
        ax: draw there; ``None`` makes a figure of ``figsize`` and shows it.
        colors: one RGB colour (0..1) per instance; default :func:`random_colors`.
        captions: one text per instance instead of ``"class score"``.

    Returns the matplotlib axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib import patches
    from skimage.measure import find_contours

    image = check_rgb(image, "display_instances: image")
    boxes, class_ids = _check_instances(boxes, masks, class_ids, scores)
    n = len(boxes)
    if captions is not None and len(captions) != n:
        raise ValueError(f"display_instances: {n} instances but {len(captions)} captions")
    auto_show = ax is None
    if ax is None:
        _, ax = plt.subplots(1, figsize=figsize)
    colors = list(colors) if colors is not None else random_colors(n)
    if len(colors) < n:
        raise ValueError(f"display_instances: {n} instances but {len(colors)} colours")
    h, w = image.shape[:2]
    ax.set_ylim(h + 10, -10)
    ax.set_xlim(-10, w + 10)
    ax.axis("off")
    ax.set_title(title if n else (title + " (no instances)").strip())
    masked = image.copy()
    texts = []
    for i in range(n):
        if captions is not None:
            texts.append(str(captions[i]))
        else:
            cid = int(class_ids[i])
            label = class_names[cid] if 0 <= cid < len(class_names) else f"class {cid}"
            texts.append(f"{label} {float(scores[i]):.2f}" if scores is not None else label)
    # captions on a coloured band, sized for the axes and moved apart so none hides another
    extent = ax.get_window_extent()
    px_per_unit = max(min(extent.height / (h + 20), extent.width / (w + 20)), 1e-6)  # imshow keeps pixels square
    font = float(np.clip(px_per_unit * (h + 20) / 28, 6, 11))
    pt = ax.figure.dpi / 72
    sizes = [((0.68 * font * len(t) + 4) * pt / px_per_unit, (font * 1.35 + 2) * pt / px_per_unit) for t in texts]
    corners = place_labels([(float(b[1]) - 0.5, float(b[0]) - 0.5) for b in boxes], sizes, w, h)
    for i in range(n):
        color = colors[i]
        y1, x1, y2, x2 = (float(v) for v in boxes[i])
        if show_bbox and (y2 > y1 or x2 > x1):
            ax.add_patch(patches.Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, linewidth=2, alpha=0.7,
                                           linestyle="dashed", edgecolor=color, facecolor="none"))
        tx, ty = corners[i]
        ax.text(tx, ty, texts[i], color="black" if sum(color[:3]) > 1.6 else "white", size=font, va="top",
                ha="left", bbox=dict(facecolor=color, alpha=0.8, pad=1.0, edgecolor="none"))
        if masks is not None:
            mask = np.asarray(masks)[:, :, i]
            if show_mask:
                masked = apply_mask(masked, mask, color)
            padded = np.pad(mask.astype(np.uint8), 1)
            for verts in find_contours(padded, 0.5):
                ax.add_patch(patches.Polygon(np.fliplr(verts) - 1, facecolor="none", edgecolor=color))
    ax.imshow(masked)
    if auto_show:
        plt.show()
    return ax


def display_images(images, titles=None, cols: int = 4, cmap=None, norm=None, interpolation=None):
    """Show images in a grid with optional titles; returns the figure."""
    import matplotlib.pyplot as plt

    images = list(images)
    if not images:
        raise ValueError("display_images: no images")
    titles = list(titles) if titles is not None else [""] * len(images)
    rows = (len(images) + cols - 1) // cols
    fig, axes = plt.subplots(rows, min(cols, len(images)), figsize=(14, 14 * rows / cols), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, title in zip(axes.ravel(), images, titles):
        ax.set_title(title, fontsize=9)
        ax.imshow(np.asarray(image).astype(np.uint8) if np.asarray(image).dtype == bool else image,
                  cmap=cmap, norm=norm, interpolation=interpolation)
    plt.show()
    return fig


def display_top_masks(image, mask, class_ids, class_names, limit: int = 4):
    """The image beside the union mask of each of its ``limit`` largest classes (by mask
    area), titled by class name; returns the figure."""
    image = check_rgb(image, "display_top_masks: image")
    mask = np.asarray(mask)
    class_ids = np.asarray(class_ids).reshape(-1)
    if mask.shape[-1] != len(class_ids):
        raise ValueError(f"display_top_masks: {mask.shape[-1]} masks but {len(class_ids)} class ids")
    to_show, titles = [image], ["H x W={}x{}".format(*image.shape[:2])]
    unique = np.unique(class_ids)
    area = [mask[:, :, class_ids == c].sum() for c in unique]
    top = [c for _, c in sorted(zip(area, unique), key=lambda t: -t[0]) if c > 0][:limit]
    for i in range(limit):
        if i < len(top):
            to_show.append(mask[:, :, class_ids == top[i]].any(axis=-1).astype(np.uint8) * 255)
            titles.append(class_names[top[i]])
        else:
            to_show.append(np.zeros(image.shape[:2], np.uint8))
            titles.append("-")
    return display_images(to_show, titles=titles, cols=limit + 1, cmap="Blues_r")


def plot_precision_recall(AP: float, precisions, recalls, ax=None):
    """The precision/recall steps returned by ``compute_ap``, titled with the AP; returns the axes."""
    import matplotlib.pyplot as plt

    auto_show = ax is None
    if ax is None:
        _, ax = plt.subplots(1)
    ax.set_title(f"Precision-recall curve. AP@50 = {AP:.3f}")
    ax.set_ylim(0, 1.1)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.plot(recalls, precisions, drawstyle="steps-pre")  # precision p[i] holds on (r[i-1], r[i]]
    if auto_show:
        plt.show()
    return ax


def plot_overlaps(gt_class_ids, pred_class_ids, pred_scores, overlaps, class_names, threshold: float = 0.5,
                  ax=None):
    """Grid of IoUs between predictions (rows) and ground truth (columns) from
    ``compute_matches``/``compute_ap``; matches above ``threshold`` are marked; returns the axes."""
    import matplotlib.pyplot as plt

    gt_class_ids = np.asarray(gt_class_ids).reshape(-1)
    pred_class_ids = np.asarray(pred_class_ids).reshape(-1)
    overlaps = np.asarray(overlaps)
    auto_show = ax is None
    if ax is None:
        _, ax = plt.subplots(figsize=(1 + 0.6 * max(len(gt_class_ids), 3), 1 + 0.5 * max(len(pred_class_ids), 3)))
    ax.imshow(overlaps, cmap=plt.cm.Blues, vmin=0, vmax=1)
    ax.set_yticks(np.arange(len(pred_class_ids)))
    ax.set_yticklabels([f"{class_names[int(c)]} ({float(s):.2f})" for c, s in zip(pred_class_ids, pred_scores)])
    ax.set_xticks(np.arange(len(gt_class_ids)))
    ax.set_xticklabels([class_names[int(c)] for c in gt_class_ids], rotation=90)
    for i in range(overlaps.shape[0]):
        for j in range(overlaps.shape[1]):
            same = pred_class_ids[i] == gt_class_ids[j]
            text = ("match" if same else "wrong") if overlaps[i, j] > threshold else ""
            ax.text(j, i, f"{overlaps[i, j]:.2f}\n{text}", ha="center", va="center", fontsize=8,
                    color="white" if overlaps[i, j] > 0.5 else "black")
    ax.set_xlabel("ground truth")
    ax.set_ylabel("predictions and scores")
    if auto_show:
        plt.show()
    return ax


def display_differences(image, gt_box, gt_class_id, gt_mask, pred_box, pred_class_id, pred_score, pred_mask,
                        class_names, title: str = "", ax=None, iou_threshold: float = 0.5):
    """Ground truth (green) and predictions (red) on one image, predictions captioned with
    ``score / IoU`` of their match; returns the axes."""
    from utils.mrcnn.utils import compute_matches

    gt_match, pred_match, overlaps = compute_matches(gt_box, gt_class_id, gt_mask, pred_box, pred_class_id,
                                                     pred_score, pred_mask, iou_threshold=iou_threshold)
    order = np.argsort(-np.asarray(pred_score), kind="stable")
    pred_box, pred_class_id = np.asarray(pred_box)[order], np.asarray(pred_class_id)[order]
    pred_score, pred_mask = np.asarray(pred_score)[order], np.asarray(pred_mask)[..., order]
    n_gt, n_pred = len(gt_match), len(pred_match)
    colors = [(0, 1, 0, 0.8)] * n_gt + [(1, 0, 0, 1)] * n_pred
    class_ids = np.concatenate([np.asarray(gt_class_id)[:n_gt], pred_class_id[:n_pred]])
    boxes = np.concatenate([np.asarray(gt_box).reshape(-1, 4)[:n_gt], pred_box.reshape(-1, 4)[:n_pred]])
    masks = np.concatenate([np.asarray(gt_mask)[..., :n_gt], pred_mask[..., :n_pred]], axis=-1)
    best_iou = [overlaps[i, int(pred_match[i])] if pred_match[i] > -1 else overlaps[i].max(initial=0)
                for i in range(n_pred)]
    captions = [""] * n_gt + [f"{pred_score[i]:.2f} / {best_iou[i]:.2f}" for i in range(n_pred)]
    return display_instances(image, boxes, masks, class_ids, class_names, ax=ax, show_bbox=False, colors=colors,
                             captions=captions, title=title or "ground truth (green) vs predictions (red): score / IoU")


def draw_boxes(image, boxes, colors=None, captions=None, ax=None, title: str = ""):
    """Boxes ``(N, (y1, x1, y2, x2))`` with optional captions on an image; returns the axes."""
    import matplotlib.pyplot as plt
    from matplotlib import patches

    image = check_rgb(image, "draw_boxes: image")
    boxes = np.asarray(boxes).reshape(-1, 4)
    colors = list(colors) if colors is not None else random_colors(len(boxes))
    auto_show = ax is None
    if ax is None:
        _, ax = plt.subplots(1, figsize=(8, 8))
    ax.imshow(image)
    ax.axis("off")
    ax.set_title(title)
    for i, (y1, x1, y2, x2) in enumerate(boxes):
        ax.add_patch(patches.Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, linewidth=2,
                                       edgecolor=colors[i], facecolor="none"))
        if captions is not None:
            ax.text(x1, y1 + 8, captions[i], color="w", size=11, backgroundcolor="none")
    if auto_show:
        plt.show()
    return ax


# ------------------------------------------------------------------ effects (3_4)


def _union(mask, shape) -> np.ndarray:
    mask = np.asarray(mask).astype(bool)
    if mask.ndim == 2:
        mask = mask[..., None]
    if mask.ndim != 3 or mask.shape[:2] != tuple(shape[:2]):
        raise ValueError(f"mask of shape {mask.shape}, expected {tuple(shape[:2])} or {tuple(shape[:2])} + (N,)")
    return mask.any(axis=-1)


def color_splash(image, mask) -> np.ndarray:
    """Matterport's colour splash (``3_4``): keep the colour where any instance is, turn the
    rest gray. ``mask`` ``(H, W, N)`` or ``(H, W)`` bool; no instance gives an all-gray
    image. Returns ``(H, W, 3)`` uint8."""
    image = check_rgb(image, "color_splash: image")
    gray = np.rint(image.astype(np.float64) @ np.array([0.2125, 0.7154, 0.0721]))
    gray = np.repeat(np.clip(gray, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return np.where(_union(mask, image.shape)[..., None], image, gray)


def replace_background(image, mask, background) -> np.ndarray:
    """Keep the instances, put ``background`` behind them (``3_4``).

    ``background``: an RGB colour (3 ints 0..255) or an image, resized to the image's
    size. Returns ``(H, W, 3)`` uint8."""
    import cv2

    image = check_rgb(image, "replace_background: image")
    fg = _union(mask, image.shape)
    bg = np.asarray(background)
    if bg.shape == (3,):
        bg = np.broadcast_to(bg.astype(np.uint8), image.shape)
    else:
        bg = check_rgb(bg, "replace_background: background")
        if bg.shape != image.shape:
            bg = cv2.resize(bg, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_AREA)
    return np.where(fg[..., None], image, bg).astype(np.uint8)


def blur_background(image, mask, ksize: int = 21) -> np.ndarray:
    """Portrait-mode effect (``3_4``): Gaussian-blur everything but the instances
    (``ksize`` odd). Returns ``(H, W, 3)`` uint8."""
    import cv2

    image = check_rgb(image, "blur_background: image")
    if ksize < 1 or ksize % 2 == 0:
        raise ValueError(f"blur_background: ksize={ksize}, expected a positive odd number")
    return replace_background(image, mask, cv2.GaussianBlur(image, (ksize, ksize), 0))
