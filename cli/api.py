"""`v2v api`: run the HTTP API (uvicorn) with settings from V2V_* environment variables and the flags."""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from app.config import Settings
from app.main import create_app
from cli.http_server import HttpLimits, add_limit_arguments, limits_from_args, uvicorn_options


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--host", default=None, help="bind address (default: V2V_BIND_HOST, else 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    add_limit_arguments(parser)


def load_settings(host: str | None) -> Settings:
    """Settings from the environment, with `--host` as BIND_HOST when given (validated together)."""
    return Settings(BIND_HOST=host) if host else Settings()


def serve_api(settings: Settings, port: int, log_level: str = "info", limits: HttpLimits | None = None) -> None:
    """Run the API in this process until interrupted, with bounded request heads and timeouts (`cli.http_server`)."""
    import uvicorn

    uvicorn.run(
        create_app(settings),
        host=settings.BIND_HOST,
        port=port,
        log_level=log_level,
        **uvicorn_options(limits or HttpLimits()),
    )


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.host)
    except ValidationError as exc:
        sys.stderr.write(f"v2v api: bad settings:\n{exc}\n")
        return 2
    serve_api(settings, args.port, args.log_level, limits_from_args(args))
    return 0
