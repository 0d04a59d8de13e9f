"""Synthetic matting composites in the AIM-500 layout, from the photographs scikit-image ships offline.

``python -m iosm.data.synthetic OUT --n 200 --size 256 --seed 0`` writes

    OUT/original/NAME.jpg   the composite ``alpha * F + (1 - alpha) * B``
    OUT/mask/NAME.png       the ground-truth alpha (AIM-500 calls it "mask")
    OUT/trimap/NAME.png     0 / 128 / 255
    OUT/init/NAME.png       a rough binary mask, the way an unsupervised segmenter errs
    OUT/aim_category_type.json   {NAME: {"category": foreground source, "type": SO | STM | NS}}

Why: every job and test needs matting data with a *known* alpha and without a download. The alphas have
what makes matting hard (hair-like strands, semi-transparent regions, blurred edges); foreground and
background are cut from real photographs (sometimes the same one, so colours overlap) so that a method
has real work to do. The AIM-500 types follow the benchmark: SO salient opaque, STM salient
transparent/meticulous, NS non-salient (here: strand-dominated). Output is a pure function of the seed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from iosm.data.io import atomic_write_text, ordinary_mode, to_uint8, write_image
from iosm.data.layouts import MattingRecord, aim500_records
from iosm.data import synthetic_heldout as heldout
from iosm.data.masks import perturb_mask, trimap_between

PHOTOS = (
    "astronaut", "chelsea", "cat", "coffee", "rocket", "hubble_deep_field", "retina",
    "immunohistochemistry", "stereo_motorcycle",
)
TEXTURES = ("brick", "grass", "gravel")  # gray; tinted when used
TYPES = ("SO", "STM", "NS")
SETTINGS = ("default", "heldout")  # heldout: iosm/data/synthetic_heldout.py, never tuned on
# Bumped whenever the generator's output changes, so cached datasets are regenerated.
GENERATOR_VERSION = 1


@cache
def _source_image(name: str) -> np.ndarray:
    """A scikit-image sample as (H, W, 3) float32 [0, 1] (grayscale textures replicated)."""
    from skimage import data

    pixels = getattr(data, name)()
    if isinstance(pixels, tuple):  # stereo_motorcycle returns (left, right, disparity)
        pixels = pixels[0]
    pixels = pixels.astype(np.float32) / 255.0
    return np.repeat(pixels[..., None], 3, axis=2) if pixels.ndim == 2 else pixels


def _crop(rng: np.random.Generator, name: str, size: int) -> np.ndarray:
    """A random square crop of a source image (30-100% of its short side), resized to (size, size, 3)."""
    source = _source_image(name)
    height, width = source.shape[:2]
    side = int(min(height, width) * rng.uniform(0.3, 1.0))
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    patch = cv2.resize(source[top : top + side, left : left + side], (size, size), interpolation=cv2.INTER_AREA)
    if name in TEXTURES:  # gray texture -> a random colour with the texture's shading
        tint = rng.uniform(0.2, 1.0, size=3).astype(np.float32)
        patch = np.clip(patch * tint + rng.uniform(0.0, 0.3), 0.0, 1.0)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    return np.ascontiguousarray(patch)


def _smooth_noise(rng: np.random.Generator, size: int, blur: float) -> np.ndarray:
    """Zero-mean, unit-ish amplitude low-frequency noise (size, size) float32."""
    noise = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), blur)
    return noise / (noise.std() + 1e-6)


def _body(rng: np.random.Generator, size: int) -> np.ndarray:
    """The object's opaque body: a union of ellipses with a wobbly boundary, (size, size) bool."""
    canvas = np.zeros((size, size), np.uint8)
    centre = rng.uniform(0.35, 0.65, size=2) * size
    for _ in range(rng.integers(2, 6)):
        offset = rng.normal(0.0, 0.12, size=2) * size
        axes = rng.uniform(0.08, 0.25, size=2) * size
        cv2.ellipse(canvas, tuple(int(v) for v in centre + offset), tuple(int(v) for v in axes),
                    rng.uniform(0, 180), 0, 360, 1, thickness=-1)
    smoothed = cv2.GaussianBlur(canvas.astype(np.float32), (0, 0), size / 40)
    # Wobble the boundary only near it: noise far from the body would scatter islands over the image.
    body = smoothed + 0.25 * _smooth_noise(rng, size, size / 25) * (smoothed > 0.2) > 0.5
    count, labels, stats, _ = cv2.connectedComponentsWithStats(body.astype(np.uint8), connectivity=8)
    if count <= 2:
        return body
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))  # the largest piece


def _strands(rng: np.random.Generator, body: np.ndarray, count: int) -> np.ndarray:
    """Hair-like strands growing out of the body's boundary: (H, W) float32 alpha of thin AA curves."""
    size = body.shape[0]
    canvas = np.zeros(body.shape, np.uint8)
    ys, xs = np.nonzero(body & ~cv2.erode(body.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool))
    if len(xs) == 0:
        return canvas.astype(np.float32)
    centre = np.array([xs.mean(), ys.mean()])
    for pick in rng.integers(0, len(xs), size=count):
        point = np.array([xs[pick], ys[pick]], dtype=np.float64)
        heading = np.arctan2(*(point - centre)[::-1]) + rng.normal(0.0, 0.5)
        curl = rng.normal(0.0, 0.15)
        steps = int(rng.uniform(0.04, 0.2) * size / 2) + 2
        points = [point.copy()]
        for _ in range(steps):
            heading += curl + rng.normal(0.0, 0.1)
            point += 2.0 * np.array([np.cos(heading), np.sin(heading)])
            points.append(point.copy())
        shade = int(rng.uniform(0.25, 0.8) * 255)  # real strands are semi-transparent
        cv2.polylines(canvas, [np.round(np.array(points) * 4).astype(np.int32)], False, shade, 1, cv2.LINE_AA, shift=2)
    return canvas.astype(np.float32) / 255.0


def make_alpha(rng: np.random.Generator, size: int, matte_type: str) -> np.ndarray:
    """A soft alpha (size, size) float32 in [0, 1] of the given AIM-500 type (SO, STM or NS)."""
    body = _body(rng, size)
    alpha = cv2.GaussianBlur(body.astype(np.float32), (0, 0), rng.uniform(0.5, 2.0) * size / 256)
    if matte_type == "STM":  # a translucent part (glass, veil): alpha well inside (0, 1)
        region = np.zeros((size, size), np.uint8)
        ys, xs = np.nonzero(body)
        pick = rng.integers(len(xs))
        cv2.ellipse(region, (int(xs[pick]), int(ys[pick])), tuple(int(v) for v in rng.uniform(0.1, 0.3, 2) * size),
                    rng.uniform(0, 180), 0, 360, 1, thickness=-1)
        region = cv2.GaussianBlur(region.astype(np.float32), (0, 0), size / 64)
        alpha = alpha * (1.0 - (1.0 - rng.uniform(0.45, 0.85)) * region)
    strand_count = {"SO": 0, "STM": int(rng.integers(0, 20)), "NS": int(rng.integers(30, 100))}[matte_type]
    if strand_count:
        alpha = np.maximum(alpha, _strands(rng, body, strand_count))
    return np.clip(alpha, 0.0, 1.0)


def make_trimap(alpha: np.ndarray) -> np.ndarray:
    """0 / 0.5 / 1 trimap: unknown band = dilate(alpha > 0) minus erode(alpha == 1), 1/64 of the side wide."""
    return trimap_between(alpha > 1 - 1e-3, alpha > 1e-3, max(1, alpha.shape[0] // 64))


def make_sample(seed: int, index: int, size: int, setting: str = "default") -> dict:
    """One composite: image (S, S, 3), alpha, trimap (S, S) float32, init (S, S) bool, type, category.
    ``setting``: ``default`` or ``heldout`` (:mod:`iosm.data.synthetic_heldout`: other shapes and errors)."""
    if setting not in SETTINGS:
        raise ValueError(f"synthetic setting: expected one of {SETTINGS}, got {setting!r}")
    rng = np.random.default_rng([seed, index])
    matte_type = TYPES[index % len(TYPES)]
    sources = PHOTOS + TEXTURES
    background_name = sources[rng.integers(len(sources))]
    # Same photograph for both in a third of the images: similar colours, a hard case.
    foreground_name = background_name if rng.random() < 0.33 else sources[rng.integers(len(sources))]
    background = _crop(rng, background_name, size)
    foreground = _crop(rng, foreground_name, size)
    if setting == "heldout":
        alpha = heldout.make_alpha(rng, size, matte_type)
        init = heldout.rough_mask(alpha, rng)
    else:
        alpha = make_alpha(rng, size, matte_type)
        init = perturb_mask(alpha, rng, severity=1.0, leak_probability=1.0, hole_probability=1.0)
    image = alpha[..., None] * foreground + (1.0 - alpha[..., None]) * background
    return {"image": image, "alpha": alpha, "trimap": make_trimap(alpha), "init": init,
            "type": matte_type, "category": foreground_name}


def generate(out: str | os.PathLike, n: int, size: int, seed: int, setting: str = "default") -> Path:
    """Write ``n`` composites of ``size`` x ``size`` into ``out`` in the AIM-500 layout plus ``init/``."""
    if n < 1 or size < 32:
        raise ValueError(f"synthetic data: need n >= 1 and size >= 32, got n={n}, size={size}")
    out = Path(out)
    categories = {}
    for index in range(n):
        name = f"syn_{index:04d}"
        sample = make_sample(seed, index, size, setting)
        write_image(out / "original" / f"{name}.jpg", sample["image"], quality=95)
        write_image(out / "mask" / f"{name}.png", sample["alpha"])
        write_image(out / "trimap" / f"{name}.png", to_uint8(sample["trimap"]))
        write_image(out / "init" / f"{name}.png", sample["init"])
        categories[name] = {"category": sample["category"], "type": sample["type"]}
    atomic_write_text(out / "aim_category_type.json", json.dumps(categories, indent=1))
    atomic_write_text(out / "synthetic.json", json.dumps(_stamp(n, size, seed, setting)))
    return out


def _stamp(n: int, size: int, seed: int, setting: str = "default") -> dict:
    stamp = {"n": n, "size": size, "seed": seed, "version": GENERATOR_VERSION}
    return stamp if setting == "default" else {**stamp, "setting": setting}


def ensure_synthetic(root: str | os.PathLike, n: int, size: int, seed: int) -> Path:
    """Generate the dataset into ``root`` unless it is already there; return ``root``."""
    return ensure_generated(root, "synthetic", _stamp(n, size, seed), lambda staging: generate(staging, n, size, seed))


def ensure_generated(root: str | os.PathLike, kind: str, stamp: dict, write) -> Path:
    """Run ``write(folder)`` into ``root`` unless ``root/KIND.json`` already records ``stamp``; return ``root``.

    ``write`` must end by writing ``stamp`` to ``folder/KIND.json``. Generation goes into a temporary
    sibling folder renamed into place at the end, so a concurrent or interrupted run never sees half a
    dataset; when two processes race, the first rename wins and the other's copy is discarded (both
    are identical anyway: the output is a function of the stamp's settings).
    """
    root = Path(root).expanduser().resolve()
    stamp_path = root / f"{kind}.json"
    if stamp_path.is_file():
        if json.loads(stamp_path.read_text()) == stamp:
            return root
        raise ValueError(f"{root}: holds a {kind} dataset made with other settings ({stamp_path.read_text()}); "
                         f"expected {stamp}: delete the folder or choose another root")
    if root.is_dir() and any(root.iterdir()):
        raise ValueError(f"{root}: exists but holds no generated {kind} dataset (no {stamp_path.name}); "
                         "delete it or choose another root")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".tmp", dir=root.parent))
    try:
        staging.chmod(ordinary_mode(directory=True))  # mkdtemp's 0o700 would hide a shared cache from others
        write(staging)
        try:
            os.rename(staging, root)
        except OSError:
            if not stamp_path.is_file():  # not a lost race with an identical generator: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def synthetic_records(root: str | os.PathLike, n: int, size: int, seed: int) -> list[MattingRecord]:
    """The layout behind ``data=synthetic``: generate into ``root`` on first use, then read it as AIM-500."""
    return aim500_records(ensure_synthetic(root, n, size, seed))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="output folder (AIM-500 layout plus init/)")
    parser.add_argument("--n", type=int, default=200, help="number of images")
    parser.add_argument("--size", type=int, default=256, help="side of the square images in pixels")
    parser.add_argument("--seed", type=int, default=0, help="the output is a function of this seed")
    parser.add_argument("--setting", choices=SETTINGS, default="default",
                        help="heldout: other shapes (polygons, sticks) and rough-mask errors, for untuned reports")
    args = parser.parse_args(argv)
    if args.n < 1 or args.size < 32:
        parser.error(f"need --n >= 1 and --size >= 32, got --n {args.n} --size {args.size}")
    start = time.perf_counter()
    generate(args.out, args.n, args.size, args.seed, args.setting)
    print(f"wrote {args.n} composites of {args.size}x{args.size} to {args.out} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
