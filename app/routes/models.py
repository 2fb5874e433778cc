"""`GET /v1/models`: the served catalogue (from the manifest), without internals such as weight files."""

from __future__ import annotations

from fastapi import APIRouter

from app.contracts import ModelCard
from app.deps import ManifestDep
from app.schemas import ClassPublic, ModelList, ModelPublic, ReferenceRange

router = APIRouter(prefix="/v1/models", tags=["models"])

UNTRAINED_NOTE = "untrained weights: outputs are noise until trained weights are shipped"


def model_public(card: ModelCard) -> ModelPublic:
    labels = card.labels
    classes = [
        ClassPublic(id=i, name=labels.class_names[i] if i < len(labels.class_names) else str(i), color=colour)
        for i, colour in enumerate(labels.palette)
    ]
    trained = card.trained and card.weights is not None
    return ModelPublic(
        name=card.name,
        family=card.family.value,
        description=card.description,
        label_type=labels.type.value,
        label_channels=labels.channels,
        classes=classes,
        height=card.height,
        width=card.width,
        references=ReferenceRange(min=card.references.min, max=card.references.max) if card.references else None,
        trained=trained,
        note=None if trained else UNTRAINED_NOTE,
        quality=dict(card.quality),
    )


@router.get("", response_model=ModelList)
def get_models(manifest: ManifestDep) -> ModelList:
    return ModelList(models=[model_public(card) for card in manifest.models.values()])
