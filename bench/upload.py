"""Upload: many bidders sending sealed bids at once; throughput and receipt latency.

The measured path is the node's own, over real sockets: each bidder logs in, announces its
sealed file, sends it in 8 MiB pieces (`evaluator_client.bidding.submit`) and waits for the
signed receipt (the node checks size, SHA-256 and the sealed-bid header, fsyncs the file and
commits `bid.submitted` to the bid box first). The baseline, in the same run on the same disk,
is a bare aiohttp server that appends the same pieces to a file and fsyncs it on completion,
fed by the same number of concurrent clients: what HTTP and the disk cost with no checks at all.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import aiohttp
from aiohttp import web

from bench.common import median, percentile, serve, table
from crypto import EncryptionKey, EncryptionPublicKey, SigningKey
from evaluator_client import bidding
from evaluator_client.session import Session
from server.app import create_app
from server.config import Settings
from server.demo.scoring import sample_scoring
from server.protocol.times import format_time
from server.service.node import CONSOLE
from server.transport.app_keys import node_key

if TYPE_CHECKING:
    from server.service.node import Node

MIB: Final = 1024 * 1024
PIECE: Final = bidding.UPLOAD_PIECE


class ShiftedClock:
    """The real clock, moved forward on demand (to open bidding without waiting for it)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Result:
    seconds: float
    receipts: list[float] = field(default_factory=list)  # last byte sent -> receipt


async def _tender(node: Node, base: str, clock: ShiftedClock) -> tuple[str, EncryptionPublicKey]:
    """A published tender, bidding open, with two custodians; its id and opening key."""
    host_key = SigningKey.generate()
    await node.participants.enroll(
        CONSOLE, {"role": "host", "name": "host", "public_key": host_key.verify_key.to_text()}
    )
    custodians = []
    for i in (1, 2):
        enrolled = await node.participants.enroll(
            CONSOLE,
            {
                "role": "custodian", "name": f"custodian {i}",
                "public_key": SigningKey.generate().verify_key.to_text(),
                "encryption_key": EncryptionKey.generate().public_key.to_text(),
            },
        )  # fmt: skip
        custodians.append(enrolled.id)
    host = next(p for p in await node.participants.list_all(CONSOLE) if p.role.value == "host")
    now = clock.now()
    spec = {
        "title": "upload benchmark", "tenderer": "bench", "lots": [{"id": "L1", "name": "L1"}],
        "schedule": {
            "bidding_opens_at": format_time(now + timedelta(hours=1)),
            "deadline": format_time(now + timedelta(days=2)),
            "sign_in_lead_minutes": 30, "decryption_window_minutes": 30,
        },
        "committee": {"size": 5, "large": False}, "min_bids": 3,
        "scoring": sample_scoring(),
        "opening": {
            "custodians": custodians, "threshold": 2, "wrap_bids": True,
            "confirmation_window_minutes": 15, "sheet_fields": [],
        },
    }  # fmt: skip
    async with await Session.login(base, host.id, host_key) as session:
        tender = str((await session.post("/api/tenders", spec))["id"])
        await session.post(f"/api/tenders/{tender}/publish")
        opening = await session.get(f"/api/tenders/{tender}/opening")
    clock.offset += timedelta(hours=2)
    await node.scheduler.tick()
    return tender, EncryptionPublicKey.from_text(opening["opening_key"])


def _seal(
    directory: Path, tender: str, bidder: str, key: EncryptionPublicKey,
    opening: EncryptionPublicKey, size: int,
) -> Path:  # fmt: skip
    archive = directory / f"{bidder}.zip"
    archive.write_bytes(os.urandom(size))
    out = directory / f"{bidder}.sealed"
    bidding.seal_to_file(
        tender=tender, lot="L1", bidder=bidder, archive=archive, own_key=key,
        opening_key=opening, out=out,
        sheet={"price": "1.00", "duration_days": 1, "quality": "q", "project_manager": "m"},
    )  # fmt: skip
    archive.unlink()
    return out


async def measured(root: Path, count: int, size: int) -> tuple[Result, list[Path]]:
    """`count` bidders upload `size`-byte bids to a real node at once; and the sealed files."""
    clock = ShiftedClock()
    settings = Settings(data_dir=root / "node", port=0, max_clock_skew_seconds=7 * 86400)
    app = create_app(settings, clock=clock, schedule=False)
    runner, base = await serve(app)
    node = app[node_key]
    try:
        tender, opening = await _tender(node, base, clock)
        keys = [(SigningKey.generate(), EncryptionKey.generate()) for _ in range(count)]
        bidders = []
        for i, (signing, encryption) in enumerate(keys):
            enrolled = await node.participants.enroll(
                CONSOLE,
                {
                    "role": "bidder", "name": f"bidder {i}",
                    "public_key": signing.verify_key.to_text(),
                    "encryption_key": encryption.public_key.to_text(),
                },
            )  # fmt: skip
            bidders.append(enrolled.id)
        source = root / "sealed"
        source.mkdir()
        with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            paths = list(
                pool.map(
                    lambda i: _seal(
                        source, tender, bidders[i], keys[i][1].public_key, opening, size
                    ),
                    range(count),
                )
            )
        sessions = [
            await Session.login(base, bidder, signing)
            for bidder, (signing, _) in zip(bidders, keys, strict=True)
        ]
        result = Result(0.0)

        async def one(session: Session, path: Path) -> None:
            last_byte = [0.0]

            def progress(done: int, total: int) -> None:
                if done == total:
                    last_byte[0] = time.perf_counter()

            await bidding.submit(session, tender, "L1", path, progress=progress)
            result.receipts.append(time.perf_counter() - last_byte[0])

        start = time.perf_counter()
        await asyncio.gather(*(one(s, p) for s, p in zip(sessions, paths, strict=True)))
        result.seconds = time.perf_counter() - start
        for session in sessions:
            await session.close()
        return result, paths
    finally:
        await runner.cleanup()


def _baseline_app(directory: Path) -> web.Application:
    """Append what arrives, fsync on completion: HTTP and the disk with no checks."""

    async def start(request: web.Request) -> web.Response:
        name = f"{len(os.listdir(directory))}.part"
        await asyncio.to_thread((directory / name).touch)
        return web.json_response({"upload": name})

    async def put(request: web.Request) -> web.Response:
        path = directory / request.match_info["upload"]
        handle = await asyncio.to_thread(path.open, "ab")
        try:
            async for chunk in request.content.iter_chunked(MIB):
                await asyncio.to_thread(handle.write, chunk)
        finally:
            await asyncio.to_thread(handle.close)
        return web.json_response({})

    async def complete(request: web.Request) -> web.Response:
        path = directory / request.match_info["upload"]

        def sync() -> None:
            with path.open("rb") as handle:
                os.fsync(handle.fileno())

        await asyncio.to_thread(sync)
        return web.json_response({})

    app = web.Application(client_max_size=PIECE + MIB)
    app.add_routes([
        web.post("/u", start), web.put("/u/{upload}", put),
        web.post("/u/{upload}/complete", complete),
    ])  # fmt: skip
    return app


async def baseline(root: Path, paths: list[Path]) -> Result:
    """The same files sent the same way (pieces read in worker threads) to the bare server."""
    directory = root / "baseline"
    directory.mkdir()
    runner, base = await serve(_baseline_app(directory))
    result = Result(0.0)

    async def one(client: aiohttp.ClientSession, path: Path) -> None:
        async with client.post(f"{base}/u") as response:
            upload = (await response.json())["upload"]
        handle = await asyncio.to_thread(path.open, "rb")
        try:
            while piece := await asyncio.to_thread(handle.read, PIECE):
                async with client.put(f"{base}/u/{upload}", data=piece) as response:
                    await response.read()
        finally:
            await asyncio.to_thread(handle.close)
        last_byte = time.perf_counter()
        async with client.post(f"{base}/u/{upload}/complete") as response:
            await response.read()
        result.receipts.append(time.perf_counter() - last_byte)

    clients = [aiohttp.ClientSession() for _ in paths]
    try:
        start = time.perf_counter()
        await asyncio.gather(*(one(c, p) for c, p in zip(clients, paths, strict=True)))
        result.seconds = time.perf_counter() - start
    finally:
        for client in clients:
            await client.close()
        await runner.cleanup()
    return result


def run(quick: bool = False) -> str:
    count, size = (8, 2 * MIB) if quick else (100, 20 * MIB)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        ours, paths = asyncio.run(measured(root, count, size))
        bare = asyncio.run(baseline(root, paths))
        total = sum(path.stat().st_size for path in paths)

    def row(name: str, result: Result) -> list[Any]:
        ms = [1000 * r for r in result.receipts]
        return [
            name, f"{total / result.seconds / 1e6:,.0f}", f"{median(ms):.1f}",
            f"{percentile(ms, 0.99):.1f}", f"{bare.seconds / result.seconds:.2f}x",
        ]  # fmt: skip

    lines = [
        f"Upload: {count} bidders at once, sealed bids of {size // MIB} MiB, 8 MiB pieces over"
        " loopback; clients and server in one process",
        table(
            [row("baseline: bare aiohttp append + fsync", bare), row("bidroom submit", ours)],
            ["case", "MB/s", "receipt p50 ms", "receipt p99 ms", "throughput vs baseline"],
        ),
        "(receipt: from the last byte sent to the signed receipt; baseline: to its fsync)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(run("--quick" in sys.argv))
