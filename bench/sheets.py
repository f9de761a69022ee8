"""Score sheets: every committee of a tender scoring at once, each expert over its own WebSocket;
ack latency, sheets/s, and how much of the node's time signature checks take.

Setup, not measured: a node in this process; one tender with ROOMS lots and BIDDERS bidders,
each sealing, submitting and decrypting one bid per lot; the record confirmed and the opening
closed; each lot's committee of EXPERTS drawn from a regional pool of its own; the evaluation
started. A client process then logs every member in, opens its room (`RoomClient`, one WebSocket
each), checks in, pledges, elects a leader and sends its compliance sheet.

Measured: every member sends one signed score sheet per bid, all at once. Sheets are signed
before the clock starts (the expert's signing is the workstation's time, not the node's); a
sheet's latency runs from its send to its ack, which the node gives once the act is durable and
the room has advanced (the last sheet of a room runs the checks, the ranking and the report).
Clients run in another process so that the node has the event loop of this one to itself.

Baselines, in the same run over the same recorded sheets: raw Ed25519 verification of their
signing inputs, and the node's verification path (key from its text form, base64url, canonical
JSON, Ed25519) as `EvaluationService` runs it for every act.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from bench.common import median, percentile, serve, table
from bench.upload import ShiftedClock
from crypto import (
    EncryptionKey,
    SigningKey,
    VerifyKey,
    b64url_decode,
    signing_input,
    verify,
    verify_raw,
)
from evaluator_client import bidding
from evaluator_client.room import RoomClient
from evaluator_client.session import Session
from recordings.vocabulary import ActType
from server.app import create_app
from server.config import WS_MAX_CONNECTIONS_PER_ADDRESS, Settings
from server.demo.scoring import sample_scoring
from server.domain.evaluation_events import SheetSubmitted
from server.domain.room import Stage
from server.protocol.times import format_time
from server.service.node import CONSOLE
from server.transport.app_keys import node_key
from server.transport.serving import settle_collector

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence

    from server.domain.tender import Tender
    from server.service.node import Node

LABEL: Final = ActType.SCORE_SHEET
# The client process's words for the start and the end of the measurement.
SENDING: Final = b"sending\n"
SENT: Final = b"sent\n"
BUILDING, COST = "建筑工程", "工程造价"
COST_SEATS: Final = 2  # per committee; the other seats are building experts
STANDBY: Final = 2  # per lot, and as many spare experts in each lot's regional pool
# Logins from one address at once: an address may hold at most 16 unanswered challenges.
LOGINS_AT_ONCE: Final = 8
# Bound on every wait for the node (it answers in milliseconds when it is well).
PHASE_TIMEOUT: Final = 600.0
# `--profile`: the node's event-loop thread under cProfile while the sheets go in, top entries.
PROFILE_TOP: Final = 15


@dataclass(frozen=True)
class Sizes:
    rooms: int
    experts: int  # per committee
    bidders: int  # each bids in every lot

    @property
    def sheets(self) -> int:
        return self.rooms * self.experts * self.bidders


FULL: Final = Sizes(rooms=20, experts=7, bidders=30)
QUICK: Final = Sizes(rooms=2, experts=5, bidders=3)


def sizes_from(
    quick: bool, options: Sequence[str] = (), prog: str = "python -m bench sheets"
) -> Sizes:
    """`--rooms=N --experts=N --bidders=N`; the issue's sizes (or --quick's) by default."""
    base = QUICK if quick else FULL
    parser = argparse.ArgumentParser(prog=prog, add_help=False)
    parser.add_argument("--rooms", type=int, default=base.rooms)
    parser.add_argument("--experts", type=int, default=base.experts)
    parser.add_argument("--bidders", type=int, default=base.bidders)
    parsed = parser.parse_args(list(options))
    sizes = Sizes(parsed.rooms, parsed.experts, parsed.bidders)
    if not 1 <= sizes.rooms <= 50:
        parser.error("--rooms: a tender has 1 to 50 lots")
    if not 5 <= sizes.experts <= 49 or sizes.experts % 2 == 0:
        parser.error("--experts: a committee is odd, 5 to 49 (Law 37)")
    if sizes.bidders < 3:
        parser.error("--bidders: a lot opens with at least 3 bids (Regs 44)")
    return sizes


@dataclass
class Setup:
    """How long each phase of the setup took (seconds), in the order they ran."""

    phases: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = now - self.started
        self.started = now


@dataclass
class Result:
    sizes: Sizes
    seconds: float  # first send to last ack
    latencies_ms: list[float]
    setup: dict[str, float]
    sheets: list[tuple[str, dict[str, Any], str]]  # as recorded: public key, document, signature
    reports: int  # rooms whose report was issued after the sheets
    node_cpu: float  # CPU seconds of the node's process while the sheets went in
    client_cpu: float
    node_gc: float = 0.0  # of which the node's garbage collections, seconds
    profile: str = ""  # with --profile: the top of the node's profile


@dataclass(frozen=True)
class Person:
    id: str
    key: SigningKey
    encryption: EncryptionKey | None = None


async def _bounded(limit: int, calls: Iterable[Awaitable[Any]]) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[Any]) -> Any:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))


def _lots(sizes: Sizes) -> list[str]:
    return [f"L{i:02d}" for i in range(1, sizes.rooms + 1)]


def _region(lot: str) -> str:
    return f"区域{lot[1:]} region {lot[1:]}"


async def _enroll(
    node: Node, role: str, name: str, attributes: dict[str, str] | None = None
) -> Person:
    key, encryption = SigningKey.generate(), EncryptionKey.generate()
    document: dict[str, Any] = {
        "role": role, "name": name, "public_key": key.verify_key.to_text(),
        "encryption_key": encryption.public_key.to_text(),
    }  # fmt: skip
    if attributes:
        document["attributes"] = attributes
    enrolled = await node.participants.enroll(CONSOLE, document)
    return Person(enrolled.id, key, encryption)


async def _people(
    node: Node, sizes: Sizes
) -> tuple[Person, list[Person], list[Person], list[Person]]:
    """The host, two custodians (the spec names them), the bidders, and every lot's pool."""
    host = await _enroll(node, "host", "主持人 host")
    custodians = [await _enroll(node, "custodian", f"custodian {i}") for i in (1, 2)]
    bidders = await asyncio.gather(
        *(_enroll(node, "bidder", f"投标人{i} Bidder {i}") for i in range(1, sizes.bidders + 1))
    )
    pool = []
    for lot in _lots(sizes):
        building = sizes.experts - COST_SEATS
        for i in range(sizes.experts + STANDBY):
            specialty = BUILDING if i < building + STANDBY // 2 else COST
            attributes = {"specialty": specialty, "region": _region(lot),
                          "employer": f"设计院 {lot}-{i}"}  # fmt: skip
            pool.append(_enroll(node, "expert", f"专家 {lot}-{i}", attributes))
    experts = await asyncio.gather(*pool)
    return host, custodians, list(bidders), list(experts)


def _spec(sizes: Sizes, now: datetime, custodians: list[str]) -> dict[str, Any]:
    return {
        "title": "评分基准 score-sheet benchmark", "tenderer": "基准招标人 bench tenderer",
        "lots": [{"id": lot, "name": f"标段 {lot}"} for lot in _lots(sizes)],
        "schedule": {
            "bidding_opens_at": format_time(now + timedelta(hours=1)),
            "deadline": format_time(now + timedelta(days=2)),
            "sign_in_lead_minutes": 30, "decryption_window_minutes": 30,
        },
        "committee": {"size": sizes.experts, "large": sizes.experts >= 7},
        "min_bids": 3,
        "scoring": sample_scoring(),
        "opening": {
            "custodians": custodians, "threshold": 2, "wrap_bids": False,
            "confirmation_window_minutes": 15, "sheet_fields": [],
        },
    }  # fmt: skip


def draw_request(sizes: Sizes, lot: str) -> dict[str, Any]:
    """The lot's committee from its own region: one site, workstations bound to loopback."""
    stations = [{"id": f"W-{i:02d}", "address": "127.0.0.1"} for i in range(1, sizes.experts + 1)]
    return {
        "quotas": [{"specialty": BUILDING, "count": sizes.experts - COST_SEATS},
                   {"specialty": COST, "count": COST_SEATS}],
        "sites": [{"site": "main", "region": _region(lot), "workstations": stations}],
        "standby": STANDBY,
    }  # fmt: skip


def _seal(directory: Path, archive: Path, tender: str, lot: str, bidder: Person, i: int) -> Path:
    assert bidder.encryption is not None
    out = directory / f"{bidder.id}-{lot}.sealed"
    bidding.seal_to_file(
        tender=tender, lot=lot, bidder=bidder.id, archive=archive,
        own_key=bidder.encryption.public_key, opening_key=None, out=out,
        sheet={"price": f"{1_000_000 + 12_345 * i}.00", "duration_days": 180,
               "quality": "合格 pass", "project_manager": f"PM {i}"},
    )  # fmt: skip
    return out


async def _opening(
    node: Node, base: str, clock: ShiftedClock, sizes: Sizes, root: Path, setup: Setup
) -> tuple[str, list[Person], dict[str, Person]]:
    """The tender through a closed opening; its id, its bidders, and the experts by id."""
    host, custodians, bidders, experts = await _people(node, sizes)
    setup.lap(f"enrol {3 + len(bidders) + len(experts)} participants")
    login = clock.now
    async with await Session.login(base, host.id, host.key, clock=login) as hosting:
        spec = _spec(sizes, clock.now(), [c.id for c in custodians])
        tender = str((await hosting.post("/api/tenders", spec))["id"])
        await hosting.post(f"/api/tenders/{tender}/publish")
        clock.offset += timedelta(hours=2)
        await node.scheduler.tick()  # bidding opens

        directory = root / "sealed"
        directory.mkdir()
        archive = directory / "bid.zip"
        archive.write_bytes(b"technical proposal\n" * 50)
        with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            loop = asyncio.get_running_loop()
            sealed = await asyncio.gather(*(
                loop.run_in_executor(pool, _seal, directory, archive, tender, lot, bidder, i)
                for i, bidder in enumerate(bidders) for lot in _lots(sizes)
            ))  # fmt: skip
        setup.lap(f"seal {len(sealed)} bids")

        sessions = await _bounded(
            LOGINS_AT_ONCE, (Session.login(base, b.id, b.key, clock=login) for b in bidders)
        )
        files = {(b.id, lot): sealed[i * sizes.rooms + j]
                 for i, b in enumerate(bidders) for j, lot in enumerate(_lots(sizes))}  # fmt: skip
        try:

            async def each_bidder(call: Callable[[Session, Person], Awaitable[None]]) -> None:
                await asyncio.gather(*(call(s, b) for s, b in zip(sessions, bidders, strict=True)))

            async def submit(session: Session, bidder: Person) -> None:
                for lot in _lots(sizes):
                    await bidding.submit(session, tender, lot, files[bidder.id, lot])

            await each_bidder(submit)
            setup.lap(f"submit {len(sealed)} bids")

            clock.offset += timedelta(days=2)
            await node.scheduler.tick()  # the deadline: the lots' bids are sealed into lists
            await hosting.post(f"/api/tenders/{tender}/opening/start")
            # Tokens expired with the jump; log in again a few at a time (see LOGINS_AT_ONCE).
            await _bounded(LOGINS_AT_ONCE, (session.renew() for session in sessions))

            async def decrypt(session: Session, bidder: Person) -> None:
                assert bidder.encryption is not None
                await bidding.sign_in(session, tender)
                for lot in _lots(sizes):
                    path = files[bidder.id, lot]
                    key = await asyncio.to_thread(bidding.unwrap, path, bidder.encryption)
                    await bidding.decrypt(session, tender, lot, key)

            await each_bidder(decrypt)
            setup.lap(f"sign in and decrypt {len(sealed)} bids")

            await hosting.post(f"/api/tenders/{tender}/opening/record")

            async def confirm(session: Session, bidder: Person) -> None:
                await bidding.confirm(session, tender)

            await each_bidder(confirm)
            closed = await hosting.post(f"/api/tenders/{tender}/opening/close")
            assert closed["phase"] == "closed", closed
            setup.lap("read out, confirm and close the record")
        finally:
            for session in sessions:
                await session.close()

        for lot in _lots(sizes):
            await hosting.post(f"/api/tenders/{tender}/lots/{lot}/draw", draw_request(sizes, lot))
            await hosting.post(f"/api/tenders/{tender}/lots/{lot}/draw/reveal")
        await hosting.post(f"/api/tenders/{tender}/evaluation/start")
        setup.lap(f"draw {sizes.rooms} committees and start")
    return tender, bidders, {e.id: e for e in experts}


class _GcTimer:
    """Wall time spent in garbage collections while installed (gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._began


def _top(profile: cProfile.Profile, count: int) -> str:
    """The entries with the most own time, per sheet (cProfile adds its own overhead)."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:PROFILE_TOP]  # type: ignore[attr-defined]
    lines = ["Node profile while sending (cProfile, event-loop thread; own time per sheet):"]
    for (path, line, name), (_, calls, own, inclusive, _) in rows:
        where = f"{Path(path).name}:{line}" if line else path
        lines.append(
            f"  {1e6 * own / count:7.1f} us own {1e6 * inclusive / count:8.1f} us incl"
            f" {calls / count:6.2f} calls  {name} ({where})"
        )
    return "\n".join(lines)


async def _committee(
    base: str, clock: ShiftedClock, tender: str, bidders: list[str], members: list[Person],
    profile: bool = False, settle: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Run the client process: it seats the members and sends the sheets; its report."""
    plan = {
        "base": base, "tender": tender, "offset": clock.offset.total_seconds(),
        "bidders": bidders,
        "experts": [{"id": m.id, "key": m.key.to_pem().decode()} for m in members],
    }  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.sheets", "--client",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        process.stdin.write(json.dumps(plan).encode())
        await process.stdin.drain()
        process.stdin.close()
        async with asyncio.timeout(PHASE_TIMEOUT):
            if await process.stdout.readline() != SENDING:
                raise RuntimeError("the client process failed to seat the committees")
            if settle:
                settle_collector()  # as `bidroom serve` does once its node is up
            profiler, collections = cProfile.Profile() if profile else None, _GcTimer()
            gc.callbacks.append(collections)
            if profiler is not None:
                profiler.enable()
            cpu = time.process_time()  # this process is the node's
            try:
                if await process.stdout.readline() != SENT:
                    raise RuntimeError("the client process failed to send the sheets")
            finally:
                cpu = time.process_time() - cpu
                if profiler is not None:
                    profiler.disable()
                gc.callbacks.remove(collections)
            answer = await process.stdout.read()  # the report, to the end: one long line
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"the client process failed ({process.returncode})")
    top = _top(profiler, len(members) * len(bidders)) if profiler is not None else ""
    return cast("dict[str, Any]", json.loads(answer)) | {
        "node_cpu": cpu, "node_gc": collections.seconds, "profile": top,
    }  # fmt: skip


async def _recorded_sheets(node: Node, tender: str) -> list[tuple[str, dict[str, Any], str]]:
    """Every score sheet as the node recorded it, with its expert's enrolled key."""
    registry = await node.participants.registry()
    sheets, after = [], 0
    while page := await node.store.read(tender, after, 1000):
        after = page[-1].seq
        for record in page:
            if record.type == SheetSubmitted.TYPE:
                document = record.payload["document"]
                found = registry.get(document["expert"])
                assert found is not None
                sheets.append((found.public_key, document, str(record.payload["signature"])))
    return sheets


async def measured(
    root: Path, sizes: Sizes, profile: bool = False, *, settle: bool = False
) -> Result:
    """Set the rooms up, run the client process, and collect the recorded sheets.

    `settle` tunes this process's collector as `bidroom serve` does once its node is up (the
    command-line bench does; a test harness in a shared process must not).
    """
    clock = ShiftedClock()
    # Every expert's workstation connects from this one address (the client process).
    seats = max(WS_MAX_CONNECTIONS_PER_ADDRESS, sizes.rooms * sizes.experts)
    settings = Settings(data_dir=root / "node", port=0, ws_max_connections_per_address=seats)
    app = create_app(settings, clock=clock, schedule=False)
    runner, base = await serve(app)
    node = app[node_key]
    setup = Setup()
    try:
        tender, bidders, experts = await _opening(node, base, clock, sizes, root, setup)
        rooms = cast("Tender", await node.ledger.load(tender)).evaluation.rooms
        members = [experts[m] for lot in _lots(sizes) for m in rooms[lot].members]
        report = await _committee(
            base, clock, tender, [b.id for b in bidders], members, profile, settle
        )
        setup.phases |= report["setup"]
        rooms = cast("Tender", await node.ledger.settled(tender)).evaluation.rooms
        reports = sum(1 for room in rooms.values() if room.stage is Stage.REPORT)
        sheets = await _recorded_sheets(node, tender)
    finally:
        await runner.cleanup()
    return Result(
        sizes, report["seconds"], report["latencies_ms"], setup.phases, sheets, reports,
        report["node_cpu"], report["client_cpu"], report["node_gc"], report["profile"],
    )  # fmt: skip


# The client process.


def _scores(position: int, bidder: int) -> dict[str, str]:
    """Close enough among members that no check flags them; objective values agree."""
    half = ".5" if position % 2 else ""
    return {
        "T1": f"{20 + bidder % 5 + position % 3}{half}",
        "T2": f"{12 + bidder % 4}{half}",
        "T3": f"{10 + bidder % 7}",
    }


async def _seat_and_score(plan: dict[str, Any]) -> dict[str, Any]:
    offset = timedelta(seconds=plan["offset"])
    base, tender, bidders = plan["base"], plan["tender"], list(plan["bidders"])
    setup = Setup()

    def clock() -> datetime:
        return datetime.now(UTC) + offset

    async def join(expert: dict[str, Any]) -> RoomClient:
        key = SigningKey.from_pem(expert["key"].encode())
        session = await Session.login(base, expert["id"], key, clock=clock)
        seats = await RoomClient.seats(session)
        room = RoomClient(session, tender, seats[0])
        await room.__aenter__()
        return room

    rooms: list[RoomClient] = await _bounded(LOGINS_AT_ONCE, map(join, plan["experts"]))
    try:
        setup.lap(f"log {len(rooms)} experts in and open their rooms")
        by_lot: dict[str, list[RoomClient]] = defaultdict(list)
        for room in sorted(rooms, key=lambda r: r.session.participant):
            by_lot[room.lot].append(room)
        async with asyncio.timeout(PHASE_TIMEOUT):
            await _seat(by_lot, bidders)
        setup.lap("check in, pledge, elect, compliance")

        # Every sheet signed first, on its workstation: the measurement is the node's.
        signed = []
        for members in by_lot.values():
            for position, room in enumerate(members):
                for i, bidder in enumerate(bidders):
                    document = room.document(
                        LABEL, round=1, version=1, bidder=bidder, scores=_scores(position, i),
                        comment="按评分细则 per the scoring rules",
                    )  # fmt: skip
                    signed.append((room, document, room.session.sign(LABEL, document)))
        latencies: list[float] = []

        async def send(room: RoomClient, document: dict[str, Any], signature: str) -> None:
            began = time.perf_counter()
            await room.send_signed(document, signature)
            latencies.append(1000 * (time.perf_counter() - began))

        sys.stdout.buffer.write(SENDING)
        sys.stdout.flush()
        cpu, start = time.process_time(), time.perf_counter()
        await asyncio.gather(*(send(*sheet) for sheet in signed))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        sys.stdout.buffer.write(SENT)
        sys.stdout.flush()
        async with asyncio.timeout(PHASE_TIMEOUT):  # no check flagged anyone: reports follow
            for room in rooms:
                await room.wait_for(lambda s: s.report_hash is not None)
    finally:
        for room in rooms:
            await room.close()
            await room.session.close()
    return {"seconds": seconds, "latencies_ms": latencies, "setup": setup.phases, "client_cpu": cpu}


async def _seat(by_lot: dict[str, list[RoomClient]], bidders: list[str]) -> None:
    """Check in and pledge; elect each room's first member; pass every bid's compliance."""

    async def arrive(room: RoomClient) -> None:
        await room.check_in()
        await room.pledge()

    async def vote(room: RoomClient, leader: str) -> None:
        await room.wait_stage(Stage.ELECTION.value, 1)
        await room.vote(leader)

    async def comply(room: RoomClient) -> None:
        await room.wait_stage(Stage.COMPLIANCE.value)
        await room.compliance({b: {"C1": (True, ""), "C2": (True, "")} for b in bidders})
        await room.wait_stage(Stage.SCORING.value, 1)

    everyone = [room for members in by_lot.values() for room in members]
    await asyncio.gather(*map(arrive, everyone))
    await asyncio.gather(*(
        vote(room, members[0].session.participant)
        for members in by_lot.values() for room in members
    ))  # fmt: skip
    await asyncio.gather(*map(comply, everyone))


def client_main() -> None:
    plan = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(_seat_and_score(plan))), flush=True)


# Verification baselines, over the sheets as recorded.


def _best(repeats: int, loop: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        loop()
        best = min(best, time.perf_counter() - start)
    return best


def verify_rates(
    sheets: Sequence[tuple[str, dict[str, Any], str]], repeats: int = 3
) -> dict[str, float]:
    """Verifications per second: raw Ed25519, `crypto.verify`, and the node's whole path."""
    keys = [VerifyKey.from_text(key) for key, _, _ in sheets]
    signatures = [b64url_decode(signature) for _, _, signature in sheets]
    messages = [signing_input(LABEL, document) for _, document, _ in sheets]

    def raw() -> None:  # Ed25519 alone over the same signing input, as `crypto.verify` ends
        for key, signature, message in zip(keys, signatures, messages, strict=True):
            verify_raw(key, message, signature)

    def through_crypto() -> None:
        for key, signature, (_, document, _) in zip(keys, signatures, sheets, strict=True):
            verify(key, LABEL, document, signature)

    def node_path() -> None:  # Pipeline.verify (commands.py), less the lookups
        for text, document, signature in sheets:
            verify(VerifyKey.from_text(text), LABEL, document, b64url_decode(signature))

    count = len(sheets)
    return {
        "raw": count / _best(repeats, raw),
        "crypto": count / _best(repeats, through_crypto),
        "node": count / _best(repeats, node_path),
    }


ACKED_HEADER: Final = ("sheets acked", "wall s", "sheets/s", "ack p50 ms", "ack p99 ms",
                       "reports issued")  # fmt: skip


def report(result: Result, rates: dict[str, float]) -> str:
    sizes, ms = result.sizes, result.latencies_ms
    rate = len(ms) / result.seconds
    raw, node = rates["raw"], rates["node"]
    acked = [
        f"{len(ms):,}", f"{result.seconds:.2f}", f"{rate:,.0f}", f"{median(ms):.1f}",
        f"{percentile(ms, 0.99):.1f}", f"{result.reports}/{sizes.rooms}",
    ]  # fmt: skip
    verifying = [
        ["baseline: raw Ed25519 verify of the signing input", f"{raw:,.0f}", "1.00x"],
        ["crypto.verify (canonical JSON + Ed25519)", f"{rates['crypto']:,.0f}",
         f"{rates['crypto'] / raw:.2f}x"],
        ["node's verify path (key text, base64url, crypto.verify)", f"{node:,.0f}",
         f"{node / raw:.2f}x"],
        ["bidroom end to end (sheets acked/s)", f"{rate:,.0f}", f"{rate / raw:.3f}x"],
    ]  # fmt: skip
    lines = [
        f"Score sheets: {sizes.rooms} rooms x {sizes.experts} experts x {sizes.bidders} bidders,"
        f" {sizes.sheets:,} signed sheets sent at once, each expert over its own WebSocket;"
        " clients in another process",
        table([acked], ACKED_HEADER),
        f"CPU while sending: node process {result.node_cpu:.2f} s"
        f" ({100 * result.node_cpu / result.seconds:.0f}% of a core),"
        f" client process {result.client_cpu:.2f} s"
        f" ({100 * result.client_cpu / result.seconds:.0f}%);"
        f" the node's garbage collections {1e6 * result.node_gc / len(ms):.0f} us per sheet",
        f"\nSignature verification on one core, over the {len(result.sheets):,} recorded sheets",
        table(verifying, ["case", "per s", "vs raw Ed25519"]),
        f"End to end is {rate / node:.3f}x the node's verify-only rate: checking signatures"
        f" takes about {100 * rate / node:.0f}% of the wall time per sheet"
        f" ({1e6 / node:.0f} us of the node's {1e6 * result.node_cpu / len(ms):.0f} us CPU"
        " per sheet).",
        *([f"\n{result.profile}"] if result.profile else []),
        f"\nSetup, not measured: {sum(result.setup.values()):.0f} s",
        *(f"  {name}: {seconds:.2f} s" for name, seconds in result.setup.items()),
    ]
    return "\n".join(lines)


def run(quick: bool = False, options: Sequence[str] = ()) -> str:
    """`--profile` adds the node's profile while the sheets go in (and slows it down)."""
    profile = "--profile" in options
    sizes = sizes_from(quick, [option for option in options if option != "--profile"])
    with tempfile.TemporaryDirectory() as scratch:
        result = asyncio.run(measured(Path(scratch), sizes, profile, settle=True))
    if len(result.latencies_ms) != sizes.sheets or len(result.sheets) != sizes.sheets:
        raise RuntimeError(f"{len(result.latencies_ms)} acks, {len(result.sheets)} recorded")
    return report(result, verify_rates(result.sheets, 2 if quick else 5))


if __name__ == "__main__":
    if "--client" in sys.argv:
        client_main()
    else:
        print(run("--quick" in sys.argv, [a for a in sys.argv[1:] if a != "--quick"]))
