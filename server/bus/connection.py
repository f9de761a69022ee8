"""Connections to the Redis that joins the sites (docs/sites.md section 2).

Every call is bounded by `redis_timeout_seconds` (connect and reply alike), and a failed call
is retried a few times with exponential backoff and full jitter, so that a whole site does not
reconnect in step after Redis comes back. A blocking read (XREAD BLOCK) gets a connection of
its own: cancelling a command on a shared connection has corrupted later replies in redis-py,
so the pool of ordinary commands never carries a blocking one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeout
from redis.utils import get_lib_version

if TYPE_CHECKING:
    from server.config import Settings

# Retries of one call before it fails (the caller then says the link is down).
RETRIES: Final = 3
BACKOFF_BASE_SECONDS: Final = 0.05
BACKOFF_CAP_SECONDS: Final = 1.0
# Errors that mean "the link", as opposed to a command Redis refused.
LINK_ERRORS: Final = (RedisConnectionError, RedisTimeout, OSError)

# redis-py reads its own version from the package metadata on disk when it makes its first
# connection, and caches it: read it now, at import, rather than on the event loop.
get_lib_version()


def connect(settings: Settings, *, blocking_seconds: float = 0.0) -> Redis:
    """A client of the settings' Redis. For a client that will block in XREAD for up to
    `blocking_seconds`, the socket timeout leaves room for the block itself."""
    if settings.redis_url is None:
        raise ValueError("This node has no redis_url: it runs alone, on its in-process bus.")
    timeout = settings.redis_timeout_seconds
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout + blocking_seconds,
        retry=Retry(
            ExponentialWithJitterBackoff(cap=BACKOFF_CAP_SECONDS, base=BACKOFF_BASE_SECONDS),
            RETRIES,
        ),
        retry_on_error=[RedisConnectionError, RedisTimeout],
        health_check_interval=max(1, int(timeout)),
        decode_responses=False,
    )


def key(settings: Settings, *parts: str) -> str:
    """A key of this cluster: `{cluster}:part:part`, so clusters can share one Redis."""
    return ":".join((settings.cluster, *parts))
