"""Running the node's web server: idle limits, JSON for the errors aiohttp answers by itself,
and small TLS read buffers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from asyncio import sslproto
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from server.transport.errors import unparsed_request_response

if TYPE_CHECKING:
    import ssl

    from aiohttp.web_request import BaseRequest

    from server.config import Settings

logger = logging.getLogger(__name__)

# Connections the kernel holds until the node accepts them. Past it, a burst of connects
# waits for SYN retries (1 s, 3 s, 7 s), time the node's own deadlines do not see.
LISTEN_BACKLOG: Final = 1024
# asyncio gives each TLS connection a 256 KiB read buffer, which was 90 % of what a live
# connection cost (bench/connections.py). One full TLS record (16 KiB of data plus header,
# padding and tag) fits in this.
TLS_READ_BUFFER_BYTES: Final = 17 * 1024
# After an error answer, request bytes still arriving are read and dropped for this long at
# most, so that the client gets the answer and not a reset.
LINGER_SECONDS: Final = 5.0


class _Handler(web.RequestHandler):
    """aiohttp answers a request it can't parse itself, before any middleware sees it; this
    keeps its status and makes the answer JSON like every other error."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # pragma: no cover - the middleware answers first
            # Part of a response is out: nothing else can follow it on this connection.
            raise ConnectionError("A response is under way; the connection is dropped.")
        # Without the exception's text: the parser's message quotes the client's bytes, which
        # may hold a token.
        level = logging.ERROR if status >= 500 else logging.INFO
        logger.log(
            level, "Request from %s answered %d (%s)", request.remote, status, type(exc).__name__
        )
        return unparsed_request_response(status)


class _Server(web.Server):
    def __init__(self, made: web.Server, options: dict[str, Any]) -> None:
        super().__init__(made.request_handler, request_factory=made.request_factory)
        self._options = options

    def __call__(self) -> web.RequestHandler:
        return _Handler(self, loop=asyncio.get_running_loop(), **self._options)


class NodeRunner(web.AppRunner):
    """An AppRunner whose connections answer unparsable requests in JSON and close when idle."""

    def __init__(self, app: web.Application, settings: Settings, **options: Any) -> None:
        super().__init__(app, access_log=None, **options)
        self._options: dict[str, Any] = {
            "access_log": None,  # request lines are in the audit log, with the operator
            "keepalive_timeout": settings.http_idle_timeout_seconds,
            "lingering_time": min(LINGER_SECONDS, settings.http_body_timeout_seconds),
        }

    async def _make_server(self) -> web.Server:
        return _Server(await super()._make_server(), self._options)


def trim_tls_buffers() -> None:
    """Give TLS connections a read buffer of one record instead of asyncio's 256 KiB.

    `SSLProtocol.max_size` is how asyncio sizes it (CPython 3.11 to 3.14); the TLS test and
    bench/connections.py check that it still has the effect.
    """
    sslproto.SSLProtocol.max_size = TLS_READ_BUFFER_BYTES


# The young generation's threshold for a running node. A node allocates a few hundred objects
# per request, nearly all freed by reference counting; CPython's default (700) then runs a
# collection every few requests, which cost about 13 % of a node's time under a scoring burst
# (`python -m bench sheets` prints the collector's share).
YOUNG_GENERATION_THRESHOLD: Final = 20_000


def settle_collector() -> None:
    """Tune the cyclic garbage collector for a node that has started.

    What exists once the node has started (modules, settings, the aggregates it loaded) lives
    as long as the process: `gc.freeze` moves it out of the collector's way, so that a full
    collection no longer walks it. Called once the node is up, by `bidroom serve` (and by the
    benchmarks, to measure the node as it is served); never by tests or libraries, since
    frozen objects are never collected.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)


def stop_now() -> None:
    """Shut the node down as SIGTERM would (a home that lost its lease must stop serving)."""
    signal.raise_signal(signal.SIGTERM)


def run(app: web.Application, settings: Settings, context: ssl.SSLContext | None) -> None:
    """Serve until SIGINT or SIGTERM, then shut down (live connections get 1001)."""
    if context is not None:
        trim_tls_buffers()
    with contextlib.suppress(web.GracefulExit, KeyboardInterrupt):
        asyncio.run(_serve(app, settings, context))


async def _serve(app: web.Application, settings: Settings, context: ssl.SSLContext | None) -> None:
    runner = NodeRunner(app, settings, handle_signals=True)
    await runner.setup()
    try:
        site = web.TCPSite(
            runner, settings.host, settings.port, ssl_context=context, backlog=LISTEN_BACKLOG
        )
        await site.start()
        settle_collector()
        print(f"======== Running on {site.name} ========", flush=True)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
