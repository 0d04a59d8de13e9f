"""The images of a refine.py run, one predict item each, read lazily and sharded across ranks.

Two things Lightning's defaults get wrong for this job are handled here:

* A file that cannot be read must not kill the run (or a DataLoader worker): the read error becomes
  an item with ``error`` set, which the module turns into an ``error`` manifest line.
* Every image is processed exactly once. Instead of the sampler Lightning would inject (a
  ``DistributedSampler`` pads shards with repeated images; Lightning's unrepeated predict variant
  asserts that every rank gets one, which a resumed run with few images left breaks), each rank
  takes a fixed shard ``pending[rank::world_size]`` of the images not already finished, and the
  Trainer is built with ``use_distributed_sampler=False``. The finished set is read in
  :meth:`RefinePredictData.setup`, which every rank runs between Lightning's ``pre_setup`` and
  ``post_setup`` barriers, so all ranks see the same set before any of them writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from iosm.data.dataset import load_image
from iosm.data.io import ImageReadError, read_alpha
from iosm.errors import is_code_bug, mark_code_bug


class RefineItems(Dataset):
    """One item per record, read when asked for.

    An item is a dict: ``name`` str; ``image`` (H, W, 3) float32 in [0, 1] or None; ``alpha``
    (H, W) float32 in [0, 1] ground truth or None; ``error`` the reason the image cannot be used,
    or None; ``warnings`` list of str (a ground truth that could not be read, say).
    """

    def __init__(self, records: Sequence[Any]) -> None:
        self.records = list(records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        missing_alpha = record.meta.get("missing", {}).get("alpha")  # the layout expected one: say so
        item: dict[str, Any] = {"name": record.name, "image": None, "alpha": None, "error": None,
                                "warnings": [missing_alpha] if missing_alpha else []}
        try:
            item["image"] = load_image(record)  # the file, or a Distinctions-646 composite
        except Exception as error:  # noqa: BLE001  (ImageReadError, a bad composite pair...: recorded, not fatal)
            if is_code_bug(error):
                raise mark_code_bug(error, f"loading {record.name}")
            item["error"] = str(error) if isinstance(error, ImageReadError) else \
                f"{record.image_path}: {type(error).__name__}: {error}"
            return item
        if record.alpha_path is not None:
            try:
                item["alpha"] = read_alpha(record.alpha_path)
            except ImageReadError as error:
                item["warnings"].append(f"ground truth not used: {error}")
        return item


def single_item(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Collate for batches of one: images differ in size, and arrays stay numpy."""
    (item,) = batch
    return item


class RefinePredictData(LightningDataModule):
    """The predict loader of refine.py.

    Args:
        records: the dataset's ``MattingRecord`` list (``name``, ``image_path``, ``alpha_path``, ...);
            names are unique (the DataModule checks it), as outputs are named by them.
        finished: returns the names already done (the writer's resume rule); they are skipped.
        num_workers: DataLoader workers reading images ahead of the refiner.
    """

    def __init__(self, records: Iterable[Any], finished: Callable[[], set[str]], num_workers: int = 0) -> None:
        super().__init__()
        self.records = list(records)
        self.finished = finished
        self.num_workers = num_workers
        self.skipped: list[str] = []
        self.shard: list[Any] = []
        # With fewer pending images than ranks (a resumed run) some shards are empty; predict runs
        # no collective per batch, so an empty rank just waits at the end.
        self.allow_zero_length_dataloader_with_multiple_devices = True

    def setup(self, stage: str) -> None:
        done = self.finished()
        pending = [record for record in self.records if record.name not in done]
        self.skipped = [record.name for record in self.records if record.name in done]
        rank, world_size = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        self.shard = pending[rank::world_size]

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(RefineItems(self.shard), batch_size=1, shuffle=False, num_workers=self.num_workers,
                          collate_fn=single_item)
