"""Mask quality of IOSM refinement beside classical peers, from the same rough masks.

    python -m benchmarks.mask_quality --data DIR [--layout aim500] [--masks DIR/init] [--limit N] [--half report] \
        [--inpainter-path SD_INPAINT_DIR] [--features-path DINO_DIR] [--save-masks DIR] [--out DIR] \
        [refine.py overrides, e.g. refiner.iters=4]

Rows: the rough mask itself; IOSM refinement with the CPU default backends, exactly as
``python refine.py`` builds it (conf/refine.yaml composed through Hydra, plus the overrides), and with
diffusers / DINO when local weights are given; GrabCut initialised from the rough mask; pymatting
closed-form from a trimap made by eroding/dilating the rough mask, thresholded at 0.5. Columns: mask
IoU and boundary F (DAVIS) against ``alpha > 0.5``, seconds per image, peak RSS growth (MiB), and
painting-model / feature-backbone passes per image for the refiners.

A second table sets every row beside GrabCut: IoU / boundary F gaps, per-image IoU wins and losses, the
worst drop against the rough mask and CPU seconds as a ratio to GrabCut's (timed in this process);
``--half tune|report`` keeps that half of the shared photographs (``iosm/data/realdata_split.py``).

Writes OUT/peers_mask_TAG.md (table), .csv (per image) and .png (plot); ``--save-masks DIR`` also writes
every refiner's masks to DIR/ROW/NAME.png for ``alpha_quality.py --refined``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
from benchmarks.common import (Sample, add_common_arguments, backend_overrides, bar_plot, load_samples, markdown_table,
                    refiner_method, run_method, summarize, targets_table, warm_up_pymatting, write_results)

from iosm.baselines import closed_form_alpha, grabcut_mask, trimap_from_mask
from iosm.data.io import write_image
from iosm.metrics import boundary_f, mask_iou

KEYS = ["iou", "boundary_f", "seconds", "cpu_seconds", "peak_mib", "paint_passes", "feature_passes"]
ROUGH = "rough mask"
GRABCUT = "GrabCut (from rough mask)"


def score_mask(mask: np.ndarray, sample: Sample) -> dict[str, float]:
    gt_mask = sample.alpha > 0.5
    mask = np.asarray(mask, dtype=bool)
    return {"iou": mask_iou(mask, gt_mask), "boundary_f": boundary_f(mask, gt_mask)}


def peer_methods() -> dict:
    """The classical rows, each a method ``sample -> (bool mask, {})``."""
    return {
        ROUGH: lambda s: (s.rough_mask, {}),
        GRABCUT: lambda s: (grabcut_mask(s.image, s.rough_mask), {}),
        "closed-form > 0.5 (rough-mask trimap)":
            lambda s: (closed_form_alpha(s.image, trimap_from_mask(s.rough_mask)) > 0.5, {}),
    }


def slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--inpainter-path", default=None, help="local diffusers inpainting pipeline (adds a row)")
    parser.add_argument("--features-path", default=None, help="local DINO / DINOv2 weights (adds a row)")
    parser.add_argument("--features", choices=["dino", "dinov2"], default="dino", help="config of --features-path")
    parser.add_argument("--save-masks", type=Path, default=None, help="write the refined masks to DIR/ROW/NAME.png")
    parser.add_argument("overrides", nargs="*", help="refine.py overrides applied to every IOSM row")
    args = parser.parse_args(argv)

    samples, skipped = load_samples(args.data, args.layout, args.masks, args.limit, args.half)
    tag = args.tag or args.data.resolve().name
    print(f"{len(samples)} images from {args.data} ({len(skipped)} skipped)", flush=True)
    methods = peer_methods()
    backends = backend_overrides(args.inpainter_path, args.features_path, args.features)
    refiners = {label: refiner_method(overrides + args.overrides) for label, overrides in backends.items()}
    methods = {ROUGH: methods.pop(ROUGH), **refiners, **methods}
    warm_up_pymatting()

    outcomes = []
    for index, sample in enumerate(samples):
        for label, method in methods.items():
            outcome, mask = run_method(label, method, sample, score_mask)
            outcomes.append(outcome)
            if args.save_masks and label in refiners and mask is not None:
                mask_u8 = np.asarray(mask, bool).astype(np.uint8) * 255
                write_image(args.save_masks / slug(label) / f"{sample.name}.png", mask_u8)
        print(f"[{index + 1}/{len(samples)}] {sample.name}", flush=True)

    rows = summarize(outcomes, list(methods), KEYS)
    title = f"Mask quality on {tag} ({len(samples)} images)"
    notes = [f"Data: `{args.data}` (layout {args.layout}), rough masks from `{args.masks or args.data / 'init'}`. "
             "IoU and boundary F (DAVIS, tolerance 0.8% of the diagonal) against the ground-truth alpha > 0.5; "
             "means over the images a method ran on (`ok`); wall and CPU seconds and peak RSS growth (MiB) per image; "
             "painting-model and feature-backbone forward passes per image for the refiners."]
    print(markdown_table(rows, KEYS))
    targets = targets_table(outcomes, [m for m in methods if m != GRABCUT], ROUGH, GRABCUT)
    print(targets)
    half = f"; the {args.half.upper()} half of iosm/data/realdata_split.py" if args.half else ""
    notes.append(f"Targets{half} (every row beside GrabCut from the same rough masks):\n\n{targets}")
    stem = f"peers_mask_{tag}"
    write_results(args.out, stem, title, rows, KEYS, outcomes, skipped, notes)
    bar_plot(args.out / f"{stem}.png", title, rows, [("iou", "mask IoU"), ("boundary_f", "boundary F"),
                                                     ("cpu_seconds", "CPU seconds / image")])
    return rows


if __name__ == "__main__":
    main()
