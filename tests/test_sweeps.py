"""Sweeps: the summary callback through real Hydra multiruns (basic and submitit-local launchers),
failed jobs, wandb runs of a sweep, and the table on hand-made job folders."""

from __future__ import annotations

import csv
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra.types import RunMode
from omegaconf import OmegaConf
from PIL import Image

from iosm.config import REPO_ROOT
from iosm.sweeps import SweepSummary, collect_jobs, write_summary

SIZE = 32


def _write_png(path: Path, alpha: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.clip(alpha, 0, 1) * 255).round().astype(np.uint8)).save(path)


@pytest.fixture(scope="module")
def mattes(tmp_path_factory) -> dict[str, Path]:
    """Two ground-truth alphas and two prediction folders: ``good`` close to them, ``bad`` far off."""
    root = tmp_path_factory.mktemp("mattes")
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        alpha = np.zeros((SIZE, SIZE), np.float32)
        alpha[8:24, 6:26] = 1.0
        alpha[8:24, 4:6] = 0.5
        _write_png(root / "gt" / f"{name}.png", alpha)
        _write_png(root / "good" / f"{name}.png", alpha + rng.normal(0, 0.02, alpha.shape))
        _write_png(root / "bad" / f"{name}.png", 1.0 - alpha)
    return {key: root / key for key in ("gt", "good", "bad")}


def _multirun(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python evaluate.py -m OVERRIDES``: the real entry point, so Hydra's own multirun path runs."""
    env = {**os.environ, "WANDB_MODE": "offline", "MPLBACKEND": "Agg", "HYDRA_FULL_ERROR": "1"}
    return subprocess.run([sys.executable, str(REPO_ROOT / "evaluate.py"), "-m", *overrides],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_two_by_two_sweep_writes_four_jobs_a_table_and_a_plot(mattes, tmp_path):
    sweep_dir = tmp_path / "sweep"
    done = _multirun(f"pred_dir={mattes['good']},{mattes['bad']}", "resize_pred=false,true",
                     f"gt_dir={mattes['gt']}", f"output_dir={sweep_dir}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]

    job_dirs = sorted(path for path in sweep_dir.iterdir() if path.is_dir() and not path.name.startswith("."))
    assert [path.name for path in job_dirs] == ["0", "1", "2", "3"]
    rows = _read_csv(sweep_dir / "sweep_summary.csv")
    assert [row["job"] for row in rows] == ["0", "1", "2", "3"]
    assert {row["status"] for row in rows} == {"ok"}
    assert {(row["pred_dir"], row["resize_pred"].lower()) for row in rows} == {
        (str(mattes[quality]), flag) for quality in ("good", "bad") for flag in ("false", "true")}
    # Every row carries its own job's results.json, and the metrics tell the two predictions apart.
    for row in rows:
        results = json.loads((sweep_dir / row["job"] / "results.json").read_text())
        assert float(row["sad"]) == pytest.approx(results["sad"])
    sad = {Path(row["pred_dir"]).name: float(row["sad"]) for row in rows}
    assert sad["bad"] > 10 * sad["good"]

    markdown = (sweep_dir / "sweep_summary.md").read_text()
    assert "4 jobs, 4 ok, 0 failed" in markdown
    assert sum(line.startswith("| ") for line in markdown.splitlines()) == 1 + 4  # header + one row per job
    assert f"`gt_dir={mattes['gt']}`" in markdown  # shared overrides listed once, not as columns
    with Image.open(sweep_dir / "sweep_summary.png") as plot:
        assert plot.format == "PNG" and min(plot.size) > 100


def test_failed_job_is_recorded_and_the_sweep_goes_on(mattes, tmp_path):
    sweep_dir = tmp_path / "sweep"
    missing = tmp_path / "no_such_folder"
    done = _multirun(f"pred_dir={missing},{mattes['good']}", f"gt_dir={mattes['gt']}",
                     f"output_dir={sweep_dir}", cwd=tmp_path)
    assert done.returncode != 0  # Hydra re-raises the first failure once the batch is done

    rows = _read_csv(sweep_dir / "sweep_summary.csv")
    assert [row["status"] for row in rows] == ["failed", "ok"]  # the job after the failure still ran
    assert "no_such_folder" in rows[0]["error"]
    assert float(rows[1]["sad"]) >= 0
    status = json.loads((sweep_dir / "0" / "job_status.json").read_text())
    assert status["status"] == "failed" and "Traceback" in status["traceback"]
    assert "| failed |" in (sweep_dir / "sweep_summary.md").read_text()


def test_submitit_local_launcher_runs_a_two_job_sweep(mattes, tmp_path):
    sweep_dir = tmp_path / "sweep"
    done = _multirun("hydra/launcher=submitit_local", f"pred_dir={mattes['good']},{mattes['bad']}",
                     f"gt_dir={mattes['gt']}", f"output_dir={sweep_dir}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (sweep_dir / ".submitit").is_dir()  # the jobs really went through submitit
    rows = _read_csv(sweep_dir / "sweep_summary.csv")
    assert [row["status"] for row in rows] == ["ok", "ok"]
    assert all(float(row["sad"]) >= 0 for row in rows)
    assert (sweep_dir / "sweep_summary.png").is_file()


def _wandb_records(run_file: Path):
    """The protobuf records of an offline wandb run (``run-ID.wandb``, LevelDB log framing: 32 KiB
    blocks of chunks with a 7-byte header). wandb >= 0.19 writes no ``wandb-summary.json`` offline,
    and ``wandb.Api`` needs the server, so the run's own log is the record of what was logged."""
    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:4] == b":W&B", f"{run_file} is not a wandb run log"
    position, pending = 7, b""
    while position + 7 <= len(data):
        block_left = 32768 - position % 32768
        checksum, length, kind = struct.unpack("<IHB", data[position:position + 7])
        if block_left < 7 or (length == 0 and kind == 0):  # block trailer padding
            position += block_left
            continue
        pending += data[position + 7:position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def _summary_updates(records) -> dict[str, object]:
    """The run summary's last value of every key (nested keys joined by ``/``; a ``{"min": x}`` as x)."""
    summary: dict[str, object] = {}
    for record in records:
        if record.WhichOneof("record_type") == "summary":
            for item in record.summary.update:
                value = json.loads(item.value_json)
                summary[item.key or "/".join(item.nested_key)] = value.get("min", value) if isinstance(value, dict) else value
    return summary


def test_wandb_offline_runs_of_a_sweep_line_up_with_their_metric_keys(mattes, tmp_path):
    sweep_dir = tmp_path / "sweep"
    done = _multirun("logger=wandb", "++experiment_name=wandb_sweep", f"pred_dir={mattes['good']},{mattes['bad']}",
                     f"gt_dir={mattes['gt']}", f"output_dir={sweep_dir}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]

    for job in ("0", "1"):
        run_files = list((sweep_dir / job / "wandb").glob("offline-run-*/run-*.wandb"))
        assert len(run_files) == 1, f"job {job}: expected one offline run"
        records = list(_wandb_records(run_files[0]))
        run = next(record.run for record in records if record.WhichOneof("record_type") == "run")
        assert (run.project, run.run_group, run.job_type) == ("iosm", "wandb_sweep", "evaluate")
        summary = _summary_updates(records)
        assert {"eval/sad", "eval/mse", "eval/grad", "eval/conn"} <= set(summary)
        assert {"eval/per_image/_type", "eval/worst_cases/_type"} <= set(summary)  # the table and the panel
        minimised = {record.metric.name for record in records if record.WhichOneof("record_type") == "metric"
                     and record.metric.summary.min}
        assert {"eval/sad", "eval/mse", "eval/grad", "eval/conn"} <= minimised  # best = minimum
        results = json.loads((sweep_dir / job / "results.json").read_text())
        assert summary["eval/sad"] == pytest.approx(results["sad"])


def _fake_job(sweep_dir: Path, num: int, overrides: list[str], status: str | None,
              results: dict | None = None, error: str | None = None) -> None:
    """A job folder as a sweep leaves it: Hydra's overrides.yaml, and (when the job ended) the
    callback's job_status.json and the job's results.json."""
    job_dir = sweep_dir / str(num)
    (job_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), job_dir / ".hydra" / "overrides.yaml")
    if status is not None:
        (job_dir / "job_status.json").write_text(json.dumps(
            {"num": num, "status": status, "error": error, "overrides": overrides}))
    if results is not None:
        (job_dir / "results.json").write_text(json.dumps(results))


def test_table_from_job_folders(tmp_path):
    _fake_job(tmp_path, 0, ["refiner.iters=2", "seed=0", "inpainter=opencv"], "ok",
              {"iou_after": 0.8, "seconds": 1.5, "this_run": {"ok": 2}})
    _fake_job(tmp_path, 1, ["refiner.iters=4", "seed=0", "inpainter=diffusers"], "failed",
              error="ValueError: bad | value\nsecond line")
    _fake_job(tmp_path, 10, ["refiner.iters=6", "seed=0", "inpainter=opencv"], None)  # killed mid-run
    (tmp_path / ".submitit" / "123").mkdir(parents=True)  # launcher logs are not jobs

    jobs = write_summary(tmp_path)

    assert [job.num for job in jobs] == [0, 1, 10]  # numeric order, not "0, 1, 10" by accident of names
    rows = _read_csv(tmp_path / "sweep_summary.csv")
    assert [row["status"] for row in rows] == ["ok", "failed", "unfinished"]
    assert list(rows[0]) == ["job", "status", "refiner.iters", "inpainter", "iou_after", "seconds",
                             "this_run/ok", "error"]  # seed is the same everywhere: not a column
    assert rows[1]["error"] == "ValueError: bad | value\nsecond line"  # the CSV keeps the message whole
    markdown = (tmp_path / "sweep_summary.md").read_text()
    assert "ValueError: bad \\| value second line" in markdown  # one escaped Markdown cell
    assert "`seed=0`" in markdown
    assert (tmp_path / "sweep_summary.png").is_file()


def test_callback_leaves_single_runs_alone(tmp_path):
    config = OmegaConf.create({"hydra": {"mode": RunMode.RUN, "runtime": {"output_dir": str(tmp_path)},
                                         "sweep": {"dir": str(tmp_path)}, "job": {"num": 0}}})
    SweepSummary().on_job_end(config, job_return=None)
    assert list(tmp_path.iterdir()) == []
    assert collect_jobs(tmp_path) == []
