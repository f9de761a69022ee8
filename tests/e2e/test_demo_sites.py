"""`bidroom demo --sites 3` as a user runs it: a home and two edges as processes of their own,
a Redis the demo starts and stops itself, the one-node demo's story told across the sites."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from typing import TYPE_CHECKING

import pytest
from redis.asyncio import Redis

from server.cli import demo as demo_command

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(90)


async def test_the_demo_of_three_sites_runs_the_story_across_them_and_verifies(
    tmp_path: Path,
) -> None:
    demo = tmp_path / "demo"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "demo", "--sites", "3", "--data-dir", str(demo),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    text = out.decode()
    assert process.returncode == 0, text[-3000:] + err.decode()[-2000:]
    assert re.search(r"Redis for the demo on redis://127\.0\.0\.1:\d+/0", text)
    assert re.search(r"main +home node listening on http://127\.0\.0\.1:\d+", text)
    for edge in ("venue-2", "venue-3"):
        assert re.search(rf"enrolled node +n-\w+ for {edge} \(node, site={edge}\)", text)
        assert re.search(rf"{edge} +edge node listening on http://127\.0\.0\.1:\d+", text)
        assert re.search(rf"enrolled bidder-\d +p-\w+ at {edge}", text)
    # An edge refuses the bytes of an upload, naming the home; bidders send them there.
    home = re.search(r"main +home node listening on (\S+),", text)
    assert home is not None
    assert (
        f"421 home_only: bid.submit streams a file: send it to the main venue's node at {home[1]}"
        in text
    )
    assert len(re.findall(r"receipt #1 for [\d,]+ bytes.*node signature verified", text)) == 5
    assert re.search(r"bidder-2 +receipt #2", text)
    for rule in ("NotASealedBid", "AccessDenied", "OpeningTimeNotReached"):
        assert f"(rule {rule})" in text
    assert "every bidder found its receipt under the one root" in text
    assert "reconnected 1x" in text  # bidder-1's feed, at an edge
    assert "the final record is signed by the node: verified" in text
    # The experts sit at every site, each acting through its own site's node.
    seated = re.findall(
        r"expert-\d +at (main|venue-2|venue-3)/\S+: check-in and pledge signed", text
    )
    assert len(seated) == 5
    assert set(seated) == {"main", "venue-2", "venue-3"}
    assert "5 signatures, 0 dissents" in text
    # Media at the home only: who sits there publishes and watches, the rest are told so.
    assert "bidder-3 watches opening/host: first picture 320x240 decoded" in text
    at_home = re.findall(r"expert-\d +publishes L1/M-0\d from its workstation", text)
    elsewhere = re.findall(r"expert-\d +at venue-\d: media is at the main venue only", text)
    assert len(at_home) == seated.count("main")
    assert len(elsewhere) == 5 - len(at_home)
    assert f"sessions: {1 + len(at_home)} published, 2 watched, {3 + len(at_home)} ended" in text
    assert re.search(r"唱标 spoken: [1-9]\d*\.\ds", text)
    assert re.search(r"OK +\d+ segments match the hashes in the log", text)
    assert not list((demo / "venue-2" / "recordings").rglob("*.webm"))
    assert "在线 Presence: who was connected at which site" in text
    for site in ("main", "venue-2", "venue-3"):
        assert re.search(rf"\n  {site} +\d+ connected", text)
    assert re.search(r"OK +21 score-sheet signatures", text)
    assert len(re.findall(r"  OK      \S+: \d+ events", text)) == 3
    assert "FAILED" not in text
    assert "audit log verified" in text
    assert not err.strip(), err.decode()[-2000:]
    assert {p.name for p in demo.iterdir()} >= {"main", "venue-2", "venue-3", "redis"}


async def test_the_demo_of_two_sites_on_a_given_redis_keeps_to_keys_of_its_own(
    tmp_path: Path, redis_url: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "demo", "--sites", "2", "--redis", redis_url,
        "--data-dir", str(tmp_path / "demo"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    text = out.decode()
    assert process.returncode == 0, text[-3000:] + err.decode()[-2000:]
    prefix = re.search(
        rf"Redis given: {re.escape(redis_url)}; this demo's keys start with (\S+):", text
    )
    assert prefix is not None
    assert "audit log verified" in text
    client = Redis.from_url(redis_url)
    try:
        keys = [key.decode() async for key in client.scan_iter(count=1000)]
    finally:
        await client.aclose()
    assert keys
    assert all(key.startswith(f"{prefix[1]}:") for key in keys)  # a real cluster's are untouched
    assert not (tmp_path / "demo" / "redis").exists()


async def test_the_demo_of_several_sites_says_plainly_when_redis_server_is_missing(
    tmp_path: Path,
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "demo", "--sites", "3", "--data-dir", str(tmp_path / "d"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PATH": str(tmp_path)},  # no redis-server here
    )  # fmt: skip
    async with asyncio.timeout(30):
        _, err = await process.communicate()
    assert process.returncode != 0
    assert "找不到 redis-server" in err.decode()
    assert "redis-server is not on PATH" in err.decode()


@pytest.mark.parametrize(
    ("sites", "redis", "keep", "opening_in", "said"),
    [
        (1, None, False, 5.0, "--sites needs at least 2"),
        (None, "redis://127.0.0.1:1/0", False, 5.0, "--redis is for"),
        (3, None, True, 5.0, "leave out --sites"),
        (None, None, True, 0.5, "--opening-in takes 1 to 1440 minutes"),
    ],
)
def test_the_demo_refuses_what_it_cannot_run(
    tmp_path: Path, sites: int | None, redis: str | None, keep: bool, opening_in: float, said: str
) -> None:
    args = argparse.Namespace(
        data_dir=tmp_path / "d", sites=sites, redis=redis, keep_serving=keep,
        host="127.0.0.1", port=0, opening_in=opening_in,
    )  # fmt: skip
    with pytest.raises(SystemExit, match=said):
        demo_command.run(args)
