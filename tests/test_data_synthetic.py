"""The synthetic generator: the AIM-500 layout plus init/, soft alphas, segmenter-like masks, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

from iosm.data import synthetic
from iosm.data.io import read_alpha, read_image, read_mask
from iosm.data.synthetic import ensure_synthetic, generate, main


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_and_content(synthetic_root):
    names = sorted(p.stem for p in (synthetic_root / "original").iterdir())
    assert len(names) == 8 and all((synthetic_root / "original" / f"{n}.jpg").is_file() for n in names)
    for folder in ("mask", "trimap", "init"):
        assert sorted(p.stem for p in (synthetic_root / folder).glob("*.png")) == names
    types = {entry["type"] for entry in json.loads((synthetic_root / "aim_category_type.json").read_text()).values()}
    assert types == {"SO", "STM", "NS"}
    alphas = np.stack([read_alpha(synthetic_root / "mask" / f"{n}.png") for n in names])
    assert read_image(synthetic_root / "original" / f"{names[0]}.jpg").shape == (64, 64, 3)
    soft = ((alphas > 0.02) & (alphas < 0.98)).mean()
    assert 0.01 < soft < 0.5, "alphas should have soft edges, strands or translucent parts"
    trimap_values = np.unique(np.round(read_alpha(synthetic_root / "trimap" / f"{names[0]}.png") * 255))
    assert set(trimap_values) <= {0, 128, 255} and len(trimap_values) == 3


def test_init_masks_are_rough_but_close(synthetic_root):
    ious = []
    for path in sorted((synthetic_root / "init").glob("*.png")):
        truth = read_alpha(synthetic_root / "mask" / path.name) > 0.5
        rough = read_mask(path)
        ious.append((truth & rough).sum() / (truth | rough).sum())
    assert 0.6 < np.mean(ious) < 0.97 and max(ious) < 1.0


def test_same_seed_same_bytes_other_seed_other_images(tmp_path):
    generate(tmp_path / "a", 3, 48, seed=5)
    generate(tmp_path / "b", 3, 48, seed=5)
    generate(tmp_path / "c", 3, 48, seed=6)
    assert len(_files(tmp_path / "a")) == 3 * 4 + 2  # 4 files per image, the json table and the stamp
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    first = (tmp_path / "a" / "mask" / "syn_0000.png").read_bytes()
    assert first != (tmp_path / "c" / "mask" / "syn_0000.png").read_bytes()


def test_ensure_reuses_and_refuses_other_settings(tmp_path):
    root = ensure_synthetic(tmp_path / "syn", 2, 40, 0)
    stamp_time = (root / "synthetic.json").stat().st_mtime_ns
    assert ensure_synthetic(tmp_path / "syn", 2, 40, 0) == root
    assert (root / "synthetic.json").stat().st_mtime_ns == stamp_time
    with pytest.raises(ValueError, match="other settings"):
        ensure_synthetic(tmp_path / "syn", 3, 40, 0)
    assert [p.name for p in tmp_path.iterdir()] == ["syn"]  # no staging folders left behind
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="no generated synthetic dataset"):
        ensure_synthetic(tmp_path / "foreign", 2, 40, 0)


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    def crash(out, n, size, seed):
        (out / "original").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "generate", crash)
    with pytest.raises(KeyboardInterrupt):
        ensure_synthetic(tmp_path / "syn", 2, 40, 0)
    assert list(tmp_path.iterdir()) == []


def test_command_line(tmp_path, capsys):
    main([str(tmp_path / "out"), "--n", "2", "--size", "40", "--seed", "3"])
    assert len(list((tmp_path / "out" / "init").glob("*.png"))) == 2
    assert "wrote 2 composites" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([str(tmp_path / "bad"), "--size", "8"])
    assert "--size >= 32" in capsys.readouterr().err
    with pytest.raises(ValueError, match="size >= 32"):
        generate(tmp_path / "bad", 1, 8, 0)
