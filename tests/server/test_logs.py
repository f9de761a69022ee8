"""JSON log lines (server/logs.py): fields, context from the task, one line per record."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import TYPE_CHECKING

import pytest
from aiohttp import web

from server import logs
from server.transport import ops_routes

if TYPE_CHECKING:
    from tests.conftest import AiohttpClient


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("server.test", logging.INFO, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def formatted(made: logging.LogRecord) -> dict[str, object]:
    text = logs.JSONFormatter().format(made)
    assert "\n" not in text
    document: dict[str, object] = json.loads(text)
    return document


async def test_a_line_names_the_connection_and_tender_of_its_task() -> None:
    async def in_connection() -> dict[str, object]:
        logs.bind_connection(7)
        logs.bind_tender("T-2026-001")
        # A task started by the connection's task carries its context along.
        return await asyncio.create_task(asyncio.sleep(0, formatted(record("Acted %s", "x"))))

    line = await asyncio.create_task(in_connection())
    assert line["message"] == "Acted x"
    assert line["connection"] == "7"
    assert line["tender"] == "T-2026-001"
    assert line["logger"] == "server.test"
    assert line["level"] == "INFO"
    assert str(line["time"]).endswith("+00:00")
    outside = formatted(record("Elsewhere"))  # this task never bound either
    assert "connection" not in outside
    assert "tender" not in outside


def test_an_adapters_connection_and_a_traceback_are_kept_on_one_line() -> None:
    try:
        raise ValueError("first\nsecond")
    except ValueError:
        made = record("Failed", connection=12)
        made.exc_info = sys.exc_info()
    line = formatted(made)
    assert line["connection"] == "12"
    assert "ValueError: first\nsecond" in str(line["exception"])
    assert formatted(record("中文 message"))["message"] == "中文 message"


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="json, text"):
        logs.configure("INFO", "xml")


class Lines(logging.Handler):
    """Keeps each record as the JSON formatter writes it."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logs.JSONFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


async def test_a_request_about_a_tender_names_it_in_its_lines(
    aiohttp_client: AiohttpClient,
) -> None:
    said = logging.getLogger("server.test.request")

    async def handler(request: web.Request) -> web.Response:
        said.warning("Handling %s", request.path)
        return web.Response(text="ok")

    app = web.Application(middlewares=[ops_routes.log_context])
    app.router.add_get("/api/tenders/{tender}/thing", handler)
    app.router.add_get("/api/node", handler)
    client = await aiohttp_client(app)
    lines = Lines()
    said.addHandler(lines)
    try:
        # One keep-alive connection: the second request must not inherit the first's tender.
        assert (await client.get("/api/tenders/T-9/thing")).status == 200
        assert (await client.get("/api/node")).status == 200
    finally:
        said.removeHandler(lines)
    about_tender, about_node = lines.lines
    assert about_tender["tender"] == "T-9"
    assert about_tender["message"] == "Handling /api/tenders/T-9/thing"
    assert "tender" not in about_node
