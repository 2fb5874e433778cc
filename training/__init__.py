"""The generic training loop (`loop.py`), its checkpoints (`state.py`), the recipe protocol (`recipe.py`) and sample
pictures (`samples.py`). Families bring their recipes (`Family.recipes`); nothing here knows a family."""

from __future__ import annotations

from typing import Any

from training.loop import TrainingLoop


def loop_for(config: Any) -> TrainingLoop:
    """A loop over the recipe that `config.family` names (`models.registry.find_recipe`), built from `config`."""
    from models.registry import find_recipe

    family, name = find_recipe(config.family)
    return TrainingLoop(family.recipe(name)(config))


__all__ = ["TrainingLoop", "loop_for"]
