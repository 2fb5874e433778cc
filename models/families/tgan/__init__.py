"""TGAN (Saito et al., ICCV 2017): temporal generator + image generator trained as a WGAN with singular value
clipping, a `generate` family.

This package owns the family's frozen config and named presets (`config`), its networks: the temporal generator G0,
the per-frame image generator G1 and the 3-D critic (`networks`), its objectives, singular value clipping and
optimiser settings (`losses`), the serving pipeline (`pipeline`: one frame per step of the trained clip length, a
`video` seed per sample, unconditional) and the training recipe (`recipe`). Implemented from
`reference/video-generation-reference.md` §2.
"""

from models.core.family import Family
from models.families.tgan.config import PRESETS, TGANConfig
from models.families.tgan.networks import TGANGenerator
from models.families.tgan.pipeline import load

FAMILY = Family(
    name="tgan",
    kind="generate",
    config_type=TGANConfig,
    presets=PRESETS,
    build=TGANGenerator,
    load=load,
    size_multiple=lambda config: 1,
    recipes={"default": "models.families.tgan.recipe:TGANRecipe"},
)
