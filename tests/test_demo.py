"""`make demo` end to end on a tiny synthetic set: every stage runs and the summary table holds every method."""

from iosm.demo import run_demo

METHODS = (
    "rough mask as alpha",
    "closed-form, trimap around rough mask",
    "GrabCut + closed-form",
    "MTM on rough mask (no refinement)",
    "refined mask + MTM (matte=mtm)",
    "IOSM: refined mask + classical matte (default)",
)


def test_demo_runs_every_stage_and_prints_one_table(tmp_path, iosm_cache_dir):
    data = [f"paths.cache_dir={iosm_cache_dir}", "data.layout.n=20", "data.layout.size=64", "data.train_size=64",
            "data.batch_size=4"]
    summary = run_demo(tmp_path / "demo", train_minutes=1, overrides=data,
                       train_overrides=["model=mtm_tiny", "trainer.max_epochs=1"], refine_overrides=["refiner.size=64"])

    table_rows = [line for line in summary.splitlines() if line.startswith("| ") and not line.startswith("| method")]
    assert [row.split(" | ")[0].removeprefix("| ") for row in table_rows] == list(METHODS)
    assert all(row.split(" | ")[1] == "2" for row in table_rows)  # the 2 held-out images, scored by every method
    demo = tmp_path / "demo"
    assert (demo / "summary.md").read_text() == summary
    for folder in ("refine/masks", "refine/alphas", "refine/cutouts"):
        assert len(list((demo / folder).glob("*.png"))) == 2
    assert (demo / "evaluate" / "report.md").is_file() and (demo / "train" / "checkpoints" / "last.ckpt").is_file()
