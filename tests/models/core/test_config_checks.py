"""Every generate and predict family refuses a zero width or a bad image size in the same words."""

from __future__ import annotations

import dataclasses

import pytest

from models.core.config_checks import require_positive, require_power_of_two
from models.families.mocogan.config import MoCoGANConfig
from models.families.savp.config import SavpConfig
from models.families.svg_lp.config import SvgLpConfig
from models.families.tgan.config import TGANConfig
from models.families.vgan.config import VGANConfig


def test_the_checks_name_the_first_bad_value() -> None:
    require_positive(a=1, b=7)
    require_power_of_two("size", 64, 8)
    with pytest.raises(ValueError, match="^b must be >= 1, got 0$"):
        require_positive(a=3, b=0, c=-1)
    for bad in (48, 4, 0):
        with pytest.raises(ValueError, match=f"^size must be a power of two >= 8, got {bad}$"):
            require_power_of_two("size", bad, 8)


@pytest.mark.parametrize(("config", "field"), [
    (MoCoGANConfig, "ngf"), (VGANConfig, "ndf"), (TGANConfig, "ngf"), (SavpConfig, "ngf"), (SvgLpConfig, "rnn_size"),
])
def test_each_family_refuses_a_zero_width(config: type, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field} must be >= 1, got 0$"):
        dataclasses.replace(config(), **{field: 0})
