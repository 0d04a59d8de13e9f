"""Read a sweep folder's job folders into one table, and render it as Markdown.

A job folder is one that holds ``job_status.json`` (written by :class:`iosm.sweeps.SweepSummary`
when the job ends) or Hydra's ``.hydra/overrides.yaml`` (written when it starts). Its row holds the
job's override values, the metrics and cost from the ``results.json`` every job writes, and a status:

- ``ok``: the job function returned;
- ``failed``: it raised; ``error`` holds the exception's type and message;
- ``unfinished``: it started but no end was recorded (still running, or killed by the scheduler).

Only the overrides that differ between jobs are columns (the swept ones, whichever sweeper chose
them); the ones shared by every job are listed once above the Markdown table.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

SUMMARY_NAME = "sweep_summary"
JOB_STATUS_FILE = "job_status.json"
RESULTS_FILE = "results.json"
HYDRA_OVERRIDES_FILE = Path(".hydra") / "overrides.yaml"
# Longest error message shown in a Markdown cell; the CSV and job_status.json keep it whole.
MARKDOWN_ERROR_CHARS = 200


@dataclass
class JobRecord:
    """One job of a sweep. ``overrides`` maps each overridden key to its value as written on the
    command line (``{"refiner.iters": "4"}``); ``results`` is the job's ``results.json``."""

    folder: Path
    num: int | None
    status: str
    error: str = ""
    overrides: dict[str, str] = field(default_factory=dict)
    results: dict[str, object] = field(default_factory=dict)


def parse_overrides(overrides: list[str]) -> dict[str, str]:
    """``["refiner.iters=4", "+x@pkg=a"]`` -> ``{"refiner.iters": "4", "x@pkg": "a"}`` (Hydra's
    own grammar, so quoted values, group choices and ``~key`` deletions read right)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    pairs = {}
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.key_or_group if override.package is None else f"{override.key_or_group}@{override.package}"
        pairs[key] = "(deleted)" if override.is_delete() else override.get_value_element_as_str()
    return pairs


def as_number(value: object) -> float | None:
    """A finite float for numbers and numeric strings (``"1e-3"``), None for anything else."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def flatten(results: dict, prefix: str = "") -> dict[str, object]:
    """Nested result dicts become ``parent/child`` columns (``{"this_run": {"ok": 3}}`` -> ``this_run/ok``)."""
    flat: dict[str, object] = {}
    for key, value in results.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def read_job(folder: Path) -> JobRecord:
    """The record of one job folder (see the module docstring for the statuses)."""
    status_path = folder / JOB_STATUS_FILE
    if status_path.is_file():
        status = json.loads(status_path.read_text(encoding="utf-8"))
        record = JobRecord(folder, status.get("num"), status["status"], status.get("error") or "",
                           parse_overrides(status.get("overrides") or []))
    else:
        overrides = OmegaConf.to_container(OmegaConf.load(folder / HYDRA_OVERRIDES_FILE))
        record = JobRecord(folder, None, "unfinished", overrides=parse_overrides(overrides or []))
    if record.num is None and folder.name.isdigit():
        record.num = int(folder.name)
    results_path = folder / RESULTS_FILE
    if results_path.is_file():
        try:
            record.results = flatten(json.loads(results_path.read_text(encoding="utf-8")))
        except json.JSONDecodeError as error:
            record.error = f"{record.error} (unreadable {results_path}: {error})".strip()
    return record


def _job_folders(sweep_dir: Path):
    """Job folders under ``sweep_dir`` at any depth (``hydra.sweep.subdir`` may nest). The walk stops
    at each job folder, so a refine job's thousands of masks are never listed, and skips hidden
    folders (submitit's ``.submitit`` logs)."""
    for root, dirs, files in os.walk(sweep_dir):
        folder = Path(root)
        if folder != sweep_dir and (JOB_STATUS_FILE in files or (folder / HYDRA_OVERRIDES_FILE).is_file()):
            dirs.clear()
            yield folder
        else:
            dirs[:] = sorted(name for name in dirs if not name.startswith("."))


def collect_jobs(sweep_dir: str | os.PathLike) -> list[JobRecord]:
    """Every job of the sweep in ``sweep_dir``, in job-number order."""
    jobs = [read_job(folder) for folder in _job_folders(Path(sweep_dir))]
    return sorted(jobs, key=lambda job: (job.num is None, job.num or 0, str(job.folder)))


def _ordered_union(dicts) -> list[str]:
    return list(dict.fromkeys(key for mapping in dicts for key in mapping))


def swept_keys(jobs: list[JobRecord]) -> list[str]:
    """Override keys whose value differs between jobs (all keys when there is a single job)."""
    keys = _ordered_union(job.overrides for job in jobs)
    if len(jobs) < 2:
        return keys
    return [key for key in keys if len({job.overrides.get(key) for job in jobs}) > 1]


def table_columns(jobs: list[JobRecord]) -> tuple[list[str], list[str]]:
    """The swept override keys and the result keys (metrics and cost), in first-seen order."""
    keys = swept_keys(jobs)
    return keys, [key for key in _ordered_union(job.results for job in jobs) if key not in keys]


def summary_rows(jobs: list[JobRecord], sweep_dir: Path) -> tuple[list[str], list[dict]]:
    """The table as a header and one dict per job: job folder, status, swept values, results, error."""
    keys, metrics = table_columns(jobs)
    header = ["job", "status", *keys, *metrics, "error"]
    rows = [
        {"job": job.folder.relative_to(sweep_dir).as_posix(), "status": job.status,
         **{key: job.overrides.get(key, "") for key in keys},
         **{key: job.results.get(key, "") for key in metrics}, "error": job.error}
        for job in jobs
    ]
    return header, rows


def _markdown_cell(value: object, limit: int | None = None) -> str:
    """One table cell: numbers (also sampled values such as ``0.00044303752452182633``) to 4
    significant digits, text on one line with ``|`` escaped, cut to ``limit`` characters."""
    number = as_number(value) if isinstance(value, (float, str)) else None
    if number is not None and (isinstance(value, float) or len(value) > 8):
        return f"{number:.4g}"
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def render_markdown(jobs: list[JobRecord], header: list[str], rows: list[dict], sweep_dir: Path,
                    plot_name: str | None) -> str:
    counts = ", ".join(f"{sum(job.status == status for job in jobs)} {status}"
                       for status in ("ok", "failed", "unfinished"))
    lines = ["# Sweep summary", "", f"`{sweep_dir}`: {len(jobs)} jobs, {counts}."]
    shared = [key for key in _ordered_union(job.overrides for job in jobs) if key not in header]
    if len(jobs) > 1 and shared:
        pairs = ", ".join(f"`{key}={jobs[0].overrides[key]}`" for key in shared)
        lines.append(f"Shared by every job: {pairs}.")
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [_markdown_cell(row[key], MARKDOWN_ERROR_CHARS if key == "error" else None) for key in header]
        lines.append("| " + " | ".join(cells) + " |")
    if plot_name:
        lines += ["", f"![Each metric against each swept value]({plot_name})"]
    return "\n".join(lines) + "\n"
