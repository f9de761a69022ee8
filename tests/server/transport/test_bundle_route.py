"""A supervisor downloads a tender's audit bundle from the node (GET .../audit/bundle), and it
verifies with no server; no one else gets it (docs/spec/audit-bundle.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recordings.verify_bundle import verify_bundle
from server.domain.access import Role
from tests.server.transport.opening_world import build_world

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Harness


async def test_a_supervisor_downloads_a_bundle_that_verifies(
    harness: Harness, tmp_path: Path
) -> None:
    world = await build_world(harness, tmp_path, count=3)
    try:
        supervisor = await harness.person(Role.SUPERVISOR, "监督员")
        path = f"/api/tenders/{world.tender}/audit/bundle"
        response = await harness.client.get(path, headers=supervisor.headers)
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/jsonl")
        assert f'filename="{world.tender}.bundle.jsonl"' in response.headers["Content-Disposition"]
        lines = (await response.text()).splitlines(keepends=True)
        node_key = (await harness.call("GET", "/api/node"))[1]["public_key"]
        report = verify_bundle(lines, node_key=node_key)
        assert report.failures == []
        assert report.header is not None
        assert report.header["tender"] == world.tender
        assert report.signed_sizes[world.tender + "-box"] > 0  # the bids in the box, signed
        altered = [lines[0], lines[1], *lines[3:]]  # one line less: the bundle no longer checks
        assert verify_bundle(altered, node_key=node_key).failures != []
    finally:
        await world.close()


async def test_no_one_but_supervisors_gets_a_bundle(harness: Harness) -> None:
    host = await harness.person(Role.HOST)
    tender = await harness.tender(host)
    admin = await harness.person(Role.ADMIN)
    bidder = await harness.person(Role.BIDDER)
    path = f"/api/tenders/{tender}/audit/bundle"
    assert await harness.refused("GET", path, host) == (403, "AccessDenied")
    assert await harness.refused("GET", path, bidder) == (403, "AccessDenied")
    # The admin may verify bundles, but not read a tender's bid box.
    assert await harness.refused("GET", path, admin) == (403, "AccessDenied")
    assert await harness.refused("GET", path) == (401, "unauthorized")
    supervisor = await harness.person(Role.SUPERVISOR)
    missing = "/api/tenders/t-20261121-0123456789ab/audit/bundle"
    assert (await harness.refused("GET", missing, supervisor))[0] == 404
    streams = (tender, f"{tender}-box", "system")  # a bidder refused before the deadline: box
    logs = [r for s in streams for r in await harness.node.store.read(s)]
    denied = {r.actor_id for r in logs if r.type == "access.denied"}
    assert denied == {host.id, bidder.id, admin.id}  # each refusal is on record
