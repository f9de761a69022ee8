"""Joining: every member of a tender's committees opens its room at once, before and after views.

Setup, not measured: the tender of `python -m bench sheets` (by default 20 lots, 7 experts on
each committee, 30 bidders; about 1,400 events in the tender's log) through a closed opening,
its committees drawn and the evaluation started. A client process logs every member in.

Measured, in the client process, for all N members at once: reading the room view, opening a
WebSocket, subscribing, and receiving the node's `caught_up` (the room state is then current).
- before ("replay"): what the expert client did before views carried `seq`: subscribe from 0,
  so the node replays the whole log the member may see and the client folds it;
- after ("view"): `RoomClient`: subscribe after the view's `seq`, so only what happened since
  the view comes over.
Each mode runs twice, alternating; the better run of each is reported, with the node's CPU.
The ratio of the two is the figure to compare across runs (machines here are shared).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from bench import sheets
from bench.common import median, percentile, serve, table
from bench.upload import ShiftedClock
from crypto import SigningKey
from evaluator_client.live import LiveFeed
from evaluator_client.room import RoomClient, RoomState
from evaluator_client.session import Session
from server.app import create_app
from server.config import Settings
from server.protocol import CaughtUp, Event
from server.transport.app_keys import node_key

if TYPE_CHECKING:
    from collections.abc import Sequence

    from server.domain.tender import Tender

MODES: Final = ("replay", "view")
ROUNDS: Final = 2
# Every member connects from this machine: let them all hold a live connection at once.
CONNECTIONS_PER_ADDRESS: Final = 1000
PHASE_TIMEOUT: Final = 600.0


@dataclass(frozen=True)
class Sizes:
    rooms: int
    experts: int
    bidders: int

    @property
    def members(self) -> int:
        return self.rooms * self.experts

    def of_sheets(self) -> sheets.Sizes:
        return sheets.Sizes(self.rooms, self.experts, self.bidders)


QUICK: Final = Sizes(rooms=2, experts=5, bidders=3)  # full size: 140 experts, as sheets


def sizes_from(quick: bool, options: Sequence[str] = ()) -> Sizes:
    """`--rooms=N --experts=N --bidders=N`, read and checked as the sheets benchmark does."""
    checked = sheets.sizes_from(quick, options, prog="python -m bench join")
    return Sizes(checked.rooms, checked.experts, checked.bidders)


@dataclass
class Run:
    mode: str
    seconds: float  # first join started to last member caught up
    latencies_ms: list[float]  # per member: view read to caught up
    events: list[int]  # room events each member's client folded while joining
    node_cpu: float = 0.0


@dataclass
class Result:
    sizes: Sizes
    log_events: int  # the tender's log when the members joined
    runs: list[Run]
    setup: dict[str, float]

    def best(self, mode: str) -> Run:
        return min((r for r in self.runs if r.mode == mode), key=lambda r: r.seconds)


async def measured(root: Path, sizes: Sizes) -> Result:
    clock = ShiftedClock()
    settings = Settings(
        data_dir=root / "node", port=0, ws_max_connections_per_address=CONNECTIONS_PER_ADDRESS
    )
    app = create_app(settings, clock=clock, schedule=False)
    runner, base = await serve(app)
    node = app[node_key]
    setup = sheets.Setup()
    try:
        tender, _, experts = await sheets._opening(
            node, base, clock, sizes.of_sheets(), root, setup
        )
        state = cast("Tender", await node.ledger.settled(tender))
        members = [experts[m] for room in state.evaluation.rooms.values() for m in room.members]
        log_events = (await node.ledger.head(tender)).seq
        runs = await _clients(base, clock, tender, members)
    finally:
        await runner.cleanup()
    return Result(sizes, log_events, runs, setup.phases)


async def _clients(
    base: str, clock: ShiftedClock, tender: str, members: list[sheets.Person]
) -> list[Run]:
    """Run the client process; measure this (the node's) process's CPU during each run."""
    plan = {
        "base": base, "tender": tender, "offset": clock.offset.total_seconds(),
        "experts": [{"id": m.id, "key": m.key.to_pem().decode()} for m in members],
    }  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.join", "--client",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None
    assert process.stdout is not None
    cpu: list[float] = []
    try:
        process.stdin.write(json.dumps(plan).encode())
        await process.stdin.drain()
        process.stdin.close()
        async with asyncio.timeout(PHASE_TIMEOUT):
            for _ in range(ROUNDS * len(MODES)):
                if not (await process.stdout.readline()).startswith(b"start"):
                    raise RuntimeError("the client process failed to log the members in")
                began = time.process_time()
                if not (await process.stdout.readline()).startswith(b"end"):
                    raise RuntimeError("the client process failed to join the rooms")
                cpu.append(time.process_time() - began)
            answer = await process.stdout.read()
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"the client process failed ({process.returncode})")
    runs = [Run(**run) for run in json.loads(answer)]
    for run, seconds in zip(runs, cpu, strict=True):
        run.node_cpu = seconds
    return runs


# The client process.


async def _from_zero(session: Session, tender: str, seat: dict[str, Any]) -> tuple[LiveFeed, int]:
    """Join as the expert client did before views carried `seq`: the view, then the log from 0."""
    state = RoomState(str(seat["lot"]))
    state.seed(await session.get(f"/api/tenders/{tender}/lots/{state.lot}/room"))
    feed = LiveFeed(session.live_url, session.token)
    await feed.connect()
    await feed.subscribe(tender, 0)
    async for message in feed:
        if isinstance(message, Event):
            state.apply(message)
        elif isinstance(message, CaughtUp) and message.tender == tender:
            break
    return feed, len(state.events)


async def _from_view(session: Session, tender: str, seat: dict[str, Any]) -> tuple[RoomClient, int]:
    room = RoomClient(session, tender, seat)
    await room.__aenter__()
    await room.caught_up.wait()
    return room, len(room.state.events)


async def _join_all(mode: str, seated: list[tuple[Session, dict[str, Any]]], tender: str) -> Run:
    latencies: list[float] = []
    events: list[int] = []
    opened: list[LiveFeed | RoomClient] = []

    async def one(session: Session, seat: dict[str, Any]) -> None:
        began = time.perf_counter()
        join = _from_zero if mode == "replay" else _from_view
        joined, count = await join(session, tender, seat)
        latencies.append(1000 * (time.perf_counter() - began))
        opened.append(joined)
        events.append(count)

    _say(f"start {mode}")
    start = time.perf_counter()
    try:
        async with asyncio.timeout(PHASE_TIMEOUT):
            await asyncio.gather(*(one(session, seat) for session, seat in seated))
        seconds = time.perf_counter() - start
    finally:
        _say(f"end {mode}")
        for joined in opened:
            await joined.close()
    return Run(mode, seconds, latencies, events)


def _say(line: str) -> None:
    sys.stdout.buffer.write(f"{line}\n".encode())
    sys.stdout.flush()


async def _join(plan: dict[str, Any]) -> list[dict[str, Any]]:
    offset = timedelta(seconds=plan["offset"])
    tender = str(plan["tender"])

    def clock() -> datetime:
        return datetime.now(UTC) + offset

    async def login(expert: dict[str, Any]) -> tuple[Session, dict[str, Any]]:
        key = SigningKey.from_pem(expert["key"].encode())
        session = await Session.login(plan["base"], expert["id"], key, clock=clock)
        return session, (await RoomClient.seats(session))[0]

    seated = await sheets._bounded(sheets.LOGINS_AT_ONCE, map(login, plan["experts"]))
    runs = []
    try:
        for _ in range(ROUNDS):
            for mode in MODES:
                run = await _join_all(mode, seated, tender)
                runs.append(
                    {"mode": run.mode, "seconds": run.seconds,
                     "latencies_ms": run.latencies_ms, "events": run.events}
                )  # fmt: skip
    finally:
        for session, _ in seated:
            await session.close()
    return runs


def client_main() -> None:
    plan = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(_join(plan))), flush=True)


HEADER: Final = ("join", "members", "wall s", "joins/s", "p50 ms", "p99 ms",
                 "room events folded", "node CPU s", "vs replay")  # fmt: skip


def report(result: Result) -> str:
    before = result.best("replay")
    rows = []
    for mode, label in (("replay", "before: log from 0"), ("view", "after: from the view")):
        run = result.best(mode)
        rows.append([
            label, len(run.latencies_ms), f"{run.seconds:.2f}",
            f"{len(run.latencies_ms) / run.seconds:,.0f}", f"{median(run.latencies_ms):.0f}",
            f"{percentile(run.latencies_ms, 0.99):.0f}", f"{median(run.events):.0f} per member",
            f"{run.node_cpu:.2f}", f"{run.seconds / before.seconds:.3f}x",
        ])  # fmt: skip
    after = result.best("view")
    sizes = result.sizes
    lines = [
        f"Joining: {sizes.members} experts ({sizes.rooms} rooms x {sizes.experts}) open their"
        f" rooms at once in a tender of {result.log_events:,} events; clients in another"
        f" process, best of {ROUNDS} runs each",
        table(rows, HEADER),
        f"From the view, joining takes {after.seconds / before.seconds:.3f}x the wall time and"
        f" {after.node_cpu / max(before.node_cpu, 1e-9):.3f}x the node CPU of replaying from 0"
        f" ({before.seconds / after.seconds:.1f}x faster).",
        f"\nSetup, not measured: {sum(result.setup.values()):.0f} s",
        *(f"  {name}: {seconds:.2f} s" for name, seconds in result.setup.items()),
    ]
    return "\n".join(lines)


def run(quick: bool = False, options: Sequence[str] = ()) -> str:
    sizes = sizes_from(quick, options)
    with tempfile.TemporaryDirectory() as scratch:
        result = asyncio.run(measured(Path(scratch), sizes))
    for joined in result.runs:
        if len(joined.latencies_ms) != sizes.members:
            raise RuntimeError(f"{len(joined.latencies_ms)} of {sizes.members} members joined")
    return report(result)


if __name__ == "__main__":
    if "--client" in sys.argv:
        client_main()
    else:
        print(run("--quick" in sys.argv, [a for a in sys.argv[1:] if a != "--quick"]))
