"""Alpha-matte quality of the full pipeline (refined mask, then the matte stage) beside the classical one.

    python -m benchmarks.alpha_quality --data DIR [--half tune|report] [--mtm-ckpt CKPT] \
        [--limit N] [--tag TAG] [--out DIR] [--refined-cache DIR] [--decompose] [refine.py overrides]

Rows, all from the same rough mask (DIR/init): the rough mask as alpha; GrabCut then closed-form in
a band around GrabCut's boundary (the classical pipeline, the floor); the IOSM pipeline, the refined
mask (refine.py's CPU default, run here once per image with its evidence) then ``matte=classical``
(the default matte, exactly as refine.py builds it from conf/matte/classical.yaml); the same refined
mask with closed-form in a fixed band (2% of the long side: what the evidence adds); with
``--mtm-ckpt`` the refined mask then ``matte=mtm`` with that checkpoint (a guided MTM corrects the
classical matte); and closed-form from the dataset's own trimap, the ceiling (a hand-made input the
others do not get). With ``--decompose``, two oracle rows split the pipeline's gap to the ceiling into
its two causes: the default matte's labels with its band widened by the dataset trimap's unknown
region (what a perfect band would give), and the default matte's band with the labels outside it
taken from the ground truth (what a perfect mask would give).

The summary gives, per metric, the share of the gap between GrabCut then closed-form and the ceiling
that the pipeline closes (the issue's goal: at least half, on each of SAD, MSE, Grad, Conn, whole and
unknown), and per-image wins/losses (lower SAD) of the pipeline against GrabCut then closed-form and
of the MTM against the classical matte. Seconds, CPU seconds and peak RSS growth of each row are the
matte's alone (the refiner's cost is in the notes); ``fallbacks`` counts trimap solves that had no
definite region and returned the thresholded trimap. Writes OUT/alpha_quality_TAG.md, .csv, .png.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from benchmarks.common import (Sample, add_common_arguments, bar_plot, build_refiner, load_samples, markdown_table, run_method,
                    summarize, warm_up_pymatting, write_results)

from iosm.baselines import closed_form_alpha, grabcut_closed_form_alpha, trimap_from_mask
from iosm.matting import build_matte
from iosm.matting.evidence import refine_evidence
from iosm.matting.solvers import solve_alpha
from iosm.metrics import matting_metrics

WHOLE = ["sad", "mse", "grad", "conn"]
UNKNOWN = ["sad_unknown", "mse_unknown", "grad_unknown", "conn_unknown"]
COST = ["seconds", "cpu_seconds", "peak_mib", "fallbacks"]
FLOOR = "GrabCut -> closed-form"
CEILING = "closed-form (dataset trimap; ceiling, not trimap-free)"
PIPELINE = "IOSM: refined mask -> matte=classical (default)"
GUIDED = "IOSM: refined mask -> matte=mtm (--mtm-ckpt)"
ORACLE_BAND = "oracle band: refined mask, closed-form in the matte's band + the dataset's unknown region"
ORACLE_LABELS = "oracle labels: closed-form in the matte's band, labels outside it from the ground truth"


def score_alpha(alpha: np.ndarray, sample: Sample) -> dict[str, float]:
    return matting_metrics(np.asarray(alpha, np.float64), sample.alpha.astype(np.float64), sample.trimap)


def matte_cfg(overrides: list[str]):
    """cfg.matte exactly as ``python refine.py OVERRIDES`` composes it."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from iosm.config import CONF_DIR, register_resolvers

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("refine", overrides).matte


def oracle_methods(classical, refined: dict, has_trimaps: bool) -> dict:
    """The ``--decompose`` rows: the default matte's final band with the dataset's unknown region
    added (its own labels outside), and with the ground truth's labels outside it, solved by the
    default matte's own solver."""
    bands: dict[str, np.ndarray] = {}

    def solve(sample: Sample, trimap: np.ndarray) -> np.ndarray:
        prior = classical.prior(*refined[sample.name]) or (None, None)
        return solve_alpha(sample.image, trimap, classical.solver, classical.nonlocal_weight, classical.colour_space,
                           *prior)

    def band(sample: Sample) -> np.ndarray:  # solved once per image for both rows
        if sample.name not in bands:
            bands[sample.name] = classical.solve(sample.image, *refined[sample.name])[1] == 0.5
        return bands[sample.name]

    def oracle_band(sample: Sample) -> np.ndarray:
        unknown = band(sample) | (sample.trimap == 0.5)
        return solve(sample, np.where(unknown, 0.5, refined[sample.name][0]).astype(np.float32))

    def oracle_labels(sample: Sample) -> np.ndarray:
        return solve(sample, np.where(band(sample), 0.5, sample.alpha > 0.5).astype(np.float32))

    methods = {ORACLE_LABELS: lambda s: (oracle_labels(s), {})}
    if has_trimaps:
        methods[ORACLE_BAND] = lambda s: (oracle_band(s), {})
    return methods


def methods_for(refined: dict, has_trimaps: bool, checkpoint: Path | None, overrides: list[str],
                decompose: bool = False) -> dict:
    """{row label: method}; ``refined[name]`` holds (refined mask, evidence) made once per image."""
    classical = build_matte(matte_cfg(overrides))
    methods = {
        "rough mask as alpha": lambda s: (s.rough_mask.astype(np.float32), {}),
        FLOOR: lambda s: (grabcut_closed_form_alpha(s.image, s.rough_mask), {}),
        PIPELINE: lambda s: (classical.matte(s.image, *refined[s.name]).alpha, {}),
        "refined mask -> closed-form, fixed 2% band (no evidence)":
            lambda s: (closed_form_alpha(s.image, trimap_from_mask(refined[s.name][0])), {}),
    }
    if checkpoint is not None:
        guided = build_matte(matte_cfg([*overrides, "matte=mtm", f"matte.ckpt_path={checkpoint}"]))
        methods[GUIDED] = lambda s: (guided.matte(s.image, *refined[s.name]).alpha, {})
    if decompose:
        methods.update(oracle_methods(classical, refined, has_trimaps))
    if has_trimaps:
        methods[CEILING] = lambda s: (closed_form_alpha(s.image, s.trimap), {})
    return methods


def gap_closed(rows: list[dict], label: str, keys: list[str]) -> dict[str, float]:
    """(floor - row) / (floor - ceiling) per key: 1 = as good as the trimap ceiling, 0 = the floor."""
    by_label = {row["method"]: row for row in rows}
    if CEILING not in by_label or label not in by_label:
        return {}
    floor, ceiling, row = by_label[FLOOR], by_label[CEILING], by_label[label]
    return {key: (floor[key] - row[key]) / (floor[key] - ceiling[key]) if floor[key] != ceiling[key] else float("nan")
            for key in keys}


def wins(outcomes, challenger: str, reference: str, key: str = "sad") -> tuple[int, int, list[str]]:
    """Images where ``challenger`` has the lower ``key`` than ``reference``: (wins, losses, per-image lines)."""
    by_name = {}
    for outcome in outcomes:
        if outcome.error is None and outcome.method in (challenger, reference):
            by_name.setdefault(outcome.name, {})[outcome.method] = outcome.scores[key]
    won, lost, lines = 0, 0, []
    for name, scores in sorted(by_name.items()):
        if len(scores) == 2:
            better = scores[challenger] < scores[reference]
            won, lost = won + better, lost + (not better)
            lines.append(f"{name}: {scores[challenger]:.3f} vs {scores[reference]:.3f} ({'win' if better else 'loss'})")
    return won, lost, lines


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--mtm-ckpt", type=Path, default=None, help="train.py checkpoint: adds the matte=mtm row")
    parser.add_argument("--refined-cache", type=Path, default=None,
                        help="keep each image's refined mask and evidence here (NAME.npz) and reuse them on a rerun "
                             "with the same data and overrides (the refiner is then not timed)")
    parser.add_argument("--decompose", action="store_true",
                        help="add the two oracle rows (a perfect band, perfect labels) that split the gap to the ceiling")
    parser.add_argument("overrides", nargs="*", help="refine.py overrides (refiner and matte) for the pipeline rows")
    args = parser.parse_args(argv)

    samples, skipped = load_samples(args.data, args.layout, args.masks, args.limit, args.half)
    tag = args.tag or args.data.resolve().name + ("" if args.half is None else f"_{args.half}")
    has_trimaps = all(s.trimap is not None for s in samples)
    print(f"{len(samples)} images from {args.data} ({len(skipped)} skipped)", flush=True)
    warm_up_pymatting()

    refiner, seed = build_refiner(args.overrides)
    refined, refine_seconds = {}, []
    for sample in samples:
        cached = None if args.refined_cache is None else args.refined_cache / f"{sample.name}.npz"
        if cached is not None and cached.is_file():
            with np.load(cached) as stored:
                refined[sample.name] = (stored["mask"], stored["evidence"])
            continue
        started = time.perf_counter()
        result = refiner.refine(sample.image, sample.rough_mask, seed=seed, record_steps=True)
        refined[sample.name] = (result.mask, refine_evidence(result, sample.rough_mask))
        refine_seconds.append(time.perf_counter() - started)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(cached, mask=refined[sample.name][0], evidence=refined[sample.name][1])
    methods = methods_for(refined, has_trimaps, args.mtm_ckpt, args.overrides, args.decompose)

    outcomes = []
    for index, sample in enumerate(samples):
        outcomes += [run_method(label, method, sample, score_alpha)[0] for label, method in methods.items()]
        print(f"[{index + 1}/{len(samples)}] {sample.name}", flush=True)

    keys = WHOLE + (UNKNOWN if has_trimaps else []) + COST
    rows = summarize(outcomes, list(methods), keys)
    title = f"Alpha quality on {tag} ({len(samples)} images)"
    notes = [f"Data: `{args.data}` (layout {args.layout}, photographs: {args.half or 'all'}), rough masks from "
             f"`{args.masks or args.data / 'init'}`. Standard protocol at the original resolution; SAD, Grad, Conn "
             "/1000, MSE as is; `_unknown`: over the dataset trimap's unknown region. Means over the images a method "
             "ran on (`ok`); wall and CPU seconds and peak RSS growth (MiB) per image of the matte alone. "
             f"Refiner (CPU default{', ' + ' '.join(args.overrides) if args.overrides else ''}, steps recorded for the "
             f"evidence): {np.mean(refine_seconds) if refine_seconds else float('nan'):.1f} s per image on top of the IOSM "
             "rows (nan: the refined masks came from --refined-cache)."]
    lines = []
    for label in (PIPELINE, GUIDED):
        closed = gap_closed(rows, label, WHOLE + (UNKNOWN if has_trimaps else []))
        if closed:
            lines.append(f"Gap closed by `{label}` between `{FLOOR}` and the ceiling (goal >= 0.5 each): "
                         + ", ".join(f"{key} {value:.2f}" for key, value in closed.items()))
    for challenger, reference in ((PIPELINE, FLOOR), (GUIDED, PIPELINE)):
        won, lost, per_image = wins(outcomes, challenger, reference)
        if per_image:
            lines.append(f"Per-image SAD, `{challenger}` vs `{reference}`: {won} wins, {lost} losses. "
                         + "; ".join(per_image))
    notes += lines
    print(markdown_table(rows, keys))
    print("\n".join(lines))
    stem = f"alpha_quality_{tag}"
    write_results(args.out, stem, title, rows, keys, outcomes, skipped, notes)
    region = "_unknown" if has_trimaps else ""
    where = "unknown region" if has_trimaps else "whole image"
    panels = [(f"sad{region}", f"SAD/1000 ({where})"), (f"mse{region}", f"MSE ({where})"),
              (f"conn{region}", f"Conn/1000 ({where})"), ("cpu_seconds", "CPU seconds / image (matte)")]
    bar_plot(args.out / f"{stem}.png", title, rows, panels)
    return rows


if __name__ == "__main__":
    main()
