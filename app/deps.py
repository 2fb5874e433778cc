"""FastAPI dependencies as `Annotated` aliases: settings, Redis, queue, storage, manifest, caller's key.

Everything comes from `app.state`, filled by `create_app` and its lifespan; nothing is built at import time.
"""

from __future__ import annotations

from typing import Annotated

import redis
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from rq import Queue

from app.auth import ANONYMOUS, ApiKey, lookup_key
from app.config import Settings
from app.contracts import Manifest
from app.errors import ApiError
from app.jobs import make_queue
from app.storage import MediaStorage

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_redis(request: Request) -> redis.Redis:
    client: redis.Redis = request.app.state.redis
    return client


def get_manifest(request: Request) -> Manifest:
    manifest: Manifest = request.app.state.manifest
    return manifest


def get_storage(request: Request) -> MediaStorage:
    storage: MediaStorage = request.app.state.storage
    return storage


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
RedisDep = Annotated[redis.Redis, Depends(get_redis)]
ManifestDep = Annotated[Manifest, Depends(get_manifest)]
StorageDep = Annotated[MediaStorage, Depends(get_storage)]


def get_queue(client: RedisDep) -> Queue:
    return make_queue(client)


QueueDep = Annotated[Queue, Depends(get_queue)]


def get_current_key(
    settings: SettingsDep,
    client: RedisDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The caller's API key (401 "unauthorized" when missing or unknown); "anonymous" when auth is off."""
    if not settings.AUTH_ENABLED:
        return ApiKey(key_id=ANONYMOUS, name=ANONYMOUS)
    unauthorized = ApiError(
        401,
        "unauthorized",
        "missing or invalid API key: send `Authorization: Bearer <key>`",
        headers={"WWW-Authenticate": "Bearer"},
    )
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise unauthorized
    key = lookup_key(client, credentials.credentials)
    if key is None:
        raise unauthorized
    return key


CurrentKey = Annotated[ApiKey, Depends(get_current_key)]
