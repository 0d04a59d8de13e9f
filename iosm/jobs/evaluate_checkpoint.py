"""evaluate.py's checkpoint mode: run an MTM checkpoint (or a matte stage) over ``cfg.data``'s test split and score it.

``python evaluate.py ckpt_path=CKPT data=aim500 data.root=DIR output_dir=EVAL`` writes the predicted
alphas to ``EVAL/alphas/NAME.png`` (8-bit, at each image's original size), then scores them exactly
like the folder mode (``EVAL/metrics.json``, ``per_image.csv``, ``report.md``): the same code reads
the same PNG files, so both modes give the same numbers for the same predictions.
``python evaluate.py matte=classical data=realdata`` (or ``matte=mtm matte.ckpt_path=CKPT``) runs
refine.py's matte stage instead, on the data's masks (``data.mask_source``: e.g. refine.py's
``OUT/masks`` with ``data.mask_source=folder data.mask_dir=OUT/masks``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import BasePredictionWriter
from omegaconf import DictConfig, open_dict

from iosm.config import job_output_dir
from iosm.data.io import write_image
from iosm.jobs.evaluate import EvaluationError, evaluate_pairs
from iosm.loggers import build_loggers, finalize_loggers
from iosm.matting import Matte, build_matte
from iosm.metrics.pairs import EvalPair
from iosm.models.inference import load_mtm_checkpoint
from iosm.models.module import MTMModule

log = logging.getLogger(__name__)


class AlphaWriter(BasePredictionWriter):
    """Writes each predicted alpha, and the mask the network was given, cropped to the original
    size: ``alpha_dir/NAME.png`` and ``mask_dir/NAME.png`` (the masks are the region of the
    ``iosm_original`` protocol, which scores where the MTM's input mask is non-zero)."""

    def __init__(self, alpha_dir: Path, mask_dir: Path) -> None:
        super().__init__(write_interval="batch")
        self.alpha_dir, self.mask_dir = alpha_dir, mask_dir

    def write_on_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, prediction: Any,
                           batch_indices: Any, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        for index, name in enumerate(batch["name"]):
            height, width = batch["orig_size"][index].tolist()
            write_image(self.alpha_dir / f"{name}.png", prediction[index, 0, :height, :width].float().cpu().numpy())
            write_image(self.mask_dir / f"{name}.png", batch["mask"][index, 0, :height, :width].cpu().numpy())


def _predict_with_matte(matte: Matte, dataset: Any, alpha_dir: Path, mask_dir: Path) -> None:
    """``matte`` on every test sample's image and mask (no evidence: no refiner ran here)."""
    for index in range(len(dataset)):
        sample = dataset[index]
        height, width = sample["orig_size"].tolist()
        image = sample["image"][:, :height, :width].permute(1, 2, 0).numpy()
        mask = sample["mask"][0, :height, :width].numpy() > 0.5
        result = matte.matte(image, mask)
        for note in result.warnings:
            log.warning("%s: %s", sample["name"], note)
        write_image(alpha_dir / f"{sample['name']}.png", result.alpha)
        write_image(mask_dir / f"{sample['name']}.png", mask)


def run_checkpoint(cfg: DictConfig) -> float | None:
    """Predict the test split with ``cfg.ckpt_path`` (or ``cfg.matte``), then score like the folder mode;
    returns the mean SAD."""
    if cfg.get("data") is None:
        raise ValueError(
            f"ckpt_path={cfg.get('ckpt_path')}: checkpoint mode (and matte=) needs a dataset: add data=NAME "
            "(e.g. data=aim500 data.root=DIR) to run the checkpoint over its test split."
        )
    output_dir = job_output_dir(cfg)
    with open_dict(cfg):
        cfg.output_dir = str(output_dir)  # loggers' ${output_dir} follows this job's folder (sweeps too)
    matte = None if cfg.get("ckpt_path") else build_matte(cfg.matte)  # loads before any image: fails fast
    net = load_mtm_checkpoint(cfg.ckpt_path) if matte is None else None
    datamodule = instantiate(cfg.data)
    dataset = datamodule.dataset("test")  # checked: bad samples are skipped (listed) or raise, per data.on_error
    alpha_dir, mask_dir = output_dir / "alphas", output_dir / "masks"
    if matte is None:
        trainer: L.Trainer = instantiate(cfg.trainer, logger=False, callbacks=[AlphaWriter(alpha_dir, mask_dir)])
        trainer.predict(MTMModule(net=net), dataloaders=datamodule.test_dataloader(), return_predictions=False)
    else:
        _predict_with_matte(matte, dataset, alpha_dir, mask_dir)

    pairs = [
        EvalPair(name=record.name, pred_path=alpha_dir / f"{record.name}.png", gt_path=Path(record.alpha_path),
                 trimap_path=record.trimap_path, image_path=record.image_path, mask_path=mask_dir / f"{record.name}.png")
        for record in dataset.records
    ]
    loggers = build_loggers(cfg)
    try:
        metrics = evaluate_pairs(pairs, output_dir, protocol=cfg.protocol, errors=dict(dataset.skipped),
                                 loggers=loggers, worst_k=int(cfg.worst_k))
    finally:
        finalize_loggers(loggers)
    if metrics["errors"]:
        listed = "; ".join(f"{item['name']}: {item['error']}" for item in metrics["errors"][:10])
        raise EvaluationError(f"evaluation written to {output_dir}, but {metrics['n_errors']} image(s) failed: {listed}")
    return metrics.get("sad")
