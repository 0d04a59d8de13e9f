"""Every recipe in experiments/ opens with the command that runs it, composes with that entry point,
and sets only keys that exist; a wrong recipe name lists the real ones; the Optuna sweeper searches
real keys; the SLURM launcher asks for one task per GPU."""

from __future__ import annotations

import os
import re

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import MissingConfigException
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf, open_dict

from iosm.config import CONF_DIR, EXPERIMENTS_DIR

RECIPES = sorted(path.stem for path in EXPERIMENTS_DIR.glob("*.yaml") if path.stem != "probe")
# Keys a recipe may add: its name (the wandb group and output folder) and Hydra's own settings.
OWN_KEYS = ("experiment_name", "hydra.")
_MISSING = object()


@pytest.fixture(scope="module")
def composed():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        yield lambda name, overrides: compose(name, overrides=overrides, return_hydra_config=True)
    GlobalHydra.instance().clear()


def _entry_points(recipe: str) -> list[str]:
    """The jobs named by the recipe's opening commands (``# python refine.py -m experiments=iters ...``);
    the first comment line after the package line must be one."""
    lines = (EXPERIMENTS_DIR / f"{recipe}.yaml").read_text().splitlines()
    assert lines[0] == "# @package _global_", f"{recipe}: recipes are global configs"
    commands = [re.match(r"# python (train|refine|evaluate)\.py .*experiments=(\S+)", line) for line in lines[1:]]
    assert commands[0], f"{recipe}: the second line must be the command that runs it, got {lines[1]!r}"
    jobs = [match.group(1) for match in commands if match]
    assert all(match.group(2) == recipe for match in commands if match)
    return jobs


def _leaf_keys(node: DictConfig, prefix: str = "") -> list[str]:
    keys = []
    for key, value in node.items_ex(resolve=False):
        dotted = f"{prefix}{key}"
        keys += _leaf_keys(value, f"{dotted}.") if isinstance(value, DictConfig) else [dotted]
    return keys


def _has_key(cfg: DictConfig, key: str) -> bool:
    """The key exists (a mandatory ``???`` value counts: a recipe may fill it)."""
    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key, default=_MISSING) if parent_key else cfg
    return isinstance(parent, DictConfig) and leaf in parent.keys()  # `in parent` is False for `???`


@pytest.mark.parametrize("recipe, job", [(recipe, job) for recipe in RECIPES for job in _entry_points(recipe)])
def test_recipe_composes_with_only_existing_keys(composed, recipe, job):
    cfg = composed(job, [f"experiments={recipe}"])
    assert cfg.hydra.runtime.choices.experiments == recipe

    # The same group choices without the recipe: every key the recipe sets must already be there.
    choices = {group: choice for group, choice in cfg.hydra.runtime.choices.items()
               if choice is not None and not group.startswith("hydra/") and group != "experiments"}
    # A group the recipe adds at a package of its own (``/inpainter@refiner.outpainter``) is appended.
    plain = composed(job, []).hydra.runtime.choices
    added = {group for group in choices if "@" in group and group not in plain and group.split("@")[0] in plain}
    reference = composed(job, [f"{'+' if group in added else ''}{group}={choice}" for group, choice in choices.items()])
    body = OmegaConf.load(EXPERIMENTS_DIR / f"{recipe}.yaml")
    body.pop("defaults", None)
    # A callback the recipe adds (a new entry of callbacks: with a _target_, which the job instantiates)
    # must name a class that exists; its own keys are that class's arguments.
    added_callbacks = {name for name, node in (body.get("callbacks") or {}).items()
                       if name not in reference.callbacks and isinstance(node, DictConfig) and "_target_" in node}
    for name in added_callbacks:
        get_class(body.callbacks[name]._target_)
    for key in _leaf_keys(body):
        if not key.startswith((*OWN_KEYS, *(f"callbacks.{name}." for name in added_callbacks))):
            assert _has_key(reference, key), \
                f"experiments/{recipe}.yaml sets {key}, which {job}.yaml with {choices} does not have"
    # A sweep recipe sweeps keys that exist as well.
    for key in (OmegaConf.select(cfg, "hydra.sweeper.params") or {}):
        assert OmegaConf.select(cfg, key, default=_MISSING) is not _MISSING, f"{recipe} sweeps unknown {key}"


def test_unknown_recipe_lists_the_available_ones(composed):
    with pytest.raises(MissingConfigException) as error:
        composed("refine", ["experiments=no_such_recipe"])
    message = str(error.value)
    assert "no_such_recipe" in message and "aim500_iosm" in message and "iters" in message


def test_optuna_sweeper_searches_existing_model_keys(composed):
    cfg = composed("train", ["hydra/sweeper=mtm_optuna"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "minimize"
    assert sweeper.sampler.seed == cfg.seed
    for key in sweeper.params:
        assert OmegaConf.select(cfg, key, default=_MISSING) is not _MISSING, f"mtm_optuna searches unknown {key}"


def test_readme_lists_every_recipe():
    readme = (EXPERIMENTS_DIR / "README.md").read_text()
    for recipe in RECIPES:
        assert f"`{recipe}`" in readme, f"experiments/README.md does not list {recipe}"


def test_slurm_launcher_asks_for_one_task_per_gpu(composed, tmp_path, monkeypatch):
    import submitit
    from hydra.core.utils import JobReturn
    from hydra.utils import instantiate

    # submitit refuses to build a SLURM executor where srun is missing; a stand-in lets it write the script.
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "srun").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "bin" / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    cfg = composed("train", ["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "trainer=ddp",
                             "trainer.devices=4", "trainer.num_nodes=2", f"output_dir={tmp_path / 'sweep'}"])
    with open_dict(cfg.hydra):
        cfg.hydra.job.name = "train"
    scripts = []

    def submit_nothing(executor, function, *arguments):  # what submitit would sbatch, captured
        scripts.append(executor._executor._make_submission_file_text("python -u job.py", "0"))
        return []

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", submit_nothing)
    launcher = instantiate(cfg.hydra.launcher)
    launcher.setup(hydra_context=None, task_function=lambda _: JobReturn(), config=cfg)
    launcher.launch([["seed=1"]], initial_job_idx=0)

    script = scripts[0]
    for line in ("--partition=gpu", "--nodes=2", "--ntasks-per-node=4", "--gpus-per-node=4", "--time=240"):
        assert f"#SBATCH {line}" in script
