"""SAVP (Lee et al., 2018): stochastic adversarial video prediction.

This package owns the family's frozen config and named presets (`config`: the paper's ablations VAE+GAN, VAE-only,
GAN-only and deterministic are variants of one network), its building blocks (`layers`: ConvLSTM, CDNA kernels,
instance norm), the recurrent generator cell with CDNA-warped candidate compositing and the posterior encoder with
an explicit-state streaming API (`networks`), the two spectrally normalised video discriminators (`discriminator`),
the objectives and schedules (`losses`), its serving pipeline for the `predict` kind (`pipeline`) and its training
recipe (`recipe`). Images are in [0, 1].
"""

from models.core.family import Family
from models.families.savp.config import PRESETS, SavpConfig
from models.families.savp.networks import SavpGenerator
from models.families.savp.pipeline import load

FAMILY = Family(
    name="savp",
    kind="predict",
    config_type=SavpConfig,
    presets=PRESETS,
    build=SavpGenerator,
    load=load,
    size_multiple=lambda config: 1,  # the pipeline resizes any frame to its square size
    recipes={"default": "models.families.savp.recipe:SAVPRecipe"},
)
