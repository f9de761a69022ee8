"""The SDP offers a client may send (docs/media.md section 3), checked before any peer
connection exists: size, syntax, the media sections and their directions, the codecs.

aiortc's own parser reads the text; what it raises on hostile input is not one exception
type, so every failure to parse becomes `BadOffer` here. The offer is never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from aiortc.sdp import SessionDescription

# The codecs the node encodes once and hands to every viewer (docs/media.md section 4).
VIDEO_CODEC: Final = "video/VP8"
AUDIO_CODEC: Final = "audio/opus"
_WANTED: Final = {"video": VIDEO_CODEC, "audio": AUDIO_CODEC}
_SENDS: Final = frozenset({"sendonly", "sendrecv"})
_RECEIVES: Final = frozenset({"recvonly", "sendrecv"})


class BadOffer(ValueError):
    """The offer can't be used; `code` is the channel's error code, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Offer:
    """A checked offer: its text and the kinds of its media sections, in order."""

    sdp: str
    kinds: tuple[str, ...]


def check_offer(sdp: str, *, publish: bool, max_bytes: int, max_tracks: int) -> Offer:
    """The offer, if a publisher (`publish`) or a watcher may send it; else BadOffer."""
    if len(sdp.encode()) > max_bytes:
        raise BadOffer("invalid_request", f"The offer is over {max_bytes} bytes.")
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception:
        raise BadOffer("invalid_message", "The offer is not a valid SDP description.") from None
    media = [m for m in parsed.media if m.kind in _WANTED]
    if len(media) != len(parsed.media) or not media:
        raise BadOffer("invalid_request", "An offer carries audio and video sections only.")
    if len(media) > max_tracks:
        raise BadOffer("invalid_request", f"An offer carries at most {max_tracks} tracks.")
    kinds = sorted(m.kind for m in media)
    if publish and (kinds.count("audio") > 1 or kinds.count("video") > 2):
        raise BadOffer("invalid_request", "Publish a microphone, a camera and a screen at most.")
    if not publish and kinds not in (["video"], ["audio"], ["audio", "video"]):
        raise BadOffer("invalid_request", "Watch with one video and one audio section.")
    for section in media:
        direction = section.direction or "sendrecv"
        if direction not in (_SENDS if publish else _RECEIVES):
            want = "send" if publish else "receive"
            raise BadOffer("invalid_request", f"Every {section.kind} section must {want}.")
        codecs = {codec.mimeType.lower() for codec in section.rtp.codecs}
        if _WANTED[section.kind].lower() not in codecs:
            raise BadOffer(
                "unsupported_media",
                f"The {section.kind} section must offer {_WANTED[section.kind]}.",
            )
    if not any(section.ice_candidates for section in media):
        raise BadOffer("invalid_request", "Gather the ICE candidates before offering (no trickle).")
    return Offer(sdp, tuple(m.kind for m in media))
