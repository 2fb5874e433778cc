"""Shared by the MoCoGAN pipeline/recipe/serving tests and the generate-evaluation tests: a tiny people-actions
folder and a tiny MoCoGAN run on it (seconds on one thread)."""

from __future__ import annotations

from pathlib import Path

from corpora.synthetic.people_actions import ActionsSpec, write_actions_dataset

TINY = {"num_categories": 4}
"""mocogan-tiny models 3 classes; the people corpus has 4 actions."""


def tiny_actions(root: Path, train: int = 24, test: int = 8, paired_scenes: bool = False) -> Path:
    """A 16x16, 8-frame people-actions folder (looks 0..5 train, 6..7 held out)."""
    spec = ActionsSpec(height=16, width=16, frames=8, looks=8, heldout=2, supersample=1, paired_scenes=paired_scenes)
    write_actions_dataset(root, spec, train, test, seed=0)
    return root


def tiny_run_config(data: Path, out: Path, steps: int, **values: object):  # -> MoCoGANRunConfig
    from models.families.mocogan.recipe import MoCoGANRecipe

    settings = {"preset": "mocogan-tiny", "overrides": dict(TINY), "batch": 4, "device": "cpu", "progress": False,
                "checkpoint_every": 0, "sample_every": 0, **values}
    return MoCoGANRecipe.train_config(data=str(data), out=str(out), steps=steps, **settings)
