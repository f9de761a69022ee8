"""A real headless Chromium watches the opening: its own WebRTC stack decodes the host's
picture (issue 12: `getStats` framesDecoded > 0).

The browser is the Debian `chromium` (scripts/setup installs it), driven by Playwright; no
browser is ever downloaded. The page is a blank one with a script of its own (the browser
pages are a later issue): it speaks the live channel's JSON itself, offers recvonly video and
audio with every ICE candidate gathered (the node takes no trickle), and polls the peer
connection's statistics until a video frame is decoded, then ends its session as a page
should. Chromium hides its host addresses behind mDNS names unless told not to; aiortc can't
resolve those (it could only learn the address from Chromium's own checks), hence the flag.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.async_api import async_playwright

from evaluator_client.media import MediaChannel
from server.domain.access import Role
from server.transport.app_keys import media_key
from tests.media_peers import PatternVideo, ToneAudio
from tests.server.media.test_hub import published_tender, records, wait_for

if TYPE_CHECKING:
    from tests.conftest import Harness, Person

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--disable-features=WebRtcHideLocalIpsWithMdns"]
DECODE_MS = 12_000  # the page's own bound on connecting and decoding a first frame
TIMEOUT = 20.0

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM} (scripts/setup --dev installs it)"
)

# Runs in the page: auth, a recvonly offer without trickle, media_watch, getStats until the
# inbound video has decoded a frame, then media_close. A failure throws with what went wrong.
WATCH = """
async ({url, token, tender, decodeMs, quit}) => {
  const ws = new WebSocket(url);
  const inbox = [];
  let wake = () => {};
  ws.onmessage = (event) => { inbox.push(JSON.parse(event.data)); wake(); };
  const closed = new Promise((_, fail) => {
    ws.onclose = (event) => fail(new Error(`live channel closed: ${event.code}`));
  });
  closed.catch(() => {});
  const next = async (type) => {
    for (;;) {
      const message = inbox.shift();
      if (message === undefined) {
        await Promise.race([new Promise((ok) => { wake = ok; }), closed]);
      } else if (message.type === "error") {
        throw new Error(`${message.code}: ${message.message}`);
      } else if (message.type === type) {
        return message;
      }
    }
  };
  await Promise.race([new Promise((ok) => { ws.onopen = ok; }), closed]);
  ws.send(JSON.stringify({v: 1, type: "auth", token}));
  await next("welcome");

  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", {direction: "recvonly"});
  pc.addTransceiver("audio", {direction: "recvonly"});
  const gathered = new Promise((ok) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") ok();
    });
  });
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== "complete") await gathered;
  ws.send(JSON.stringify({
    v: 1, type: "media_watch", id: "w1",
    tender, room: "opening", source: "host", sdp: pc.localDescription.sdp,
  }));
  const answer = await next("media_answer");
  await pc.setRemoteDescription({type: "answer", sdp: answer.sdp});

  const until = Date.now() + decodeMs;
  let seen = null;
  while (seen === null) {
    const inbound = {};
    for (const report of (await pc.getStats()).values()) {
      if (report.type === "inbound-rtp") inbound[report.kind] = report;
    }
    const video = inbound.video;
    if (video && video.framesDecoded > 0) {
      seen = {
        session: answer.session,
        framesDecoded: video.framesDecoded,
        width: video.frameWidth,
        height: video.frameHeight,
        audioPackets: inbound.audio ? inbound.audio.packetsReceived : 0,
        connection: pc.connectionState,
      };
    } else if (Date.now() > until) {
      throw new Error(`no video frame decoded; connection ${pc.connectionState}`);
    } else {
      await new Promise((ok) => setTimeout(ok, 100));
    }
  }

  if (quit) return seen;  // the tab is closed without a word: the browser drops everything

  // Leave as a page should: end the session, then close the channel and wait for the node's
  // side of the close handshake. (A browser that just quits drops the socket at once; the
  // aiohttp test server then cancels the node's handler, cleanup included.)
  ws.send(JSON.stringify({v: 1, type: "media_close", id: "c1", session: answer.session}));
  seen.ended = (await next("media_ended")).reason;
  pc.close();
  ws.onclose = null;
  await new Promise((ok) => { ws.onclose = ok; ws.close(1000); });
  return seen;
}
"""


async def watch_in_chromium(
    harness: Harness, visitor: Person, tender: str, *, abandon: bool = False
) -> dict[str, Any]:
    """What the page's script returns once Chromium has decoded the opening's video."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        try:
            page = await browser.new_page()
            arguments = {
                "url": harness.ws_url, "token": visitor.token, "tender": tender,
                "decodeMs": DECODE_MS, "quit": abandon,
            }  # fmt: skip
            result: dict[str, Any] = await page.evaluate(WATCH, arguments)
            return result
        finally:
            await browser.close()


async def test_a_headless_chromium_decodes_the_opening_s_picture(harness: Harness) -> None:
    tender, host = await published_tender(harness)
    visitor = await harness.person(Role.PUBLIC, "访客 Visitor")

    async def token() -> str:
        return host.token

    async with MediaChannel(harness.ws_url, token) as desk:
        await desk.publish(tender, "opening", [PatternVideo(320, 240), ToneAudio()])
        async with asyncio.timeout(TIMEOUT):
            seen = await watch_in_chromium(harness, visitor, tender)
        assert seen["framesDecoded"] > 0
        assert (seen["width"], seen["height"]) == (320, 240)
        assert seen["audioPackets"] > 0
        assert seen["connection"] == "connected"

        started = await records(harness, tender, "media.session_started")
        watchers = [r.payload for r in started if r.payload["direction"] == "watch"]
        assert [(p["participant"], p["session"]) for p in watchers] == [
            (visitor.id, seen["session"])
        ]
        # The page ended its session: on record, and the host's goes on.
        assert seen["ended"] == "closed"
        ended = await wait_for(harness, tender, "media.session_ended")
        assert [(r.payload["session"], r.payload["reason"]) for r in ended] == [
            (seen["session"], "closed")
        ]


async def test_a_browser_that_just_quits_has_its_session_ended_on_record(harness: Harness) -> None:
    tender, host = await published_tender(harness)
    visitor = await harness.person(Role.PUBLIC, "访客 Visitor")

    async def token() -> str:
        return host.token

    async with MediaChannel(harness.ws_url, token) as desk:
        await desk.publish(tender, "opening", [PatternVideo(320, 240)])
        async with asyncio.timeout(TIMEOUT):
            seen = await watch_in_chromium(harness, visitor, tender, abandon=True)
        assert seen["framesDecoded"] > 0
        # The socket dropped at once (the test server even cancels the node's handler): the
        # session still ends, on record, and nothing of it stays.
        ended = await wait_for(harness, tender, "media.session_ended")
        assert [r.payload["session"] for r in ended] == [seen["session"]]
        assert ended[0].payload["reason"] in ("channel_closed", "peer_closed")
        assert harness.client.app[media_key].sessions == 1  # the host's desk only
