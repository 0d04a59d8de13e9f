"""Mask quality of the inpaint-outpaint refiner, per iteration, beside GrabCut and closed-form matting.

    python -m benchmarks.refine_quality --data DIR [--limit N] [--size 512] [--rows default,naive,...] \
        [--half tune|report] [--tag NAME] [refine.py overrides]

Rows (``--rows``): ``rough`` (the initial mask); ``default`` (the refiner exactly as ``python refine.py
inpainter=opencv features=color`` builds it); ``faithful`` (the same with ``refiner.faithful=true``);
``naive`` (the naive weight-free port: Telea fill + the original's 2-means); ``grabcut`` (OpenCV
GrabCut from the rough mask: probable labels inside/outside, definite ones away from the boundary);
``closedform`` (pymatting closed-form alpha > 0.5 from an eroded/dilated trimap). Mask IoU and boundary
F against ``alpha > 0.5``; refiner rows add the IoU after every iteration (``iou@k``) and passes per image.
``--half`` keeps the TUNE or REPORT half of the shared photographs (``iosm/data/realdata_split.py``).
The targets table sets every row beside GrabCut (IoU / boundary F gaps, per-image wins and losses,
the worst drop against the rough mask, CPU seconds as a ratio to GrabCut's, both timed in this
process). Writes OUT/refine_quality_TAG.md and .csv.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common import Outcome, add_common_arguments, build_refiner, load_samples, summarize, targets_table, write_results

from iosm.baselines import closed_form_alpha, grabcut_mask, trimap_from_mask
from iosm.metrics import boundary_f, mask_iou

REFINER_ROWS = {
    "default": [],
    "faithful": ["refiner.faithful=true"],
    "naive": ["inpainter.methods=[telea]", "+refiner.separator._target_=iosm.refine.separators.KMeansSeparator"],
}
PEER_ROWS = {
    "rough": lambda s: s.rough_mask,
    "grabcut": lambda s: grabcut_mask(s.image, s.rough_mask),
    "closedform": lambda s: closed_form_alpha(s.image, trimap_from_mask(s.rough_mask)) > 0.5,
}


def scores(mask, sample) -> dict[str, float]:
    gt_mask = sample.alpha > 0.5
    return {"iou": mask_iou(mask, gt_mask), "boundary_f": boundary_f(mask, gt_mask)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--size", type=int, default=None, help="refiner.size, the working canvas (default: the config's)")
    parser.add_argument("--rows", default="rough,default,grabcut,closedform", help=f"comma list of {[*PEER_ROWS, *REFINER_ROWS]}")
    parser.add_argument("overrides", nargs="*", help="refine.py overrides applied to every refiner row")
    args = parser.parse_args(argv)
    rows = args.rows.split(",")
    unknown = [r for r in rows if r not in PEER_ROWS and r not in REFINER_ROWS]
    if unknown:
        raise SystemExit(f"--rows: unknown {unknown}; choose from {[*PEER_ROWS, *REFINER_ROWS]}")
    samples, skipped = load_samples(args.data, args.layout, args.masks, args.limit, args.half)
    tag = args.tag or args.data.resolve().name
    base = ["inpainter=opencv", "features=color", *([f"refiner.size={args.size}"] if args.size else [])]
    refiners = {row: build_refiner(base + REFINER_ROWS[row] + args.overrides) for row in rows if row in REFINER_ROWS}
    iterations = max((refiner.iters for refiner, _ in refiners.values()), default=0)
    outcomes = []
    for sample in samples:
        for row in rows:
            start, cpu_start = time.perf_counter(), time.process_time()
            try:
                if row in PEER_ROWS:
                    outcome = Outcome(row, sample.name, scores(PEER_ROWS[row](sample), sample))
                else:
                    refiner, seed = refiners[row]
                    result = refiner.refine(sample.image, sample.rough_mask, seed=seed, record_steps=True)
                    outcome = Outcome(row, sample.name, scores(result.mask, sample))
                    outcome.scores.update(paint_passes=result.inpaint_calls, feature_passes=result.feature_calls,
                                          fallback=float(result.fallback is not None),
                                          loop_kept=float(result.decision == "loop"),
                                          **{f"s_{k}": v for k, v in result.stage_seconds.items()})
                    masks = result.step_masks()
                    for k in range(iterations):  # an early-stopped run keeps its last mask
                        step_mask = masks[min(k, len(masks) - 1)] if masks else result.mask
                        outcome.scores[f"iou@{k + 1}"] = mask_iou(step_mask, sample.alpha > 0.5)
            except (ValueError, RuntimeError) as error:
                outcome = Outcome(row, sample.name, error=str(error))
            outcome.scores["seconds"] = time.perf_counter() - start if outcome.error is None else float("nan")
            outcome.scores["cpu_seconds"] = time.process_time() - cpu_start if outcome.error is None else float("nan")
            outcomes.append(outcome)
            print(f"{sample.name} {row}: {outcome.error or {k: round(v, 4) for k, v in outcome.scores.items() if k in ('iou', 'seconds')}}", flush=True)
    stage_keys = sorted({k for o in outcomes for k in o.scores if k.startswith("s_")})
    keys = ["iou", "boundary_f", *[f"iou@{k + 1}" for k in range(iterations)], "paint_passes", "feature_passes",
            "fallback", "loop_kept", "seconds", "cpu_seconds", *stage_keys]
    half = f", the {args.half.upper()} half of iosm/data/realdata_split.py" if args.half else ""
    notes = [f"Data: `{args.data}` ({len(samples)} images{half}), canvas `refiner.size={args.size or '(config)'}`, overrides "
             f"`{args.overrides}`. `s_*`: wall seconds per refiner part; `fallback`: share of images that kept the rough mask, `loop_kept`: that kept the painting loop's own mask (colour models unreliable)."]
    if "grabcut" in rows and "rough" in rows:
        targets = targets_table(outcomes, [r for r in rows if r != "grabcut"], "rough", "grabcut")
        notes.append("Targets (each row beside GrabCut from the rough mask):\n\n" + targets)
        print(targets)
    path = write_results(args.out, f"refine_quality_{tag}", f"Refinement mask quality: {tag}",
                         summarize(outcomes, rows, keys), keys, outcomes, skipped, notes)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
