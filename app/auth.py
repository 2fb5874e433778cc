"""API keys: creation, lookup by `Authorization: Bearer <key>`, and the first key `v2v serve` prints.

Keys are stored hashed (sha256) in the Redis hash `v2v:apikeys` (field: hex digest, value: JSON
{key_id, name, created_at}); the plaintext exists only in the creator's hands (and the 0600 key file).
Jobs belong to a `key_id`, never to the key itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from app.contracts import KEY_PREFIX

API_KEYS = f"{KEY_PREFIX}apikeys"
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create_api_key(client: redis.Redis, name: str) -> tuple[str, str]:
    """Make a new key; returns (key_id, plaintext). Only the hash is stored."""
    key_id = f"key_{secrets.token_hex(8)}"
    plaintext = f"v2v_{secrets.token_urlsafe(32)}"
    record = {"key_id": key_id, "name": name, "created_at": time.time()}
    client.hset(API_KEYS, hash_key(plaintext), json.dumps(record))
    return key_id, plaintext


def lookup_key(client: redis.Redis, plaintext: str) -> ApiKey | None:
    raw = client.hget(API_KEYS, hash_key(plaintext))
    if raw is None:
        return None
    record = json.loads(raw)
    return ApiKey(key_id=str(record["key_id"]), name=str(record["name"]))


def revoke_key(client: redis.Redis, plaintext: str) -> bool:
    return bool(client.hdel(API_KEYS, hash_key(plaintext)))


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.replace(partial, path)


def ensure_initial_key(client: redis.Redis, key_file: Path) -> str | None:
    """Make sure `key_file` holds a key Redis knows. Returns the plaintext only when a new key was made.

    A new key is created ("initial") when the file is missing or its key is unknown to Redis (e.g. a fresh
    Redis); the file is then (re)written with mode 0600. `v2v serve` prints the returned key once.
    """
    key_file = Path(key_file)
    if key_file.is_file():
        existing = key_file.read_text().strip()
        if existing and lookup_key(client, existing) is not None:
            return None
    _, plaintext = create_api_key(client, "initial")
    _write_secret(key_file, plaintext)
    return plaintext
