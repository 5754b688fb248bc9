"""Mask R-CNN in Keras 3 (TensorFlow backend) with Matterport's public shape.

Taught in ``3_2`` (inference), ``3_3`` (training a custom model) and ``3_4`` (using it).
Matterport's ``mrcnn`` no longer runs on TensorFlow 2 / Keras 3; this module rebuilds it
with the same names, so course material and the published COCO weights still apply::

    from utils.mrcnn import model as modellib
    model = modellib.MaskRCNN(mode="inference", config=config, model_dir="logs")
    model.load_weights("weights/mask_rcnn_coco.h5", by_name=True)
    r = model.detect([image])[0]    # rois [N, (y1, x1, y2, x2)], class_ids [N], scores [N], masks [H, W, N]

The network, stage by stage (layer names as Matterport's, so weights load by name):

1. backbone: ResNet-50/101 (``conv1``, ``bn_conv1``, ``res2a_branch2a`` ... ``res5c_branch2c``)
   or the narrow ``"small"`` ResNet of fast mode, giving C2..C5 at strides 4..32;
2. feature pyramid (``fpn_c5p5`` ... ``fpn_p2``): P2..P5 plus P6 (stride 64);
3. region proposal network (``rpn_model``: ``rpn_conv_shared``, ``rpn_class_raw``,
   ``rpn_bbox_pred``), shared over the levels: an object score and a box refinement per anchor;
4. :class:`ProposalLayer`: best anchors, refined, clipped, non-max suppressed: the RoIs;
5. :class:`PyramidROIAlign`: a fixed-size feature crop per RoI from the level its size picks;
6. heads: class + box (``mrcnn_class_conv1`` ... ``mrcnn_class_logits``, ``mrcnn_bbox_fc``)
   and mask (``mrcnn_mask_conv1..4``, ``mrcnn_mask_deconv``, ``mrcnn_mask``);
7. training: :class:`DetectionTargetLayer` samples RoIs and their targets, five losses;
   inference: :class:`DetectionLayer` refines, filters and suppresses, then the mask head
   runs on the final boxes and :meth:`MaskRCNN.unmold_detections` pastes masks into the image.

Boxes are ``(y1, x1, y2, x2)``; inside the network they are normalised to 0..1 (Matterport's
convention: pixel ``y2``/``x2`` are exclusive, normalised ones inclusive).

Differences from Matterport, all deliberate: training runs a plain TensorFlow loop (no
``fit_generator``; per-epoch losses in :attr:`MaskRCNN.history`), ``detect`` accepts any
number of images (it batches them), ``augmentation`` is a callable or an imgaug augmenter,
the mask head in training only sees the RoI slots that can be positive (same loss,
a third of the work), and ``TimeDistributed`` is our own reshape-based wrapper (Keras 3's
loops over RoIs).
"""
from __future__ import annotations

import datetime
import math
import os
import re
import warnings
from pathlib import Path

import numpy as np
import keras
import tensorflow as tf
from keras import layers as KL

from utils.images import check_rgb
from utils.mrcnn import utils
from utils.mrcnn.config import Config

# ----------------------------------------------------------------------------- helpers


def log(text: str, array: np.ndarray | None = None) -> None:
    """Print ``text``, and for an array its shape, min, max and dtype (Matterport's helper)."""
    if array is not None:
        text = text.ljust(25)
        text += f"shape: {str(array.shape):20}  "
        if array.size:
            text += f"min: {array.min():10.5f}  max: {array.max():10.5f}"
        else:
            text += f"min: {'':10}  max: {'':10}"
        text += f"  {array.dtype}"
    print(text)


class BatchNorm(KL.BatchNormalization):
    """Batch normalisation that can be frozen for good (``frozen=True``: always uses its
    moving statistics, Matterport's ``TRAIN_BN = False``)."""

    def __init__(self, frozen: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.frozen = bool(frozen)

    def call(self, inputs, training=None, mask=None):
        return super().call(inputs, training=False if self.frozen else training, mask=mask)

    def get_config(self):
        return {**super().get_config(), "frozen": self.frozen}


class TimeDistributed(KL.Wrapper):
    """Apply ``layer`` to every RoI: ``[batch, rois, ...]`` is reshaped to
    ``[batch * rois, ...]``, so batch normalisation sees all RoIs at once (as Keras 2 did).
    Its weights are the wrapped layer's; the wrapper carries Matterport's layer name."""

    def build(self, input_shape):
        self.layer.build((None,) + tuple(input_shape[2:]))
        self.built = True

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None,) + tuple(input_shape[2:]))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def call(self, inputs, training=None):
        shape = tf.shape(inputs)
        inner = [d if d is not None else -1 for d in inputs.shape[2:]]
        flat = tf.reshape(inputs, [-1] + inner)
        kwargs = {"training": training} if self.layer._call_has_training_arg else {}
        out = self.layer(flat, **kwargs)
        return tf.reshape(out, tf.concat([shape[:2], tf.constant(list(out.shape[1:]), tf.int32)], 0))


def compute_backbone_shapes(config: Config, image_shape) -> np.ndarray:
    """``[levels, (height, width)]`` of the feature maps P2..P6 for an image of ``image_shape``."""
    return np.array([[int(math.ceil(image_shape[0] / s)), int(math.ceil(image_shape[1] / s))]
                     for s in config.BACKBONE_STRIDES])


# ----------------------------------------------------------------------------- backbone


def _bottleneck(x, shortcut, kernel_size, filters, stage, block, strides, use_bias, train_bn):
    """The three-convolution main path of a ResNet bottleneck block, added to ``shortcut``."""
    f1, f2, f3 = filters
    conv, bn = f"res{stage}{block}_branch", f"bn{stage}{block}_branch"
    frozen = train_bn is False
    x = KL.Conv2D(f1, (1, 1), strides=strides, name=conv + "2a", use_bias=use_bias)(x)
    x = BatchNorm(frozen, name=bn + "2a")(x)
    x = KL.Activation("relu")(x)
    x = KL.Conv2D(f2, (kernel_size, kernel_size), padding="same", name=conv + "2b", use_bias=use_bias)(x)
    x = BatchNorm(frozen, name=bn + "2b")(x)
    x = KL.Activation("relu")(x)
    x = KL.Conv2D(f3, (1, 1), name=conv + "2c", use_bias=use_bias)(x)
    x = BatchNorm(frozen, name=bn + "2c")(x)
    x = KL.Add()([x, shortcut])
    return KL.Activation("relu", name=f"res{stage}{block}_out")(x)


def identity_block(x, kernel_size, filters, stage, block, use_bias=True, train_bn=True):
    """ResNet bottleneck block whose shortcut is the input itself (Matterport's names)."""
    return _bottleneck(x, x, kernel_size, filters, stage, block, (1, 1), use_bias, train_bn)


def conv_block(x, kernel_size, filters, stage, block, strides=(2, 2), use_bias=True, train_bn=True):
    """ResNet bottleneck block with a 1x1 convolution on the shortcut (strided, Caffe style)."""
    name = f"res{stage}{block}_branch1"
    shortcut = KL.Conv2D(filters[2], (1, 1), strides=strides, name=name, use_bias=use_bias)(x)
    shortcut = BatchNorm(train_bn is False, name=f"bn{stage}{block}_branch1")(shortcut)
    return _bottleneck(x, shortcut, kernel_size, filters, stage, block, strides, use_bias, train_bn)


def resnet_graph(input_image, architecture: str, stage5: bool = True, train_bn=True,
                 small_filters=(16, 32, 64, 128)):
    """ResNet stages C1..C5 (``[C1, C2, C3, C4, C5]``, strides 4, 4, 8, 16, 32).

    ``architecture``: ``"resnet50"`` / ``"resnet101"`` (Matterport's layers and shapes: 3, 4,
    6 or 23, 3 blocks of widths 64..512, 64-filter 7x7 stem) or ``"small"`` (one block per
    stage, bottleneck widths ``small_filters``, a stem as wide as the first of them).
    """
    if architecture in ("resnet50", "resnet101"):
        widths = (64, 128, 256, 512)
        blocks = (3, 4, {"resnet50": 6, "resnet101": 23}[architecture], 3)
        stem = 64
    elif architecture == "small":
        widths = tuple(int(w) for w in small_filters)
        blocks = (1, 1, 1, 1)
        stem = widths[0]
    else:
        raise ValueError(f"architecture={architecture!r}: expected 'resnet50', 'resnet101' or 'small'")
    x = KL.ZeroPadding2D((3, 3))(input_image)
    x = KL.Conv2D(stem, (7, 7), strides=(2, 2), name="conv1", use_bias=True)(x)
    x = BatchNorm(train_bn is False, name="bn_conv1")(x)
    x = KL.Activation("relu")(x)
    c1 = x = KL.MaxPooling2D((3, 3), strides=(2, 2), padding="same")(x)
    outputs = [c1]
    for stage, (width, count) in enumerate(zip(widths, blocks), start=2):
        if stage == 5 and not stage5:
            outputs.append(None)
            break
        filters = [width, width, 4 * width]
        x = conv_block(x, 3, filters, stage=stage, block="a", strides=(1, 1) if stage == 2 else (2, 2),
                       train_bn=train_bn)
        for i in range(count - 1):
            x = identity_block(x, 3, filters, stage=stage, block=chr(98 + i), train_bn=train_bn)
        outputs.append(x)
    return outputs


# ----------------------------------------------------------------------------- box graph helpers


def apply_box_deltas_graph(boxes, deltas):
    """Apply ``[N, (dy, dx, log(dh), log(dw))]`` refinements to ``[N, (y1, x1, y2, x2)]`` boxes."""
    height = boxes[:, 2] - boxes[:, 0]
    width = boxes[:, 3] - boxes[:, 1]
    center_y = boxes[:, 0] + 0.5 * height + deltas[:, 0] * height
    center_x = boxes[:, 1] + 0.5 * width + deltas[:, 1] * width
    height = height * tf.exp(deltas[:, 2])
    width = width * tf.exp(deltas[:, 3])
    y1 = center_y - 0.5 * height
    x1 = center_x - 0.5 * width
    return tf.stack([y1, x1, y1 + height, x1 + width], axis=1)


def clip_boxes_graph(boxes, window):
    """Clip ``[N, 4]`` boxes to ``window`` ``(y1, x1, y2, x2)``."""
    wy1, wx1, wy2, wx2 = tf.unstack(tf.cast(window, boxes.dtype))
    y1, x1, y2, x2 = tf.unstack(boxes, axis=1)
    y1 = tf.clip_by_value(y1, wy1, wy2)
    x1 = tf.clip_by_value(x1, wx1, wx2)
    y2 = tf.clip_by_value(y2, wy1, wy2)
    x2 = tf.clip_by_value(x2, wx1, wx2)
    return tf.stack([y1, x1, y2, x2], axis=1)


def overlaps_graph(boxes1, boxes2):
    """IoU matrix ``[N1, N2]`` of two sets of ``(y1, x1, y2, x2)`` boxes."""
    b1 = boxes1[:, None, :]
    b2 = boxes2[None, :, :]
    y1 = tf.maximum(b1[..., 0], b2[..., 0])
    x1 = tf.maximum(b1[..., 1], b2[..., 1])
    y2 = tf.minimum(b1[..., 2], b2[..., 2])
    x2 = tf.minimum(b1[..., 3], b2[..., 3])
    inter = tf.maximum(y2 - y1, 0.0) * tf.maximum(x2 - x1, 0.0)
    area1 = (b1[..., 2] - b1[..., 0]) * (b1[..., 3] - b1[..., 1])
    area2 = (b2[..., 2] - b2[..., 0]) * (b2[..., 3] - b2[..., 1])
    return inter / tf.maximum(area1 + area2 - inter, 1e-12)


def box_refinement_graph(box, gt_box):
    """Deltas ``[N, (dy, dx, log(dh), log(dw))]`` that turn ``box`` into ``gt_box``."""
    h = box[:, 2] - box[:, 0]
    w = box[:, 3] - box[:, 1]
    gh = gt_box[:, 2] - gt_box[:, 0]
    gw = gt_box[:, 3] - gt_box[:, 1]
    dy = (gt_box[:, 0] + 0.5 * gh - box[:, 0] - 0.5 * h) / h
    dx = (gt_box[:, 1] + 0.5 * gw - box[:, 1] - 0.5 * w) / w
    return tf.stack([dy, dx, tf.math.log(gh / h), tf.math.log(gw / w)], axis=1)


def trim_zeros_graph(boxes):
    """Drop all-zero (padding) rows of ``[N, 4]``; returns the boxes and the kept-row mask."""
    non_zeros = tf.reduce_sum(tf.abs(boxes), axis=1) > 0
    return tf.boolean_mask(boxes, non_zeros), non_zeros


def norm_boxes_graph(boxes, shape):
    """Pixel boxes → normalised ``(y1, x1, y2, x2)`` (pixel y2/x2 exclusive, normalised inclusive)."""
    h, w = tf.unstack(tf.cast(shape, tf.float32))
    scale = tf.stack([h, w, h, w]) - 1.0
    shift = tf.constant([0.0, 0.0, 1.0, 1.0])
    return (boxes - shift) / scale


def parse_image_meta_graph(meta):
    """Split the ``[batch, meta]`` tensor of :func:`compose_image_meta` into named parts."""
    return {"image_id": meta[:, 0], "original_image_shape": meta[:, 1:4], "image_shape": meta[:, 4:7],
            "window": meta[:, 7:11], "scale": meta[:, 11], "active_class_ids": meta[:, 12:]}


# ----------------------------------------------------------------------------- layers


class AnchorsLayer(KL.Layer):
    """Outputs the fixed anchors of the training image size, ``[batch, anchors, 4]``."""

    def __init__(self, anchors, **kwargs):
        super().__init__(**kwargs)
        self.anchors = np.asarray(anchors, np.float32)

    def call(self, image):
        a = tf.constant(self.anchors)
        return tf.tile(a[None], [tf.shape(image)[0], 1, 1])

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.anchors.shape


class ProposalLayer(KL.Layer):
    """Region proposals: keep the ``PRE_NMS_LIMIT`` best anchors by object score, apply their
    refinements, clip to the image, non-max suppress at ``nms_threshold``.

    Inputs ``[rpn_probs [B, A, 2], rpn_bbox [B, A, 4], anchors [B, A, 4]]`` (normalised);
    output ``[B, proposal_count, (y1, x1, y2, x2)]`` normalised, zero padded.
    """

    def __init__(self, proposal_count, nms_threshold, config=None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.proposal_count = int(proposal_count)
        self.nms_threshold = float(nms_threshold)

    def call(self, inputs):
        probs, deltas, anchors = (tf.stop_gradient(t) for t in inputs)
        scores = probs[:, :, 1]
        deltas = deltas * np.reshape(self.config.RPN_BBOX_STD_DEV, [1, 1, 4]).astype(np.float32)
        count = self.proposal_count
        pre_nms = tf.minimum(self.config.PRE_NMS_LIMIT, tf.shape(anchors)[1])

        def one(args):
            s, d, a = args
            ix = tf.math.top_k(s, pre_nms, sorted=True).indices
            s, d, a = tf.gather(s, ix), tf.gather(d, ix), tf.gather(a, ix)
            boxes = clip_boxes_graph(apply_box_deltas_graph(a, d), tf.constant([0.0, 0.0, 1.0, 1.0]))
            keep = tf.image.non_max_suppression(boxes, s, count, self.nms_threshold)
            proposals = tf.gather(boxes, keep)
            return tf.pad(proposals, [(0, count - tf.shape(proposals)[0]), (0, 0)])

        out = tf.map_fn(one, (scores, deltas, anchors), fn_output_signature=tf.TensorSpec([count, 4], tf.float32))
        return tf.ensure_shape(out, [None, count, 4])

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.proposal_count, 4)


class PyramidROIAlign(KL.Layer):
    """RoIAlign on the feature pyramid: each box is cropped and bilinearly resized to
    ``pool_shape`` from the level P2..P5 its size selects (level ``4 + log2(sqrt(area) /
    (224 / sqrt(image area)))``, clipped to 2..5: FPN paper, equation 1).

    Inputs ``[boxes [B, N, 4] normalised, image_meta [B, meta], P2, P3, P4, P5]``;
    output ``[B, N, pool_h, pool_w, channels]``.
    """

    def __init__(self, pool_shape, **kwargs):
        super().__init__(**kwargs)
        self.pool_shape = tuple(int(p) for p in pool_shape)

    def call(self, inputs):
        boxes, image_meta, feature_maps = tf.stop_gradient(inputs[0]), inputs[1], inputs[2:]
        y1, x1, y2, x2 = tf.unstack(boxes, axis=2)
        image_shape = parse_image_meta_graph(image_meta)["image_shape"][0]
        image_area = tf.cast(image_shape[0] * image_shape[1], tf.float32)
        size = tf.sqrt(tf.maximum((y2 - y1) * (x2 - x1), 1e-12))
        level = tf.math.log(size / (224.0 / tf.sqrt(image_area))) / math.log(2.0)
        level = tf.clip_by_value(4 + tf.cast(tf.round(level), tf.int32), 2, 5)
        batch, count = tf.shape(boxes)[0], tf.shape(boxes)[1]
        flat_boxes = tf.reshape(boxes, [-1, 4])
        flat_level = tf.reshape(level, [-1])
        box_ind = tf.repeat(tf.range(batch), count)
        # Crop every box from every level and keep the crop of its own level: the same result
        # as cropping each box from its level only, with static shapes throughout.
        pooled = 0.0
        for i, fm in enumerate(feature_maps):
            crop = tf.image.crop_and_resize(fm, flat_boxes, box_ind, self.pool_shape, method="bilinear")
            pooled = pooled + crop * tf.cast(tf.equal(flat_level, i + 2), crop.dtype)[:, None, None, None]
        channels = feature_maps[0].shape[-1]
        return tf.reshape(pooled, tf.concat([[batch, count], tf.constant(list(self.pool_shape) + [channels])], 0))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:2]) + self.pool_shape + (input_shape[2][-1],)


def detection_targets_graph(proposals, gt_class_ids, gt_boxes, gt_masks, config):
    """Training targets for one image: sample ``TRAIN_ROIS_PER_IMAGE`` RoIs (a
    ``ROI_POSITIVE_RATIO`` share with IoU >= 0.5 to a ground-truth box, positives first),
    and give each its class id, box deltas (divided by ``BBOX_STD_DEV``) and a
    ``MASK_SHAPE`` crop of its ground-truth mask. Zero padded. Crowds (negative ids) are
    never negatives."""
    proposals, _ = trim_zeros_graph(proposals)
    gt_boxes, non_zeros = trim_zeros_graph(gt_boxes)
    gt_class_ids = tf.boolean_mask(gt_class_ids, non_zeros)
    gt_masks = tf.gather(gt_masks, tf.where(non_zeros)[:, 0], axis=2)

    crowd_boxes = tf.gather(gt_boxes, tf.where(gt_class_ids < 0)[:, 0])
    keep_ix = tf.where(gt_class_ids > 0)[:, 0]
    gt_class_ids = tf.gather(gt_class_ids, keep_ix)
    gt_boxes = tf.gather(gt_boxes, keep_ix)
    gt_masks = tf.gather(gt_masks, keep_ix, axis=2)

    overlaps = overlaps_graph(proposals, gt_boxes)
    no_crowd = tf.reduce_max(tf.concat([overlaps_graph(proposals, crowd_boxes),
                                        tf.zeros_like(proposals[:, :1])], axis=1), axis=1) < 0.001
    roi_iou_max = tf.reduce_max(tf.concat([overlaps, -tf.ones_like(proposals[:, :1])], axis=1), axis=1)
    positive_indices = tf.where(roi_iou_max >= 0.5)[:, 0]
    negative_indices = tf.where(tf.logical_and(roi_iou_max < 0.5, no_crowd))[:, 0]

    positive_count = int(config.TRAIN_ROIS_PER_IMAGE * config.ROI_POSITIVE_RATIO)
    positive_indices = tf.random.shuffle(positive_indices)[:positive_count]
    positive_count = tf.shape(positive_indices)[0]
    r = 1.0 / config.ROI_POSITIVE_RATIO
    negative_count = tf.cast(r * tf.cast(positive_count, tf.float32), tf.int32) - positive_count
    # Matterport's rule keeps the 1:2 ratio; with no positive at all it would train on
    # nothing, so fall back to negatives only (they still teach "background").
    negative_count = tf.where(positive_count > 0, negative_count, config.TRAIN_ROIS_PER_IMAGE)
    negative_count = tf.minimum(negative_count, config.TRAIN_ROIS_PER_IMAGE - positive_count)
    negative_indices = tf.random.shuffle(negative_indices)[:negative_count]
    positive_rois = tf.gather(proposals, positive_indices)
    negative_rois = tf.gather(proposals, negative_indices)

    positive_overlaps = tf.gather(overlaps, positive_indices)
    assignment = tf.cond(tf.shape(positive_overlaps)[1] > 0,
                         lambda: tf.argmax(positive_overlaps, axis=1),
                         lambda: tf.zeros([0], tf.int64))
    roi_gt_boxes = tf.gather(gt_boxes, assignment)
    roi_gt_class_ids = tf.gather(gt_class_ids, assignment)
    deltas = box_refinement_graph(positive_rois, roi_gt_boxes) / np.asarray(config.BBOX_STD_DEV, np.float32)

    roi_masks = tf.gather(tf.expand_dims(tf.transpose(gt_masks, [2, 0, 1]), -1), assignment)
    boxes = positive_rois
    if config.USE_MINI_MASK:  # RoI in the coordinates of its ground-truth box (where the mini mask lives)
        y1, x1, y2, x2 = tf.split(positive_rois, 4, axis=1)
        gy1, gx1, gy2, gx2 = tf.split(roi_gt_boxes, 4, axis=1)
        gh, gw = gy2 - gy1, gx2 - gx1
        boxes = tf.concat([(y1 - gy1) / gh, (x1 - gx1) / gw, (y2 - gy1) / gh, (x2 - gx1) / gw], 1)
    # Crop the masks with a fixed count (`max_positive` slots, zero padded): static shapes.
    max_positive = int(config.TRAIN_ROIS_PER_IMAGE * config.ROI_POSITIVE_RATIO)
    gap = max_positive - positive_count
    mask_hw = gt_masks.shape[0:2]
    roi_masks = tf.ensure_shape(tf.pad(tf.cast(roi_masks, tf.float32), [(0, gap), (0, 0), (0, 0), (0, 0)]),
                                [max_positive, mask_hw[0], mask_hw[1], 1])
    boxes = tf.ensure_shape(tf.pad(boxes, [(0, gap), (0, 0)]), [max_positive, 4])
    masks = tf.image.crop_and_resize(roi_masks, boxes, tf.range(max_positive), list(config.MASK_SHAPE))
    masks = tf.round(tf.squeeze(masks, axis=3))  # [max_positive, mh, mw]: positives first, then zeros

    rois = tf.concat([positive_rois, negative_rois], axis=0)
    n = tf.shape(negative_rois)[0]
    p = tf.maximum(config.TRAIN_ROIS_PER_IMAGE - tf.shape(rois)[0], 0)
    rois = tf.pad(rois, [(0, p), (0, 0)])
    roi_gt_class_ids = tf.pad(roi_gt_class_ids, [(0, n + p)])
    deltas = tf.pad(deltas, [(0, n + p), (0, 0)])
    masks = tf.pad(masks, [(0, config.TRAIN_ROIS_PER_IMAGE - max_positive), (0, 0), (0, 0)])
    return rois, roi_gt_class_ids, deltas, masks


class DetectionTargetLayer(KL.Layer):
    """Inputs ``[proposals [B, N, 4], gt_class_ids [B, G], gt_boxes [B, G, 4] normalised,
    gt_masks [B, h, w, G] bool]``; outputs ``rois [B, T, 4]``, ``target_class_ids [B, T]``,
    ``target_bbox [B, T, 4]``, ``target_mask [B, T, mask_h, mask_w]`` (``T =
    TRAIN_ROIS_PER_IMAGE``), see :func:`detection_targets_graph`."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = config

    def call(self, inputs):
        proposals, gt_class_ids, gt_boxes, gt_masks = inputs
        t, (mh, mw) = self.config.TRAIN_ROIS_PER_IMAGE, self.config.MASK_SHAPE
        spec = (tf.TensorSpec([t, 4], tf.float32), tf.TensorSpec([t], tf.int32),
                tf.TensorSpec([t, 4], tf.float32), tf.TensorSpec([t, mh, mw], tf.float32))
        outs = tf.map_fn(lambda a: detection_targets_graph(*a, self.config),
                         (tf.stop_gradient(proposals), gt_class_ids, gt_boxes, gt_masks), fn_output_signature=spec)
        return list(outs)

    def compute_output_shape(self, input_shape):
        t, (mh, mw) = self.config.TRAIN_ROIS_PER_IMAGE, self.config.MASK_SHAPE
        b = input_shape[0][0]
        return [(b, t, 4), (b, t), (b, t, 4), (b, t, mh, mw)]


def refine_detections_graph(rois, probs, deltas, window, config):
    """Final detections of one image: best class per RoI, its refined box clipped to
    ``window``, background and scores below ``DETECTION_MIN_CONFIDENCE`` dropped,
    per-class non-max suppression, the ``DETECTION_MAX_INSTANCES`` best kept.
    Returns ``[DETECTION_MAX_INSTANCES, (y1, x1, y2, x2, class_id, score)]``, zero padded."""
    class_ids = tf.argmax(probs, axis=1, output_type=tf.int32)
    indices = tf.stack([tf.range(tf.shape(probs)[0]), class_ids], axis=1)
    class_scores = tf.gather_nd(probs, indices)
    deltas_specific = tf.gather_nd(deltas, indices)
    refined = apply_box_deltas_graph(rois, deltas_specific * np.asarray(config.BBOX_STD_DEV, np.float32))
    refined = clip_boxes_graph(refined, window)
    keep = class_ids > 0
    if config.DETECTION_MIN_CONFIDENCE:
        keep = tf.logical_and(keep, class_scores >= config.DETECTION_MIN_CONFIDENCE)
    keep = tf.where(keep)[:, 0]
    boxes, scores, ids = tf.gather(refined, keep), tf.gather(class_scores, keep), tf.gather(class_ids, keep)
    # Per-class NMS in one call: shifting each class by 2 (boxes lie in 0..1) keeps classes apart.
    shifted = boxes + 2.0 * tf.cast(ids, tf.float32)[:, None]
    nms = tf.image.non_max_suppression(shifted, scores, config.DETECTION_MAX_INSTANCES,
                                       config.DETECTION_NMS_THRESHOLD)
    detections = tf.concat([tf.gather(boxes, nms), tf.cast(tf.gather(ids, nms), tf.float32)[:, None],
                            tf.gather(scores, nms)[:, None]], axis=1)
    gap = config.DETECTION_MAX_INSTANCES - tf.shape(detections)[0]
    return tf.pad(detections, [(0, gap), (0, 0)])


class DetectionLayer(KL.Layer):
    """Inputs ``[rois [B, N, 4], mrcnn_class [B, N, classes], mrcnn_bbox [B, N, classes, 4],
    image_meta]``; output ``[B, DETECTION_MAX_INSTANCES, (y1, x1, y2, x2, class_id, score)]``
    in normalised coordinates (see :func:`refine_detections_graph`)."""

    def __init__(self, config=None, **kwargs):
        super().__init__(**kwargs)
        self.config = config

    def call(self, inputs):
        rois, probs, deltas, image_meta = inputs
        m = parse_image_meta_graph(image_meta)
        window = norm_boxes_graph(m["window"], m["image_shape"][0][:2])
        n = self.config.DETECTION_MAX_INSTANCES
        return tf.map_fn(lambda a: refine_detections_graph(*a, self.config), (rois, probs, deltas, window),
                         fn_output_signature=tf.TensorSpec([n, 6], tf.float32))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.config.DETECTION_MAX_INSTANCES, 6)


# ----------------------------------------------------------------------------- network pieces


def build_rpn_model(anchor_stride: int, anchors_per_location: int, depth: int, conv_size: int = 512):
    """The region proposal network as a Keras model named ``rpn_model`` (shared by all
    pyramid levels). Input ``[B, H, W, depth]``; outputs ``rpn_class_logits [B, H*W*k, 2]``,
    ``rpn_probs [B, H*W*k, 2]``, ``rpn_bbox [B, H*W*k, 4]`` with ``k = anchors_per_location``."""
    feature_map = KL.Input(shape=[None, None, depth], name="input_rpn_feature_map")
    shared = KL.Conv2D(conv_size, (3, 3), padding="same", activation="relu", strides=anchor_stride,
                       name="rpn_conv_shared")(feature_map)
    x = KL.Conv2D(2 * anchors_per_location, (1, 1), padding="valid", name="rpn_class_raw")(shared)
    logits = KL.Reshape((-1, 2))(x)
    probs = KL.Activation("softmax", name="rpn_class_xxx")(logits)
    x = KL.Conv2D(4 * anchors_per_location, (1, 1), padding="valid", name="rpn_bbox_pred")(shared)
    bbox = KL.Reshape((-1, 4))(x)
    return keras.Model([feature_map], [logits, probs, bbox], name="rpn_model")


def fpn_classifier_graph(rois, feature_maps, image_meta, pool_size, num_classes, train_bn=True,
                         fc_layers_size=1024):
    """Class and box head: RoIAlign ``pool_size``, two "fully connected" layers written as
    convolutions, then ``mrcnn_class_logits`` / ``mrcnn_class`` ``[B, N, classes]`` and
    ``mrcnn_bbox`` ``[B, N, classes, 4]`` (class-specific deltas)."""
    frozen = train_bn is False
    x = PyramidROIAlign([pool_size, pool_size], name="roi_align_classifier")([rois, image_meta] + feature_maps)
    x = TimeDistributed(KL.Conv2D(fc_layers_size, (pool_size, pool_size), padding="valid"), name="mrcnn_class_conv1")(x)
    x = TimeDistributed(BatchNorm(frozen), name="mrcnn_class_bn1")(x)
    x = KL.Activation("relu")(x)
    x = TimeDistributed(KL.Conv2D(fc_layers_size, (1, 1)), name="mrcnn_class_conv2")(x)
    x = TimeDistributed(BatchNorm(frozen), name="mrcnn_class_bn2")(x)
    x = KL.Activation("relu")(x)
    shared = KL.Reshape((-1, fc_layers_size), name="pool_squeeze")(x)
    logits = TimeDistributed(KL.Dense(num_classes), name="mrcnn_class_logits")(shared)
    probs = TimeDistributed(KL.Activation("softmax"), name="mrcnn_class")(logits)
    x = TimeDistributed(KL.Dense(num_classes * 4, activation="linear"), name="mrcnn_bbox_fc")(shared)
    bbox = KL.Reshape((-1, num_classes, 4), name="mrcnn_bbox")(x)
    return logits, probs, bbox


def build_fpn_mask_graph(rois, feature_maps, image_meta, pool_size, num_classes, train_bn=True, conv_size=256):
    """Mask head: RoIAlign ``pool_size``, four 3x3 convolutions, a 2x transposed convolution
    and a per-class sigmoid: ``[B, N, 2*pool_size, 2*pool_size, classes]``."""
    frozen = train_bn is False
    x = PyramidROIAlign([pool_size, pool_size], name="roi_align_mask")([rois, image_meta] + feature_maps)
    for i in range(1, 5):
        x = TimeDistributed(KL.Conv2D(conv_size, (3, 3), padding="same"), name=f"mrcnn_mask_conv{i}")(x)
        x = TimeDistributed(BatchNorm(frozen), name=f"mrcnn_mask_bn{i}")(x)
        x = KL.Activation("relu")(x)
    x = TimeDistributed(KL.Conv2DTranspose(conv_size, (2, 2), strides=2, activation="relu"),
                        name="mrcnn_mask_deconv")(x)
    return TimeDistributed(KL.Conv2D(num_classes, (1, 1), strides=1, activation="sigmoid"), name="mrcnn_mask")(x)


# ----------------------------------------------------------------------------- losses


def smooth_l1_loss(y_true, y_pred):
    """Smooth-L1 (Huber with delta 1), elementwise."""
    diff = tf.abs(y_true - y_pred)
    return tf.where(diff < 1.0, 0.5 * diff ** 2, diff - 0.5)


def _safe_mean(x):
    return tf.math.divide_no_nan(tf.reduce_sum(x), tf.cast(tf.size(x), x.dtype))


def rpn_class_loss_graph(rpn_match, rpn_class_logits):
    """Object / background cross-entropy over the anchors marked +1 or -1 in ``rpn_match [B, A, 1]``."""
    rpn_match = tf.squeeze(rpn_match, -1)
    anchor_class = tf.cast(tf.equal(rpn_match, 1), tf.int32)
    indices = tf.where(tf.not_equal(rpn_match, 0))
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.gather_nd(anchor_class, indices),
                                                          logits=tf.gather_nd(rpn_class_logits, indices))
    return _safe_mean(loss)


def rpn_bbox_loss_graph(config, target_bbox, rpn_match, rpn_bbox):
    """Smooth-L1 between the refinements of the positive anchors and their targets
    (``target_bbox [B, RPN_TRAIN_ANCHORS_PER_IMAGE, 4]``, positives first, zero padded)."""
    rpn_match = tf.squeeze(rpn_match, -1)
    pred = tf.gather_nd(rpn_bbox, tf.where(tf.equal(rpn_match, 1)))
    counts = tf.reduce_sum(tf.cast(tf.equal(rpn_match, 1), tf.int32), axis=1)
    max_count = tf.shape(target_bbox)[1]
    valid = tf.sequence_mask(tf.minimum(counts, max_count), max_count)
    target = tf.boolean_mask(target_bbox, valid)
    return _safe_mean(smooth_l1_loss(target, pred))


def mrcnn_class_loss_graph(target_class_ids, pred_class_logits, active_class_ids):
    """Classifier cross-entropy over the sampled RoIs; predictions of classes absent from the
    image's dataset (``active_class_ids``) do not count."""
    target_class_ids = tf.cast(target_class_ids, tf.int64)
    pred_class_ids = tf.argmax(pred_class_logits, axis=2)
    pred_active = tf.gather(tf.cast(active_class_ids[0], tf.float32), pred_class_ids)
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target_class_ids, logits=pred_class_logits)
    return tf.math.divide_no_nan(tf.reduce_sum(loss * pred_active), tf.reduce_sum(pred_active))


def mrcnn_bbox_loss_graph(target_bbox, target_class_ids, pred_bbox):
    """Smooth-L1 on the deltas of the true class of each positive RoI."""
    target_class_ids = tf.reshape(target_class_ids, (-1,))
    target_bbox = tf.reshape(target_bbox, (-1, 4))
    pred_bbox = tf.reshape(pred_bbox, (-1, pred_bbox.shape[2], 4))
    positive = tf.where(target_class_ids > 0)[:, 0]
    indices = tf.stack([positive, tf.cast(tf.gather(target_class_ids, positive), tf.int64)], axis=1)
    return _safe_mean(smooth_l1_loss(tf.gather(target_bbox, positive), tf.gather_nd(pred_bbox, indices)))


def mrcnn_mask_loss_graph(target_masks, target_class_ids, pred_masks):
    """Per-pixel binary cross-entropy between each positive RoI's mask of its true class and its target."""
    target_class_ids = tf.reshape(target_class_ids, (-1,))
    ts = tf.shape(target_masks)
    target_masks = tf.reshape(target_masks, (-1, ts[2], ts[3]))
    ps = tf.shape(pred_masks)
    pred_masks = tf.transpose(tf.reshape(pred_masks, (-1, ps[2], ps[3], ps[4])), [0, 3, 1, 2])
    positive = tf.where(target_class_ids > 0)[:, 0]
    indices = tf.stack([positive, tf.cast(tf.gather(target_class_ids, positive), tf.int64)], axis=1)
    y_true = tf.gather(target_masks, positive)
    y_pred = tf.clip_by_value(tf.gather_nd(pred_masks, indices), 1e-7, 1 - 1e-7)
    bce = -(y_true * tf.math.log(y_pred) + (1 - y_true) * tf.math.log(1 - y_pred))
    return _safe_mean(bce)


class LossLayer(KL.Layer):
    """Wraps one of the loss functions above as a named layer with a scalar output."""

    def __init__(self, fn, **kwargs):
        super().__init__(**kwargs)
        self.fn = fn

    def call(self, inputs):
        return tf.reshape(self.fn(*inputs), [])

    def compute_output_shape(self, input_shape):
        return ()


LOSS_NAMES = ["rpn_class_loss", "rpn_bbox_loss", "mrcnn_class_loss", "mrcnn_bbox_loss", "mrcnn_mask_loss"]


# ----------------------------------------------------------------------------- data


def compose_image_meta(image_id, original_image_shape, image_shape, window, scale, active_class_ids):
    """One image's attributes as a 1-D array: id (1), original shape (3), molded shape (3),
    window ``(y1, x1, y2, x2)`` in pixels (4), scale (1), active class ids (classes)."""
    return np.array([image_id] + list(original_image_shape) + list(image_shape) + list(window)
                    + [scale] + list(active_class_ids), dtype=np.float64)


def parse_image_meta(meta: np.ndarray) -> dict:
    """Split ``[batch, meta]`` arrays of :func:`compose_image_meta` into named arrays."""
    return {"image_id": meta[:, 0].astype(np.int32), "original_image_shape": meta[:, 1:4].astype(np.int32),
            "image_shape": meta[:, 4:7].astype(np.int32), "window": meta[:, 7:11].astype(np.int32),
            "scale": meta[:, 11].astype(np.float32), "active_class_ids": meta[:, 12:].astype(np.int32)}


def mold_image(images: np.ndarray, config: Config) -> np.ndarray:
    """RGB image(s) → float32 with ``MEAN_PIXEL`` subtracted (the network's input)."""
    return images.astype(np.float32) - config.MEAN_PIXEL


def unmold_image(normalized_images: np.ndarray, config: Config) -> np.ndarray:
    """Inverse of :func:`mold_image`, back to uint8."""
    return (normalized_images + config.MEAN_PIXEL).astype(np.uint8)


def _apply_augmentation(augmentation, image, mask):
    """Augment ``image [H, W, 3]`` and ``mask [H, W, N]`` together with a callable
    ``f(image, mask) -> (image, mask)`` or an imgaug augmenter (geometry applied to both)."""
    if hasattr(augmentation, "to_deterministic"):  # imgaug
        import imgaug

        mask_augmenters = ["Sequential", "SomeOf", "OneOf", "Sometimes", "Fliplr", "Flipud", "CropAndPad",
                           "Affine", "PiecewiseAffine"]

        def hook(images, augmenter, parents, default):
            return augmenter.__class__.__name__ in mask_augmenters

        det = augmentation.to_deterministic()
        new_image = det.augment_image(image)
        new_mask = det.augment_image(mask.astype(np.uint8), hooks=imgaug.HooksImages(activator=hook)).astype(bool)
    elif callable(augmentation):
        new_image, new_mask = augmentation(image, mask)
    else:
        raise TypeError(f"augmentation: expected a callable f(image, mask) -> (image, mask) or an imgaug "
                        f"augmenter, got {type(augmentation).__name__}")
    if new_image.shape != image.shape or new_mask.shape[:2] != mask.shape[:2]:
        raise ValueError(f"augmentation changed the image size ({image.shape} -> {new_image.shape}, mask "
                         f"{mask.shape} -> {new_mask.shape}); only size-preserving augmentations are supported")
    return new_image, np.asarray(new_mask, bool)


def load_image_gt(dataset, config: Config, image_id: int, augmentation=None, use_mini_mask: bool = False):
    """Load one training image, resize it as ``config`` says, and return ``image [H, W, 3]``
    uint8, ``image_meta``, ``class_ids [N]`` int32, ``bbox [N, (y1, x1, y2, x2)]`` int32 pixels
    and ``mask`` (``[H, W, N]`` bool, or ``[*MINI_MASK_SHAPE, N]`` with ``use_mini_mask``).

    Raises ``ValueError`` naming the image when its mask and class ids disagree.
    """
    image = dataset.load_image(image_id)
    mask, class_ids = dataset.load_mask(image_id)
    info = dataset.image_info[image_id]
    where = f"image {image_id} ({info.get('path', info.get('id'))})"
    image = check_rgb(image, where)
    mask, class_ids = np.asarray(mask), np.asarray(class_ids)
    if mask.ndim != 3 or mask.shape[:2] != image.shape[:2]:
        raise ValueError(f"{where}: load_mask returned masks of shape {mask.shape}, expected "
                         f"{image.shape[:2] + ('N',)} (bool, one channel per instance)")
    if class_ids.shape != (mask.shape[2],):
        raise ValueError(f"{where}: load_mask returned {mask.shape[2]} masks but class ids of shape {class_ids.shape}")
    original_shape = image.shape
    image, window, scale, padding, crop = utils.resize_image(
        image, min_dim=config.IMAGE_MIN_DIM, min_scale=config.IMAGE_MIN_SCALE, max_dim=config.IMAGE_MAX_DIM,
        mode=config.IMAGE_RESIZE_MODE)
    mask = utils.resize_mask(mask.astype(bool), scale, padding, crop)
    if augmentation is not None:
        image, mask = _apply_augmentation(augmentation, image, mask)
    keep = np.sum(mask, axis=(0, 1)) > 0  # instances cropped away entirely
    mask, class_ids = mask[:, :, keep], class_ids[keep].astype(np.int32)
    bbox = utils.extract_bboxes(mask)
    active_class_ids = np.zeros([dataset.num_classes], dtype=np.int32)
    active_class_ids[dataset.source_class_ids[info["source"]]] = 1
    if use_mini_mask:
        mask = utils.minimize_mask(bbox, mask, config.MINI_MASK_SHAPE)
    image_meta = compose_image_meta(image_id, original_shape, image.shape, window, scale, active_class_ids)
    return image, image_meta, class_ids, bbox, mask


def build_rpn_targets(image_shape, anchors, gt_class_ids, gt_boxes, config: Config):
    """RPN training targets: ``rpn_match [A]`` int32 (1 positive: IoU >= 0.7 or the best
    anchor of a box; -1 negative: IoU < 0.3; 0 ignored), at most
    ``RPN_TRAIN_ANCHORS_PER_IMAGE`` non-zero, half positives at most; and ``rpn_bbox
    [RPN_TRAIN_ANCHORS_PER_IMAGE, 4]``: the positives' deltas / ``RPN_BBOX_STD_DEV``, in order."""
    rpn_match = np.zeros([anchors.shape[0]], dtype=np.int32)
    rpn_bbox = np.zeros((config.RPN_TRAIN_ANCHORS_PER_IMAGE, 4), dtype=np.float32)
    crowd_ix = np.where(gt_class_ids < 0)[0]
    if crowd_ix.shape[0] > 0:
        crowd_overlaps = utils.compute_overlaps(anchors, gt_boxes[crowd_ix])
        no_crowd_bool = np.amax(crowd_overlaps, axis=1) < 0.001
        keep = np.where(gt_class_ids > 0)[0]
        gt_class_ids, gt_boxes = gt_class_ids[keep], gt_boxes[keep]
    else:
        no_crowd_bool = np.ones([anchors.shape[0]], dtype=bool)
    if gt_boxes.shape[0] == 0:
        rpn_match[no_crowd_bool] = -1
    else:
        overlaps = utils.compute_overlaps(anchors, gt_boxes)
        anchor_iou_argmax = np.argmax(overlaps, axis=1)
        anchor_iou_max = overlaps[np.arange(overlaps.shape[0]), anchor_iou_argmax]
        rpn_match[(anchor_iou_max < 0.3) & no_crowd_bool] = -1
        gt_iou_argmax = np.argwhere(overlaps == np.max(overlaps, axis=0))[:, 0]
        rpn_match[gt_iou_argmax] = 1
        rpn_match[anchor_iou_max >= 0.7] = 1
    ids = np.where(rpn_match == 1)[0]
    extra = len(ids) - config.RPN_TRAIN_ANCHORS_PER_IMAGE // 2
    if extra > 0:
        rpn_match[np.random.choice(ids, extra, replace=False)] = 0
    ids = np.where(rpn_match == -1)[0]
    extra = len(ids) - (config.RPN_TRAIN_ANCHORS_PER_IMAGE - np.sum(rpn_match == 1))
    if extra > 0:
        rpn_match[np.random.choice(ids, extra, replace=False)] = 0
    ids = np.where(rpn_match == 1)[0]
    if len(ids):
        deltas = utils.box_refinement(anchors[ids], gt_boxes[anchor_iou_argmax[ids]])
        rpn_bbox[:len(ids)] = deltas / config.RPN_BBOX_STD_DEV
    return rpn_match, rpn_bbox


def data_generator(dataset, config: Config, shuffle: bool = True, augmentation=None, batch_size: int = 1,
                   no_augmentation_sources=None):
    """Endless generator of training batches (Matterport's inputs, in order): ``images
    [B, H, W, 3]`` float32 molded, ``image_meta [B, meta]``, ``rpn_match [B, A, 1]``,
    ``rpn_bbox [B, RPN_TRAIN_ANCHORS_PER_IMAGE, 4]``, ``gt_class_ids [B, MAX_GT_INSTANCES]``,
    ``gt_boxes [B, MAX_GT_INSTANCES, 4]`` pixels, ``gt_masks [B, h, w, MAX_GT_INSTANCES]`` bool.

    Images without instances are skipped (with one warning). Without augmentation, small
    images (up to 256x256) are loaded once and kept in memory.
    """
    image_ids = np.copy(dataset.image_ids)
    if len(image_ids) == 0:
        raise ValueError("data_generator: the dataset has no images (did you call add_image and prepare()?)")
    no_augmentation_sources = no_augmentation_sources or []
    anchors = utils.generate_pyramid_anchors(config.RPN_ANCHOR_SCALES, config.RPN_ANCHOR_RATIOS,
                                             compute_backbone_shapes(config, config.IMAGE_SHAPE),
                                             config.BACKBONE_STRIDES, config.RPN_ANCHOR_STRIDE)
    cacheable = (augmentation is None and config.IMAGE_RESIZE_MODE != "crop"
                 and np.prod(config.IMAGE_SHAPE[:2]) <= 256 * 256)
    cache: dict = {}
    skipped = set()
    b, index = 0, -1
    gt_h, gt_w = config.MINI_MASK_SHAPE if config.USE_MINI_MASK else tuple(config.IMAGE_SHAPE[:2])
    while True:
        index = (index + 1) % len(image_ids)
        if shuffle and index == 0:
            np.random.shuffle(image_ids)
        image_id = image_ids[index]
        if image_id in cache:
            image, image_meta, gt_class_ids, gt_boxes, gt_masks = cache[image_id]
        else:
            aug = None if dataset.image_info[image_id]["source"] in no_augmentation_sources else augmentation
            loaded = load_image_gt(dataset, config, image_id, augmentation=aug, use_mini_mask=config.USE_MINI_MASK)
            if cacheable:
                cache[image_id] = loaded
            image, image_meta, gt_class_ids, gt_boxes, gt_masks = loaded
        if not np.any(gt_class_ids > 0):
            if image_id not in skipped:
                skipped.add(image_id)
                if len(skipped) == 1:
                    warnings.warn(f"data_generator: image {image_id} has no instances; images without "
                                  "instances are skipped in training", stacklevel=2)
            if len(skipped) == len(image_ids):
                raise ValueError("data_generator: no image of the dataset has an instance to train on")
            continue
        rpn_match, rpn_bbox = build_rpn_targets(image.shape, anchors, gt_class_ids, gt_boxes, config)
        if b == 0:
            batch_image_meta = np.zeros((batch_size,) + image_meta.shape, dtype=np.float32)
            batch_rpn_match = np.zeros([batch_size, anchors.shape[0], 1], dtype=np.int32)
            batch_rpn_bbox = np.zeros([batch_size, config.RPN_TRAIN_ANCHORS_PER_IMAGE, 4], dtype=np.float32)
            batch_images = np.zeros((batch_size,) + image.shape, dtype=np.float32)
            batch_gt_class_ids = np.zeros((batch_size, config.MAX_GT_INSTANCES), dtype=np.int32)
            batch_gt_boxes = np.zeros((batch_size, config.MAX_GT_INSTANCES, 4), dtype=np.float32)
            batch_gt_masks = np.zeros((batch_size, gt_h, gt_w, config.MAX_GT_INSTANCES), dtype=bool)
        if image.shape != batch_images.shape[1:]:
            raise ValueError(f"image {image_id}: resized to {image.shape}, but the batch holds "
                             f"{batch_images.shape[1:]}; "
                             "use IMAGE_RESIZE_MODE 'square' or 'crop' so all training images share one size")
        if gt_boxes.shape[0] > config.MAX_GT_INSTANCES:
            ids = np.random.choice(np.arange(gt_boxes.shape[0]), config.MAX_GT_INSTANCES, replace=False)
            gt_class_ids, gt_boxes, gt_masks = gt_class_ids[ids], gt_boxes[ids], gt_masks[:, :, ids]
        batch_image_meta[b] = image_meta
        batch_rpn_match[b] = rpn_match[:, np.newaxis]
        batch_rpn_bbox[b] = rpn_bbox
        batch_images[b] = mold_image(image, config)
        batch_gt_class_ids[b] = 0
        batch_gt_boxes[b] = 0
        batch_gt_masks[b] = False
        batch_gt_class_ids[b, :gt_class_ids.shape[0]] = gt_class_ids
        batch_gt_boxes[b, :gt_boxes.shape[0]] = gt_boxes
        batch_gt_masks[b, :, :, :gt_masks.shape[-1]] = gt_masks
        b += 1
        if b >= batch_size:
            yield [batch_images, batch_image_meta, batch_rpn_match, batch_rpn_bbox,
                   batch_gt_class_ids, batch_gt_boxes, batch_gt_masks]
            b = 0


# ----------------------------------------------------------------------------- weights files


def _weight_entries(layer) -> list[tuple[str, object]]:
    """``(Keras-2 style name, variable)`` for every weight of ``layer``, in Keras 2's order
    (a nested model: its layers in order; a wrapper: the wrapped layer's)."""
    if isinstance(layer, keras.Model):
        return [entry for sub in layer.layers for entry in _weight_entries(sub)]
    return [(f"{layer.name}/{v.name}:0", v) for v in layer.weights]


def _read_names(group, name: str) -> list[str]:
    """A list-of-strings attribute as Keras 2 wrote it (split into ``name0``, ``name1``, ...
    when it was too big for one HDF5 attribute)."""
    if name in group.attrs:
        values = list(group.attrs[name])
    else:
        values, i = [], 0
        while f"{name}{i}" in group.attrs:
            values.extend(group.attrs[f"{name}{i}"])
            i += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _has_names(group, name: str) -> bool:
    return name in group.attrs or f"{name}0" in group.attrs


def save_weights_h5(keras_model, filepath) -> Path:
    """Write every layer's weights in Matterport's HDF5 layout (Keras 2 ``save_weights``):
    root attributes ``layer_names``, ``backend``, ``keras_version``; one group per layer with
    attribute ``weight_names`` and one dataset per weight. Written atomically
    (:func:`utils.images.write_atomically`): a failed write leaves an existing file as it was."""
    import h5py

    from utils.images import write_atomically

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            f.attrs["layer_names"] = np.array([l.name.encode("utf8") for l in keras_model.layers])
            f.attrs["backend"] = b"tensorflow"
            f.attrs["keras_version"] = keras.__version__.encode("utf8")
            for layer in keras_model.layers:
                g = f.create_group(layer.name)
                entries = _weight_entries(layer)
                g.attrs["weight_names"] = np.array([n.encode("utf8") for n, _ in entries], dtype="S")
                for name, var in entries:
                    g.create_dataset(name, data=np.asarray(keras.ops.convert_to_numpy(var)))

    return write_atomically(filepath, write)


def load_weights_h5(keras_model, filepath, by_name: bool = False, exclude=None) -> list[str]:
    """Load weights from a Keras 2 / Matterport HDF5 file into ``keras_model``.

    ``by_name=True``: each layer of the model takes the weights of the file's layer of the
    same name (layers missing from the file keep their values). ``by_name=False``: the
    file's layers with weights are matched to the model's in order. Layers named in
    ``exclude`` are left as they are. Returns the names of the layers loaded.

    Raises ``FileNotFoundError`` / ``ValueError`` naming the file, the layer and the shapes
    when the file is missing, not such a file, or a weight's shape differs (typically the
    class-specific layers of a model with another number of classes: exclude them).
    """
    import h5py

    filepath = Path(filepath)
    if not filepath.is_file():
        raise FileNotFoundError(f"{filepath}: no such weights file (expected a Matterport/Keras 2 .h5 file)")
    if exclude:
        by_name = True
    exclude = set(exclude or [])
    try:
        f = h5py.File(filepath, "r")
    except OSError as err:
        raise ValueError(f"{filepath}: not a readable HDF5 weights file ({err})") from None
    with f:
        root = f
        if not _has_names(root, "layer_names") and "model_weights" in root:
            root = root["model_weights"]
        if not _has_names(root, "layer_names"):
            raise ValueError(f"{filepath}: no 'layer_names' attribute at the root: not a Keras 2 / Matterport "
                             "weights file (Keras 3 '.weights.h5' files are another format)")
        file_layers = _read_names(root, "layer_names")
        layers = [l for l in keras_model.layers if l.name not in exclude]

        def values_of(name):
            g = root[name]
            return [np.asarray(g[w]) for w in _read_names(g, "weight_names")]

        if by_name:
            available = set(file_layers)
            pairs = [(l, values_of(l.name)) for l in layers if l.name in available and _weight_entries(l)]
        else:
            model_layers = [l for l in layers if _weight_entries(l)]
            file_with = [n for n in file_layers if _read_names(root[n], "weight_names")]
            if len(file_with) != len(model_layers):
                raise ValueError(f"{filepath}: holds {len(file_with)} layers with weights, the model has "
                                 f"{len(model_layers)}; load with by_name=True")
            pairs = [(l, values_of(n)) for l, n in zip(model_layers, file_with)]
        assignments = []
        for layer, values in pairs:
            entries = _weight_entries(layer)
            if len(values) != len(entries):
                raise ValueError(f"{filepath}: layer {layer.name!r} has {len(values)} weights in the file and "
                                 f"{len(entries)} in the model")
            for (name, var), value in zip(entries, values):
                if tuple(var.shape) != value.shape:
                    raise ValueError(
                        f"{filepath}: layer {layer.name!r}, weight {name}: shape {value.shape} in the file, "
                        f"{tuple(var.shape)} in the model. If the number of classes differs, load with "
                        "exclude=['mrcnn_class_logits', 'mrcnn_bbox_fc', 'mrcnn_bbox', 'mrcnn_mask']")
                assignments.append((var, value))
    for var, value in assignments:
        var.assign(value.astype(var.dtype))
    return [layer.name for layer, _ in pairs]


# ----------------------------------------------------------------------------- the model

LAYER_REGEX = {
    "heads": r"(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "3+": r"(res3.*)|(bn3.*)|(res4.*)|(bn4.*)|(res5.*)|(bn5.*)|(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "4+": r"(res4.*)|(bn4.*)|(res5.*)|(bn5.*)|(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "5+": r"(res5.*)|(bn5.*)|(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "all": ".*",
}
"""Named layer selections for :meth:`MaskRCNN.train` (Matterport's)."""


class MaskRCNN:
    """Mask R-CNN: ``mode`` is ``"training"`` or ``"inference"``; the Keras model is
    :attr:`keras_model`. Checkpoints go to ``model_dir/<name><YYYYmmddTHHMM>/
    mask_rcnn_<name>_<epoch>.h5`` (Matterport's layout, found again by :meth:`find_last`).
    """

    def __init__(self, mode: str, config: Config, model_dir):
        if mode not in ("training", "inference"):
            raise ValueError(f"mode={mode!r}: expected 'training' or 'inference'")
        if not isinstance(config, Config):
            raise TypeError(f"config: expected a utils.mrcnn.config.Config instance, got {type(config).__name__}")
        self.mode = mode
        self.config = config
        self.model_dir = str(model_dir)
        self.history: dict[str, list] = {}
        self._anchor_cache: dict = {}
        self._predict_fn = None
        self.set_log_dir()
        self.keras_model = self.build(mode=mode, config=config)

    # ------------------------------------------------------------------ graph
    def build(self, mode: str, config: Config) -> keras.Model:
        """Build the Keras model of ``mode`` (inputs and outputs as Matterport's)."""
        h, w = config.IMAGE_SHAPE[:2]
        if h % 64 or w % 64:
            raise ValueError(f"image size {h}x{w}: must be a multiple of 64 (six halvings down the pyramid)")
        train_bn = config.TRAIN_BN
        input_image = KL.Input(shape=[None, None, config.IMAGE_SHAPE[2]], name="input_image")
        input_image_meta = KL.Input(shape=[config.IMAGE_META_SIZE], name="input_image_meta")
        if mode == "training":
            input_rpn_match = KL.Input(shape=[None, 1], name="input_rpn_match", dtype="int32")
            input_rpn_bbox = KL.Input(shape=[None, 4], name="input_rpn_bbox", dtype="float32")
            input_gt_class_ids = KL.Input(shape=[None], name="input_gt_class_ids", dtype="int32")
            input_gt_boxes = KL.Input(shape=[None, 4], name="input_gt_boxes", dtype="float32")
            mask_hw = config.MINI_MASK_SHAPE if config.USE_MINI_MASK else config.IMAGE_SHAPE[:2]
            input_gt_masks = KL.Input(shape=[int(mask_hw[0]), int(mask_hw[1]), None], name="input_gt_masks",
                                      dtype="bool")
            gt_boxes = _NormBoxes(name="norm_gt_boxes")([input_gt_boxes, input_image])
        else:
            input_anchors = KL.Input(shape=[None, 4], name="input_anchors")

        _, c2, c3, c4, c5 = resnet_graph(input_image, config.BACKBONE, stage5=True, train_bn=train_bn,
                                         small_filters=config.SMALL_BACKBONE_FILTERS)
        size = config.TOP_DOWN_PYRAMID_SIZE
        p5 = KL.Conv2D(size, (1, 1), name="fpn_c5p5")(c5)
        p4 = KL.Add(name="fpn_p4add")([KL.UpSampling2D(size=(2, 2), name="fpn_p5upsampled")(p5),
                                       KL.Conv2D(size, (1, 1), name="fpn_c4p4")(c4)])
        p3 = KL.Add(name="fpn_p3add")([KL.UpSampling2D(size=(2, 2), name="fpn_p4upsampled")(p4),
                                       KL.Conv2D(size, (1, 1), name="fpn_c3p3")(c3)])
        p2 = KL.Add(name="fpn_p2add")([KL.UpSampling2D(size=(2, 2), name="fpn_p3upsampled")(p3),
                                       KL.Conv2D(size, (1, 1), name="fpn_c2p2")(c2)])
        p2 = KL.Conv2D(size, (3, 3), padding="same", name="fpn_p2")(p2)
        p3 = KL.Conv2D(size, (3, 3), padding="same", name="fpn_p3")(p3)
        p4 = KL.Conv2D(size, (3, 3), padding="same", name="fpn_p4")(p4)
        p5 = KL.Conv2D(size, (3, 3), padding="same", name="fpn_p5")(p5)
        p6 = KL.MaxPooling2D(pool_size=(1, 1), strides=2, name="fpn_p6")(p5)
        rpn_feature_maps = [p2, p3, p4, p5, p6]
        mrcnn_feature_maps = [p2, p3, p4, p5]

        if mode == "training":
            anchors = AnchorsLayer(self.get_anchors(config.IMAGE_SHAPE), name="anchors")(input_image)
        else:
            anchors = input_anchors

        rpn = build_rpn_model(config.RPN_ANCHOR_STRIDE, len(config.RPN_ANCHOR_RATIOS), size, config.RPN_CONV_SIZE)
        level_outputs = [rpn([p]) for p in rpn_feature_maps]
        rpn_class_logits, rpn_class, rpn_bbox = [
            KL.Concatenate(axis=1, name=n)([lo[i] for lo in level_outputs])
            for i, n in enumerate(["rpn_class_logits", "rpn_class", "rpn_bbox"])]

        proposal_count = config.POST_NMS_ROIS_TRAINING if mode == "training" else config.POST_NMS_ROIS_INFERENCE
        rpn_rois = ProposalLayer(proposal_count=proposal_count, nms_threshold=config.RPN_NMS_THRESHOLD,
                                 name="ROI", config=config)([rpn_class, rpn_bbox, anchors])

        if mode == "training":
            active_class_ids = _MetaSlice(12, None, name="active_class_ids")(input_image_meta)
            rois, target_class_ids, target_bbox, target_mask = DetectionTargetLayer(config, name="proposal_targets")(
                [rpn_rois, input_gt_class_ids, gt_boxes, input_gt_masks])
            mrcnn_class_logits, mrcnn_class, mrcnn_bbox = fpn_classifier_graph(
                rois, mrcnn_feature_maps, input_image_meta, config.POOL_SIZE, config.NUM_CLASSES,
                train_bn=train_bn, fc_layers_size=config.FPN_CLASSIF_FC_LAYERS_SIZE)
            # Only the first `positives` RoI slots of an image can hold a positive (targets
            # put positives first), and only positives enter the mask loss.
            positives = int(config.TRAIN_ROIS_PER_IMAGE * config.ROI_POSITIVE_RATIO)
            mask_rois = _FirstSlots(positives, name="mask_rois")(rois)
            mask_target = _FirstSlots(positives, name="mask_targets")(target_mask)
            mask_class_ids = _FirstSlots(positives, name="mask_class_ids")(target_class_ids)
            mrcnn_mask = build_fpn_mask_graph(mask_rois, mrcnn_feature_maps, input_image_meta, config.MASK_POOL_SIZE,
                                              config.NUM_CLASSES, train_bn=train_bn, conv_size=config.MASK_CONV_SIZE)
            output_rois = KL.Identity(name="output_rois")(rois)
            rpn_class_loss = LossLayer(rpn_class_loss_graph, name="rpn_class_loss")([input_rpn_match, rpn_class_logits])
            rpn_bbox_loss = LossLayer(lambda *a: rpn_bbox_loss_graph(config, *a), name="rpn_bbox_loss")(
                [input_rpn_bbox, input_rpn_match, rpn_bbox])
            class_loss = LossLayer(mrcnn_class_loss_graph, name="mrcnn_class_loss")(
                [target_class_ids, mrcnn_class_logits, active_class_ids])
            bbox_loss = LossLayer(mrcnn_bbox_loss_graph, name="mrcnn_bbox_loss")(
                [target_bbox, target_class_ids, mrcnn_bbox])
            mask_loss = LossLayer(mrcnn_mask_loss_graph, name="mrcnn_mask_loss")(
                [mask_target, mask_class_ids, mrcnn_mask])
            inputs = [input_image, input_image_meta, input_rpn_match, input_rpn_bbox, input_gt_class_ids,
                      input_gt_boxes, input_gt_masks]
            outputs = [rpn_class_logits, rpn_class, rpn_bbox, mrcnn_class_logits, mrcnn_class, mrcnn_bbox, mrcnn_mask,
                       rpn_rois, output_rois, rpn_class_loss, rpn_bbox_loss, class_loss, bbox_loss, mask_loss]
        else:
            mrcnn_class_logits, mrcnn_class, mrcnn_bbox = fpn_classifier_graph(
                rpn_rois, mrcnn_feature_maps, input_image_meta, config.POOL_SIZE, config.NUM_CLASSES,
                train_bn=train_bn, fc_layers_size=config.FPN_CLASSIF_FC_LAYERS_SIZE)
            detections = DetectionLayer(config, name="mrcnn_detection")(
                [rpn_rois, mrcnn_class, mrcnn_bbox, input_image_meta])
            detection_boxes = _FirstColumns(4, name="detection_boxes")(detections)
            mrcnn_mask = build_fpn_mask_graph(detection_boxes, mrcnn_feature_maps, input_image_meta,
                                              config.MASK_POOL_SIZE, config.NUM_CLASSES, train_bn=train_bn,
                                              conv_size=config.MASK_CONV_SIZE)
            inputs = [input_image, input_image_meta, input_anchors]
            outputs = [detections, mrcnn_class, mrcnn_bbox, mrcnn_mask, rpn_rois, rpn_class, rpn_bbox]
        return keras.Model(inputs, outputs, name="mask_rcnn")

    # ------------------------------------------------------------------ weights
    def find_last(self) -> str:
        """The last checkpoint of the newest training folder of this config's ``NAME`` in
        ``model_dir``. Raises ``FileNotFoundError`` saying where it looked."""
        key = self.config.NAME.lower()
        root = Path(self.model_dir)
        dirs = sorted(d.name for d in root.iterdir() if d.is_dir() and d.name.startswith(key)) if root.is_dir() else []
        if not dirs:
            raise FileNotFoundError(f"{root}: no training folder starting with {key!r} "
                                    "(train first, or check model_dir)")
        folder = root / dirs[-1]
        checkpoints = sorted(p.name for p in folder.iterdir() if p.name.startswith("mask_rcnn") and p.suffix == ".h5")
        if not checkpoints:
            raise FileNotFoundError(f"{folder}: no mask_rcnn_*.h5 checkpoint in the newest training folder")
        return str(folder / checkpoints[-1])

    def load_weights(self, filepath, by_name: bool = False, exclude=None) -> list[str]:
        """Load a Matterport / Keras 2 HDF5 weights file (see :func:`load_weights_h5`), e.g.
        ``mask_rcnn_coco.h5`` by name, or a checkpoint of :meth:`train`. Continues the
        epoch count of a checkpoint of this layout. Returns the names of the layers loaded."""
        loaded = load_weights_h5(self.keras_model, filepath, by_name=by_name, exclude=exclude)
        self.set_log_dir(str(filepath))
        return loaded

    def save_weights(self, filepath) -> Path:
        """Save every layer's weights in Matterport's HDF5 layout (loadable by name by either mode)."""
        return save_weights_h5(self.keras_model, filepath)

    # ------------------------------------------------------------------ training
    def set_trainable(self, layer_regex: str, keras_model=None, indent: int = 0, verbose: int = 1) -> None:
        """Make trainable the layers whose names fully match ``layer_regex``, freeze the rest
        (nested models are searched too)."""
        if verbose > 0 and keras_model is None:
            log("Selecting layers to train")
        keras_model = keras_model or self.keras_model
        for layer in keras_model.layers:
            if isinstance(layer, keras.Model):
                if verbose > 0:
                    print(f"{' ' * indent}In model: {layer.name}")
                self.set_trainable(layer_regex, keras_model=layer, indent=indent + 4, verbose=verbose)
                continue
            if not layer.weights:
                continue
            trainable = bool(re.fullmatch(layer_regex, layer.name))
            layer.trainable = trainable
            if trainable and verbose > 1:
                log(f"{' ' * indent}{layer.name:20}   ({type(layer).__name__})")

    def set_log_dir(self, model_path: str | None = None) -> None:
        """Set :attr:`log_dir` and :attr:`checkpoint_path`; a checkpoint path of this layout
        (``.../<name>YYYYmmddTHHMM/mask_rcnn_<name>_<epoch>.h5``) continues its folder and epoch."""
        self.epoch = 0
        now = datetime.datetime.now()
        if model_path:
            m = re.match(r".*[/\\][\w-]+(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})[/\\]mask\_rcnn\_[\w-]+(\d{4})\.h5",
                         str(model_path))
            if m:
                now = datetime.datetime(*(int(m.group(i)) for i in range(1, 6)))
                self.epoch = int(m.group(6))
        name = (self.config.NAME or "model").lower()
        self.log_dir = os.path.join(self.model_dir, f"{name}{now:%Y%m%dT%H%M}")
        self.checkpoint_path = os.path.join(self.log_dir, f"mask_rcnn_{name}_{{epoch:04d}}.h5")

    def _make_optimizer(self, learning_rate: float):
        clip = self.config.GRADIENT_CLIP_NORM or None
        if self.config.OPTIMIZER == "adam":
            return keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=clip)
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=self.config.LEARNING_MOMENTUM,
                                    global_clipnorm=clip)

    def _loss_terms(self, outputs):
        losses = outputs[-len(LOSS_NAMES):]
        return [tf.cast(l, tf.float32) * self.config.LOSS_WEIGHTS.get(n, 1.0) for n, l in zip(LOSS_NAMES, losses)]

    def _compiled_steps(self, layer_regex: str, learning_rate: float, layers: str):
        """The compiled training and validation steps for ``layer_regex``. A later call with
        the same selection reuses them (no retracing) and keeps the optimizer's state,
        only setting the new learning rate."""
        cached = getattr(self, "_steps", None)
        if cached is not None and cached[0] == layer_regex:
            cached[1].learning_rate = learning_rate
            return cached[2], cached[3]
        model = self.keras_model
        variables = model.trainable_variables
        if not variables:
            raise ValueError(f"train(layers={layers!r}): no layer name matches, nothing to train")
        decay = [v for v in variables if not any(k in v.name for k in ("gamma", "beta"))]
        optimizer = self._make_optimizer(learning_rate)
        optimizer.build(variables)
        wd = float(self.config.WEIGHT_DECAY)

        @tf.function
        def train_step(inputs):
            with tf.GradientTape() as tape:
                terms = self._loss_terms(model(inputs, training=True))
                reg = tf.add_n([wd * tf.reduce_mean(tf.square(v)) for v in decay]) if wd and decay else 0.0
                total = tf.add_n(terms) + reg
            grads = tape.gradient(total, variables)
            optimizer.apply(grads, variables)
            return [total] + terms

        @tf.function
        def eval_step(inputs):
            terms = self._loss_terms(model(inputs, training=False))
            return [tf.add_n(terms)] + terms

        self._steps = (layer_regex, optimizer, train_step, eval_step)
        return train_step, eval_step

    def train(self, train_dataset, val_dataset, learning_rate: float, epochs: int, layers: str,
              augmentation=None, custom_callbacks=None, no_augmentation_sources=None, verbose: int = 1) -> dict:
        """Train until epoch ``epochs`` (counted from the epochs already done, as Matterport).

        ``layers``: ``"heads"``, ``"3+"``, ``"4+"``, ``"5+"``, ``"all"`` or a regular
        expression of layer names. ``augmentation``: ``f(image, mask) -> (image, mask)`` or an
        imgaug augmenter. ``custom_callbacks``: Keras callbacks (epoch begin/end are called).
        Each epoch runs ``STEPS_PER_EPOCH`` steps of ``BATCH_SIZE`` images, then
        ``VALIDATION_STEPS`` validation batches, and saves a checkpoint. Returns
        :attr:`history` (per-epoch mean losses: ``loss``, the five named losses, ``val_*``).

        Consecutive calls with the same ``layers`` continue with the same optimizer (its
        state kept, the new ``learning_rate`` set), so lowering the rate for the last
        epochs costs no recompilation.
        """
        if self.mode != "training":
            raise ValueError("train() needs a model built with mode='training'")
        config = self.config
        layer_regex = LAYER_REGEX.get(layers, layers)
        if epochs <= self.epoch:
            if verbose:
                log(f"Already at epoch {self.epoch}: nothing to train up to epoch {epochs}")
            return self.history
        if val_dataset is not None and len(val_dataset.image_ids) == 0:
            raise ValueError("train(): the validation dataset has no images")
        train_gen = data_generator(train_dataset, config, shuffle=True, augmentation=augmentation,
                                   batch_size=config.BATCH_SIZE, no_augmentation_sources=no_augmentation_sources)
        val_gen = (data_generator(val_dataset, config, shuffle=True, batch_size=config.BATCH_SIZE)
                   if val_dataset is not None and config.VALIDATION_STEPS else None)
        os.makedirs(self.log_dir, exist_ok=True)
        if verbose:
            log(f"\nStarting at epoch {self.epoch}. LR={learning_rate}\n")
            log(f"Checkpoint Path: {self.checkpoint_path}")
        self.set_trainable(layer_regex, verbose=verbose)
        train_step, eval_step = self._compiled_steps(layer_regex, learning_rate, layers)
        callbacks = list(custom_callbacks or [])
        for cb in callbacks:
            cb.set_model(self.keras_model)
            cb.on_train_begin()
        names = ["loss"] + LOSS_NAMES
        for epoch in range(self.epoch, epochs):
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            sums = np.zeros(len(names))
            for _ in range(config.STEPS_PER_EPOCH):
                batch = [tf.convert_to_tensor(a) for a in next(train_gen)]
                values = np.array([float(v) for v in train_step(batch)])
                if not np.all(np.isfinite(values)):
                    raise FloatingPointError(f"epoch {epoch + 1}: the loss became {values[0]} (not finite); "
                                             "lower the learning rate")
                sums += values
            logs = {n: float(s / config.STEPS_PER_EPOCH) for n, s in zip(names, sums)}
            if val_gen is not None:
                vsums = np.zeros(len(names))
                for _ in range(config.VALIDATION_STEPS):
                    batch = [tf.convert_to_tensor(a) for a in next(val_gen)]
                    vsums += np.array([float(v) for v in eval_step(batch)])
                logs.update({f"val_{n}": float(s / config.VALIDATION_STEPS) for n, s in zip(names, vsums)})
            self.history.setdefault("epoch", []).append(epoch + 1)
            for key, value in logs.items():
                self.history.setdefault(key, []).append(value)
            self.save_weights(self.checkpoint_path.format(epoch=epoch + 1))
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}: " + " - ".join(f"{k} {v:.4f}" for k, v in logs.items()))
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
        for cb in callbacks:
            cb.on_train_end()
        self.epoch = max(self.epoch, epochs)
        return self.history

    # ------------------------------------------------------------------ inference
    def mold_inputs(self, images):
        """Resize and normalise images for the network: ``molded_images [N, h, w, 3]`` float32,
        ``image_metas [N, meta]``, ``windows [N, (y1, x1, y2, x2)]`` (the image inside the padding)."""
        molded, metas, windows = [], [], []
        for image in images:
            m, window, scale, padding, crop = utils.resize_image(
                image, min_dim=self.config.IMAGE_MIN_DIM, min_scale=self.config.IMAGE_MIN_SCALE,
                max_dim=self.config.IMAGE_MAX_DIM, mode=self.config.IMAGE_RESIZE_MODE)
            m = mold_image(m, self.config)
            metas.append(compose_image_meta(0, image.shape, m.shape, window, scale,
                                            np.zeros([self.config.NUM_CLASSES], dtype=np.int32)))
            molded.append(m)
            windows.append(window)
        return np.stack(molded), np.stack(metas), np.stack(windows)

    def unmold_detections(self, detections, mrcnn_mask, original_image_shape, image_shape, window):
        """One image's network output → ``boxes [N, (y1, x1, y2, x2)]`` int32 pixels of the
        original image, ``class_ids [N]`` int32, ``scores [N]`` float32, ``masks [H, W, N]`` bool."""
        zero_ix = np.where(detections[:, 4] == 0)[0]
        n = zero_ix[0] if zero_ix.shape[0] > 0 else detections.shape[0]
        boxes = detections[:n, :4]
        class_ids = detections[:n, 4].astype(np.int32)
        scores = detections[:n, 5].astype(np.float32)
        masks = mrcnn_mask[np.arange(n), :, :, class_ids]
        wy1, wx1, wy2, wx2 = utils.norm_boxes(np.asarray(window, np.float32), image_shape[:2])
        shift = np.array([wy1, wx1, wy1, wx1])
        scale = np.array([wy2 - wy1, wx2 - wx1, wy2 - wy1, wx2 - wx1])
        boxes = utils.denorm_boxes((boxes - shift) / scale, original_image_shape[:2])
        keep = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) > 0
        boxes, class_ids, scores, masks = boxes[keep], class_ids[keep], scores[keep], masks[keep]
        full = [utils.unmold_mask(masks[i], boxes[i], original_image_shape) for i in range(len(boxes))]
        full_masks = (np.stack(full, axis=-1) if full
                      else np.zeros(tuple(original_image_shape[:2]) + (0,), dtype=bool))
        return boxes.astype(np.int32), class_ids, scores, full_masks

    def _predict(self, inputs):
        if self._predict_fn is None:
            model = self.keras_model
            self._predict_fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        return [np.asarray(o) for o in self._predict_fn([tf.convert_to_tensor(a) for a in inputs])]

    def detect(self, images, verbose: int = 0) -> list[dict]:
        """Detect instances in a list of RGB uint8 images ``[H, W, 3]`` (any number, any sizes
        that resize to one shape). Returns one dict per image: ``rois [N, (y1, x1, y2, x2)]``
        int32, ``class_ids [N]`` int32, ``scores [N]`` float32, ``masks [H, W, N]`` bool,
        all in the original image's pixels."""
        if self.mode != "inference":
            raise ValueError("detect() needs a model built with mode='inference'")
        if isinstance(images, np.ndarray) and images.ndim == 3:
            raise ValueError("detect(images): expected a list of images, got one image; use detect([image])")
        images = [check_rgb(im, f"images[{i}]") for i, im in enumerate(images)]
        if not images:
            return []
        if verbose:
            log(f"Processing {len(images)} images")
            for image in images:
                log("image", image)
        molded_images, image_metas, windows = self.mold_inputs(images)
        image_shape = molded_images[0].shape
        for i, g in enumerate(molded_images[1:], 1):
            if g.shape != image_shape:
                raise ValueError(f"images[{i}] resizes to {g.shape}, images[0] to {image_shape}: all images of one "
                                 "call must resize to the same shape (IMAGE_RESIZE_MODE 'square' ensures it)")
        anchors = self.get_anchors(image_shape)
        bs = self.config.BATCH_SIZE
        results = []
        for start in range(0, len(images), bs):
            idx = list(range(start, min(start + bs, len(images))))
            pad = idx + [idx[-1]] * (bs - len(idx))  # fill the last batch by repeating
            batch_anchors = np.broadcast_to(anchors, (bs,) + anchors.shape).astype(np.float32)
            if verbose:
                log("molded_images", molded_images[pad])
                log("image_metas", image_metas[pad])
                log("anchors", batch_anchors)
            detections, _, _, mrcnn_mask, _, _, _ = self._predict(
                [molded_images[pad], image_metas[pad].astype(np.float32), batch_anchors])
            for j, i in enumerate(idx):
                rois, class_ids, scores, masks = self.unmold_detections(
                    detections[j], mrcnn_mask[j], images[i].shape, molded_images[i].shape, windows[i])
                results.append({"rois": rois, "class_ids": class_ids, "scores": scores, "masks": masks})
        return results

    def run_graph(self, images, outputs, verbose: int = 1) -> dict:
        """Run the inference network on ``images`` and return intermediate results
        (Matterport's tool for looking inside the model).

        ``outputs``: a list of ``(name, what)`` where ``what`` is a layer name (its output,
        e.g. ``"ROI"`` for the proposals, ``"fpn_p2"`` for a pyramid level) or a Keras tensor of
        :attr:`keras_model`. Returns a dict ``name -> numpy array`` (batch first), printing each
        array's shape and range when ``verbose``.
        """
        if self.mode != "inference":
            raise ValueError("run_graph() needs a model built with mode='inference'")
        names, tensors = [], []
        for name, what in outputs:
            tensors.append(self.keras_model.get_layer(what).output if isinstance(what, str) else what)
            names.append(name)
        sub = keras.Model(self.keras_model.inputs, tensors)
        images = [check_rgb(im, f"images[{i}]") for i, im in enumerate(images)]
        molded, metas, _ = self.mold_inputs(images)
        one = self.get_anchors(molded[0].shape)
        anchors = np.broadcast_to(one, (len(images),) + one.shape)
        values = sub([tf.convert_to_tensor(molded), tf.convert_to_tensor(metas.astype(np.float32)),
                      tf.convert_to_tensor(anchors.astype(np.float32))], training=False)
        values = values if isinstance(values, (list, tuple)) else [values]
        result = {n: np.asarray(v) for n, v in zip(names, values)}
        if verbose:
            for n, v in result.items():
                log(n, v)
        return result

    def get_anchors(self, image_shape) -> np.ndarray:
        """Anchors of every pyramid level for ``image_shape``, normalised ``[A, (y1, x1, y2, x2)]``
        (pixel anchors kept in :attr:`anchors`)."""
        key = tuple(int(s) for s in image_shape[:2])
        if key not in self._anchor_cache:
            a = utils.generate_pyramid_anchors(self.config.RPN_ANCHOR_SCALES, self.config.RPN_ANCHOR_RATIOS,
                                               compute_backbone_shapes(self.config, key),
                                               self.config.BACKBONE_STRIDES, self.config.RPN_ANCHOR_STRIDE)
            self.anchors = a
            self._anchor_cache[key] = utils.norm_boxes(a, key).astype(np.float32)
        return self._anchor_cache[key]

    def get_trainable_layers(self) -> list:
        """Layers that hold weights (wrappers resolved to the layer they wrap)."""
        out = []
        for layer in self.keras_model.layers:
            while isinstance(layer, KL.Wrapper):
                layer = layer.layer
            if layer.weights:
                out.append(layer)
        return out


# ----------------------------------------------------------------------------- small graph layers


class _NormBoxes(KL.Layer):
    """Pixel boxes ``[B, N, 4]`` → normalised, using the image tensor's height and width."""

    def call(self, inputs):
        boxes, image = inputs
        return norm_boxes_graph(boxes, tf.shape(image)[1:3])

    def compute_output_shape(self, input_shape):
        return input_shape[0]


class _MetaSlice(KL.Layer):
    def __init__(self, start, stop=None, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = start, stop

    def call(self, meta):
        return meta[:, self.start:self.stop]

    def compute_output_shape(self, input_shape):
        n = input_shape[1]
        stop = self.stop if self.stop is not None else n
        return (input_shape[0], None if n is None else stop - self.start)


class _FirstSlots(KL.Layer):
    """``x[:, :count]`` (the first RoI slots of every image)."""

    def __init__(self, count, **kwargs):
        super().__init__(**kwargs)
        self.count = int(count)

    def call(self, x):
        return x[:, :self.count]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.count) + tuple(input_shape[2:])


class _FirstColumns(KL.Layer):
    """``x[..., :count]`` (the boxes of the detections)."""

    def __init__(self, count, **kwargs):
        super().__init__(**kwargs)
        self.count = int(count)

    def call(self, x):
        return x[..., :self.count]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.count,)
