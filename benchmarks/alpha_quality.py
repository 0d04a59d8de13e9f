"""Alpha-matte quality of IOSM (MTM on the rough or the refined mask) beside classical matting peers.

    python benchmarks/alpha_quality.py --data DIR [--layout aim500] [--masks DIR/init] [--limit N] \
        [--mtm-ckpt CKPT] [--refined DIR] [--out DIR] [refine.py overrides]

Rows, all from the same rough mask unless said: the rough mask as alpha; pymatting closed-form and
KNN matting from a trimap made by eroding/dilating the rough mask (band 2% of the long side each
way); GrabCut from the rough mask, then closed-form in a band around GrabCut's boundary; with
``--mtm-ckpt``: the MTM on the rough mask, and the full IOSM pipeline (the MTM on the refined mask:
masks from ``--refined DIR`` by stem, e.g. refine.py's OUT/masks or mask_quality.py --save-masks,
else refined here with the CPU default exactly as refine.py builds it); closed-form from the
dataset's own trimap as an upper reference that needs a trimap (a user input the others do not get).

Metrics: SAD, MSE, Grad, Conn (standard protocol; SAD/Grad/Conn /1000, MSE as is) over the whole
image, and over the dataset trimap's unknown region when the dataset has trimaps; seconds per image,
peak RSS growth (MiB), painting passes per image when the refiner runs here.
Writes OUT/peers_alpha_TAG.md (table), .csv (per image) and .png (plot).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import (Sample, add_common_arguments, bar_plot, load_samples, markdown_table, refiner_method, run_method,
                    summarize, warm_up_pymatting, write_results)

from iosm.baselines import closed_form_alpha, grabcut_closed_form_alpha, trimap_from_mask
from iosm.data.io import find_by_stem, read_mask
from iosm.metrics import matting_metrics

WHOLE = ["sad", "mse", "grad", "conn"]
UNKNOWN = ["sad_unknown", "mse_unknown", "grad_unknown", "conn_unknown"]
COST = ["seconds", "cpu_seconds", "peak_mib", "paint_passes"]


def score_alpha(alpha: np.ndarray, sample: Sample) -> dict[str, float]:
    return matting_metrics(np.asarray(alpha, np.float64), sample.alpha.astype(np.float64), sample.trimap)


def peer_methods(has_trimaps: bool) -> dict:
    """The classical rows, each a method ``sample -> (float alpha, {})``."""
    methods = {
        "rough mask as alpha": lambda s: (s.rough_mask.astype(np.float32), {}),
        "closed-form (rough-mask trimap)": lambda s: (closed_form_alpha(s.image, trimap_from_mask(s.rough_mask)), {}),
        "KNN (rough-mask trimap)": lambda s: (closed_form_alpha(s.image, trimap_from_mask(s.rough_mask), "knn"), {}),
        "GrabCut -> closed-form": lambda s: (grabcut_closed_form_alpha(s.image, s.rough_mask), {}),
    }
    if has_trimaps:
        reference = "closed-form (dataset trimap; reference, not trimap-free)"
        methods[reference] = lambda s: (closed_form_alpha(s.image, s.trimap), {})
    return methods


def mtm_methods(checkpoint: Path, refined: Path | None, overrides: list[str]) -> dict:
    """MTM on the rough mask, and the full IOSM pipeline (MTM on the refined mask)."""
    from iosm.models.inference import MattingPredictor

    predictor = MattingPredictor.from_checkpoint(checkpoint)  # max_side 1024, as refine.py's matte stage
    if refined is not None:
        if not refined.is_dir():
            raise SystemExit(f"--refined {refined}: no such folder of refined masks")
        refined_paths = find_by_stem(refined)

        def refined_mask(sample: Sample):
            if sample.name not in refined_paths:
                raise FileNotFoundError(f"no refined mask named {sample.name}.* in {refined}")
            return read_mask(refined_paths[sample.name]), {}

        iosm_label = "IOSM: MTM on refined mask (masks from --refined; refine cost not included)"
    else:
        refined_mask = refiner_method(overrides)
        iosm_label = "IOSM: refine (CPU default) + MTM"

    def full_iosm(sample: Sample):
        mask, counters = refined_mask(sample)
        return predictor.predict(sample.image, mask), counters

    return {"MTM on rough mask": lambda s: (predictor.predict(s.image, s.rough_mask), {}), iosm_label: full_iosm}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--mtm-ckpt", type=Path, default=None, help="train.py checkpoint: adds the MTM and IOSM rows")
    parser.add_argument("--refined", type=Path, default=None, help="refined masks by stem for the IOSM row")
    parser.add_argument("overrides", nargs="*", help="refine.py overrides for the refiner run here")
    args = parser.parse_args(argv)

    samples, skipped = load_samples(args.data, args.layout, args.masks, args.limit)
    tag = args.tag or args.data.resolve().name
    has_trimaps = all(s.trimap is not None for s in samples)
    print(f"{len(samples)} images from {args.data} ({len(skipped)} skipped)", flush=True)
    methods = peer_methods(has_trimaps)
    if args.mtm_ckpt is not None:
        methods.update(mtm_methods(args.mtm_ckpt, args.refined, args.overrides))
    warm_up_pymatting()

    outcomes = []
    for index, sample in enumerate(samples):
        outcomes += [run_method(label, method, sample, score_alpha)[0] for label, method in methods.items()]
        print(f"[{index + 1}/{len(samples)}] {sample.name}", flush=True)

    keys = WHOLE + (UNKNOWN if has_trimaps else []) + COST
    rows = summarize(outcomes, list(methods), keys)
    title = f"Alpha quality on {tag} ({len(samples)} images)"
    notes = [f"Data: `{args.data}` (layout {args.layout}), rough masks from `{args.masks or args.data / 'init'}`. "
             "Standard protocol at the original resolution; SAD, Grad, Conn /1000, MSE as is; `_unknown`: over the "
             "dataset trimap's unknown region. Means over the images a method ran on (`ok`); wall and CPU seconds "
             "and peak RSS growth (MiB) per image."
             + ("" if args.mtm_ckpt else " No `--mtm-ckpt`: the MTM and IOSM rows are absent.")]
    print(markdown_table(rows, keys))
    stem = f"peers_alpha_{tag}"
    write_results(args.out, stem, title, rows, keys, outcomes, skipped, notes)
    region = "_unknown" if has_trimaps else ""
    where = "unknown region" if has_trimaps else "whole image"
    panels = [(f"sad{region}", f"SAD/1000 ({where})"), (f"mse{region}", f"MSE ({where})"),
              (f"grad{region}", f"Grad/1000 ({where})"), ("cpu_seconds", "CPU seconds / image")]
    bar_plot(args.out / f"{stem}.png", title, rows, panels)
    return rows


if __name__ == "__main__":
    main()
