"""``prompt=file``: initial masks read from a folder, matched to images by file stem."""

from __future__ import annotations

import numpy as np

from iosm.refine.prompts.base import MaskFolder, Prompt


class FilePrompt(Prompt):
    """The mask ``dir/NAME.*`` (any image format), resized to the image if its size differs."""

    kind = "file"

    def __init__(self, *, dir: str) -> None:  # noqa: A002  (the config key users type: prompt.dir=...)
        self.masks = MaskFolder(dir)

    def initial_mask(self, image: np.ndarray, name: str) -> np.ndarray:
        return self.masks.read(name, image.shape[:2])
