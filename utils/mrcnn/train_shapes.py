"""The course's own small Mask R-CNN, trained on the synthetic shapes on a CPU.

Fast mode of ``3_2`` and ``3_4`` loads the checkpoint this module writes (so they need
not retrain); ``3_3`` trains the same network itself. Reproduce the committed file with::

    python -m utils.mrcnn.train_shapes            # writes weights/course/mask_rcnn_shapes.h5

(about 6 minutes of CPU time; the result matches up to floating-point noise).

- :class:`ShapesConfig`: a CPU-sized Mask R-CNN for 64x64 images scaled to 128x128
  (``"small"`` backbone, 32-channel pyramid, anchors of 16 to 256 pixels, Adam);
- :func:`shapes_dataset`: :func:`utils.data.shapes` as a Matterport ``Dataset``;
- :func:`evaluate`: validation mAP@0.5 by ``compute_ap`` and by pycocotools on the same detections.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from utils.course import ROOT
from utils.mrcnn.config import Config

CHECKPOINT = ROOT / "weights" / "course" / "mask_rcnn_shapes.h5"
"""The committed checkpoint (``3_2``, ``3_4`` fast mode)."""
TRAIN_SEED = 1
"""Seed of the training images (the validation and demo sets use other seeds)."""


class ShapesConfig(Config):
    """Mask R-CNN small enough to train on a laptop CPU in minutes: 64x64 shape images
    (scaled up to 128x128 on the way in, so small shapes cover more feature cells), background
    + square, circle, triangle; narrow backbone and pyramid."""

    NAME = "shapes"
    IMAGES_PER_GPU = 4
    NUM_CLASSES = 1 + 3
    BACKBONE = "small"
    SMALL_BACKBONE_FILTERS = (8, 16, 32, 64)
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (16, 32, 64, 128, 256)
    TOP_DOWN_PYRAMID_SIZE = 32
    RPN_CONV_SIZE = 32
    FPN_CLASSIF_FC_LAYERS_SIZE = 128
    MASK_CONV_SIZE = 32
    MASK_POOL_SIZE = 7
    MASK_SHAPE = [14, 14]
    USE_MINI_MASK = False
    MAX_GT_INSTANCES = 8
    RPN_TRAIN_ANCHORS_PER_IMAGE = 64
    PRE_NMS_LIMIT = 1000
    POST_NMS_ROIS_TRAINING = 200
    POST_NMS_ROIS_INFERENCE = 100
    TRAIN_ROIS_PER_IMAGE = 32
    DETECTION_MIN_CONFIDENCE = 0.5
    STEPS_PER_EPOCH = 200
    VALIDATION_STEPS = 4
    TRAIN_BN = True  # trained from scratch: batch statistics help
    OPTIMIZER = "adam"
    LEARNING_RATE = 0.001


class ShapesInferenceConfig(ShapesConfig):
    """:class:`ShapesConfig` for detection, one image at a time."""

    IMAGES_PER_GPU = 1


def shapes_dataset(n: int, seed: int, size: int = 64):
    """``n`` shape images of ``size`` pixels drawn with ``seed`` as a prepared
    :class:`utils.mrcnn.utils.InstanceDataset` (classes BG, square, circle, triangle)."""
    from utils import data
    from utils.mrcnn.utils import InstanceDataset

    return InstanceDataset(data.shapes(n, size=size, seed=seed), source="shapes")


def ground_truth(dataset) -> list[dict]:
    """Per image ``{"masks", "class_ids"}`` of a dataset, for :func:`evaluate`."""
    out = []
    for image_id in dataset.image_ids:
        masks, class_ids = dataset.load_mask(image_id)
        out.append({"masks": masks, "class_ids": class_ids})
    return out


def evaluate(model, dataset, iou_threshold: float = 0.5) -> dict:
    """Detect every image of ``dataset`` with an inference ``model`` and score it.

    Returns ``{"mAP": mean over images of compute_ap (Matterport), "coco_AP50": pycocotools'
    AP at IoU 0.5 on the same detections, "aps": per-image APs, "results": detections}``.
    """
    from utils.mrcnn.utils import coco_map_for_masks, mean_ap

    images = [dataset.load_image(i) for i in dataset.image_ids]
    results = model.detect(images)
    gts = ground_truth(dataset)
    m, aps = mean_ap(gts, results, iou_threshold=iou_threshold)
    coco = coco_map_for_masks(gts, results, class_names=dataset.class_names)
    return {"mAP": m, "coco_AP50": coco["AP50"], "aps": aps, "results": results}


def train(model_dir, train_set, val_set, epochs_heads: int = 1, epochs: int = 7, epochs_low_lr: int = 1,
          config: Config | None = None, verbose: int = 0):
    """Train a :class:`ShapesConfig` model from scratch, as ``3_3`` does: the heads up to
    epoch ``epochs_heads``, then every layer up to epoch ``epochs``, the last
    ``epochs_low_lr`` of them at a tenth of the learning rate; checkpoints in ``model_dir``.
    Returns the training-mode :class:`~utils.mrcnn.model.MaskRCNN`."""
    if not 0 < epochs_heads < epochs - epochs_low_lr < epochs:  # each stage trains "up to" an epoch
        raise ValueError(f"train: epochs_heads={epochs_heads}, epochs={epochs}, epochs_low_lr={epochs_low_lr} "
                         "leave a stage without epochs; need 0 < epochs_heads < epochs - epochs_low_lr < epochs")
    from utils.mrcnn import model as modellib

    config = config or ShapesConfig()
    model = modellib.MaskRCNN(mode="training", config=config, model_dir=model_dir)
    lr = config.LEARNING_RATE
    model.train(train_set, val_set, lr, epochs=epochs_heads, layers="heads", verbose=verbose)
    model.train(train_set, val_set, lr, epochs=epochs - epochs_low_lr, layers="all", verbose=verbose)
    model.train(train_set, val_set, lr / 10, epochs=epochs, layers="all", verbose=verbose)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.mrcnn.train_shapes", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=CHECKPOINT, help="where to write the weights")
    parser.add_argument("--train-images", type=int, default=1000)
    parser.add_argument("--epochs-heads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--epochs-low-lr", type=int, default=2)
    parser.add_argument("--val-seed", type=int, default=2)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "outputs" / "train_shapes")
    args = parser.parse_args(argv)

    import keras  # noqa: F401  (imported before course.setup so it seeds TensorFlow)
    import tensorflow as tf  # noqa: F401

    from utils import course
    from utils.mrcnn import model as modellib

    course.seed_everything(42)  # Python, NumPy and TensorFlow seeds, deterministic TF ops
    train_set = shapes_dataset(args.train_images, seed=TRAIN_SEED)
    val_set = shapes_dataset(100, seed=args.val_seed)
    model = train(args.model_dir, train_set, val_set, args.epochs_heads, args.epochs, args.epochs_low_lr, verbose=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(args.out)
    inference = modellib.MaskRCNN(mode="inference", config=ShapesInferenceConfig(), model_dir=args.model_dir)
    inference.load_weights(args.out, by_name=True)
    scores = evaluate(inference, val_set)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size / 1e6:.2f} MB); validation (seed {args.val_seed}, 100 images): "
          f"mAP@0.5 {scores['mAP']:.3f} (compute_ap), {scores['coco_AP50']:.3f} (pycocotools)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
