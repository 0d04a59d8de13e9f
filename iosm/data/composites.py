"""Composites of real photographed foregrounds on many backgrounds: training data with real hair.

The synthetic set's strands are drawn; the shared photographs' (``paths.realdata_dir``) are measured.
Each photograph of ``names`` (the recorded TUNE half by default: nothing here ever sees REPORT) gives
its measured alpha and its foreground colours (pymatting's ``estimate_foreground_ml`` on image and
alpha, so the old background does not travel with the hair). Every composite then takes one
foreground, flips it at random, scales it (its long side 1-2.5x the crop), jitters its colours, and
lays it on a crop of a photograph or tinted texture that scikit-image ships; the square crop is
centred on a soft (0 < alpha < 1) pixel most of the time, so most crops hold hair or fur. A share
``drawn_fraction`` of the composites is instead drawn by the synthetic generator
(:func:`iosm.data.synthetic.make_sample`, seed ``DRAWN_SEED_OFFSET + seed``: disjoint from the seeds of
``data=synthetic`` and of the held-out synthetic set), so that a network trained here also sees the
drawn strands and photographed foregrounds of that domain.

Written in the AIM-500 layout (``original/``, ``mask/`` = alpha, ``trimap/``) plus ``init/`` (a rough
mask: the alpha perturbed like a refined mask) and ``prior/``: the weight-free matte's alpha from
``init/`` (:class:`iosm.matting.ClassicalMatte`, its band widened over random blobs where a refiner's
evidence would widen it), the input a guided MTM (``model=mtm_guided``) corrects.
The output is a pure function of the settings; ``data=composites`` generates it into the cache once.

A second kind, for benchmarks rather than training (:func:`generate_whole_composites`): each named
photograph's whole foreground, in its own frame, on other backgrounds, with its dataset trimap and a
segmenter-like rough mask (``data=synthetic``'s errors), so ``benchmarks/alpha_quality.py`` can score
the pipeline on composites with measured hair whose backgrounds nothing was tuned on::

    python -m iosm.data.composites OUT --realdata ../shared/realdata/alphamatting-training-lowres --half report
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from iosm.data.io import atomic_write_text, read_alpha, read_image, to_uint8, write_image
from iosm.data.layouts import MattingRecord, aim500_records
from iosm.data.masks import perturb_mask
from iosm.data.realdata_split import REPORT, TUNE
from iosm.data.synthetic import PHOTOS, TEXTURES, _crop, ensure_generated, make_sample, make_trimap

GENERATOR_VERSION = 2  # 2: a drawn_fraction draw per composite
SCALE_RANGE = (1.0, 2.5)     # the foreground's long side, in crop sides
SOFT_CENTRE_PROBABILITY = 0.8  # crops centred on a soft alpha pixel (else anywhere on the object's box)
# Rough masks like the refiner's output (IoU ~0.95), not like a segmenter's (severity 1, IoU ~0.86).
INIT_SEVERITY = 0.4
EVIDENCE_GRID = 6  # blobs of the stand-in evidence: about a sixth of the crop across
DRAWN_SEED_OFFSET = 1000


def load_foregrounds(realdata_dir: str | os.PathLike, names: tuple[str, ...]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """[(name, foreground (H, W, 3) float32 [0, 1], alpha (H, W) float32)] of the named photographs."""
    from iosm.matting.base import estimate_foreground

    records = {record.name: record for record in aim500_records(realdata_dir)}
    missing = [name for name in names if name not in records or records[name].alpha_path is None]
    if missing:
        raise FileNotFoundError(f"paths.realdata_dir={realdata_dir}: no photograph with a measured alpha named {missing}")
    foregrounds = []
    for name in names:
        image, alpha = read_image(records[name].image_path), read_alpha(records[name].alpha_path)
        foregrounds.append((name, estimate_foreground(image, alpha), alpha.astype(np.float32)))
    return foregrounds


def make_composite(rng: np.random.Generator, foreground: np.ndarray, alpha: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One (image (S, S, 3), alpha (S, S)) composite of ``foreground``/``alpha`` on a random background."""
    if rng.random() < 0.5:
        foreground, alpha = foreground[:, ::-1], alpha[:, ::-1]
    scale = rng.uniform(*SCALE_RANGE) * size / max(alpha.shape)
    shape = (max(size, round(alpha.shape[1] * scale)), max(size, round(alpha.shape[0] * scale)))
    foreground = cv2.resize(np.ascontiguousarray(foreground), shape, interpolation=cv2.INTER_AREA)
    alpha = np.clip(cv2.resize(np.ascontiguousarray(alpha), shape, interpolation=cv2.INTER_AREA), 0.0, 1.0)
    gain = rng.uniform(0.8, 1.2) * rng.uniform(0.9, 1.1, size=3)  # brightness, then per-channel colour
    foreground = np.clip((foreground - 0.5) * rng.uniform(0.8, 1.2) + 0.5, 0.0, 1.0) * gain
    soft = np.argwhere((alpha > 0.05) & (alpha < 0.95))
    if len(soft) and rng.random() < SOFT_CENTRE_PROBABILITY:
        centre = soft[rng.integers(len(soft))]
    else:
        solid = np.argwhere(alpha > 0.5)
        centre = solid[rng.integers(len(solid))] if len(solid) else np.array(alpha.shape) // 2
    top = int(np.clip(centre[0] - size // 2, 0, alpha.shape[0] - size))
    left = int(np.clip(centre[1] - size // 2, 0, alpha.shape[1] - size))
    alpha = alpha[top: top + size, left: left + size]
    foreground = np.clip(foreground[top: top + size, left: left + size], 0.0, 1.0)
    background = random_background(rng, size)
    image = alpha[..., None] * foreground + (1.0 - alpha[..., None]) * background
    return image.astype(np.float32), alpha.astype(np.float32)


def random_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(S, S, 3) float32: a crop of a photograph or tinted texture scikit-image ships (one source drawn)."""
    sources = PHOTOS + TEXTURES
    return _crop(rng, sources[rng.integers(len(sources))], size)


def random_evidence(rng: np.random.Generator, size: int) -> np.ndarray:
    """(S, S) float32 {0, 1}: smooth random blobs over about half the image, standing in for the
    refiner's evidence (which widens the prior's band where it was unsure) on data no refiner ran on."""
    coarse = rng.standard_normal((EVIDENCE_GRID, EVIDENCE_GRID)).astype(np.float32)
    return (cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC) > 0).astype(np.float32)


def generate_composites(out: str | os.PathLike, realdata_dir: str | os.PathLike, names: tuple[str, ...],
                        n: int, size: int, seed: int, drawn_fraction: float = 0.0) -> Path:
    """Write ``n`` composites of ``size`` px from the photographs ``names`` (and, a share
    ``drawn_fraction``, from the synthetic generator) into ``out`` (see the module)."""
    from iosm.matting import ClassicalMatte

    out = Path(out)
    foregrounds = load_foregrounds(realdata_dir, names) if drawn_fraction < 1.0 else []
    prior_matte = ClassicalMatte()
    categories = {}
    for index in range(n):
        rng = np.random.default_rng([seed, index])
        name = f"comp_{index:04d}"
        if rng.random() < drawn_fraction:
            drawn = make_sample(DRAWN_SEED_OFFSET + seed, index, size)
            image, alpha = drawn["image"].astype(np.float32), drawn["alpha"].astype(np.float32)
            categories[name] = {"category": "drawn", "type": drawn["type"]}
        else:
            source, foreground, alpha = foregrounds[index % len(foregrounds)]
            image, alpha = make_composite(rng, foreground, alpha, size)
            categories[name] = {"category": source, "type": "real_foreground"}
        init = perturb_mask(alpha, rng, INIT_SEVERITY, leak_probability=0.2, hole_probability=0.2)
        write_image(out / "original" / f"{name}.png", image)
        write_image(out / "mask" / f"{name}.png", alpha)
        write_image(out / "trimap" / f"{name}.png", to_uint8(make_trimap(alpha)))
        write_image(out / "init" / f"{name}.png", init)
        write_image(out / "prior" / f"{name}.png", prior_matte.matte(image, init, random_evidence(rng, size)).alpha)
    atomic_write_text(out / "aim_category_type.json", json.dumps(categories, indent=1))
    atomic_write_text(out / "composites.json", json.dumps(_stamp(names, n, size, seed, drawn_fraction)))
    return out


def _stamp(names: tuple[str, ...], n: int, size: int, seed: int, drawn_fraction: float) -> dict:
    """The settings the output is a function of, the prior matte's included: a cache made with another
    matte is refused by name instead of feeding a guided MTM a prior it will not see at run time."""
    from iosm.matting import ClassicalMatte

    return {"names": list(names), "n": n, "size": size, "seed": seed, "drawn_fraction": drawn_fraction,
            "version": GENERATOR_VERSION, "prior_matte": vars(ClassicalMatte())}


def composite_records(root: str | os.PathLike, realdata_dir: str | os.PathLike, n: int, size: int, seed: int,
                      names: list[str] | tuple[str, ...] = TUNE, drawn_fraction: float = 0.0) -> list[MattingRecord]:
    """The layout behind ``data=composites``: generate into ``root`` on first use, then read it as AIM-500."""
    names, drawn_fraction = tuple(names), float(drawn_fraction)
    if n < 1 or size < 32:
        raise ValueError(f"data.layout: need n >= 1 and size >= 32, got n={n}, size={size}")
    if not 0.0 <= drawn_fraction <= 1.0:
        raise ValueError(f"data.layout.drawn_fraction={drawn_fraction}: expected a share in [0, 1]")
    if not names and drawn_fraction < 1.0:
        raise ValueError("data.layout.names=[]: no photographs to composite; name some, or draw every "
                         "composite with data.layout.drawn_fraction=1.0")
    ensure_generated(root, "composites", _stamp(names, n, size, seed, drawn_fraction),
                     lambda staging: generate_composites(staging, realdata_dir, names, n, size, seed, drawn_fraction))
    return aim500_records(root)


def generate_whole_composites(out: str | os.PathLike, realdata_dir: str | os.PathLike, names: tuple[str, ...],
                              per_foreground: int, seed: int) -> Path:
    """Write ``per_foreground`` composites of each photograph ``names`` into ``out`` (AIM-500 layout plus
    ``init/``): its foreground and alpha, flipped at random, in its own frame on a crop of a photograph or
    tinted texture scikit-image ships, colours jittered by 10% per channel; its dataset trimap (flipped
    alike; one made from the alpha when it has none); a rough mask perturbed as ``data=synthetic``'s are."""
    if per_foreground < 1:
        raise ValueError(f"whole composites: need at least one background per foreground, got {per_foreground}")
    out = Path(out)
    records = {record.name: record for record in aim500_records(realdata_dir)}
    categories = {}
    for index, (name, foreground, alpha) in enumerate(load_foregrounds(realdata_dir, names)):
        trimap_path = records[name].trimap_path
        trimap = read_alpha(trimap_path) if trimap_path is not None else make_trimap(alpha)
        height, width = alpha.shape
        for draw in range(per_foreground):
            rng = np.random.default_rng([seed, index, draw])
            flip = (lambda array: array[:, ::-1]) if rng.random() < 0.5 else (lambda array: array)
            background = random_background(rng, max(height, width))[:height, :width]
            tinted = np.clip(flip(foreground) * rng.uniform(0.9, 1.1, size=3), 0.0, 1.0)
            soft = flip(alpha)
            image = soft[..., None] * tinted + (1.0 - soft[..., None]) * background
            rough = perturb_mask(soft, rng, severity=1.0, leak_probability=1.0, hole_probability=1.0)
            stem = f"{name}_{draw}"
            write_image(out / "original" / f"{stem}.png", image.astype(np.float32))
            write_image(out / "mask" / f"{stem}.png", soft)
            write_image(out / "trimap" / f"{stem}.png", to_uint8(flip(trimap)))
            write_image(out / "init" / f"{stem}.png", rough)
            categories[stem] = {"category": name, "type": "real_foreground"}
    atomic_write_text(out / "aim_category_type.json", json.dumps(categories, indent=1))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Whole-foreground composites of the shared photographs, for benchmarks.")
    parser.add_argument("out", type=Path, help="output folder (AIM-500 layout plus init/)")
    parser.add_argument("--realdata", type=Path, required=True, help="the photographs (paths.realdata_dir)")
    parser.add_argument("--half", choices=("tune", "report"), required=True,
                        help="whose foregrounds: the TUNE or REPORT names of iosm/data/realdata_split.py")
    parser.add_argument("--per", type=int, default=2, help="backgrounds per foreground")
    parser.add_argument("--seed", type=int, default=0, help="the output is a function of this seed")
    args = parser.parse_args(argv)
    if args.per < 1:
        parser.error(f"need --per >= 1, got {args.per}")
    start = time.perf_counter()
    generate_whole_composites(args.out, args.realdata, TUNE if args.half == "tune" else REPORT, args.per, args.seed)
    print(f"wrote {args.per} composites of each {args.half.upper()} foreground to {args.out} in "
          f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
