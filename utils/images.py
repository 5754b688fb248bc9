"""Loading and saving images with errors that say which file and what was expected.

Every notebook loads pictures through these helpers (``0_1`` teaches them). Images are
NumPy arrays in **RGB order**, shape ``(H, W, 3)``, dtype ``uint8`` unless asked otherwise.
OpenCV works in BGR: convert with :func:`to_bgr` / :func:`to_rgb` at the boundary.

Documented conversions (never silent surprises):

- grayscale ``(H, W)`` → repeated to 3 channels when ``mode="rgb"``;
- RGBA → alpha composited onto a white background when ``mode="rgb"``;
- 16-bit → scaled to 8 bits (``value / 257``, rounded) when ``dtype="uint8"``;
- EXIF orientation (phone photos) → applied, so the array is upright as a viewer shows it
  (:func:`image_size` reports that upright size too).

Images over Pillow's pixel limit (``PIL.Image.MAX_IMAGE_PIXELS``, about 89 million pixels:
a "decompression bomb" whose header claims a huge size) are refused with an
:class:`ImageError` naming the file, before any pixel is decoded. :func:`save_image` never
leaves a half-written file: it encodes in memory, then replaces the target in one step.
"""
from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class ImageError(ValueError):
    """An image file that cannot be used, with the file named in the message."""


_ROTATED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def _open(path: Path, load: bool = True):
    """The PIL image of ``path`` (pixels decoded when ``load``); every failure is an
    :class:`ImageError` (or ``FileNotFoundError``) naming the file."""
    from PIL import Image, ImageFile, UnidentifiedImageError

    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (expected an image file)")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, expected an image file")
    # face_recognition sets PIL's LOAD_TRUNCATED_IMAGES globally on import, which would let a
    # truncated file load as a half-grey picture: refuse truncation here whatever was imported.
    saved, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            if load:
                img.load()
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (expected JPEG, PNG, BMP, TIFF, ...)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"{path}: refused, its header claims more pixels than "
                         f"{Image.MAX_IMAGE_PIXELS:,} (a decompression bomb?) ({err})") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied (cannot read the image file)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise ImageError(f"{path}: corrupt or truncated image ({err})") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved
    return img


def _orientation(img) -> int:
    try:
        value = img.getexif().get(0x0112, 1)  # EXIF Orientation
        return value if value in range(1, 9) else 1
    except Exception:  # noqa: BLE001 - a damaged EXIF block: show the pixels as stored
        return 1


def image_size(path) -> tuple[int, int]:
    """``(width, height)`` of an image file as :func:`load_image` returns it (EXIF
    orientation applied), read from the header only. Raises like :func:`load_image`."""
    path = Path(path)
    with _open(path, load=False) as img:
        w, h = img.size
        return (h, w) if _orientation(img) in _ROTATED else (w, h)


def _to_array(img, path: Path) -> np.ndarray:
    """PIL image → array (H, W) or (H, W, C), keeping 16-bit depth when present."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.array(img, dtype=np.uint32 if img.mode == "I" else np.uint16)
        if img.mode == "I":
            if arr.max(initial=0) > 65535:
                raise ImageError(f"{path}: 32-bit integer image, expected 8 or 16 bits per channel")
            arr = arr.astype(np.uint16)
        return arr
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA")
    elif img.mode in ("1", "L", "LA", "RGB", "RGBA"):
        pass
    elif img.mode == "CMYK" or img.mode == "YCbCr":
        img = img.convert("RGB")
    elif img.mode == "F":
        raise ImageError(f"{path}: floating-point image, expected 8 or 16 bits per channel")
    else:
        img = img.convert("RGBA")
    arr = np.array(img)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    return arr


def load_image(path, mode: str = "rgb", dtype: str = "uint8") -> np.ndarray:
    """Load an image file as an array.

    Args:
        path: file path (str or Path).
        mode: ``"rgb"`` → ``(H, W, 3)``; ``"gray"`` → ``(H, W)`` (ITU-R 601 luma);
            ``"keep"`` → whatever the file holds (``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``).
        dtype: ``"uint8"`` (0..255), ``"float32"`` (scaled to 0..1), or ``"keep"``: the
            integers as stored, uint8 or uint16 (16-bit thermal counts, ``7_1``).

    The EXIF orientation of the file is applied (a phone photo taken upright loads upright).

    Raises:
        FileNotFoundError: the file does not exist.
        ImageError: not an image, corrupt, over the pixel limit, or an unsupported pixel format.
    """
    path = Path(path)
    if mode not in ("rgb", "gray", "keep"):
        raise ValueError(f"mode={mode!r}: expected 'rgb', 'gray' or 'keep'")
    if dtype not in ("uint8", "float32", "keep"):
        raise ValueError(f"dtype={dtype!r}: expected 'uint8', 'float32' or 'keep'")
    img = _open(path)
    if _orientation(img) != 1:
        from PIL import ImageOps

        img = ImageOps.exif_transpose(img)
    arr = _to_array(img, path)
    scale = 65535.0 if arr.dtype == np.uint16 else 255.0
    if arr.ndim == 3 and arr.shape[2] == 2:  # gray + alpha
        arr = np.dstack([arr[..., 0]] * 3 + [arr[..., 1]])
    if dtype == "keep" and mode == "keep":
        return arr
    if dtype == "keep":
        dtype = "uint8" if arr.dtype == np.uint8 else "keep16"
    if mode == "rgb" and arr.dtype == np.uint8 and (arr.ndim == 2 or arr.shape[2] == 3):
        rgb8 = np.repeat(arr[..., None], 3, axis=2) if arr.ndim == 2 else arr  # no conversion needed
        return (rgb8 / 255.0).astype(np.float32) if dtype == "float32" else rgb8
    if mode in ("rgb", "gray"):
        if arr.ndim == 2:
            rgb = np.repeat(arr[..., None], 3, axis=2).astype(np.float64)
        elif arr.shape[2] == 4:
            alpha = arr[..., 3:4].astype(np.float64) / scale
            rgb = arr[..., :3].astype(np.float64) * alpha + scale * (1.0 - alpha)
        else:
            rgb = arr[..., :3].astype(np.float64)
        if mode == "gray":
            rgb = rgb @ np.array([0.299, 0.587, 0.114])
        arr = rgb
    if dtype == "float32":
        return (np.asarray(arr, dtype=np.float64) / scale).astype(np.float32)
    if dtype == "keep16":
        return np.clip(np.rint(np.asarray(arr, dtype=np.float64)), 0, 65535).astype(np.uint16)
    if scale == 65535.0:
        arr = np.asarray(arr, dtype=np.float64) / 257.0
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def write_atomically(path, write: Callable[[Path], None], keep_suffix: bool = False) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then ``os.replace`` it onto
    ``path``: readers see the old file or the new one, never a partial one, and a failed
    ``write`` leaves the old file untouched and no temporary file behind. Creates the parent
    folder; keeps an existing file's permissions. Returns ``path``.

    The temporary file (hidden, ``.<name>.<random>.tmp``) already exists, empty, when ``write``
    is called. ``keep_suffix=True`` makes its name end with ``path``'s suffixes too, for writers
    that insist on them: Keras' ``save_weights`` (``.weights.h5``) and ``save`` (``.keras``), as in
    ``write_atomically(out, model.save_weights, keep_suffix=True)``. Every weight file the course
    trains (``utils.pose``, ``utils.segmentation``, ``utils.generative``, ``utils.plates``,
    ``utils.transfer``) is saved this way."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = ".tmp" + ("".join(path.suffixes) if keep_suffix else "")
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        if path.exists():
            mode = path.stat().st_mode & 0o777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        write(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def save_image(path, image: np.ndarray) -> Path:
    """Save an RGB ``(H, W, 3)``, RGBA ``(H, W, 4)`` or grayscale ``(H, W)`` array (uint8, bool,
    or float in 0..1) in the format of the file suffix. A grayscale ``(H, W)`` uint16 array
    (e.g. thermal counts, ``7_1``) is saved with its 16 bits as PNG or TIFF; :func:`load_image`
    with ``mode="keep"`` gives it back unchanged.

    The image is checked and encoded in memory first, then written with
    :func:`write_atomically`: on any error (bad array, a format that cannot hold it such as
    RGBA as JPEG, unknown suffix, full disk) an existing file is left as it was, and the
    :class:`ImageError` names ``path``. Creates the parent folder. Returns the path written.
    """
    from PIL import Image

    path = Path(path)
    arr = np.asarray(image)
    if arr.dtype == np.uint16 and not (arr.ndim == 2 and path.suffix.lower() in (".png", ".tif", ".tiff")):
        raise ImageError(f"{path}: a uint16 image must be (H, W) and saved as .png or .tif, "
                         f"got shape {arr.shape} and suffix {path.suffix!r}")
    if arr.dtype not in (np.uint8, np.uint16):
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)):
                raise ImageError(f"{path}: cannot save an image holding NaN or infinity")
            arr = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
        elif arr.dtype == bool:
            arr = arr.astype(np.uint8) * 255
        else:
            raise ImageError(f"{path}: cannot save dtype {arr.dtype}; expected uint8, bool, float in 0..1 "
                             "or (H, W) uint16")
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))) or 0 in arr.shape:
        raise ImageError(f"{path}: cannot save shape {arr.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unknown image suffix {path.suffix!r} (expected {', '.join(IMAGE_SUFFIXES)})")
    buffer = io.BytesIO()
    try:
        Image.fromarray(np.ascontiguousarray(arr)).save(buffer, format=fmt)
    except (OSError, ValueError, KeyError) as err:
        raise ImageError(f"{path}: cannot save a {arr.shape} {arr.dtype} image as {fmt} ({err})") from None
    try:
        return write_atomically(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))
    except OSError as err:
        blocked = next((q for q in path.parents if q.exists() and not q.is_dir()), None)
        why = f"{blocked} is a file, not a folder" if blocked else (err.strerror or str(err))
        raise ImageError(f"{path}: cannot write ({why})") from None


def list_images(folder, recursive: bool = False) -> list[Path]:
    """The image files in ``folder`` (by suffix), sorted by name.

    Raises ``FileNotFoundError`` for a missing folder, ``NotADirectoryError`` for a
    file, and ``ImageError`` for a folder without any image file.
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such folder (expected a folder of images)")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: is a file, expected a folder of images")
    pattern = "**/*" if recursive else "*"
    files = sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageError(f"{folder}: no image files (expected {', '.join(IMAGE_SUFFIXES)})")
    return files


def to_bgr(rgb: np.ndarray) -> np.ndarray:
    """RGB → BGR (OpenCV's order). Works on ``(H, W, 3)``."""
    return np.ascontiguousarray(np.asarray(rgb)[..., ::-1])


def to_rgb(bgr: np.ndarray) -> np.ndarray:
    """BGR (OpenCV's order) → RGB."""
    return to_bgr(bgr)


def check_rgb(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Return ``image`` if it is an ``(H, W, 3)`` uint8 array, else raise ``ImageError``
    saying what was given and what was expected."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ImageError(f"{name}: got shape {arr.shape} dtype {arr.dtype}, expected (H, W, 3) uint8 RGB")
    return arr


def grid(images: Iterable[np.ndarray], cols: int = 4, pad: int = 2, value: int = 255) -> np.ndarray:
    """Tile same-sized images into one ``(rows*H, cols*W, C)`` array (for quick looks)."""
    images = [np.asarray(i) for i in images]
    if not images:
        raise ValueError("grid: no images given")
    h, w = images[0].shape[:2]
    c = 1 if images[0].ndim == 2 else images[0].shape[2]
    rows = (len(images) + cols - 1) // cols
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, c), value, dtype=images[0].dtype)
    for i, img in enumerate(images):
        r, k = divmod(i, cols)
        out[r * (h + pad):r * (h + pad) + h, k * (w + pad):k * (w + pad) + w] = img.reshape(h, w, c)
    return out[..., 0] if c == 1 else out
