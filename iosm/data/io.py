"""Robust image IO: every reader returns float arrays in [0, 1] or raises :class:`ImageReadError`.

Benchmarks mix JPEG and PNG, 8- and 16-bit, gray, palette, RGBA and CMYK files, some of them
EXIF-rotated; a matting metric silently computed on a mis-read alpha is worse than a crash, so every
path through here either normalises the file or names it and says what is wrong.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class ImageReadError(ValueError):
    """An image, alpha or mask file that cannot be used; the message names the file and the problem."""


def _existing_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    return path


def _open(path: str | os.PathLike) -> Image.Image:
    path = _existing_file(path)
    try:
        image = Image.open(path)
        image.load()  # decode now, so truncated files fail here rather than later
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not a readable image (unknown format)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(f"{path}: cannot decode ({error}); the file may be truncated") from None
    if image.width == 0 or image.height == 0:
        raise ImageReadError(f"{path}: image has zero size")
    return ImageOps.exif_transpose(image)


def _to_unit_float(array: np.ndarray, path: Path) -> np.ndarray:
    """Integer or float pixel values to float32 in [0, 1], by the storage's bit depth."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16 or (array.dtype.kind in "iu" and array.max(initial=0) > 255):
        return np.clip(array.astype(np.float32) / 65535.0, 0.0, 1.0)
    if array.dtype.kind in "iu":
        return array.astype(np.float32) / 255.0
    if array.dtype == bool:
        return array.astype(np.float32)
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise ImageReadError(f"{path}: contains NaN or infinite values")
    if array.max(initial=0.0) > 1.0:  # float TIFFs stored on a 0..255 scale
        array = array / 255.0
    return np.clip(array, 0.0, 1.0)


def read_image(path: str | os.PathLike, ignore_alpha: bool = False) -> np.ndarray:
    """Read a photograph as ``(H, W, 3)`` float32 RGB in [0, 1], whatever its storage.

    Grayscale is replicated, palette and CMYK are converted, RGBA is composited on black (alpha
    is the matte's business, not the photograph's) unless ``ignore_alpha`` (a foreground layer to be
    composited, whose colours must stay unpremultiplied), EXIF orientation is applied.
    """
    image = _open(path)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit / 32-bit gray: keep the depth
        gray = _to_unit_float(np.asarray(image), Path(path))
        return np.repeat(gray[..., None], 3, axis=2)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if has_alpha and not ignore_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        return np.ascontiguousarray(rgba[..., :3] * rgba[..., 3:])
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def read_alpha(path: str | os.PathLike) -> np.ndarray:
    """Read an alpha matte, mask or trimap as ``(H, W)`` float32 in [0, 1], any bit depth.

    RGB files (R=G=B, as many datasets store them) give their first channel; RGBA/LA files give
    their alpha channel when it carries information, else their gray value.
    """
    path = Path(path)
    image = _open(path)
    if image.mode == "1":
        return np.asarray(image, dtype=np.float32)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F", "L"):
        return _to_unit_float(np.asarray(image), path)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "L")
    array = np.asarray(image)
    if array.ndim == 2:
        return _to_unit_float(array, path)
    if image.mode in ("RGBA", "LA") and array[..., -1].min() < 255:
        return _to_unit_float(array[..., -1], path)
    if image.mode in ("RGB", "RGBA", "LA"):
        return _to_unit_float(array[..., 0], path)
    return _to_unit_float(np.asarray(image.convert("L")), path)


def read_mask(path: str | os.PathLike, threshold: float = 0.5) -> np.ndarray:
    """Read a binary mask as ``(H, W)`` bool (``alpha > threshold``)."""
    return read_alpha(path) > threshold


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Float in [0, 1] (or bool) to uint8 0..255, rounding to nearest."""
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    return np.clip(np.rint(np.asarray(array, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back: POSIX has no getter before
    Linux's /proc, and a file another thread creates in between gets at most the usual 0o022)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def ordinary_mode(directory: bool = False) -> int:
    """The permission bits ``open(path, "w")`` (or ``mkdir``) would give a new file (folder): 0o666
    (0o777) less the umask. ``tempfile`` makes its files 0o600 and folders 0o700 whatever the umask,
    which would leave every output readable by its owner only (a shared cluster, a web server)."""
    return (0o777 if directory else 0o666) & ~current_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A reader, or a resumed run, never sees a half-written file: it sees the old one or the new one.
    The file gets the mode an ordinary write would give it: an existing file's own, else the umask's.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = ordinary_mode()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_image(path: str | os.PathLike, array: np.ndarray, quality: int = 95) -> Path:
    """Atomically write an image: ``(H, W)`` gray, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA.

    Float input is taken as [0, 1]; the format follows the suffix (PNG is lossless, use it for
    alphas and masks).
    """
    path = Path(path)
    pixels = array if array.dtype == np.uint8 else to_uint8(array)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    buffer = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(pixels))
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    else:
        image.save(buffer, format=Image.registered_extensions().get(suffix, "PNG"))
    return atomic_write_bytes(path, buffer.getvalue())


def find_by_stem(folder: str | os.PathLike, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> dict[str, Path]:
    """Map file stem -> path for the image files in ``folder`` (hidden and temporary files skipped).

    Two files with the same stem and different extensions are ambiguous and raise.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: folder does not exist")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in extensions or not path.is_file():
            continue
        if path.stem in found:
            raise ValueError(f"{folder}: two files share the stem {path.stem!r}: {found[path.stem].name}, {path.name}")
        found[path.stem] = path
    return found


_ORIENTATIONS_THAT_SWAP_AXES = (5, 6, 7, 8)  # EXIF: transposed and 90/270-degree rotations


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(H, W)`` of an image as :func:`read_image` returns it (EXIF rotation applied), from its header.

    Cheap (no full decode), so a dataset can check every file up front; a truncated body is only
    found by a full read.
    """
    path = _existing_file(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(0x0112, 1)
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not a readable image (unknown format)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(f"{path}: cannot read the header ({error})") from None
    if width == 0 or height == 0:
        raise ImageReadError(f"{path}: image has zero size")
    return (width, height) if orientation in _ORIENTATIONS_THAT_SWAP_AXES else (height, width)
