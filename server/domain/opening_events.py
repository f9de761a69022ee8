"""Events of the opening session (不见面开标): who sees each, and what it carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from recordings.vocabulary import EventType
from server.domain.access import Role, participant_audience
from server.domain.codec import row
from server.domain.events import (
    OPENING_AUDIENCE,
    OVERSIGHT,
    PUBLIC,
    STAFF,
    DomainEvent,
    Marker,
)

if TYPE_CHECKING:
    from datetime import datetime


@dataclass(frozen=True, slots=True)
class SignedIn(DomainEvent):
    """A bidder signed in for the opening (签到)."""

    TYPE: ClassVar[str] = EventType.OPENING_SIGNED_IN
    VISIBILITY: ClassVar[frozenset[str]] = STAFF
    bidder: str
    at: datetime

    def visibility(self) -> frozenset[str]:
        return STAFF | {participant_audience(self.bidder)}


@dataclass(frozen=True, slots=True)
class DecryptionStarted(DomainEvent):
    """The bids in the opening, the lots that failed for want of bids, the window's end."""

    TYPE: ClassVar[str] = EventType.OPENING_DECRYPTION_STARTED
    VISIBILITY: ClassVar[frozenset[str]] = OPENING_AUDIENCE
    at: datetime
    ends_at: datetime
    bids: tuple[tuple[str, str], ...] = field(metadata=row("lot", "bidder"))
    failed_lots: tuple[tuple[str, str], ...] = field(metadata=row("lot", "reason"))


@dataclass(frozen=True, slots=True)
class DecryptionPaused(DomainEvent):
    TYPE: ClassVar[str] = EventType.OPENING_DECRYPTION_PAUSED
    VISIBILITY: ClassVar[frozenset[str]] = OPENING_AUDIENCE
    at: datetime
    reason: str
    remaining_seconds: float


@dataclass(frozen=True, slots=True)
class DecryptionResumed(DomainEvent):
    TYPE: ClassVar[str] = EventType.OPENING_DECRYPTION_RESUMED
    VISIBILITY: ClassVar[frozenset[str]] = OPENING_AUDIENCE
    at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class DecryptionClosed(Marker):
    TYPE: ClassVar[str] = EventType.OPENING_DECRYPTION_CLOSED
    VISIBILITY: ClassVar[frozenset[str]] = OPENING_AUDIENCE


@dataclass(frozen=True, slots=True)
class AttemptFailed(DomainEvent):
    """A key that does not open the bid; the bid stays pending until attempts run out."""

    TYPE: ClassVar[str] = EventType.BID_DECRYPTION_ATTEMPT_FAILED
    VISIBILITY: ClassVar[frozenset[str]] = STAFF
    lot: str
    bidder: str
    attempt: int
    reason: str

    def visibility(self) -> frozenset[str]:
        return STAFF | {participant_audience(self.bidder)}


@dataclass(frozen=True, slots=True)
class BidOpened(DomainEvent):
    """A bid decrypted and verified; its opening sheet is read out with the record."""

    TYPE: ClassVar[str] = EventType.BID_DECRYPTED
    VISIBILITY: ClassVar[frozenset[str]] = OPENING_AUDIENCE
    lot: str
    bidder: str
    by: str  # "bidder" or "custodians"
    at: datetime


@dataclass(frozen=True, slots=True)
class SheetExtracted(DomainEvent):
    """The opening sheet, and the file key sealed under the node's at-rest key."""

    TYPE: ClassVar[str] = EventType.BID_SHEET_EXTRACTED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT | {Role.HOST.value}
    lot: str
    bidder: str
    sheet: dict[str, Any]
    sealed_key: str  # base64url; opens only with the node's at-rest key


@dataclass(frozen=True, slots=True)
class BidFailed(DomainEvent):
    """E-Measures 31: the bidder's fault counts as revoked, anyone else's as withdrawn."""

    TYPE: ClassVar[str] = EventType.BID_DECRYPTION_FAILED
    VISIBILITY: ClassVar[frozenset[str]] = OPENING_AUDIENCE
    lot: str
    bidder: str
    fault: str  # "bidder" or "platform"
    reason: str
    at: datetime

    @property
    def outcome(self) -> str:
        return "revoked" if self.fault == "bidder" else "withdrawn"

    def payload(self) -> dict[str, Any]:
        # Hand-written on purpose: `outcome` is no field (it follows from `fault`), yet the log
        # states it, right after `fault`, for whoever reads the record. Read back, it is ignored.
        members = list(DomainEvent.payload(self).items())
        cut = [name for name, _ in members].index("fault") + 1
        return dict([*members[:cut], ("outcome", self.outcome), *members[cut:]])


@dataclass(frozen=True, slots=True)
class OpeningKeyIssued(DomainEvent):
    """The tender's opening public key and who holds which share (commitments, not shares)."""

    TYPE: ClassVar[str] = EventType.OPENING_KEY_ISSUED
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC
    public_key: str  # x25519:...
    threshold: int
    # (custodian, share index, commitment hex)
    holders: tuple[tuple[str, int, str], ...] = field(
        metadata=row("custodian", "index", "commitment")
    )


@dataclass(frozen=True, slots=True)
class KeyShareIssued(DomainEvent):
    """One custodian's share, sealed to that custodian's encryption key."""

    TYPE: ClassVar[str] = EventType.OPENING_KEY_SHARE_ISSUED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT
    custodian: str
    index: int
    ephemeral: str
    sealed: str

    def visibility(self) -> frozenset[str]:
        return OVERSIGHT | {participant_audience(self.custodian)}


@dataclass(frozen=True, slots=True)
class ShareSubmitted(DomainEvent):
    TYPE: ClassVar[str] = EventType.OPENING_SHARE_SUBMITTED
    VISIBILITY: ClassVar[frozenset[str]] = STAFF | {Role.CUSTODIAN.value}
    custodian: str
    index: int
    at: datetime


@dataclass(frozen=True, slots=True)
class ResendRequested(DomainEvent):
    """The node running the opening started afresh (restarted, or a standby took over,
    docs/sites.md section 10): what only the previous one held in memory is gone. The
    custodians named sent shares that are on record but no longer held; the bidders named
    had bids still closed, so a decryption of theirs may have been cut off. Each is asked to
    send it again; the log shows what was lost and, by what follows, what was resent."""

    TYPE: ClassVar[str] = EventType.OPENING_RESEND_REQUESTED
    VISIBILITY: ClassVar[frozenset[str]] = STAFF
    node: str
    custodians: tuple[str, ...]
    bidders: tuple[str, ...]
    at: datetime

    def visibility(self) -> frozenset[str]:
        named = {participant_audience(p) for p in (*self.custodians, *self.bidders)}
        return STAFF | named


@dataclass(frozen=True, slots=True)
class RecordPublished(DomainEvent):
    """唱标: the opening record, read out to all; bidders respond until `confirm_until`."""

    TYPE: ClassVar[str] = EventType.OPENING_RECORD_PUBLISHED
    VISIBILITY: ClassVar[frozenset[str]] = OPENING_AUDIENCE
    record: dict[str, Any]
    record_hash: str
    confirm_until: datetime


@dataclass(frozen=True, slots=True)
class RecordConfirmed(DomainEvent):
    TYPE: ClassVar[str] = EventType.OPENING_CONFIRMED
    VISIBILITY: ClassVar[frozenset[str]] = OPENING_AUDIENCE
    bidder: str
    signature: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ObjectionRaised(DomainEvent):
    """异议: raised during the opening, answered on the spot and on record (Regs 44)."""

    TYPE: ClassVar[str] = EventType.OPENING_OBJECTION_RAISED
    VISIBILITY: ClassVar[frozenset[str]] = OPENING_AUDIENCE
    objection: str
    bidder: str
    text: str
    signature: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ObjectionAnswered(DomainEvent):
    TYPE: ClassVar[str] = EventType.OPENING_OBJECTION_ANSWERED
    VISIBILITY: ClassVar[frozenset[str]] = OPENING_AUDIENCE
    objection: str
    answer: str
    at: datetime


@dataclass(frozen=True, slots=True)
class MessageSent(DomainEvent):
    """The message box of the opening: the host and the bidders, on record.

    `to` names the bidders it goes to (every signed-in bidder for a `broadcast` of the host);
    empty, it goes to the host. Seen by the host, supervisors, the sender and those it names:
    never by other bidders, nor by the public.
    """

    TYPE: ClassVar[str] = EventType.OPENING_MESSAGE_SENT
    VISIBILITY: ClassVar[frozenset[str]] = STAFF
    message: str
    sender: str
    to: tuple[str, ...]
    broadcast: bool
    text: str
    at: datetime

    def visibility(self) -> frozenset[str]:
        return STAFF | {participant_audience(p) for p in (self.sender, *self.to)}


@dataclass(frozen=True, slots=True)
class OpeningClosed(DomainEvent):
    """The final opening record, signed by the node and kept with the tender (E-Measures 32)."""

    TYPE: ClassVar[str] = EventType.OPENING_CLOSED
    VISIBILITY: ClassVar[frozenset[str]] = OPENING_AUDIENCE
    record: dict[str, Any]
    record_hash: str
    signature: str
    at: datetime


@dataclass(frozen=True, slots=True)
class DocumentRead(DomainEvent):
    """Someone read a decrypted bid: every access to bid documents is on record."""

    TYPE: ClassVar[str] = EventType.BID_DOCUMENT_READ
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT
    lot: str
    bidder: str
