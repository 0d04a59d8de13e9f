"""Cost of the refiner: painting-model and feature-backbone passes per image, faithful vs improved.

    python -m benchmarks.refine_cost --data DIR [--limit N] [--steps 75] [--size 64] [--quality-size 256]

Two parts. (1) Passes are counted, not timed (a forward hook on the denoiser and a counter on the
feature backbone), so they hold on any hardware; they are measured with tiny random diffusers / DINO
models (built here with save_pretrained into a temporary folder) at the original's settings (75 steps,
guidance 7.5, 5 crops, 6 iterations), plus wall time on this machine. (2) Mask IoU of the same two
schedules with the weight-free CPU default on real composites, to show the cheaper schedule costs no
quality. Writes OUT/refine_cost.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from benchmarks.common import DEFAULT_OUT, build_refiner, load_samples, markdown_table, provenance

from iosm.data.io import atomic_write_text
from iosm.metrics import mask_iou
from iosm.refine.tiny_models import save_tiny_inpainting_pipeline, save_tiny_vit

SCHEDULES = {"faithful": ["refiner.faithful=true"], "improved (default)": []}


def measure(samples, overrides: list[str], with_iou: bool) -> dict[str, float]:
    refiner, seed = build_refiner(overrides)
    paints, features, seconds, ious = [], [], [], []
    for sample in samples:
        start = time.perf_counter()
        try:
            result = refiner.refine(sample.image, sample.rough_mask, seed=seed)
            mask = result.mask
            paints.append(result.inpaint_calls)
            features.append(result.feature_calls)
        except ValueError:  # the faithful loop stops on an emptied mask, as the original crashes
            mask = np.zeros_like(sample.rough_mask)
        seconds.append(time.perf_counter() - start)
        ious.append(mask_iou(mask, sample.alpha > 0.5))
    row = {"paint_passes": float(np.mean(paints)) if paints else float("nan"),
           "feature_passes": float(np.mean(features)) if features else float("nan"),
           "seconds": float(np.mean(seconds))}
    if with_iou:
        row["iou"] = float(np.mean(ious))
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (aim500 layout with init/)")
    parser.add_argument("--limit", type=int, default=2, help="images for the tiny-model (count and time) part")
    parser.add_argument("--quality-limit", type=int, default=12, help="images for the IoU part")
    parser.add_argument("--steps", type=int, default=75, help="denoising steps (the original: 75)")
    parser.add_argument("--size", type=int, default=64, help="canvas of the tiny-model part")
    parser.add_argument("--quality-size", type=int, default=256, help="canvas of the IoU part")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    samples, _ = load_samples(args.data, "aim500", None, max(args.limit, args.quality_limit))
    sections = ["# Refinement cost: painting and feature passes per image", provenance()]
    with tempfile.TemporaryDirectory() as folder:
        pipeline, dino = save_tiny_inpainting_pipeline(Path(folder) / "sd"), save_tiny_vit(Path(folder) / "dino", "dino")
        models = ["inpainter=diffusers", f"inpainter.model_path={pipeline}", f"inpainter.steps={args.steps}",
                  "inpainter.device=cpu", "features=dino", f"features.model_path={dino}", "features.input_size=32",
                  "features.device=cpu", f"refiner.size={args.size}", "refiner.iters=6", "refiner.early_stop=null"]
        rows = []
        for label, overrides in SCHEDULES.items():
            row = measure(samples[: args.limit], models + overrides, with_iou=False)
            rows.append({"method": f"{label}: tiny diffusers + tiny DINO", "ok": args.limit, "failed": 0, **row})
            print(rows[-1], flush=True)
    sections += [
        f"## (1) Counted passes, tiny random models ({args.limit} images, canvas {args.size}, {args.steps} steps, "
        "guidance 7.5, 5 crops, 6 iterations, early stop off)",
        "Passes count one denoiser row per sample and step (x2 with classifier-free guidance), so batching "
        "alone does not lower them; the improved schedule paints `refiner.samples=1` sample per stage, shared "
        "by the five crops, where the original paints one per crop. Seconds are this machine's wall time with "
        "the tiny models (noise paintings; the time ratio, not the value, carries over).",
        markdown_table(rows, ["paint_passes", "feature_passes", "seconds"]),
    ]
    rows = []
    for label, overrides in SCHEDULES.items():
        row = measure(samples[: args.quality_limit], ["inpainter=opencv", "features=color", f"refiner.size={args.quality_size}", *overrides], with_iou=True)
        rows.append({"method": f"{label}: opencv + color (CPU default)", "ok": args.quality_limit, "failed": 0, **row})
        print(rows[-1], flush=True)
    rough = float(np.mean([mask_iou(s.rough_mask, s.alpha > 0.5) for s in samples[: args.quality_limit]]))
    sections += [
        f"## (2) Mask IoU of the two schedules, CPU default ({args.quality_limit} images of `{args.data}`, "
        f"canvas {args.quality_size}; rough masks: IoU {rough:.4f})",
        markdown_table(rows, ["iou", "paint_passes", "feature_passes", "seconds"]),
    ]
    atomic_write_text(args.out / "refine_cost.md", "\n\n".join(sections) + "\n")
    print(f"wrote {args.out / 'refine_cost.md'}")


if __name__ == "__main__":
    main()
