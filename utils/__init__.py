"""Shared code for the course *Advanced Computer Vision with Deep Learning*.

One module per topic; each public function names the notebook that teaches it.

- ``utils.course``   the fast/full mode switch, knobs, notebook set-up (every notebook)
- ``utils.knobs``    every notebook's knobs in one table (epochs, data sizes, weights)
- ``utils.images``   loading and saving images with clear errors (every notebook)
- ``utils.data``     the catalogue of offline and full-mode data sets
- ``utils.weights``  the registry of pretrained assets (the fast-mode set and full mode)
- ``utils.checks``   automatic checks for the exercises (one module per topic)
- ``utils.notebooks`` notebook hygiene: cleaning, student copies
- ``utils.transfer``  pretrained backbones (Keras applications / the course's own), folder data sets (1_1, 1_2)
- ``utils.efficientnet`` EfficientNet-Lite0 in Keras, its ImageNet weights read without PyTorch (1_1, 1_2)
- ``utils.detection`` box formats, IoU, NMS, anchors, box deltas, RoI pooling, mAP, recall, drawing (2_2 on)
- ``utils.annotations`` Pascal VOC, COCO, YOLO, labelme and VIA files: read, write, validate (2_6, 3_3)
- ``utils.yolo``      YOLOv1 targets, loss and decoding; YOLOv3 through OpenCV DNN (2_4)
- ``utils.ssd``       default boxes, matching, hard negatives, focal loss; MobileNet-SSD in OpenCV (2_5)
- ``utils.mrcnn``     a Keras 3 Mask R-CNN with Matterport's public shape (3_1 to 3_4)
- ``utils.faces``     face detectors, encodings, the SQLite face database and its CLI (4_1 to 4_3)
- ``utils.vggface``   Keras 3 VGGFace (vgg16, resnet50, senet50) for the rcmalli weight files (4_4)
- ``utils.segmentation`` label-map metrics, colour maps, losses, tiling, U-Net, segmentation data (5_1 to 5_3)
- ``utils.generative`` VAE / GAN / conditional GAN with custom train steps, Fréchet distance (6_1 to 6_4)
- ``utils.datasets``  YOLO data set folders: read, validate, write, convert, tf.data (7_1, 7_2)
- ``utils.heatmaps``  Gaussian targets, sub-pixel peaks, a CenterNet-style detector, keypoint nets (7_x, 8_x)
- ``utils.thermal``   thermal radiometry, gain control, synthetic thermal scenes, HIT-UAV (7_1)
- ``utils.aerial``    aerial scenes, tiles and sliced inference, DOTA and VisDrone readers (7_2)
- ``utils.plates``    synthetic plates and scenes, rectification, plate detectors (8_1)
- ``utils.ocr``       character segmentation and reading, the two-stage pipeline, the lab report (8_2)
- ``utils.pose``      figures, markers, PCK, top-down and bottom-up pose, BlazePose (8_3)
"""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# TensorFlow's C++ start-up lines ("Could not find cuda drivers", "failed call to cuInit",
# "NodeDef mentions attribute ...") look like failures to a student; they are not. Importing
# `utils` before TensorFlow (every set-up cell does) keeps them out of notebook outputs: the log
# level hides those TensorFlow logs after start-up, and in a notebook kernel TensorFlow is imported
# here once with its start-up lines filtered (anything else it prints still shows).
# A GPU, when there is one, is still reported by the set-up banner.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if "ipykernel" in _sys.modules:
    from utils.course import import_tensorflow_quietly as _import_tf

    _import_tf()
