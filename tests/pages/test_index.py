"""The landing page and the hall's live picture in a real Chromium: the public finds a live
tender on `/`, enters its hall as a visitor, watches the host's desk over WebRTC, and has no
action to take; the hall reads in Chinese first and in English at a click, on a phone too."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playwright.async_api import expect

from crypto import canonical_json, digest, merkle_root
from evaluator_client.media import MediaChannel
from tests.media_peers import PatternVideo, ToneAudio
from tests.server.media.test_hub import published_tender

if TYPE_CHECKING:
    from tests.pages.conftest import Web

VIDEO_TIMEOUT_MS = 20_000  # ICE, DTLS and a first decoded frame on a loaded machine


async def test_the_public_finds_a_tender_and_watches_its_opening(web: Web) -> None:
    harness = web.harness
    tender, host = await published_tender(harness)

    async def token() -> str:
        return host.token

    async with MediaChannel(harness.ws_url, token) as desk:
        await desk.publish(tender, "opening", [PatternVideo(320, 240), ToneAudio()])
        page = await web.page()
        await page.goto(web.url("/"))
        card = page.locator(f'#live-tenders [data-tender="{tender}"]')
        await expect(card.locator(".tender-title")).to_have_text("Street lighting renovation")
        await expect(card.locator(".tender-state")).to_have_text("已发布")
        await expect(card.locator(".tender-countdown")).to_contain_text(":")
        await web.screenshot(page, "01-landing-page")
        await card.locator(".enter-hall").click()
        await page.wait_for_url(web.url(f"/hall/{tender}"))
        await page.locator("#visit").click()
        await expect(page.locator("#tender-title")).to_have_text("Street lighting renovation")
        await expect(page.locator("#countdown-label")).to_have_text("距投标截止（开标）还有")
        await expect(page.locator("#progress-empty")).to_contain_text("投标人名单保密")
        for action in ("#bidder-panel", "#sign-in", "#messages", "#confirm"):
            await expect(page.locator(action)).to_have_count(0)
        # The host's picture, decoded by Chromium's own WebRTC stack.
        await expect(page.locator("#stream-status")).to_have_attribute(
            "data-state", "stream.live", timeout=VIDEO_TIMEOUT_MS
        )
        assert await page.evaluate("document.querySelector('#host-video').videoWidth") == 320
        await web.screenshot(page, "02-visitor-watches-the-host")
        await page.locator("#lang-switch").click()
        await expect(page.locator("#countdown-label")).to_have_text("Until the deadline (opening)")
        await expect(page.locator("#stream-status")).to_have_text("Live")
        await web.screenshot(page, "03-the-hall-in-english")

        phone = await web.page(phone=True)
        await phone.goto(web.url(f"/hall/{tender}"))
        await phone.locator("#visit").click()
        await expect(phone.locator("#countdown-label")).to_have_text("距投标截止（开标）还有")
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width  # one column, nothing wider than the phone's screen
        await web.screenshot(phone, "04-the-hall-on-a-phone")


# The hall's own hashes (hall/verify.js), in the page, against the node's code.
HASHES = """
async ({leaves, record}) => {
  const verify = await import("/static/js/hall/verify.js");
  const encoder = new TextEncoder();
  const roots = [];
  for (let n = 0; n <= leaves.length; n += 1) {
    const bytes = leaves.slice(0, n).map((l) => encoder.encode(l));
    roots.push(verify.hex(await verify.merkleRoot(bytes)));
  }
  return {roots, record: await verify.recordHash(record)};
}
"""


async def test_the_hall_s_hashes_are_the_node_s(web: Web) -> None:
    leaves = [f'{{"bidder":"p-{i:04d}","price":"{i}.00","名称":"投标人{i}"}}' for i in range(9)]
    bids = [{"price": "1.50", "days": 180, "ok": True}]
    record = {"v": 1, "type": "opening-record", "title": "路灯 <b>", "at": "2026-11-22T09:00:00Z",
              "lots": [{"lot": "L1", "bids": bids}]}  # fmt: skip
    page = await web.page()
    await page.goto(web.url("/"))
    await expect(page.locator("#live-tenders")).to_be_visible()
    found = await page.evaluate(HASHES, {"leaves": leaves, "record": record})
    # Every size from the empty tree to nine leaves: the unbalanced splits of RFC 6962 too.
    expected = [merkle_root([leaf.encode() for leaf in leaves[:n]]).hex() for n in range(10)]
    assert found["roots"] == expected
    assert found["record"] == digest("opening-record", canonical_json(record)).hex()
    await expect(page.locator("#no-tenders")).to_have_text("目前没有公开的项目。")
