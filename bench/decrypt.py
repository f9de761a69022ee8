"""Decrypt pipeline: GB/s of the node opening sealed bids, against raw AES-256-GCM, same run.

Bids are sealed in the real format (1 MiB chunks) to a scratch directory, then stored as the
node stores them (head sealed at rest, the rest as is): many mid-size bids and one large one.
The node's pipeline is `open_bid_file` (read through the stored file, header MAC, STREAM
decryption, package and opening-sheet parsing) on worker threads, one per core, as the node
runs it. The
baseline is pyca/cryptography's AES-256-GCM `decrypt_into` on the same number of 1 MiB chunks
from memory, on the same number of threads: the ceiling, with no I/O and no format at all.
Peak memory is measured in a fresh process that opens the large bid alone.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# The baseline is raw pyca AES-GCM by definition; the product's code reaches it via crypto/.
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: TID251

from bench.common import table
from crypto import EncryptionKey, PackageSource, SigningKey, read_header, seal_bid, unwrap_file_key
from server.keyfiles import write_private_file
from server.service.decrypt import Opened, open_bid_file
from server.service.node_keys import NodeKeys
from server.storage.blobs import UploadSession
from server.storage.disk_blobs import DiskBlobStore

MIB: Final = 1024 * 1024
CHUNK: Final = MIB
LANES: Final = os.cpu_count() or 2


class Zeros:
    """`size` bytes of archive, without holding them: AES-GCM's speed does not depend on them."""

    def __init__(self, size: int) -> None:
        self._left = size

    def read(self, size: int = -1) -> bytes:
        size = self._left if size < 0 else min(size, self._left)
        self._left -= size
        return bytes(size)


@dataclass(frozen=True, slots=True)
class Bid:
    path: Path
    file_key: bytes
    size: int
    sha256: str


def node_files(directory: Path) -> DiskBlobStore:
    """The node's bid files in `directory`, under the node key kept there (made on first use)."""
    pem = directory / "node.pem"
    if not pem.exists():
        write_private_file(pem, SigningKey.generate().to_pem())
    keys = NodeKeys(SigningKey.from_pem(pem.read_bytes()))
    files = DiskBlobStore(directory / "node", keys.uploads, keys.bids)
    files.prepare()
    return files


def store(files: DiskBlobStore, bid: Bid) -> None:
    """Keep the sealed file as the node does: uploaded in 8 MiB pieces, then adopted."""
    upload = f"bench-{bid.sha256[:24]}"
    files.create(UploadSession(upload, "t", "L1", "p", bid.size, bid.sha256, ""))
    with bid.path.open("rb") as source, files.open_append(upload, 0) as sink:
        while piece := source.read(8 * MIB):
            sink.write(piece)
    files.adopt(upload, bid.sha256)


def seal(directory: Path, name: str, size: int, key: EncryptionKey) -> Bid:
    tender, bidder = "t-20261121-000000000b0b", f"p-{name}"
    sheet = {
        "v": 1, "tender": tender, "lot": "L1", "bidder": bidder,
        "price": "1000000.00", "duration_days": 100, "quality": "合格", "project_manager": "王工",
        "extra": {},
    }  # fmt: skip
    path = directory / f"{name}.sealed"
    with path.open("wb") as sink:
        seal_bid(
            PackageSource(sheet, Zeros(size)), sink, tender=tender, lot="L1",
            bidder=bidder, recipients=[("bidder", key.public_key)], chunk_size=CHUNK,
        )  # fmt: skip
    with path.open("rb") as handle:
        file_key = unwrap_file_key(read_header(handle), key, "bidder")
    with path.open("rb") as handle:
        sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
    return Bid(path, file_key, path.stat().st_size, sha256)


def open_all(files: DiskBlobStore, bids: list[Bid], lanes: int) -> float:
    """Seconds for the node's pipeline to open every stored bid, `lanes` at a time."""

    def one(bid: Bid) -> None:
        source = functools.partial(files.open, bid.sha256)
        outcome = open_bid_file(source, bid.sha256, bid.file_key, None)
        if not isinstance(outcome, Opened):
            raise RuntimeError(f"{bid.path.name} did not open: {outcome.reason}")

    start = time.perf_counter()
    with ThreadPoolExecutor(lanes) as pool:
        list(pool.map(one, bids))
    return time.perf_counter() - start


def read_only(bids: list[Bid], lanes: int) -> float:
    """Seconds just to read every file in 1 MiB pieces (no decryption): the I/O floor."""

    def one(bid: Bid) -> None:
        buffer = memoryview(bytearray(CHUNK + 16))
        with bid.path.open("rb") as handle:
            while handle.readinto(buffer):
                pass

    start = time.perf_counter()
    with ThreadPoolExecutor(lanes) as pool:
        list(pool.map(one, bids))
    return time.perf_counter() - start


def ciphertext(total: int) -> tuple[bytes, list[bytes]]:
    """`total` bytes of distinct AES-256-GCM chunks in memory (too many to sit in a CPU cache)."""
    key = AESGCM.generate_key(bit_length=256)
    aead, plain = AESGCM(key), bytes(CHUNK)
    return key, [
        aead.encrypt(i.to_bytes(12, "big"), plain, None) for i in range(-(-total // CHUNK))
    ]


def raw_gcm(key: bytes, chunks: list[bytes], lanes: int, *, hot: bool = False) -> float:
    """Seconds for raw AES-256-GCM to decrypt `chunks` on `lanes` threads (pyca `decrypt_into`).

    `hot` decrypts the first chunk over and over instead: the same work from the CPU's cache.
    """

    def work(lane: int) -> None:
        aead, out = AESGCM(key), bytearray(CHUNK)
        for i in range(lane, len(chunks), lanes):
            j = 0 if hot else i
            aead.decrypt_into(j.to_bytes(12, "big"), chunks[j], None, out)

    start = time.perf_counter()
    with ThreadPoolExecutor(lanes) as pool:
        list(pool.map(work, range(lanes)))
    return time.perf_counter() - start


def peak_rss_mib(directory: Path, bid: Bid) -> tuple[float, float]:
    """(peak RSS of a fresh process after imports, and after opening `bid`), in MiB."""
    child = subprocess.run(
        [sys.executable, "-m", "bench.decrypt", "--rss", str(directory), bid.sha256],
        input=bid.file_key.hex(), capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    before, after = child.stdout.split()
    return float(before), float(after)


def _high_water_mib() -> float:
    """This process's peak resident set (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("No VmHWM in /proc/self/status (Linux only).")


def _child(directory: str, sha256: str) -> None:
    before = _high_water_mib()
    source = functools.partial(node_files(Path(directory)).open, sha256)
    outcome = open_bid_file(source, sha256, bytes.fromhex(sys.stdin.read().strip()), None)
    if not isinstance(outcome, Opened):
        raise SystemExit(outcome.reason)
    print(before, _high_water_mib())


def run(quick: bool = False) -> str:
    count, size, large = (8, 4 * MIB, 64 * MIB) if quick else (100, 20 * MIB, 1024 * MIB)
    key = EncryptionKey.generate()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        with ThreadPoolExecutor(LANES) as pool:
            many = list(pool.map(lambda i: seal(directory, f"bid{i:03}", size, key), range(count)))
        big = seal(directory, "large", large, key)
        files = node_files(directory)
        for bid in [*many, big]:
            store(files, bid)
        rows = []
        sets = [
            (f"{count} bids x {size // MIB} MiB", many),
            (f"1 bid of {large // MIB} MiB", [big]),
        ]
        for label, bids in sets:
            total = sum(bid.size for bid in bids)
            gcm_key, chunks = ciphertext(total)
            # One bid is one stream: it can use one core however many there are.
            for lanes in sorted({1, min(LANES, len(bids))}):
                hot = raw_gcm(gcm_key, chunks, lanes, hot=True)
                raw = raw_gcm(gcm_key, chunks, lanes)
                floor, node = read_only(bids, lanes), open_all(files, bids, lanes)
                rows.append([
                    label, lanes, *(f"{total / t / 1e9:.2f}" for t in (hot, raw, floor, node)),
                    f"{raw / node:.2f}x",
                ])  # fmt: skip
            del chunks
        before, after = peak_rss_mib(directory, big)
    lines = [
        f"Decrypt pipeline, GB/s: sealed bids opened by the node vs raw AES-256-GCM ({LANES}"
        " CPUs). raw: the same amount of distinct 1 MiB chunks decrypted from memory; raw, cached:"
        " one chunk over and over; read only: the bid files read (from the page cache), not"
        " decrypted.",
        table(
            rows,
            ["set", "threads", "raw, cached", "raw", "read only", "node", "node / raw"],
        ),
        f"Peak RSS opening the {large // MIB} MiB bid in a fresh process: {after:.0f} MiB"
        f" ({before:.0f} MiB after imports; +{after - before:.0f} MiB for the bid)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rss"]:
        _child(sys.argv[2], sys.argv[3])
    else:
        print(run("--quick" in sys.argv))
