"""The DataModule and Dataset: the sample contract on every split, splits, mask sources, bad inputs."""

from __future__ import annotations

import functools
import json
import logging
import shutil

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from iosm.data.d646 import d646_records
from iosm.data.datamodule import MattingDataModule
from iosm.data.io import write_image
from iosm.data.layouts import aim500_records, folder_records


def _module(root, layout=aim500_records, **overrides):
    options = dict(root=root, layout=layout, name="t", batch_size=2, num_workers=0, train_size=32, split_file=None)
    return MattingDataModule(**{**options, **overrides})


def _check_sample_contract(batch, batch_size):
    assert len(batch["name"]) == batch_size and all(isinstance(n, str) for n in batch["name"])
    image, alpha, mask = batch["image"], batch["alpha"], batch["mask"]
    assert image.dtype == torch.float32 and image.shape[:2] == (batch_size, 3)
    assert alpha.shape == mask.shape == (batch_size, 1, *image.shape[2:])
    assert 0 <= image.min() and image.max() <= 1 and 0 <= alpha.min() and alpha.max() <= 1
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert set(batch["trimap"].unique().tolist()) <= {0.0, 0.5, 1.0}
    assert batch["orig_size"].dtype == torch.long and batch["orig_size"].shape == (batch_size, 2)


def test_every_split_of_the_configured_synthetic_data(compose_cfg):
    datamodule = instantiate(compose_cfg("train", ["debug=tiny"]).data)
    sizes = {split: len(datamodule.records(split)) for split in ("train", "val", "test")}
    assert sizes == {"train": 6, "val": 1, "test": 1}
    batch = next(iter(datamodule.train_dataloader()))
    _check_sample_contract(batch, 2)
    assert batch["image"].shape[2:] == (64, 64) and batch["type"][0] in ("SO", "STM", "NS")
    for loader in (datamodule.val_dataloader(), datamodule.test_dataloader(), datamodule.predict_dataloader()):
        batch = next(iter(loader))
        _check_sample_contract(batch, 1)
        assert batch["orig_size"].tolist() == [[64, 64]]


def test_evaluation_keeps_real_photographs_at_their_size_padded_to_32(realdata_root, tmp_path):
    datamodule = _module(realdata_root, split="random", split_file=tmp_path / "split.json",
                         split_fractions={"train": 0.0, "val": 0.0, "test": 1.0})
    batch = next(iter(datamodule.test_dataloader()))
    height, width = batch["orig_size"][0].tolist()
    assert batch["image"].shape[2] == -(-height // 32) * 32 and batch["image"].shape[3] == -(-width // 32) * 32
    assert (batch["alpha"][..., height:, :] == 0).all()
    assert max(height, width) == 800  # the low-resolution set's own size, not a resized one


def test_realdata_config_reads_every_shared_photograph(compose_cfg, realdata_root):
    from iosm.data.realdata_split import REPORT, TUNE

    cfg = compose_cfg("train", ["data=realdata", f"paths.realdata_dir={realdata_root}", "data.num_workers=0"])
    names = [record.name for record in instantiate(cfg.data).records("test")]
    assert sorted(names) == sorted([*TUNE, *REPORT])  # the recorded split covers exactly these photographs


def test_split_is_seeded_recorded_and_reused(synthetic_root, tmp_path):
    split_file = tmp_path / "split.json"
    datamodule = _module(synthetic_root, split_file=split_file, seed=4)
    splits = {s: [r.name for r in datamodule.records(s)] for s in ("train", "val", "test")}
    recorded = json.loads(split_file.read_text())
    assert recorded["splits"] == splits and recorded["settings"]["seed"] == 4
    assert sorted(sum(splits.values(), [])) == sorted(r.name for r in aim500_records(synthetic_root))
    recorded["splits"]["train"], recorded["splits"]["test"] = splits["test"], splits["train"]  # hand-edited
    split_file.write_text(json.dumps(recorded))
    assert [r.name for r in _module(synthetic_root, split_file=split_file, seed=4).records("test")] == splits["train"]
    other_seed = _module(synthetic_root, split_file=tmp_path / "other.json", seed=5)
    assert [r.name for r in other_seed.records("val") + other_seed.records("test")] != splits["val"] + splits["test"]


def test_all_test_has_no_training_split(synthetic_root):
    datamodule = _module(synthetic_root, split="all_test")
    assert len(datamodule.records("test")) == 8 == len(datamodule.records("predict"))
    with pytest.raises(ValueError, match="train split is empty.*split=random"):
        datamodule.train_dataloader()


def test_evaluation_masks_are_fixed_per_image_and_training_masks_vary(synthetic_root):
    datamodule = _module(synthetic_root, split="all_test")
    test_set = datamodule.dataset("test")
    torch.testing.assert_close(test_set[0]["mask"], test_set[0]["mask"])
    samples = [test_set[i] for i in range(len(test_set))]
    assert any(not torch.equal(s["mask"], (s["alpha"] > 0.5).float()) for s in samples)
    train_set = _module(synthetic_root, split_fractions={"train": 1.0}).dataset("train")
    torch.manual_seed(0)
    masks = [train_set[0]["mask"] for _ in range(4)]
    assert any(not torch.equal(masks[0], other) for other in masks[1:])


@pytest.fixture
def broken_root(synthetic_root, tmp_path):
    """The synthetic set with one bad input of every kind (8 images: 4 good, 4 bad)."""
    root = tmp_path / "broken"
    shutil.copytree(synthetic_root, root)
    jpeg = (root / "original" / "syn_0000.jpg").read_bytes()
    (root / "original" / "syn_0000.jpg").write_bytes(jpeg[: len(jpeg) * 2 // 3])  # header intact, body cut
    (root / "mask" / "syn_0001.png").unlink()
    write_image(root / "mask" / "syn_0002.png", np.zeros((40, 64)))
    (root / "original" / "syn_0003.jpg").write_bytes(b"")
    return root


def test_skip_reports_bad_samples_once_and_goes_on(broken_root, caplog):
    with caplog.at_level(logging.WARNING):
        dataset = _module(broken_root, split="all_test").dataset("test")
    assert [r.name for r in dataset.records] == ["syn_0004", "syn_0005", "syn_0006", "syn_0007"]
    assert set(dataset.skipped) == {"syn_0000", "syn_0001", "syn_0002", "syn_0003"}
    (report,) = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert "skipped 4 of 8" in report and "syn_0000.jpg: cannot decode" in report
    assert "no ground-truth alpha named syn_0001" in report and "is 64x40 but the image" in report
    assert "syn_0003.jpg: empty file" in report
    assert [len(batch["name"]) for batch in _module(broken_root, split="all_test").test_dataloader()] == [1] * 4


def test_raise_stops_at_the_first_bad_sample_naming_it(broken_root):
    with pytest.raises(ValueError, match="syn_0000.jpg: cannot decode"):
        _module(broken_root, split="all_test", on_error="raise").dataset("test")


def test_training_header_check_replaces_an_undecodable_image(broken_root, caplog):
    datamodule = _module(broken_root, split_fractions={"train": 1.0})
    train_set = datamodule.dataset("train")
    assert "syn_0000" in [r.name for r in train_set.records]  # a truncated body passes a header check
    index = [r.name for r in train_set.records].index("syn_0000")
    with caplog.at_level(logging.WARNING):
        sample = train_set[index]
    assert sample["name"] != "syn_0000" and "using another sample" in caplog.text


def test_folder_masks_resized_with_a_warning_and_missing_ones_skipped(synthetic_root, tmp_path, caplog):
    mask_dir = tmp_path / "masks"
    shutil.copytree(synthetic_root / "init", mask_dir)
    write_image(mask_dir / "syn_0004.png", np.ones((16, 16), bool))
    (mask_dir / "syn_0005.png").unlink()
    (mask_dir / "syn_0006.png").write_bytes(b"")
    dataset = _module(synthetic_root, split="all_test", mask_source="folder", mask_dir=mask_dir).dataset("test")
    assert "no mask named syn_0005" in dataset.skipped["syn_0005"] and "empty file" in dataset.skipped["syn_0006"]
    with caplog.at_level(logging.WARNING):
        sample = dataset[[r.name for r in dataset.records].index("syn_0004")]
    assert sample["mask"].shape == (1, 64, 64) and sample["mask"].min() == 1 and "resized" in caplog.text
    with pytest.raises(FileNotFoundError, match="mask_dir"):
        _module(synthetic_root, mask_source="folder", mask_dir=tmp_path / "nope")


def test_predict_on_photographs_without_ground_truth(synthetic_root, tmp_path):
    root = tmp_path / "photos"
    shutil.copytree(synthetic_root / "original", root / "image")
    layout = functools.partial(folder_records, alpha_dir=None)
    datamodule = _module(root, layout=layout, split="all_test", mask_source="folder", mask_dir=synthetic_root / "init")
    batch = next(iter(datamodule.predict_dataloader()))
    assert "alpha" not in batch and batch["mask"].shape == (1, 1, 64, 64)
    with pytest.raises(ValueError, match="none of the 8 samples is usable"):
        datamodule.dataset("test")  # a labelled split needs ground truth


def test_d646_layout_split(tmp_path, write_sample):
    root = tmp_path / "D646"
    for split, names in (("Train", ["a", "b", "c"]), ("Test", ["t"])):
        for name in names:
            write_sample(root / split, name, "FG", "GT", size=(40, 36), image_ext=".png")
    write_image(tmp_path / "BG" / "bg.jpg", np.random.default_rng(0).random((20, 20, 3)))
    layout = functools.partial(d646_records, background_dir=tmp_path / "BG", train_backgrounds_per_foreground=2,
                               test_backgrounds_per_foreground=2, cache_dir=tmp_path / "cache")
    datamodule = _module(root, layout=layout, split="layout", split_fractions={"train": 0.7, "val": 0.3})
    assert len(datamodule.records("test")) == 2
    assert len(datamodule.records("train")) + len(datamodule.records("val")) == 6
    train_batch = next(iter(datamodule.train_dataloader()))
    assert train_batch["image"].shape == (2, 3, 32, 32)
    test_batch = next(iter(datamodule.test_dataloader()))
    assert test_batch["orig_size"].tolist() == [[40, 36]] and test_batch["image"].shape == (1, 3, 64, 64)
    assert "trimap" not in test_batch


def test_bad_options_are_named(synthetic_root):
    for option, value in (("split", "bogus"), ("on_error", "ignore"), ("mask_source", "magic"), ("predict_split", "x")):
        with pytest.raises(ValueError, match=option):
            _module(synthetic_root, **{option: value})


def test_predict_split_and_all_records(synthetic_root):
    datamodule = _module(synthetic_root, predict_split="all")
    assert [r.name for r in datamodule.records("predict")] == [r.name for r in datamodule.records("all")]
    assert len(datamodule.records("all")) == 8
    with pytest.raises(ValueError, match="split_fractions"):
        _module(synthetic_root, split_fractions={"train": 0.5, "tset": 0.5}).records("train")
