"""MTM quality for a fixed training budget on synthetic data, against two weight-free baselines.

    python -m benchmarks.mtm_quality --budget 00:00:06:00 --models mtm mtm_faithful \
        --out benchmarks/results/mtm_quality.md  [Hydra overrides for train.py, e.g. data.train_size=128]

For each ``model=`` config: ``train.py`` runs for ``--budget`` (trainer.max_time) on ``data=synthetic``,
then its best checkpoint mattes the held-out test split through ``MattingPredictor``. Beside it, on
the same images and masks: the rough mask used as alpha, and pymatting's closed-form matting from a
trimap made by eroding/dilating that mask (``--band`` pixels each way). Metrics: SAD, MSE, Grad, Conn
(whole image, standard protocol; /1000 except MSE) and the same over the dataset's trimap unknown
region. A second table measures what matting big images at a capped long side costs: a synthetic set
at ``--big-size`` matted at full size vs at ``--max-side`` with guided-filter or bilinear upsampling.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from iosm.baselines import closed_form_alpha, trimap_from_mask
from iosm.config import CONF_DIR, register_resolvers
from iosm.data.io import atomic_write_text, read_alpha, read_image, read_mask
from iosm.data.layouts import aim500_records
from iosm.data.synthetic import ensure_synthetic
from iosm.jobs.train import run as train
from iosm.metrics import matting_metrics
from iosm.metrics.functional import mean_scores
from iosm.models.inference import MattingPredictor

KEYS = ("sad", "mse", "grad", "conn", "sad_unknown", "mse_unknown", "grad_unknown", "conn_unknown")


def compose_train(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=overrides)


def held_out(cfg, split: str = "test") -> list[dict]:
    """The split's samples at original size: name, image (H, W, 3), alpha, mask, trimap (numpy)."""
    dataset = instantiate(cfg.data).dataset(split)
    samples = []
    for index in range(len(dataset)):
        sample = dataset[index]
        height, width = sample["orig_size"].tolist()

        def plane(key: str) -> np.ndarray:
            return sample[key][:, :height, :width].numpy()

        samples.append({"name": sample["name"], "image": plane("image").transpose(1, 2, 0), "alpha": plane("alpha")[0],
                        "mask": plane("mask")[0] > 0.5, "trimap": plane("trimap")[0] if "trimap" in sample else None})
    return samples


def score(method, samples: list[dict]) -> dict[str, float]:
    rows, started = [], time.perf_counter()
    for sample in samples:
        pred = method(sample)
        rows.append(matting_metrics(pred.astype(np.float64), sample["alpha"].astype(np.float64), sample["trimap"]))
    result = mean_scores(rows)
    result["seconds_per_image"] = (time.perf_counter() - started) / len(samples)
    return result


def table(rows: dict[str, dict[str, float]], keys: tuple[str, ...]) -> str:
    lines = ["| method | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, values in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{values[k]:.4g}" if k in values else "" for k in keys) + " |")
    return "\n".join(lines)


def upsampling_cost(checkpoint: str, root: Path, max_side: int) -> dict[str, dict[str, float]]:
    """Full-size prediction vs capped long side + guided / bilinear upsampling, on big synthetic images."""
    records = aim500_records(root)
    full = MattingPredictor.from_checkpoint(checkpoint, max_side=None)
    capped = {kind: MattingPredictor.from_checkpoint(checkpoint, max_side=max_side, upsample=kind)
              for kind in ("guided", "bilinear")}
    rows: dict[str, list] = {"full size": [], **{f"max_side={max_side}, {k}": [] for k in capped}}
    deviation: dict[str, list] = {f"max_side={max_side}, {k}": [] for k in capped}
    for record in records:
        image, alpha = read_image(record.image_path), read_alpha(record.alpha_path)
        mask = read_mask(Path(record.image_path).parent.parent / "init" / f"{record.name}.png")
        reference = full.predict(image, mask)
        rows["full size"].append(matting_metrics(reference, alpha))
        for kind, predictor in capped.items():
            pred = predictor.predict(image, mask)
            rows[f"max_side={max_side}, {kind}"].append(matting_metrics(pred, alpha))
            deviation[f"max_side={max_side}, {kind}"].append(np.abs(pred - reference).sum() / 1000)
    summary = {name: mean_scores(values) for name, values in rows.items()}
    for name, values in deviation.items():
        summary[name]["sad_vs_full"] = float(np.mean(values))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", default="00:00:06:00", help="training time per model (DD:HH:MM:SS)")
    parser.add_argument("--models", nargs="+", default=["mtm", "mtm_faithful"], help="model= configs to train")
    parser.add_argument("--band", type=int, default=10, help="closed-form trimap: pixels eroded/dilated")
    parser.add_argument("--big-size", type=int, default=1024, help="side of the big images of the upsampling table")
    parser.add_argument("--big-n", type=int, default=6, help="number of big images")
    parser.add_argument("--max-side", type=int, default=256, help="capped long side of the upsampling table")
    parser.add_argument("--work", type=Path, default=None, help="run folders (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown tables here")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for train.py (applied to every model)")
    args = parser.parse_args()
    register_resolvers()
    work = args.work or Path(tempfile.mkdtemp(prefix="mtm_quality_"))

    rows: dict[str, dict[str, float]] = {}
    checkpoints = {}
    samples = None
    for model in args.models:
        cfg = compose_train([f"model={model}", "logger=csv", f"trainer.max_time={args.budget}",
                             "trainer.enable_progress_bar=false", f"output_dir={work / model}", *args.overrides])
        train(cfg)
        results = json.loads((work / model / "results.json").read_text())
        checkpoints[model] = results.get("best_checkpoint") or str(work / model / "checkpoints" / "last.ckpt")
        if samples is None:
            samples = held_out(cfg)
            rows["rough mask as alpha"] = score(lambda s: s["mask"].astype(np.float64), samples)
            rows[f"closed-form (pymatting), mask +-{args.band}px trimap"] = score(
                lambda s: closed_form_alpha(s["image"], trimap_from_mask(s["mask"], args.band)), samples)
        predictor = MattingPredictor.from_checkpoint(checkpoints[model], max_side=None)
        label = f"MTM model={model} ({results['global_step']} steps, {results['train_seconds']:.0f} s)"
        rows[label] = score(lambda s, p=predictor: p.predict(s["image"], s["mask"]), samples)
        print(table(rows, KEYS + ("seconds_per_image",)), flush=True)

    big_root = ensure_synthetic(work / f"big_{args.big_size}", args.big_n, args.big_size, 1)
    upsampling = upsampling_cost(checkpoints[args.models[0]], big_root, args.max_side)
    report = "\n\n".join([
        f"Command: `python -m benchmarks.mtm_quality --budget {args.budget} --models {' '.join(args.models)} "
        f"{' '.join(args.overrides)}`  ",
        f"Machine: {platform.processor() or platform.machine()}, {platform.node()}; date "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"Held-out synthetic test split ({len(samples)} images), standard protocol, SAD/Grad/Conn /1000:",
        table(rows, KEYS + ("seconds_per_image",)),
        f"Big images ({args.big_n} synthetic at {args.big_size}px, rough masks from init/), model={args.models[0]}; "
        "`sad_vs_full`: SAD between the capped and the full-size prediction:",
        table(upsampling, ("sad", "mse", "grad", "conn", "sad_vs_full")),
    ])
    print(report)
    if args.out:
        atomic_write_text(args.out, report + "\n")


if __name__ == "__main__":
    main()
