"""The refine job's outputs: masks, alphas, cut-outs, step panels and the manifest, written safely.

Layout under the job's output folder::

    masks/NAME.png      refined mask, 0/255, at the image's original size
    alphas/NAME.png     alpha 0..255 (matte stage only: matte=classical by default, matte=mtm)
    cutouts/NAME.png    RGBA: estimated foreground colours + alpha (matte stage only)
    steps/NAME/iter_K_STAGE.png   one panel per refiner iteration (save_steps only)
    manifest.jsonl      one JSON line per processed image (name, status, error, seconds, costs, IoU)

Every image file is written atomically (temporary file + rename), and an image's manifest line is
appended only after its files, so "manifest says ok and the mask exists" means finished, also after
a hard kill. Ranks share the manifest: each line is one ``os.write`` on an ``O_APPEND`` descriptor,
which a local file system appends whole at the end of the file, so lines of concurrent ranks never
interleave. (NFS does not promise atomic appends across machines: for multi-node runs, put the
output folder on a file system that does, e.g. Lustre or GPFS, as cluster scratch usually is.)
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch.callbacks import BasePredictionWriter

from iosm.data.io import write_image
from iosm.refine.module import RefinedImage
from iosm.refine.panels import steps_panel

MANIFEST = "manifest.jsonl"


def read_manifest(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The latest manifest entry per image name (a re-run appends; the last line wins).

    Lines that are not valid JSON (a line cut by a full disk) are ignored: their image is redone.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    entries: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "name" in entry:
            entries[entry["name"]] = entry
    return entries


def append_line(path: Path, entry: dict[str, Any]) -> None:
    """Append ``entry`` as one JSON line with a single ``write`` on an ``O_APPEND`` descriptor."""
    line = (json.dumps(_finite(entry), sort_keys=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, line)
    finally:
        os.close(fd)
    if written != len(line):
        raise OSError(f"{path}: short write ({written} of {len(line)} bytes); is the disk full?")


def _finite(entry: dict[str, Any]) -> dict[str, Any]:
    """NaN/inf (an IoU with an empty ground truth) as null: the manifest stays strict JSON."""
    return {key: None if isinstance(value, float) and not math.isfinite(value) else value
            for key, value in entry.items()}


class MaskWriter(BasePredictionWriter):
    """Writes each :class:`~iosm.refine.module.RefinedImage` as it comes out of the predict loop.

    Args:
        output_dir: the job's folder (``iosm.config.job_output_dir``; the same on every rank).
        matte: the matte stage is on: alphas and cut-outs are outputs too (and part of "finished").
        on_error: ``skip`` records a bad image and goes on; ``raise`` records it, then stops the run.
    """

    def __init__(self, output_dir: str | os.PathLike, *, matte: bool = False, on_error: str = "skip") -> None:
        super().__init__(write_interval="batch")
        if on_error not in ("skip", "raise"):
            raise ValueError(f"on_error={on_error!r}: expected 'skip' or 'raise'")
        self.output_dir = Path(output_dir)
        self.matte = matte
        self.on_error = on_error
        self.manifest_path = self.output_dir / MANIFEST
        self.counts = {"ok": 0, "error": 0}
        self._written: set[str] = set()

    def output_paths(self, name: str) -> dict[str, Path]:
        """The files a finished image has."""
        paths = {"mask": self.output_dir / "masks" / f"{name}.png"}
        if self.matte:
            paths["alpha"] = self.output_dir / "alphas" / f"{name}.png"
            paths["cutout"] = self.output_dir / "cutouts" / f"{name}.png"
        return paths

    def finished_names(self) -> set[str]:
        """Names whose manifest entry says ok and whose output files all exist (resume rule)."""
        return {name for name, entry in read_manifest(self.manifest_path).items()
                if entry.get("status") == "ok" and all(path.is_file() for path in self.output_paths(name).values())}

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        # A line cut short by a hard kill would swallow the next one appended: end it first. Only
        # rank 0 does this, before Lightning's post-setup barrier, i.e. before any rank appends.
        if trainer.is_global_zero and self.manifest_path.is_file() and self.manifest_path.stat().st_size:
            with open(self.manifest_path, "rb") as handle:
                handle.seek(-1, os.SEEK_END)
                cut_short = handle.read(1) != b"\n"
            if cut_short:
                with open(self.manifest_path, "ab") as handle:
                    handle.write(b"\n")

    def write_on_batch_end(self, trainer: Any, pl_module: Any, prediction: RefinedImage, batch_indices: Any,
                           batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        if prediction.name in self._written:  # a padded duplicate from a foreign sampler: already done
            return
        entry = prediction.entry
        if prediction.ok:
            try:
                self._write_files(prediction)
            except Exception as error:  # noqa: BLE001  (a full disk or a bad panel fails this image, not the run)
                entry.update(status="error", error=f"could not write the outputs: {type(error).__name__}: {error}")
        append_line(self.manifest_path, entry)
        self._written.add(prediction.name)
        self.counts[entry["status"]] += 1
        if entry["status"] == "error" and self.on_error == "raise":
            raise RuntimeError(f"{prediction.name}: {entry['error']} (on_error=raise stops at the first bad image; "
                               "on_error=skip records it and goes on)")

    def _write_files(self, prediction: RefinedImage) -> None:
        paths = self.output_paths(prediction.name)
        for step in prediction.steps:
            panel = steps_panel(prediction.canvas_image, step)
            write_image(self.output_dir / "steps" / prediction.name / f"iter_{step.iteration}_{step.stage}.png", panel)
        if self.matte:
            alpha = np.clip(prediction.alpha, 0.0, 1.0)
            write_image(paths["alpha"], alpha)
            write_image(paths["cutout"], cutout(prediction.foreground, alpha))
        write_image(paths["mask"], prediction.mask)  # last: its presence marks the image finished


def cutout(foreground: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """RGBA cut-out ``(H, W, 4)`` float in [0, 1] from the matte's estimated foreground colours
    (:class:`iosm.matting.base.MatteResult`, so that hair edges do not carry the old background)."""
    return np.dstack([np.clip(foreground, 0.0, 1.0), alpha]).astype(np.float32)
