"""A torch Dataset over :class:`MattingRecord` s producing the shared sample dict.

Sample (one image; batches collate these):
    ``name`` str; ``image`` (3, H, W) float32 [0, 1] (not normalised); ``alpha`` (1, H, W) float32 [0, 1];
    ``mask`` (1, H, W) float32 {0, 1} (the MTM's input); ``trimap`` (1, H, W) float32 {0, 0.5, 1} when the
    dataset has trimaps; ``orig_size`` LongTensor [H, W] (crop padded outputs back with ``[..., :H, :W]``);
    ``category`` and ``type`` strings when the layout knows them (AIM-500).

Bad inputs are found *before* training: every record is checked up front (files readable, sizes
consistent, ground truth and masks present), so that with ``on_error="skip"`` batches never hold
holes and the skipped names are reported once, together. The check reads headers only when
``full_check`` is false (training on large sets); a body that then fails to decode is replaced by the
next good sample and named in a warning.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch.utils.data import Dataset

from iosm.data.d646 import composite_record
from iosm.data.io import ImageReadError, image_size, read_alpha, read_image
from iosm.data.layouts import MattingRecord
from iosm.data.mask_sources import name_rng

log = logging.getLogger(__name__)
META_KEYS = ("category", "type")  # string facts copied from record.meta into samples


def load_image(record: MattingRecord) -> np.ndarray:
    """The record's photograph (H, W, 3) float32 [0, 1]; a composite for Distinctions-646 records."""
    if "background_path" in record.meta:
        return composite_record(record)
    return read_image(record.image_path)


def read_trimap(path) -> np.ndarray:
    """A trimap as (H, W) float32 snapped to {0, 0.5, 1} (files store 0 / 128 / 255, any bit depth)."""
    trimap = read_alpha(path)
    return np.where(trimap < 1 / 3, 0.0, np.where(trimap > 2 / 3, 1.0, 0.5)).astype(np.float32)


class MattingDataset(Dataset):
    """Samples of ``records`` through ``transform``, with masks from ``mask_source``.

    Args:
        records: the split's records.
        transform: :class:`~iosm.data.transforms.TrainTransform` or ``EvalTransform``.
        mask_source: ``PerturbedMasks`` or ``FolderMasks`` (see mask_sources.py).
        labelled: ground truth required (train/val/test). Unlabelled (predict) samples carry ``alpha``
            and ``trimap`` only when every record has them, and a ``mask`` unless it must be perturbed
            from a missing alpha.
        random: fresh randomness per call (training); else a fixed function of (seed, name).
        on_error: ``skip`` (report bad samples once and go on) or ``raise`` (stop at the first).
        full_check: decode every file up front (exact; evaluation) rather than read headers (fast).
        split: the split's name, for messages.
    """

    def __init__(self, records: list[MattingRecord], *, transform, mask_source, labelled: bool = True,
                 random: bool = False, seed: int = 0, on_error: str = "skip", full_check: bool = True,
                 split: str = "test"):
        if on_error not in ("skip", "raise"):
            raise ValueError(f"data.on_error={on_error!r}: expected 'skip' or 'raise'")
        self.transform, self.mask_source = transform, mask_source
        self.random, self.seed, self.on_error, self.split = random, seed, on_error, split
        if labelled:
            self.has_alpha = True
            self.has_trimap = any(r.trimap_path for r in records)
        else:
            self.has_alpha = bool(records) and all(r.alpha_path for r in records)
            self.has_trimap = bool(records) and all(r.trimap_path for r in records)
        self.has_mask = self.has_alpha or not mask_source.needs_alpha
        self.meta_keys = [key for key in META_KEYS if any(key in r.meta for r in records)]
        self.skipped: dict[str, str] = {}
        self.records = self._validated(records, full_check)

    def _problem(self, record: MattingRecord, full_check: bool) -> str | None:
        """What makes the record unusable, or None."""
        missing = record.meta.get("missing", {})
        if self.has_alpha and record.alpha_path is None:
            return missing.get("alpha", f"{record.image_path}: no ground-truth alpha")
        if self.has_trimap and record.trimap_path is None:
            return missing.get("trimap", f"{record.image_path}: no trimap (other images of this dataset have one)")
        if self.has_mask and (problem := self.mask_source.problem(record, full_check)):
            return problem
        try:
            size = self._size(record.image_path, read_image if full_check else None)
            if "background_path" in record.meta:
                self._size(record.meta["background_path"], None)
            for path, what in ((record.alpha_path if self.has_alpha else None, "alpha"),
                               (record.trimap_path if self.has_trimap else None, "trimap")):
                if path is None:
                    continue
                other = self._size(path, read_alpha if full_check else None)
                if other != size:
                    return (f"{path}: {what} is {other[1]}x{other[0]} but the image {record.image_path} "
                            f"is {size[1]}x{size[0]} (width x height)")
        except ImageReadError as error:
            return str(error)
        return None

    def _size(self, path, reader) -> tuple[int, int]:
        """(H, W) of a file, by a full read with ``reader`` or from its header; memoised (shared files)."""
        if path not in self._sizes:
            self._sizes[path] = tuple(reader(path).shape[:2]) if reader else image_size(path)
        return self._sizes[path]

    def _validated(self, records: list[MattingRecord], full_check: bool) -> list[MattingRecord]:
        good, self._sizes = [], {}
        for record in records:
            problem = self._problem(record, full_check)
            if problem is None:
                good.append(record)
            elif self.on_error == "raise":
                raise ValueError(f"{self.split} split, sample {record.name!r}: {problem}")
            else:
                self.skipped[record.name] = problem
        if self.skipped:
            listing = "\n  ".join(f"{name}: {problem}" for name, problem in self.skipped.items())
            log.warning("%s split: skipped %d of %d samples with bad inputs:\n  %s",
                        self.split, len(self.skipped), len(records), listing)
        del self._sizes
        if records and not good:
            raise ValueError(f"{self.split} split: none of the {len(records)} samples is usable; first problem: "
                             f"{next(iter(self.skipped.values()))}")
        return good

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        for attempt in range(len(self.records)):
            record = self.records[(index + attempt) % len(self.records)]
            try:
                return self._load(record)
            except (ImageReadError, ValueError) as error:
                if self.on_error == "raise":
                    raise
                if record.name not in self.skipped:  # warn once per file, then quietly use the next sample
                    self.skipped[record.name] = str(error)
                    log.warning("%s split: %s; using another sample in its place", self.split, error)
        raise ValueError(f"{self.split} split: no sample could be read")

    def _load(self, record: MattingRecord) -> dict:
        if self.random:  # torch's generator is seeded per worker by Lightning/DataLoader: reproducible runs
            rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        else:
            rng = name_rng(self.seed, record.name)
        image = load_image(record)
        size = image.shape[:2]
        planes = {"image": image}
        if self.has_alpha:
            planes["alpha"] = read_alpha(record.alpha_path)
        if self.has_trimap:
            planes["trimap"] = read_trimap(record.trimap_path)
        for name, plane in planes.items():
            if plane.shape[:2] != size:
                raise ValueError(f"{record.name}: {name} is {plane.shape[1]}x{plane.shape[0]} but the image "
                                 f"{record.image_path} is {size[1]}x{size[0]}")
        # Training masks perturbed from the alpha are made after the crop: the errors are relative to the
        # object's size anyway, and morphology on a 4K alpha would dominate the loading time.
        perturb_after_crop = self.random and self.mask_source.needs_alpha
        if self.has_mask and not perturb_after_crop:
            planes["mask"] = self.mask_source(record, planes.get("alpha"), size, rng)
        out = self.transform(planes, rng)
        if self.has_mask and perturb_after_crop:
            out["mask"] = self.mask_source(record, out["alpha"], out["alpha"].shape, rng)
        sample = {"name": record.name, "image": torch.from_numpy(np.ascontiguousarray(out["image"].transpose(2, 0, 1)))}
        for key in ("alpha", "mask", "trimap"):
            if key in out:
                sample[key] = torch.from_numpy(out[key].astype(np.float32))[None]
        sample["orig_size"] = torch.tensor(out["orig_size"], dtype=torch.long)
        for key in self.meta_keys:
            sample[key] = str(record.meta.get(key, "unknown"))
        return sample
