"""Memory per live connection, plain and TLS, before and after the node's TLS read buffer.

What a connection costs is the growth of the server process's RSS over N real WebSocket
connections (authenticated or not), next to a bare aiohttp WebSocket server measured in the
same run.

TLS rows come twice: with asyncio's default read buffer (256 KiB per connection: what the
node cost before) and with the node's own (one TLS record: what `bidroom serve` sets now).
The clients live in this process; each server runs in its own process, so its RSS is the
connections' cost and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import resource
import ssl
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bench._wsclient import LoadClient
from bench.common import table
from tests.crypto.certs import self_signed

CONNECT_AT_ONCE = 100
WARM_UP = 50


@dataclass(frozen=True)
class Case:
    label: str
    tls: bool
    buffer: str  # asyncio | node
    auth: bool


CASES = (
    Case("plain, unauthenticated", tls=False, buffer="node", auth=False),
    Case("plain, authenticated", tls=False, buffer="node", auth=True),
    Case("TLS, asyncio's buffer (before)", tls=True, buffer="asyncio", auth=False),
    Case("TLS, node's buffer (after)", tls=True, buffer="node", auth=False),
    Case("TLS, node's buffer, authenticated", tls=True, buffer="node", auth=True),
)


def _line(stream: IO[str] | None) -> str:
    assert stream is not None
    line = stream.readline()
    if not line:
        raise RuntimeError("the server process ended without answering")
    return line


class _Server:
    """One server process: its port, a token, and its RSS on demand."""

    def __init__(self, mode: str, tls_dir: Path | None, buffer: str) -> None:
        argv = [mode, str(tls_dir) if tls_dir else "-", buffer]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench._connections_server", *argv],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        info = json.loads(_line(self._process.stdout))
        self.port: int = info["port"]
        self.token: str = info["token"]

    def rss(self) -> int:
        assert self._process.stdin is not None
        self._process.stdin.write("rss\n")
        self._process.stdin.flush()
        return int(json.loads(_line(self._process.stdout))["rss"])

    def stop(self) -> None:
        self._process.kill()
        self._process.__exit__(None, None, None)  # waits, and closes its pipes


async def _open(
    port: int, count: int, opening: list[bytes], context: ssl.SSLContext | None
) -> list[LoadClient]:
    """`count` live connections; with an opening auth message, each has its welcome."""
    loop = asyncio.get_running_loop()
    answered = loop.create_future() if opening else None
    answers = 0

    def on_text(_: bytes) -> None:
        nonlocal answers
        answers += 1
        if answered is not None and answers == count and not answered.done():
            answered.set_result(None)

    limit = asyncio.Semaphore(CONNECT_AT_ONCE)

    async def one() -> LoadClient:
        async with limit:
            _, client = await loop.create_connection(
                lambda: LoadClient("127.0.0.1", port, opening, on_text),
                "127.0.0.1", port, ssl=context,
            )  # fmt: skip
            await client.upgraded
            return client

    clients = await asyncio.gather(*(one() for _ in range(count)))
    if answered is not None:
        await answered
    return clients


async def _close(clients: list[LoadClient]) -> None:
    for client in clients:
        if client.transport is not None:
            client.transport.close()
    await asyncio.gather(*(client.closed for client in clients))


async def _cost(server: _Server, case: Case, count: int, context: ssl.SSLContext | None) -> float:
    """Bytes of server RSS per connection, after a warm-up that fills the allocators' pools."""
    opening = [json.dumps({"v": 1, "type": "auth", "token": server.token}).encode()]
    opening = opening if case.auth else []
    await _close(await _open(server.port, WARM_UP, opening, context))
    before = server.rss()
    clients = await _open(server.port, count, opening, context)
    after = server.rss()
    await _close(clients)
    return (after - before) / count


def measure(case: Case, mode: str, count: int, tls_dir: Path) -> float:
    """Bytes per connection for `case` against the `mode` server (bidroom | aiohttp)."""
    context = None
    if case.tls:
        context = ssl.create_default_context(cafile=str(tls_dir / "cert.pem"))
    server = _Server(mode, tls_dir if case.tls else None, case.buffer)
    try:
        return asyncio.run(_cost(server, case, count, context))
    finally:
        server.stop()


def run(quick: bool = False) -> str:
    count = 200 if quick else 1000
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out = [__doc__.strip().splitlines()[0] if __doc__ else "Connection memory"]
    with tempfile.TemporaryDirectory() as tmp:
        tls_dir = Path(tmp)
        self_signed(tls_dir)
        rows = []
        for case in CASES:
            ours = measure(case, "bidroom", count, tls_dir)
            bare = measure(case, "aiohttp", count, tls_dir) if not case.auth else None
            rows.append([
                case.label,
                f"{ours:,.0f}",
                f"{bare:,.0f}" if bare is not None else "-",
                f"{ours / bare:.2f}x" if bare else "-",
            ])  # fmt: skip
    out.append(f"\n{count:,} connections from one process")
    header = ["connections", "bidroom B/conn", "bare aiohttp B/conn", "bidroom is"]
    out.append(table(rows, header))
    before, after = (float(rows[i][1].replace(",", "")) for i in (2, 3))
    out.append(f"\nTLS: a connection costs {before / after:.1f}x less than before")
    return "\n".join(out)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
