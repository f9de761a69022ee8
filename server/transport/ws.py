"""The live channel: one WebSocket per client; authenticate, subscribe, receive events;
experts also send their signed acts here and get each one's ack."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from aiohttp import WSMsgType, web

from server import logs
from server.domain.access import Action
from server.domain.errors import DomainError
from server.errors import ServerError, Unauthorized
from server.protocol import (
    Acked,
    Act,
    Auth,
    CloseCode,
    Error,
    MediaAnswer,
    MediaClose,
    MediaEnded,
    MediaPublish,
    MediaWatch,
    Ping,
    Pong,
    ProtocolError,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    Welcome,
    parse_client_message,
    server_message_json,
)
from server.protocol.fields import InvalidFields
from server.protocol.frames import text_frame
from server.protocol.times import format_time
from server.service.commands import Command
from server.transport.app_keys import (
    admission_key,
    connections_key,
    hub_key,
    media_key,
    node_key,
    settings_key,
)
from server.transport.errors import describe
from server.transport.http import address_of
from server.transport.outbox import Outbox, TurnBuffer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from server.config import Settings
    from server.domain.access import Actor
    from server.live import LiveHub, Subscriber
    from server.media.hub import MediaHub
    from server.protocol.server_messages import Reply
    from server.service.evaluation import Ack
    from server.service.node import Node

logger = logging.getLogger(__name__)
_ids: Final = itertools.count(1)

Refusal = DomainError | ServerError | InvalidFields
# Acts of one connection checked and recorded at once; past this, reading waits (backpressure).
MAX_ACTS_IN_FLIGHT: Final = 16


class Connection:
    """One client's live connection. It is also the hub's Sink for this client."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        self._ws = ws
        self._transport = request.transport
        # Kept from the start: a TLS transport that was closed no longer gives it out.
        self._socket = None if self._transport is None else self._transport.get_extra_info("socket")
        self._node: Node = request.app[node_key]
        self._hub: LiveHub = request.app[hub_key]
        self._media: MediaHub = request.app[media_key]
        self._settings: Settings = request.app[settings_key]
        self._authorization = request.headers.get("Authorization")
        self.address = address_of(request)
        self.actor: Actor | None = None
        self.audiences: frozenset[str] = frozenset()
        self._subscriptions: dict[str, Subscriber] = {}
        # The streams followed, for presence: kept after the hub is left, until the end.
        self._followed: list[str] = []
        self._present = False
        self._replays: dict[str, asyncio.Task[None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        settings = self._settings
        self._outbox = (
            None
            if self._transport is None
            else Outbox(
                self._transport,
                soft=settings.ws_backlog_bytes,
                hard=settings.ws_send_buffer_bytes,
                grace=settings.ws_backlog_seconds,
                on_slow=self._too_slow,
            )
        )
        self._tasks: asyncio.TaskGroup | None = None
        self._act_slots = asyncio.Semaphore(MAX_ACTS_IN_FLIGHT)
        self._turn = None if self._outbox is None else TurnBuffer(self._outbox.write)
        self._evicted = False
        self.number = next(_ids)
        self.log = logging.LoggerAdapter(logger, {"connection": self.number})

    # The Sink side, used by the hub.

    async def send_text(self, text: str) -> None:
        if self._evicted:
            raise ConnectionResetError("The connection was dropped.")
        self._flush()  # what was written before goes first
        await self._ws.send_str(text)

    def write_frame(self, frame: bytes) -> None:
        """Written at the end of this turn of the event loop, with the turn's other frames.

        Every message the node sends on the live channel goes through here or flushes it
        first, so nothing overtakes what is held (outbox.TurnBuffer).
        """
        if self._turn is not None:
            self._turn.add(frame)

    def _write(self, message: Reply) -> None:
        self.write_frame(text_frame(server_message_json(message).encode()))

    def _flush(self) -> None:
        if self._turn is not None:
            self._turn.flush()

    def _too_slow(self, why: str) -> None:
        self.evict(CloseCode.SLOW_CONSUMER, f"too slow ({why}); resume by seq")

    def evict(self, code: CloseCode, reason: str, *, grace: float | None = None) -> None:
        """Stop sending, leave the hub, and close with `code`; safe to call from the hub.

        The socket goes after `grace` seconds (by default the close timeout) at the latest.
        """
        if self._evicted:
            return
        self._evicted = True
        if self._outbox is not None:
            self._flush()  # what was written before (an error saying why) still goes out
            self._outbox.stop()
        self.log.info("Dropping connection: %s (%d)", reason, code)
        # Leave the hub on the next loop turn: the hub may be iterating its groups right now.
        asyncio.get_running_loop().call_soon(self._leave_hub)
        if grace is None:
            grace = self._settings.ws_close_timeout_seconds
        if self._tasks is not None:
            self._tasks.create_task(self._close_dropped(code, reason, grace))

    def _auth_deadline(self) -> None:
        # Nothing is owed to a client that never authenticated: it gets the close frame and
        # loses the socket at once, without waiting for its close frame or TLS close_notify
        # (a graceful TLS close alone could keep the socket for 30 s).
        self.evict(CloseCode.UNAUTHORIZED, "authenticate first", grace=0.0)

    async def _close_dropped(self, code: CloseCode, reason: str, grace: float) -> None:
        # The close frame waits behind the backlog; a client that never reads it would keep
        # the socket and its buffer forever, so the socket goes when grace runs out.
        asyncio.get_running_loop().call_later(grace, self._cut)
        try:
            # The close frame is written at once; only the wait for the client's answer is
            # bounded by grace.
            async with asyncio.timeout(grace):
                await self._ws.close(code=code, message=reason.encode(), drain=False)
        except TimeoutError:
            if grace > 0:
                self.log.info("Client did not answer the close frame in time")

    def _cut(self) -> None:
        """Drop the socket now. Over TLS, abort() does nothing once the transport has been
        closed twice, and the graceful TLS close then waits 30 s for the client's close_notify:
        so the socket itself is shut down too."""
        if self._transport is not None:
            self._transport.abort()
        if self._socket is not None:
            with contextlib.suppress(OSError):  # already closed: nothing left to cut
                self._socket.shutdown(socket.SHUT_RDWR)

    # The receive side.

    async def run(self) -> None:
        logs.bind_connection(self.number)
        self.log.info("Live connection opened from %s", self.address)
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                await self._start()
                try:
                    await self._receive()
                finally:
                    for replay in self._replays.values():
                        replay.cancel()
        finally:
            self._tasks = None
            if self._timer is not None:
                self._timer.cancel()
            if self._outbox is not None:
                self._outbox.stop()
            self._leave_hub()
            self._media.owner_left(self)  # not awaited: it must finish even if we are cancelled
            self.log.info("Live connection closed (%s)", self._ws.close_code)
            if self._present and self.actor is not None:
                reason = f"live connection closed ({self._ws.close_code})"
                await self._node.disconnected(self.actor, list(self._followed), reason)

    async def _start(self) -> None:
        if self._authorization is not None:
            scheme, _, token = self._authorization.partition(" ")
            await self._authenticate(token.strip() if scheme.lower() == "bearer" else "", None)
        if self.actor is None and not self._evicted:
            self._timer = asyncio.get_running_loop().call_later(
                self._settings.ws_auth_timeout_seconds, self._auth_deadline
            )

    async def _receive(self) -> None:
        async for message in self._ws:
            if message.type is WSMsgType.TEXT:
                await self._handle(message.data)
            elif message.type is WSMsgType.BINARY:
                await self._send(Error("unsupported_frame", "Messages are JSON text frames."))

    async def _handle(self, text: str) -> None:
        try:
            message = parse_client_message(text)
        except ProtocolError as exc:
            await self._send(Error(exc.code, str(exc), ref=exc.ref))
            return
        logs.bind_tender(getattr(message, "tender", None))
        handler = HANDLERS.get(message.KIND)
        if handler is None:
            unknown = f"Unknown message type {message.KIND!r}."
            await self._send(Error("unknown_type", unknown, ref=message.ref))
        elif self.actor is None and not handler.before_auth:
            await self._send(
                Error("unauthorized", "Authenticate first with an auth message.", ref=message.ref)
            )
        else:
            await handler.answer(self, message)

    # The handlers of HANDLERS, one per kind of client message.

    async def _on_ping(self, message: Ping) -> None:
        await self._send(Pong(format_time(self._node.clock.now()), ref=message.ref))

    async def _on_auth(self, message: Auth) -> None:
        await self._authenticate(message.token, message.ref)

    async def _on_subscribe(self, message: Subscribe) -> None:
        refusal = self._start_replay(message)
        if refusal is not None:
            await self._send(refusal)

    async def _on_act(self, message: Act) -> None:
        """Decide the act in the background; past MAX_ACTS_IN_FLIGHT, reading waits."""
        if self.actor is not None and self._tasks is not None:
            await self._act_slots.acquire()
            self._tasks.create_task(self._act(self.actor, message))

    async def _act(self, actor: Actor, message: Act) -> None:
        """Record one signed act; the ack (or the typed refusal) names the message's id."""
        body = {"document": message.document, "signature": message.signature}
        try:
            command = Command(
                Action.ACT_IN_ROOM, actor, self._node.clock.now(), message.tender, body=body
            )
            ack: Ack = await self._node.submit(command)
            await self._send(Acked(message.tender, ack.seq, ack.hash, ack.type, ref=message.ref))
        except (DomainError, ServerError, InvalidFields) as exc:
            await self._refuse(exc, message.ref)
        finally:
            self._act_slots.release()

    # Live media (docs/media.md section 3): negotiated in the background, answered by id.

    async def _on_media_publish(self, message: MediaPublish) -> None:
        if self.actor is not None and self._tasks is not None:
            answer = self._media.publish(
                self, self.actor, message.tender, message.room, message.sdp
            )
            self._tasks.create_task(self._media_answer(answer, message.ref))

    async def _on_media_watch(self, message: MediaWatch) -> None:
        if self.actor is not None and self._tasks is not None:
            answer = self._media.watch(
                self, self.actor, message.tender, message.room, message.source, message.sdp
            )
            self._tasks.create_task(self._media_answer(answer, message.ref))

    async def _on_media_close(self, message: MediaClose) -> None:
        try:
            await self._media.close_session(self, message.session)
        except ServerError as exc:
            await self._refuse(exc, message.ref)

    async def _media_answer(self, answer: Awaitable[MediaAnswer], ref: str | None) -> None:
        try:
            granted = await answer
        except (DomainError, ServerError, InvalidFields) as exc:
            await self._refuse(exc, ref)
            return
        await self._send(dataclasses.replace(granted, ref=ref))

    def media_ended(self, session: str, reason: str) -> None:
        """One of this connection's media sessions ended (the hub says so)."""
        if not self._evicted:
            self._write(MediaEnded(session, reason))

    async def _authenticate(self, token: str, ref: str | None) -> None:
        try:
            claims = self._node.session(token)
            if self.actor is not None and claims.participant != self.actor.id:
                raise Unauthorized("A connection stays with the participant who opened it.")
        except Unauthorized as exc:
            await self._send(Error(exc.code, str(exc), ref=ref))
            self.evict(CloseCode.UNAUTHORIZED, "invalid token")
            return
        self.actor = claims.actor(self.address, self._node.settings.site)
        self.audiences = self.actor.audiences()
        if not self._present:
            self._present = True
            await self._node.connected(self.actor)
        if self._timer is not None:
            self._timer.cancel()
        remaining = (claims.expires_at - self._node.clock.now()).total_seconds()
        self._timer = asyncio.get_running_loop().call_later(
            max(0.0, remaining), self.evict, CloseCode.UNAUTHORIZED, "token expired"
        )
        welcome = Welcome(
            participant=claims.participant,
            role=claims.role.value,
            expires_at=format_time(claims.expires_at),
            server_time=format_time(self._node.clock.now()),
            node=self._node.id,
            ref=ref,
        )
        await self._send(welcome)

    def _start_replay(self, message: Subscribe) -> Error | None:
        """Start a subscription, or say why not. Synchronous, so that two quick subscribe
        messages can't both pass the checks before either is registered."""
        stream = message.tender
        if stream in self._subscriptions or stream in self._replays:
            return Error("already_subscribed", f"Already subscribed to {stream}.", ref=message.ref)
        if len(self._subscriptions) + len(self._replays) >= self._settings.ws_max_subscriptions:
            return Error(
                "too_many_subscriptions", "Unsubscribe from something first.", ref=message.ref
            )
        if self._tasks is not None:
            self._replays[stream] = self._tasks.create_task(self._subscribe(message))
        return None

    async def _subscribe(self, message: Subscribe) -> None:
        stream, actor = message.tender, self.actor
        try:
            if actor is None:  # pragma: no cover - checked by _handle
                raise Unauthorized("Authenticate first.")
            head = await self._node.follow(actor, stream)
            await self._send(Subscribed(stream, message.after_seq, head, ref=message.ref))
            self._subscriptions[stream] = await self._hub.subscribe(self, stream, message.after_seq)
            self._followed.append(stream)
            await self._node.following(actor, stream)
        except (DomainError, ServerError, InvalidFields) as exc:
            await self._refuse(exc, message.ref)
        except ConnectionResetError:
            self.log.debug("Connection lost during replay of %s", stream)
        finally:
            if self._replays.get(stream) is asyncio.current_task():
                del self._replays[stream]

    async def _unsubscribe(self, message: Unsubscribe) -> None:
        replay = self._replays.pop(message.tender, None)
        if replay is not None:
            replay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await replay
        subscriber = self._subscriptions.pop(message.tender, None)
        if subscriber is not None:
            self._hub.unsubscribe(subscriber)
            self._followed.remove(message.tender)
        await self._send(Unsubscribed(message.tender, ref=message.ref))

    def _leave_hub(self) -> None:
        for subscriber in self._subscriptions.values():
            self._hub.unsubscribe(subscriber)
        self._subscriptions.clear()

    async def _refuse(self, exc: Refusal, ref: str | None) -> None:
        described = describe(exc)
        body = described[1] if described is not None else {"code": "error", "message": str(exc)}
        await self._send(Error(body["code"], body["message"], rule=body.get("rule"), ref=ref))

    async def _send(self, message: Reply) -> None:
        if self._evicted:
            return
        if self._outbox is not None:  # in order with the events, in the same system call
            self._write(message)
            return
        try:
            await self._ws.send_str(server_message_json(message))
        except ConnectionResetError:
            self.log.debug("Could not send %s: connection closed", type(message).__name__)

    async def shutdown(self) -> None:
        """Close for node shutdown (1001); clients reconnect elsewhere and resume."""
        self._evicted = True
        if self._outbox is not None:
            self._flush()
            self._outbox.stop()  # nothing may follow the close frame (RFC 6455 5.5.1)
        self._leave_hub()
        await self._ws.close(code=CloseCode.GOING_AWAY, message=b"node shutting down")


@dataclass(frozen=True, slots=True)
class Handler:
    """How a connection answers one kind of client message."""

    answer: Callable[[Connection, Any], Awaitable[None]]
    before_auth: bool = False  # also before the client has authenticated


# The live channel's message table (docs/protocol.md 3.1): one handler per kind the parser
# knows. A kind missing here is answered `unknown_type`, as one the parser does not know.
HANDLERS: Final[Mapping[str, Handler]] = {
    Auth.KIND: Handler(Connection._on_auth, before_auth=True),
    Ping.KIND: Handler(Connection._on_ping, before_auth=True),
    Subscribe.KIND: Handler(Connection._on_subscribe),
    Unsubscribe.KIND: Handler(Connection._unsubscribe),
    Act.KIND: Handler(Connection._on_act),
    MediaPublish.KIND: Handler(Connection._on_media_publish),
    MediaWatch.KIND: Handler(Connection._on_media_watch),
    MediaClose.KIND: Handler(Connection._on_media_close),
}


async def live(request: web.Request) -> web.WebSocketResponse:
    """Upgrade, unless the address or the node is at its cap (429 or 503 with a JSON body)."""
    with request.app[admission_key].admit(address_of(request)):
        settings = request.app[settings_key]
        ws = web.WebSocketResponse(
            heartbeat=settings.ws_heartbeat_seconds,
            max_msg_size=settings.max_ws_message_bytes,
            compress=False,  # one encoded frame serves every client: no per-client deflate
            timeout=settings.ws_close_timeout_seconds,
        )
        await ws.prepare(request)
        connection = Connection(request, ws)
        request.app[connections_key].add(connection)
        try:
            await connection.run()
        except Exception:
            # Unknown errors are logged once, with the traceback, and end the connection 1011.
            connection.log.exception("Live connection failed")
            await ws.close(code=CloseCode.INTERNAL_ERROR, message=b"internal error")
        return ws
