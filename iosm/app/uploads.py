"""Uploaded files: checked against the app's limits before they are decoded, then read by the IO layer.

A web page takes files from anyone, so a file is refused, with a message that names it and the limit,
when it is too big in bytes (``app.max_upload_mb``) or in pixels (``app.max_pixels``, read from the
header so that a decompression bomb is never decoded), or too small to refine (the refiner's own
minimum side). Anything the IO layer reads is accepted (8/16-bit, gray, palette, RGBA, CMYK, EXIF).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iosm.data.io import ImageReadError, image_size, read_alpha, read_image
from iosm.refine.refiner import MIN_IMAGE_SIDE

MEGABYTE = 1024 * 1024


@dataclass(frozen=True)
class UploadLimits:
    """``max_bytes`` per file; ``max_pixels`` width x height of a photograph (masks and alphas must
    match the photograph, so they are held to the same)."""

    max_bytes: int
    max_pixels: int

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_pixels < MIN_IMAGE_SIDE**2:
            raise ValueError(f"app.max_upload_mb / app.max_pixels: expected positive limits that admit a "
                             f"{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} image, got {self.max_bytes} bytes, {self.max_pixels} px")

    def check(self, path: str | os.PathLike, what: str) -> tuple[int, int]:
        """``(H, W)`` of the image file at ``path`` after checking its bytes and pixels; ``what`` names
        the upload in the message ("photograph", "rough mask")."""
        path = Path(path)
        if not path.is_file():
            raise ImageReadError(f"{what}: no file was uploaded")
        size = path.stat().st_size
        if size > self.max_bytes:
            raise ImageReadError(f"{what} {display_name(path)}: {size / MEGABYTE:.1f} MB is over the "
                                 f"{self.max_bytes / MEGABYTE:.1f} MB limit (app.max_upload_mb); upload a smaller file")
        try:
            height, width = image_size(path)
        except ImageReadError as error:
            raise ImageReadError(f"{what} {display_name(path)}: {_without_path(error, path)}") from None
        if height * width > self.max_pixels:
            raise ImageReadError(f"{what} {display_name(path)}: {width}x{height} px is over the {self.max_pixels:,} "
                                 "pixel limit (app.max_pixels); downscale it first")
        if min(height, width) < MIN_IMAGE_SIDE:
            raise ImageReadError(f"{what} {display_name(path)}: {width}x{height} px is too small to refine "
                                 f"(at least {MIN_IMAGE_SIDE} px a side)")
        return height, width

    def read_photo(self, path: str | os.PathLike) -> np.ndarray:
        """The photograph, ``(H, W, 3)`` float32 RGB in [0, 1]."""
        self.check(path, "photograph")
        return _read(read_image, path, "photograph")

    def read_alpha(self, path: str | os.PathLike, what: str) -> np.ndarray:
        """A mask or ground-truth alpha, ``(H, W)`` float32 in [0, 1]."""
        self.check(path, what)
        return _read(read_alpha, path, what)


def _read(reader, path: str | os.PathLike, what: str) -> np.ndarray:
    try:
        return reader(path)
    except ImageReadError as error:
        raise ImageReadError(f"{what} {display_name(path)}: {_without_path(error, Path(path))}") from None


def display_name(path: str | os.PathLike) -> str:
    """The file's own name: the server's temporary folders are no business of the page."""
    return Path(path).name


def _without_path(error: Exception, path: Path) -> str:
    return str(error).replace(f"{path}: ", "")


def safe_stem(path: str | os.PathLike) -> str:
    """A file-name-safe stem of an upload (``my photo (1).JPG`` -> ``my_photo_1``), for output names."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(path).stem).strip("_")
    return stem[:64] or "image"
