"""`make demo` end to end on the demo's own data (120 synthetic composites of 128 px, 12 held out),
with a tiny MTM trained for one epoch: every stage runs, the summary table holds every method, and
the claim the demo makes holds on its values: refining the rough masks improves them, and the IOSM
row (refined mask + MTM) beats the rough mask on mask IoU and SAD."""

import re

import pytest

from iosm.demo import run_demo

METHODS = (
    "rough mask as alpha",
    "closed-form, trimap around rough mask",
    "GrabCut + closed-form",
    "MTM on rough mask (no refinement)",
    "refined mask + MTM (matte=mtm)",
    "IOSM: refined mask + classical matte (default)",
)
HELD_OUT = 12  # experiments/demo.yaml: 120 images, a seeded 80/10/10 split


def _rows(summary: str) -> dict[str, dict[str, str]]:
    """The summary's Markdown table as {method: {column: cell}}."""
    lines = [line for line in summary.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]
    return {cells[0]: dict(zip(header, cells)) for cells in rows}


@pytest.mark.slow
def test_demo_runs_every_stage_and_its_iosm_row_beats_the_rough_mask(tmp_path, iosm_cache_dir):
    summary = run_demo(tmp_path / "demo", train_minutes=2, overrides=[f"paths.cache_dir={iosm_cache_dir}"],
                       train_overrides=["model=mtm_tiny", "trainer.max_epochs=1"])

    rows = _rows(summary)
    assert list(rows) == list(METHODS)
    assert all(row["n"] == str(HELD_OUT) for row in rows.values())  # every method scored every held-out image
    rough, iosm = rows["rough mask as alpha"], rows["IOSM: refined mask + classical matte (default)"]
    assert float(iosm["mask IoU"]) > float(rough["mask IoU"])
    assert float(iosm["sad"]) < float(rough["sad"])
    demo = tmp_path / "demo"
    assert (demo / "summary.md").read_text() == summary
    for folder in ("refine/masks", "refine/alphas", "refine/cutouts"):
        assert len(list((demo / folder).glob("*.png"))) == HELD_OUT
    assert (demo / "evaluate" / "report.md").is_file() and (demo / "train" / "checkpoints" / "last.ckpt").is_file()
    assert re.search(r"\| IOSM: refined mask \+ classical matte \(default\) \| 12 \|", summary)  # the table as printed


class _Trained(Exception):
    """Stops the demo once its train config is known."""


@pytest.mark.parametrize("train_minutes, cap", [(None, "00:00:08:00"), (3, "00:00:03:00")])
def test_demo_trains_under_its_recipes_cap_unless_told_otherwise(monkeypatch, tmp_path, train_minutes, cap):
    """`make demo` passes no --train-minutes: the recipe's cap (room for a slow machine to finish its
    fixed epochs, so it reproduces the README's table) must not be cut by a default of the script."""
    import iosm.demo

    def stop(cfg):
        raise _Trained(cfg.trainer.max_time, cfg.trainer.max_epochs)

    monkeypatch.setattr(iosm.demo.train_job, "run", stop)
    with pytest.raises(_Trained) as trained:
        run_demo(tmp_path / "demo", train_minutes=train_minutes)
    assert trained.value.args == (cap, 18)
