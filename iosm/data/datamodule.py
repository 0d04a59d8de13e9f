"""The LightningDataModule behind every ``data=`` config: a layout, a split, transforms and mask inputs.

Training batches: crops around the object resized to ``train_size``, ``batch_size`` per step.
Validation, test and predict batches: one image at its original size, padded bottom/right to a
multiple of ``pad_multiple`` (``orig_size`` says how to crop back). Every batch carries ``name`` and
``orig_size``. The layout is any callable ``root -> list[MattingRecord]`` (a ``_partial_`` in the config).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import lightning as L
from torch.utils.data import DataLoader

from iosm.data.dataset import MattingDataset
from iosm.data.layouts import MattingRecord
from iosm.data.mask_sources import build_mask_source
from iosm.data.splits import SPLIT_NAMES, random_split, recorded_split
from iosm.data.transforms import EvalTransform, TrainTransform

log = logging.getLogger(__name__)
SPLIT_MODES = ("random", "all_test", "layout")


class MattingDataModule(L.LightningDataModule):
    """Matting data for training, evaluation and refinement.

    Args:
        root: the dataset folder, passed to ``layout``.
        layout: ``root -> list[MattingRecord]`` (aim500_records, ppm100_records, folder_records,
            d646_records, synthetic_records, with their options bound).
        name: a short tag for the split file and messages.
        split: ``random`` (seeded fractions, recorded in ``split_file``), ``all_test`` (everything is
            the test/predict set) or ``layout`` (the layout's ``meta["split"]``, e.g. D646's Train/Test;
            ``val`` is carved from ``train`` by the fractions).
        split_fractions: {train, val, test} fractions for ``random`` ({train, val} for ``layout``).
        seed: the split's shuffle and the val/test mask perturbations.
        split_file: JSON file recording the split (reused when seed, fractions and names match).
        batch_size, num_workers, pin_memory: training loader; evaluation uses batch size 1.
        train_size: side of the square training crops.
        crop_context, flip, colour_jitter: training augmentation (see TrainTransform).
        mask_source, mask_dir, mask_severity: the MTM's mask input (see mask_sources.py).
        on_error: ``skip`` or ``raise`` on a bad sample.
        pad_multiple: evaluation padding (the network's output stride).
        full_check_train: decode every training file up front instead of reading headers.
        predict_split: which split the predict loader runs over (``train``, ``val``, ``test`` or ``all``).
    """

    def __init__(
        self,
        *,
        root: str | os.PathLike,
        layout: Callable[[str | os.PathLike], list[MattingRecord]],
        name: str = "data",
        split: str = "random",
        split_fractions: dict | None = None,
        seed: int = 0,
        split_file: str | os.PathLike | None = None,
        batch_size: int = 8,
        num_workers: int = 0,
        pin_memory: bool = False,
        train_size: int = 512,
        crop_context: tuple[float, float] = (0.1, 0.5),
        flip: bool = True,
        colour_jitter: float = 0.2,
        mask_source: str = "perturb",
        mask_dir: str | os.PathLike | None = None,
        mask_severity: float = 1.0,
        on_error: str = "skip",
        pad_multiple: int = 32,
        full_check_train: bool = False,
        predict_split: str = "test",
    ):
        super().__init__()
        if split not in SPLIT_MODES:
            raise ValueError(f"data.split={split!r}: expected one of {SPLIT_MODES}")
        if predict_split not in (*SPLIT_NAMES, "all"):
            raise ValueError(f"data.predict_split={predict_split!r}: expected train, val, test or all")
        if on_error not in ("skip", "raise"):
            raise ValueError(f"data.on_error={on_error!r}: expected 'skip' or 'raise'")
        self.root, self.layout, self.name = root, layout, name
        self.split, self.seed = split, int(seed)
        self.split_fractions = dict(split_fractions or {"train": 0.8, "val": 0.1, "test": 0.1})
        self.split_file = split_file
        self.batch_size, self.num_workers, self.pin_memory = int(batch_size), int(num_workers), pin_memory
        self.train_transform = TrainTransform(train_size, tuple(crop_context), flip, colour_jitter)
        self.eval_transform = EvalTransform(pad_multiple)
        self.mask_source = build_mask_source(mask_source, mask_dir, mask_severity)
        self.on_error, self.full_check_train, self.predict_split = on_error, full_check_train, predict_split
        self._records: list[MattingRecord] | None = None
        self._splits: dict[str, list[str]] | None = None
        self._datasets: dict[str, MattingDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        """Build the layout's records now, so a wrong root or an empty folder stops a run before it starts."""
        self.all_records()

    def all_records(self) -> list[MattingRecord]:
        """Every record of the layout (built once; for synthetic data this generates the dataset)."""
        if self._records is None:
            self._records = list(self.layout(self.root))
            names = [record.name for record in self._records]
            if len(set(names)) != len(names):
                raise ValueError(f"data.root={self.root}: two records share a name; names must be unique")
        return self._records

    def _split_names(self) -> dict[str, list[str]]:
        if self._splits is None:
            records = self.all_records()
            names = [record.name for record in records]
            if self.split == "all_test":
                self._splits = {"train": [], "val": [], "test": names}
            elif self.split == "random":
                self._splits = recorded_split(names, self.split_fractions, self.seed, self.split_file)
            else:
                by_layout = {s: [r.name for r in records if r.meta.get("split") == s] for s in ("train", "test")}
                if len(by_layout["train"]) + len(by_layout["test"]) != len(records):
                    raise ValueError(f"data.split=layout: the {self.name} layout does not assign every record "
                                     "a train/test split; use data.split=random")
                train_val = {key: self.split_fractions.get(key, 0.0) for key in ("train", "val")}
                carved = random_split(by_layout["train"], train_val, self.seed)
                self._splits = {"train": carved["train"], "val": carved["val"], "test": by_layout["test"]}
            log.info("%s: %s", self.name, ", ".join(f"{s} {len(v)}" for s, v in self._splits.items()))
        return self._splits

    def records(self, split: str) -> list[MattingRecord]:
        """The records of ``split`` (train, val, test, predict or all), before any file is checked."""
        if split == "predict":
            split = self.predict_split
        if split == "all":
            return list(self.all_records())
        if split not in SPLIT_NAMES:
            raise ValueError(f"split={split!r}: expected train, val, test, predict or all")
        wanted = set(self._split_names()[split])
        return [record for record in self.all_records() if record.name in wanted]

    def dataset(self, split: str) -> MattingDataset:
        """The checked dataset of ``split`` (bad samples skipped or raised, per ``on_error``)."""
        if split not in self._datasets:
            training = split == "train"
            records = self.records(split)
            if not records and split != "val":
                raise ValueError(f"data ({self.name}, split={self.split}): the {split} split is empty; "
                                 "use data.split=random to train on part of a test-only dataset")
            self._datasets[split] = MattingDataset(
                records,
                transform=self.train_transform if training else self.eval_transform,
                mask_source=self.mask_source,
                labelled=split != "predict",
                random=training,
                seed=self.seed,
                on_error=self.on_error,
                full_check=self.full_check_train if training else True,
                split=f"{self.name}/{split}",
            )
        return self._datasets[split]

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        dataset = self.dataset(split)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            drop_last=shuffle and len(dataset) > batch_size,  # no size-1 last batch for batch norm
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", 1, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", 1, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict", 1, shuffle=False)

