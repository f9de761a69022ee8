"""`bidroom demo --keep-serving`, as a new user runs it: the story, then the node keeps
serving the pages with a staged tender and the key files to sign in as anyone."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import aiohttp

from crypto import SigningKey
from evaluator_client.session import Session
from tests.conftest import free_port

READY = "bidder-1 is yours"


def all_files(*paths: Path) -> bool:
    return all(path.is_file() for path in paths)


async def test_the_demo_keeps_serving_a_staged_tender_with_key_files(tmp_path: Path) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "demo", "--keep-serving", "--port", str(port),
        "--opening-in", "10", "--data-dir", str(tmp_path / "demo"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while READY not in (line := (await process.stdout.readline()).decode()):
                assert line, "the demo ended before serving"
                lines.append(line)
        text = "".join(lines)
        urls = dict(re.findall(r"^  (\S+) .*?(http://\S+)$", text, re.M))
        hall = urls["开标大厅"]
        staged = hall.rsplit("/", 1)[1]
        assert urls["主持人控制台"].endswith(f"/host/{staged}")
        keys = {
            role: Path(path)
            for role, _name, path in re.findall(r"^  (\w+) +(\S+) +(/\S+\.pem)$", text, re.M)
        }
        assert set(keys) >= {"admin", "host", "supervisor", "bidder", "expert", "custodian"}
        sealed = re.search(r"^  sealed bid +bidder-1 +(/\S+\.sealed) ", text, re.M)
        assert sealed is not None
        encryption = keys["bidder"].with_suffix(".encryption.pem")
        assert await asyncio.to_thread(all_files, encryption, Path(sealed[1]))
        async with aiohttp.ClientSession() as http:
            for url in urls.values():
                async with http.get(url) as page:
                    assert page.status == 200, url
                    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        # A key file as printed signs the host in; the staged tender is its to open.
        host = keys["host"]
        async with Session(
            f"http://127.0.0.1:{port}", host.stem, SigningKey.from_pem(host.read_bytes())
        ) as session:
            await session.renew()
            assert session.role == "host"
            opening = await session.get(f"/api/tenders/{staged}/opening")
            assert opening["state"] == "bidding"
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            out, err = await process.communicate()
    assert process.returncode == 0, err.decode()[-2000:]
    assert "audit log verified" in out.decode()
