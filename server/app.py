"""The aiohttp application factory: settings in, a node's HTTP API and live channel out."""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING

from aiohttp import web

from server.clock import Clock, SystemClock
from server.live import LiveHub
from server.media.hub import MediaHub
from server.metrics import Metrics
from server.protocol.times import parse_time
from server.service.node import load_node_key
from server.sites.cascade import NodeCascade
from server.sites.media_directory import RedisDirectory
from server.sites.runtime import running_node
from server.transport import (
    audit_routes,
    bid_routes,
    evaluation_routes,
    http,
    media_routes,
    openapi,
    ops_routes,
    pages,
    view_routes,
    ws,
)
from server.transport.admission import Admission
from server.transport.app_keys import (
    admission_key,
    connections_key,
    hub_key,
    media_key,
    metrics_key,
    node_key,
    settings_key,
)
from server.transport.errors import error_middleware

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from recordings.audit import AuditRecord
    from server.bus.base import Bus
    from server.config import Settings
    from server.service.node import Node
    from server.storage.base import EventStore


def create_app(
    settings: Settings,
    *,
    store: EventStore | None = None,
    bus: Bus | None = None,
    clock: Clock | None = None,
    schedule: bool = True,
    on_lost: Callable[[], None] | None = None,
) -> web.Application:
    """Build the node's application, on the backends the settings choose (server/backends.py).

    A `store` or `bus` given replaces the one the settings choose (tests). With
    `schedule=False` nothing happens by itself at scheduled times; tests then drive the
    schedule with `node.scheduler.tick()` and a manual clock. A node of several sites
    (docs/sites.md) calls `on_lost` if it loses the home lease: it must stop serving.
    """
    app = web.Application(
        client_max_size=settings.max_http_body_bytes,
        middlewares=[ops_routes.log_context, error_middleware],
    )
    app[settings_key] = settings
    app[connections_key] = weakref.WeakSet()
    app[admission_key] = Admission(
        settings.ws_max_connections, settings.ws_max_connections_per_address
    )
    metrics = _metrics(app) if settings.metrics_enabled else None

    async def node_context(app: web.Application) -> AsyncIterator[None]:
        key = await asyncio.to_thread(
            load_node_key, settings.node_key_path, settings.node_key_passphrase
        )
        async with running_node(
            settings, key, clock or SystemClock(), store=store, bus=bus, schedule=schedule,
            on_lost=on_lost,
        ) as node:  # fmt: skip
            app[node_key] = node
            if metrics is None:
                app[hub_key] = LiveHub(node.store, node.bus)
            else:
                node.observe(metrics)
                app[hub_key] = LiveHub(node.store, node.bus, fanout_lag(metrics, node.clock))
            media = app[media_key] = _media_hub(settings, node)
            await media.start()
            try:
                yield
            finally:
                await media.close()

    app.cleanup_ctx.append(node_context)
    app.on_shutdown.append(_close_connections)
    app.router.add_routes(http.routes())
    app.router.add_routes(bid_routes.routes())
    app.router.add_routes(audit_routes.routes())
    app.router.add_routes(evaluation_routes.routes())
    app.router.add_routes(view_routes.routes())
    app.router.add_routes(media_routes.routes())
    app.router.add_routes(openapi.routes())
    app.router.add_routes(pages.routes())
    app.router.add_get("/ws", ws.live)
    app.router.add_routes(ops_routes.routes(metrics=metrics is not None))
    return app


def _metrics(app: web.Application) -> Metrics:
    """The app's own registry, with the gauges read from its live state at each scrape."""
    metrics = app[metrics_key] = Metrics()
    metrics.gauge(
        "bidroom_live_connections", "Live (WebSocket) connections open.",
        lambda: len(app[connections_key]),
    )  # fmt: skip
    metrics.gauge(
        "bidroom_live_subscribers", "Subscriptions of live connections to streams.",
        lambda: app[hub_key].total_subscribers() if hub_key in app else 0,
    )  # fmt: skip
    metrics.gauge(
        "bidroom_media_sessions", "Media (WebRTC) sessions open.",
        lambda: app[media_key].sessions if media_key in app else 0,
    )  # fmt: skip
    return metrics


def fanout_lag(metrics: Metrics, clock: Clock) -> Callable[[AuditRecord], None]:
    """Observe, for a record written to live connections, the time since its event's time."""

    def written(record: AuditRecord) -> None:
        metrics.fanned_out((clock.now() - parse_time(record.time)).total_seconds())

    return written


def _media_hub(settings: Settings, node: Node) -> MediaHub:
    """The node's media; in a cluster, it finds and watches sources of other nodes too."""
    if settings.redis_url is None:
        return MediaHub(node)
    directory = RedisDirectory(settings, node.id)
    cascade = NodeCascade(node.key, node.clock, settings.forward_timeout_seconds)
    return MediaHub(node, directory, cascade)


async def _close_connections(app: web.Application) -> None:
    connections = [c for c in app[connections_key] if isinstance(c, ws.Connection)]
    await asyncio.gather(*(c.shutdown() for c in connections), return_exceptions=True)
