"""The generic training loop (`loop.py`), its checkpoints (`state.py`), the recipe protocol (`recipe.py`) and sample
pictures (`samples.py`). Families bring their recipes (`Family.recipes`); nothing here knows a family."""

from __future__ import annotations

from typing import Any

from training.loop import TrainingLoop


def loop_for(config: Any, recipe: Any = None) -> TrainingLoop:
    """A loop over `recipe` (default: the recipe that `config.family` names, `models.registry.find_recipe`), built
    from `config`; under torchrun, this process joins the data-parallel group first (`training.distributed`)."""
    from training import distributed
    from training.loop import pick_device

    if recipe is None:
        from models.registry import find_recipe

        family, name = find_recipe(config.family)
        recipe = family.recipe(name)
    cluster = distributed.cluster_from_env()
    distributed.start(cluster, distributed.device_for(cluster, pick_device(getattr(config, "device", "auto"))))
    return TrainingLoop(recipe(config), cluster)


__all__ = ["TrainingLoop", "loop_for"]
