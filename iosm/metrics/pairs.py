"""Prediction / ground-truth file pairs: matching folders by file stem and scoring one pair.

A pair names the files of one image; ``evaluate.py`` builds them from folders, the checkpoint
mode and the demo from the predictions they write. Scoring reads the files with
``iosm.data.io.read_alpha`` (8/16-bit, gray/RGB/RGBA PNGs and JPEGs) and checks their sizes, so
every failure message names the files involved.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from iosm.data.io import find_by_stem, read_alpha
from iosm.metrics.protocols import get_protocol


@dataclass(frozen=True)
class EvalPair:
    """The files of one evaluated image; only ``name``, ``pred_path`` and ``gt_path`` are required."""

    name: str
    pred_path: Path
    gt_path: Path
    trimap_path: Path | None = None
    image_path: Path | None = None
    mask_path: Path | None = None


@dataclass(frozen=True)
class FolderMatch:
    """``pairs`` to score, ground truths without a prediction (``missing``), predictions without a
    ground truth (``unmatched``), and per-image problems found while matching (``errors``: name -> message)."""

    pairs: list[EvalPair]
    missing: list[str]
    unmatched: list[str]
    errors: dict[str, str]


def _files_by_stem(folder: str | os.PathLike, key: str) -> dict[str, Path]:
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"{key}={folder}: folder does not exist")
    return find_by_stem(folder)


def pairs_from_folders(
    pred_dir: str | os.PathLike,
    gt_dir: str | os.PathLike,
    trimap_dir: str | os.PathLike | None = None,
    image_dir: str | os.PathLike | None = None,
    mask_dir: str | os.PathLike | None = None,
) -> FolderMatch:
    """Match every ground truth in ``gt_dir`` with the same-stem file of each other folder.

    A ground truth with no prediction is *missing*; one whose trimap or mask (when those folders are
    given) is absent is an error for that image. A missing image only drops it from the panels.
    """
    pred_files = _files_by_stem(pred_dir, "pred_dir")
    gt_files = _files_by_stem(gt_dir, "gt_dir")
    if not gt_files:
        raise FileNotFoundError(f"gt_dir={gt_dir}: no image files (expected e.g. NAME.png alpha mattes)")
    optional = {
        key: _files_by_stem(folder, f"{key}_dir") if folder is not None else None
        for key, folder in (("trimap", trimap_dir), ("image", image_dir), ("mask", mask_dir))
    }
    pairs, missing, errors = [], [], {}
    for name, gt_path in gt_files.items():
        if name not in pred_files:
            missing.append(name)
            continue
        for key, folder in (("trimap", trimap_dir), ("mask", mask_dir)):
            if optional[key] is not None and name not in optional[key]:
                errors[name] = f"{gt_path}: no {key} named {name}.* in {key}_dir={folder}"
        if name in errors:
            continue
        pairs.append(
            EvalPair(
                name=name,
                pred_path=pred_files[name],
                gt_path=gt_path,
                trimap_path=optional["trimap"].get(name) if optional["trimap"] is not None else None,
                image_path=optional["image"].get(name) if optional["image"] is not None else None,
                mask_path=optional["mask"].get(name) if optional["mask"] is not None else None,
            )
        )
    unmatched = sorted(set(pred_files) - set(gt_files))
    return FolderMatch(pairs=pairs, missing=missing, unmatched=unmatched, errors=errors)


def read_pair(pair: EvalPair, resize_pred: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(pred, gt)`` as (H, W) float32 in [0, 1] at the ground truth's size.

    A prediction of another size raises ``ValueError`` naming both files, unless ``resize_pred``
    (then it is resized bilinearly to the ground truth).
    """
    pred, gt = read_alpha(pair.pred_path), read_alpha(pair.gt_path)
    if pred.shape != gt.shape:
        if not resize_pred:
            raise ValueError(
                f"{pair.pred_path} is {pred.shape[1]}x{pred.shape[0]} (WxH) but {pair.gt_path} is "
                f"{gt.shape[1]}x{gt.shape[0]}; predictions must have the ground truth's size "
                "(set resize_pred=true to resize them)"
            )
        pred = np.clip(cv2.resize(pred, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    return pred, gt


def _read_region(path: Path | None, shape: tuple[int, int], kind: str) -> np.ndarray | None:
    if path is None:
        return None
    region = read_alpha(path)
    if region.shape != shape:
        raise ValueError(
            f"{path}: {kind} is {region.shape[1]}x{region.shape[0]} (WxH) but the ground truth is "
            f"{shape[1]}x{shape[0]}"
        )
    return region


def score_pair(pair: EvalPair, protocol: str = "standard", resize_pred: bool = False) -> dict[str, float]:
    """The ``protocol``'s scores for one pair (see ``protocols.py``); raises on unusable files."""
    pred, gt = read_pair(pair, resize_pred)
    trimap = _read_region(pair.trimap_path, gt.shape, "trimap")
    mask = _read_region(pair.mask_path, gt.shape, "mask")
    return get_protocol(protocol)(pred, gt, trimap=trimap, mask=mask)
