"""The node's web server over raw sockets: what aiohttp answers by itself is JSON, idle and
stalled connections are closed, and a client that never authenticates loses its socket at the
deadline even over TLS when it answers nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import subprocess
import sys
from asyncio import sslproto
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from bench._wsclient import client_frame
from server.app import create_app
from server.domain.access import Role
from server.protocol import CloseCode
from server.service.auth import Claims
from server.transport.app_keys import node_key
from server.transport.errors import unparsed_request_response
from server.transport.serving import (
    LISTEN_BACKLOG,
    TLS_READ_BUFFER_BYTES,
    YOUNG_GENERATION_THRESHOLD,
    NodeRunner,
    trim_tls_buffers,
)
from tests.conftest import AiohttpClient, Harness, ManualClock
from tests.crypto.certs import self_signed
from tests.server.transport.opening_world import build_world

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from server.config import Settings

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@contextlib.asynccontextmanager
async def running(
    settings: Settings, context: ssl.SSLContext | None = None
) -> AsyncIterator[web.AppRunner]:
    """The node as `bidroom serve` runs it, on a free port of 127.0.0.1."""
    runner = NodeRunner(create_app(settings, schedule=False), settings)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context, backlog=LISTEN_BACKLOG)
        await site.start()
        yield runner
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def served(settings: Settings, context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """The port of the node as `bidroom serve` runs it."""
    async with running(settings, context) as runner:
        yield int(runner.addresses[0][1])


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    async with asyncio.timeout(10):
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *lines = head.strip().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


async def until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the node still sends, until it closes the connection."""
    async with asyncio.timeout(10):
        return await reader.read()


def error_of(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    assert headers["content-type"].startswith("application/json"), headers
    error: dict[str, Any] = json.loads(body)["error"]
    return error


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /api/tenders/t-1/events?after_seq=1111 1111 HTTP/1.1\r\nHost: node\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40),  # TLS to the plain port
        b"GET /healthz HTTP/1.1\r\nHost: node\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n",
    ],
    ids=["spaces-in-query", "not-http", "header-too-long"],
)
async def test_requests_aiohttp_cannot_parse_get_a_json_error(
    settings: Settings, request_bytes: bytes
) -> None:
    async with served(settings) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_bytes)
        status, headers, body = await read_response(reader)
        assert status == 400
        assert error_of(headers, body)["code"] == "bad_request"
        assert b"1111 1111" not in body  # the client's bytes are not echoed
        assert b"aaaa" not in body
        assert await until_closed(reader) == b""
        writer.close()


def test_a_failure_outside_the_middleware_is_a_json_500_that_tells_nothing() -> None:
    response = unparsed_request_response(500)
    assert response.status == 500
    assert response.text is not None
    assert json.loads(response.text) == {
        "error": {"code": "internal", "message": "Internal error."}
    }


async def test_a_body_that_never_arrives_gets_408_then_the_connection_closes(
    settings: Settings,
) -> None:
    async with served(replace(settings, http_body_timeout_seconds=0.3)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /api/auth/challenge HTTP/1.1\r\nHost: node\r\nContent-Type: application/json"
            b'\r\nContent-Length: 100\r\n\r\n{"participant":'  # and then nothing more
        )
        status, headers, body = await read_response(reader)
        assert (status, headers["connection"].lower()) == (408, "close")
        error = error_of(headers, body)
        assert error["code"] == "request_timeout"
        assert "0.3 s" in error["message"]
        assert await until_closed(reader) == b""
        writer.close()


async def test_idle_http_connections_are_closed(settings: Settings) -> None:
    async with served(replace(settings, http_idle_timeout_seconds=0.3)) as port:
        silent_reader, silent = await asyncio.open_connection("127.0.0.1", port)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n")
        status, headers, _ = await read_response(reader)
        assert (status, headers.get("connection", "keep-alive").lower()) == (200, "keep-alive")
        # Neither sends anything more: the node hangs up on both.
        assert await until_closed(silent_reader) == b""
        assert await until_closed(reader) == b""
        for stream in (silent, writer):
            stream.close()


async def test_an_upload_that_stalls_gets_408_and_keeps_what_arrived(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    app = create_app(replace(settings, http_body_timeout_seconds=0.3), clock=clock, schedule=False)
    world = await build_world(Harness(await aiohttp_client(app), clock), tmp_path, count=1)
    bidder = world.bidders[0]
    upload = await world.upload(bidder, b"", size=10, sha256="0" * 64)
    release = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield b"12345"
        await release.wait()  # the other five bytes never come

    headers = {
        "Authorization": f"Bearer {await bidder.session.token()}",
        "Content-Type": "application/octet-stream",
    }
    path = f"/api/uploads/{upload}?offset=0"
    async with world.harness.client.put(path, data=stalled(), headers=headers) as response:
        release.set()
        assert response.status == 408
        assert (await response.json())["error"]["code"] == "request_timeout"
    assert (await bidder.session.get(f"/api/uploads/{upload}"))["received"] == 5
    await world.close()


class SilentClient(asyncio.Protocol):
    """Completes TLS and the WebSocket upgrade, then never sends another byte: it answers
    neither the node's close frame nor its TLS close_notify. It notes when the node hangs up."""

    def __init__(self, context: ssl.SSLContext, first: bytes = b"") -> None:
        self._first = first  # a message sent with the upgrade request
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname="127.0.0.1")
        self._received = b""
        self._asked = False
        self._loop = asyncio.get_running_loop()
        self.upgraded: asyncio.Future[float] = self._loop.create_future()
        self.closed: asyncio.Future[float] = self._loop.create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._step()

    def data_received(self, data: bytes) -> None:
        self._incoming.write(data)
        self._step()

    def _step(self) -> None:
        if not self._asked:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                return
            self._tls.write(UPGRADE + (client_frame(self._first) if self._first else b""))
            self._asked = True
            self._flush()  # the last bytes this client ever sends
        with contextlib.suppress(ssl.SSLWantReadError, ssl.SSLZeroReturnError):
            while chunk := self._tls.read(65536):
                self._received += chunk
        if not self.upgraded.done() and b"\r\n\r\n" in self._received:
            if self._received.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_result(self._loop.time())
            else:
                self.upgraded.set_exception(ConnectionError(self._received[:200].decode()))

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data and self.transport is not None:
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(exc or ConnectionError("closed before the upgrade"))
        if not self.closed.done():
            self.closed.set_result(self._loop.time())

    @property
    def close_code(self) -> int:
        """The code of the close frame the node sent (the last frame received)."""
        frame = self._received[self._received.index(b"\r\n\r\n") + 4 :]
        at = frame.rfind(b"\x88")
        return int.from_bytes(frame[at + 2 : at + 4], "big")


async def tls_contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The node's side and a client's side that trusts it."""
    cert, key = await asyncio.to_thread(self_signed, tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    await asyncio.to_thread(server_side.load_cert_chain, cert, key)
    return server_side, ssl.create_default_context(cafile=str(cert))


async def test_a_dropped_client_loses_its_socket_after_the_grace_over_tls(
    settings: Settings, tmp_path: Path
) -> None:
    ttl, grace, bound = 1.0, 0.5, 2.5
    server_side, client_side = await tls_contexts(tmp_path)
    loop = asyncio.get_running_loop()
    async with running(replace(settings, ws_close_timeout_seconds=grace), server_side) as runner:
        node = runner.app[node_key]
        now = node.clock.now()
        expires = now + timedelta(seconds=ttl)
        claims = Claims("p-000000000001", Role.SUPERVISOR, frozenset(), now, expires, node.id)
        auth = {"v": 1, "type": "auth", "token": node.auth.issue(claims)}
        port = runner.addresses[0][1]
        _, client = await loop.create_connection(
            lambda: SilentClient(client_side, json.dumps(auth).encode()), "127.0.0.1", port
        )
        async with asyncio.timeout(10):
            upgraded = await client.upgraded
        # The token expires: 4001, and the client answers nothing, not even close_notify.
        async with asyncio.timeout(ttl + grace + bound):
            closed = await client.closed
    assert closed - upgraded < ttl + grace + bound
    assert client.close_code == CloseCode.UNAUTHORIZED


async def test_unauthenticated_sockets_close_at_the_deadline_over_tls_under_load(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    count, deadline, bound = 300, 1.0, 3.0
    # The graceful paths would take 30 s here: the close handshake and TLS close_notify.
    changed = replace(
        settings,
        ws_auth_timeout_seconds=deadline,
        ws_close_timeout_seconds=30,
        ws_max_connections_per_address=count,
    )
    server_side, client_side = await tls_contexts(tmp_path)
    monkeypatch.setattr(sslproto.SSLProtocol, "max_size", sslproto.SSLProtocol.max_size)
    trim_tls_buffers()  # as `bidroom serve` does with TLS; undone after the test
    assert sslproto.SSLProtocol.max_size == TLS_READ_BUFFER_BYTES
    loop = asyncio.get_running_loop()
    async with served(changed, server_side) as port:

        async def connect() -> SilentClient:
            _, client = await loop.create_connection(
                lambda: SilentClient(client_side), "127.0.0.1", port
            )
            return client

        clients = await asyncio.gather(*(connect() for _ in range(count)))
        async with asyncio.timeout(30):
            upgraded = await asyncio.gather(*(c.upgraded for c in clients))
        async with asyncio.timeout(deadline + bound):
            closed = await asyncio.gather(*(c.closed for c in clients))
    lifetimes = [end - start for start, end in zip(upgraded, closed, strict=True)]
    assert max(lifetimes) < deadline + bound
    assert {c.close_code for c in clients} == {CloseCode.UNAUTHORIZED}


def test_a_served_node_freezes_what_it_started_with_and_collects_young_objects_less_often() -> None:
    # In a process of its own: frozen objects are never collected, so not in the test runner.
    probe = (
        "import gc; from server.transport.serving import settle_collector as s; "
        "before = gc.get_threshold(); s(); after = gc.get_threshold(); "
        "print(gc.get_freeze_count() > 0, after[0], after[1:] == before[1:])"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["True", str(YOUNG_GENERATION_THRESHOLD), "True"]
