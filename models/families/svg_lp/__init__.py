"""SVG-LP / SVG-FP (Denton & Fergus, ICML 2018): stochastic video prediction with a learned (or fixed) prior.

This package owns the family's frozen config and named presets (`config`), its frame encoders/decoders
(`codecs`), its recurrent networks with an explicit-state streaming API (`networks`) and its objective
(`losses`), its serving pipeline for the `predict` kind (`pipeline`) and its training recipe (`recipe`: SVG-LP,
SVG-FP and the deterministic variant are presets of one family, trained by one recipe). Images are in [0, 1].
"""

from models.core.family import Family
from models.families.svg_lp.config import PRESETS, SvgLpConfig
from models.families.svg_lp.networks import SvgLp
from models.families.svg_lp.pipeline import load

FAMILY = Family(
    name="svg_lp",
    kind="predict",
    config_type=SvgLpConfig,
    presets=PRESETS,
    build=SvgLp,
    load=load,
    size_multiple=lambda config: 1,  # the pipeline resizes any frame to its square size
    recipes={"default": "models.families.svg_lp.recipe:Recipe"},
)
