"""MoCoGAN (Tulyakov et al., CVPR 2018): content/motion-decomposed video GAN, a `generate` family.

This package owns the family's frozen config and named presets (`config`), its networks: the GRU motion trajectory,
the per-frame image generator G_I, the image discriminator D_I and the (categorical) video discriminator D_V
(`networks`), its objectives and optimiser settings (`losses`), the serving pipeline (`pipeline`: one frame per
step, any length, content/motion seeds and the action class) and the training recipe (`recipe`). Implemented from
our own reference text (`reference/video-generation-reference.md` §3) only: the public code is CC BY-NC-ND and must
not be read.
"""

from models.core.family import Family
from models.families.mocogan.config import PRESETS, MoCoGANConfig
from models.families.mocogan.networks import MoCoGANGenerator
from models.families.mocogan.pipeline import load

FAMILY = Family(
    name="mocogan",
    kind="generate",
    config_type=MoCoGANConfig,
    presets=PRESETS,
    build=MoCoGANGenerator,
    load=load,
    size_multiple=lambda config: 1,
    recipes={"default": "models.families.mocogan.recipe:MoCoGANRecipe"},
)
