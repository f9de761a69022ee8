"""A minimal WebSocket client protocol for load generation: thousands per process, cheaply.

It speaks just enough RFC 6455 for the benchmark: the opening handshake (with the accept key
checked), masked text frames out, unmasked frames in, pong for ping. Each received text frame
goes to a callback; nothing else is parsed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A final, masked frame (clients must mask, RFC 6455 section 5.3)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    repeated = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        size, "big"
    )
    return header + mask + masked


class LoadClient(asyncio.Protocol):
    def __init__(
        self, host: str, port: int, opening: list[bytes], on_text: Callable[[bytes], None]
    ) -> None:
        self._host, self._port = host, port
        self._opening = opening
        self._on_text = on_text
        self._key = base64.b64encode(os.urandom(16))
        self._buffer = bytearray()
        self._upgraded = False
        self.transport: asyncio.Transport | None = None
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(
            b"GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % (self._host.encode(), self._port, self._key)
        )

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._upgraded and not self._handshake():
            return
        self._frames()

    def _handshake(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self._buffer[:end]).lower()
        del self._buffer[: end + 4]
        accept = base64.b64encode(hashlib.sha1(self._key + _GUID).digest()).lower()  # noqa: S324 - RFC 6455
        if not head.startswith(b"http/1.1 101") or accept not in head:
            self.upgraded.set_exception(ConnectionError(head[:200].decode(errors="replace")))
            assert self.transport is not None
            self.transport.close()
            return False
        self._upgraded = True
        assert self.transport is not None
        for message in self._opening:
            self.transport.write(client_frame(message))
        self.upgraded.set_result(None)
        return True

    def _frames(self) -> None:
        buffer = self._buffer
        while len(buffer) >= 2:
            opcode, size = buffer[0] & 0x0F, buffer[1] & 0x7F
            offset = 2
            if size == 126:
                if len(buffer) < 4:
                    return
                size, offset = struct.unpack_from("!H", buffer, 2)[0], 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                size, offset = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < offset + size:
                return
            payload = bytes(buffer[offset : offset + size])
            del buffer[: offset + size]
            if opcode == 0x1:
                self._on_text(payload)
            elif opcode == 0x9 and self.transport is not None:
                self.transport.write(client_frame(payload, 0xA))
            elif opcode == 0x8 and self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(exc or ConnectionError("closed before the upgrade"))
        if not self.closed.done():
            self.closed.set_result(None)
