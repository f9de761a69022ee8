"""The server side of the connection-memory benchmark, in its own process so that its RSS is
the connections' cost and nothing else.

Usage: python -m bench._connections_server MODE TLS_DIR|- BUFFER
  MODE     bidroom (the node as `bidroom serve` runs it) | aiohttp (a bare WebSocket server)
  TLS_DIR  a directory with cert.pem and key.pem to serve TLS, or - for plain TCP
  BUFFER   asyncio (its default TLS read buffer) | node (the node's, as `bidroom serve` sets)
Prints one JSON line {port, token}; then answers each line on stdin with {"rss": bytes}.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import ssl
import sys
import tempfile
from pathlib import Path

from aiohttp import WSMsgType, web

from crypto import SigningKey
from evaluator_client.session import Session
from server.app import create_app
from server.config import Settings
from server.service.node import CONSOLE
from server.transport.app_keys import node_key
from server.transport.serving import NodeRunner, trim_tls_buffers

BACKLOG = 4096


def rss_bytes() -> int:
    gc.collect()
    status = Path("/proc/self/status").read_text(encoding="ascii")
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


async def bare_aiohttp() -> web.AppRunner:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type is WSMsgType.ERROR:
                break
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    return runner


async def bidroom() -> web.AppRunner:
    data = Path(tempfile.mkdtemp(prefix="bidroom-bench-"))
    settings = Settings(
        data_dir=data, ws_auth_timeout_seconds=600, ws_max_connections_per_address=100_000,
        ws_max_connections=100_000,
    )  # fmt: skip
    runner = NodeRunner(create_app(settings, schedule=False), settings)
    await runner.setup()
    return runner


async def token_for(runner: web.AppRunner) -> str:
    """Log a supervisor in over a plain site of the same node."""
    plain = web.TCPSite(runner, "127.0.0.1", 0)
    await plain.start()
    node = runner.app[node_key]
    key = SigningKey.generate()
    person = await node.participants.enroll(
        CONSOLE, {"role": "supervisor", "name": "bench", "public_key": key.verify_key.to_text()}
    )
    async with await Session.login(plain.name, person.id, key) as session:
        token = await session.token()
    await plain.stop()
    return token


async def main(mode: str, tls_dir: str, buffer: str) -> None:
    context = None
    if tls_dir != "-":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(Path(tls_dir) / "cert.pem", Path(tls_dir) / "key.pem")
        if buffer == "node":
            trim_tls_buffers()
    runner = await (bidroom() if mode == "bidroom" else bare_aiohttp())
    token = await token_for(runner) if mode == "bidroom" else ""
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context, backlog=BACKLOG)
    await site.start()
    print(json.dumps({"port": runner.addresses[-1][1], "token": token}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.readline():
        print(json.dumps({"rss": rss_bytes()}), flush=True)


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(*sys.argv[1:4]))
