"""The STREAM construction: a chunked AES-256-GCM payload with a counter nonce and a last-chunk
flag, so truncation, reordering and splicing are detected; constant memory for any size."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import DecryptionError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

TAG_BYTES: Final = 16


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@runtime_checkable
class ReadableInto(Readable, Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


COUNTER_BYTES: Final = 11
MAX_CHUNKS: Final = 1 << 32


def nonce(index: int, last: bool) -> bytes:
    if not 0 <= index < MAX_CHUNKS:
        raise ValueError("Too many chunks.")
    return index.to_bytes(COUNTER_BYTES, "big") + (b"\x01" if last else b"\x00")


def encrypt_stream(key: bytes, source: Readable, chunk_size: int) -> Iterator[bytes]:
    """Ciphertext chunks of everything `source` yields, read `chunk_size` bytes at a time."""
    aead = AESGCM(key)
    index = 0
    current = _read_up_to(source, chunk_size)
    while True:
        following = _read_up_to(source, chunk_size) if current else b""
        last = not following
        yield aead.encrypt(nonce(index, last), current, None)
        if last:
            return
        index, current = index + 1, following


def _read_up_to(source: Readable, size: int) -> bytes:
    """`size` bytes, or fewer only at the end: pipes and sockets may return short reads."""
    data = source.read(size)
    if len(data) in (0, size):
        return data
    parts = [data]
    got = len(data)
    while got < size and (more := source.read(size - got)):
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def decrypt_stream(
    key: bytes, source: Readable, chunk_size: int, length: int
) -> Iterator[memoryview]:
    """Plaintext chunks of a `length`-byte payload; raises DecryptionError at the first bad chunk.

    Each yielded view is valid until the next one is requested (its buffer is reused, and goes
    back to a pool when the stream ends: fresh megabytes for every bid cost page faults).
    """
    step = chunk_size + TAG_BYTES
    count = chunk_count(length, chunk_size)
    aead = AESGCM(key)
    incoming, plaintext = _POOL.take(step)
    readinto = source.readinto if isinstance(source, ReadableInto) else None
    try:
        for index in range(count):
            last = index == count - 1
            size = length - index * step if last else step
            chunk = _read_exactly(source, readinto, memoryview(incoming)[:size])
            view = memoryview(plaintext)[: size - TAG_BYTES]
            try:
                aead.decrypt_into(nonce(index, last), chunk, None, view)
            except InvalidTag:
                raise DecryptionError(f"Chunk {index} does not authenticate.") from None
            if last and size == TAG_BYTES and count > 1:
                raise DecryptionError("The payload ends with an empty chunk.")
            yield view
    finally:
        _POOL.give(step, incoming, plaintext)


def _read_exactly(
    source: Readable, readinto: Callable[[memoryview], int | None] | None, into: memoryview
) -> memoryview | bytes:
    """The next `len(into)` bytes of `source`, read into `into` where the source can."""
    if readinto is None:
        chunk = source.read(len(into))
        if len(chunk) != len(into):
            raise DecryptionError("The payload is shorter than its length.")
        return chunk
    got = 0
    while got < len(into):
        more = readinto(into[got:])
        if not more:
            raise DecryptionError("The payload is shorter than its length.")
        got += more
    return into


class _BufferPool:
    """A few chunk-sized buffer pairs kept for reuse across streams and threads."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._free: dict[int, list[tuple[bytearray, bytearray]]] = {}
        self._lock = threading.Lock()

    def take(self, size: int) -> tuple[bytearray, bytearray]:
        with self._lock:
            free = self._free.get(size)
            if free:
                return free.pop()
        return bytearray(size), bytearray(size)

    def give(self, size: int, incoming: bytearray, plaintext: bytearray) -> None:
        with self._lock:
            free = self._free.setdefault(size, [])
            if len(free) < self._keep:
                free.append((incoming, plaintext))


_POOL: Final = _BufferPool(keep=8)


def chunk_count(length: int, chunk_size: int) -> int:
    """How many chunks a payload of `length` bytes has; ValueError if no valid payload has it."""
    step = chunk_size + TAG_BYTES
    if length < TAG_BYTES:
        raise ValueError(f"A payload holds at least one {TAG_BYTES}-byte tag.")
    count = -(-length // step)
    if length - (count - 1) * step < TAG_BYTES:
        raise ValueError("The last chunk is shorter than a tag.")
    if count > 1 and length - (count - 1) * step == TAG_BYTES:
        raise ValueError("The payload ends with an empty chunk.")
    return count
