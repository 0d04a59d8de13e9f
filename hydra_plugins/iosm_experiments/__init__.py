"""Hydra discovers this plugin through the ``hydra_plugins`` namespace package; it puts the
repository root on the config search path so that ``experiments/NAME.yaml`` is the config group
``experiments`` (``python train.py experiments=demo``)."""

from iosm.config import ExperimentsSearchPath

__all__ = ["ExperimentsSearchPath"]
