"""utils.segmentation: metrics equal scikit-learn's, RLE goes through pycocotools, colour maps
invert, losses and tiling agree with direct computations, bad input is named."""
import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import f1_score, jaccard_score

from utils import segmentation as seg


@pytest.fixture
def maps():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 5, (3, 20, 30))
    p = np.where(rng.random(t.shape) < 0.6, t, rng.integers(0, 5, t.shape))
    return t, p


def test_confusion_matrix_equals_sklearn(maps):
    t, p = maps
    cm = seg.confusion_matrix(t, p, 5)
    assert np.array_equal(cm, sk_confusion(t.ravel(), p.ravel(), labels=range(5)))
    assert seg.pixel_accuracy(cm) == pytest.approx((t == p).mean())


def test_iou_and_dice_equal_sklearn(maps):
    t, p = maps
    cm = seg.confusion_matrix(t, p, 5)
    assert np.allclose(seg.iou_per_class(cm), jaccard_score(t.ravel(), p.ravel(), average=None, labels=range(5)))
    assert np.allclose(seg.dice_per_class(cm), f1_score(t.ravel(), p.ravel(), average=None, labels=range(5)))
    assert seg.mean_iou(t, p, 5) == pytest.approx(jaccard_score(t.ravel(), p.ravel(), average="macro"))
    # direct computation for one class
    c = 3
    inter, union = ((t == c) & (p == c)).sum(), ((t == c) | (p == c)).sum()
    assert seg.iou_per_class(cm)[c] == pytest.approx(inter / union)


def test_ignore_index_skips_pixels(maps):
    t, p = maps
    t = t.copy()
    t[:, :5] = 255
    keep = t != 255
    cm = seg.confusion_matrix(t, p, 5, ignore_index=255)
    assert cm.sum() == keep.sum()
    assert np.array_equal(cm, sk_confusion(t[keep], p[keep], labels=range(5)))
    assert seg.mean_iou(t, p, 5, ignore_index=255) == pytest.approx(jaccard_score(t[keep], p[keep], average="macro"))


def test_absent_class_is_nan_not_zero():
    t = np.array([[0, 1], [1, 0]])
    iou = seg.iou_per_class(seg.confusion_matrix(t, t, 3))
    assert np.allclose(iou[:2], 1) and np.isnan(iou[2])
    assert seg.report(t, t, 3)["miou"] == 1.0


def test_bad_label_maps_are_named():
    t = np.zeros((4, 4), int)
    with pytest.raises(ValueError, match="integer label map"):
        seg.confusion_matrix(t.astype(float), t, 2)
    with pytest.raises(ValueError, match="probabilities"):
        seg.confusion_matrix(t, np.full((4, 4), 0.3), 2)
    with pytest.raises(ValueError, match=r"value 7 is outside the class range 0..1"):
        seg.confusion_matrix(t, t + 7, 2)
    with pytest.raises(ValueError, match="shapes differ"):
        seg.confusion_matrix(t, np.zeros((4, 5), int), 2)
    with pytest.raises(ValueError, match="value -1"):
        seg.confusion_matrix(t - 1, t, 2)


def test_rle_round_trips_through_pycocotools():
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(1)
    m = rng.random((37, 23)) > 0.6
    rle = seg.rle_encode(m)
    assert rle["size"] == [37, 23] and isinstance(rle["counts"], str)
    assert np.array_equal(seg.rle_decode(rle), m)
    # the same string pycocotools itself writes, and its area
    ref = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    assert rle["counts"] == ref["counts"].decode()
    assert mask_utils.area({"size": rle["size"], "counts": rle["counts"].encode()}) == m.sum()
    # uncompressed counts (column-major runs starting with background)
    tiny = np.array([[0, 1], [1, 1]], bool)
    assert np.array_equal(seg.rle_decode({"size": [2, 2], "counts": [1, 3]}), tiny)
    with pytest.raises(ValueError, match="2-D"):
        seg.rle_encode(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="size"):
        seg.rle_decode({"counts": "x"})


def test_voc_colormap_and_inverse():
    cmap = seg.voc_colormap()
    assert cmap.shape == (256, 3) and cmap.dtype == np.uint8
    assert cmap[1].tolist() == [128, 0, 0] and cmap[15].tolist() == [192, 128, 128]
    assert cmap[255].tolist() == [224, 224, 192]
    assert len({tuple(c) for c in cmap}) == 256
    rng = np.random.default_rng(2)
    lab = rng.integers(0, 21, (9, 11))
    lab[0, 0] = 255
    rgb = seg.label_to_color(lab)
    assert rgb.shape == (9, 11, 3) and np.array_equal(seg.color_to_label(rgb), lab)
    rgb[2, 3] = (1, 2, 3)
    with pytest.raises(ValueError, match=r"\(1, 2, 3\) at \(row 2, column 3\)"):
        seg.color_to_label(rgb)
    assert seg.color_to_label(rgb, unknown=255)[2, 3] == 255
    with pytest.raises(ValueError, match="uint8"):
        seg.color_to_label(rgb.astype(float))


def test_overlay_checks_sizes_and_keeps_background():
    img = np.full((8, 8, 3), 100, np.uint8)
    lab = np.zeros((8, 8), int)
    lab[2:4, 2:4] = 1
    out = seg.overlay(img, lab, alpha=0.5)
    assert np.array_equal(out[0, 0], img[0, 0]) and out[2, 2].tolist() == [114, 50, 50]
    with pytest.raises(ValueError, match=r"image is \(8, 8\) but labels are \(8, 9\)"):
        seg.overlay(img, np.zeros((8, 9), int))


def test_instance_matching():
    t = np.zeros((20, 20), int)
    t[2:8, 2:8], t[10:18, 10:18] = 1, 2
    perfect = seg.match_instances(t, t * 5)
    assert (perfect["tp"], perfect["fp"], perfect["fn"], perfect["f1"]) == (2, 0, 0, 1.0)
    p = np.zeros_like(t)
    p[2:8, 2:5] = 1            # half of cell 1: IoU 0.5 -> counted at threshold 0.5
    p[0:2, 0:2] = 3            # a false positive; cell 2 is missed
    m = seg.match_instances(t, p)
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 1) and m["f1"] == pytest.approx(0.5)
    assert seg.match_instances(t, p, iou_threshold=0.6)["tp"] == 0
    iou = seg.instance_iou(t, p)
    assert iou.shape == (2, 2) and iou[0, 0] == pytest.approx(0.5)
    total = seg.instance_f1([t, t], [t, p])
    assert (total["tp"], total["fp"], total["fn"]) == (3, 1, 1)
    assert seg.match_instances(np.zeros((3, 3), int), np.zeros((3, 3), int))["f1"] == 1.0


def test_predict_tiled_equals_whole_image_filter():
    rng = np.random.default_rng(3)
    img = rng.random((50, 37, 2)).astype(np.float32)

    def blur(batch):  # a 5x5 mean filter: needs 2 pixels of context on each side
        return np.stack([ndimage.uniform_filter(b, size=(5, 5, 1), mode="mirror") for b in batch])

    out = seg.predict_tiled(blur, img, tile=16, margin=2)
    assert out.shape == img.shape
    assert np.allclose(out, ndimage.uniform_filter(img, size=(5, 5, 1), mode="mirror"), atol=1e-6)
    with pytest.raises(ValueError, match="no centre"):
        seg.predict_tiled(blur, img, tile=8, margin=4)


def test_unet_weight_map_direct():
    inst = np.zeros((12, 20), int)
    inst[3:9, 2:7], inst[3:9, 10:15] = 1, 2
    w = seg.unet_weight_map(inst, w0=10, sigma=5)
    assert np.all(w[inst > 0] == 1)
    d1 = ndimage.distance_transform_edt(inst != 1)
    d2 = ndimage.distance_transform_edt(inst != 2)
    expected = 1 + 10 * np.exp(-(d1 + d2) ** 2 / 50)
    assert np.allclose(w[inst == 0], expected[inst == 0])
    assert w[5, 8] > w[0, 0]  # the gap between the cells weighs more than a far corner
    assert np.all(seg.unet_weight_map(np.clip(inst, 0, 1)) == 1)  # one cell: no border term


def test_keras_losses():
    import keras

    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, (2, 6, 6))
    logits = rng.normal(size=(2, 6, 6, 3)).astype(np.float32)
    prob = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    ce = keras.losses.sparse_categorical_crossentropy(y, prob)
    wce = seg.weighted_cross_entropy()(seg.pack_targets(y, np.ones_like(y)), prob)
    assert np.allclose(np.asarray(wce), np.asarray(ce).mean(axis=(1, 2)), atol=1e-5)
    wce2 = seg.weighted_cross_entropy()(seg.pack_targets(y, np.full(y.shape, 2.0)), prob)
    assert np.allclose(np.asarray(wce2), 2 * np.asarray(wce), atol=1e-5)
    onehot = np.eye(3, dtype=np.float32)[y]
    assert np.allclose(np.asarray(seg.dice_loss(3)(y, onehot)), 0, atol=1e-6)
    assert np.all(np.asarray(seg.dice_loss(3)(y, prob)) > 0.2)
    assert np.allclose(np.asarray(seg.focal_loss(0.0)(y, prob)), np.asarray(ce).mean(axis=(1, 2)), atol=1e-5)
    assert np.all(np.asarray(seg.focal_loss(2.0)(y, prob)) < np.asarray(ce).mean(axis=(1, 2)))


def test_hard_cells_are_seeded_and_hard_for_otsu():
    x, inst = seg.hard_cells(20, seed=7)
    x2, inst2 = seg.hard_cells(20, seed=7)
    assert x.shape == (20, 64, 64, 1) and x.dtype == np.float32 and inst.dtype == np.int32
    assert np.array_equal(x, x2) and np.array_equal(inst, inst2)
    assert not np.array_equal(inst, seg.hard_cells(20, seed=8)[1])
    assert 0 <= x.min() and x.max() <= 1
    for i in inst:  # ids consecutive from 1
        ids = np.unique(i)
        assert ids.tolist() == list(range(len(ids)))
    otsu = np.mean([seg.binary_iou(i > 0, seg.otsu_mask(im)) for im, i in zip(x, inst)])
    assert 0.35 < otsu < 0.7
    classes = seg.instances_to_classes(inst)
    assert set(np.unique(classes)) == {0, 1, 2}
    assert np.array_equal(classes > 0, inst > 0)
    # the 3-class target gives back the instances (what the U-Net learns to predict)
    f1 = seg.instance_f1(list(inst), [seg.classes_to_instances(c) for c in classes])["f1"]
    assert f1 > 0.85


def test_pasted_semantic_matches_instances():
    from utils import data

    x, lab, names = seg.pasted_semantic(6, size=48, seed=3)
    ds = data.pasted_objects(6, size=48, seed=3)
    assert x.shape == (6, 48, 48, 3) and lab.shape == (6, 48, 48) and lab.dtype == np.uint8
    assert names == data.PASTE_CLASSES
    for i in range(6):
        assert np.array_equal(lab[i] > 0, ds.masks[i].any(-1))


def test_classical_helpers():
    m = np.zeros((30, 40), bool)
    yy, xx = np.mgrid[:30, :40]
    m |= (yy - 15) ** 2 + (xx - 12) ** 2 < 64
    m |= (yy - 15) ** 2 + (xx - 26) ** 2 < 64     # two touching disks
    assert ndimage.label(m)[1] == 1
    inst = seg.watershed_instances(m, min_distance=5)
    assert inst.max() == 2
    noisy = m.copy()
    noisy[0, 0] = True
    assert not seg.clean_mask(noisy, radius=1, min_size=5)[0, 0]


def test_unet_shapes():
    model = seg.unet((32, 32, 1), num_classes=3, base=4, depth=2)
    assert model.output_shape == (None, 32, 32, 3)
    assert seg.unet((None, None, 1), 2, base=4, depth=2)(np.zeros((1, 16, 24, 1), np.float32)).shape == (1, 16, 24, 2)


def test_segmentation_checks_pass_right_and_catch_wrong(monkeypatch):
    from utils import checks
    from utils.checks import CheckFailed

    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")
    cmap = seg.voc_colormap()
    right = checks.voc_color(lambda i: tuple(int(v) for v in cmap[i]))
    assert right(15) == (192, 128, 128)
    with pytest.raises(CheckFailed, match="voc_color"):
        checks.voc_color(lambda i: (i, i, i))

    def rf(kernel_sizes, dilations=None, strides=None):
        out, jump = 1, 1
        for j, k in enumerate(kernel_sizes):
            out += (k - 1) * (dilations[j] if dilations else 1) * jump
            jump *= strides[j] if strides else 1
        return out

    assert checks.receptive_field(rf) is rf
    with pytest.raises(CheckFailed, match="receptive_field"):  # forgets the strides
        checks.receptive_field(lambda ks, dilations=None, strides=None: rf(ks, dilations))

    def wm(instances, w0=10.0, sigma=5.0):
        return seg.unet_weight_map(instances, w0=w0, sigma=sigma)

    assert checks.weight_map(wm) is wm
    with pytest.raises(CheckFailed, match="background pixels"):  # uses only the nearest cell
        def nearest_only(instances, w0=10.0, sigma=5.0):
            ids = [i for i in np.unique(instances) if i > 0]
            w = np.ones(instances.shape)
            if len(ids) < 2:
                return w
            d = np.min([ndimage.distance_transform_edt(instances != i) for i in ids], axis=0)
            w[instances == 0] += (w0 * np.exp(-(2 * d) ** 2 / (2 * sigma ** 2)))[instances == 0]
            return w
        checks.weight_map(nearest_only)
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "0")
    assert checks.weight_map(lambda *a, **k: 1 / 0) is not None  # falls back to the reference


def test_image_mask_folder_reads_pairs_and_names_problems(tmp_path):
    from utils.images import save_image

    with pytest.raises(FileNotFoundError, match="isbi2012"):
        seg.image_mask_folder(tmp_path / "isbi2012")
    (tmp_path / "d" / "images").mkdir(parents=True)
    (tmp_path / "d" / "masks").mkdir()
    from utils.images import ImageError

    with pytest.raises(ImageError, match="no image files"):
        seg.image_mask_folder(tmp_path / "d")
    img = np.random.default_rng(0).integers(0, 255, (8, 10, 3)).astype(np.uint8)
    save_image(tmp_path / "d" / "images" / "0.png", img)
    save_image(tmp_path / "d" / "images" / "1.png", img)
    save_image(tmp_path / "d" / "masks" / "1.png", img)
    with pytest.raises(ValueError, match="no mask for 1 image"):
        seg.image_mask_folder(tmp_path / "d")
    mask = np.zeros((8, 10, 3), np.uint8)
    mask[2:5, 3:7] = 255
    save_image(tmp_path / "d" / "masks" / "0.png", mask)
    images, masks = seg.image_mask_folder(tmp_path / "d")
    assert len(images) == 2 and np.array_equal(images[0], img) and masks[0].shape == (8, 10)
    assert (masks[0] > 127).sum() == 12
    save_image(tmp_path / "d" / "masks" / "0.png", mask[:, :9])
    with pytest.raises(ValueError, match=r"mask is \(8, 9\)"):
        seg.image_mask_folder(tmp_path / "d")


def test_crf_refine_cleans_noisy_probabilities_along_the_photo_edges():
    """A two-region photo with noisy soft labels: mean-field refinement guided by the photo's colours
    recovers more of the true map; no iterations leaves the input alone; bad input is refused."""
    rng = np.random.default_rng(0)
    truth = np.zeros((48, 48), int)
    truth[:, 20:] = 1
    image = np.where(truth[..., None] == 1, [200.0, 60.0, 40.0], [30.0, 90.0, 160.0]) + rng.normal(0, 5, (48, 48, 3))
    p1 = np.clip(np.where(truth == 1, 0.6, 0.4) + rng.normal(0, 0.25, truth.shape), 0.01, 0.99)
    probs = np.stack([1 - p1, p1], -1)
    before = seg.binary_iou(truth == 1, probs.argmax(-1) == 1)
    refined = seg.crf_refine(image, probs, iterations=5)
    after = seg.binary_iou(truth == 1, refined.argmax(-1) == 1)
    assert refined.shape == probs.shape and np.allclose(refined.sum(-1), 1, atol=1e-5)
    assert before < 0.85 and after > 0.95 and after > before
    assert np.allclose(seg.crf_refine(image, probs, iterations=0), probs, atol=1e-6)
    with pytest.raises(ValueError, match="do not match"):
        seg.crf_refine(image[:10], probs)
    with pytest.raises(ValueError, match="sum to 1"):
        seg.crf_refine(image, probs * 2)


def test_train_unet_saves_atomically(tmp_path, monkeypatch):
    from tests.saving import assert_failed_save_keeps_old_file

    out = seg.train_unet(tmp_path / "unet.weights.h5", images=8, epochs=1, base=4, batch_size=4)
    seg.unet((64, 64, 1), 3, base=4).load_weights(out)  # a complete Keras weights file
    assert [p.name for p in tmp_path.iterdir()] == ["unet.weights.h5"]
    assert_failed_save_keeps_old_file(
        lambda p: seg.train_unet(p, images=8, epochs=1, base=4, batch_size=4), out, monkeypatch)
