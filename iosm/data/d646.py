"""Distinctions-646: foregrounds and alphas composited onto background photographs, deterministically.

Layout: ``ROOT/Train/FG``, ``ROOT/Train/GT``, ``ROOT/Test/FG``, ``ROOT/Test/GT`` (png foregrounds and
alphas with the same stems) and a user-given folder of backgrounds (COCO for training, VOC2012 for
testing in the usual protocol: 596 x 80 = 47,680 training and 50 x 20 = 1,000 test composites).

Each record is one (foreground, background) pair; the composite ``alpha * F + (1 - alpha) * B`` is made
when the sample is loaded (and written to ``cache_dir`` when one is given, then read back). A
background smaller than the foreground is upscaled (bicubic) to cover it, then cropped to its size at
an offset that is a fixed function of (seed, record name). The pairing is a function of the seed, or
an explicit list of pairs so that a published test set is rebuilt exactly.
"""

from __future__ import annotations

import math
import os
import re
import zlib
from pathlib import Path

import cv2
import numpy as np

from iosm.data.io import find_by_stem, read_alpha, read_image, to_uint8, write_image
from iosm.data.layouts import MattingRecord, existing_root

SPLITS = {"train": "Train", "test": "Test"}


def fit_background(background: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Crop (H, W, 3) ``background`` to ``size`` = (h, w), upscaling it (bicubic) first if it is smaller."""
    height, width = size
    scale = max(height / background.shape[0], width / background.shape[1])
    if scale > 1:
        new_size = (math.ceil(background.shape[1] * scale), math.ceil(background.shape[0] * scale))
        background = np.clip(cv2.resize(background, new_size, interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
    top = rng.integers(0, background.shape[0] - height + 1)
    left = rng.integers(0, background.shape[1] - width + 1)
    return background[top : top + height, left : left + width]


def composite_record(record: MattingRecord) -> np.ndarray:
    """The record's composite (H, W, 3) float32 [0, 1], quantised to 8 bits so cached and fresh agree."""
    cache_path = record.meta.get("cache_path")
    if cache_path and Path(cache_path).is_file():
        return read_image(cache_path)
    # An RGBA foreground keeps its colours: its alpha is the GT file's business.
    foreground, alpha = read_image(record.image_path, ignore_alpha=True), read_alpha(record.alpha_path)
    if alpha.shape != foreground.shape[:2]:
        raise ValueError(f"{record.alpha_path}: alpha is {alpha.shape[1]}x{alpha.shape[0]} but the foreground "
                         f"{record.image_path} is {foreground.shape[1]}x{foreground.shape[0]}")
    rng = np.random.default_rng(record.meta["composite_seed"])
    background = fit_background(read_image(record.meta["background_path"]), alpha.shape, rng)
    composite = to_uint8(alpha[..., None] * foreground + (1.0 - alpha[..., None]) * background)
    if cache_path:
        write_image(cache_path, composite)
    return composite.astype(np.float32) / 255.0


def read_pairs(pairs_file: str | os.PathLike) -> list[tuple[str, str]]:
    """(foreground stem, background stem) per non-empty line: two names split by a comma, tab or spaces."""
    pairs = []
    for number, line in enumerate(Path(pairs_file).read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [field for field in re.split(r"[,\t ]+", line.strip()) if field]
        if len(fields) != 2:
            raise ValueError(f"{pairs_file}:{number}: expected 'foreground,background', got {line!r}")
        pairs.append((Path(fields[0]).stem, Path(fields[1]).stem))
    return pairs


def _protocol_pairs(
    foregrounds: list[str], backgrounds: list[str], per_foreground: int, seed: int
) -> list[tuple[str, str]]:
    """Foreground i takes the next ``per_foreground`` backgrounds of a seeded shuffle (distinct while they last)."""
    order = np.random.default_rng(seed).permutation(len(backgrounds))
    return [(fg, backgrounds[order[(i * per_foreground + j) % len(backgrounds)]])
            for i, fg in enumerate(foregrounds) for j in range(per_foreground)]


def d646_records(
    root: str | os.PathLike,
    background_dir: str | os.PathLike,
    seed: int = 0,
    train_backgrounds_per_foreground: int = 80,
    test_backgrounds_per_foreground: int = 20,
    pairs_file: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> list[MattingRecord]:
    """One record per composite; ``meta["split"]`` is ``train`` (from Train/) or ``test`` (from Test/).

    Names are ``FGSTEM_NNN`` (the NNN-th background of that foreground). ``pairs_file`` replaces the
    seeded pairing (each foreground is looked up in Train/FG, then Test/FG). Composites are cached
    under ``cache_dir/seed{seed}-{settings hash}/{split}/`` when ``cache_dir`` is set.
    """
    root = existing_root(root)
    if background_dir is None or not Path(background_dir).is_dir():
        raise FileNotFoundError(
            f"data.layout.background_dir={background_dir}: folder of background photos does not exist"
        )
    backgrounds = find_by_stem(background_dir)
    if not backgrounds:
        raise ValueError(f"data.layout.background_dir={background_dir}: no background images")
    present = {split: root / folder for split, folder in SPLITS.items() if (root / folder / "FG").is_dir()}
    if not present:
        raise FileNotFoundError(f"data.root={root}: no Train/FG or Test/FG folder (Distinctions-646 layout)")
    foregrounds = {split: find_by_stem(folder / "FG") for split, folder in present.items()}
    alphas = {split: find_by_stem(folder / "GT") if (folder / "GT").is_dir() else {}
              for split, folder in present.items()}
    per_foreground = {"train": train_backgrounds_per_foreground, "test": test_backgrounds_per_foreground}

    if pairs_file is not None:
        wanted = read_pairs(pairs_file)
    else:
        wanted = [pair for split, names in foregrounds.items()
                  for pair in _protocol_pairs(list(names), sorted(backgrounds), per_foreground[split], seed)]
    # Everything that decides which composite a name stands for, so a changed setting never reads stale files.
    settings = (str(root), str(Path(background_dir).resolve()), seed, per_foreground,
                Path(pairs_file).read_text() if pairs_file is not None else None)
    cache_tag = f"seed{seed}-{zlib.crc32(repr(settings).encode()):08x}"
    records, used = [], {}
    for fg_name, bg_name in wanted:
        split = next((s for s in foregrounds if fg_name in foregrounds[s]), None)
        if split is None:
            raise ValueError(f"{pairs_file}: foreground {fg_name!r} is in neither Train/FG nor Test/FG of {root}")
        if bg_name not in backgrounds:
            raise ValueError(f"{pairs_file}: background {bg_name!r} is not in {background_dir}")
        index = used[fg_name] = used.get(fg_name, -1) + 1
        name = f"{fg_name}_{index:03d}"
        meta = {"split": split, "background_path": backgrounds[bg_name], "foreground": fg_name,
                "background": bg_name, "composite_seed": [seed, len(records)]}
        if fg_name not in alphas[split]:
            where = present[split] / "GT"
            meta["missing"] = {"alpha": f"{foregrounds[split][fg_name]}: no alpha named {fg_name}.* in {where}"}
        if cache_dir is not None:
            meta["cache_path"] = Path(cache_dir) / cache_tag / split / f"{name}.png"
        records.append(MattingRecord(name=name, image_path=foregrounds[split][fg_name],
                                     alpha_path=alphas[split].get(fg_name), meta=meta))
    return records
