"""Every notebook's knobs, in one table: what differs between fast and full mode.

``KNOBS[notebook]`` has up to three dicts: ``both`` (same in both modes), ``fast`` and
``full``. Notebooks read them through ``utils.course.setup(notebook)``; nothing else in
a notebook changes between modes. Add one entry per notebook, keyed by its number.
"""

KNOBS = {
    "0_1": {
        "both": {"photo": "chelsea"},
    },
    "0_2": {
        # the data set itself follows the mode: data.mnist() gives the 5,000-digit sample in fast mode
        "fast": {"epochs": 5, "batch_size": 64},
        "full": {"epochs": 10, "batch_size": 128},
    },
    "1_1": {
        "both": {"photos": ["chelsea", "coffee", "astronaut", "rocket", "grace_hopper"], "top": 5,
                 # built with weights=None just to count parameters (about 1-2 s each)
                 "count_models": ["MobileNetV2", "EfficientNetB0", "ResNet50", "InceptionV3", "VGG16"],
                 # used when weights/efficientnet-lite0.pth is missing (the fast-mode set not fetched)
                 "fallback": "digits04"},
        # fast: the real ImageNet classifier from the fast-mode weights set; full: plus the Keras applications
        "fast": {"backbones": ["efficientnet-lite0"]},
        "full": {"backbones": ["efficientnet-lite0", "VGG16", "ResNet50", "MobileNetV2"]},
    },
    "1_2": {
        # my_images: the folder for exercise 4, data/<name>/<class>/<images> (resolved from the repository root)
        "both": {"demo_shots": 10, "batch_size": 32, "standin": "digits04", "standin_fine_tune_from": "block3_conv1",
                 "my_images": "data/my_images"},
        # fast: ImageNet EfficientNet-Lite0 (weights/efficientnet-lite0.pth) on photo cut-outs pasted on photos
        "fast": {"backbone": "efficientnet-lite0", "task": "objects", "image_size": 96,
                 "fine_tune_from": "blocks_15_expand_conv", "shots": [5, 10, 25], "seeds": [0, 1],
                 "images_per_epoch": 192, "head_epochs": 3, "fine_tune_epochs": 2, "scratch_epochs": 6,
                 "scratch_size": 32},
        "full": {"backbone": "MobileNetV2", "task": "flowers", "image_size": 160, "fine_tune_from": "block_13_expand",
                 "shots": [5, 10, 25, 50, 100], "seeds": [0, 1, 2], "images_per_epoch": 512, "head_epochs": 10,
                 "fine_tune_epochs": 10, "scratch_epochs": 30, "scratch_size": 160},
    },
    "2_1": {
        "both": {"photos": ["astronaut", "grace_hopper", "chelsea"]},
        "fast": {"timing_repeats": 3, "n_features": 3000},
        "full": {"timing_repeats": 10, "n_features": 20000},
    },
    "2_2": {
        "both": {"test_seed": 1002, "batch_size": 32, "learning_rate": 3e-3, "box_loss_weight": 15.0},
        "fast": {"backbone": "small_cnn", "filters": (8, 16, 32, 64), "weights": None, "image_size": 48,
                 "train_size": 1200, "test_size": 300, "epochs": 8},
        "full": {"backbone": "mobilenet_v3_small", "filters": None, "weights": "mobilenet_v3_small_no_top",
                 "image_size": 160, "train_size": 6000, "test_size": 1000, "epochs": 15},
    },
    "4_1": {
        "both": {"detector": "hog", "tolerance": 0.6},
        # fast: the folder of people is written from the shipped photos; full: your webcam, else data/faces/
        # database: the course's face database, shared with 4_2 (fast mode keeps its own, so a class
        # database never changes the pinned fast-mode results)
        "fast": {"webcam": False, "people_folder": None, "capture_frames": 0, "database": "outputs/faces_fast.db"},
        "full": {"webcam": True, "people_folder": "data/faces", "capture_frames": 5, "database": "outputs/faces.db"},
    },
    "4_2": {
        # database: the one 4_1 enrols into (the same knob there); target: share of the enrolled people's
        # photos a tolerance must recognise while accepting no stranger (exercise 2)
        "both": {"tolerance": 0.6, "knn_k": 3, "target": 0.9},
        "fast": {"video_frames": 16, "video_side": 256, "lfw_faces": 24, "webcam": False,
                 "database": "outputs/faces_fast.db"},
        "full": {"video_frames": 120, "video_side": 480, "lfw_faces": 100, "webcam": True,
                 "database": "outputs/faces.db"},
    },
    "4_3": {
        "fast": {"side": 256, "cnn_upsample": 0, "timing_repeats": 2, "lfw_count": 16},
        # dlib's CNN on a CPU costs about 10 s per 512-pixel image with upsample=1: keep it at 0
        "full": {"side": 512, "cnn_upsample": 0, "timing_repeats": 3, "lfw_count": 100},
    },
    "4_4": {
        # train on 4 photos per person (original + 3 variants); test on unseen variant pairs and unseen LFW faces
        "both": {"train_variants": ["original", "flip", "bright", "rotate+8"], "pixels": 32, "cnn_seeds": [0, 1, 2]},
        "fast": {"embedders": ["dlib"], "test_variants": 12, "others_train": 12, "others_test": 24,
                 "cnn_epochs": 40},
        "full": {"embedders": ["dlib", "vggface2"], "test_variants": 16, "others_train": 30, "others_test": 70,
                 "cnn_epochs": 80},
    },
    "3_1": {
        "both": {"conf_threshold": 0.5, "mask_threshold": 0.3, "conf_thresholds": [0.3, 0.5, 0.7, 0.9],
                 "mask_thresholds": [0.1, 0.3, 0.5, 0.7, 0.9]},
        "fast": {"model": "own-segmenter", "train_images": 400, "epochs": 20, "net_size": 32,
                 "eval_set": "shapes", "eval_images": 100, "eval_size": 64, "photo": None},
        "full": {"model": "mask_rcnn_inception_v2_coco", "train_images": 0, "epochs": 0, "net_size": None,
                 "eval_set": "pasted_objects", "eval_images": 50, "eval_size": 256, "photo": "astronaut"},
    },
    "2_3": {
        # classic detectors and a mini R-CNN on 96x96 pasted objects; nothing pretrained in either mode
        "both": {"image_size": 96, "train_seed": 1, "test_seed": 2, "hog_class": "cat", "window": 32, "hog_cell": 8,
                 "pyramid": [1.0, 0.75, 0.56, 0.42], "svm_C": 0.01, "ss_k": 50, "ss_sigma": 0.8, "crop": 32,
                 "neg_ratio": 3, "batch_size": 64, "nms_iou": 0.5, "max_output": 100, "val_seed": 3,
                 "f1_target": 0.6, "rcnn_svm_C": 0.01},
        "fast": {"train_size": 250, "val_size": 100, "test_size": 100, "epochs": 6},
        "full": {"train_size": 1500, "val_size": 300, "test_size": 500, "epochs": 15},
    },
    "2_4": {
        # a small YOLOv1-style detector on 64x64 pasted objects, then a pretrained COCO YOLO through OpenCV
        # on the package photos: YOLOv3-tiny in fast mode, YOLOv3 in full mode (same loader and decoding)
        "both": {"image_size": 64, "grid": 8, "boxes_per_cell": 2, "train_seed": 1, "test_seed": 2,
                 "batch_size": 64, "learning_rate": 8e-3, "yolov3_input": 416, "conf_threshold": 0.5,
                 "nms_threshold": 0.4, "zoom_out": 2.0, "photos": ["astronaut", "grace_hopper", "chelsea", "coffee"]},
        "fast": {"train_size": 3200, "test_size": 300, "epochs": 12, "yolo_model": "yolov3-tiny"},
        "full": {"train_size": 8000, "test_size": 1000, "epochs": 30, "yolo_model": "yolov3"},
    },
    "2_5": {
        # a tiny SSD on 64x64 pasted objects against a small two-stage detector (selective search + CNN) on
        # the same held-out images; OpenCV's res10 face SSD in both modes; full mode adds MobileNet-SSD (VOC)
        "both": {"image_size": 64, "strides": [8, 16], "s_min": 0.25, "s_max": 0.55, "aspect_ratios": [2.0],
                 "match_iou": 0.5, "neg_pos_ratio": 3, "train_seed": 1, "test_seed": 2, "batch_size": 64,
                 "learning_rate": 8e-3, "conf_threshold": 0.5, "face_photos": ["astronaut", "grace_hopper", "chelsea"],
                 "ss_k": 50, "ss_sigma": 0.8, "crop": 24, "neg_ratio": 3, "timing_images": 20},
        "fast": {"train_size": 1800, "test_size": 300, "epochs": 8, "rcnn_train_size": 250, "rcnn_epochs": 4,
                 "compare_size": 80, "mobilenet_ssd": False, "photos": []},
        "full": {"train_size": 6000, "test_size": 1000, "epochs": 30, "rcnn_train_size": 1500, "rcnn_epochs": 10,
                 "compare_size": 1000, "mobilenet_ssd": True,
                 "photos": ["chelsea", "motorcycle_left", "astronaut", "coffee"]},
    },
    "2_6": {
        "both": {"image_size": 128, "jitter_px": 3.0, "eval_seed": 2006},
        # own_folder: where you annotate your own photos (one sub-folder per subset, VIA or labelme);
        # fast mode uses a stand-in written to outputs/2_6/own_demo from the synthetic images instead
        "fast": {"num_images": 12, "eval_images": 100, "own_folder": None, "own_classes": None},
        "full": {"num_images": 100, "eval_images": 500, "own_folder": "data/kick_scooters",
                 "own_classes": ["kick_scooter"]},
    },
    "3_2": {
        "both": {"test_seed": 3, "test_images": 20},
        # fast: the course's shapes checkpoint (python -m utils.mrcnn.train_shapes) on new shapes;
        # full: Matterport's COCO weights on data/giraffe.jpg if you add one, else a course photo.
        # crop_class: the class whose first detection the exercise saves
        "fast": {"model": "shapes", "weights": "course", "photo_file": None, "photo": None, "crop_class": "triangle"},
        "full": {"model": "coco", "weights": "mask_rcnn_coco.h5", "photo_file": "data/giraffe.jpg", "photo": "chelsea",
                 "crop_class": "giraffe"},
    },
    "3_3": {
        "both": {"train_seed": 11, "val_seed": 2, "learning_rate": 0.001,
                 # epochs of each training stage (heads, all layers, all layers at a tenth of the rate);
                 # COURSE_CLASS_DEMO=1 trains class_demo_stages instead (a lesson without hours to spare)
                 "class_demo_stages": {"heads": 1, "all": 1, "all_low_lr": 1}},
        # fast: shapes exported as VIA folders, the small CPU network from scratch;
        # full: your annotated kick scooters (data/kick_scooters/{train,val}, VIA or labelme), ResNet-101 from COCO
        "fast": {"dataset": None, "train_images": 600, "val_images": 300, "class_names": ["square", "circle", "triangle"],
                 "class_attribute": "name", "small_model": True, "init_weights": None, "images_per_gpu": 4,
                 "steps_per_epoch": 120, "validation_steps": 4, "stages": {"heads": 1, "all": 5, "all_low_lr": 1},
                 "min_confidence": 0.5},
        "full": {"dataset": "data/kick_scooters", "train_images": None, "val_images": None,
                 "class_names": ["kick_scooter"], "class_attribute": "class", "small_model": False,
                 "init_weights": "mask_rcnn_coco.h5", "images_per_gpu": 2, "steps_per_epoch": 100,
                 "validation_steps": 50, "stages": {"heads": 10, "all": 10, "all_low_lr": 10}, "min_confidence": 0.9},
    },
    "3_4": {
        "both": {"test_seed": 3, "own_seed": 4, "background": "china"},
        # fast: the course's shapes checkpoint; full: the last checkpoint of your 3_3 training, or, when there
        # is none (no time to train), Matterport's COCO model (fallback_weights) with a note
        "fast": {"small_model": True, "weights": "course", "fallback_weights": None,
                 "class_names": ["square", "circle", "triangle"], "class_attribute": "name", "min_confidence": 0.5,
                 "new_images": 4, "image_folder": None, "own_folder": None, "blur_ksize": 5},
        "full": {"small_model": False, "weights": "last", "fallback_weights": "mask_rcnn_coco.h5",
                 "class_names": ["kick_scooter"], "class_attribute": "class", "min_confidence": 0.9, "new_images": 4,
                 "image_folder": "data/kick_scooters/test", "own_folder": "data/my_annotated_image", "blur_ksize": 21},
    },
    "5_1": {
        # classical segmentation on shipped photos and synthetic scenes with known masks; nothing trained
        "both": {"taxonomy_seed": 5, "block_size": 35, "offset": 10, "cells": 20, "cells_seed": 2, "cells_block": 31,
                 "dark": 30, "bright": 150, "min_coin_area": 100, "photo": "astronaut", "work_side": 256,
                 "slic_segments": 200, "slic_compactness": 10, "felzenszwalb_scale": 200, "felzenszwalb_min_size": 50,
                 "grabcut_seed": 51, "grabcut_iters": 5, "scene_segments": 100},
        "fast": {"grabcut_images": 12},
        "full": {"grabcut_images": 60},
    },
    "5_2": {
        # fast: pasted photo cut-outs (segmentation.pasted_semantic) 64x64, 5 classes; full: Oxford-IIIT Pets trimaps
        "both": {"train_seed": 1, "test_seed": 2, "batch_size": 16, "learning_rate": 3e-3, "aspp_rates": [1, 2, 3],
                 "ignore_index": 255},
        "fast": {"dataset": None, "image_size": 64, "train_images": 384, "test_images": 120, "epochs": 3,
                 "imagenet_backbone": None},
        "full": {"dataset": "data/oxford_pets", "image_size": 128, "train_images": 3000, "test_images": 500, "epochs": 20,
                 "imagenet_backbone": "mobilenet_v3_small_no_top"},
    },
    "5_3": {
        # train on hard_cells seed 1, test on seed 2 (the course checkpoint trained on seed 500); nothing pretrained
        "both": {"image_size": 64, "train_seed": 1, "test_seed": 2, "mosaic_seed": 3, "test_images": 40,
                 "mosaic_size": 256, "tile": 64, "margin": 16, "w0": 10.0, "sigma": 5.0, "batch_size": 16,
                 "learning_rate": 3e-3, "checkpoint": "weights/course/unet_cells.weights.h5", "checkpoint_base": 16},
        "fast": {"train_images": 600, "epochs": 3, "base": 8, "real_data": None, "real_epochs": 0},
        # full: a longer training of your own, then the ISBI 2012 membranes (data/isbi2012/{images,masks})
        "full": {"train_images": 3000, "epochs": 30, "base": 16, "real_data": "data/isbi2012", "real_epochs": 20},
    },
    "6_1": {
        # code_size: the code of the linear and convolutional autoencoders (compared with PCA at the same k)
        "both": {"code_size": 8, "max_angle": 10.0, "batch_size": 64, "learning_rate": 2e-3,
                 "linear_learning_rate": 1e-2, "linear_batch_size": 128, "noise": 0.5},
        "fast": {"train_images": None, "linear_epochs": 20, "conv_epochs": 6, "denoise_epochs": 2},
        "full": {"train_images": None, "linear_epochs": 10, "conv_epochs": 15, "denoise_epochs": 5},
    },
    "6_2": {
        # a 2-D VAE with dense encoder/decoder (hidden sizes); knn_target: the k-NN accuracy on held-out latent means
        "both": {"latent_dim": 2, "hidden": (512, 256), "beta": 1.0, "learning_rate": 2e-3, "neighbors": 15,
                 "knn_target": 0.6, "grid_size": 15, "grid_limit": 2.0},
        "fast": {"epochs": 30, "batch_size": 64},
        "full": {"epochs": 30, "batch_size": 128},
    },
    "6_4": {
        # fast: scikit-learn's 8x8 digits (1,797, ships offline); full: Keras MNIST 28x28 (weights/mnist.npz)
        "both": {"latent_dim": 32, "batch_size": 64, "learning_rate": 2e-4, "aux_weight": 1.0, "test_fraction": 0.25,
                 "samples_per_class": 100},
        "fast": {"dataset": "digits8", "epochs": 20, "plain_epochs": 12, "classifier_epochs": 10},
        "full": {"dataset": "mnist", "epochs": 15, "plain_epochs": 15, "classifier_epochs": 3},
    },
    "6_3": {
        # fast: 16x16 patches cut from the shipped colour photos (generative.photo_patches), the course checkpoint
        # weights/course/dcgan_patches16.weights.h5 (python -m utils.generative train-dcgan); full: CIFAR-10 32x32
        # from weights/cifar-10-python.tar.gz (python -m utils.weights fetch cifar-10-python.tar.gz, or make weights),
        # no checkpoint: the notebook's own longer run is the model measured. learning_rate: both Adams of the
        # notebook's run (fast: a faster start for ~190 steps); ema_decay: the generator's moving average
        # (horizon ~1 / (1 - decay) steps); eval_every: training steps between two Fréchet distances
        "both": {"latent_dim": 64, "batch_size": 64, "eval_images": 800, "extractor_epochs": 5, "win_lr_ratio": 30.0},
        "fast": {"dataset": "patches16", "image_size": 16, "train_images": 4000, "epochs": 3,
                 "learning_rate": 5e-4, "ema_decay": 0.95, "eval_every": 16,
                 "checkpoint": "weights/course/dcgan_patches16.weights.h5", "checkpoint_filters": [256, 128, 64]},
        "full": {"dataset": "cifar10", "image_size": 32, "train_images": 50000, "epochs": 25,
                 "learning_rate": 2e-4, "ema_decay": 0.999, "eval_every": 500, "checkpoint": None,
                 "checkpoint_filters": None},
    },
    "7_1": {
        # demo_seed: the scenes shown and the HIT-UAV-style sample; agc: the gain control feeding the detector
        # (utils.thermal.AGC); hog_images: scenes given to OpenCV's visible-light people detector
        "both": {"demo_seed": 7100, "agc": "percentile", "stride": 4, "hog_images": 6},
        # fast: synthetic thermal scenes written as a YOLO folder (16-bit PNGs), each split from its own seed
        "fast": {"dataset": None, "folder": "outputs/7_1/thermal_yolo", "split_sizes": {"train": 450, "test": 100},
                 "seeds_by_split": {"train": 7101, "test": 7102}, "image_size": 128, "width": 8, "epochs": 5,
                 "batch_size": 8, "learning_rate": 6e-3},
        # full: HIT-UAV (or FLIR ADAS) converted to YOLO in data/hit_uav_yolo
        # (python -m utils.thermal convert-hit-uav data/HIT-UAV data/hit_uav_yolo); 640x512 images resized to
        # 384x384 (people about 9 px wide; the arrays of 2,000 images and their flips take about 4 GB)
        "full": {"dataset": "data/hit_uav_yolo", "folder": None, "split_sizes": None, "seeds_by_split": None,
                 "image_size": 384, "width": 32, "epochs": 60, "batch_size": 16, "learning_rate": 2e-3},
    },
    "8_3": {
        # synthetic figures on real photos (utils.pose): the notebook trains on seed 1, the course checkpoint
        # weights/course/pose_figures64.weights.h5 (python -m utils.pose train) on seed 500; both are tested on
        # seed 2 (single figures) and seed 3 (multi-person scenes); the marker demo uses seed 4
        "both": {"image_size": 64, "stride": 4, "sigma": 1.0, "width": 16, "batch_size": 32, "learning_rate": 3e-3,
                 "train_seed": 1, "test_seed": 2, "scene_seed": 3, "marker_seed": 4, "test_images": 300,
                 "test_scenes": 40, "checkpoint": "weights/course/pose_figures64.weights.h5", "checkpoint_width": 16,
                 "photos": ["astronaut", "grace_hopper"]},
        "fast": {"train_images": 1500, "epochs": 6, "my_photos": None},
        # full: a longer training of your own, and BlazePose on your photos (data/pose/*.jpg, one person each)
        "full": {"train_images": 6000, "epochs": 30, "my_photos": "data/pose"},
    },
    "8_1": {
        # synthetic plate scenes (utils.plates): train on seed train_seed, measure on test_seed (never trained on);
        # the detector (utils.heatmaps.centernet, 5 heat channels) is trained from scratch and saved to detector_path
        # (8_2 loads it); real_data: the openalpr benchmark photos with plate boxes (full mode), None in fast mode
        # pool: the detector averages 2x2 pixels before its CenterNet (same output grid, about half the work)
        "both": {"train_seed": 100, "test_seed": 8100, "test_scenes": 200, "width": 8, "pool": 2, "batch_size": 16,
                 "learning_rate": 3e-3, "haar_upscale": 3, "score_threshold": 0.3,
                 "detector_path": "outputs/plate_detector_8_1.keras"},
        "fast": {"image_size": 128, "train_scenes": 1000, "epochs": 10, "real_data": None, "real_limit": 0},
        "full": {"image_size": 128, "train_scenes": 6000, "epochs": 20, "real_data": "data/openalpr/endtoend",
                 "real_limit": 500},
    },
    "8_2": {
        # training plates: utils.ocr.synthetic_plates(seed train_seed), plus the plates of char_scenes training scenes
        # (make_scenes, seed train_seed) for the character classifiers; held-out scenes: utils.plates.make_scenes(seed
        # test_seed, scene_size), never used in any training (8_1 trains its detector on seed 100); detector_path: 8_1's
        # saved detector (trained here with the detector_* knobs when it is missing); nothing pretrained anywhere
        "both": {"train_seed": 11, "test_seed": 8200, "scene_size": 256, "plate_format": "LLDDLLL",
                 "seg_width": 8, "seg_threshold": 0.6, "seg_batch_size": 16, "seg_learning_rate": 3e-3, "char_width": 16, "jitter": 0.12, "char_copies": 1,
                 "batch_size": 64, "learning_rate": 5e-3, "detector_path": "outputs/plate_detector_8_1.keras",
                 "detector_seed": 100, "report_dir": "outputs/8_2", "score_threshold": 0.15},
        # detector_*: the fallback detector, trained here only when 8_1's is missing, on detector_size-pixel scenes
        "fast": {"train_plates": 400, "seg_epochs": 4, "char_plates": 300, "char_scenes": 100, "char_epochs": 3, "resnet_epochs": 2, "test_scenes": 150,
                 "detector_scenes": 800, "detector_size": 96, "detector_epochs": 4},
        "full": {"train_plates": 3000, "seg_epochs": 15, "char_plates": 2000, "char_scenes": 1000, "char_epochs": 10, "resnet_epochs": 7, "test_scenes": 1000,
                 "detector_scenes": 6000, "detector_size": 128, "detector_epochs": 20},
    },
    "7_2": {
        # tile/step: the slicing (SAHI's slice size and overlap); min_visible: a box cut by a tile border is
        # kept for training when that share of it is inside; downscale_sizes: the whole-image baselines
        "both": {"train_seed": 1, "test_seed": 2, "tile": 64, "step": 48, "min_visible": 0.5, "keep_empty": 0.1,
                 "downscale_sizes": [128, 256], "score_threshold": 0.1, "nms_iou": 0.5, "width": 16, "stride": 2,
                 "batch_size": 16, "learning_rate": 4e-3},
        # fast: synthetic 512 x 512 scenes written to a YOLO folder; full: VisDrone-DET (train and val folders
        # from https://github.com/VisDrone/VisDrone-Dataset unzipped into data/), the val images as the test set
        "fast": {"source": "synthetic", "folder": "outputs/aerial_fast", "visdrone_train": None, "visdrone_test": None,
                 "train_images": 16, "test_images": 6, "epochs": 8},
        "full": {"source": "visdrone", "folder": "outputs/aerial_visdrone",
                 "visdrone_train": "data/VisDrone2019-DET-train", "visdrone_test": "data/VisDrone2019-DET-val",
                 "train_images": 400, "test_images": 100, "epochs": 30},
    },
}
