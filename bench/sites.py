"""Several sites: live fan-out through edges, and what forwarding a command adds.

Nodes are real processes (`python -m server serve ... --redis URL [--home]`, as
tests/sites/cluster.py starts them) on a throwaway redis-server this benchmark starts.

Fan-out: an admin enrols participants at the home, one command at a time, paced; each commit is
a system-log event that W watchers (one supervisor's token, subscribed to the system log) get
live from 1, 2 or 4 edges (or from the home itself). The watchers run in 4 client processes
(bench/_fanout_client.py) that stamp arrivals with CLOCK_MONOTONIC, shared by every process on
the machine; latency runs from the moment the bench sent the command to the home (so it
includes the home's durable commit and its ack) to the last watcher's arrival. Baseline, same
run: one bare aiohttp process sending frames of the same size to the same number of clients
(bench/fanout.py), timed from the start of its send loop.

Forwarding: sequential enrolments at an edge and directly at the home (each a durable
system-log commit; at an edge, also the edge's wait for its replica); the floor is the raw
redis-py round trip the forwarding makes: XADD, XREAD BLOCK on the other side, XADD back, XREAD.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import redis.asyncio as aioredis

from bench import fanout
from bench.common import median, percentile, table
from crypto import SigningKey
from evaluator_client.session import Session
from server.protocol import SYSTEM_STREAM
from tests.redis_server import RedisServer
from tests.sites.cluster import NodeProcess, enrol_offline

CLIENT_PROCESSES = 4
WAIT_SECONDS = 180.0  # for every watcher to be live, and for every event to reach them all
ENVIRONMENT = {
    "BIDROOM_WS_MAX_CONNECTIONS": "100000",
    "BIDROOM_WS_MAX_CONNECTIONS_PER_ADDRESS": "100000",
    "BIDROOM_WS_HEARTBEAT_SECONDS": "300",
    "BIDROOM_LOG_LEVEL": "WARNING",
    # Every subscription at an edge asks the home (a forwarded `follow`): thousands of
    # watchers subscribing at once queue up there, longer than the tests' 5 s, and open as
    # many Redis connections at once, which take longer than the tests' 2 s to connect.
    "BIDROOM_FORWARD_TIMEOUT_SECONDS": "120",
    "BIDROOM_REDIS_TIMEOUT_SECONDS": "20",
}


@dataclass(frozen=True)
class Sizes:
    watchers: int
    events: int
    interval_ms: float
    commands: int
    edges: tuple[int, ...] = (0, 1, 2, 4)


FULL = Sizes(watchers=5000, events=40, interval_ms=250.0, commands=500)
QUICK = Sizes(watchers=50, events=5, interval_ms=20.0, commands=20, edges=(0, 2))


@dataclass
class Fanout:
    edges: int
    latencies_ms: list[float]
    subscribed_s: float  # from launching the watchers to every one caught up
    refusals: int  # subscriptions refused (and sent again) on the way


@dataclass
class Result:
    sizes: Sizes
    fanouts: list[Fanout] = field(default_factory=list)
    baseline_ms: list[float] = field(default_factory=list)
    at_home_ms: list[float] = field(default_factory=list)
    at_edge_ms: list[float] = field(default_factory=list)
    redis_ms: list[float] = field(default_factory=list)


class Cluster:
    """A home and `edges` edges; an admin and a supervisor enrolled offline at the home."""

    def __init__(self, root: Path, redis_url: str, edges: int) -> None:
        redis = ["--redis", redis_url]
        options = ["--site", "main", "--home", *redis]
        self.home = NodeProcess("home", root / "home", options, environment=ENVIRONMENT)
        self.edges = [
            NodeProcess(f"edge{n}", root / f"edge{n}", ["--site", f"venue-{n}", *redis])
            for n in range(edges)
        ]
        for edge in self.edges:
            edge.environment = ENVIRONMENT
        self.keys = {role: SigningKey.generate() for role in ("admin", "supervisor")}
        self.ids: dict[str, str] = {}

    async def start(self) -> None:
        for role, key in self.keys.items():
            self.ids[role] = await enrol_offline(self.home.data_dir, role, role, key)
        for edge in self.edges:
            key = await edge.key()
            await enrol_offline(self.home.data_dir, "node", edge.name, key, site=edge.name)
        await self.home.start()
        await asyncio.gather(*(edge.start() for edge in self.edges))

    async def login(self, node: NodeProcess, role: str) -> Session:
        return await Session.login(node.url, self.ids[role], self.keys[role])

    async def stop(self) -> None:
        await asyncio.gather(*(node.stop() for node in [*self.edges, self.home]))


async def _line(process: asyncio.subprocess.Process, what: str) -> str:
    assert process.stdout is not None
    line = await process.stdout.readline()
    if not line:
        raise RuntimeError(f"{what} ended without answering")
    return line.decode()


async def enrol(session: Session, name: str) -> None:
    key = SigningKey.generate().verify_key.to_text()
    await session.post("/api/admin/participants", {"role": "host", "name": name, "public_key": key})


async def system_head(session: Session) -> int:
    page = await session.get("/api/system/events?after_seq=0")
    while page["more"]:
        page = await session.get(f"/api/system/events?after_seq={page['next_after_seq']}")
    return int(page["next_after_seq"])


async def fan_out(cluster: Cluster, sizes: Sizes) -> Fanout:
    """Latencies (ms) from sending each command to its event's arrival at the last watcher."""
    admin = await cluster.login(cluster.home, "admin")
    supervisor = await cluster.login(cluster.home, "supervisor")
    clients: list[asyncio.subprocess.Process] = []
    try:
        token = await supervisor.token()
        first = await system_head(admin) + 1
        last = first + sizes.events - 1
        nodes = cluster.edges or [cluster.home]
        launched = time.perf_counter()
        shares = [
            sizes.watchers // CLIENT_PROCESSES + (i < sizes.watchers % CLIENT_PROCESSES)
            for i in range(CLIENT_PROCESSES)
        ]
        for index, share in enumerate(shares):
            port = nodes[index % len(nodes)].port
            argv = [str(port), str(share), str(first), str(last), "bidroom", token, SYSTEM_STREAM]
            command = [sys.executable, "-m", "bench._fanout_client", *argv]
            clients.append(
                await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
            )
        refusals = 0
        async with asyncio.timeout(WAIT_SECONDS):
            for client in clients:
                word, number = (await _line(client, "a client process")).split()
                if word != "ready":
                    raise RuntimeError("a client process failed to connect")
                refusals += int(number)
        subscribed = time.perf_counter() - launched
        sent: list[int] = []
        for index in range(sizes.events):
            sent.append(time.monotonic_ns())
            await enrol(admin, f"bench {index}")
            await asyncio.sleep(sizes.interval_ms / 1000)  # pacing: latency without queueing
        arrivals: dict[int, int] = {}
        for client, share in zip(clients, shares, strict=True):
            async with asyncio.timeout(WAIT_SECONDS):
                report = json.loads(await _line(client, "a client process"))
            missing = [s for s in range(first, last + 1) if report["seen"].get(str(s)) != share]
            if missing:
                raise RuntimeError(f"events lost or repeated: {missing[:5]}")
            for seq, ns in report["latest"].items():
                arrivals[int(seq)] = max(arrivals.get(int(seq), 0), ns)
        latencies = [(arrivals[first + i] - ns) / 1e6 for i, ns in enumerate(sent)]
        return Fanout(len(cluster.edges), latencies, subscribed, refusals)
    finally:
        for client in clients:
            if client.returncode is None:
                client.kill()
            await client.wait()
        await admin.close()
        await supervisor.close()


async def commands(cluster: Cluster, count: int) -> tuple[list[float], list[float]]:
    """Latencies (ms) of `count` sequential enrolments at the home, then at the first edge."""
    result: list[list[float]] = []
    for node in (cluster.home, cluster.edges[0]):
        session = await cluster.login(node, "admin")
        try:
            await enrol(session, "warm-up")
            latencies = []
            for index in range(count):
                began = time.perf_counter()
                await enrol(session, f"{node.name} {index}")
                latencies.append((time.perf_counter() - began) * 1e3)
            result.append(latencies)
        finally:
            await session.close()
    return result[0], result[1]


# What XREAD answers: [(stream, [(id, {field: value}), ...]), ...].
Read = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]


async def redis_round_trips(url: str, count: int) -> list[float]:
    """XADD, XREAD on the other side, XADD back, XREAD: the hops a forwarded command makes."""
    there, back = "bench:cmd", "bench:reply"
    client = aioredis.Redis.from_url(url)
    reader = aioredis.Redis.from_url(url)
    home = aioredis.Redis.from_url(url)

    async def read(connection: aioredis.Redis, stream: str, after: bytes) -> Read:
        return cast("Read", await connection.xread({stream: after}, block=5000))

    async def answer() -> None:
        last = b"0"
        while True:
            for _, entries in await read(home, there, last):
                for entry_id, fields in entries:
                    if fields == {b"p": b"stop"}:
                        return  # (cancelling a blocked XREAD leaves redis-py hanging)
                    last = entry_id
                    await home.xadd(back, {"p": fields[b"p"]})

    answering = asyncio.create_task(answer())
    latencies = []
    try:
        last = b"0"
        await client.xadd(there, {"p": "warm-up"})
        for _, entries in await read(reader, back, last):
            last = entries[-1][0]
        for _ in range(count):
            began = time.perf_counter()
            await client.xadd(there, {"p": "x" * 200})
            last = (await read(reader, back, last))[0][1][-1][0]
            latencies.append((time.perf_counter() - began) * 1e3)
    finally:
        await client.xadd(there, {"p": "stop"})
        await answering
        for connection in (client, reader, home):
            await connection.aclose()
    return latencies


async def measured(root: Path, sizes: Sizes) -> Result:
    result = Result(sizes)
    redis = RedisServer(root / "redis")
    (root / "redis").mkdir()
    redis.start()
    try:
        for edges in sizes.edges:
            redis.flush()
            cluster = Cluster(root / f"cluster-{edges}", redis.url, edges)
            try:
                await cluster.start()
                result.fanouts.append(await fan_out(cluster, sizes))
                if edges == max(sizes.edges) and edges > 0:
                    result.at_home_ms, result.at_edge_ms = await commands(cluster, sizes.commands)
            finally:
                await cluster.stop()
        redis.flush()
        result.redis_ms = await redis_round_trips(redis.url, sizes.commands)
    finally:
        redis.stop()
    return result


def report(result: Result) -> str:
    sizes = result.sizes
    base = median(result.baseline_ms)
    rows = [["baseline: 1 bare aiohttp process", f"{base:.1f}",
             f"{percentile(result.baseline_ms, 0.99):.1f}", "1.00x", "-", "-"]]  # fmt: skip
    for run in result.fanouts:
        where = f"bidroom: {run.edges} edge(s)" if run.edges else "bidroom: at the home, no edge"
        ours = median(run.latencies_ms)
        p99 = percentile(run.latencies_ms, 0.99)
        live = f"{run.subscribed_s:.1f}"
        rows.append([where, f"{ours:.1f}", f"{p99:.1f}", f"{ours / base:.2f}x", live,
                     str(run.refusals)])  # fmt: skip
    out = [
        "Several sites: fan-out through edges, and the cost of forwarding a command",
        f"\n{sizes.watchers:,} watchers in {CLIENT_PROCESSES} client processes,"
        f" {sizes.events} events, one every {sizes.interval_ms:g} ms;"
        " latency from the command sent to the home to the last watcher's arrival",
        table(
            rows,
            [
                "fan-out",
                "median ms",
                "p99 ms",
                "median vs baseline",
                "all live in s",
                "subscriptions refused",
            ],
        ),
    ]
    if result.at_edge_ms:
        home, edge = result.at_home_ms, result.at_edge_ms
        added = median(edge) - median(home)
        added99 = percentile(edge, 0.99) - percentile(home, 0.99)
        rows = [
            ["floor: redis-py XADD/XREAD round trip", *_p(result.redis_ms)],
            ["enrolment directly at the home", *_p(home)],
            ["enrolment at an edge (forwarded)", *_p(edge)],
        ]
        out += [
            f"\n{sizes.commands} sequential commands (each a durable commit at the home)",
            table(rows, ["case", "p50 ms", "p99 ms"]),
            f"an edge adds {added:.2f} ms at p50 and {added99:.2f} ms at p99"
            f" ({added / median(result.redis_ms):.1f}x the Redis round trip at p50)",
        ]
    return "\n".join(out)


def _p(values: list[float]) -> list[str]:
    return [f"{median(values):.2f}", f"{percentile(values, 0.99):.2f}"]


def run(quick: bool = False) -> str:
    sizes = QUICK if quick else FULL
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(measured(Path(tmp), sizes))
    result.baseline_ms = baseline(sizes)
    return report(result)


def baseline(sizes: Sizes) -> list[float]:
    """The bare aiohttp process's latencies (ms) for the same watchers and events."""
    return fanout.measure("aiohttp", sizes.watchers, sizes.events, sizes.interval_ms).latencies_ms


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
