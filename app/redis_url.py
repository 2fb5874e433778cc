"""Which Redis to talk to: `V2V_REDIS_URL`, with `V2V_REDIS_PASSWORD` put in safely, or the `v2v serve` of a data
folder.

A password with `/`, `@`, `#` or `:` breaks a URL written by hand (`redis://:p@ss@host`); compose therefore passes
it apart, in `V2V_REDIS_PASSWORD`, and `with_password` URL-quotes it into the URL. `v2v serve` keeps its Redis's
password in `VAR/redis/password` and its port in `VAR/redis/port`, so `v2v keys` finds it with no flags.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def with_password(url: str, password: str | None) -> str:
    """`url` with `password` (URL-quoted) as its password; unchanged when there is none."""
    if not password or url.startswith("unix://"):
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0] if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"))


def serve_redis_url(var: Path) -> str | None:
    """The URL of the Redis a `v2v serve --var VAR` runs (None when VAR has no record of one)."""
    try:
        port = int((var / "redis" / "port").read_text().strip())
        password = (var / "redis" / "password").read_text().strip()
    except (OSError, ValueError):
        return None
    return with_password(f"redis://127.0.0.1:{port}/0", password)


def resolve_redis_url(explicit: str | None = None, var: Path = Path("var")) -> str:
    """--redis-url, else V2V_REDIS_URL (+ V2V_REDIS_PASSWORD), else the `v2v serve` of ./var, else the default."""
    if explicit:
        return with_password(explicit, os.environ.get("V2V_REDIS_PASSWORD"))
    if os.environ.get("V2V_REDIS_URL"):
        return with_password(os.environ["V2V_REDIS_URL"], os.environ.get("V2V_REDIS_PASSWORD"))
    return serve_redis_url(var) or DEFAULT_REDIS_URL
