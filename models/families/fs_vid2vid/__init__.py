"""Few-shot vid2vid (Wang et al., NeurIPS 2019), kind `translate`: a label video plus 1..K example images of a
subject in, a video of that subject out.

Owns the config and presets and the generator (`generator.py`, `blocks.py`, `weights.py`, `flow_net.py`), the serving
pipeline with its reference cache and per-job fine-tuning (`pipeline.py`, `finetune.py`) and the training recipe
(`recipe.py`).
"""

from models.core.family import Family, FamilyOption
from models.families.fs_vid2vid.generator import PRESETS, FewShotConfig, FewShotGenerator
from models.families.fs_vid2vid.pipeline import load_pipeline

FAMILY = Family(
    name="fs_vid2vid",
    kind="translate",
    config_type=FewShotConfig,
    presets=PRESETS,
    build=FewShotGenerator,
    load=load_pipeline,
    size_multiple=lambda config: config.size_multiple,
    recipes={"default": "models.families.fs_vid2vid.recipe:FewShotRecipe"},
    options={"finetune_steps": FamilyOption(
        0, 200, 0, "Fine-tune the generator on the reference images for this many steps before generating (the paper "
        "uses 100); 0 = off. Slower start, closer likeness.", seconds_per_unit=5.0)},
    max_references=lambda config: config.max_references,
)
