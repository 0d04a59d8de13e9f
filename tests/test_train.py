"""train.py end to end on the tiny config, checkpoints, the inference API and evaluate.py's checkpoint mode."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from iosm.config import CONF_DIR
from iosm.jobs.train import run
from iosm.models.inference import MattingPredictor, load_mtm_checkpoint

TINY = ["debug=tiny", "model=mtm_tiny", "logger=csv"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, iosm_cache_dir) -> tuple[Path, object]:
    """One tiny training run shared by the tests below: (its output folder, its config)."""
    output_dir = tmp_path_factory.mktemp("train") / "run"
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[*TINY, f"paths.cache_dir={iosm_cache_dir}", f"output_dir={output_dir}"])
    run(cfg)
    return output_dir, cfg


def test_fast_dev_run_trains_validates_and_tests(compose_cfg, tmp_path):
    cfg = compose_cfg("train", [*TINY, "trainer.fast_dev_run=true"])
    monitored = run(cfg)
    results = json.loads((tmp_path / "output" / "results.json").read_text())
    assert np.isfinite(monitored)
    assert {"test/sad", "test/mse", "test/grad", "test/conn", "train_seconds"} <= set(results)
    assert (tmp_path / "output" / "config.yaml").is_file()


def test_without_a_bar_each_epoch_logs_its_step_loss_and_time_left(compose_cfg, caplog):
    # debug=tiny switches the bar off, as the demo does: the epoch lines are then the progress shown.
    cfg = compose_cfg("train", [*TINY, "trainer.max_epochs=2", "trainer.max_time=00:00:30:00", "test_after_fit=false"])
    with caplog.at_level(logging.INFO, logger="iosm.models.callbacks"):
        run(cfg)
    lines = [record.getMessage() for record in caplog.records if record.name == "iosm.models.callbacks"]
    assert len(lines) == 2, lines
    pattern = r"epoch {}/2 \(step {}\): train/loss_epoch [0-9.e-]+, val/loss [0-9.e-]+, val/sad [0-9.e-]+; " \
              r"\d+:\d\d elapsed, about (\d+):(\d\d) left"
    first, last = re.fullmatch(pattern.format(1, 2), lines[0]), re.fullmatch(pattern.format(2, 4), lines[1])
    assert first and last, lines
    assert last.groups() == ("0", "00")  # the last epoch: nothing left
    assert int(first[1]) * 60 + int(first[2]) < 30 * 60  # the epochs, not max_time, bound the estimate


def test_training_writes_checkpoints_results_and_logs(trained_run):
    output_dir, _ = trained_run
    assert (output_dir / "checkpoints" / "last.ckpt").is_file()
    results = json.loads((output_dir / "results.json").read_text())
    assert Path(results["best_checkpoint"]).is_file()
    assert {"test/sad_unknown", "best_val/sad", "test_mask/sad"} <= set(results)  # synthetic data has trimaps
    logged = pd.read_csv(output_dir / "csv" / "metrics.csv")
    assert {"val/sad", "val/conn", "train/loss_step", "lr-Adam"} <= set(logged.columns)
    assert list((output_dir / "panels").glob("val_epoch*.png"))


def test_validation_scores_the_input_mask_and_the_worst_ratio_to_it(trained_run):
    output_dir, _ = trained_run
    logged = pd.read_csv(output_dir / "csv" / "metrics.csv")
    validated = logged.dropna(subset=["val/worst_ratio_to_mask"])
    assert len(validated) >= 1
    for _, row in validated.iterrows():
        expected = max(row[f"val/{key}"] / row[f"val_mask/{key}"] for key in ("sad", "mse", "conn"))
        assert row["val/worst_ratio_to_mask"] == pytest.approx(expected, rel=1e-5)
    results = json.loads((output_dir / "results.json").read_text())
    assert results["test/worst_ratio_to_mask"] == pytest.approx(
        max(results[f"test/{key}"] / results[f"test_mask/{key}"] for key in ("sad", "mse", "conn")), rel=1e-5)


def test_a_recipe_can_select_the_checkpoint_by_another_metric(compose_cfg, tmp_path):
    cfg = compose_cfg("train", [*TINY, "trainer.max_epochs=2", "test_after_fit=false",
                                "callbacks.model_checkpoint.monitor=val/worst_ratio_to_mask"])
    monitored = run(cfg)
    results = json.loads((tmp_path / "output" / "results.json").read_text())
    assert "best_val/sad" not in results  # the key names what was monitored
    assert monitored == pytest.approx(results["best_val/worst_ratio_to_mask"])
    logged = pd.read_csv(tmp_path / "output" / "csv" / "metrics.csv")["val/worst_ratio_to_mask"].dropna()
    assert monitored == pytest.approx(logged.min())


def test_last_checkpoint_is_the_last_epoch_when_the_best_was_earlier(compose_cfg, tmp_path):
    # Monitoring the step (mode min) makes the first validation the best and no later one improve.
    cfg = compose_cfg("train", [*TINY, "trainer.max_epochs=3", "test_after_fit=false",
                                "callbacks.model_checkpoint.monitor=step", "callbacks.model_checkpoint.filename=best"])
    run(cfg)
    folder = tmp_path / "output" / "checkpoints"
    assert sorted(path.name for path in folder.iterdir()) == ["best.ckpt", "last.ckpt"]
    assert torch.load(folder / "best.ckpt", weights_only=True)["global_step"] == 2
    assert torch.load(folder / "last.ckpt", weights_only=True)["global_step"] == 6


def test_weight_averaging_checkpoints_and_tests_the_averaged_weights(compose_cfg, tmp_path):
    cfg = compose_cfg("train", [*TINY, "trainer.max_epochs=2", "callbacks.model_checkpoint.filename=best",
                                "+callbacks.ema._target_=lightning.pytorch.callbacks.EMAWeightAveraging",
                                "+callbacks.ema.decay=0.5"])
    run(cfg)
    results = json.loads((tmp_path / "output" / "results.json").read_text())
    checkpoint = torch.load(tmp_path / "output" / "checkpoints" / "best.ckpt", weights_only=True)
    averaged, raw = checkpoint["state_dict"], checkpoint["current_model_state"]
    assert any(not torch.equal(averaged[key], raw[key]) for key in averaged)
    # The test loop scores what inference loads: the averaged weights of the checkpoint's state_dict.
    model = instantiate(cfg.model.module)
    model.load_state_dict(averaged)
    tester = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    scored = tester.test(model, datamodule=instantiate(cfg.data))[0]
    assert results["test/sad"] == pytest.approx(scored["test/sad"], rel=1e-5)


def test_resume_from_last_continues_the_run(trained_run, tmp_path, compose_cfg):
    output_dir, _ = trained_run
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(output_dir, resumed_dir)
    cfg = compose_cfg("train", [*TINY, f"output_dir={resumed_dir}", "ckpt_path=last", "trainer.max_epochs=2"])
    run(cfg)
    results = json.loads((resumed_dir / "results.json").read_text())
    assert results["global_step"] == 4  # two steps from the first run, two more after resuming
    with pytest.raises(FileNotFoundError, match="ckpt_path=last"):
        run(compose_cfg("train", [*TINY, f"output_dir={tmp_path / 'fresh'}", "ckpt_path=last"]))


def test_checkpoint_round_trip_gives_the_same_prediction(trained_run):
    output_dir, cfg = trained_run
    checkpoint = torch.load(output_dir / "checkpoints" / "last.ckpt", weights_only=True)
    net = instantiate(cfg.model.net)
    net.load_state_dict({k.removeprefix("net."): v for k, v in checkpoint["state_dict"].items()})
    rng = np.random.default_rng(0)
    image = rng.random((40, 50, 3), dtype=np.float32)
    mask = np.zeros((40, 50), bool)
    mask[10:30, 12:40] = True
    with torch.no_grad():
        expected = net.eval()(torch.from_numpy(image.transpose(2, 0, 1))[None], torch.from_numpy(mask)[None, None].float())
    predicted = MattingPredictor.from_checkpoint(output_dir / "checkpoints" / "last.ckpt").predict(image, mask)
    np.testing.assert_allclose(predicted, expected[0, 0].numpy(), atol=1e-5)


def test_predictor_resizes_a_mask_of_another_size_and_caps_big_images(trained_run):
    output_dir, _ = trained_run
    predictor = MattingPredictor.from_checkpoint(output_dir / "checkpoints" / "last.ckpt", max_side=64)
    image = (np.random.default_rng(1).random((96, 160, 3)) * 255).astype(np.uint8)
    with pytest.warns(UserWarning, match="resized"):
        alpha = predictor.predict(image, np.ones((48, 80), np.uint8) * 255)
    assert alpha.shape == (96, 160) and alpha.dtype == np.float32
    assert 0 <= alpha.min() and alpha.max() <= 1


def test_bad_checkpoints_fail_with_what_was_expected(trained_run, tmp_path):
    output_dir, _ = trained_run
    not_a_checkpoint = tmp_path / "notes.ckpt"
    not_a_checkpoint.write_text("hello")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        load_mtm_checkpoint(not_a_checkpoint)
    other_model = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"layer.weight": torch.zeros(2)}}, other_model)
    with pytest.raises(ValueError, match="not an MTM checkpoint"):
        load_mtm_checkpoint(other_model)
    checkpoint = torch.load(output_dir / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["mtm_spec"]["decoder_channels"] = [64, 32, 32, 16, 16]
    torch.save(checkpoint, tmp_path / "wider.ckpt")
    with pytest.raises(ValueError, match="do not fit the MTM architecture"):
        load_mtm_checkpoint(tmp_path / "wider.ckpt")
    checkpoint["mtm_spec"]["skip_connections"] = "dense"  # a setting this version does not know
    torch.save(checkpoint, tmp_path / "future.ckpt")
    with pytest.raises(ValueError, match="cannot build"):
        load_mtm_checkpoint(tmp_path / "future.ckpt")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_mtm_checkpoint(tmp_path / "missing.ckpt")


def test_nan_loss_stops_training_naming_the_step(compose_cfg):
    cfg = compose_cfg("train", [*TINY, "model.loss.alpha_weight=nan"])
    with pytest.raises(FloatingPointError, match="global step 0"):
        run(cfg)


def test_evaluate_checkpoint_mode_end_to_end(trained_run, compose_cfg, tmp_path):
    from iosm.jobs.evaluate import run as evaluate

    output_dir, _ = trained_run
    cfg = compose_cfg("evaluate", [f"ckpt_path={output_dir / 'checkpoints' / 'last.ckpt'}", "data=synthetic_tiny",
                                   "trainer.accelerator=cpu", "trainer.enable_progress_bar=false"])
    evaluate(cfg)
    eval_dir = tmp_path / "output"
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    alphas = sorted(path.stem for path in (eval_dir / "alphas").glob("*.png"))
    assert metrics["n"] == len(alphas) >= 1
    assert {"sad", "mse", "grad", "conn", "sad_unknown"} <= set(metrics)
    assert (eval_dir / "per_image.csv").is_file() and (eval_dir / "report.md").is_file()


def test_two_cpu_processes_run_a_fast_dev_run_of_training(tmp_path, iosm_cache_dir):
    """trainer=ddp with two CPU processes: Lightning re-launches train.py for rank 1, both ranks join
    one process group, and everything lands in the one output folder."""
    import subprocess
    import sys

    from iosm.config import REPO_ROOT

    output_dir = tmp_path / "ddp"
    command = [sys.executable, str(REPO_ROOT / "train.py"), *TINY, "trainer=ddp", "trainer.accelerator=cpu",
               "trainer.devices=2", "trainer.fast_dev_run=true", f"paths.cache_dir={iosm_cache_dir}",
               f"output_dir={output_dir}"]
    finished = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    log = finished.stdout + finished.stderr
    assert finished.returncode == 0, log[-3000:]
    assert "MEMBER: 2/2" in log  # both ranks joined
    assert {"test/sad", "train_seconds"} <= set(json.loads((output_dir / "results.json").read_text()))
    assert not (tmp_path / "outputs").exists()  # no second run folder from the re-launched rank
