"""The home lease and its fencing token (docs/sites.md section 4).

One node of a cluster is the home: it holds `{c}:home`, a Redis key with an expiry, and renews
it every third of `lease_ttl_seconds`. Taking the lease and handing out the next fencing token
(`INCR {c}:fence`) happen in one Lua script, so the lease never names a holder without its
token and two nodes can't take it between each other's steps. Renewing and releasing compare
the value first (also in Lua), so a node never extends or deletes a lease a newer home holds.

Time on the holder's side is the event loop's monotonic clock, never the wall clock: the
holder counts its TTL from the moment it *sent* its last successful renewal, which is no later
than the moment Redis restarted the key's expiry, so it gives up no later than Redis lets the
key go and a standby can take it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from crypto import parse_json
from server.bus.connection import LINK_ERRORS, connect, key
from server.errors import LinkDown

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from server.config import Settings

logger = logging.getLogger(__name__)

# KEYS: the lease, the fence. ARGV: the lease's JSON up to its token, the rest after it, the
# TTL in ms, and the least token the store has seen (0 if none). Returns the token, or nil
# when another node holds the lease. The floor keeps tokens increasing even after Redis lost
# `{c}:fence` (it is not the system of record): the new home passes the greatest token its
# store has seen, and the token handed out is above it.
TAKE_SCRIPT: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[4]) then
  redis.call('SET', KEYS[2], ARGV[4])
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. token .. ARGV[2], 'PX', ARGV[3])
return token
"""
# KEYS: the lease. ARGV: the value this node wrote, the TTL in ms. 1 if renewed, else 0.
RENEW_SCRIPT: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# KEYS: the lease. ARGV: the value this node wrote. 1 if deleted, else 0.
RELEASE_SCRIPT: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# A standby looks again this often (a fraction of the TTL, with jitter so that standbys don't
# ask in step); after a failed renewal the holder tries again sooner than its usual third.
POLLS_PER_TTL: Final = 3
RETRY_FRACTION: Final = 0.5


def _jittered(seconds: float) -> float:
    """Between half and all of `seconds` (randomness from `secrets`, as everywhere here)."""
    return seconds * (0.5 + secrets.randbelow(1001) / 2000)


@dataclass(frozen=True, slots=True)
class HomeInfo:
    """Who holds the lease: the node, its site, where clients reach it, its fencing token."""

    node: str
    site: str
    url: str
    token: int

    @classmethod
    def from_json(cls, raw: bytes | str) -> HomeInfo:
        """The lease's value; ValueError if it is not one."""
        document = parse_json(raw)
        if not isinstance(document, dict):
            raise ValueError("The home lease is not a JSON object.")
        node, site, url, token = (document.get(name) for name in ("node", "site", "url", "token"))
        if not (isinstance(node, str) and isinstance(site, str) and isinstance(url, str)):
            raise ValueError("The home lease lacks its node, site or url.")
        if not isinstance(token, int) or isinstance(token, bool) or token < 1:
            raise ValueError("The home lease lacks its fencing token.")
        return cls(node, site, url, token)


class HomeLease:
    """This node's claim on the home lease: take it, hold it, give it back."""

    def __init__(self, settings: Settings, node_id: str, site: str, url: str) -> None:
        self._settings = settings
        self._node = node_id
        self._site = site
        self._url = url
        self._ttl = settings.lease_ttl_seconds
        self._ttl_ms = max(1, round(self._ttl * 1000))
        self._redis = connect(settings)
        self._key = key(settings, "home")
        self._value = ""  # what this node wrote, once it holds the lease
        self._renewed_at = 0.0  # loop time at which the last successful renewal was sent
        self.token = 0
        self.lost = asyncio.Event()

    async def acquire(self, floor: int = 0) -> int:
        """Wait until this node holds the lease; its fencing token, above `floor` (the greatest
        token the event store has seen, when the caller knows it)."""
        prefix = json.dumps({"node": self._node, "site": self._site, "url": self._url})
        prefix = prefix[:-1] + ', "token": '
        loop = asyncio.get_running_loop()
        waiting_logged = link_logged = False
        while True:
            sent = loop.time()
            try:
                token = await self._redis.eval(
                    TAKE_SCRIPT, 2, self._key, key(self._settings, "fence"),
                    prefix, "}", self._ttl_ms, floor,
                )  # fmt: skip
            except LINK_ERRORS:
                if not link_logged:
                    logger.warning("Redis is unreachable: still waiting for the home lease")
                    link_logged = True
            else:
                if token is not None:
                    return self._took(prefix + f"{int(token)}}}", int(token), sent)
                if not waiting_logged:
                    logger.info("Another node holds the home lease: waiting for it")
                    waiting_logged = True
            await asyncio.sleep(_jittered(self._ttl / POLLS_PER_TTL))

    def _took(self, value: str, token: int, sent: float) -> int:
        self._value, self.token, self._renewed_at = value, token, sent
        self.lost.clear()
        logger.info("This node holds the home lease (fencing token %d)", token)
        return token

    async def hold(self) -> None:
        """Renew the lease until it is lost, then set `lost` and return.

        Lost means: the value is no longer this node's (it expired and another node took it,
        or someone replaced it), or no renewal succeeded for a whole TTL. Returns quietly,
        without setting `lost`, once `release` was called.
        """
        if not self._value:
            raise RuntimeError("hold() needs the lease: acquire() it first.")
        loop = asyncio.get_running_loop()
        pause = self._ttl / POLLS_PER_TTL
        while True:
            deadline = self._renewed_at + self._ttl
            await asyncio.sleep(max(0.0, min(pause, deadline - loop.time())))
            if not self._value:  # released meanwhile
                return
            if loop.time() >= deadline:
                return self._lose("no renewal succeeded for a whole TTL")
            renewed = await self._renew(deadline)
            if renewed is False and self._value:  # (not released meanwhile)
                return self._lose("another node's value replaced it")
            pause = self._ttl / POLLS_PER_TTL if renewed else self._ttl * RETRY_FRACTION / 3

    async def _renew(self, deadline: float) -> bool | None:
        """True if renewed, False if the value is not ours, None if Redis did not answer."""
        sent = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout_at(deadline):
                renewed = await self._redis.eval(
                    RENEW_SCRIPT, 1, self._key, self._value, self._ttl_ms
                )
        except (*LINK_ERRORS, TimeoutError):
            logger.warning("Renewing the home lease failed: Redis did not answer")
            return None
        if int(renewed) != 1:
            return False
        self._renewed_at = sent
        return True

    def _lose(self, why: str) -> None:
        logger.critical("This node lost the home lease: %s", why)
        self._value = ""
        self.lost.set()

    async def release(self) -> None:
        """Give the lease back at once (if it is still ours), so a standby needn't wait for
        it to expire. A Redis that can't be reached is logged: the lease then expires."""
        value, self._value = self._value, ""
        try:
            if value:
                await self._redis.eval(RELEASE_SCRIPT, 1, self._key, value)
                logger.info("This node gave the home lease back")
        except LINK_ERRORS:
            logger.warning("Could not give the home lease back: it expires on its own")
        finally:
            await self._redis.aclose()

    @staticmethod
    async def current(settings: Settings, redis: Redis | None = None) -> HomeInfo | None:
        """The node that holds the lease now, or None; LinkDown if Redis can't be reached.
        Uses `redis` when given, else a client of its own for this one call."""
        client = redis if redis is not None else connect(settings)
        try:
            raw = await client.get(key(settings, "home"))
        except LINK_ERRORS:
            raise LinkDown("The link between sites (Redis) is down.") from None
        finally:
            if redis is None:
                await client.aclose()
        if raw is None:
            return None
        try:
            return HomeInfo.from_json(raw)
        except ValueError:  # MalformedJSON included
            logger.warning("The home lease in Redis is not readable: treating it as absent")
            return None
