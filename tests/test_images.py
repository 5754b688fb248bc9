"""utils.images: every bad input gets an error naming the file; conversions are as documented."""
import numpy as np
import pytest
from PIL import Image

from utils import images
from utils.images import ImageError


def _save(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


def test_rgb_round_trip(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = images.save_image(tmp_path / "sub" / "a.png", arr)
    out = images.load_image(path)
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8 and np.array_equal(out, arr)
    f = images.load_image(path, dtype="float32")
    assert f.dtype == np.float32 and np.allclose(f, arr / 255.0)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        images.load_image(tmp_path / "nope.png")


def test_non_image_file_names_it(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not a picture")
    with pytest.raises(ImageError, match=r"notes\.jpg.*not an image"):
        images.load_image(p)


def test_truncated_file_is_reported_as_corrupt(tmp_path):
    arr = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    p = _save(tmp_path / "full.png", arr)
    cut = tmp_path / "cut.png"
    cut.write_bytes(p.read_bytes()[:300])
    with pytest.raises(ImageError, match=r"cut\.png"):
        images.load_image(cut)


def test_truncated_file_is_refused_even_after_face_recognition_is_imported(tmp_path):
    from PIL import ImageFile

    import face_recognition  # noqa: F401  (sets ImageFile.LOAD_TRUNCATED_IMAGES = True)

    assert ImageFile.LOAD_TRUNCATED_IMAGES
    test_truncated_file_is_reported_as_corrupt(tmp_path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES  # the global setting is left as it was


def test_folder_given_instead_of_file(tmp_path):
    with pytest.raises(ImageError, match="is a folder"):
        images.load_image(tmp_path)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    out = images.load_image(_save(tmp_path / "g.png", gray))
    assert out.shape == (3, 4, 3) and all(np.array_equal(out[..., c], gray) for c in range(3))
    assert np.array_equal(images.load_image(tmp_path / "g.png", mode="keep"), gray)
    assert images.load_image(tmp_path / "g.png", mode="gray").shape == (3, 4)


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 200          # red channel
    rgba[0, 0, 3] = 255         # opaque
    rgba[0, 1, 3] = 0           # transparent -> white
    rgba[1, :, 3] = 128         # half
    out = images.load_image(_save(tmp_path / "a.png", rgba, "RGBA"))
    assert out.shape == (2, 2, 3)
    assert tuple(out[0, 0]) == (200, 0, 0)
    assert tuple(out[0, 1]) == (255, 255, 255)
    assert tuple(out[1, 0]) == (227, 127, 127)  # 200*a + 255*(1-a), 0*a + 255*(1-a), a = 128/255
    assert images.load_image(tmp_path / "a.png", mode="keep").shape == (2, 2, 4)


def test_16_bit_is_scaled_to_8_bit(tmp_path):
    arr16 = np.array([[0, 257, 65535], [1000, 30000, 60000]], dtype=np.uint16)
    p = tmp_path / "deep.png"
    Image.fromarray(arr16).save(p)
    out = images.load_image(p, mode="gray")
    assert out.dtype == np.uint8
    assert out.tolist() == np.rint(arr16 / 257.0).astype(np.uint8).tolist()
    f = images.load_image(p, mode="keep", dtype="float32")
    assert np.isclose(f.max(), 1.0) and np.isclose(f[0, 1], 257 / 65535)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="mode="):
        images.load_image("x.png", mode="cmyk")
    with pytest.raises(ValueError, match="dtype="):
        images.load_image("x.png", dtype="int16")


def test_list_images_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        images.list_images(tmp_path / "missing")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(NotADirectoryError):
        images.list_images(tmp_path / "f.txt")
    with pytest.raises(ImageError, match="no image files"):
        images.list_images(tmp_path)
    _save(tmp_path / "b.PNG", np.zeros((2, 2, 3), np.uint8))
    _save(tmp_path / "a.jpg", np.zeros((2, 2, 3), np.uint8))
    assert [p.name for p in images.list_images(tmp_path)] == ["a.jpg", "b.PNG"]


def test_save_rejects_what_it_cannot_write(tmp_path):
    with pytest.raises(ImageError, match="shape"):
        images.save_image(tmp_path / "x.png", np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ImageError, match="dtype"):
        images.save_image(tmp_path / "x.png", np.zeros((2, 2), np.int32))
    images.save_image(tmp_path / "f.png", np.full((2, 2), 0.5))
    assert images.load_image(tmp_path / "f.png", mode="keep")[0, 0] == 128


def test_bgr_rgb_and_check_rgb():
    arr = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    assert np.array_equal(images.to_bgr(arr)[..., 0], arr[..., 2])
    assert np.array_equal(images.to_rgb(images.to_bgr(arr)), arr)
    with pytest.raises(ImageError, match="expected"):
        images.check_rgb(arr.astype(np.float32))


def test_grid_tiles_images():
    tiles = [np.full((2, 3, 3), i, np.uint8) for i in range(5)]
    g = images.grid(tiles, cols=2, pad=1)
    assert g.shape == (3 * 2 + 2, 2 * 3 + 1, 3)
    assert g[0, 0, 0] == 0 and g[3, 4, 0] == 3


def test_exif_orientation_is_applied_on_load(tmp_path):
    from PIL import Image

    upright = np.zeros((30, 20, 3), np.uint8)
    upright[:5] = 255  # a white band at the top
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned left; viewers turn it 90 degrees clockwise
    Image.fromarray(np.ascontiguousarray(np.rot90(upright))).save(tmp_path / "phone.png", exif=exif)
    got = images.load_image(tmp_path / "phone.png")
    assert got.shape == (30, 20, 3) and np.array_equal(got, upright)
    assert images.image_size(tmp_path / "phone.png") == (20, 30)


def test_decompression_bomb_is_refused_naming_the_file(tmp_path):
    from tests.test_bad_inputs import bomb_png

    (tmp_path / "bomb.png").write_bytes(bomb_png())
    for read in (images.load_image, images.image_size):
        with pytest.raises(ImageError, match=r"bomb\.png: refused, .*decompression bomb"):
            read(tmp_path / "bomb.png")


def test_failed_save_leaves_the_old_file_untouched(tmp_path):
    old = tmp_path / "photo.jpg"
    images.save_image(old, np.full((8, 8, 3), 200, np.uint8))
    before = old.read_bytes()
    with pytest.raises(ImageError, match=r"photo\.jpg: cannot save a \(8, 8, 4\) uint8 image as JPEG"):
        images.save_image(old, np.zeros((8, 8, 4), np.uint8))
    with pytest.raises(ImageError, match=r"photo\.jpg: cannot save an image holding NaN"):
        images.save_image(old, np.full((8, 8, 3), np.nan))
    assert old.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["photo.jpg"]


def test_save_replaces_atomically_and_keeps_permissions(tmp_path):
    path = tmp_path / "a.png"
    images.save_image(path, np.zeros((4, 4, 3), np.uint8))
    path.chmod(0o640)
    images.save_image(path, np.full((4, 4, 3), 9, np.uint8))
    assert path.stat().st_mode & 0o777 == 0o640 and images.load_image(path)[0, 0, 0] == 9
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_write_atomically_a_failed_write_keeps_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "m.weights.h5"
    target.write_bytes(b"old weights")
    names = []

    def fails_half_way(tmp):
        names.append(tmp.name)
        assert tmp.parent == tmp_path and tmp.exists()  # beside the target, created before write runs
        tmp.write_bytes(b"half of the new")
        raise OSError("disk full")

    for keep_suffix in (False, True):
        with pytest.raises(OSError, match="disk full"):
            images.write_atomically(target, fails_half_way, keep_suffix=keep_suffix)
        assert target.read_bytes() == b"old weights"
        assert [p.name for p in tmp_path.iterdir()] == ["m.weights.h5"]
    plain, kept = names
    assert plain.startswith(".m.weights.h5.") and plain.endswith(".tmp")
    assert kept.startswith(".m.weights.h5.") and kept.endswith(".tmp.weights.h5")


def test_write_atomically_saves_keras_weights_and_models(tmp_path):
    import keras

    def small(seed):
        keras.utils.set_random_seed(seed)
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])

    model, other = small(0), small(1)
    out = images.write_atomically(tmp_path / "sub" / "m.weights.h5", model.save_weights, keep_suffix=True)
    other.load_weights(out)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), other.get_weights()))
    again = images.write_atomically(tmp_path / "m.keras", model.save, keep_suffix=True)
    assert np.array_equal(keras.models.load_model(again).get_weights()[0], model.get_weights()[0])
    # Keras checks the file name: without keep_suffix it refuses, and nothing is left behind
    with pytest.raises(ValueError, match="weights.h5"):
        images.write_atomically(tmp_path / "x.weights.h5", model.save_weights)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["m.keras", "m.weights.h5", "sub"]
