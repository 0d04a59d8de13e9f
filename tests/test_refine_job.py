"""refine.py as a job: the command-line contract end to end, resume, two CPU processes, bad inputs,
the matte stage. Tiny data (64 px synthetic composites), a 64 px canvas and two iterations."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra.errors import InstantiationException
from PIL import Image

from iosm.config import REPO_ROOT
from iosm.data.io import find_by_stem, read_alpha, read_image, write_image
from iosm.jobs.refine import run
from iosm.refine.module import RefinedImage
from iosm.refine.writer import MaskWriter, read_manifest

# Images per test: enough for two per rank in the two-process test, few enough to keep the file fast.
N_IMAGES = 4
FAST = ["inpainter=opencv", "features=color", "refiner.iters=2", "refiner.size=64", "seed=0"]


def contract(root: Path, output_dir: Path, *changes: str) -> list[str]:
    """The ARCHITECTURE.md command's overrides on the dataset at ``root``, with ``changes`` replacing
    (or adding to) them key by key."""
    overrides = ["data=aim500", f"data.root={root}", "prompt=file", f"prompt.dir={root}/init", *FAST,
                 f"output_dir={output_dir}", "data.num_workers=0"]
    changed_keys = {change.split("=")[0] for change in changes}
    return [o for o in overrides if o.split("=")[0] not in changed_keys] + list(changes)


def manifest_lines(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (output_dir / "manifest.jsonl").read_text().splitlines()]


@pytest.fixture
def dataset(synthetic_root, tmp_path) -> Path:
    """A writable copy of the first N_IMAGES images of the tiny synthetic set (the session's is shared)."""
    root = Path(shutil.copytree(synthetic_root, tmp_path / "data"))
    for path in sorted(find_by_stem(root / "original").values())[N_IMAGES:]:
        path.unlink()
    return root


def test_contract_writes_masks_manifest_and_results(dataset, tmp_path, compose_cfg, capsys):
    output_dir = tmp_path / "out"
    run(compose_cfg("refine", contract(dataset, output_dir)))
    assert f"ok={N_IMAGES}, errors=0, skipped=0" in capsys.readouterr().out  # the progress bar's tallies

    names = sorted(find_by_stem(dataset / "original"))
    lines = manifest_lines(output_dir)
    assert sorted(line["name"] for line in lines) == names
    for line in lines:
        assert line["status"] == "ok", line
        assert line["error"] is None and line["seconds"] >= 0
        assert line["inpaint_calls"] > 0 and line["feature_calls"] > 0
        assert 0 <= line["iou_before"] <= 1 and 0 <= line["iou_after"] <= 1
        mask = read_alpha(output_dir / "masks" / f"{line['name']}.png")
        image = read_image(find_by_stem(dataset / "original")[line["name"]])
        assert mask.shape == image.shape[:2]
        assert set(np.unique(mask)) <= {0.0, 1.0}
    results = json.loads((output_dir / "results.json").read_text())
    assert results["images"] == results["ok"] == len(names) and results["errors"] == 0
    assert results["iou_after"] == pytest.approx(np.mean([line["iou_after"] for line in lines]))
    assert results["inpaint_calls"] == pytest.approx(np.mean([line["inpaint_calls"] for line in lines]))
    assert results["this_run"] == {"ok": len(names), "errors": 0, "skipped": 0,
                                   "wall_seconds": results["this_run"]["wall_seconds"]}


def test_resume_redoes_only_unfinished_images(dataset, tmp_path, compose_cfg):
    output_dir = tmp_path / "out"
    run(compose_cfg("refine", contract(dataset, output_dir, "trainer.enable_progress_bar=false")))
    names = sorted(find_by_stem(dataset / "original"))
    # A hard kill: one mask never written, the manifest's last line cut short, a temporary file left.
    (output_dir / "masks" / f"{names[0]}.png").unlink()
    with open(output_dir / "manifest.jsonl", "ab") as handle:
        handle.write(b'{"name": "' + names[1].encode() + b'", "sta')
    (output_dir / "masks" / f".{names[2]}.png.abc.tmp").write_bytes(b"half")
    finished_before = {name: (output_dir / "masks" / f"{name}.png").stat().st_mtime_ns for name in names[1:]}

    run(compose_cfg("refine", contract(dataset, output_dir, "trainer.enable_progress_bar=false")))

    results = json.loads((output_dir / "results.json").read_text())
    assert results["this_run"]["ok"] == 1 and results["this_run"]["skipped"] == len(names) - 1
    assert results["ok"] == len(names)
    *_, cut_line, redone_line = (output_dir / "manifest.jsonl").read_text().splitlines()
    assert cut_line.endswith('"sta')  # closed by the re-run, not glued to the next line
    assert json.loads(redone_line)["name"] == names[0]
    assert (output_dir / "masks" / f"{names[0]}.png").is_file()
    assert {name: (output_dir / "masks" / f"{name}.png").stat().st_mtime_ns for name in names[1:]} == finished_before


def test_two_cpu_processes_write_each_image_once_into_one_folder(dataset, tmp_path):
    output_dir = tmp_path / "out"
    command = [sys.executable, str(REPO_ROOT / "refine.py"), *contract(dataset, output_dir),
               "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp",
               "trainer.enable_progress_bar=false", f"paths.cache_dir={tmp_path / 'cache'}"]
    finished = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr[-3000:]

    names = sorted(find_by_stem(dataset / "original"))
    lines = manifest_lines(output_dir)
    assert sorted(line["name"] for line in lines) == names  # each image exactly once
    assert {line["rank"] for line in lines} == {0, 1}  # both processes worked
    assert sorted(path.stem for path in (output_dir / "masks").iterdir()) == names
    assert json.loads((output_dir / "results.json").read_text())["this_run"]["ok"] == len(names)
    assert not (tmp_path / "outputs").exists()  # no second run folder from the re-launched rank


@pytest.fixture
def bad_dataset(dataset) -> Path:
    """The synthetic copy plus one image per bad input, each otherwise complete (image, alpha, init)."""
    template = sorted(find_by_stem(dataset / "original"))[0]
    image = read_image(dataset / "original" / f"{template}.jpg")
    alpha = read_alpha(dataset / "mask" / f"{template}.png")
    init = read_alpha(dataset / "init" / f"{template}.png")

    def add(name, image_array, alpha_array, init_array):
        write_image(dataset / "original" / f"{name}.png", image_array)
        write_image(dataset / "mask" / f"{name}.png", alpha_array)
        if init_array is not None:
            write_image(dataset / "init" / f"{name}.png", init_array)

    add("bad_unreadable", image, alpha, init)
    (dataset / "original" / "bad_unreadable.png").write_bytes(b"this is not a PNG")
    add("bad_no_mask", image, alpha, None)
    add("bad_other_size", image, alpha, init[::2, ::2])
    add("bad_empty", image, alpha, np.zeros_like(init))
    add("bad_full", image, alpha, np.ones_like(init))
    add("bad_tiny", image[:6, :6], alpha[:6, :6], np.eye(6))
    return dataset


def test_bad_inputs_are_recorded_and_the_run_goes_on(bad_dataset, tmp_path, compose_cfg):
    output_dir = tmp_path / "out"
    run(compose_cfg("refine", contract(bad_dataset, output_dir, "trainer.enable_progress_bar=false", "logger=csv")))

    entries = read_manifest(output_dir / "manifest.jsonl")
    assert len(entries) == len(find_by_stem(bad_dataset / "original"))
    good = [entry for name, entry in entries.items() if not name.startswith("bad_")]
    assert good and all(entry["status"] == "ok" for entry in good)
    expected_errors = {
        "bad_unreadable": "bad_unreadable.png",
        "bad_no_mask": "bad_no_mask",
        "bad_empty": "empty",
        "bad_full": "whole image",
        "bad_tiny": "too small",
    }
    for name, fragment in expected_errors.items():
        assert entries[name]["status"] == "error", entries[name]
        assert fragment in entries[name]["error"], entries[name]
        assert not (output_dir / "masks" / f"{name}.png").exists()
    resized = entries["bad_other_size"]
    assert resized["status"] == "ok" and any("resized" in warning for warning in resized["warnings"]), resized
    assert read_alpha(output_dir / "masks" / "bad_other_size.png").shape == (64, 64)
    results = json.loads((output_dir / "results.json").read_text())
    assert results["this_run"]["errors"] == len(expected_errors)
    # The logger gets the summary and the per-image table, errors included.
    assert "refine/iou_after" in (output_dir / "csv" / "metrics.csv").read_text()
    table = (output_dir / "csv" / "refine_per_image.csv").read_text().splitlines()
    assert len(table) == 1 + len(entries)


def test_on_error_raise_stops_after_recording_the_bad_image(bad_dataset, tmp_path, compose_cfg):
    output_dir = tmp_path / "out"
    cfg = compose_cfg("refine", contract(bad_dataset, output_dir, "on_error=raise",
                                         "trainer.enable_progress_bar=false"))
    with pytest.raises(RuntimeError, match="on_error=raise"):
        run(cfg)
    errors = [line for line in manifest_lines(output_dir) if line["status"] == "error"]
    assert len(errors) == 1 and errors[0]["name"].startswith("bad_")


@pytest.mark.parametrize("changes", [
    ["matte=mtm", "matte.ckpt_path=MISSING"],
    ["inpainter=diffusers", "inpainter.model_path=MISSING"],
    ["features=dino", "features.model_path=MISSING"],
], ids=["matte", "diffusers", "dino"])
def test_missing_model_path_fails_before_any_image(changes, dataset, tmp_path, compose_cfg):
    output_dir, missing = tmp_path / "out", tmp_path / "no_such_model"
    key = changes[-1].split("=")[0]
    cfg = compose_cfg("refine", contract(dataset, output_dir, *(c.replace("MISSING", str(missing)) for c in changes)))
    with pytest.raises((FileNotFoundError, InstantiationException), match=f"{key}={missing}"):
        run(cfg)
    assert not (output_dir / "manifest.jsonl").exists()


def test_writer_ignores_a_duplicate_prediction(tmp_path):
    """A foreign distributed sampler pads shards with repeated images: one line per image still."""
    writer = MaskWriter(tmp_path)
    prediction = RefinedImage({"name": "a", "status": "ok", "error": None}, mask=np.eye(8, dtype=bool))
    for _ in range(2):
        writer.write_on_batch_end(None, None, prediction, None, None, 0)
    assert manifest_lines(tmp_path) == [{"name": "a", "status": "ok", "error": None}]
    assert writer.finished_names() == {"a"}


@pytest.mark.parametrize("matte", ["classical", "mtm"])
def test_matte_stage_writes_alphas_and_cutouts(matte, dataset, tmp_path, compose_cfg, tiny_mtm_checkpoint):
    output_dir = tmp_path / "out"
    changes = [] if matte == "classical" else ["matte=mtm", f"matte.ckpt_path={tiny_mtm_checkpoint}"]
    run(compose_cfg("refine", contract(dataset, output_dir, *changes, "save_steps=true",
                                       "trainer.enable_progress_bar=false")))
    entries = read_manifest(output_dir / "manifest.jsonl")
    for name, image_path in find_by_stem(dataset / "original").items():
        assert entries[name]["status"] == "ok", entries[name]
        alpha = read_alpha(output_dir / "alphas" / f"{name}.png")
        assert alpha.shape == read_image(image_path).shape[:2]
        cutout = np.asarray(Image.open(output_dir / "cutouts" / f"{name}.png"))
        assert cutout.shape == (*alpha.shape, 4)
        np.testing.assert_allclose(cutout[..., 3] / 255.0, alpha, atol=1 / 255)
        assert len(list((output_dir / "steps" / name).iterdir())) == entries[name]["iterations"]


def test_matte_none_writes_masks_only(dataset, tmp_path, compose_cfg):
    output_dir = tmp_path / "out"
    run(compose_cfg("refine", contract(dataset, output_dir, "matte=none", "trainer.enable_progress_bar=false")))
    assert len(list((output_dir / "masks").iterdir())) == N_IMAGES
    assert not (output_dir / "alphas").exists() and not (output_dir / "cutouts").exists()


def test_cutouts_carry_the_estimated_foreground_not_the_photograph(dataset, tmp_path, compose_cfg):
    """At soft edges a cut-out's colour is the object's (pymatting's estimate), not the composite's mix."""
    from iosm.matting.base import estimate_foreground

    output_dir = tmp_path / "out"
    run(compose_cfg("refine", contract(dataset, output_dir, "trainer.enable_progress_bar=false")))
    name, image_path = sorted(find_by_stem(dataset / "original").items())[0]
    image = read_image(image_path)
    alpha = read_alpha(output_dir / "alphas" / f"{name}.png")
    cutout = np.asarray(Image.open(output_dir / "cutouts" / f"{name}.png")) / 255.0
    soft = (alpha > 0.05) & (alpha < 0.95)
    assert soft.any()
    expected = estimate_foreground(image, alpha)
    assert np.abs(cutout[..., :3][soft] - expected[soft]).mean() < 0.02
    assert np.abs(cutout[..., :3][soft] - image[soft]).mean() > 0.02
