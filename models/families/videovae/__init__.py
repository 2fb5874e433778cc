"""VideoVAE (He et al., ECCV 2018): an attribute-structured recurrent VAE (action and identity attributes), a
`predict` family.

This package owns the family's frozen config and named presets (`config`), the frame encoder, decoder and attribute
classifier (`codecs`), the structured latent model with an explicit-state streaming API (`networks`), the
objectives (`losses`), the serving pipeline (`pipeline`: context frames or one image plus requested or inferred
attributes in, sampled futures out) and the training recipe (`recipe`: the attribute classifier first, then the
ELBO with the encoder frozen). Images are in [-1, 1]. The paper's exact layers are unverified; sizes follow the
reference's description of an unofficial port (reference §6), with a 32×32 scaling of ours.
"""

from models.core.family import Family
from models.families.videovae.config import PRESETS, VideoVaeConfig
from models.families.videovae.networks import VideoVae
from models.families.videovae.pipeline import load

FAMILY = Family(
    name="videovae",
    kind="predict",
    config_type=VideoVaeConfig,
    presets=PRESETS,
    build=VideoVae,
    load=load,
    size_multiple=lambda config: 1,  # the pipeline resizes any frame to its square size
    recipes={"default": "models.families.videovae.recipe:VideoVAERecipe"},
)
