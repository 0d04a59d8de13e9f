"""Speed and agreement of the matting metrics against the straightforward per-threshold port.

    python -m benchmarks.metrics_speed                       # 1024 and 2048, writes the results file
    python -m benchmarks.metrics_speed --sizes 512 --repeats 1 --out -   # quick look, stdout only

For each size, ground-truth alphas (the shared real photographs' mattes resized, or generated soft
shapes when those are absent) are paired with realistic predictions (the matte blurred, with smooth
low-frequency errors, 8-bit quantised) and trimaps (a band around the transition). Gradient and
Connectivity errors are timed over the whole image and over the unknown region, ours
(``iosm.metrics``) against ``iosm.metrics.reference`` (2-D convolution with the 9x9 kernel; one
scikit-image labelling per threshold), best of ``--repeats``; the largest relative difference in
value is reported. A worst case for the connectivity (a white-noise prediction, where run-length
union-find has as many runs as pixels) is timed too. Finally a whole evaluation (``evaluate_pairs``:
reading 8-bit PNGs, all metrics with a trimap, report) is timed on generated files and extrapolated
to a 500-image benchmark.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import command_line
from iosm.config import REPO_ROOT
from iosm.data.io import find_by_stem, read_alpha, write_image
from iosm.data.masks import morph_disc
from iosm.metrics import connectivity_error, gradient_error, reference
from iosm.metrics.pairs import EvalPair

REALDATA_MASKS = REPO_ROOT.parent / "shared" / "realdata" / "alphamatting-training-lowres" / "mask"
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "metrics_speed.md"


def ground_truths(size: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` (size, size) float32 alphas, 8-bit quantised."""
    files = sorted(find_by_stem(REALDATA_MASKS).values())[:count] if REALDATA_MASKS.is_dir() else []
    mattes = [cv2.resize(read_alpha(path), (size, size), interpolation=cv2.INTER_LINEAR) for path in files]
    while len(mattes) < count:  # generated soft ellipses with a noisy rim
        ys, xs = np.mgrid[:size, :size] / size
        centre = rng.uniform(0.35, 0.65, 2)
        radius = np.hypot((ys - centre[0]) / 0.3, (xs - centre[1]) / 0.2)
        mattes.append(np.clip((1.1 - radius) * 8 + rng.normal(0, 0.3, radius.shape), 0, 1).astype(np.float32))
    return [(np.rint(matte * 255) / 255).astype(np.float32) for matte in mattes]


def realistic_prediction(gt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blurred matte plus smooth low-frequency error, 8-bit quantised: what a network's output looks like."""
    size = gt.shape[0]
    blurred = cv2.GaussianBlur(gt, (0, 0), size / 300)
    coarse = rng.normal(0, 0.15, (16, 16)).astype(np.float32)
    smooth_error = cv2.resize(coarse, gt.shape[::-1], interpolation=cv2.INTER_CUBIC) * (blurred > 0.02)
    return (np.rint(np.clip(blurred + smooth_error, 0, 1) * 255) / 255).astype(np.float32)


def unknown_band(gt: np.ndarray) -> np.ndarray:
    """Trimap-style unknown region: the transition dilated by 1.5% of the size."""
    radius = max(1, gt.shape[0] * 15 // 1000)
    return ~morph_disc(gt >= 1, -radius) & ~morph_disc(gt <= 0, -radius)


def best_time(function, repeats: int) -> tuple[float, float]:
    """(seconds of the fastest of ``repeats`` calls, its value)."""
    timings, value = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        value = function()
        timings.append(time.perf_counter() - started)
    return min(timings), value


def compare(name, ours, theirs, inputs, repeats) -> list[str]:
    """One table row per region: timings, ratio, largest relative difference over ``inputs``."""
    rows = []
    for region_name in ("whole", "unknown"):
        our_seconds, their_seconds, worst = [], [], 0.0
        for pred, gt, unknown in inputs:
            region = None if region_name == "whole" else unknown
            our_time, our_value = best_time(lambda: ours(pred, gt, region), repeats)
            their_time, their_value = best_time(lambda: theirs(pred, gt, region), max(1, repeats // 2))
            our_seconds.append(our_time)
            their_seconds.append(their_time)
            worst = max(worst, abs(our_value - their_value) / max(abs(their_value), 1e-300))
        ours_ms, theirs_ms = 1000 * np.median(our_seconds), 1000 * np.median(their_seconds)
        speed_up = theirs_ms / ours_ms
        rows.append(f"| {name} | {region_name} | {theirs_ms:.1f} | {ours_ms:.1f} | {speed_up:.1f}x | {worst:.1e} |")
    return rows


def evaluation_throughput(size: int, count: int, rng: np.random.Generator) -> float:
    """Seconds per image of ``evaluate_pairs`` (files, all metrics with trimap, report) at ``size``."""
    from iosm.evaluation import evaluate_pairs

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        pairs = []
        for index, gt in enumerate(ground_truths(size, count, rng)):
            name = f"img{index:03d}"
            trimap = np.where(unknown_band(gt), 0.5, np.where(gt >= 1, 1.0, 0.0))
            for kind, array in (("gt", gt), ("pred", realistic_prediction(gt, rng)), ("trimap", trimap)):
                write_image(root / kind / f"{name}.png", array)
            paths = [root / kind / f"{name}.png" for kind in ("pred", "gt", "trimap")]
            pairs.append(EvalPair(name, *paths))
        evaluate_pairs(pairs[:1], root / "warmup")
        started = time.perf_counter()
        evaluate_pairs(pairs, root / "eval")
        return (time.perf_counter() - started) / count


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    system = f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    return f"{model}, {os.cpu_count()} CPU cores, {system}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--images", type=int, default=3, help="ground truths per size (timings are medians)")
    parser.add_argument("--repeats", type=int, default=4, help="timed calls per measurement (best is kept)")
    parser.add_argument("--eval-images", type=int, default=10, help="images in the end-to-end evaluation timing")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="Markdown results file, '-' for stdout only")
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    gradient_error(np.zeros((8, 8)), np.zeros((8, 8)))  # load the compiled kernels before timing
    connectivity_error(np.zeros((8, 8)), np.zeros((8, 8)))
    lines = [
        "# Metrics speed: ours vs the straightforward per-threshold port",
        "",
        f"Command: `{command_line()}`  ",
        f"Machine: {machine()}  ",
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC  ",
        f"Inputs: {'real mattes' if REALDATA_MASKS.is_dir() else 'generated mattes'}, {args.images} per size, "
        f"realistic 8-bit predictions; times are medians over images of the best of {args.repeats} calls.",
        "",
    ]
    for size in args.sizes:
        inputs = []
        for gt in ground_truths(size, args.images, rng):
            inputs.append((realistic_prediction(gt, rng), gt, unknown_band(gt)))
        lines += [
            f"## {size}x{size}",
            "",
            "| metric | region | reference ms | ours ms | speed-up | max relative difference |",
            "|---|---|---|---|---|---|",
            *compare("Grad", gradient_error, reference.gradient_error, inputs, args.repeats),
            *compare("Conn", connectivity_error, reference.connectivity_error, inputs, args.repeats),
        ]
        noise = [(rng.random(gt.shape).astype(np.float32), gt, unknown) for _, gt, unknown in inputs[:1]]
        lines += [row.replace("| Conn |", "| Conn, white-noise prediction (worst case) |")
                  for row in compare("Conn", connectivity_error, reference.connectivity_error, noise, 2)[:1]]
        lines.append("")
    per_image = evaluation_throughput(1024, args.eval_images, rng)
    lines += [
        "## End to end",
        "",
        f"`evaluate_pairs` at 1024x1024 (8-bit PNGs, trimap, all eight metrics, report): "
        f"{per_image:.2f} s per image, so a 500-image benchmark takes about {500 * per_image / 60:.1f} minutes.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out != "-":
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
