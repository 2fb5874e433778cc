"""`GET /v1/webhooks/secret`: the caller's webhook signing secret (`app.webhooks`)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.deps import CurrentKey, RedisDep
from app.schemas import ErrorBody
from app.webhooks import webhook_secret

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class WebhookSecret(BaseModel):
    secret: str = Field(description="Verify a delivery: `X-V2V-Signature` == 'sha256=' + hex HMAC-SHA256(secret, "
                                    "raw body).")


@router.get("/secret", summary="Your key's webhook signing secret", response_model=WebhookSecret,
            responses={401: {"model": ErrorBody, "description": "unauthorized"}})
def get_secret(key: CurrentKey, client: RedisDep) -> WebhookSecret:
    """The secret every webhook delivery of your jobs is signed with (made on first use; the same for all of them)."""
    return WebhookSecret(secret=webhook_secret(client, key.key_id))
