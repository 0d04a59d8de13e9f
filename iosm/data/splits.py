"""Seeded, recorded train/val/test splits of a dataset's names.

AIM-500 and PPM-100 are test-only benchmarks; to train or tune on (part of) a dataset the names are
shuffled by a seed and cut by fractions. The result is written to a JSON file and read back on the
next run with the same seed, fractions and names, so a split survives library changes (a different
shuffle algorithm) and can be shared or hand-edited.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from iosm.data.io import atomic_write_text

log = logging.getLogger(__name__)
SPLIT_NAMES = ("train", "val", "test")


def random_split(names: list[str], fractions: dict[str, float], seed: int) -> dict[str, list[str]]:
    """Shuffle sorted ``names`` by ``seed`` and cut by ``fractions`` (train, val, test; normalised).

    Every split with a positive fraction gets at least one name when there are enough names; the
    lists come back sorted.
    """
    unknown = set(fractions) - set(SPLIT_NAMES)
    if unknown or any(float(v) < 0 for v in fractions.values()) or sum(fractions.values()) <= 0:
        raise ValueError(f"data.split_fractions={dict(fractions)}: expected non-negative train/val/test fractions")
    order = [sorted(names)[i] for i in np.random.default_rng(seed).permutation(len(names))]
    total = sum(float(fractions.get(split, 0)) for split in SPLIT_NAMES)
    counts = {split: int(round(len(names) * float(fractions.get(split, 0)) / total)) for split in ("val", "test")}
    for split in ("val", "test"):  # a requested split is never empty (unless names run out)
        if fractions.get(split, 0) > 0 and counts[split] == 0 and len(names) >= 3:
            counts[split] = 1
    val_end = counts["val"]
    test_end = min(len(order), val_end + counts["test"])
    return {
        "val": sorted(order[:val_end]),
        "test": sorted(order[val_end:test_end]),
        "train": sorted(order[test_end:]) if fractions.get("train", 0) > 0 else [],
    }


def recorded_split(
    names: list[str], fractions: dict[str, float], seed: int, split_file: str | os.PathLike | None
) -> dict[str, list[str]]:
    """:func:`random_split`, reusing ``split_file`` when it was made from the same seed, fractions and names.

    A file made from other settings or another set of names is replaced (with a warning naming it).
    """
    settings = {"seed": int(seed), "fractions": {k: float(v) for k, v in sorted(dict(fractions).items())}}
    if split_file is not None and Path(split_file).is_file():
        try:
            recorded = json.loads(Path(split_file).read_text())
            same_names = sorted(n for split in SPLIT_NAMES for n in recorded["splits"][split]) == sorted(names)
            if recorded["settings"] == settings and same_names:
                return {split: list(recorded["splits"][split]) for split in SPLIT_NAMES}
            log.warning("%s: recorded split was made from other settings or names; replacing it", split_file)
        except (ValueError, KeyError, TypeError) as error:
            log.warning("%s: unreadable split file (%s); replacing it", split_file, error)
    splits = random_split(names, fractions, seed)
    if split_file is not None:
        atomic_write_text(split_file, json.dumps({"settings": settings, "splits": splits}, indent=1))
    return splits
