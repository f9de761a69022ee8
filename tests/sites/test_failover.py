"""A home that dies mid-burst, with PostgreSQL: a standby takes over and nothing that was
acknowledged is lost (docs/sites.md sections 4 and 10).

The home and its standby are one logical node: the same node key and the same bid-file
storage (here one data directory, as a shared volume would be), the same PostgreSQL. The
home is killed with SIGKILL while clients at an edge keep sending commands; every command
that was acknowledged must be in the log the standby serves, and the edge's replica must hold
the same log with no gap.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from crypto import SigningKey
from evaluator_client.errors import ApiError
from evaluator_client.session import Session
from tests.sites.cluster import NodeProcess, enrol_offline
from tests.sites.test_cluster import enrol, system_log_at

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(180)

CLIENTS = 4
BEFORE = 10  # acknowledged commands per client before the home is killed
AFTER = 5  # and after the standby took over


async def test_a_killed_home_fails_over_to_its_standby_with_no_acknowledged_command_lost(
    tmp_path: Path, redis_url: str, postgres_url: str
) -> None:
    shared = ["--redis", redis_url, "--database", postgres_url]
    home = NodeProcess("home", tmp_path / "main", ["--site", "main", "--home", *shared])
    standby = NodeProcess("standby", tmp_path / "main", ["--site", "main", "--home", *shared])
    edge = NodeProcess("edge", tmp_path / "venue-2", ["--site", "venue-2", "--redis", redis_url])
    admin_key = SigningKey.generate()
    admin = await enrol_offline(home.data_dir, "admin", "管理员", admin_key, database=postgres_url)
    edge_key = await edge.key()
    await enrol_offline(
        home.data_dir, "node", "venue-2", edge_key, site="venue-2", database=postgres_url
    )
    sessions: list[Session] = []
    try:
        await home.start()
        await standby.start(ready=False)
        await standby.wait_for("waiting for the home lease")
        await edge.start()
        sessions = [await Session.login(edge.url, admin, admin_key) for _ in range(CLIENTS)]
        acknowledged: list[str] = []
        refusals: list[int] = []
        halfway, killed = asyncio.Event(), asyncio.Event()
        taken_over = asyncio.Event()

        async def client(session: Session, n: int) -> None:
            done_before = done_after = 0
            while done_after < AFTER:
                try:
                    acknowledged.append(await enrol(session, f"client {n} #{len(acknowledged)}"))
                except ApiError as exc:
                    refusals.append(exc.status)  # not acknowledged, and said so
                    if exc.status == 401:  # the token's signer died with its node: log in again
                        await session.renew()
                    continue
                if len(acknowledged) >= CLIENTS * BEFORE // 2:
                    halfway.set()
                if taken_over.is_set():
                    done_after += 1
                else:
                    done_before += 1
                    if done_before >= BEFORE:
                        await killed.wait()  # hold until the home is dead, then go on

        async def kill_mid_burst() -> None:
            await halfway.wait()
            await home.kill()
            killed.set()
            await standby.wait_for("is the home", 60)
            taken_over.set()

        async with asyncio.timeout(150):
            await asyncio.gather(kill_mid_burst(), *(client(s, n) for n, s in enumerate(sessions)))

        listed = await sessions[0].get("/api/admin/participants")
        known = {p["id"] for p in listed["participants"]}
        assert set(acknowledged) <= known, "an acknowledged command was lost"
        assert set(refusals) <= {503, 401}  # unavailable while no home: never a silent loss
        assert len(acknowledged) >= CLIENTS * (BEFORE // 2 + AFTER)
        at_home = await system_log_at(standby, sessions[0])
        at_edge = await system_log_at(edge, sessions[0], at_home[-1][0])
        assert at_edge == at_home
        assert [seq for seq, _ in at_home] == list(range(1, len(at_home) + 1))
    finally:
        for session in sessions:
            await session.close()
        await asyncio.gather(edge.stop(), standby.stop(), home.stop())
