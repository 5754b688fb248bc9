"""Mask R-CNN for the course (day 3, notebooks ``3_1`` to ``3_4``), in Keras 3 with
Matterport's public shape and role split:

- ``utils.mrcnn.config``    :class:`~utils.mrcnn.config.Config`, subclassed per experiment
- ``utils.mrcnn.model``     :class:`~utils.mrcnn.model.MaskRCNN` (build, train, load/save weights, detect)
- ``utils.mrcnn.utils``     ``Dataset``, boxes, masks, anchors, ``compute_ap``
- ``utils.mrcnn.visualize`` ``display_instances``, ``display_top_masks``, ``plot_precision_recall``
- ``utils.mrcnn.train_shapes`` the course's small CPU model on synthetic shapes and the command
  that trains its committed checkpoint (``python -m utils.mrcnn.train_shapes``)
- ``utils.mrcnn.opencv``    Mask R-CNN through OpenCV's DNN module (``3_1``)

Import the parts you need (``from utils.mrcnn import model as modellib``); importing this
package alone loads neither TensorFlow nor Keras.
"""
