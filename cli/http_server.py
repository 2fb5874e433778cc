"""How `v2v api` and `v2v serve` run uvicorn: bounded request heads, timeouts and a connection cap.

uvicorn's default HTTP parser (httptools) puts no limit on a request head, and nothing times out a client that
never finishes one: one unauthenticated connection streaming an endless header stalls the event loop. So we
run uvicorn with:

- the h11 parser with `h11_max_incomplete_event_size` (a request line + headers larger than this is refused
  with 400 and the connection closed);
- `GuardedH11Protocol`: a request head must be complete within `head_timeout_s` of its first byte (or of the
  connection opening), else the connection is closed (slowloris);
- `timeout_keep_alive` for idle kept-alive connections, and `limit_concurrency` (503 past it) for the number of
  connections and tasks at once.

In compose a reverse proxy (docker/Caddyfile) sits in front and applies the same kind of limits at the edge.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True)
class HttpLimits:
    max_head_bytes: int = 16 * 1024
    """Request line + headers; larger heads are refused (400) and the connection closed."""
    head_timeout_s: float = 10.0
    """A request head must arrive whole within this many seconds."""
    keep_alive_s: int = 5
    """An idle kept-alive connection is closed after this many seconds."""
    limit_concurrency: int = 500
    """Connections + tasks at once; past it uvicorn answers 503."""


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline on each request head (set by `configure`)."""

    head_timeout_s: float = HttpLimits.head_timeout_s

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._arm_head_timer()  # a request head starts (or goes on) on this connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_head_timer()  # the head is complete

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        waiting_for_head = self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)
        if waiting_for_head and not self.transport.is_closing():
            self.logger.info("closing a connection whose request head did not arrive in %.0f s", self.head_timeout_s)
            self.transport.close()


def uvicorn_options(limits: HttpLimits) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` / `uvicorn.Config` that apply `limits`."""
    protocol = type("ConfiguredH11Protocol", (GuardedH11Protocol,), {"head_timeout_s": limits.head_timeout_s})
    return {
        "http": protocol,
        "h11_max_incomplete_event_size": limits.max_head_bytes,
        "timeout_keep_alive": limits.keep_alive_s,
        "limit_concurrency": limits.limit_concurrency,
    }


def add_limit_arguments(parser: Any) -> None:
    """`--max-head-bytes`, `--head-timeout`, `--keep-alive`, `--limit-concurrency` (defaults: HttpLimits)."""
    defaults = asdict(HttpLimits())
    parser.add_argument("--max-head-bytes", type=int, default=defaults["max_head_bytes"])
    parser.add_argument("--head-timeout", type=float, default=defaults["head_timeout_s"], help="seconds")
    parser.add_argument("--keep-alive", type=int, default=defaults["keep_alive_s"], help="seconds")
    parser.add_argument("--limit-concurrency", type=int, default=defaults["limit_concurrency"])


def limits_from_args(args: Any) -> HttpLimits:
    return HttpLimits(
        max_head_bytes=args.max_head_bytes,
        head_timeout_s=args.head_timeout,
        keep_alive_s=args.keep_alive,
        limit_concurrency=args.limit_concurrency,
    )
