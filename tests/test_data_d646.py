"""Distinctions-646 compositing: the protocol's pairing, determinism, caching, explicit pairs."""

from __future__ import annotations

import numpy as np
import pytest

from iosm.data.d646 import composite_record, d646_records, fit_background
from iosm.data.io import read_alpha, read_image, write_image

FG_SIZE = (24, 32)


@pytest.fixture
def d646_root(tmp_path, write_sample):
    """ROOT/Train/{FG,GT} with 3 foregrounds, ROOT/Test/{FG,GT} with 2; BG/ with 4 backgrounds, one
    smaller than the foregrounds (it must be upscaled)."""
    root = tmp_path / "D646"
    for name in ("tr_a", "tr_b", "tr_c"):
        write_sample(root / "Train", name, "FG", "GT", size=FG_SIZE, image_ext=".png")
    for name in ("te_a", "te_b"):
        write_sample(root / "Test", name, "FG", "GT", size=FG_SIZE, image_ext=".png")
    rng = np.random.default_rng(1)
    for index, size in enumerate([(40, 50), (30, 40), (60, 45), (10, 12)]):
        write_image(tmp_path / "BG" / f"bg{index}.jpg", rng.random((*size, 3)))
    return root


def test_protocol_counts_and_splits(d646_root):
    records = d646_records(d646_root, d646_root.parent / "BG", seed=0,
                           train_backgrounds_per_foreground=2, test_backgrounds_per_foreground=3)
    splits = [r.meta["split"] for r in records]
    assert splits.count("train") == 3 * 2 and splits.count("test") == 2 * 3
    assert len({r.name for r in records}) == len(records)
    first_train = [r.meta["background"] for r in records if r.meta["foreground"] == "tr_a"]
    assert len(set(first_train)) == 2  # distinct backgrounds per foreground while they last


def test_compositing_is_deterministic_by_seed_and_matches_the_formula(d646_root):
    def build(seed):
        return d646_records(d646_root, d646_root.parent / "BG", seed=seed, train_backgrounds_per_foreground=2,
                            test_backgrounds_per_foreground=2)

    first, again, other = build(0), build(0), build(1)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(composite_record(a), composite_record(b))
    assert any(not np.array_equal(composite_record(a), composite_record(b)) for a, b in zip(first, other, strict=True))
    record = first[0]
    composite = composite_record(record)
    alpha, foreground = read_alpha(record.alpha_path), read_image(record.image_path)
    assert composite.shape == (*FG_SIZE, 3)
    opaque = alpha == 1
    np.testing.assert_allclose(composite[opaque], foreground[opaque], atol=1 / 255)


def test_cache_round_trip_is_identical(d646_root, tmp_path):
    records = d646_records(d646_root, d646_root.parent / "BG", seed=0, train_backgrounds_per_foreground=1,
                           test_backgrounds_per_foreground=1, cache_dir=tmp_path / "cache")
    fresh = composite_record(records[0])
    assert records[0].meta["cache_path"].is_file()
    np.testing.assert_array_equal(composite_record(records[0]), fresh)
    other = d646_records(d646_root, d646_root.parent / "BG", seed=0, train_backgrounds_per_foreground=2,
                         test_backgrounds_per_foreground=1, cache_dir=tmp_path / "cache")
    assert other[0].meta["cache_path"] != records[0].meta["cache_path"]  # other settings, other cache


def test_small_background_is_upscaled_then_cropped():
    background = np.random.default_rng(0).random((10, 12, 3)).astype(np.float32)
    fitted = fit_background(background, (24, 32), np.random.default_rng(0))
    assert fitted.shape == (24, 32, 3) and fitted.min() >= 0 and fitted.max() <= 1
    assert fit_background(np.zeros((50, 60, 3)), (24, 32), np.random.default_rng(0)).shape == (24, 32, 3)


def test_explicit_pairs_rebuild_a_published_list(d646_root, tmp_path):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("# foreground, background\nte_b.png,bg3.jpg\nte_a bg0\nte_b,bg1\n")
    records = d646_records(d646_root, d646_root.parent / "BG", pairs_file=pairs)
    assert [(r.name, r.meta["background"], r.meta["split"]) for r in records] == [
        ("te_b_000", "bg3", "test"), ("te_a_000", "bg0", "test"), ("te_b_001", "bg1", "test")]
    pairs.write_text("te_a,nope\n")
    with pytest.raises(ValueError, match="'nope'"):
        d646_records(d646_root, d646_root.parent / "BG", pairs_file=pairs)


def test_missing_background_folder_and_layout(d646_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="background_dir"):
        d646_records(d646_root, tmp_path / "no_bg")
    with pytest.raises(FileNotFoundError, match="Train/FG or Test/FG"):
        d646_records(tmp_path / "BG", tmp_path / "BG")
