"""Smoke tests of the peer benchmarks (benchmarks/mask_quality.py, alpha_quality.py) on two tiny
generated images: the tables have the expected rows and columns, the files are written, a method that
fails on one image is counted as failed there, and a folder without usable images stops clearly."""

from __future__ import annotations

import csv
import shutil

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


def test_alpha_quality_table_records_a_failure(benchmarks, two_images, tmp_path, tiny_mtm_checkpoint):
    refined = tmp_path / "refined"  # refined masks for one image only: the IOSM row fails on the other
    refined.mkdir()
    first = sorted((two_images / "init").iterdir())[0]
    shutil.copy(first, refined / first.name)
    out = tmp_path / "out"
    rows = benchmarks["alpha_quality"].main(["--data", str(two_images), "--out", str(out), "--tag", "tiny",
                                             "--mtm-ckpt", str(tiny_mtm_checkpoint), "--refined", str(refined)])
    by_method = {row["method"]: row for row in rows}
    assert set(by_method) == {"rough mask as alpha", "closed-form (rough-mask trimap)", "KNN (rough-mask trimap)",
                              "GrabCut -> closed-form", "closed-form (dataset trimap; reference, not trimap-free)",
                              "MTM on rough mask",
                              "IOSM: MTM on refined mask (masks from --refined; refine cost not included)"}
    iosm = by_method["IOSM: MTM on refined mask (masks from --refined; refine cost not included)"]
    assert (iosm["ok"], iosm["failed"]) == (1, 1)
    for name in ("sad", "mse", "grad", "conn", "sad_unknown", "conn_unknown"):
        assert all(row[name] >= 0 for row in rows)
    # the dataset's own trimap gives closed-form more to work with than a band around a rough mask
    assert by_method["closed-form (dataset trimap; reference, not trimap-free)"]["sad_unknown"] < \
        by_method["rough mask as alpha"]["sad_unknown"]
    failures = [r for r in read_csv(out / "peers_alpha_tiny.csv") if r["status"] == "error"]
    assert len(failures) == 1 and "no refined mask" in failures[0]["error"]
    assert "Failed method runs" in (out / "peers_alpha_tiny.md").read_text()


def test_refiner_runs_inside_alpha_quality(benchmarks, two_images, tmp_path, tiny_mtm_checkpoint):
    rows = benchmarks["alpha_quality"].main(["--data", str(two_images), "--out", str(tmp_path), "--limit", "1",
                                             "--mtm-ckpt", str(tiny_mtm_checkpoint), *TINY_REFINE])
    iosm = {row["method"]: row for row in rows}["IOSM: refine (CPU default) + MTM"]
    assert iosm["ok"] == 1 and iosm["paint_passes"] >= 2


def test_folder_without_usable_images_stops(benchmarks, tmp_path):
    for folder in ("original", "mask", "init"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "broken.png").write_bytes(b"not a png")
    with pytest.raises(SystemExit, match="no usable images"):
        benchmarks["mask_quality"].main(["--data", str(tmp_path), "--out", str(tmp_path / "out")])
