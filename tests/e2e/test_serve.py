"""`bidroom serve` as an operator runs it: HTTPS and WSS with the node's certificate."""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
import sys
from typing import TYPE_CHECKING

import aiohttp
from websockets.asyncio.client import connect

from tests.conftest import free_port
from tests.crypto.certs import self_signed

if TYPE_CHECKING:
    from pathlib import Path


async def start(*argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "serve", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_serve_over_tls_then_stop_cleanly(tmp_path: Path) -> None:
    cert, key = await asyncio.to_thread(self_signed, tmp_path)
    port = free_port()
    node = await start(
        "--data-dir", str(tmp_path / "node"), "--port", str(port),
        "--tls-cert", str(cert), "--tls-key", str(key),
    )  # fmt: skip
    assert node.stdout is not None
    async with asyncio.timeout(30):
        while b"Running on" not in (line := await node.stdout.readline()):
            assert line, "the node exited before listening"
    trust = ssl.create_default_context(cafile=str(cert))
    url = f"https://127.0.0.1:{port}/api/node"
    async with aiohttp.ClientSession() as http, http.get(url, ssl=trust) as response:
        info = await response.json()
    assert info["node"].startswith("n-")
    async with connect(f"wss://127.0.0.1:{port}/ws", ssl=trust) as ws:
        await ws.send(json.dumps({"v": 1, "type": "ping", "id": "over-tls"}))
        assert json.loads(await ws.recv())["id"] == "over-tls"
    node.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        _, err = await node.communicate()
    assert node.returncode == 0
    assert b"will be created without a passphrase" in err  # said out loud at start
    assert (tmp_path / "node" / "keys" / "node.pem").stat().st_mode & 0o777 == 0o600


async def test_serve_refuses_half_a_tls_configuration(tmp_path: Path) -> None:
    cert, _ = await asyncio.to_thread(self_signed, tmp_path)
    node = await start("--data-dir", str(tmp_path), "--tls-cert", str(cert))
    async with asyncio.timeout(30):
        _, err = await node.communicate()
    assert node.returncode == 2
    assert b"tls_cert and tls_key go together" in err
