"""VGAN (Vondrick et al., NeurIPS 2016): two-stream video GAN (moving foreground, static background, mask), a
`generate` family.

This package owns the family's frozen config and named presets (`config`), its networks: the two-stream generator
and the 3-D discriminator (`networks`), its objectives (GAN + mask sparsity) and optimiser settings (`losses`), the
serving pipeline (`pipeline`: the whole clip from one code z, streamed a frame per step; fixed length, unconditional,
one named seed "z"), the training recipe (`recipe`) and the mask checks (`mask_checks`: mask mean, IoU with the
moving pixels). Implemented from `reference/video-generation-reference.md` §1.
"""

from models.core.family import Family
from models.families.vgan.config import PRESETS, VGANConfig
from models.families.vgan.networks import VGANGenerator
from models.families.vgan.pipeline import load

FAMILY = Family(
    name="vgan",
    kind="generate",
    config_type=VGANConfig,
    presets=PRESETS,
    build=VGANGenerator,
    load=load,
    size_multiple=lambda config: 1,
    recipes={"default": "models.families.vgan.recipe:VGANRecipe"},
)
