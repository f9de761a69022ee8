"""Unexpected failures: logged once with a traceback, 500 or close 1011, nothing leaked."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import pytest
from websockets.asyncio.client import connect

from server.app import create_app
from server.domain.access import Role
from server.protocol import CloseCode
from server.storage.memory import MemoryEventStore
from tests.conftest import AiohttpClient, Harness, ManualClock
from tests.server.transport.test_ws import closed_with, open_live, receive, send

if TYPE_CHECKING:
    from recordings.audit import AuditRecord
    from server.config import Settings


class BrokenReads(MemoryEventStore):
    """Reads of tender streams fail with a bug-like error once `broken` is set."""

    broken = False

    async def read(self, stream: str, after_seq: int = 0, limit: int = 1000) -> list[AuditRecord]:
        if self.broken and stream != "system":
            raise RuntimeError("secret internal detail")
        return await super().read(stream, after_seq, limit)


@pytest.fixture
async def broken(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> tuple[Harness, BrokenReads]:
    store = BrokenReads()
    app = create_app(settings, store=store, clock=clock, schedule=False)
    return Harness(await aiohttp_client(app), clock), store


async def test_an_unexpected_error_is_a_bare_500(
    broken: tuple[Harness, BrokenReads], caplog: pytest.LogCaptureFixture
) -> None:
    harness, store = broken
    supervisor = await harness.person(Role.SUPERVISOR)
    host = await harness.person(Role.HOST)
    tender_id = await harness.tender(host)
    store.broken = True
    with caplog.at_level(logging.ERROR):
        status, body = await harness.call("GET", f"/api/tenders/{tender_id}/events", supervisor)
    assert (status, body) == (500, {"error": {"code": "internal", "message": "Internal error."}})
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
    assert "secret internal detail" not in json.dumps(body)


async def test_an_unexpected_error_on_the_live_channel_closes_1011(
    broken: tuple[Harness, BrokenReads], caplog: pytest.LogCaptureFixture
) -> None:
    harness, store = broken
    supervisor = await harness.person(Role.SUPERVISOR)
    tender_id = await harness.tender(await harness.person(Role.HOST))
    ws = await open_live(harness, supervisor)
    store.broken = True
    with caplog.at_level(logging.ERROR):
        await send(ws, type="subscribe", tender=tender_id)
        assert (await receive(ws))["type"] == "subscribed"
        assert await closed_with(ws) == CloseCode.INTERNAL_ERROR
    assert any(r.exc_info for r in caplog.records if r.levelno == logging.ERROR)


async def test_other_connections_survive_one_failing(
    broken: tuple[Harness, BrokenReads],
) -> None:
    harness, store = broken
    supervisor = await harness.person(Role.SUPERVISOR)
    tender_id = await harness.tender(await harness.person(Role.HOST))
    async with connect(harness.ws_url, additional_headers=supervisor.headers) as healthy:
        assert (await receive(healthy))["type"] == "welcome"
        failing = await open_live(harness, supervisor)
        store.broken = True
        await send(failing, type="subscribe", tender=tender_id)
        assert await closed_with(failing) == CloseCode.INTERNAL_ERROR
        await send(healthy, type="ping", id="alive")
        assert (await receive(healthy))["id"] == "alive"
