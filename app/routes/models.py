"""`GET /v1/models`: the served catalogue (from the manifest), without internals such as weight files."""

from __future__ import annotations

import redis
from fastapi import APIRouter

from app.contracts import ModelCard
from app.deps import ManifestDep, RedisDep
from app.liveness import serving_summary
from app.schemas import ModelList, ModelPublic, OptionPublic, ServingGroup

router = APIRouter(prefix="/v1/models", tags=["models"])

UNTRAINED_NOTE = "untrained weights: outputs are noise until trained weights are shipped"


def model_public(card: ModelCard) -> ModelPublic:
    return ModelPublic(
        name=card.name,
        family=card.family,
        kind=card.kind,
        description=card.description,
        inputs=card.inputs,
        output=card.output,
        options={name: OptionPublic(min=o.min, max=o.max, default=o.default, description=o.description)
                 for name, o in card.options.items()},
        trained=card.trained,
        note=None if card.trained else UNTRAINED_NOTE,
        quality=dict(card.quality),
    )


@router.get("", response_model=ModelList, summary="The served models, what their jobs take and give")
def get_models(manifest: ManifestDep, client: RedisDep) -> ModelList:
    try:
        serving = [ServingGroup.model_validate(group) for group in serving_summary(client)]
    except redis.RedisError:
        serving = None
    return ModelList(models=[model_public(card) for card in manifest.models.values()], serving=serving)
