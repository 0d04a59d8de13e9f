"""Smoke tests of the peer benchmarks (benchmarks/mask_quality.py, alpha_quality.py) on two tiny
generated images: the tables have the expected rows and columns, the files are written, a method that
fails on one image is counted as failed there, and a folder without usable images stops clearly."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from benchmarks import alpha_quality, mask_quality

# The refiner shrunk to the tiny images (refine.py overrides), so the smoke stays fast.
TINY_REFINE = ["refiner.iters=2", "refiner.size=64", "refiner.samples=2"]


@pytest.fixture
def benchmarks():
    """The benchmark modules (``python -m benchmarks.NAME`` runs their ``main``)."""
    return {"mask_quality": mask_quality, "alpha_quality": alpha_quality}


@pytest.fixture(scope="module")
def two_images(tmp_path_factory):
    from iosm.data.synthetic import ensure_synthetic

    return ensure_synthetic(tmp_path_factory.mktemp("peers") / "data", 2, 64, 3)


def test_every_benchmark_runs_as_a_package_module():
    """``python -m benchmarks.NAME`` needs package imports: a script-style ``from common import`` breaks it."""
    import importlib
    import pkgutil

    import benchmarks as package

    names = [module.name for module in pkgutil.iter_modules(package.__path__)]
    assert "matte_scale" in names and "common" in names
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        assert name == "common" or callable(getattr(module, "main", None)), f"benchmarks/{name}.py has no main()"


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_mask_quality_table(benchmarks, two_images, tmp_path):
    out = tmp_path / "out"
    rows = benchmarks["mask_quality"].main(["--data", str(two_images), "--out", str(out), "--tag", "tiny",
                                            "--save-masks", str(tmp_path / "masks"), *TINY_REFINE])
    by_method = {row["method"]: row for row in rows}
    assert list(by_method) == ["rough mask", "IOSM refine (opencv + color, CPU default)", "GrabCut (from rough mask)",
                               "closed-form > 0.5 (rough-mask trimap)"]
    for row in rows:
        assert (row["ok"], row["failed"]) == (2, 0)
        assert 0 <= row["iou"] <= 1 and 0 <= row["boundary_f"] <= 1 and row["seconds"] >= 0
    assert by_method["IOSM refine (opencv + color, CPU default)"]["paint_passes"] >= 2  # one per stage at least
    table = (out / "peers_mask_tiny.md").read_text()
    assert "| method | ok | failed | iou | boundary_f | seconds | cpu_seconds | peak_mib | paint_passes |" in table
    assert len(read_csv(out / "peers_mask_tiny.csv")) == 2 * len(rows)
    assert (out / "peers_mask_tiny.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list((tmp_path / "masks" / "iosm_refine_opencv_color_cpu_default").glob("*.png"))) == 2


def test_alpha_quality_table_gap_and_wins(benchmarks, two_images, tmp_path, tiny_mtm_checkpoint, monkeypatch):
    module = benchmarks["alpha_quality"]
    first = sorted((two_images / "original").iterdir())[0].stem
    real_peer = module.grabcut_closed_form_alpha

    def failing_on_first(image, mask):  # one image's failure is that row's failure there, not the run's
        if failing_on_first.calls == 0:
            failing_on_first.calls += 1
            raise RuntimeError(f"boom on {first}")
        return real_peer(image, mask)

    failing_on_first.calls = 0
    monkeypatch.setattr(module, "grabcut_closed_form_alpha", failing_on_first)
    out = tmp_path / "out"
    rows = module.main(["--data", str(two_images), "--out", str(out), "--tag", "tiny",
                        "--mtm-ckpt", str(tiny_mtm_checkpoint), *TINY_REFINE])
    by_method = {row["method"]: row for row in rows}
    assert list(by_method) == ["rough mask as alpha", module.FLOOR, module.PIPELINE,
                               "refined mask -> closed-form, fixed 2% band (no evidence)", module.GUIDED, module.CEILING]
    assert (by_method[module.FLOOR]["ok"], by_method[module.FLOOR]["failed"]) == (1, 1)
    for label in (module.PIPELINE, module.GUIDED, module.CEILING):
        assert (by_method[label]["ok"], by_method[label]["failed"]) == (2, 0)
        assert by_method[label]["fallbacks"] == 0
    for name in ("sad", "mse", "grad", "conn", "sad_unknown", "conn_unknown"):
        assert all(row[name] >= 0 for row in rows)
    # the dataset's own trimap gives closed-form more to work with than a band around a rough mask
    assert by_method[module.CEILING]["sad_unknown"] < by_method["rough mask as alpha"]["sad_unknown"]
    report = (out / "alpha_quality_tiny.md").read_text()
    assert "Gap closed by" in report and "wins" in report and "Failed method runs" in report
    failures = [r for r in read_csv(out / "alpha_quality_tiny.csv") if r["status"] == "error"]
    assert len(failures) == 1 and "boom" in failures[0]["error"]


def test_alpha_quality_decompose_rows(benchmarks, two_images, tmp_path):
    module = benchmarks["alpha_quality"]
    rows = module.main(["--data", str(two_images), "--out", str(tmp_path / "out"), "--tag", "tiny", "--decompose",
                        *TINY_REFINE])
    by_method = {row["method"]: row for row in rows}
    assert list(by_method)[-3:] == [module.ORACLE_LABELS, module.ORACLE_BAND, module.CEILING]
    for label in (module.ORACLE_LABELS, module.ORACLE_BAND):
        assert (by_method[label]["ok"], by_method[label]["failed"]) == (2, 0)


def test_oracle_labels_fix_what_the_band_does_not_reach(benchmarks):
    """A false blob far from the object's edge stays in the pipeline's alpha; the oracle-labels row
    takes the labels outside the matte's band from the ground truth, so the blob is gone there,
    while the oracle-band row keeps the refined mask's labels."""
    from benchmarks.common import Sample

    from iosm.matting import ClassicalMatte

    module = benchmarks["alpha_quality"]
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :96]
    truth = ((yy - 48) ** 2 + (xx - 30) ** 2 < 15**2).astype(np.float32)
    image = np.clip(0.2 + 0.6 * truth[..., None] + 0.02 * rng.standard_normal((96, 96, 3)), 0, 1).astype(np.float32)
    refined = truth > 0.5
    refined[40:56, 70:86] = True  # a false blob, its middle beyond the band
    trimap = truth.copy()
    trimap[np.abs(np.hypot(yy - 48, xx - 30) - 15) < 3] = 0.5  # the dataset's unknown ring on the true edge
    sample = Sample("blob", image, truth, trimap, refined)
    methods = module.oracle_methods(ClassicalMatte(), {"blob": (refined, None)}, has_trimaps=True)
    labels_alpha, _ = methods[module.ORACLE_LABELS](sample)
    band_alpha, _ = methods[module.ORACLE_BAND](sample)
    assert labels_alpha[48, 78] == 0.0 and band_alpha[48, 78] == 1.0
    assert np.abs(labels_alpha - truth).sum() < np.abs(band_alpha - truth).sum()


def test_gap_closed_and_wins_arithmetic(benchmarks):
    module = benchmarks["alpha_quality"]
    rows = [{"method": module.FLOOR, "sad": 8.0}, {"method": module.CEILING, "sad": 4.0},
            {"method": module.PIPELINE, "sad": 5.0}]
    assert module.gap_closed(rows, module.PIPELINE, ["sad"]) == {"sad": 0.75}
    from benchmarks.common import Outcome

    outcomes = [Outcome(module.PIPELINE, "a", {"sad": 1.0}), Outcome(module.FLOOR, "a", {"sad": 2.0}),
                Outcome(module.PIPELINE, "b", {"sad": 3.0}), Outcome(module.FLOOR, "b", {"sad": 2.0})]
    won, lost, lines = module.wins(outcomes, module.PIPELINE, module.FLOOR)
    assert (won, lost) == (1, 1) and lines[0].endswith("(win)") and lines[1].endswith("(loss)")


def test_folder_without_usable_images_stops(benchmarks, tmp_path):
    for folder in ("original", "mask", "init"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "broken.png").write_bytes(b"not a png")
    with pytest.raises(SystemExit, match="no usable images"):
        benchmarks["mask_quality"].main(["--data", str(tmp_path), "--out", str(tmp_path / "out")])
