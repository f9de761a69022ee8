"""The supervisor's console (远程监控窗口) in a real Chromium, on one running tender: the feed of
its streams with filters, alerts as they happen (a failed login, a wrong decryption key, an
objection), presence per site, and every chain verified in the page; a chain that does not
hold is caught by the page's own check."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from playwright.async_api import Page, WebSocketRoute, expect

from evaluator_client import bidding
from recordings.verify_bundle import verify_bundle
from server.domain.access import Role
from tests.media_peers import PatternVideo, ToneAudio
from tests.server.media.test_hub import Channels, published_tender, wait_for
from tests.server.transport.evaluation_world import build_evaluation
from tests.server.transport.opening_world import World, build_world
from tests.server.transport.test_evaluation import sheet
from tests.server.transport.test_opening import decrypt, refusal, to_opening
from tests.server.transport.test_ws import open_live

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from server.config import Settings
    from tests.conftest import Harness, Person
    from tests.pages.conftest import Web

POLL_MS = 12_000  # the console reads presence every 4 s; a loaded machine may take longer
XSS = '<img src=x id=pwned onerror="document.body.dataset.pwned=1">'


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Short recording segments, so that a few seconds of the host's desk close several.
    return dataclasses.replace(settings, recording_segment_seconds=1.0)


@pytest.fixture
async def world(harness: Harness, tmp_path: Path) -> AsyncIterator[World]:
    built = await build_world(harness, tmp_path, count=3)
    yield built
    await built.close()


async def console(
    web: Web, supervisor: Person, *, phone: bool = False, path: str = "/supervisor"
) -> Page:
    page = await web.page(phone=phone)
    await page.goto(web.url(path))
    await web.login(page, supervisor)
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return page


async def head(harness: Harness, stream: str) -> int:
    return (await harness.node.store.head(stream)).seq


async def fail_a_login(harness: Harness, claimed: str) -> None:
    """A login answer with a signature that is not the participant's: refused, on record."""
    challenge = await harness.post_ok("/api/auth/challenge", {"participant": claimed})
    answer = {
        "challenge": challenge["challenge"], "participant": claimed,
        "time": "2026-11-21T09:00:00Z", "signature": "A" * 86,
    }  # fmt: skip
    status, _ = await harness.call("POST", "/api/auth/login", body=answer)
    assert status == 401


async def test_a_supervisor_follows_a_tender_sees_alerts_and_verified_chains(
    web: Web, world: World
) -> None:
    harness, tender = web.harness, world.tender
    supervisor = await harness.person(Role.SUPERVISOR, "监督员 王")
    page = await console(web, supervisor)
    card = page.locator(f'.tender-card[data-tender="{tender}"]')
    await expect(card.locator(".chain-tender")).to_contain_text(
        f"已校验至 #{await head(harness, tender)}，签名树头已核验至 #"
    )
    await expect(card.locator(".chain-box")).to_contain_text(
        f"已校验至 #{await head(harness, tender + '-box')}"
    )
    await expect(page.locator("#system-chain")).to_have_attribute("data-chain", "verified")

    # The feed of the bid box, narrowed to the bids: three submissions, nothing else.
    await page.locator("#filter-stream").select_option(f"{tender}-box")
    await page.locator("#filter-type").fill("bid.")
    rows = page.locator("#feed-list .feed-row")
    await expect(rows).to_have_count(3)
    for row in await rows.all():
        await expect(row).to_have_attribute("data-type", "bid.submitted")
    await web.screenshot(page, "feed-filtered")

    # A failed login, made through the API: a refusal alert, live.
    await fail_a_login(harness, "p-intruder01")
    refused = page.locator('#alert-list .alert[data-kind="refusal"]', has_text="p-intruder01")
    await expect(refused).to_have_count(1)

    # The opening: a wrong key, then an objection, each an alert as it happens.
    await to_opening(world)
    assert await refusal(decrypt(world, world.bidders[0], bytes(32))) == (422, "WrongFileKey")
    failed = page.locator('#alert-list .alert[data-kind="decryption"]')
    await expect(failed).to_have_count(1)
    await expect(failed).to_contain_text(world.bidders[0].person.participant.name)
    for bidder in world.bidders:
        await decrypt(world, bidder)
    await harness.post_ok(f"/api/tenders/{tender}/opening/record", {}, world.host)
    await bidding.object_to(world.bidders[1].session, tender, f"报价有误 {XSS}")
    objection = page.locator('#alert-list .alert[data-kind="objection"]')
    await expect(objection).to_contain_text("报价有误 <img")  # shown as text, never as markup
    await expect(page.locator("#pwned")).to_have_count(0)
    await expect(card.locator(".phase")).to_have_text("已唱标")
    await expect(card.locator(".chain-tender")).to_contain_text(
        f"已校验至 #{await head(harness, tender)}"
    )
    await page.locator("#filter-stream").select_option(tender)
    await page.locator("#filter-type").fill("opening.objection")
    await expect(rows).to_have_count(1)
    await web.screenshot(page, "alerts")
    assert await page.evaluate("() => document.body.dataset.pwned") is None


async def test_presence_per_site_and_a_broken_chain_is_caught(web: Web, world: World) -> None:
    harness = web.harness
    supervisor = await harness.person(Role.SUPERVISOR, "监督员 李")
    host_live = await open_live(harness, await harness.login(world.host))
    try:
        page = await console(web, supervisor, phone=True, path=f"/supervisor/{world.tender}")
        await expect(page.locator("#filter-stream")).to_have_value(world.tender)
        site = page.locator('#presence-list .site[data-site="main"]')
        for person in (world.host, supervisor):
            entry = site.locator(f'[data-participant="{person.id}"]')
            await expect(entry).to_have_count(1, timeout=POLL_MS)
        await web.screenshot(page, "presence-phone")
        await page.locator("#lang-switch").click()
        await expect(page.locator("#presence h2")).to_have_text("Presence by site")
        await expect(site.locator("h3")).to_have_text("Site main: 2 online")
        await web.screenshot(page, "presence-phone-english")
        await page.locator("#lang-switch").click()
    finally:
        await host_live.close()
    # Presence is read again every few seconds: the host's closed connection leaves the list.
    host_entry = site.locator(f'[data-participant="{world.host.id}"]')
    await expect(host_entry).to_have_count(0, timeout=POLL_MS)

    # The bundle, exported from the tender's card: it verifies with no server, and the tree
    # heads the export signed reach the page and are checked there too.
    card = page.locator(f'.tender-card[data-tender="{world.tender}"]')
    async with page.expect_download() as download:
        await card.locator("button.export").click()
    saved = await (await download.value).path()
    lines = (await asyncio.to_thread(saved.read_text, encoding="utf-8")).splitlines(True)
    assert verify_bundle(lines).failures == []
    tender_head = await head(harness, world.tender)
    await expect(card.locator(".chain-tender")).to_contain_text(
        f"已校验至 #{tender_head}，签名树头已核验至 #{tender_head - 1}"
    )

    # The page's own check, fed the tender's log as the node sent it, then altered records.
    path = f"/api/tenders/{world.tender}/events?after_seq=0&limit=1000"
    status, events = await harness.call("GET", path, supervisor)
    assert status == 200
    key = (await harness.call("GET", "/api/node"))[1]["public_key"]
    verdicts: dict[str, Any] = await page.evaluate(CHECK, {"events": events["events"], "key": key})
    size = len(events["events"])
    assert verdicts["honest"] == {"verified": size, "failed": None, "reason": None}
    assert verdicts["altered"] == {"verified": 1, "failed": 2, "reason": "altered"}
    assert verdicts["removed"] == {"verified": 1, "failed": 3, "reason": "gap"}
    assert verdicts["relinked"]["reason"] == "link"
    first = verdicts["head"]  # the first signed tree head
    assert verdicts["root"] == {"verified": first - 1, "failed": first, "reason": "tree_head"}
    assert verdicts["signature"] == {"verified": first - 1, "failed": first, "reason": "signature"}


async def test_a_supervisor_watches_a_room_its_flags_and_an_expert_leaving(
    web: Web, tmp_path: Path
) -> None:
    ev = await build_evaluation(web.harness, tmp_path)
    try:
        await ev.draw()
        await ev.start()
        rooms = await ev.seated()
        ids = [r.session.participant for r in rooms]
        page = await console(web, ev.supervisor)
        await ev.elect(rooms, ids[1])
        await ev.comply(rooms)
        bidders = [b.id for b in ev.world.bidders]
        for i, room in enumerate(rooms):  # member 0 scores bidder 1 abnormally low
            for bidder in bidders:
                low = (i, bidder) == (0, bidders[0])
                await room.score(bidder, sheet(i, T1="5", T2="3") if low else sheet(i), "按细则")
        for room in rooms:
            await room.wait_stage("scoring", 2)
        flagged = page.locator('#alert-list .alert[data-kind="flags"]')
        await expect(flagged).to_contain_text("标段 L1 第 1 轮评分有 1 处预警")

        # The room as the supervisor sees it: the stage, the members by name and seat.
        card = page.locator(f'.tender-card[data-tender="{ev.tender}"]')
        await card.locator('.room[data-lot="L1"] button').click()
        panel = page.locator("#room")
        await expect(panel.locator(".room-stage")).to_contain_text("详细评审（第 2 轮）")
        await expect(panel.locator(".members tbody tr")).to_have_count(5)
        leader = ev.experts[ids[1]].participant.name
        await expect(panel.locator(f'tr[data-expert="{ids[1]}"]')).to_contain_text(leader)
        await expect(panel.locator(".warn")).to_have_text("评分预警 1 处")
        scorer = ev.experts[ids[0]].participant.name
        await expect(panel.locator(".room-flags li")).to_contain_text(f"{scorer} 对 投标人1")

        # An expert's workstation drops out: on record, and an alert.
        await rooms[2].close()
        gone = ev.experts[ids[2]].participant.name
        offline = page.locator('#alert-list .alert[data-kind="offline"]')
        await expect(offline).to_contain_text(gone)
        await web.screenshot(page, "room-and-alerts")
        # A whole opening and evaluation so far, every kind of record: the chain holds.
        await expect(card.locator(".chain-tender")).to_contain_text(
            f"已校验至 #{await head(web.harness, ev.tender)}，签名树头已核验至 #"
        )
        await expect(page.locator("#system-chain")).to_have_attribute("data-chain", "verified")
        assert await page.locator('#alert-list .alert[data-kind="chain"]').count() == 0
    finally:
        await ev.close()


async def test_a_supervisor_watches_the_host_s_desk_live_and_plays_its_recording(
    web: Web,
) -> None:
    harness = web.harness
    channels = Channels(harness)
    try:
        tender, host = await published_tender(harness)
        page = await console(web, await harness.person(Role.SUPERVISOR, "监督员 赵"))
        channel = await channels.open(host)
        desk = await channel.publish(tender, "opening", [PatternVideo(160, 120), ToneAudio()])
        tile = page.locator(f'.media-tile[data-tender="{tender}"][data-room="opening"]')
        await tile.locator("button.watch").click()
        await page.wait_for_function(DECODED, timeout=20_000)  # the browser decodes the desk
        await web.screenshot(page, "live-desk")
        await wait_for(harness, tender, "media.segment_closed", 2)
        await channel.end(desk)
        await expect(tile).to_have_count(0)  # the desk is gone from the grid when it ends

        card = page.locator(f'.tender-card[data-tender="{tender}"]')
        await card.locator("button.recordings").click()
        video = page.locator('#recordings .recording[data-track="video"]').first
        await video.locator("button.play").click()
        await page.wait_for_function(PLAYABLE, timeout=10_000)
        await web.screenshot(page, "recording")
        reads = await harness.node.store.read(tender)
        assert [r.type for r in reads].count("media.recording_read") == 1  # on record
    finally:
        await channels.close()


DECODED = """() => {
  const video = document.querySelector(".media-tile video");
  return video !== null && video.videoWidth > 0 && video.currentTime > 0;
}"""
PLAYABLE = """() => {
  const player = document.querySelector("#recordings video.recording-player");
  return player !== null && player.src.startsWith("blob:") && player.readyState >= 1;
}"""


async def test_a_record_altered_on_its_way_to_the_page_raises_a_chain_alert(web: Web) -> None:
    harness = web.harness
    tender, _ = await published_tender(harness)
    supervisor = await harness.person(Role.SUPERVISOR, "监督员 钱")
    page = await web.page()

    def relay(route: WebSocketRoute) -> None:
        """Between page and node, one record of the tender altered in flight."""
        server = route.connect_to_server()

        def down(message: str | bytes) -> None:
            data = json.loads(message)
            event = data.get("event") or {}
            if data["type"] == "event" and (event["stream"], event["seq"]) == (tender, 2):
                event["payload"]["forged"] = True
                message = json.dumps(data)
            route.send(message)

        server.on_message(down)
        route.on_message(server.send)

    await page.route_web_socket(re.compile(r"/ws$"), relay)
    await page.goto(web.url("/supervisor"))
    await web.login(page, supervisor)
    card = page.locator(f'.tender-card[data-tender="{tender}"]')
    failed = "链校验失败于 #2：哈希不符（记录被篡改）"
    await expect(card.locator(".chain-tender")).to_have_text(failed)
    await expect(card).to_have_class(re.compile(r"\balarm\b"))
    alert = page.locator('#alert-list .alert[data-kind="chain"]')
    await expect(alert).to_have_count(1)
    await expect(page.locator("#system-chain")).to_have_attribute("data-chain", "verified")
    await web.screenshot(page, "chain-alert")
    # Followed again, the tender's chain is checked anew (the relay alters it again), and the
    # feed and the alerts hold each record once.
    await card.locator("button.unfollow").click()
    await expect(card.locator(".chain-tender")).to_have_text("未跟踪")
    await card.locator("button.follow").click()
    await expect(card.locator(".chain-tender")).to_have_text(failed)
    await expect(
        page.locator(f'#feed-list .feed-row[data-stream="{tender}"][data-seq="1"]')
    ).to_have_count(1)
    await expect(alert).to_have_count(2)
    await page.locator("#lang-switch").click()
    await expect(alert.first).to_contain_text(f"{tender}: chain fails at seq 2: hash mismatch")


# Runs in the page: the console's chain module over the events as given, and over copies with
# one record altered, one removed, one re-hashed after its change (its link then breaks), and a
# signed tree head re-hashed after its root or its signature was changed.
CHECK = """
async ({ events, key }) => {
  const { Chain, chainHash, importNodeKey } = await import("/static/js/supervisor/chain.js");
  const nodeKey = await importNodeKey(key);
  const run = async (list) => {
    const chain = new Chain(list[0].event.stream, null, nodeKey);
    for (const { event, hash } of list) await chain.add(event, hash);
    const { verified, failed, reason } = chain.state;
    return { verified, failed, reason };
  };
  const copy = () => structuredClone(events);
  const altered = copy();
  altered[1].event.payload = { ...altered[1].event.payload, forged: true };
  const removed = copy();
  removed.splice(1, 1);
  const relinked = copy();
  relinked[1].event.time = "2026-11-21T09:00:00.000001Z";
  relinked[1].hash = await chainHash(relinked[1].event);
  const head = events.findIndex(({ event }) => event.type === "audit.tree_head");
  const forge = async (change) => {
    const list = copy().slice(0, head + 1);
    change(list[head].event.payload);
    list[head].hash = await chainHash(list[head].event);
    return run(list);
  };
  return {
    honest: await run(events), altered: await run(altered),
    removed: await run(removed), relinked: await run(relinked), head: head + 1,
    root: await forge((p) => { p.tree_head.root = "00".repeat(32); }),
    signature: await forge((p) => { p.signature = p.signature.split("").reverse().join(""); }),
  };
}
"""
