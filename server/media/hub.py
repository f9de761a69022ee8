"""The node's live media (docs/media.md): sessions, sources, the opening's stage, recordings.

A client asks for a session on its live channel with a complete SDP offer. The hub checks the
offer (server/media/offers.py), has the grant decided and recorded on the command path
(service/media.py: the home decides, even for an edge), then answers with aiortc. A publisher's
tracks become `Source`s, encoded once for every viewer (server/media/relay.py) and recorded
in segments (recordings/segments.py), each closed segment on record. The opening has a
`Stage` per tender: the host's camera, and the program audio (the host's microphone mixed with
the spoken 唱标, server/media/speech.py), which every watcher of the opening receives.

Everything a session holds (peer connection, viewers, sources, tasks) is let go when it ends,
whatever ends it: the client, its live channel, its peer, ICE that never completes, the source
it watches, or the node stopping. Each end is one `media.session_ended` record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final, NoReturn, Protocol

import av
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from recordings.segments import (
    Encoding as SegmentEncoding,
    TrackRecorder,
    describe,
    on_disk,
    recover,
    remove,
)
from recordings.vocabulary import EventType
from server.domain.access import Action
from server.domain.media import HOST_SOURCE, NODE_SOURCE, OPENING_ROOM, PROGRAM_SOURCE
from server.domain.media_events import (
    RecordingsExpired,
    RecordSpoken,
    SegmentClosed,
    SegmentCut,
    SessionEnded,
)
from server.errors import MediaRefused
from server.media.directory import Alone
from server.media.offers import AUDIO_CODEC, VIDEO_CODEC, BadOffer, Offer, check_offer
from server.media.relay import Source
from server.media.speech import ProgramAudio, SpeechError, spoken_text, synthesize
from server.protocol import MediaAnswer
from server.service.commands import Command
from server.service.media import media_body, node_actor, record_body

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Coroutine, Sequence
    from datetime import datetime
    from pathlib import Path

    from recordings.audit import AuditRecord
    from recordings.segments import Segment
    from server.bus.base import Subscription
    from server.domain.access import Actor
    from server.domain.events import DomainEvent
    from server.media.directory import Cascade, Directory, Upstream
    from server.media.relay import Viewer
    from server.media.speech import Speech
    from server.service.node import Node

logger = logging.getLogger(__name__)

# Tracks a publisher may send: camera, microphone, and a screen.
MAX_PUBLISHED_TRACKS: Final = 3
# A keyframe at least this often (or once a segment, if segments are shorter): a late viewer
# and a segment both start at one.
KEYFRAME_INTERVAL: Final = 4.0
# How often expired recordings are looked for.
RETENTION_SWEEP_SECONDS: Final = 3600.0


class Owner(Protocol):
    """Who holds sessions: a live connection, told when one of them ends."""

    def media_ended(self, session: str, reason: str) -> None: ...


@dataclass(eq=False)
class Session:
    """One granted session and everything it holds."""

    id: str
    owner: Owner
    actor: Actor
    tender: str
    room: str
    source: str
    direction: str
    pc: RTCPeerConnection
    sources: list[Source] = field(default_factory=list)
    tracks: list[MediaStreamTrack] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    ended: bool = False

    @property
    def packets(self) -> int:
        """Packets published (a publisher's sources) or delivered (a watcher's tracks)."""
        sent = sum(int(getattr(track, "delivered", 0)) for track in self.tracks)
        return sent + sum(source.packets for source in self.sources)


class VideoSlot(MediaStreamTrack):
    """A watcher's video at the opening: whatever the host's camera is, as it comes and goes.

    The stage's video source may start after the watcher joined, or change when the host
    publishes again; the slot follows it, and its timestamps go on from where they were so
    that the watcher's decoder sees one stream.
    """

    kind = "video"

    def __init__(self, stage: Stage) -> None:
        super().__init__()
        self._stage = stage
        self._viewer: Viewer | None = None
        self._from: Source | None = None
        self._offset = 0
        self._last = -1
        self._base: int | None = None
        self.delivered = 0

    async def recv(self) -> av.Packet[Any]:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            source = self._stage.video
            if source is None or source.ended:
                await self._stage.video_changed()
                continue
            viewer = self._viewer
            if source is not self._from or viewer is None:
                viewer = self._switch(source)
            try:
                packet = await viewer.recv()
            except MediaStreamError:
                self._viewer = None
                continue
            return self._restamped(packet)

    def _switch(self, source: Source) -> Viewer:
        if self._viewer is not None:
            self._viewer.stop()
        viewer = source.subscribe()
        self._from, self._viewer, self._base = source, viewer, None
        return viewer

    def _restamped(self, packet: av.Packet[Any]) -> av.Packet[Any]:
        pts = packet.pts or 0
        if self._base is None:  # the first packet of this source follows the last one sent
            self._base = pts
            self._offset = self._last + 3000 - pts if self._last >= 0 else 0
        out = av.Packet(bytes(packet))
        out.pts = out.dts = pts + self._offset
        out.time_base = packet.time_base
        out.is_keyframe = packet.is_keyframe
        self._last = out.pts
        self.delivered += 1
        return out

    def stop(self) -> None:
        if self._viewer is not None:
            self._viewer.stop()
            self._viewer = None
        super().stop()


class Stage:
    """A tender's opening on this node: the host's camera and the program audio."""

    def __init__(self, tender: str) -> None:
        self.tender = tender
        self.program = ProgramAudio()
        self.audio = Source(self.program, name=f"{tender}/{OPENING_ROOM}/{PROGRAM_SOURCE}")
        self.video: Source | None = None
        self.sessions: set[str] = set()
        self.subscription: Subscription | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

    async def video_changed(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    def show(self, video: Source | None) -> None:
        self.video = video
        self._changed.set()

    async def close(self) -> None:
        if self.subscription is not None:
            self.subscription.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.audio.stop()
        self.program.stop()
        self.show(None)


class MediaHub:
    """Every media session of this node (docs/media.md)."""

    def __init__(
        self, node: Node, directory: Directory | None = None, cascade: Cascade | None = None
    ) -> None:
        self._node = node
        # Where sources of other nodes are, and how to watch them (docs/media.md section 9).
        self._directory: Directory = directory if directory is not None else Alone()
        self._cascade = cascade
        self._upstreams: dict[tuple[str, str, str], Upstream] = {}
        self._settings = node.settings
        self._root: Path = node.settings.recordings_dir
        self._actor = node_actor(node.id, node.settings.site)
        self._sessions: dict[str, Session] = {}
        # Live sources by (tender, room, source, kind).
        self._live: dict[tuple[str, str, str, str], Source] = {}
        self._stages: dict[str, Stage] = {}
        self._recorders: set[asyncio.Task[None]] = set()
        self._cleanups: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._closing = False

    # Lifecycle.

    async def start(self) -> None:
        """Log the segments a crash cut short, and any the log missed; start the retention
        sweep."""
        await asyncio.to_thread(self._root.mkdir, parents=True, exist_ok=True)
        await self.recover()
        self._sweeper = asyncio.create_task(self._sweep(), name="recordings retention")

    async def recover(self) -> None:
        """Record what a crash left: segments cut short (`.part`), and complete segments the
        log does not name (the node stopped between closing one and recording it)."""
        for segment in await asyncio.to_thread(recover, self._root):
            await self._record_segment(segment)
        names = await asyncio.to_thread(on_disk, self._root)
        listed: dict[str, set[str]] = {}
        for name in names:
            tender = name.split("/", 1)[0]
            if tender not in listed:
                listed[tender] = {r.name for r in await self._node.media.listed(tender)}
            if name not in listed[tender]:
                await self._record_segment(await asyncio.to_thread(describe, self._root, name))

    async def close(self) -> None:
        """End every session; recorders close their last segments (and record them)."""
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._cleanups:
            await asyncio.gather(*self._cleanups, return_exceptions=True)
        for session in list(self._sessions.values()):
            await self.end(session.id, "node_stopping")
        for stage in list(self._stages.values()):
            await self._drop_stage(stage)
        for place in list(self._upstreams):
            await self._drop_upstream(*place)
        await self._directory.close()
        if self._recorders:
            await asyncio.gather(*self._recorders, return_exceptions=True)

    async def settled(self) -> None:
        """Wait until every recorder running now has closed its last segment, on record."""
        while self._recorders:
            await asyncio.gather(*self._recorders, return_exceptions=True)

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    # Sessions.

    async def publish(
        self, owner: Owner, actor: Actor, tender: str, room: str, sdp: str
    ) -> MediaAnswer:
        offer = self._checked(owner, sdp, publish=True)
        session_id = _session_id()
        granted = await self._grant(
            Action.PUBLISH_MEDIA, actor, tender, room, "", session_id, live=False
        )
        source = str(granted["source"])
        for old in list(self._sessions.values()):
            if old.direction == "publish" and (old.tender, old.room, old.source) == (
                tender, room, source,
            ):  # fmt: skip
                await self.end(old.id, "replaced")  # one publisher per source
        session = self._open(session_id, owner, actor, tender, room, source, "publish")
        try:
            pc = session.pc
            pc.on("track", lambda track: self._published(session, track))
            await pc.setRemoteDescription(RTCSessionDescription(offer.sdp, "offer"))
            answer = await self._answer(session)
        except Exception as exc:
            await self._failed(session, exc)
        return MediaAnswer(session.id, room, source, answer)

    async def watch(
        self, owner: Owner, actor: Actor, tender: str, room: str, source: str, sdp: str
    ) -> MediaAnswer:
        offer = self._checked(owner, sdp, publish=False)
        here = room == OPENING_ROOM or self._is_live(tender, room, source)
        elsewhere = None if here else await self._elsewhere(tender, room, source)
        session_id = _session_id()
        live = here or elsewhere is not None
        await self._grant(Action.WATCH_MEDIA, actor, tender, room, source, session_id, live=live)
        session = self._open(session_id, owner, actor, tender, room, source, "watch")
        try:
            if elsewhere is not None and not self._is_live(tender, room, source):
                await self._relay(tender, room, source, elsewhere)
            elif room == OPENING_ROOM:
                await self._host_elsewhere(tender)
            await session.pc.setRemoteDescription(RTCSessionDescription(offer.sdp, "offer"))
            for transceiver in session.pc.getTransceivers():
                track = self._viewer_track(session, transceiver.kind)
                if track is None:
                    continue
                session.tracks.append(track)
                wanted = VIDEO_CODEC if transceiver.kind == "video" else AUDIO_CODEC
                codecs = RTCRtpSender.getCapabilities(transceiver.kind).codecs
                transceiver.setCodecPreferences([c for c in codecs if c.mimeType == wanted])
                session.pc.addTrack(track)
            answer = await self._answer(session)
        except Exception as exc:
            await self._failed(session, exc)
        return MediaAnswer(session.id, room, source, answer)

    async def _failed(self, session: Session, exc: Exception) -> NoReturn:
        """aiortc could not take the offer or make an answer: the session ends, refused."""
        logger.info("Media session %s could not be negotiated: %s", session.id, type(exc).__name__)
        await self.end(session.id, "negotiation_failed", notify=False)
        if isinstance(exc, MediaRefused):
            raise exc
        raise MediaRefused("invalid_request", "The offer could not be negotiated.") from exc

    # Sources of other nodes (docs/media.md section 9).

    def _forget(self, relay: Source) -> None:
        """`relay` is no longer live here."""
        for key, live in list(self._live.items()):
            if live is relay:
                del self._live[key]

    def _is_live(self, tender: str, room: str, source: str) -> bool:
        return any((tender, room, source, kind) in self._live for kind in ("video", "audio"))

    async def _elsewhere(self, tender: str, room: str, source: str) -> str | None:
        if self._cascade is None:
            return None
        return await self._directory.find(tender, room, source)

    async def _upstream(self, url: str, tender: str, room: str, source: str) -> Upstream:
        if self._cascade is None:  # pragma: no cover - _elsewhere found nothing then
            raise MediaRefused("unavailable", "This node watches no other node.")
        try:
            return await self._cascade.watch(url, tender, room, source)
        except Exception as exc:
            logger.warning("Could not watch %s/%s/%s at %s: %s", tender, room, source, url, exc)
            raise MediaRefused(
                "unavailable", "The node where this source is published could not be reached."
            ) from exc

    async def _relay(self, tender: str, room: str, source: str, url: str) -> None:
        """Watch a room's source at the node publishing it; its tracks become sources here."""
        upstream = await self._upstream(url, tender, room, source)
        self._upstreams[(tender, room, source)] = upstream
        relayed = []
        for kind, track in upstream.received.items():
            relay = Source(track, name=f"{tender}/{room}/{source}/{kind} (relayed)")
            relay.start()
            self._live[(tender, room, source, kind)] = relay
            relayed.append(relay)
        _spawn(self._relayed(tender, room, source, upstream, relayed), self._cleanups)

    async def _relayed(
        self, tender: str, room: str, source: str, upstream: Upstream, relayed: list[Source]
    ) -> None:
        """When the upstream ends, its sources here end, and so do their watchers."""
        with contextlib.suppress(asyncio.CancelledError):
            await upstream.ended
        await self._drop_upstream(tender, room, source)
        for relay in relayed:
            self._forget(relay)
            await relay.stop()
        for other in list(self._sessions.values()):
            if (other.tender, other.room, other.source) == (tender, room, source):
                await self.end(other.id, "source_ended")

    async def _drop_upstream(self, tender: str, room: str, source: str) -> None:
        upstream = self._upstreams.pop((tender, room, source), None)
        if upstream is not None:
            await upstream.close()

    async def _host_elsewhere(self, tender: str) -> None:
        """The opening's host publishing at another node: shown on this node's stage."""
        stage = self._stage(tender)
        if stage.video is not None or (tender, OPENING_ROOM, HOST_SOURCE) in self._upstreams:
            return
        url = await self._elsewhere(tender, OPENING_ROOM, HOST_SOURCE)
        if url is None:
            return
        try:
            upstream = await self._upstream(url, tender, OPENING_ROOM, HOST_SOURCE)
        except MediaRefused:
            return  # the watcher still gets the program audio; the host may come here
        self._upstreams[(tender, OPENING_ROOM, HOST_SOURCE)] = upstream
        video = upstream.received.get("video")
        relay = None
        if video is not None:
            relay = Source(video, name=f"{tender}/{OPENING_ROOM}/{HOST_SOURCE}/video (relayed)")
            relay.start()
            stage.show(relay)
        if (audio := upstream.received.get("audio")) is not None:
            stage.program.attach(audio)
        _spawn(self._host_gone(stage, upstream, relay), stage.tasks)

    async def _host_gone(self, stage: Stage, upstream: Upstream, relay: Source | None) -> None:
        try:
            await upstream.ended
        finally:
            if relay is not None:
                if stage.video is relay:
                    stage.show(None)
                await relay.stop()
            await asyncio.shield(self._drop_upstream(stage.tender, OPENING_ROOM, HOST_SOURCE))

    async def close_session(self, owner: Owner, session_id: str) -> None:
        session = self._sessions.get(session_id)
        if session is None or session.owner is not owner:
            raise MediaRefused("not_found", f"There is no media session {session_id} of yours.")
        await self.end(session_id, "closed")

    def owner_left(self, owner: Owner) -> None:
        """The owner's live channel closed: its sessions end with it, in a task of the hub's
        own, so that a handler cancelled as its client drops can't cut the cleanup short."""
        sessions = [s.id for s in self._sessions.values() if s.owner is owner]
        if sessions:
            _spawn(self._end_all(sessions, "channel_closed"), self._cleanups)

    async def _end_all(self, sessions: list[str], reason: str) -> None:
        for session in sessions:
            await self.end(session, reason, notify=False)

    async def end(self, session_id: str, reason: str, *, notify: bool = True) -> None:
        """End a session and let go of all it holds; recorded once."""
        session = self._sessions.pop(session_id, None)
        if session is None or session.ended:
            return
        session.ended = True
        for task in session.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        for track in session.tracks:
            track.stop()
        for source in session.sources:
            self._forget(source)
            stage = self._stages.get(session.tender)
            if stage is not None and stage.video is source:
                stage.show(None)
            if stage is not None and session.room == OPENING_ROOM and source.kind == "audio":
                stage.program.detach()
            await source.stop()
        # Shielded: a cancelled second closer would cancel aiortc's own "closed" future.
        await asyncio.shield(session.pc.close())
        place = (session.tender, session.room, session.source)
        if session.direction == "publish":
            if not self._is_live(*place):
                await self._directory.withdraw(*place)
            if session.room != OPENING_ROOM:
                for other in list(self._sessions.values()):
                    if (other.tender, other.room, other.source) == place:
                        await self.end(other.id, "source_ended")
        elif (
            place in self._upstreams
            and session.room != OPENING_ROOM
            and not any(
                (other.tender, other.room, other.source) == place
                for other in self._sessions.values()
            )
        ):
            await self._drop_upstream(*place)  # its last watcher here left
        packets = session.packets
        ended = SessionEnded(session.id, reason, packets, self._node.clock.now())
        await self._record(session.tender, ended)
        if notify:
            session.owner.media_ended(session.id, reason)
        stage = self._stages.get(session.tender)
        if stage is not None:
            stage.sessions.discard(session.id)
            if not stage.sessions and not stage.tasks:
                await self._drop_stage(stage)

    def _checked(self, owner: Owner, sdp: str, *, publish: bool) -> Offer:
        if self._closing:
            raise MediaRefused("unavailable", "The node is stopping.")
        held = sum(1 for s in self._sessions.values() if s.owner is owner)
        if held >= self._settings.media_sessions_per_connection:
            raise MediaRefused("too_many_sessions", "Close a media session first.")
        if len(self._sessions) >= self._settings.max_media_sessions:
            raise MediaRefused("node_full", "This node serves no more media sessions now.")
        try:
            return check_offer(
                sdp, publish=publish, max_bytes=self._settings.max_sdp_bytes,
                max_tracks=MAX_PUBLISHED_TRACKS if publish else 2,
            )  # fmt: skip
        except BadOffer as exc:
            raise MediaRefused(exc.code, str(exc)) from None

    async def _grant(
        self, action: Action, actor: Actor, tender: str, room: str, source: str, session: str,
        *, live: bool,
    ) -> dict[str, Any]:  # fmt: skip
        body = media_body(session, room, source, live=live)
        command = Command(action, actor, self._node.clock.now(), tender, body=body)
        granted: dict[str, Any] = await self._node.submit(command)
        return granted

    def _open(
        self, session_id: str, owner: Owner, actor: Actor, tender: str, room: str, source: str,
        direction: str,
    ) -> Session:  # fmt: skip
        servers = [RTCIceServer(urls=url) for url in self._settings.ice_servers]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        session = Session(session_id, owner, actor, tender, room, source, direction, pc)
        self._sessions[session_id] = session
        if room == OPENING_ROOM:
            self._stage(tender).sessions.add(session_id)

        @pc.on("connectionstatechange")
        async def changed() -> None:
            if pc.connectionState in ("failed", "closed") and not session.ended:
                reason = "ice_failed" if pc.connectionState == "failed" else "peer_closed"
                await self.end(session_id, reason)

        session.tasks.append(asyncio.create_task(self._connect_deadline(session)))
        return session

    async def _connect_deadline(self, session: Session) -> None:
        await asyncio.sleep(self._settings.media_connect_timeout_seconds)
        if session.pc.connectionState != "connected" and not session.ended:
            await self.end(session.id, "ice_failed")

    async def _answer(self, session: Session) -> str:
        await session.pc.setLocalDescription(await session.pc.createAnswer())
        return session.pc.localDescription.sdp

    # Publishing.

    def _published(self, session: Session, track: MediaStreamTrack) -> None:
        """A publisher's track arrived: encode it once, show it, record it."""
        kind = track.kind
        if kind not in ("audio", "video") or session.ended:
            return
        if session.room == OPENING_ROOM and kind == "audio":
            # The host's microphone is heard in the program audio, and recorded as such.
            self._stage(session.tender).program.attach(track)
            return
        # A second video track is the screen (docs/media.md section 1).
        cameras = sum(1 for source in session.sources if source.kind == "video")
        name = "screen" if kind == "video" and cameras else kind
        source = Source(
            track, name=f"{session.tender}/{session.room}/{session.source}/{name}",
            keyframe_interval=min(KEYFRAME_INTERVAL, self._settings.recording_segment_seconds),
        )  # fmt: skip
        source.start()
        session.sources.append(source)
        self._live[(session.tender, session.room, session.source, name)] = source
        announce = self._directory.announce(session.tender, session.room, session.source)
        _spawn(announce, self._cleanups)
        if session.room == OPENING_ROOM and name == "video":
            self._stage(session.tender).show(source)
        self._recording(session.tender, session.room, session.source, name, source)

    def _stage(self, tender: str) -> Stage:
        stage = self._stages.get(tender)
        if stage is None:
            stage = self._stages[tender] = Stage(tender)
            stage.audio.start()
            stage.subscription = self._node.bus.subscribe(tender, self._heard)
            # The program is recorded as heard: the host's microphone and the 唱标 in it.
            self._recording(tender, OPENING_ROOM, PROGRAM_SOURCE, "audio", stage.audio)
        return stage

    async def _drop_stage(self, stage: Stage) -> None:
        if self._stages.get(stage.tender) is stage:
            del self._stages[stage.tender]
        await stage.close()

    def _viewer_track(self, session: Session, kind: str) -> MediaStreamTrack | None:
        if session.room == OPENING_ROOM:
            stage = self._stage(session.tender)
            return VideoSlot(stage) if kind == "video" else stage.audio.subscribe()
        source = self._live.get((session.tender, session.room, session.source, kind))
        return None if source is None else source.subscribe()

    # Recording.

    def _recording(self, tender: str, room: str, source: str, track: str, relay: Source) -> None:
        _spawn(self._record_track(tender, room, source, track, relay), self._recorders)

    async def _record_track(
        self, tender: str, room: str, source: str, track: str, relay: Source
    ) -> None:
        tap = relay.tap()
        try:
            first = await tap.recv()
        except MediaStreamError:
            return  # nothing was published
        encoding = relay.encoding
        if encoding is None:  # pragma: no cover - known once a packet exists
            return
        recorder = TrackRecorder(
            self._root, tender, room, source, track, encoding=encoding.recorded(),
            segment_seconds=self._settings.recording_segment_seconds,
            on_closed=self._record_segment, clock=self._node.clock.now,
        )  # fmt: skip
        try:
            await recorder.run(_packets(first, tap))
        except Exception:
            logger.exception("Recording of %s/%s/%s/%s failed", tender, room, source, track)
        finally:
            tap.stop()

    async def _record_segment(self, segment: Segment) -> None:
        tender, room, source, track = segment.name.split("/")[:4]
        cls = SegmentClosed if segment.complete else SegmentCut
        event = cls(
            segment.name, room, source, track, segment.index, segment.sha256, segment.size,
            segment.duration_ms, segment.started, segment.ended, segment.packets,
            segment.codec, self._node.id,
        )  # fmt: skip
        await self._record(tender, event)

    async def _record(self, tender: str, event: DomainEvent) -> None:
        """Record what this node says of its media; a failure is logged, never raised."""
        command = Command(
            Action.RECORD_MEDIA, self._actor, self._node.clock.now(), tender,
            body=record_body(event),
        )  # fmt: skip
        try:
            await self._node.submit(command)
        except Exception:
            logger.warning("Could not record %s for %s", event.TYPE, tender, exc_info=True)

    # The voice 唱标.

    def _heard(self, stream: str, records: Sequence[AuditRecord]) -> None:
        stage = self._stages.get(stream)
        if stage is None:
            return
        for record in records:
            if record.type == EventType.OPENING_RECORD_PUBLISHED:
                _spawn(self._speak(stage, dict(record.payload)), stage.tasks)

    async def _speak(self, stage: Stage, payload: dict[str, Any]) -> None:
        try:
            await self._say(stage, payload)
        finally:
            stage.tasks.discard(asyncio.current_task())
            if not stage.sessions and not stage.tasks and not self._closing:
                await self._drop_stage(stage)

    async def _labels(self, tender: str) -> dict[str, str]:
        """The opening sheet's own labels for its fields, as the tender spec gives them."""
        aggregate = await self._node.ledger.load(tender)
        spec = getattr(aggregate, "spec", None)
        fields = spec.opening.sheet_fields if spec is not None else ()
        return {field.name: field.label for field in fields}

    async def _say(self, stage: Stage, payload: dict[str, Any]) -> None:
        record_hash = str(payload.get("record_hash", ""))
        now = self._node.clock.now
        try:
            text = spoken_text(payload.get("record") or {}, await self._labels(stage.tender))
            speech = await synthesize(text, voice=self._settings.speech_voice)
        except SpeechError as exc:
            logger.warning("The opening record of %s could not be spoken: %s", stage.tender, exc)
            failed = RecordSpoken(record_hash, False, "", "", 0, "espeak-ng", "", str(exc), now())
            await self._record(stage.tender, failed)
            return
        spoken = stage.program.say(speech)
        await self._record_speech(stage.tender, speech)
        said = RecordSpoken(
            record_hash, True, speech.text_sha256, speech.audio_sha256, speech.duration_ms,
            speech.engine, speech.voice, "", now(),
        )  # fmt: skip
        await self._record(stage.tender, said)
        await spoken

    async def _record_speech(self, tender: str, speech: Speech) -> None:
        """The spoken 唱标 as a recording of its own: exactly the audio that was said."""
        packets = await asyncio.to_thread(_opus_packets, speech)
        encoding = SegmentEncoding.opus(speech.sample_rate, speech.channels)
        recorder = TrackRecorder(
            self._root, tender, OPENING_ROOM, NODE_SOURCE, "speech", encoding=encoding,
            segment_seconds=max(self._settings.recording_segment_seconds, 3600.0),
            on_closed=self._record_segment, clock=self._node.clock.now,
        )  # fmt: skip
        await recorder.run(_iterate(packets))

    # Retention.

    async def _sweep(self) -> None:
        while True:
            try:
                await self.expire(self._node.clock.now())
            except Exception:
                logger.warning("The recordings retention sweep failed", exc_info=True)
            await asyncio.sleep(RETENTION_SWEEP_SECONDS)

    async def expire(self, now: datetime) -> list[str]:
        """Remove this node's segments past retention; record which. Returns their names."""
        cutoff = now - timedelta(days=self._settings.recording_retention_days)
        removed: list[str] = []
        for tender in await asyncio.to_thread(_tenders_recorded, self._root):
            listed = await self._node.media.listed(tender)
            due = [
                r.name for r in listed
                if r.node == self._node.id and not r.expired and r.ended < cutoff
            ]  # fmt: skip
            if not due:
                continue
            gone = await asyncio.to_thread(remove, self._root, due)
            await self._record(tender, RecordingsExpired(tuple(due), self._node.id, now))
            removed.extend(gone)
        return removed


def _tenders_recorded(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def _session_id() -> str:
    return "m-" + secrets.token_urlsafe(12)


async def _packets(first: av.Packet[Any], tap: Viewer) -> AsyncIterator[av.Packet[Any]]:
    yield first
    async for packet in tap.packets():
        yield packet


def _spawn(work: Coroutine[Any, Any, None], into: set[asyncio.Task[None]]) -> None:
    """Run `work` in a task held in `into` while it runs (so that it can be awaited or
    cancelled with the others there)."""
    task = asyncio.create_task(work)
    into.add(task)
    task.add_done_callback(into.discard)


async def _iterate(packets: list[av.Packet[Any]]) -> AsyncIterator[av.Packet[Any]]:
    for packet in packets:
        yield packet


def _opus_packets(speech: Speech) -> list[av.Packet[Any]]:
    """Encode the speech's PCM with Opus, 20 ms a packet, timestamps from 0."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = speech.sample_rate
    codec.layout = "stereo" if speech.channels == 2 else "mono"
    codec.format = "s16"
    codec.time_base = Fraction(1, speech.sample_rate)
    step = 960 * speech.channels * 2
    packets: list[av.Packet[Any]] = []
    for index, start in enumerate(range(0, len(speech.pcm), step)):
        chunk = speech.pcm[start : start + step].ljust(step, b"\0")
        frame = av.AudioFrame(format="s16", layout=codec.layout, samples=960)
        frame.planes[0].update(chunk)
        frame.sample_rate = speech.sample_rate
        frame.pts = index * 960
        frame.time_base = codec.time_base
        packets.extend(codec.encode(frame))
    packets.extend(codec.encode(None))
    return packets
