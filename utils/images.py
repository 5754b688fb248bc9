"""Loading and saving images with errors that say which file and what was expected.

Every notebook loads pictures through these helpers (``0_1`` teaches them). Images are
NumPy arrays in **RGB order**, shape ``(H, W, 3)``, dtype ``uint8`` unless asked otherwise.
OpenCV works in BGR: convert with :func:`to_bgr` / :func:`to_rgb` at the boundary.

Documented conversions (never silent surprises):

- grayscale ``(H, W)`` → repeated to 3 channels when ``mode="rgb"``;
- RGBA → alpha composited onto a white background when ``mode="rgb"``;
- 16-bit → scaled to 8 bits (``value / 257``, rounded) when ``dtype="uint8"``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class ImageError(ValueError):
    """An image file that cannot be used, with the file named in the message."""


def _open(path: Path):
    from PIL import Image, ImageFile, UnidentifiedImageError

    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (expected an image file)")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, expected an image file")
    # face_recognition sets PIL's LOAD_TRUNCATED_IMAGES globally on import, which would let a
    # truncated file load as a half-grey picture: refuse truncation here whatever was imported.
    saved, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        img = Image.open(path)
        img.load()
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (expected JPEG, PNG, BMP, TIFF, ...)") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{path}: corrupt or truncated image ({err})") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved
    return img


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
        dtype: ``"uint8"`` (0..255) or ``"float32"`` (scaled to 0..1).

    Raises:
        FileNotFoundError: the file does not exist.
        ImageError: not an image, corrupt, or an unsupported pixel format.
    """
    path = Path(path)
    if mode not in ("rgb", "gray", "keep"):
        raise ValueError(f"mode={mode!r}: expected 'rgb', 'gray' or 'keep'")
    if dtype not in ("uint8", "float32"):
        raise ValueError(f"dtype={dtype!r}: expected 'uint8' or 'float32'")
    arr = _to_array(_open(path), path)
    scale = 65535.0 if arr.dtype == np.uint16 else 255.0
    if arr.ndim == 3 and arr.shape[2] == 2:  # gray + alpha
        arr = np.dstack([arr[..., 0]] * 3 + [arr[..., 1]])
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
    if scale == 65535.0:
        arr = np.asarray(arr, dtype=np.float64) / 257.0
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def save_image(path, image: np.ndarray) -> Path:
    """Save an RGB ``(H, W, 3)`` or grayscale ``(H, W)`` array (uint8, or float in 0..1).

    Creates the parent folder. Returns the path written.
    """
    from PIL import Image

    path = Path(path)
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        if arr.dtype.kind == "f":
            arr = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
        elif arr.dtype == bool:
            arr = arr.astype(np.uint8) * 255
        else:
            raise ImageError(f"{path}: cannot save dtype {arr.dtype}; expected uint8, bool or float in 0..1")
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ImageError(f"{path}: cannot save shape {arr.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


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
