"""utils.heatmaps: Gaussian targets decode back to their points and boxes, peaks are found and
refined to sub-pixel precision, the CenterNet loss prefers the right answer and a short
training on an easy set learns it, the networks save and load, bad input is named."""
import numpy as np
import pytest

from utils import detection, heatmaps as hm


def test_gaussian_peak_is_one_on_a_cell_and_channels_follow_points():
    maps = hm.gaussian_heatmaps([[3, 4], [10.0, 2.0]], (16, 20), sigma=1.5, visible=[True, False])
    assert maps.shape == (16, 20, 2) and maps.dtype == np.float32
    assert maps[4, 3, 0] == 1.0 and np.unravel_index(maps[..., 0].argmax(), (16, 20)) == (4, 3)
    assert not maps[..., 1].any()            # invisible point: empty channel
    assert maps[4, 3 + 3, 0] == pytest.approx(np.exp(-9 / (2 * 1.5 ** 2)), rel=1e-6)


def test_refine_recovers_sub_pixel_points_exactly_for_gaussians():
    rng = np.random.default_rng(0)
    pts = rng.uniform(3, 28, (6, 2))
    maps = hm.gaussian_heatmaps(pts, (32, 32), sigma=2.0)
    xy, scores = hm.decode_keypoints(maps, stride=4)
    assert np.allclose(xy, pts * 4, atol=1e-3)
    assert np.all(scores > 0.7)
    # the plain arg-max is off by up to half a cell: refinement is what makes it exact
    raw = np.array([np.unravel_index(maps[..., k].argmax(), (32, 32))[::-1] for k in range(6)])
    assert np.abs(raw - pts).max() > 0.1


def test_refine_on_border_and_flat_maps_keeps_the_cell():
    m = np.zeros((5, 5))
    m[0, 2] = 1.0
    assert hm.refine_peak(m, 0, 2) == (2.0, 0.0)
    assert hm.refine_peak(np.ones((5, 5)), 2, 2) == (2.0, 2.0)


def test_find_peaks_separates_peaks_best_first_and_respects_threshold():
    m = np.zeros((20, 20))
    for (x, y), s in zip([(3, 3), (15, 10), (8, 16)], [0.9, 0.5, 0.2]):
        m = np.maximum(m, s * hm.gaussian_heatmaps([[x, y]], (20, 20), 1.0)[..., 0])
    yx, scores = hm.find_peaks(m, threshold=0.3)
    assert yx.tolist() == [[3, 3], [10, 15]] and np.allclose(scores, [0.9, 0.5])
    yx, _ = hm.find_peaks(m, threshold=0.1, max_peaks=2)
    assert len(yx) == 2
    flat = np.zeros((6, 6))
    flat[2, 2:4] = 1.0                       # a two-cell plateau is one peak
    assert len(hm.find_peaks(flat, 0.5)[0]) == 1


def test_box_targets_decode_back_to_the_boxes():
    boxes = np.array([[10, 12, 30, 20], [40.5, 41, 47, 49], [5, 44, 13, 60]], float)
    classes = np.array([0, 1, 1])
    t = hm.box_targets(boxes, classes, (64, 64), num_classes=2, stride=4)
    assert t.shape == (16, 16, 7) and t[..., 6].sum() == 3
    got, scores, cls = hm.decode_boxes(t[..., :6], stride=4, score_threshold=0.5)
    assert len(got) == 3 and np.all(scores == 1.0)
    ious = detection.iou(boxes, got)
    best = ious.argmax(axis=1)
    assert np.all(ious.max(axis=1) > 0.999) and np.array_equal(cls[best], classes)
    batch = hm.box_targets_batch([boxes, boxes[:0]], [classes, classes[:0]], (64, 64), 2)
    assert batch.shape == (2, 16, 16, 7) and not batch[1].any()


def test_bigger_boxes_get_wider_peaks():
    assert hm.box_sigma(1, 1) == 0.5 and hm.box_sigma(12, 12) == pytest.approx(2.0)


@pytest.mark.parametrize("call, words", [
    (lambda: hm.box_targets([[0, 0, np.nan, 4]], [0], (16, 16), 1), "finite"),
    (lambda: hm.box_targets([[5, 5, 2, 8]], [0], (16, 16), 1), "boxes[0]"),
    (lambda: hm.box_targets([[0, 0, 4, 4]], [3], (16, 16), 2), "class_ids"),
    (lambda: hm.box_targets([[0, 0, 4, 4]], [0, 1], (16, 16), 2), "one per box"),
    (lambda: hm.box_targets([[0, 0, 4, 4]], [0], (18, 16), 1), "divisible by stride"),
    (lambda: hm.gaussian_heatmaps([[1, 2, 3]], (8, 8)), "(K, 2)"),
    (lambda: hm.find_peaks(np.zeros((4, 4, 2))), "2-D map"),
    (lambda: hm.find_peaks(np.zeros((4, 4)), window=2), "odd"),
    (lambda: hm.refine_peak(np.zeros((4, 4)), 5, 0), "outside"),
    (lambda: hm.decode_boxes(np.zeros((4, 4, 3))), "C + 4"),
    (lambda: hm.centernet((60, 64, 3)), "multiples of 16"),
    (lambda: hm.keypoint_net((64, 64, 3), stride=3), "stride"),
])
def test_bad_input_is_named(call, words):
    with pytest.raises(ValueError, match=None) as err:
        call()
    assert words in str(err.value)


def _squares(n, seed):
    """Easy set: bright squares (class 0) and dark-framed bars (class 1) on noise, 64x64."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 0.3, (n, 64, 64, 1)).astype(np.float32)
    boxes, classes = [], []
    for i in range(n):
        b, c = [], []
        for _ in range(rng.integers(1, 3)):
            k = int(rng.integers(0, 2))
            w, h = (10, 10) if k == 0 else (20, 6)
            x, y = rng.integers(2, 62 - w), rng.integers(2, 62 - h)
            images[i, y:y + h, x:x + w] = 1.0 if k == 0 else 0.6
            b.append((x, y, x + w, y + h))
            c.append(k)
        boxes.append(np.array(b, float))
        classes.append(np.array(c))
    return images, boxes, classes


def test_centernet_loss_prefers_the_truth_and_short_training_learns():
    import keras

    keras.utils.set_random_seed(0)
    images, boxes, classes = _squares(96, 0)
    targets = hm.box_targets_batch(boxes, classes, (64, 64), 2)
    truth = targets[..., :6]
    noise = np.random.default_rng(1).uniform(0, 1, truth.shape).astype(np.float32)
    assert float(hm.centernet_loss(targets, truth)) < 0.2 * float(hm.centernet_loss(targets, noise))

    model = hm.centernet((64, 64, 1), num_classes=2, width=8)
    assert model.output_shape == (None, 16, 16, 6)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=hm.centernet_loss)
    history = model.fit(images, targets, batch_size=16, epochs=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    test_images, test_boxes, test_classes = _squares(16, 99)
    out = model.predict(test_images, verbose=0)
    found = 0
    for o, b in zip(out, test_boxes):
        got, _, _ = hm.decode_boxes(o, score_threshold=0.3)
        if len(got):
            found += int((detection.iou(b, got).max(axis=1) >= 0.5).sum())
    assert found >= 0.7 * sum(len(b) for b in test_boxes)


def test_networks_save_and_load_with_identical_outputs(tmp_path):
    import keras

    x = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    for make in (lambda: hm.centernet((32, 32, 3), 3, width=8), lambda: hm.keypoint_net((32, 32, 3), 5, width=8)):
        keras.utils.set_random_seed(1)
        a = make()
        keras.utils.set_random_seed(2)
        b = make()
        path = tmp_path / f"{a.name}.weights.h5"
        a.save_weights(path)
        b.load_weights(path)
        assert np.array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
    assert hm.keypoint_net((32, 32, 3), 5, width=8).output_shape == (None, 8, 8, 5)
