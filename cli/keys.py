"""`v2v keys create|revoke`: manage API keys in the service's Redis (e.g. for a docker compose deployment).

`v2v serve` makes the first key by itself; a compose deployment makes keys with
`docker compose run --rm api v2v keys create --name alice`. With no flags, next to a running `v2v serve` (./var), it
finds that Redis by itself (VAR/redis/port and VAR/redis/password).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import redis

from app.auth import create_api_key, revoke_key
from app.redis_url import DEFAULT_REDIS_URL, resolve_redis_url


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("action", choices=["create", "revoke"])
    parser.add_argument("--name", default="default", help="label stored with a new key")
    parser.add_argument("--key", help="the key to revoke")
    parser.add_argument("--redis-url", help="default: $V2V_REDIS_URL (with $V2V_REDIS_PASSWORD), else the Redis of the "
                                            "`v2v serve` using --var, else " + DEFAULT_REDIS_URL)
    parser.add_argument("--var", type=Path, default=Path("var"),
                        help="data folder of a running `v2v serve` (its Redis port and password are read from there)")


def run(args: argparse.Namespace) -> int:
    url = resolve_redis_url(args.redis_url, args.var)
    shown = url.split("@")[-1]  # never print the password
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=5)
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
    except redis.AuthenticationError:
        sys.stderr.write(f"v2v keys: Redis at {shown} refused the password; set V2V_REDIS_PASSWORD or --redis-url\n")
        return 2
    except redis.ConnectionError as exc:
        sys.stderr.write(f"v2v keys: cannot reach Redis at {shown} ({exc}); start `v2v serve` (or pass --redis-url / "
                         "set V2V_REDIS_URL)\n")
        return 2
    finally:
        client.close()
