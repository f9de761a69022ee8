"""Opening a stored sealed bid: decrypt as a stream, read the sheet, say who is at fault.

`Decryptions` runs them: on a pool of its own (one thread per core: AES-GCM releases the GIL),
one at a time per bid, counted per tender so that ending or pausing the window waits for them.
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from crypto import (
    DecryptionError,
    SealedBidFormatError,
    SheetReader,
    check_file_key,
    open_payload,
    read_header,
    unwrap_file_key,
)
from server.domain.errors import DecryptionRunning, OpeningNotReady
from server.errors import StorageError
from server.service.inflight import InFlight
from server.service.observer import NO_OBSERVER, Observer
from server.storage.blobs import sha256_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from crypto import EncryptionKey, SealedBidHeader
    from server.storage.blobs import BlobReader

    # Opens the stored sealed file, head and rest, as the bidder made it.
    Source = Callable[[], BlobReader]

LANES: Final = os.cpu_count() or 2


@dataclass(frozen=True, slots=True)
class Opened:
    sheet: dict[str, Any]
    file_key: bytes


@dataclass(frozen=True, slots=True)
class Unopened:
    fault: str  # "key" (a wrong key: it may be tried again), "bidder" or "platform"
    reason: str


def open_bid_file(
    source: Source, sha256: str, file_key: bytes | None, opening_key: EncryptionKey | None
) -> Opened | Unopened:
    """Decrypt a stored sealed bid as a stream and read its opening sheet; never raises.

    Runs in a worker thread (AES-GCM releases the GIL). Who is at fault decides what happens
    next (E-Measures 31): a wrong key may be tried again; a bid that fails to decrypt is the
    bidder's fault if the stored file is the one receipted (`sha256`), the platform's if the
    node's copy changed or can't be read.
    """
    try:
        with source() as handle:
            header = read_header(handle)
            key = file_key if file_key is not None else _unwrap(header, opening_key)
            if key is None:
                return _broken(source, sha256, "the opening key does not unwrap its file key")
            try:
                check_file_key(header, key)
            except DecryptionError:
                # A wrong key, unless the node's copy changed under it (then no key would do);
                # an opening stanza that unwraps a key that does not open the bid is broken.
                changed = _broken(source, sha256, "its opening-key stanza does not open it")
                return changed if changed.fault == "platform" or file_key is None else _WRONG_KEY
            reader = SheetReader()
            for chunk in open_payload(header, handle, key, handle.size - header.size):
                reader.feed(chunk)
            return Opened(reader.result(), key)
    except (OSError, StorageError) as exc:
        return _unreadable(exc)
    except (DecryptionError, SealedBidFormatError) as exc:
        return _broken(source, sha256, str(exc))


_WRONG_KEY: Final = Unopened("key", "The key does not open this sealed bid.")


def _unreadable(exc: OSError | StorageError) -> Unopened:
    """The node's copy is missing, unreadable, or its sealed head does not open: the platform's."""
    why = exc.strerror if isinstance(exc, OSError) else "its sealed head does not open"
    return Unopened("platform", f"The stored bid could not be read ({why}).")


def _broken(source: Source, sha256: str, reason: str) -> Unopened:
    """Whose fault a bid that fails to decrypt is: hash the stored copy against the receipt."""
    try:
        stored = sha256_of(source())
    except (OSError, StorageError) as exc:
        return _unreadable(exc)
    if stored != sha256:
        return Unopened("platform", "The node's copy of the bid no longer matches its receipt.")
    return Unopened("bidder", f"The sealed bid is broken: {reason}")


def _unwrap(header: SealedBidHeader, opening_key: EncryptionKey | None) -> bytes | None:
    if opening_key is None:
        return None
    try:
        return unwrap_file_key(header, opening_key, "opening")
    except DecryptionError:
        return None


class Decryptions:
    def __init__(self, lanes: int = LANES) -> None:
        self._pool = ThreadPoolExecutor(lanes, thread_name_prefix="decrypt")
        self._bids: set[tuple[str, str, str]] = set()
        self.observer: Observer = NO_OBSERVER  # throughput, for the node's metrics
        self.in_flight = InFlight(
            lambda: OpeningNotReady("Decryption is pausing or closing; wait for it to resume.")
        )

    async def run(
        self, tender: str, lot: str, bidder: str, source: Source, sha256: str,
        file_key: bytes | None, opening_key: EncryptionKey | None,
    ) -> Opened | Unopened:  # fmt: skip
        """Open one stored bid; a second request for the same bid meanwhile is refused."""
        bid = (tender, lot, bidder)
        if bid in self._bids:
            raise DecryptionRunning(f"The bid of {bidder} in lot {lot} is being decrypted now.")
        with self.in_flight.running(tender):
            self._bids.add(bid)
            sizes: list[int] = []

            def measured() -> BlobReader:
                reader = source()
                sizes.append(reader.size)
                return reader

            started = time.perf_counter()
            try:
                outcome = await asyncio.get_running_loop().run_in_executor(
                    self._pool, open_bid_file, measured, sha256, file_key, opening_key
                )
            finally:
                self._bids.discard(bid)
        kind = "opened" if isinstance(outcome, Opened) else outcome.fault
        self.observer.decrypted(kind, sum(sizes), time.perf_counter() - started)
        return outcome

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
