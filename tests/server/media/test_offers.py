"""The offers a client may send, checked before any peer connection exists (docs/media.md 3)."""

from __future__ import annotations

import pytest

from server.media.offers import BadOffer, check_offer
from tests.server.media.test_hub import real_offer

LIMITS = {"max_bytes": 32 * 1024, "max_tracks": 3}


async def test_a_publisher_s_camera_screen_and_microphone_pass() -> None:
    offer = check_offer(await real_offer("video", "video", "audio"), publish=True, **LIMITS)
    assert offer.kinds == ("video", "video", "audio")


async def test_a_watcher_receives_one_video_and_one_audio() -> None:
    sdp = await real_offer("video", "audio", direction="recvonly")
    assert check_offer(sdp, publish=False, max_bytes=32 * 1024, max_tracks=2).kinds == (
        "video", "audio",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kinds", "publish", "direction", "code"),
    [
        (("audio", "audio"), True, "sendonly", "invalid_request"),  # two microphones
        (("video", "video"), False, "recvonly", "invalid_request"),  # a watcher's two videos
        (("video",), False, "sendonly", "invalid_request"),  # a watcher that sends
    ],
)
async def test_sections_that_do_not_fit_the_request_are_refused(
    kinds: tuple[str, ...], publish: bool, direction: str, code: str
) -> None:
    sdp = await real_offer(*kinds, direction=direction)
    with pytest.raises(BadOffer) as refused:
        check_offer(sdp, publish=publish, max_bytes=32 * 1024, max_tracks=3)
    assert refused.value.code == code


async def test_an_offer_without_candidates_or_with_a_data_channel_is_refused() -> None:
    sdp = await real_offer("video")
    bare = "".join(line for line in sdp.splitlines(keepends=True) if "candidate" not in line)
    with pytest.raises(BadOffer, match="no trickle"):
        check_offer(bare, publish=True, **LIMITS)
    data = sdp + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
    with pytest.raises(BadOffer, match="audio and video sections only"):
        check_offer(data, publish=True, **LIMITS)
