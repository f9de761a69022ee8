"""Requests from edges to the home and their replies, over Redis streams (docs/sites.md section 5).

This is only the transport: what a request means is the caller's business (`kind` and a JSON
payload in, a `Reply` out). An edge `XADD`s a request to `{c}:cmd:{home}` and waits for the
entry with the same id on `{c}:reply:{edge}`; the home reads its command stream, runs each
request as a task of its own and `XADD`s the reply to the sender's stream.

Both sides read with `XREAD BLOCK` on a client of their own (never on the pool that carries
the other commands), each from a concrete position found when it starts (the last entry then
present), so that nothing that arrives between two reads is skipped, as reading again from
`$` would. Both reconnect with exponential backoff and full jitter after a link failure and
carry on from where they were.

Deadlines cross machines, so they are wall-clock times (RFC 3339, the edge's clock plus the
forward timeout); the home does not run a request past its deadline: its edge has given up
and told the client so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from redis.exceptions import RedisError

from crypto import parse_json
from server.bus.connection import LINK_ERRORS, connect, key
from server.clock import SystemClock
from server.errors import HomeUnavailable, LinkDown, PayloadTooLarge
from server.protocol.times import format_time, parse_time

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping

    from redis.asyncio import Redis
    from redis.typing import EncodableT, FieldT

    from server.clock import Clock
    from server.config import Settings

logger = logging.getLogger(__name__)

# How long one XREAD blocks before it asks again (each block is also bounded by the socket).
# Short, because redis-py may only notice a cancellation once the block ends: closing a
# reader takes up to this long.
BLOCK_SECONDS: Final = 0.5
READ_COUNT: Final = 100
# Entries kept per command and reply stream (approximately): requests are answered within the
# forward timeout, so only the latest few matter.
STREAM_MAXLEN: Final = 1000
# Requests an edge sends to Redis at once (the rest wait their turn, within their timeout).
MAX_SENDING: Final = 16
# Requests one home runs at once; past it the home stops reading until one is done.
MAX_IN_FLIGHT: Final = 64
# A request's payload carries at most a client's HTTP body plus its envelope (actor, step...).
PAYLOAD_MARGIN_BYTES: Final = 64 * 1024
# A reply carries a log page at most; beyond this the home answers with an error instead.
MAX_REPLY_BYTES: Final = 16 * 1024 * 1024
# Reconnecting after a link failure: full jitter up to this cap, doubling from the base.
BACKOFF_BASE_SECONDS: Final = 0.05
BACKOFF_CAP_SECONDS: Final = 2.0
ID_BYTES: Final = 16
# Node ids name reply streams: nothing else may be spliced into a key.
NODE_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,80}")
INTERNAL: Final = {"status": 500, "error": {"code": "internal", "message": "Internal error."}}
TOO_LARGE: Final = {
    "status": 500,
    "error": {"code": "reply_too_large", "message": "The answer is too large to forward."},
}


@dataclass(frozen=True, slots=True)
class Reply:
    """The home's answer: `ok`, the result (or `{"status", "error"}` for a refusal), and the
    head of every stream the request touched, once committed."""

    ok: bool
    payload: object
    heads: dict[str, int] = field(default_factory=dict)


if TYPE_CHECKING:
    from typing import TypeAlias

    # What the home runs for each request: (kind, payload) -> its reply.
    Handler: TypeAlias = Callable[[str, object], Awaitable[Reply]]


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _text(fields: Mapping[bytes, bytes], name: str) -> str:
    value = fields.get(name.encode())
    if value is None:
        raise ValueError(f"The entry has no field {name!r}.")
    return value.decode()


def _heads(text: str) -> dict[str, int]:
    document = parse_json(text)
    if not isinstance(document, dict) or not all(
        isinstance(seq, int) and not isinstance(seq, bool) for seq in document.values()
    ):
        raise ValueError("The reply's heads are not a map of sequence numbers.")
    return dict(document)


class _Backoff:
    """Exponential backoff with full jitter, reset by a success."""

    def __init__(self) -> None:
        self._failures = 0

    def reset(self) -> None:
        self._failures = 0

    async def wait(self) -> None:
        cap = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**self._failures)
        self._failures = min(self._failures + 1, 16)
        await asyncio.sleep(cap * secrets.randbelow(1001) / 1000)


async def _last_id(redis: Redis, stream: str) -> bytes:
    """The id of the stream's last entry, or 0-0: reading after it yields only what is new."""
    entries: Any = await redis.xrevrange(stream, count=1)
    return bytes(entries[0][0]) if entries else b"0-0"


def _raise_if_cancelled() -> None:
    # redis-py (8.2) can swallow a cancellation that arrives during a blocking read and
    # return an empty answer instead; the task still says it is being cancelled.
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _follow(
    redis: Redis, stream: str, positioned: asyncio.Event
) -> AsyncGenerator[Mapping[bytes, bytes]]:
    """The fields of every entry of `stream` after the last one present when it starts, for
    ever; `positioned` is set once that start is known. After a failure it reconnects (backoff
    with jitter) and goes on from where it was, so nothing that arrived meanwhile is missed."""
    backoff = _Backoff()
    position: bytes | None = None
    block_ms = round(BLOCK_SECONDS * 1000)
    while True:
        try:
            if position is None:
                position = await _last_id(redis, stream)
                positioned.set()
            # Replies in RESP2 (the connection's protocol): [[stream, [(id, fields)...]]].
            answer: Any = await redis.xread({stream: position}, READ_COUNT, block_ms)
            _raise_if_cancelled()
        except (*LINK_ERRORS, RedisError):
            logger.warning("Reading %s from Redis failed: reconnecting", stream.split(":")[1])
            await backoff.wait()
            continue
        backoff.reset()
        for _stream, entries in answer or ():
            for entry_id, fields in entries:
                position = bytes(entry_id)
                yield fields


class CommandClient:
    """An edge's side: sends requests to a home and matches the replies to them by id."""

    def __init__(self, settings: Settings, node_id: str, clock: Clock | None = None) -> None:
        self._settings = settings
        self._id = node_id
        self._clock = clock or SystemClock()
        self._redis = connect(settings)
        self._reader_redis = connect(settings, blocking_seconds=BLOCK_SECONDS)
        # Sends in flight at once: a burst (thousands of watchers subscribing at an edge) would
        # otherwise open a connection per request at once, and a connect storm fails some of
        # them as a link that is down. An XADD takes a fraction of a millisecond.
        self._sending = asyncio.Semaphore(MAX_SENDING)
        self._replies = key(settings, "reply", node_id)
        self._waiting: dict[str, asyncio.Future[Reply]] = {}
        self._positioned = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self.max_payload_bytes = settings.max_http_body_bytes + PAYLOAD_MARGIN_BYTES

    async def start(self) -> None:
        """Start reading replies (from the entries that arrive from now on)."""
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name=f"replies-{self._id}")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._reader_redis.aclose()
        await self._redis.aclose()

    async def request(
        self,
        home: str,
        kind: str,
        payload: dict[str, object],
        timeout: float,  # noqa: ASYNC109 - also the deadline the home is sent
    ) -> Reply:
        """Send a request to the node `home` and wait at most `timeout` for its reply.

        LinkDown if Redis can't be reached (the request was not sent); HomeUnavailable if no
        reply came in time (the home may or may not have run it); PayloadTooLarge if the
        payload is over `max_payload_bytes`.
        """
        if self._reader is None:
            raise RuntimeError("start() the client before its first request.")
        body = _dumps(payload)
        if len(body.encode()) > self.max_payload_bytes:
            raise PayloadTooLarge("The request is too large to forward to the main venue.")
        if not NODE_ID.fullmatch(home):
            raise ValueError("The home is not a node id.")
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout
        await self._wait_positioned(timeout)
        request_id = secrets.token_hex(ID_BYTES)
        deadline = self._clock.now() + timedelta(seconds=timeout)
        entry: dict[FieldT, EncodableT] = {
            "id": request_id, "from": self._id, "kind": kind,
            "deadline": format_time(deadline), "p": body,
        }  # fmt: skip
        future: asyncio.Future[Reply] = loop.create_future()
        self._waiting[request_id] = future
        try:
            # The send is bounded by the connection's own timeouts, and fails as LinkDown.
            await self._send(key(self._settings, "cmd", home), entry)
            async with asyncio.timeout_at(give_up):
                return await future
        except TimeoutError:
            raise HomeUnavailable("The main venue's node did not answer in time.") from None
        finally:
            del self._waiting[request_id]

    async def _wait_positioned(self, seconds: float) -> None:
        # Only before the first reply stream position is known: a reply sent before it would
        # be mistaken for an old one.
        try:
            async with asyncio.timeout(min(seconds, self._settings.redis_timeout_seconds)):
                await self._positioned.wait()
        except TimeoutError:
            raise LinkDown("The link between sites (Redis) is down.") from None

    async def _send(self, stream: str, entry: dict[FieldT, EncodableT]) -> None:
        try:
            async with self._sending:
                await self._redis.xadd(stream, entry, maxlen=STREAM_MAXLEN, approximate=True)
        except LINK_ERRORS:
            raise LinkDown("The link between sites (Redis) is down.") from None

    async def _read(self) -> None:
        following = _follow(self._reader_redis, self._replies, self._positioned)
        async with contextlib.aclosing(following):
            async for fields in following:
                self._dispatch(fields)

    def _dispatch(self, fields: Mapping[bytes, bytes]) -> None:
        request_id = fields.get(b"id", b"").decode(errors="replace")
        future = self._waiting.get(request_id)
        if future is None or future.done():
            return  # an answer nobody waits for any more (it timed out, or an old one)
        try:
            reply = Reply(
                ok=_text(fields, "ok") == "1",
                payload=parse_json(_text(fields, "p")),
                heads=_heads(_text(fields, "heads")),
            )
        except ValueError:
            logger.warning("A reply from the home was not readable (request %s)", request_id)
            future.set_exception(HomeUnavailable("The main venue's node answered unreadably."))
            return
        future.set_result(reply)


class CommandServer:
    """The home's side: runs the requests sent to this node and sends their replies back."""

    def __init__(self, settings: Settings, node_id: str, clock: Clock | None = None) -> None:
        self._settings = settings
        self._id = node_id
        self._clock = clock or SystemClock()
        self._commands = key(settings, "cmd", node_id)
        self.max_payload_bytes = settings.max_http_body_bytes + PAYLOAD_MARGIN_BYTES
        self.ready = asyncio.Event()  # set once it reads: requests sent after it are seen

    async def serve(self, handler: Handler) -> None:
        """Run until cancelled: each request as its own task, at most MAX_IN_FLIGHT at once."""
        redis = connect(self._settings)
        reader = connect(self._settings, blocking_seconds=BLOCK_SECONDS)
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        following = _follow(reader, self._commands, self.ready)
        try:
            async with asyncio.TaskGroup() as group, contextlib.aclosing(following):
                async for fields in following:
                    request = self._request(fields)
                    if request is None:
                        continue
                    await slots.acquire()
                    group.create_task(self._run(redis, handler, request, slots))
        finally:
            await reader.aclose()
            await redis.aclose()

    def _request(self, fields: Mapping[bytes, bytes]) -> _Request | None:
        try:
            request = _Request.read(fields)
        except ValueError:
            logger.warning("A request in the command stream was not readable: skipped")
            return None
        if self._clock.now() > request.deadline:
            logger.info("Request %s (%s) is past its deadline: not run", request.id, request.kind)
            return None
        return request

    async def _run(
        self,
        redis: Redis,
        handler: Handler,
        request: _Request,
        slots: asyncio.Semaphore,
    ) -> None:
        try:
            reply = await self._answer(handler, request)
            await self._reply(redis, request, reply)
        finally:
            slots.release()

    async def _answer(self, handler: Handler, request: _Request) -> Reply:
        if len(request.body.encode()) > self.max_payload_bytes:
            error = {"code": "payload_too_large", "message": "The request is too large."}
            return Reply(ok=False, payload={"status": 413, "error": error})
        try:
            payload = parse_json(request.body)
        except ValueError:
            error = {"code": "bad_request", "message": "The request is not valid JSON."}
            return Reply(ok=False, payload={"status": 400, "error": error})
        try:
            return await handler(request.kind, payload)
        except Exception:
            logger.exception("Request %s (%s) failed", request.id, request.kind)
            return Reply(ok=False, payload=INTERNAL)

    async def _reply(self, redis: Redis, request: _Request, reply: Reply) -> None:
        try:
            body, heads = _dumps(reply.payload), _dumps(reply.heads)
        except (TypeError, ValueError):
            logger.exception("The answer to request %s (%s) is not JSON", request.id, request.kind)
            body, heads, reply = _dumps(INTERNAL), "{}", Reply(ok=False, payload=INTERNAL)
        if len(body.encode()) > MAX_REPLY_BYTES:
            logger.error("The answer to request %s (%s) is too large", request.id, request.kind)
            body, heads, reply = _dumps(TOO_LARGE), "{}", Reply(ok=False, payload=TOO_LARGE)
        entry: dict[FieldT, EncodableT] = {
            "id": request.id, "ok": "1" if reply.ok else "0", "p": body, "heads": heads,
        }  # fmt: skip
        stream = key(self._settings, "reply", request.sender)
        try:
            await redis.xadd(stream, entry, maxlen=STREAM_MAXLEN, approximate=True)
        except (*LINK_ERRORS, RedisError):
            # Run, maybe committed, and not answered: the edge says "home unavailable",
            # which tells the client exactly that.
            logger.warning(
                "The reply to request %s (%s) could not be sent", request.id, request.kind
            )


@dataclass(frozen=True, slots=True)
class _Request:
    """One entry of a command stream, read and checked."""

    id: str
    sender: str
    kind: str
    deadline: datetime
    body: str

    @classmethod
    def read(cls, fields: Mapping[bytes, bytes]) -> _Request:
        """ValueError if a field is missing or malformed."""
        sender = _text(fields, "from")
        if not NODE_ID.fullmatch(sender):
            raise ValueError("The sender is not a node id.")
        request_id, kind = _text(fields, "id"), _text(fields, "kind")
        if len(request_id) != 2 * ID_BYTES or len(kind) > 32:
            raise ValueError("The request's id or kind is malformed.")
        deadline = parse_time(_text(fields, "deadline"))
        return cls(request_id, sender, kind, deadline, _text(fields, "p"))
