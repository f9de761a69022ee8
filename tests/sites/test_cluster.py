"""A home and two edges as real processes on a real Redis (docs/sites.md sections 5, 6, 10).

Commands sent at any node are committed once, at the home; every node's live channel then
shows the same events in the same order, with no gap and no duplicate, also after Redis or
the home was killed and came back.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from crypto import SigningKey
from evaluator_client.errors import ApiError
from evaluator_client.live import LiveFeed
from evaluator_client.session import Session
from server.protocol import SYSTEM_STREAM
from server.protocol.server_messages import CaughtUp, Event
from server.service.node import node_id_of
from tests.sites.cluster import NodeProcess, enrol_offline

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from tests.redis_server import RedisServer

pytestmark = pytest.mark.timeout(120)


class Cluster:
    def __init__(self, root: Path, redis_url: str) -> None:
        redis = ["--redis", redis_url]
        self.home = NodeProcess("home", root / "main", ["--site", "main", "--home", *redis])
        self.edges = [
            NodeProcess(f"edge{n}", root / f"venue-{n}", ["--site", f"venue-{n}", *redis])
            for n in (1, 2)
        ]
        self.admin_key = SigningKey.generate()
        self.admin = ""
        self.sessions: list[Session] = []

    @property
    def nodes(self) -> list[NodeProcess]:
        return [self.home, *self.edges]

    async def start(self) -> None:
        enrolled = await enrol_offline(self.home.data_dir, "admin", "管理员 Admin", self.admin_key)
        self.admin = enrolled
        for edge in self.edges:
            await enrol_offline(
                self.home.data_dir, "node", edge.name, await edge.key(), site=edge.name
            )
        await self.home.start()
        await asyncio.gather(*(edge.start() for edge in self.edges))

    async def session(self, node: NodeProcess) -> Session:
        session = await Session.login(node.url, self.admin, self.admin_key)
        self.sessions.append(session)
        return session

    async def close(self) -> None:
        for session in self.sessions:
            await session.close()
        await asyncio.gather(*(node.stop() for node in self.nodes))


@pytest.fixture
async def cluster(tmp_path: Path, redis_url: str) -> AsyncIterator[Cluster]:
    running = Cluster(tmp_path, redis_url)
    try:
        await running.start()
        yield running
    finally:
        await running.close()


async def enrol(session: Session, name: str) -> str:
    body = {"role": "host", "name": name, "public_key": SigningKey.generate().verify_key.to_text()}
    enrolled: dict[str, Any] = await session.post("/api/admin/participants", body)
    return str(enrolled["id"])


async def system_log_at(
    node: NodeProcess, session: Session, until: int | None = None
) -> list[tuple[int, str]]:
    """(seq, hash) of the system log as `node`'s live channel serves it: up to `until`, or
    as far as the node has it when it says it caught up."""
    seen: list[tuple[int, str]] = []
    async with (
        asyncio.timeout(30),
        LiveFeed(f"ws://127.0.0.1:{node.port}/ws", session.token) as feed,
    ):
        await feed.subscribe(SYSTEM_STREAM)
        async for message in feed:
            if isinstance(message, Event):
                seen.append((message.seq, message.hash))
            if until is not None and seen and seen[-1][0] >= until:
                return seen
            if isinstance(message, CaughtUp) and (until is None or message.seq >= until):
                return seen
    return seen


async def test_commands_at_any_node_commit_once_and_every_node_shows_the_same_log(
    cluster: Cluster,
) -> None:
    sessions = [await cluster.session(node) for node in cluster.nodes]
    names = [f"主持人 {n}" for n in range(9)]
    ids = await asyncio.gather(*(enrol(sessions[n % 3], name) for n, name in enumerate(names)))
    assert len(set(ids)) == 9
    listed = await sessions[1].get("/api/admin/participants")
    assert {p["id"] for p in listed["participants"]} >= set(ids)
    full = await system_log_at(cluster.home, sessions[0])
    last = full[-1][0] if full else 0
    logs = [await system_log_at(node, sessions[0], last) for node in cluster.nodes]
    assert logs[0] == logs[1] == logs[2]
    assert [seq for seq, _ in logs[0]] == list(range(1, last + 1))


async def test_without_redis_edges_refuse_commands_and_catch_up_when_it_returns(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    home, edge = await cluster.session(cluster.home), await cluster.session(cluster.edges[0])
    await enrol(edge, "before")
    redis_server.stop()
    with pytest.raises(ApiError) as refused:
        await enrol(edge, "refused")
    assert refused.value.status == 503
    during = [await enrol(home, f"during {n}") for n in range(3)]  # the home serves its own
    redis_server.start()
    await cluster.edges[0].wait_for("The link between sites is up", 30)
    after = await enrol(edge, "after")
    listed = await home.get("/api/admin/participants")
    assert {p["id"] for p in listed["participants"]} >= {*during, after}
    full = await system_log_at(cluster.home, home)
    last = full[-1][0]
    at_edge = await system_log_at(cluster.edges[0], edge, last)
    assert at_edge == full


async def test_a_dead_home_gets_no_command_acknowledged_and_its_return_resumes_service(
    cluster: Cluster,
) -> None:
    edge = await cluster.session(cluster.edges[1])
    await enrol(edge, "before")
    await cluster.home.kill()
    with pytest.raises(ApiError) as refused:
        await enrol(edge, "while the home is dead")
    assert refused.value.status == 503
    await cluster.home.start()
    after = await enrol(edge, "after")
    listed = await edge.get("/api/admin/participants")
    names = {p["name"] for p in listed["participants"]}
    assert "while the home is dead" not in names
    assert after in {p["id"] for p in listed["participants"]}


async def test_a_killed_edge_rebuilds_from_its_replica_and_the_home(cluster: Cluster) -> None:
    home = await cluster.session(cluster.home)
    edge = cluster.edges[0]
    await enrol(home, "before")
    await edge.kill()
    missed = [await enrol(home, f"missed {n}") for n in range(3)]
    await edge.start()
    at_edge_session = await cluster.session(edge)
    full = await system_log_at(cluster.home, home)
    assert await system_log_at(edge, at_edge_session, full[-1][0]) == full
    listed = await at_edge_session.get("/api/admin/participants")
    assert set(missed) <= {p["id"] for p in listed["participants"]}


async def presence_at(session: Session, node: str) -> list[dict[str, Any]]:
    view = await session.get("/api/presence")
    return [entry for entry in view["online"] if entry["node"] == node]


async def test_the_home_sees_who_is_connected_at_an_edge_come_and_go(cluster: Cluster) -> None:
    at_home = await cluster.session(cluster.home)
    edge = cluster.edges[0]
    edge_id = node_id_of(await edge.key())
    at_edge = await cluster.session(edge)
    assert await presence_at(at_home, edge_id) == []
    async with asyncio.timeout(30):
        async with LiveFeed(f"ws://127.0.0.1:{edge.port}/ws", at_edge.token) as feed:
            await feed.subscribe(SYSTEM_STREAM)
            # Presence is in Redis, another process: polled, briefly, within the bound.
            while not (entries := await presence_at(at_home, edge_id)):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            (entry,) = entries
            assert (entry["participant"], entry["role"], entry["site"]) == (
                cluster.admin, "admin", "venue-1"
            )  # fmt: skip
        while await presence_at(at_home, edge_id):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
