"""Checks for day 1, pretrained CNNs and transfer learning (``1_1``, ``1_2``)."""
from __future__ import annotations

import numpy as np

from ._core import Case, run_cases

__all__ = ["preprocess_caffe", "top_k_accuracy", "unfreeze_from"]

IMAGENET_BGR_MEAN = np.array([103.939, 116.779, 123.68])


def _ref_preprocess_caffe(x):
    """The course's reference: RGB -> BGR, minus the ImageNet BGR means."""
    return np.asarray(x, dtype=np.float64)[..., ::-1] - IMAGENET_BGR_MEAN


def preprocess_caffe(func):
    """``func(x: (N, H, W, 3) float RGB in 0..255) -> (N, H, W, 3)``: VGG16/ResNet50's
    ("caffe") preprocessing: reverse the channels to BGR, then subtract the ImageNet mean
    of each BGR channel, ``[103.939, 116.779, 123.68]``; no scaling (``1_1``)."""
    rng = np.random.default_rng(11)
    pixel = np.array([[[[10.0, 20.0, 30.0]]]])
    cases = [Case((pixel,), expected=np.array([[[[30 - 103.939, 20 - 116.779, 10 - 123.68]]]]),
                  label="one pixel, RGB (10, 20, 30)")]
    for shape in [(2, 4, 5, 3), (1, 7, 3, 3)]:
        x = rng.uniform(0, 255, shape)
        cases.append(Case((x,), expected=x[..., ::-1] - IMAGENET_BGR_MEAN, label=f"random {shape}"))
    return run_cases("preprocess_caffe", func, cases, reference=_ref_preprocess_caffe,
                     hint="x[..., ::-1] turns RGB into BGR; then subtract the three means, which are "
                          "given in BGR order. Keras: keras.applications.vgg16.preprocess_input.")


def _ref_top_k(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """The course's reference top-k accuracy."""
    top = np.argsort(-np.asarray(probs), axis=1)[:, :k]
    return float(np.mean([label in row for row, label in zip(top, labels)]))


def top_k_accuracy(func):
    """``func(probs: (N, C), labels: (N,) ints, k: int) -> float``: the fraction of images
    whose true class is among the ``k`` highest scores (ILSVRC reports top-5 *error*,
    ``1 - top_k_accuracy(..., 5)``; ``1_1``)."""
    probs = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.2, 0.3, 0.5], [0.7, 0.2, 0.1]])
    labels = np.array([1, 2, 0, 2])
    cases = [Case((probs, labels, 1), expected=0.25, label="top-1 of 4 images"),
             Case((probs, labels, 2), expected=0.5, label="top-2"),
             Case((probs, labels, 3), expected=1.0, label="k = number of classes")]
    rng = np.random.default_rng(12)
    p = rng.random((50, 10))
    y = rng.integers(0, 10, 50)
    cases.append(Case((p, y, 5), expected=_ref_top_k(p, y, 5), label="50 images, 10 classes, top-5"))
    return run_cases("top_k_accuracy", func, cases, reference=_ref_top_k,
                     hint="for each row, which k classes have the highest probabilities? A row counts as right when its "
                          "label is one of them; return the share of such rows.")


def _toy_model():
    import keras

    return keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(4, 3, name="block1_conv"),
        keras.layers.BatchNormalization(name="block1_bn"),
        keras.layers.Conv2D(4, 3, name="block2_conv"),
        keras.layers.BatchNormalization(name="block2_bn"),
        keras.layers.Conv2D(4, 3, name="block3_conv"),
        keras.layers.GlobalAveragePooling2D(name="pool"),
        keras.layers.Dense(2, name="top"),
    ])


def _unfreeze_judge(model, name):
    def judge(_result):
        names = [layer.name for layer in model.layers]
        start = names.index(name)
        if not model.trainable:
            return "the model itself must be trainable (model.trainable = True) or no layer can train"
        for i, layer in enumerate(model.layers):
            is_bn = type(layer).__name__ == "BatchNormalization"
            want = i >= start and not is_bn
            if layer.trainable != want:
                why = ("BatchNormalization layers stay frozen (they keep their pretrained statistics)" if is_bn and i >= start
                       else "layers before it stay frozen" if i < start else "layers from it on train")
                return f"layer {layer.name!r} has trainable={layer.trainable}, expected {want} when unfreezing from {name!r}: {why}"
        return None

    return judge


def _ref_unfreeze_from(model, layer_name):
    """The course's reference: frozen before ``layer_name``, trainable from it on except BatchNormalization."""
    import keras

    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        raise ValueError(f"no layer {layer_name!r} in {model.name}")
    model.trainable = True
    start = names.index(layer_name)
    for i, layer in enumerate(model.layers):
        layer.trainable = i >= start and not isinstance(layer, keras.layers.BatchNormalization)
    return model


def unfreeze_from(func):
    """``func(model, layer_name)``: make ``model`` trainable from layer ``layer_name`` on
    (inclusive): every layer before it frozen, every later layer trainable except
    ``BatchNormalization`` layers, which stay frozen (``1_2``)."""
    cases = []
    for name, frozen_first in [("block2_conv", True), ("block3_conv", False), ("block1_conv", True)]:
        model = _toy_model()
        model.trainable = not frozen_first  # start from a frozen or an all-trainable model
        # run_cases hands each case a deep copy of its inputs; the judge must see the model the
        # student's function changed in place, so this (fresh, per-case) model copies as itself
        object.__setattr__(model, "__deepcopy__", lambda memo, m=model: m)
        cases.append(Case((model, name), judge=_unfreeze_judge(model, name),
                          label=f"from {name!r}, model {'frozen' if frozen_first else 'all trainable'} before"))
    return run_cases("unfreeze_from", func, cases, reference=_ref_unfreeze_from,
                     hint="set model.trainable = True first (it overrides every layer), then loop over "
                          "model.layers: frozen before the named layer, trainable from it on, except "
                          "isinstance(layer, keras.layers.BatchNormalization).")
