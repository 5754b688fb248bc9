"""Mask R-CNN settings: one :class:`Config` class, subclassed once per experiment.

Taught in ``3_2`` (inference with the COCO settings) and ``3_3`` (a custom subclass for
training). The attribute names, defaults and computed attributes are Matterport's
(``mrcnn/config.py``), so course material written for Matterport reads the same::

    class ShapesConfig(Config):
        NAME = "shapes"
        NUM_CLASSES = 1 + 3          # background + square, circle, triangle
        IMAGES_PER_GPU = 8

    config = ShapesConfig()
    config.display()                 # every setting, one per line

A few settings are ours, for the CPU-sized models of fast mode; their defaults keep
Matterport's architecture (so the published COCO weights load):

- ``BACKBONE = "small"``: a narrow ResNet with one block per stage (widths in
  ``SMALL_BACKBONE_FILTERS``), same layer names as ResNet-50/101;
- ``RPN_CONV_SIZE`` (Matterport: 512, fixed) and ``MASK_CONV_SIZE`` (256, fixed): widths
  of the RPN's shared convolution and of the mask head's convolutions;
- ``OPTIMIZER``: ``"sgd"`` (Matterport's SGD with momentum) or ``"adam"``.
"""
from __future__ import annotations

import numpy as np

BACKBONES = ("resnet50", "resnet101", "small")
RESIZE_MODES = ("none", "square", "pad64", "crop")


class Config:
    """Base configuration. Do not use it directly: subclass it and override what your
    experiment changes (at least ``NAME`` and ``NUM_CLASSES``).

    Computed attributes, set by ``__init__`` (as Matterport): ``BATCH_SIZE``
    (``IMAGES_PER_GPU * GPU_COUNT``), ``IMAGE_SHAPE`` (``[MAX_DIM, MAX_DIM, channels]``,
    or ``[MIN_DIM, MIN_DIM, channels]`` in ``"crop"`` mode) and ``IMAGE_META_SIZE``
    (``12 + NUM_CLASSES``). Bad combinations raise ``ValueError`` naming the setting.
    """

    # Name of the configuration ("coco", "shapes", ...): names checkpoints and log folders.
    NAME = None  # override in subclasses

    # Devices and batch. The course runs on one device; BATCH_SIZE = IMAGES_PER_GPU * GPU_COUNT.
    GPU_COUNT = 1
    IMAGES_PER_GPU = 2

    # Training steps per epoch, and validation steps at the end of each epoch.
    STEPS_PER_EPOCH = 1000
    VALIDATION_STEPS = 50

    # Backbone: "resnet50", "resnet101" (Matterport's, COCO weights load) or "small" (CPU).
    BACKBONE = "resnet101"
    # Bottleneck widths of stages 2..5 of the "small" backbone (outputs are 4x these).
    SMALL_BACKBONE_FILTERS = (16, 32, 64, 128)
    # Strides of the pyramid levels P2..P6 (fixed by the ResNet layout).
    BACKBONE_STRIDES = [4, 8, 16, 32, 64]

    # Widths of the heads.
    FPN_CLASSIF_FC_LAYERS_SIZE = 1024   # the two "fully connected" layers of the classifier
    TOP_DOWN_PYRAMID_SIZE = 256         # channels of the feature pyramid P2..P6
    RPN_CONV_SIZE = 512                 # RPN shared 3x3 convolution
    MASK_CONV_SIZE = 256                # the four 3x3 convolutions of the mask head

    # Number of classes, background included.
    NUM_CLASSES = 1  # override in subclasses

    # Anchors: side lengths in pixels (one per pyramid level), width/height ratios, stride.
    RPN_ANCHOR_SCALES = (32, 64, 128, 256, 512)
    RPN_ANCHOR_RATIOS = [0.5, 1, 2]
    RPN_ANCHOR_STRIDE = 1

    # Region proposals.
    RPN_NMS_THRESHOLD = 0.7
    RPN_TRAIN_ANCHORS_PER_IMAGE = 256
    PRE_NMS_LIMIT = 6000
    POST_NMS_ROIS_TRAINING = 2000
    POST_NMS_ROIS_INFERENCE = 1000

    # Store instance masks cropped to their box and resized (saves memory on big images).
    USE_MINI_MASK = True
    MINI_MASK_SHAPE = (56, 56)

    # Input resizing: "square" (resize, then pad to MAX_DIM x MAX_DIM), "pad64", "crop", "none".
    IMAGE_RESIZE_MODE = "square"
    IMAGE_MIN_DIM = 800
    IMAGE_MAX_DIM = 1024
    IMAGE_MIN_SCALE = 0
    IMAGE_CHANNEL_COUNT = 3

    # Mean pixel (RGB), subtracted from every image before the network.
    MEAN_PIXEL = np.array([123.7, 116.8, 103.9])

    # Second stage: RoIs per image for the heads, share of positives, pooled sizes.
    TRAIN_ROIS_PER_IMAGE = 200
    ROI_POSITIVE_RATIO = 0.33
    POOL_SIZE = 7
    MASK_POOL_SIZE = 14
    MASK_SHAPE = [28, 28]  # must be 2 * MASK_POOL_SIZE (one transposed convolution)

    MAX_GT_INSTANCES = 100

    # Box refinement standard deviations (RPN and final detections).
    RPN_BBOX_STD_DEV = np.array([0.1, 0.1, 0.2, 0.2])
    BBOX_STD_DEV = np.array([0.1, 0.1, 0.2, 0.2])

    # Detection.
    DETECTION_MAX_INSTANCES = 100
    DETECTION_MIN_CONFIDENCE = 0.7
    DETECTION_NMS_THRESHOLD = 0.3

    # Optimisation.
    OPTIMIZER = "sgd"  # "sgd" (SGD with LEARNING_MOMENTUM, Matterport) or "adam"
    LEARNING_RATE = 0.001
    LEARNING_MOMENTUM = 0.9
    WEIGHT_DECAY = 0.0001
    LOSS_WEIGHTS = {
        "rpn_class_loss": 1.0,
        "rpn_bbox_loss": 1.0,
        "mrcnn_class_loss": 1.0,
        "mrcnn_bbox_loss": 1.0,
        "mrcnn_mask_loss": 1.0,
    }
    # Train the heads on the RPN's proposals (Matterport's default and only choice here).
    USE_RPN_ROIS = True
    # Batch normalisation: False freezes it (small batches, fine-tuning), True trains it.
    TRAIN_BN = False
    GRADIENT_CLIP_NORM = 5.0

    def __init__(self):
        """Check the settings and set the computed attributes."""
        self.BATCH_SIZE = self.IMAGES_PER_GPU * self.GPU_COUNT
        if self.IMAGE_RESIZE_MODE == "crop":
            self.IMAGE_SHAPE = np.array([self.IMAGE_MIN_DIM, self.IMAGE_MIN_DIM, self.IMAGE_CHANNEL_COUNT])
        else:
            self.IMAGE_SHAPE = np.array([self.IMAGE_MAX_DIM, self.IMAGE_MAX_DIM, self.IMAGE_CHANNEL_COUNT])
        self.IMAGE_META_SIZE = 1 + 3 + 3 + 4 + 1 + self.NUM_CLASSES
        self._validate()

    def _validate(self) -> None:
        name = type(self).__name__
        problems = []
        if self.BACKBONE not in BACKBONES:
            problems.append(f"BACKBONE={self.BACKBONE!r}: expected one of {', '.join(BACKBONES)}")
        if self.IMAGE_RESIZE_MODE not in RESIZE_MODES:
            problems.append(f"IMAGE_RESIZE_MODE={self.IMAGE_RESIZE_MODE!r}: expected one of {', '.join(RESIZE_MODES)}")
        if int(self.NUM_CLASSES) < 1:
            problems.append(f"NUM_CLASSES={self.NUM_CLASSES}: expected at least 1 (the background)")
        if self.IMAGE_RESIZE_MODE in ("square", "crop"):
            side = self.IMAGE_SHAPE[0]
            if side % 64:
                problems.append(f"image side {side} (IMAGE_MAX_DIM, or IMAGE_MIN_DIM in crop mode): must be a "
                                "multiple of 64 so the pyramid's six halvings stay whole (64, 128, ..., 1024)")
        if list(self.MASK_SHAPE) != [2 * self.MASK_POOL_SIZE] * 2:
            problems.append(f"MASK_SHAPE={list(self.MASK_SHAPE)}: the mask head doubles MASK_POOL_SIZE="
                            f"{self.MASK_POOL_SIZE}, so MASK_SHAPE must be {[2 * self.MASK_POOL_SIZE] * 2}")
        if len(self.RPN_ANCHOR_SCALES) != len(self.BACKBONE_STRIDES):
            problems.append(f"RPN_ANCHOR_SCALES has {len(self.RPN_ANCHOR_SCALES)} sizes but there are "
                            f"{len(self.BACKBONE_STRIDES)} pyramid levels (BACKBONE_STRIDES)")
        if self.OPTIMIZER not in ("sgd", "adam"):
            problems.append(f"OPTIMIZER={self.OPTIMIZER!r}: expected 'sgd' or 'adam'")
        if not 0 < self.ROI_POSITIVE_RATIO <= 1:
            problems.append(f"ROI_POSITIVE_RATIO={self.ROI_POSITIVE_RATIO}: expected a share in (0, 1]")
        if problems:
            raise ValueError(f"{name}: bad settings:\n  - " + "\n  - ".join(problems))

    def to_dict(self) -> dict:
        """Every setting (upper-case attributes, computed ones included) as a dict."""
        return {a: getattr(self, a) for a in sorted(dir(self))
                if a.isupper() and not a.startswith("_") and not callable(getattr(self, a))}

    def display(self) -> None:
        """Print every setting, one per line, sorted by name (Matterport's table)."""
        print("\nConfigurations:")
        for key, value in self.to_dict().items():
            print(f"{key:30} {value}")
        print("\n")


COCO_CLASS_NAMES = [
    "BG", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
]
"""The 81 class names of Matterport's COCO model, in the order of its class ids (0 = BG)."""


class CocoInferenceConfig(Config):
    """Matterport's COCO model for inference on one image at a time (``3_2`` full mode):
    ResNet-101, 1024x1024 inputs, 81 classes. Load ``mask_rcnn_coco.h5`` into it."""

    NAME = "coco"
    NUM_CLASSES = 1 + 80
    GPU_COUNT = 1
    IMAGES_PER_GPU = 1
