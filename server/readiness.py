"""Is the node ready to work? Its store, its bus and its clock, each checked (GET /readyz).

The node is ready when its event store takes writes (asked through the store port, nothing
written), its bus is reachable (a Redis PING in a cluster; the in-process bus always is), and
its clock is sane (not before any node ever ran; in a cluster, within the allowed skew of
Redis's clock, which every site shares). Each check says what failed in a fixed sentence; the
error itself goes to the log, so nothing about the store's path or the Redis URL is published.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from server.bus.connection import LINK_ERRORS, connect
from server.errors import StorageError

if TYPE_CHECKING:
    from server.config import Settings
    from server.service.node import Node

logger = logging.getLogger(__name__)

# No node ran before this: a clock earlier than it was reset (a dead RTC battery, no NTP).
CLOCK_FLOOR: Final = datetime(2025, 1, 1, tzinfo=UTC)

# A store busy with a long group commit is still writable: wait for its lock this long.
STORE_CHECK_SECONDS: Final = 5.0

Check = dict[str, object]

# What a failing check says: a stable code, and a sentence in Chinese, then in English.
MESSAGES: Final = {
    "store_not_writable": "事件存储无法写入。The event store can't take writes.",
    "bus_unreachable": "Redis 无响应。Redis does not answer.",
    "clock_reset": "时钟早于 2025 年，已被重置。The clock is before 2025: it was reset.",
    "clock_skew": "时钟与集群（Redis）时钟不一致。The clock is off the cluster's (Redis) clock.",
}


def _failed(code: str) -> Check:
    return {"ok": False, "code": code, "message": MESSAGES[code]}


async def readiness(node: Node) -> dict[str, Check]:
    """Each check by name: {"ok": true} or {"ok": false, "code": ..., "message": ...}."""
    bus, redis_now = await _bus(node.settings)
    return {"store": await _store(node), "bus": bus, "clock": _clock(node, redis_now)}


async def _store(node: Node) -> Check:
    try:
        async with asyncio.timeout(STORE_CHECK_SECONDS):
            await node.store.check_writable()
    except (StorageError, TimeoutError) as exc:
        logger.warning("Not ready: the event store can't take writes: %s", exc)
        return _failed("store_not_writable")
    return {"ok": True}


async def _bus(settings: Settings) -> tuple[Check, datetime | None]:
    """The bus, and Redis's clock when it answered (None on the in-process bus)."""
    if settings.redis_url is None:
        return {"ok": True, "kind": "local"}, None
    client = connect(settings)
    try:
        async with asyncio.timeout(settings.redis_timeout_seconds):
            await client.ping()
            seconds, micros = await client.time()
    except (*LINK_ERRORS, TimeoutError) as exc:
        logger.warning("Not ready: Redis does not answer: %s", type(exc).__name__)
        return {"kind": "redis", **_failed("bus_unreachable")}, None
    finally:
        await client.aclose()
    return {"ok": True, "kind": "redis"}, datetime.fromtimestamp(seconds + micros / 1e6, UTC)


def _clock(node: Node, reference: datetime | None) -> Check:
    now = node.clock.now()
    if now < CLOCK_FLOOR:
        logger.warning("Not ready: the clock says %s", now.isoformat())
        return _failed("clock_reset")
    if reference is not None:
        skew = abs((now - reference).total_seconds())
        if skew > node.settings.max_clock_skew_seconds:
            logger.warning("Not ready: the clock is %.1f s off Redis's", skew)
            return _failed("clock_skew")
    return {"ok": True}
