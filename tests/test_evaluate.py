"""evaluate.py folder mode end to end on generated files, its bad inputs, and the logger helpers."""

from __future__ import annotations

import csv
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from iosm.data.io import read_alpha, write_image
from iosm.jobs.evaluate import EvaluationError, run
from iosm.metrics import matting_metrics, mean_scores

NAMES = ("a", "b", "c")
SIZE = (40, 56)  # H, W


def _alpha(seed: int) -> np.ndarray:
    """A soft disc, 8-bit quantised: (H, W) float in [0, 1]."""
    ys, xs = np.mgrid[: SIZE[0], : SIZE[1]]
    radius = np.hypot(ys - SIZE[0] / 2 - seed, xs - SIZE[1] / 2) / 12
    return np.rint(np.clip(1.6 - radius, 0, 1) * 255) / 255


@pytest.fixture
def folders(tmp_path) -> dict[str, Path]:
    """gt/ (one as 16-bit PNG), pred/ (one as RGB PNG), trimap/, image/, mask/ for NAMES."""
    rng = np.random.default_rng(0)
    dirs = {key: tmp_path / key for key in ("gt", "pred", "trimap", "image", "mask")}
    for index, name in enumerate(NAMES):
        gt = _alpha(index)
        pred = np.rint(np.clip(gt + rng.normal(0, 0.1, gt.shape) * (gt > 0), 0, 1) * 255) / 255
        if name == "a":  # 16-bit ground truth
            dirs["gt"].mkdir(exist_ok=True)
            Image.fromarray(np.rint(gt * 65535).astype(np.uint16)).save(dirs["gt"] / f"{name}.png")
        else:
            write_image(dirs["gt"] / f"{name}.png", gt)
        if name == "b":  # RGB prediction (R = G = B)
            write_image(dirs["pred"] / f"{name}.png", np.repeat(pred[..., None], 3, axis=2))
        else:
            write_image(dirs["pred"] / f"{name}.png", pred)
        write_image(dirs["trimap"] / f"{name}.png", np.where(gt >= 1, 1.0, np.where(gt > 0, 0.5, 0.0)))
        write_image(dirs["image"] / f"{name}.jpg", rng.random((*SIZE, 3)))
        write_image(dirs["mask"] / f"{name}.png", (gt > 0.5).astype(np.float32))
    return dirs


def _expected(folders: dict[str, Path], names=NAMES) -> dict[str, float]:
    scores = [
        matting_metrics(
            read_alpha(folders["pred"] / f"{name}.png"),
            read_alpha(folders["gt"] / f"{name}.png"),
            read_alpha(folders["trimap"] / f"{name}.png"),
        )
        for name in names
    ]
    return mean_scores(scores)


def _evaluate(compose_cfg, folders, *extra):
    overrides = [f"pred_dir={folders['pred']}", f"gt_dir={folders['gt']}", f"trimap_dir={folders['trimap']}", *extra]
    cfg = compose_cfg("evaluate", overrides)
    return run(cfg), Path(cfg.output_dir)


def test_folder_mode_writes_metrics_csv_report_and_results(compose_cfg, folders):
    sad, output = _evaluate(compose_cfg, folders, f"image_dir={folders['image']}", "logger=csv")
    metrics = json.loads((output / "metrics.json").read_text())
    metric_keys = {"n", "sad", "mse", "grad", "conn", "sad_unknown", "mse_unknown", "grad_unknown", "conn_unknown"}
    assert metric_keys <= set(metrics)
    assert metrics["n"] == 3 and metrics["protocol"] == "standard" and metrics["missing"] == []
    expected = _expected(folders)
    for key in metric_keys - {"n"}:
        assert metrics[key] == pytest.approx(expected[key], rel=1e-9), key
    assert sad == pytest.approx(expected["sad"])
    # 16-bit and RGB files were read as alphas: the values are those of the 8-bit arrays they hold.
    assert metrics["sad"] < 0.1

    rows = list(csv.DictReader((output / "per_image.csv").open()))
    assert [row["name"] for row in rows] == list(NAMES) and {row["status"] for row in rows} == {"ok"}
    results = json.loads((output / "results.json").read_text())
    assert results["sad"] == metrics["sad"] and all(isinstance(value, (int, float)) for value in results.values())
    report = (output / "report.md").read_text()
    assert "sad_histogram.png" in report and "worst_cases.png" in report and "| sad |" in report
    panel = np.asarray(Image.open(output / "worst_cases.png"))
    assert panel.ndim == 3 and panel.shape[0] > 3 * 100  # three worst cases, one row each
    assert (output / "sad_histogram.png").is_file()
    assert (output / "csv" / "metrics.csv").is_file() and (output / "csv" / "eval_per_image.csv").is_file()


def test_size_mismatch_names_both_files_unless_resize_pred(compose_cfg, folders):
    write_image(folders["pred"] / "c.png", np.zeros((20, 28)))
    with pytest.raises(EvaluationError, match=r"c\.png is 28x20.*c\.png is 56x40"):
        _evaluate(compose_cfg, folders)
    _, output = _evaluate(compose_cfg, folders, "resize_pred=true")
    assert json.loads((output / "metrics.json").read_text())["n"] == 3


def test_missing_prediction_is_counted_named_and_fails_unless_allowed(compose_cfg, folders):
    (folders["pred"] / "b.png").unlink()
    with pytest.raises(EvaluationError, match=r"1 ground truth\(s\).*: b \(set allow_missing=true"):
        _evaluate(compose_cfg, folders)
    _, output = _evaluate(compose_cfg, folders, "allow_missing=true")
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["n"] == 2 and metrics["n_missing"] == 1 and metrics["missing"] == ["b"]
    assert metrics["sad"] == pytest.approx(_expected(folders, ("a", "c"))["sad"], rel=1e-9)
    statuses = {row["name"]: row["status"] for row in csv.DictReader((output / "per_image.csv").open())}
    assert statuses == {"a": "ok", "b": "missing", "c": "ok"}


def test_trimaps_without_unknown_pixels_report_null_mse_unknown(compose_cfg, folders):
    for name in NAMES:
        write_image(folders["trimap"] / f"{name}.png", (read_alpha(folders["gt"] / f"{name}.png") > 0.5).astype(float))
    _, output = _evaluate(compose_cfg, folders)
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["mse_unknown"] is None and metrics["sad_unknown"] == 0.0 and metrics["n"] == 3
    assert "mse_unknown" not in json.loads((output / "results.json").read_text())


def test_unreadable_prediction_fails_that_image_only(compose_cfg, folders):
    (folders["pred"] / "a.png").write_bytes(b"not a png")
    with pytest.raises(EvaluationError, match="a.png"):
        _evaluate(compose_cfg, folders)
    metrics = json.loads((Path(compose_cfg("evaluate").output_dir) / "metrics.json").read_text())
    assert metrics["n"] == 2 and metrics["errors"][0]["name"] == "a"


def test_iosm_original_protocol_needs_masks_and_records_itself(compose_cfg, folders):
    with pytest.raises(ValueError, match="mask_dir"):
        overrides = [f"pred_dir={folders['pred']}", f"gt_dir={folders['gt']}", "protocol=iosm_original"]
        run(compose_cfg("evaluate", overrides))
    _, output = _evaluate(compose_cfg, folders, "protocol=iosm_original", f"mask_dir={folders['mask']}")
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["protocol"] == "iosm_original" and {"sad", "mse", "grad", "conn"} <= set(metrics)
    assert "sad_unknown" not in metrics
    assert "Original IOSM protocol" in (output / "report.md").read_text()


def test_checkpoint_mode_is_delegated(compose_cfg, monkeypatch, tmp_path):
    calls = []
    fake = types.ModuleType("iosm.jobs.evaluate_checkpoint")
    fake.run_checkpoint = lambda cfg: calls.append(cfg.ckpt_path) or 1.25
    monkeypatch.setitem(sys.modules, "iosm.jobs.evaluate_checkpoint", fake)
    assert run(compose_cfg("evaluate", [f"ckpt_path={tmp_path / 'model.ckpt'}"])) == 1.25
    assert calls == [str(tmp_path / "model.ckpt")]


def test_folder_mode_without_folders_says_what_to_give(compose_cfg, tmp_path):
    with pytest.raises(ValueError, match="pred_dir: required"):
        run(compose_cfg("evaluate"))
    with pytest.raises(FileNotFoundError, match="pred_dir=.*nowhere: folder does not exist"):
        run(compose_cfg("evaluate", [f"pred_dir={tmp_path / 'nowhere'}", f"gt_dir={tmp_path}"]))


# --- logger helpers ------------------------------------------------------------------------------


def test_log_helpers_write_csv_and_tensorboard(compose_cfg, tmp_path):
    from iosm.loggers import build_loggers, finalize_loggers, log_images, log_summary, log_table

    cfg = compose_cfg("evaluate", ["logger=csv"])
    loggers = build_loggers(cfg)
    cfg_tb = compose_cfg("evaluate", ["logger=tensorboard", f"output_dir={tmp_path / 'tb'}"])
    loggers += build_loggers(cfg_tb)
    assert [type(logger).__name__ for logger in loggers] == ["CSVLogger", "TensorBoardLogger"]
    log_summary(loggers, {"sad": 1.5, "protocol": "standard"}, prefix="eval")
    log_table(loggers, "eval/per_image", [{"name": "a", "sad": 1.0}, {"name": "b", "sad": 2.0}])
    log_images(loggers, "eval/panel", [np.zeros((8, 8, 3), np.uint8)])
    finalize_loggers(loggers)
    csv_dir = Path(loggers[0].log_dir)
    assert "eval/sad" in (csv_dir / "metrics.csv").read_text()
    assert (csv_dir / "eval_per_image.csv").read_text().splitlines() == ["name,sad", "a,1.0", "b,2.0"]
    assert any(Path(loggers[1].log_dir).glob("events.out.tfevents.*"))
    assert build_loggers(compose_cfg("evaluate", ["logger=none"])) == []


@pytest.mark.parametrize(
    ("env", "requested", "logged_in", "offline"),
    [
        ({}, None, False, True),
        ({}, None, True, False),
        ({"WANDB_MODE": "offline"}, None, True, True),
        ({}, True, True, True),
        ({"WANDB_MODE": "online"}, None, True, False),
    ],
)
def test_wandb_is_offline_unless_configured(monkeypatch, env, requested, logged_in, offline):
    from iosm import loggers

    monkeypatch.delenv("WANDB_MODE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(loggers, "wandb_logged_in", lambda: logged_in)
    assert loggers.wandb_offline(requested) is offline


def test_wandb_online_without_login_says_how_to_fix(monkeypatch):
    from iosm import loggers

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(loggers, "wandb_logged_in", lambda: False)
    with pytest.raises(ValueError, match="wandb login"):
        loggers.wandb_offline(False)
