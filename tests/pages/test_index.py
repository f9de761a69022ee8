"""The landing page and the hall's live picture in a real Chromium: the public finds a live
tender on `/`, enters its hall as a visitor, watches the host's desk over WebRTC, and has no
action to take; the hall reads in Chinese first and in English at a click, on a phone too."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playwright.async_api import expect

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
