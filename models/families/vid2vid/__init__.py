"""vid2vid (Wang et al., NeurIPS 2018), kind `translate`: a label video in, a video out.

Owns the config and presets (`config.py`), the networks (`generator.py`, `blocks.py`, `layers.py`, `single.py`),
the serving pipeline (`pipeline.py`, with the single-image first-frame generator of `first_frame.py`) and the
training recipes (`recipe.py`: the video generator, and "single" for the first-frame generator).
"""

from models.core.family import Family, FamilyOption
from models.families.vid2vid.generator import PRESETS, Vid2VidConfig, Vid2VidGenerator
from models.families.vid2vid.pipeline import load_pipeline

FAMILY = Family(
    name="vid2vid",
    kind="translate",
    config_type=Vid2VidConfig,
    presets=PRESETS,
    build=Vid2VidGenerator,
    load=load_pipeline,
    size_multiple=lambda config: config.size_multiple,
    recipes={"default": "models.families.vid2vid.recipe:VideoRecipe",
             "single": "models.families.vid2vid.recipe:SingleImageRecipe"},
    extra_weights=("first_frame",),
    options={"temporal": FamilyOption(
        0, 1, 1, "1 = each frame warps and refines the previous one (the paper; steadier on moving-camera footage, "
        "and on still scenes where the card has the still check); 0 = every frame from its own labels alone: none of "
        "the smearing a wrong flow can leave on layouts unlike the training data's, but flicker where the camera "
        "moves.")},
)
