"""The named seeds every generate pipeline shares (models/core/generate_seeds.py)."""

from __future__ import annotations

import pytest
import torch

from models.core.family import InputError
from models.core.generate_seeds import MAX_SEED, draw_seeds, fixed_or_drawn, refuse_unknown_seeds


def test_unknown_seed_names_are_refused_with_the_known_ones() -> None:
    refuse_unknown_seeds("MoCoGAN", {"content": 1}, ("content", "motion"))
    with pytest.raises(InputError, match=r"MoCoGAN has no seeds \['video'\] \(seeds: content, motion\)"):
        refuse_unknown_seeds("MoCoGAN", {"video": 1, "motion": 2}, ("content", "motion"))


def test_drawn_seeds_follow_the_job_generator_and_a_fixed_seed_replaces_them() -> None:
    first = draw_seeds(torch.Generator().manual_seed(3), 2, 4)
    again = draw_seeds(torch.Generator().manual_seed(3), 2, 4)
    assert first.shape == (2, 4) and first.dtype == torch.int64 and torch.equal(first, again)
    assert int(first.min()) >= 0 and int(first.max()) < MAX_SEED
    assert torch.equal(fixed_or_drawn(None, first[0]), first[0])
    assert fixed_or_drawn(7, first[0]).tolist() == [7, 7, 7, 7]


@pytest.mark.parametrize("value", [-1, MAX_SEED])
def test_a_fixed_seed_out_of_range_is_an_input_error(value: int) -> None:
    with pytest.raises(InputError, match="seeds must be in 0.."):
        fixed_or_drawn(value, torch.zeros(2, dtype=torch.int64))
