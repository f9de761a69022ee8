"""The nginx example in front of a real node: TLS, the live channel upgraded through it, an
upload larger than a command's limit streamed, and the client's own address on record because
the node trusts the proxy (deploy/nginx/bidroom.conf, docs/deploy.md section 5)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import ssl
from typing import TYPE_CHECKING

import aiohttp
import pytest

from server.config import Settings
from server.domain.access import Role
from server.protocol import answer_challenge
from server.protocol.times import format_time
from tests.conftest import free_port
from tests.crypto.certs import self_signed

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from tests.conftest import Harness

NGINX = shutil.which("nginx")
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed here")
ROOT_CONF = "deploy/nginx/bidroom.conf"
# The client comes from another loopback address than the proxy's, so the two can be told apart.
CLIENT_ADDRESS = "127.0.0.2"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "node", port=0, trusted_proxies=("127.0.0.1/32",))


def site_config(upstream: int, port: int, redirect: int, cert: Path, key: Path) -> str:
    """The shipped example, on test ports and a test certificate; nothing else changed."""
    from tests.deploy.test_files import DEPLOY

    text = (DEPLOY / "nginx" / "bidroom.conf").read_text(encoding="utf-8")
    text = text.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream};")
    text = re.sub(r"(?m)^\s*listen \[::\].*\n", "", text)
    text = text.replace("listen 443 ssl", f"listen 127.0.0.1:{port} ssl")
    text = text.replace("listen 80;", f"listen 127.0.0.1:{redirect};")
    text = text.replace("/etc/ssl/bidroom/fullchain.pem", str(cert))
    return text.replace("/etc/ssl/bidroom/privkey.pem", str(key))


@pytest.fixture
async def proxy(harness: Harness, tmp_path: Path) -> AsyncIterator[tuple[str, ssl.SSLContext]]:
    """nginx serving the example in the foreground; ready once it says its workers started."""
    assert NGINX is not None
    cert, key = self_signed(tmp_path)
    port = free_port()
    upstream = harness.client.port
    assert upstream is not None
    site = tmp_path / "bidroom.conf"
    site.write_text(site_config(upstream, port, free_port(), cert, key), encoding="utf-8")
    temp = " ".join(f"{kind}_temp_path {tmp_path}/{kind};" for kind in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))  # fmt: skip
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"daemon off; pid {tmp_path}/nginx.pid; error_log stderr notice;\nevents {{}}\n"
        f"http {{ access_log off; {temp} include {site}; }}\n",
        encoding="utf-8",
    )
    process = await asyncio.create_subprocess_exec(
        NGINX, "-p", str(tmp_path), "-c", str(conf), "-e", "stderr",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    seen: list[bytes] = []
    async with asyncio.timeout(15):
        while b"start worker process" not in (line := await process.stderr.readline()):
            assert line, f"nginx ended: {b''.join(seen).decode()}"
            seen.append(line)
    drain = asyncio.create_task(process.stderr.read())  # keep its log from filling the pipe
    context = ssl.create_default_context(cafile=str(cert))
    try:
        yield f"https://127.0.0.1:{port}", context
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 15)
        await drain


async def pieces(count: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"\0" * size


async def test_through_the_proxy_example(
    harness: Harness, proxy: tuple[str, ssl.SSLContext]
) -> None:
    base, context = proxy
    connector = aiohttp.TCPConnector(ssl=context, local_addr=(CLIENT_ADDRESS, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 200
            assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        # The node serves its metrics (to the private network); the proxy keeps them in.
        async with harness.client.get("/metrics") as response:
            assert response.status == 200
        async with http.get(f"{base}/metrics") as response:
            assert response.status == 404

        # A login through the proxy is recorded with the client's address, not the proxy's.
        bidder = await harness.enroll(Role.BIDDER, "投标人 bidder")
        async with http.post(f"{base}/api/auth/challenge", json={"participant": bidder.id}) as r:
            challenge = await r.json()
        answer = answer_challenge(challenge, bidder.key, format_time(harness.clock.now()))
        async with http.post(f"{base}/api/auth/login", json=answer) as response:
            assert response.status == 200, await response.text()
            token = (await response.json())["token"]
        records = await harness.node.store.read("system")
        login = [r for r in records if r.type == "participant.logged_in"][-1]
        assert login.address == CLIENT_ADDRESS

        # The live channel is upgraded through the proxy and answers.
        async with http.ws_connect(f"{base.replace('https', 'wss')}/ws") as ws:
            await ws.send_str(json.dumps({"v": 1, "type": "auth", "token": token, "id": "a1"}))
            async with asyncio.timeout(10):
                welcome = json.loads(await ws.receive_str())
            assert (welcome["type"], welcome["participant"]) == ("welcome", bidder.id)

        # Upload bytes beyond a command's size pass the proxy and reach the node, which answers
        # for them itself (here: no such upload) instead of nginx refusing them as too large.
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"}
        path = f"{base}/api/uploads/{'u' * 22}?offset=0"
        async with http.put(path, data=pieces(12, 256 * 1024), headers=headers) as response:
            assert response.status != 413
            assert "error" in await response.json()
