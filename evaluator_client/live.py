"""The live feed: one WebSocket, authenticated, subscribed to tenders, resumed after drops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Final, Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from evaluator_client.errors import FeedClosed
from server.protocol import (
    Auth,
    CloseCode,
    Error,
    Event,
    ServerMessage,
    Subscribe,
    Welcome,
    client_message_json,
    parse_server_message,
)

if TYPE_CHECKING:
    from types import TracebackType

logger = logging.getLogger(__name__)

# Closes after which reconnecting and resuming is the right answer.
RESUMABLE: Final = frozenset(
    {
        CloseCode.GOING_AWAY,
        CloseCode.SLOW_CONSUMER,
        CloseCode.UNAUTHORIZED,  # the token expired: the next connect logs in again
        1006,  # connection lost without a close frame
        CloseCode.INTERNAL_ERROR,
    }
)
# Node messages are small; events carry at most a little over the node's 64 KiB limit.
MAX_MESSAGE_BYTES: Final = 4 * 1024 * 1024
# Reconnecting backs off up to this delay; a node restart takes seconds, not minutes.
MAX_RETRY_DELAY: Final = 5.0

TokenSource = Callable[[], Awaitable[str]]


async def open_channel(url: str, token: TokenSource) -> tuple[ClientConnection, Welcome]:
    """A live connection to the node, authenticated: the socket and the node's welcome."""
    ws = await connect(url, max_size=MAX_MESSAGE_BYTES, open_timeout=10)
    await ws.send(client_message_json(Auth(await token())))
    reply = parse_server_message(await ws.recv())
    if not isinstance(reply, Welcome):
        await ws.close()
        raise FeedClosed(None, str(reply.message if isinstance(reply, Error) else reply))
    return ws, reply


class LiveFeed:
    """Yields node messages for the subscribed tenders; events are never repeated."""

    def __init__(
        self,
        url: str,
        token: TokenSource,
        *,
        resume: bool = True,
        retry_delay: float = 0.5,
        attempts: int = 20,
    ) -> None:
        self.url = url
        self._token = token
        self._resume = resume
        self._retry_delay = retry_delay
        self._attempts = attempts
        self._ws: ClientConnection | None = None
        self.positions: dict[str, int] = {}
        self.welcome: Welcome | None = None
        self.reconnects = 0
        self.close_codes: list[int | None] = []

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        self._ws, self.welcome = await open_channel(self.url, self._token)
        for tender, seq in self.positions.items():
            await self._ws.send(client_message_json(Subscribe(tender, seq)))

    async def subscribe(self, tender: str, after_seq: int = 0) -> None:
        self.positions[tender] = after_seq
        await self._connection().send(client_message_json(Subscribe(tender, after_seq)))

    async def send(self, text: str) -> None:
        await self._connection().send(text)

    def _connection(self) -> ClientConnection:
        if self._ws is None:
            raise FeedClosed(None, "not connected")
        return self._ws

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    def __aiter__(self) -> AsyncIterator[ServerMessage]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[ServerMessage]:
        while True:
            try:
                raw = await self._connection().recv()
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else 1006
                self.close_codes.append(code)
                reason = exc.rcvd.reason if exc.rcvd is not None else "connection lost"
                if not self._resume or code not in RESUMABLE:
                    raise FeedClosed(code, reason) from None
                await self._reconnect(code, reason)
                continue
            message = parse_server_message(raw)
            if isinstance(message, Event):
                if message.seq <= self.positions.get(message.tender, 0):
                    continue  # already delivered before a reconnect
                self.positions[message.tender] = message.seq
            yield message

    async def _reconnect(self, code: int, reason: str) -> None:
        """Connect again, backing off while the node is unreachable (a restart, say)."""
        logger.info("Live feed closed (%s: %s); resuming", code, reason)
        self.reconnects += 1
        self._ws = None
        delay = self._retry_delay
        for _ in range(self._attempts):
            await asyncio.sleep(delay)  # back off before hitting the node again
            try:
                await self.connect()
                return
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                logger.info("Reconnecting failed (%s); trying again", exc)
                delay = min(max(2 * delay, 0.05), MAX_RETRY_DELAY)
        raise FeedClosed(code, f"could not reconnect after {self._attempts} attempts")
