"""`v2v keys create|revoke`: manage API keys in the service's Redis (e.g. for a docker compose deployment).

`v2v serve` makes the first key by itself; a compose deployment makes keys with
`docker compose run --rm api v2v keys create --name alice`.
"""

from __future__ import annotations

import argparse
import os
import sys

import redis

from app.auth import create_api_key, revoke_key


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("action", choices=["create", "revoke"])
    parser.add_argument("--name", default="default", help="label stored with a new key")
    parser.add_argument("--key", help="the key to revoke")
    parser.add_argument("--redis-url", help="default: V2V_REDIS_URL, else redis://127.0.0.1:6379/0")


def run(args: argparse.Namespace) -> int:
    url = args.redis_url or os.environ.get("V2V_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url)
    try:
        if args.action == "create":
            key_id, plaintext = create_api_key(client, args.name)
            sys.stderr.write(f"created {key_id} ({args.name}); the key is shown only now:\n")
            sys.stdout.write(plaintext + "\n")
            return 0
        if not args.key:
            sys.stderr.write("v2v keys revoke: --key is required\n")
            return 2
        if revoke_key(client, args.key):
            sys.stderr.write("revoked\n")
            return 0
        sys.stderr.write("no such key\n")
        return 1
    except redis.ConnectionError as exc:
        sys.stderr.write(f"v2v keys: cannot reach Redis at {url}: {exc}\n")
        return 2
    finally:
        client.close()
