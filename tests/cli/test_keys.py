"""`v2v keys`: a created key authenticates against the same Redis; a revoked one no longer does."""

from __future__ import annotations

import redis

from app.auth import lookup_key
from cli.main import main


def test_create_then_revoke(redis_url: str, redis_client: redis.Redis, capsys) -> None:
    assert main(["keys", "create", "--name", "alice", "--redis-url", redis_url]) == 0
    plaintext = capsys.readouterr().out.strip()
    found = lookup_key(redis_client, plaintext)
    assert found is not None and found.name == "alice"

    assert main(["keys", "revoke", "--key", plaintext, "--redis-url", redis_url]) == 0
    assert lookup_key(redis_client, plaintext) is None
    assert main(["keys", "revoke", "--key", plaintext, "--redis-url", redis_url]) == 1
