"""Initial-mask prompts: ``file``, ``box``, ``points``, ``scribble``, ``grabcut`` (see each module)."""

from iosm.refine.prompts.base import Prompt, PromptInput
from iosm.refine.prompts.file import FilePrompt
from iosm.refine.prompts.geometric import BoxPrompt, PointsPrompt, ScribblePrompt
from iosm.refine.prompts.grabcut import GrabCutPrompt

__all__ = ["Prompt", "PromptInput", "FilePrompt", "BoxPrompt", "PointsPrompt", "ScribblePrompt", "GrabCutPrompt"]
