"""The live hub: role-filtered fan-out of committed events, with resume by sequence number.

A subscriber is registered with its stream's channel before its replay starts. From then
on every commit reaches it either through the store read (committed before the read) or
through its pending buffer (published after registration); it keeps only records past the
last sequence number it has sent, so nothing is lost and nothing is sent twice. If the
buffer overflows during a long replay it is dropped and the replay simply reads further:
everything published was committed first.

Live delivery encodes each event once into a WebSocket frame and writes those bytes to
every subscriber that may see it; nothing is encoded per client.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, Protocol

from server.protocol import CaughtUp, event_frame_text, server_message_json
from server.protocol.frames import text_frame

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from recordings.audit import AuditRecord
    from server.bus.base import Bus, Subscription as BusSubscription
    from server.storage.base import EventStore

logger = logging.getLogger(__name__)

REPLAY_PAGE: Final = 500
# Live events held for one subscriber while its replay runs; past this, read the store.
PENDING_LIMIT: Final = 2000


class Sink(Protocol):
    """The outbound side of one client connection."""

    @property
    def audiences(self) -> frozenset[str]: ...

    async def send_text(self, text: str) -> None:
        """Send with flow control (used for replay)."""
        ...

    def write_frame(self, frame: bytes) -> None:
        """Write a ready frame now; a sink that falls too far behind evicts itself."""
        ...


class Subscriber:
    __slots__ = ("after_seq", "last_seq", "overflowed", "pending", "replaying", "sink", "stream")

    def __init__(self, sink: Sink, stream: str, after_seq: int) -> None:
        self.sink = sink
        self.stream = stream
        self.after_seq = after_seq
        self.last_seq = after_seq
        self.replaying = True
        self.overflowed = False
        self.pending: list[AuditRecord] = []

    def deliver(self, record: AuditRecord, frame: bytes) -> None:
        if record.seq <= self.last_seq:
            return
        if self.replaying:
            if self.overflowed:
                return
            if len(self.pending) >= PENDING_LIMIT:
                self.overflowed = True
                self.pending.clear()
            else:
                self.pending.append(record)
            return
        self.last_seq = record.seq
        self.sink.write_frame(frame)

    def go_live(self, store_seq: int) -> None:
        """Flush what arrived during the replay, then switch to direct delivery."""
        self.last_seq = max(self.last_seq, store_seq)
        for record in self.pending:
            if record.seq > self.last_seq:
                self.last_seq = record.seq
                self.sink.write_frame(event_frame(record))
        self.pending.clear()
        self.replaying = False
        caught_up = server_message_json(CaughtUp(tender=self.stream, seq=self.last_seq))
        self.sink.write_frame(text_frame(caught_up.encode()))


def event_frame(record: AuditRecord) -> bytes:
    return text_frame(event_frame_text(record.body, record.hash).encode())


class _Channel:
    """The subscribers of one stream, grouped by audience, and its bus subscription."""

    def __init__(self, stream: str, written: Callable[[AuditRecord], None]) -> None:
        self.stream = stream
        self.written = written
        self.groups: dict[str, dict[Subscriber, None]] = {}
        self.bus_subscription: BusSubscription | None = None
        self.size = 0

    def add(self, subscriber: Subscriber) -> None:
        for audience in subscriber.sink.audiences:
            self.groups.setdefault(audience, {})[subscriber] = None
        self.size += 1

    def remove(self, subscriber: Subscriber) -> bool:
        found = False
        for audience in subscriber.sink.audiences:
            group = self.groups.get(audience)
            if group is not None and subscriber in group:
                del group[subscriber]
                found = True
                if not group:
                    del self.groups[audience]
        self.size -= found
        return found

    def publish(self, stream: str, records: Sequence[AuditRecord]) -> None:
        groups = self.groups
        for record in records:
            frame: bytes | None = None
            for audience in record.visibility:
                group = groups.get(audience)
                if not group:
                    continue
                if frame is None:
                    frame = event_frame(record)
                for subscriber in group:
                    subscriber.deliver(record, frame)
            if frame is not None:
                self.written(record)


def _unobserved(record: AuditRecord) -> None:
    pass


class LiveHub:
    """`written` is told of each record once its frame went to a channel's subscribers (the
    node's fan-out lag metric); it runs on the delivery path and must be quick."""

    def __init__(
        self, store: EventStore, bus: Bus, written: Callable[[AuditRecord], None] = _unobserved
    ) -> None:
        self._store = store
        self._bus = bus
        self._written = written
        self._channels: dict[str, _Channel] = {}

    def total_subscribers(self) -> int:
        """Subscriptions held now, over every stream."""
        return sum(channel.size for channel in self._channels.values())

    def subscribers(self, stream: str) -> int:
        channel = self._channels.get(stream)
        return 0 if channel is None else channel.size

    async def subscribe(self, sink: Sink, stream: str, after_seq: int) -> Subscriber:
        """Replay what `sink` may see after `after_seq`, then keep it live. Returns when live."""
        subscriber = Subscriber(sink, stream, after_seq)
        channel = self._channels.get(stream)
        if channel is None:
            channel = self._channels[stream] = _Channel(stream, self._written)
            channel.bus_subscription = self._bus.subscribe(stream, channel.publish)
        channel.add(subscriber)
        try:
            await self._replay(subscriber)
        except BaseException:
            self.unsubscribe(subscriber)
            raise
        return subscriber

    async def _replay(self, subscriber: Subscriber) -> None:
        audiences = subscriber.sink.audiences
        last = subscriber.after_seq
        while True:
            page = await self._store.read(subscriber.stream, last, REPLAY_PAGE)
            for record in page:
                if record.visibility & audiences:
                    await subscriber.sink.send_text(event_frame_text(record.body, record.hash))
            if page:
                last = page[-1].seq
            if len(page) == REPLAY_PAGE:
                continue
            if subscriber.overflowed:
                subscriber.overflowed = False  # what it missed is in the store now: read on
                continue
            break
        # No await from here on: the switch to live can't interleave with a publication.
        subscriber.go_live(last)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        channel = self._channels.get(subscriber.stream)
        if channel is None or not channel.remove(subscriber):
            return
        if channel.size == 0:
            del self._channels[subscriber.stream]
            if channel.bus_subscription is not None:
                channel.bus_subscription.close()
