"""The node's operational face over a real socket: /readyz and /metrics (docs/operations.md)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.app import create_app
from server.domain.access import Action, Role
from tests.conftest import ManualClock
from tests.server.transport.opening_world import build_world
from tests.server.transport.test_opening import decrypt, refusal, to_opening
from tests.server.transport.test_ws import open_live, send, until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from server.config import Settings
    from tests.conftest import AiohttpClient, Harness
    from tests.server.transport.opening_world import World

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(harness: Harness) -> Samples:
    """The node's metrics as Prometheus reads them: (name, sorted labels) -> value."""
    response = await harness.client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_running_node_is_ready(harness: Harness) -> None:
    status, document = await harness.call("GET", "/readyz")
    assert status == 200
    assert document == {
        "status": "ready",
        "checks": {
            "store": {"ok": True},
            "bus": {"ok": True, "kind": "local"},
            "clock": {"ok": True},
        },
    }


async def test_a_store_that_takes_no_writes_makes_the_node_not_ready(harness: Harness) -> None:
    await harness.node.store.close()  # the SQLite writer stops: appends would fail now
    status, document = await harness.call("GET", "/readyz")
    assert status == 503
    assert document["status"] == "not_ready"
    assert document["checks"]["store"] == {
        "ok": False,
        "code": "store_not_writable",
        "message": "事件存储无法写入。The event store can't take writes.",
    }
    assert document["checks"]["bus"]["ok"]
    assert document["checks"]["clock"]["ok"]


async def test_a_clock_reset_to_1970_makes_the_node_not_ready(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    clock = ManualClock(datetime(1970, 1, 1, tzinfo=UTC))
    client = await aiohttp_client(create_app(settings, clock=clock, schedule=False))
    response = await client.get("/readyz")
    document = await response.json()
    assert response.status == 503
    assert document["checks"]["clock"]["code"] == "clock_reset"
    assert document["checks"]["clock"]["ok"] is False
    assert document["checks"]["store"] == {"ok": True}


async def test_metrics_can_be_turned_off(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    quiet = dataclasses.replace(settings, metrics_enabled=False)
    client = await aiohttp_client(create_app(quiet, clock=clock, schedule=False))
    assert (await client.get("/metrics")).status == 404
    assert (await client.get("/readyz")).status == 200


@pytest.fixture
async def world(harness: Harness, tmp_path: Path) -> AsyncIterator[World]:
    built = await build_world(harness, tmp_path)
    yield built
    await built.close()


async def test_metrics_move_with_real_commands(world: World) -> None:
    harness = world.harness
    received = await scrape(harness)
    # Every sealed file arrived whole, once: the upload counter holds exactly their bytes.
    sealed_bytes = sum(bidder.sealed.stat().st_size for bidder in world.bidders)
    assert value(received, "bidroom_upload_bytes_total") == sealed_bytes
    assert value(received, "bidroom_live_connections") == 0

    ws = await open_live(harness, world.host)
    await send(ws, type="subscribe", tender=world.tender, after_seq=0, id="s")
    await until(ws, "caught_up")
    live = await scrape(harness)
    assert value(live, "bidroom_live_connections") == 1
    assert value(live, "bidroom_live_subscribers") == 1
    assert value(live, "bidroom_media_sessions") == 0

    await to_opening(world, signed_in=4)
    late, first = world.bidders[4], world.bidders[0]
    assert await refusal(decrypt(world, late)) == (422, "NotSignedIn")
    assert (await decrypt(world, first))["status"] == "decrypted"
    await until(ws, "event")  # at least one commit went out live while subscribed
    await ws.close()
    after = await scrape(harness)

    action = Action.DECRYPT_BID.value
    assert value(after, "bidroom_commands_total", action=action) == 2
    assert value(after, "bidroom_refusals_total", action=action, reason="NotSignedIn") == 1
    assert value(after, "bidroom_decryptions_total", outcome="opened") == 1
    assert value(after, "bidroom_decrypted_bytes_total") == first.sealed.stat().st_size
    assert value(after, "bidroom_decrypt_seconds_total") > 0
    assert value(after, "bidroom_commit_seconds_count") > value(
        live, "bidroom_commit_seconds_count"
    )
    assert value(after, "bidroom_records_committed_total") >= value(
        after, "bidroom_commit_seconds_count"
    )
    assert value(after, "bidroom_fanout_lag_seconds_count") > 0
    assert value(after, "bidroom_commands_total", action=Action.CREATE_TENDER.value) == 1


async def test_each_node_counts_on_its_own(
    harness: Harness, aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    other_settings = dataclasses.replace(settings, data_dir=settings.data_dir.parent / "other")
    other = await aiohttp_client(create_app(other_settings, clock=clock, schedule=False))
    host = await harness.person(Role.HOST)
    await harness.tender(host)
    assert await harness.refused("POST", "/api/tenders", host, {"title": 7}) == (
        400,
        "invalid_request",
    )
    response = await other.get("/metrics")
    text = await response.text()
    assert 'bidroom_commands_total{action="tender.create"}' not in text
    counted = await scrape(harness)
    create = Action.CREATE_TENDER.value
    assert value(counted, "bidroom_commands_total", action=create) == 2
    assert value(counted, "bidroom_refusals_total", action=create, reason="invalid_request") == 1


async def test_a_cluster_node_checks_redis_and_its_clock_against_redis(
    aiohttp_client: AiohttpClient, settings: Settings, redis_url: str
) -> None:
    cluster = dataclasses.replace(settings, redis_url=redis_url, bus="redis", home=True)
    clock = ManualClock(datetime.now(UTC))
    client = await aiohttp_client(create_app(cluster, clock=clock, schedule=False))
    response = await client.get("/readyz")
    assert response.status == 200, await response.text()
    assert (await response.json())["checks"]["bus"] == {"ok": True, "kind": "redis"}
    clock.advance(cluster.max_clock_skew_seconds + 5)  # this site's clock runs ahead
    response = await client.get("/readyz")
    document = await response.json()
    assert response.status == 503
    assert document["checks"]["clock"]["ok"] is False
    assert document["checks"]["clock"]["code"] == "clock_skew"
    assert document["checks"]["bus"]["ok"]
