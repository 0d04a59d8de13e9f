"""Robust image IO: every storage a benchmark uses reads to float [0, 1]; every bad file names itself."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from PIL import Image

from iosm.data.io import (
    ImageReadError, atomic_write_text, find_by_stem, image_size, read_alpha, read_image, read_mask, to_uint8,
    write_image,
)


def _gradient(height: int = 20, width: int = 30) -> np.ndarray:
    return np.tile(np.linspace(0, 255, width).round().astype(np.uint8), (height, 1))


def test_rgb_png_round_trip(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    write_image(tmp_path / "a.png", rgb)
    image = read_image(tmp_path / "a.png")
    assert image.shape == (20, 30, 3) and image.dtype == np.float32
    np.testing.assert_array_equal(to_uint8(image), rgb)


def test_grayscale_image_is_replicated(tmp_path):
    Image.fromarray(_gradient()).save(tmp_path / "g.png")
    image = read_image(tmp_path / "g.png")
    assert image.shape == (20, 30, 3)
    np.testing.assert_array_equal(image[..., 0], image[..., 2])
    np.testing.assert_allclose(image[0, :, 0], _gradient()[0] / 255.0)


def test_cmyk_jpeg_reads_as_rgb(tmp_path):
    Image.new("CMYK", (16, 12), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")  # pure red in CMYK
    image = read_image(tmp_path / "cmyk.jpg")
    assert image.shape == (12, 16, 3)
    red, green, blue = image.reshape(-1, 3).mean(axis=0)
    assert red > 0.8 and green < 0.2 and blue < 0.2


def test_palette_png(tmp_path):
    palette_image = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), mode="P")
    palette_image.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    palette_image.save(tmp_path / "p.png")
    np.testing.assert_allclose(read_image(tmp_path / "p.png")[0, 1], [1, 1, 1])
    np.testing.assert_allclose(read_alpha(tmp_path / "p.png"), [[0, 1], [1, 0]])


def test_16_bit_alpha_and_image(tmp_path):
    values = np.array([[0, 32768, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "a16.png")
    np.testing.assert_allclose(read_alpha(tmp_path / "a16.png"), [[0, 0.5, 1]], atol=1e-4)
    image = read_image(tmp_path / "a16.png")
    assert image.shape == (1, 3, 3)
    np.testing.assert_allclose(image[0, :, 1], [0, 0.5, 1], atol=1e-4)


def test_rgba_gives_alpha_channel_and_composited_image(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 128
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_allclose(read_alpha(tmp_path / "rgba.png"), 128 / 255)
    np.testing.assert_allclose(read_image(tmp_path / "rgba.png")[..., 0], 128 / 255, atol=1e-6)
    np.testing.assert_allclose(read_image(tmp_path / "rgba.png", ignore_alpha=True)[..., 0], 1.0)


def test_exif_rotated_jpeg_is_upright_and_sized_alike(tmp_path):
    stored = np.zeros((20, 40, 3), np.uint8)  # 40 wide, 20 high as stored
    stored[:, :10] = 255                      # white left edge
    exif = Image.Exif()
    exif[0x0112] = 6                          # "rotate 90 clockwise to display"
    Image.fromarray(stored).save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=100)
    image = read_image(tmp_path / "r.jpg")
    assert image.shape == (40, 20, 3)         # displayed upright: 20 wide, 40 high
    assert image[:10].mean() > 0.9 and image[15:].mean() < 0.1  # the left edge is now the top
    assert image_size(tmp_path / "r.jpg") == (40, 20)


@pytest.mark.parametrize("bad", ["empty", "garbage", "truncated", "missing"])
def test_bad_files_raise_one_error_naming_the_file(tmp_path, bad):
    path = tmp_path / f"{bad}.png"
    if bad == "empty":
        path.write_bytes(b"")
    elif bad == "garbage":
        path.write_text("this is not an image")
    elif bad == "truncated":
        write_image(tmp_path / "full.png", np.random.default_rng(0).random((64, 64, 3)))
        path.write_bytes((tmp_path / "full.png").read_bytes()[:2000])
    for reader in (read_image, read_alpha, read_mask):
        with pytest.raises(ImageReadError, match=str(path)):
            reader(path)


@pytest.mark.parametrize("bad", ["empty", "garbage", "missing"])
def test_image_size_reports_bad_headers(tmp_path, bad):
    path = tmp_path / "x.jpg"
    if bad == "empty":
        path.write_bytes(b"")
    elif bad == "garbage":
        path.write_text("not an image")
    with pytest.raises(ImageReadError, match="x.jpg"):
        image_size(path)


def test_mask_threshold_and_uint8(tmp_path):
    write_image(tmp_path / "m.png", np.array([[0.2, 0.6]], np.float32))
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), [[False, True]])
    np.testing.assert_array_equal(to_uint8(np.array([True, False])), [255, 0])


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write_text(tmp_path / "sub" / "f.txt", "hello")
    write_image(tmp_path / "sub" / "i.png", np.zeros((3, 3)))
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["f.txt", "i.png"]


@pytest.fixture(params=[0o022, 0o027, 0o002], ids=["umask022", "umask027", "umask002"])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_writes_get_the_mode_an_ordinary_write_gets(tmp_path, umask):
    with open(tmp_path / "ordinary.txt", "w") as handle:  # the oracle: what a plain write gives
        handle.write("x")
    atomic_write_text(tmp_path / "atomic.txt", "x")
    write_image(tmp_path / "image.png", np.zeros((3, 3)))
    assert _mode(tmp_path / "atomic.txt") == _mode(tmp_path / "image.png") == _mode(tmp_path / "ordinary.txt")
    assert _mode(tmp_path / "atomic.txt") & stat.S_IROTH == (0 if umask & 0o004 else stat.S_IROTH)
    # Rewriting an existing file keeps its mode, as writing into it would.
    os.chmod(tmp_path / "atomic.txt", 0o640)
    atomic_write_text(tmp_path / "atomic.txt", "y")
    assert _mode(tmp_path / "atomic.txt") == 0o640


def test_generated_dataset_folder_gets_the_mode_mkdir_gets(tmp_path, umask):
    from iosm.data.synthetic import ensure_synthetic

    (tmp_path / "ordinary").mkdir()
    root = ensure_synthetic(tmp_path / "generated", 2, 32, 0)
    assert _mode(root) == _mode(tmp_path / "ordinary")


def test_find_by_stem_matches_any_extension_and_rejects_ambiguity(tmp_path):
    for name in ("a.JPG", "b.png", ".hidden.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert set(find_by_stem(tmp_path)) == {"a", "b"}
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="'a'"):
        find_by_stem(tmp_path)
    with pytest.raises(FileNotFoundError, match="nope"):
        find_by_stem(tmp_path / "nope")
