"""The server side of the fan-out benchmark, in its own process so its CPU can be measured.

Usage: python -m bench._fanout_server MODE     (MODE: bidroom | aiohttp | websockets)
Prints one JSON line {port, token, tender, first_seq}; then reads commands on stdin:
  go COUNT INTERVAL_MS   publish COUNT events; print {"sent": [[seq, ns], ...]}
  cpu                    print {"cpu": seconds of process CPU since `go`}
  quit
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from bench.common import PAYLOAD, records
from crypto import SigningKey
from evaluator_client.session import Session
from server.app import create_app
from server.config import Settings
from server.domain.events import CommandRejected
from server.protocol import event_frame_text
from server.service.node import CONSOLE, Node
from server.transport.app_keys import node_key

BACKLOG = 8192
Publish = Callable[[int], Awaitable[int]]


def frames(count: int) -> list[str]:
    """The baselines send exactly the messages bidroom sends: records of the same size."""
    return [event_frame_text(r.body, r.hash) for r in records("t-fanout", count + 1)][1:]


async def bare_aiohttp(texts: list[str]) -> tuple[dict[str, Any], Publish]:
    clients: set[web.WebSocketResponse] = set()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        clients.add(ws)
        try:
            async for message in ws:
                if message.type is WSMsgType.ERROR:
                    break
        finally:
            clients.discard(ws)
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    port = await _serve(app)

    async def publish(index: int) -> int:
        text = texts[index]
        for ws in list(clients):  # the plain loop: one awaited send_str per client
            await ws.send_str(text)
        return index + 2

    return {"port": port, "token": "", "tender": "", "first_seq": 2}, publish


async def websockets_broadcast(texts: list[str]) -> tuple[dict[str, Any], Publish]:
    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        clients.add(ws)
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass  # load clients hang up without a closing handshake
        finally:
            clients.discard(ws)

    server = await serve(handler, "127.0.0.1", 0, compression=None, backlog=BACKLOG)
    port = next(iter(server.sockets)).getsockname()[1]

    async def publish(index: int) -> int:
        broadcast(clients, texts[index])
        return index + 2

    return {"port": port, "token": "", "tender": "", "first_seq": 2}, publish


async def bidroom(texts: list[str]) -> tuple[dict[str, Any], Publish]:
    data = Path(tempfile.mkdtemp(prefix="bidroom-bench-"))
    settings = Settings(
        data_dir=data, port=0, ws_heartbeat_seconds=300,
        ws_max_connections=100_000, ws_max_connections_per_address=100_000,  # all from 127.0.0.1
    )  # fmt: skip
    app = create_app(settings, schedule=False)
    port = await _serve(app)
    node: Node = app[node_key]
    keys = {role: SigningKey.generate() for role in ("host", "supervisor")}
    people = {
        role: await node.participants.enroll(
            CONSOLE, {"role": role, "name": role, "public_key": key.verify_key.to_text()}
        )
        for role, key in keys.items()
    }
    base = f"http://127.0.0.1:{port}"
    supervisor = await Session.login(base, people["supervisor"].id, keys["supervisor"])
    host = await Session.login(base, people["host"].id, keys["host"])
    spec = json.loads((Path(__file__).parent / "tender.json").read_text(encoding="utf-8"))
    tender = str((await host.post("/api/tenders", spec))["id"])
    await host.close()
    token = await supervisor.token()
    await supervisor.close()
    event = CommandRejected(PAYLOAD["command"], PAYLOAD["rule"], PAYLOAD["reason"])

    async def publish(index: int) -> int:
        records = await node.ledger.execute(tender, node.origin, lambda _: [event])
        return records[0].seq

    return {"port": port, "token": token, "tender": tender, "first_seq": 2}, publish


async def _serve(app: web.Application) -> int:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=BACKLOG)
    await site.start()
    server = site._server
    assert server is not None
    return int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]


async def main(mode: str) -> None:
    texts = frames(1000)
    setup = {"bidroom": bidroom, "aiohttp": bare_aiohttp, "websockets": websockets_broadcast}
    info, publish = await setup[mode](texts)
    print(json.dumps(info), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    cpu_at_go = time.process_time()
    while line := (await reader.readline()).decode().split():
        if line[0] == "go":
            count, interval = int(line[1]), float(line[2]) / 1000
            cpu_at_go = time.process_time()
            sent = []
            for index in range(count):
                started = time.monotonic_ns()
                seq = await publish(index)
                sent.append([seq, started])
                await asyncio.sleep(interval)  # pacing: latency without queueing
            print(json.dumps({"sent": sent}), flush=True)
        elif line[0] == "cpu":
            print(json.dumps({"cpu": time.process_time() - cpu_at_go}), flush=True)
        elif line[0] == "quit":
            return


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(sys.argv[1]))
