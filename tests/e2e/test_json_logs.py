"""`bidroom serve --log-format json`: one JSON object per line, naming the connection."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import TYPE_CHECKING

from websockets.asyncio.client import connect

from tests.conftest import free_port
from tests.e2e.test_serve import start

if TYPE_CHECKING:
    from pathlib import Path


async def test_serve_writes_json_lines_that_name_the_live_connection(tmp_path: Path) -> None:
    port = free_port()
    node = await start("--data-dir", str(tmp_path / "node"), "--port", str(port),
                       "--log-format", "json")  # fmt: skip
    assert node.stdout is not None
    async with asyncio.timeout(30):
        while b"Running on" not in (line := await node.stdout.readline()):
            assert line, "the node exited before listening"
    async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await ws.send(json.dumps({"v": 1, "type": "ping", "id": "p"}))
        assert json.loads(await ws.recv())["id"] == "p"
    node.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        _, err = await node.communicate()
    assert node.returncode == 0
    lines = [json.loads(text) for text in err.decode().splitlines() if text.strip()]
    assert lines, "the node logged nothing"
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
    opened = [line for line in lines if line["message"].startswith("Live connection opened")]
    closed = [line for line in lines if line["message"].startswith("Live connection closed")]
    assert len(opened) == len(closed) == 1
    assert opened[0]["connection"] == closed[0]["connection"]
    assert opened[0]["logger"] == "server.transport.ws"
    assert any(line["level"] == "WARNING" and "!!!" in line["message"] for line in lines)
