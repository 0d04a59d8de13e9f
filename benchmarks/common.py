"""Shared parts of the peer benchmarks (mask_quality.py, alpha_quality.py): the images, one measured
method call, the IOSM refiner as refine.py builds it, and the table / CSV / plot writers.

A *sample* is one image of a dataset folder with its ground truth and the rough mask every method
starts from: ``image`` (H, W, 3) float32 [0, 1], ``alpha`` (H, W) float32 [0, 1], ``trimap`` (H, W)
float {0, 0.5, 1} or None, ``rough_mask`` (H, W) bool. A *method* maps a sample to
``(prediction, counters)``: a bool mask or a float alpha, and a dict of cost counters (painting-model
passes) that may be empty.

Cost: wall-clock seconds of the call (``time.perf_counter``), CPU seconds of the process (all its
threads, ``time.process_time``: the figure that holds on a machine shared with other jobs), and peak
memory: the largest growth of the process's resident set (RSS, read from ``/proc/self/statm`` every
2 ms by a sampling thread) over its value before the call, in MiB. RSS counts what tracemalloc misses
(OpenCV, torch, numba buffers); memory the process already holds is reused, not counted again, so
the figure is a lower bound for methods that run after bigger ones.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import platform
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from iosm.config import REPO_ROOT
from iosm.data.io import (ImageReadError, atomic_write_bytes, atomic_write_text, find_by_stem, read_alpha, read_image,
                          read_mask)
from iosm.data.layouts import aim500_records, folder_records, ppm100_records

LAYOUTS = {"aim500": aim500_records, "ppm100": ppm100_records, "folder": folder_records}
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results"
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MIB = 2**20


@dataclass
class Sample:
    name: str
    image: np.ndarray
    alpha: np.ndarray
    trimap: np.ndarray | None
    rough_mask: np.ndarray


@dataclass
class Outcome:
    """One method on one image: ``scores`` (empty when it failed), ``error`` (None when it ran)."""

    method: str
    name: str
    scores: dict[str, float] = field(default_factory=dict)
    error: str | None = None


Method = Callable[[Sample], tuple[np.ndarray, dict[str, float]]]


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="dataset folder")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="aim500",
                        help="aim500: original/ mask/ [trimap/] (also the synthetic generator and the real photos); "
                             "ppm100: image/ matte/; folder: image/ alpha/")
    parser.add_argument("--masks", type=Path, default=None, help="rough masks by file stem (default DATA/init)")
    parser.add_argument("--limit", type=int, default=None, help="use the first N images (sorted by name)")
    parser.add_argument("--tag", default=None, help="name of the result files (default: the data folder's name)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder of the .md/.csv/.png results")


def load_samples(data: Path, layout: str, masks: Path | None, limit: int | None) -> tuple[list[Sample], list[str]]:
    """The usable samples of ``data`` and one message per skipped image; SystemExit when none is usable."""
    records = LAYOUTS[layout](data)
    masks = masks or Path(data) / "init"
    if not masks.is_dir():
        raise SystemExit(f"--masks {masks}: no such folder of rough masks; "
                         "pass --masks DIR (binary masks named like the images)")
    mask_paths = find_by_stem(masks)
    samples, skipped = [], []
    for record in records[:limit]:
        try:
            samples.append(_read_sample(record, mask_paths))
        except (ImageReadError, FileNotFoundError, ValueError) as error:
            skipped.append(f"{record.name}: {error}")
    if not samples:
        reasons = "; ".join(skipped[:3]) or "no images"
        raise SystemExit(f"--data {data}: no usable images ({len(records)} found; {reasons})")
    return samples, skipped


def _read_sample(record, mask_paths: dict[str, Path]) -> Sample:
    if record.alpha_path is None:
        missing = record.meta.get("missing", {})
        raise FileNotFoundError(missing.get("alpha", f"{record.image_path}: no ground-truth alpha"))
    if record.name not in mask_paths:
        raise FileNotFoundError(f"{record.image_path}: no rough mask named {record.name}.*")
    image, alpha = read_image(record.image_path), read_alpha(record.alpha_path)
    rough_mask = read_mask(mask_paths[record.name])
    trimap = None if record.trimap_path is None else np.rint(read_alpha(record.trimap_path) * 2) / 2
    for label, plane in (("alpha", alpha), ("rough mask", rough_mask), ("trimap", trimap)):
        if plane is not None and plane.shape != image.shape[:2]:
            raise ValueError(f"{record.image_path}: {label} is {plane.shape[1]}x{plane.shape[0]} px, "
                             f"the image {image.shape[1]}x{image.shape[0]}")
    return Sample(record.name, image, alpha, trimap, rough_mask)


class _PeakRSS:
    """Context manager: ``.peak_mib``, the largest RSS growth over the entry value while inside."""

    def __enter__(self):
        self.baseline = self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss_bytes())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mib = (max(self.peak, _rss_bytes()) - self.baseline) / MIB


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * PAGE_BYTES
    except OSError:  # not Linux: no cheap current-RSS reading; report no growth rather than a wrong one
        return 0


def run_method(label: str, method: Method, sample: Sample,
               score: Callable[[np.ndarray, Sample], dict]) -> tuple[Outcome, np.ndarray | None]:
    """Run and score one method on one sample; an exception is recorded as this image's failure.
    ``fallbacks`` counts the trimap solves that had no definite region and returned the thresholded
    trimap instead of a matte (:class:`iosm.matting.solvers.TrimapFallbackWarning`)."""
    from iosm.matting.solvers import TrimapFallbackWarning

    try:
        with _PeakRSS() as memory, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TrimapFallbackWarning)
            started, cpu_started = time.perf_counter(), time.process_time()
            prediction, counters = method(sample)
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        scores = score(prediction, sample)
    except Exception as error:  # noqa: BLE001  (one method's failure on one image is a result, not a crash)
        return Outcome(label, sample.name, error=f"{type(error).__name__}: {error}"), None
    fallbacks = sum(issubclass(warning.category, TrimapFallbackWarning) for warning in caught)
    cost = {"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mib": memory.peak_mib, "fallbacks": fallbacks}
    return Outcome(label, sample.name, {**scores, **cost, **counters}), prediction


def warm_up_pymatting() -> None:
    """Compile pymatting's numba kernels once, so the first image's time is not the JIT's (~30 s)."""
    from iosm.baselines import closed_form_alpha

    rng = np.random.default_rng(0)
    image = rng.random((24, 24, 3))
    trimap = np.full((24, 24), 0.5)
    trimap[:6], trimap[-6:] = 0.0, 1.0
    closed_form_alpha(image, trimap)
    closed_form_alpha(image, trimap, "knn")


def build_refiner(overrides: list[str]):
    """The refiner exactly as ``python refine.py OVERRIDES`` builds it (conf/refine.yaml through Hydra)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    from iosm.config import CONF_DIR, register_resolvers

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("refine", overrides=overrides)
    return instantiate(cfg.refiner), int(cfg.seed)


def refiner_method(overrides: list[str]) -> Method:
    """IOSM refinement as a method: the refined mask, with painting/feature passes as counters."""
    refiner, seed = build_refiner(overrides)

    def refine(sample: Sample):
        result = refiner.refine(sample.image, sample.rough_mask, seed=seed)
        return result.mask, {"paint_passes": result.inpaint_calls, "feature_passes": result.feature_calls}

    return refine


def backend_overrides(inpainter_path: str | None, features_path: str | None, features: str) -> dict[str, list[str]]:
    """{row label: refine overrides}: the CPU default always, plus one row with the given local weights."""
    rows = {"IOSM refine (opencv + color, CPU default)": []}
    if inpainter_path or features_path:
        parts, overrides = [], []
        if inpainter_path:
            parts.append("diffusers")
            overrides += ["inpainter=diffusers", f"inpainter.model_path={inpainter_path}"]
        else:
            parts.append("opencv")
        if features_path:
            parts.append(features)
            overrides += [f"features={features}", f"features.model_path={features_path}"]
        else:
            parts.append("color")
        rows[f"IOSM refine ({' + '.join(parts)})"] = overrides
    return rows


def summarize(outcomes: list[Outcome], methods: list[str], keys: list[str]) -> list[dict]:
    """One row per method: ``ok``/``failed`` counts and the mean of every key over the images it ran on."""
    rows = []
    for method in methods:
        mine = [o for o in outcomes if o.method == method]
        ran = [o.scores for o in mine if o.error is None]
        row = {"method": method, "ok": len(ran), "failed": len(mine) - len(ran)}
        for key in keys:
            values = [s[key] for s in ran if key in s and not math.isnan(s[key])]
            row[key] = float(np.mean(values)) if values else float("nan")
        rows.append(row)
    return rows


def markdown_table(rows: list[dict], keys: list[str]) -> str:
    columns = ["method", "ok", "failed", *keys]
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for row in rows:
        cells = [row["method"], str(row["ok"]), str(row["failed"])]
        cells += ["-" if math.isnan(row[k]) else f"{row[k]:.4g}" for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_results(out: Path, stem: str, title: str, rows: list[dict], keys: list[str], outcomes: list[Outcome],
                  skipped: list[str], notes: list[str]) -> Path:
    """``out/stem.md`` (provenance, table, skipped and failed images) and ``out/stem.csv`` (per image)."""
    per_image_keys = sorted({k for o in outcomes for k in o.scores})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["method", "name", "status", "error", *per_image_keys])
    for o in outcomes:
        writer.writerow([o.method, o.name, "error" if o.error else "ok", o.error or "",
                         *[f"{o.scores[k]:.6g}" if k in o.scores else "" for k in per_image_keys]])
    atomic_write_text(out / f"{stem}.csv", buffer.getvalue())
    failures = [f"- {o.method} on {o.name}: {o.error}" for o in outcomes if o.error]
    sections = [f"# {title}", provenance(), *notes, markdown_table(rows, keys)]
    if skipped:
        sections.append("Skipped images:\n" + "\n".join(f"- {message}" for message in skipped))
    if failures:
        sections.append("Failed method runs (excluded from the means):\n" + "\n".join(failures))
    path = out / f"{stem}.md"
    atomic_write_text(path, "\n\n".join(sections) + "\n")
    return path


def provenance() -> str:
    command = "python " + " ".join(sys.argv)
    return (f"Command: `{command}`  \nMachine: {platform.machine()}, {os.cpu_count()} CPU cores "
            f"({platform.processor() or 'unknown CPU'}), Python {platform.python_version()}; "
            f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")


def bar_plot(path: Path, title: str, rows: list[dict], panels: list[tuple[str, str]]) -> Path:
    """One horizontal bar chart per (key, axis label) in ``panels``, methods on the y axis; PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [row["method"] for row in rows]
    figure, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels) + 3, 0.45 * len(rows) + 1.6),
                                sharey=True, squeeze=False)
    for axis, (key, axis_label) in zip(axes[0], panels):
        values = [row[key] for row in rows]
        known = [v for v in values if not math.isnan(v)] or [0.0]
        axis.barh(range(len(rows)), [0 if math.isnan(v) else v for v in values], color="tab:blue")
        axis.margins(x=0.15)  # room for the printed values
        if key.endswith("seconds"):
            axis.set_xscale("symlog", linthresh=0.01)
        elif min(known) > 0.5 * max(known):  # close scores (IoU 0.93 vs 0.97): zoom in, values are printed
            axis.set_xlim(left=max(0.0, min(known) - 1.5 * (max(known) - min(known)) - 0.02 * max(known)))
        for y, value in enumerate(values):
            axis.text(0 if math.isnan(value) else value, y, " n/a" if math.isnan(value) else f" {value:.3g}",
                      va="center", fontsize=7)
        axis.set_xlabel(axis_label)
    axes[0][0].set_yticks(range(len(rows)), labels, fontsize=8)
    axes[0][0].invert_yaxis()
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return atomic_write_bytes(path, buffer.getvalue())
