"""The catalogue of event types: every event the log may hold, and which state it changes.

Reading the log goes through here: `decode_event` knows exactly the types listed below, and
any other type is an error (`UnknownEventType`), never skipped. Each entry says which part of
which aggregate folds the event, or, for an event that changes no state, why it is kept.
The label people read for each type is in recordings/vocabulary.py (`EVENT_LABELS`).

To add an event: give it an `EventType` and a label, write its frozen dataclass (the codec
derives its payload from the fields), and list it here with its fold.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from server.domain.bidbox import BoxSealed
from server.domain.evaluation_events import (
    CheckedIn,
    ChecksRun,
    ClarificationAnswered,
    ClarificationRequested,
    ClarificationSent,
    CommitteeDrawn,
    ComplianceDecided,
    ComplianceSubmitted,
    DrawCommitted,
    DrawFailed,
    ElectionHeld,
    FlagConfirmed,
    MemberReplaced,
    Pledged,
    Ranked,
    ReportDissented,
    ReportIssued,
    ReportSigned,
    ResultPublished,
    SheetSubmitted,
    SigningClosed,
    StageOpened,
    TimeExtended,
    TimeRequested,
    VoteCast,
)
from server.domain.events import (
    AccessRefused,
    AccessThrottled,
    CommandRejected,
    DomainEvent,
    PresenceLeft,
    TreeHeadSigned,
)
from server.domain.logins import LoginRefused, LoginsThrottled
from server.domain.media_events import (
    RecordingRead,
    RecordingsExpired,
    RecordSpoken,
    SegmentClosed,
    SegmentCut,
    SessionEnded,
    SessionStarted,
)
from server.domain.opening_events import (
    AttemptFailed,
    BidFailed,
    BidOpened,
    DecryptionClosed,
    DecryptionPaused,
    DecryptionResumed,
    DecryptionStarted,
    DocumentRead,
    KeyShareIssued,
    MessageSent,
    ObjectionAnswered,
    ObjectionRaised,
    OpeningClosed,
    OpeningKeyIssued,
    RecordConfirmed,
    RecordPublished,
    ResendRequested,
    ShareSubmitted,
    SheetExtracted,
    SignedIn,
)
from server.domain.participants import ParticipantEnrolled, ParticipantLoggedIn
from server.domain.sealed_bids import BidSubmitted, BidWithdrawn, LotSealed
from server.domain.tender_events import (
    BiddingClosed,
    BiddingOpened,
    EvaluationStarted,
    OpeningStarted,
    TenderCancelled,
    TenderConcluded,
    TenderCreated,
    TenderFailed,
    TenderPublished,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from server.domain.events import Payload


class Fold(enum.Enum):
    """The state an event changes when the log is folded."""

    TENDER = "the tender's lifecycle (Tender)"
    SEALED_BIDS = "the tender's sealed lists (SealedBids)"
    OPENING = "the tender's opening (OpeningSession)"
    ROOM = "a lot's evaluation room (room_fold)"
    BID_BOX = "the bid box (BidBox)"
    REGISTRY = "the participant registry (Registry)"


@dataclass(frozen=True, slots=True)
class Entry:
    """One event type: its class, the state it changes, or why it changes none."""

    event: type[DomainEvent]
    folds: frozenset[Fold] = frozenset()
    ignored: str = ""  # why no aggregate folds it: it is on record for its readers only

    def __post_init__(self) -> None:
        if bool(self.folds) == bool(self.ignored):
            raise ValueError(f"{self.event.TYPE}: name its fold, or say why it has none.")


class UnknownEventType(LookupError):
    """The log holds a record of a type this node does not know: it can't be read."""

    def __init__(self, event_type: str) -> None:
        super().__init__(f"Unknown event type {event_type!r}: it is not in the catalogue.")
        self.event_type = event_type


def _folded(event: type[DomainEvent], *folds: Fold) -> Entry:
    return Entry(event, frozenset(folds))


def _kept(event: type[DomainEvent], why: str) -> Entry:
    return Entry(event, ignored=why)


_REFUSAL = "a refusal on record: it changes nothing"
_ENTRIES: Final = (
    # The tender's lifecycle.
    _folded(TenderCreated, Fold.TENDER),
    _folded(TenderPublished, Fold.TENDER),
    _folded(BiddingOpened, Fold.TENDER),
    _folded(BiddingClosed, Fold.TENDER),
    _folded(OpeningStarted, Fold.TENDER),
    _folded(EvaluationStarted, Fold.TENDER),
    _folded(TenderConcluded, Fold.TENDER),
    _folded(TenderFailed, Fold.TENDER),
    _folded(TenderCancelled, Fold.TENDER),
    # Bids: in the box before the deadline, the sealed lists after it.
    _folded(BidSubmitted, Fold.BID_BOX),
    _folded(BidWithdrawn, Fold.BID_BOX),
    _folded(BoxSealed, Fold.BID_BOX),
    _folded(LotSealed, Fold.SEALED_BIDS),
    # The opening.
    _folded(OpeningKeyIssued, Fold.OPENING),
    _kept(KeyShareIssued, "the share is sealed to its custodian; the node keeps no state of it"),
    _folded(SignedIn, Fold.BID_BOX, Fold.OPENING),  # in the box before the deadline
    _folded(DecryptionStarted, Fold.OPENING),
    _folded(DecryptionPaused, Fold.OPENING),
    _folded(DecryptionResumed, Fold.OPENING),
    _folded(DecryptionClosed, Fold.OPENING),
    _folded(AttemptFailed, Fold.OPENING),
    _folded(BidOpened, Fold.OPENING),
    _folded(SheetExtracted, Fold.OPENING),
    _folded(BidFailed, Fold.OPENING),
    _folded(ShareSubmitted, Fold.OPENING),
    _kept(ResendRequested, "a request to people: what they resend is recorded as usual"),
    _folded(RecordPublished, Fold.OPENING),
    _folded(RecordConfirmed, Fold.OPENING),
    _folded(ObjectionRaised, Fold.OPENING),
    _folded(ObjectionAnswered, Fold.OPENING),
    _folded(MessageSent, Fold.OPENING),  # counted: each sender sends a bounded number
    _folded(OpeningClosed, Fold.OPENING),
    _kept(DocumentRead, "every read of a bid's documents is on record for supervisors"),
    # The evaluation rooms.
    _folded(DrawCommitted, Fold.ROOM),
    _folded(CommitteeDrawn, Fold.ROOM),
    _folded(DrawFailed, Fold.ROOM),
    _folded(MemberReplaced, Fold.ROOM),
    _folded(StageOpened, Fold.ROOM),
    _folded(CheckedIn, Fold.ROOM),
    _folded(Pledged, Fold.ROOM),
    _folded(VoteCast, Fold.ROOM),
    _folded(ElectionHeld, Fold.ROOM),
    _folded(ComplianceSubmitted, Fold.ROOM),
    _folded(ComplianceDecided, Fold.ROOM),
    _folded(SheetSubmitted, Fold.ROOM),
    _folded(ChecksRun, Fold.ROOM),
    _folded(FlagConfirmed, Fold.ROOM),
    _folded(Ranked, Fold.ROOM),
    _folded(ClarificationRequested, Fold.ROOM),
    _folded(ClarificationSent, Fold.ROOM),
    _folded(ClarificationAnswered, Fold.ROOM),
    _folded(TimeRequested, Fold.ROOM),
    _folded(TimeExtended, Fold.ROOM),
    _folded(ReportIssued, Fold.ROOM),
    _folded(ReportSigned, Fold.ROOM),
    _folded(ReportDissented, Fold.ROOM),
    _kept(SigningClosed, "who did not sign counts as agreeing: the result that follows says so"),
    _folded(ResultPublished, Fold.ROOM),
    # The node: participants, logins, refusals, tree heads.
    _folded(ParticipantEnrolled, Fold.REGISTRY),
    _kept(ParticipantLoggedIn, "logins are on record for the admin and supervisors"),
    _kept(LoginRefused, _REFUSAL),
    _kept(LoginsThrottled, _REFUSAL),
    _kept(AccessRefused, _REFUSAL),
    _kept(AccessThrottled, _REFUSAL),
    _kept(CommandRejected, _REFUSAL),
    _kept(TreeHeadSigned, "the ledger keeps the tree itself; the head is for verifiers"),
    # Presence at the sites.
    _kept(PresenceLeft, "a workstation dropping out is on record for supervisors"),
    # Live media and its recordings: the media itself lives on disk; the log holds its facts.
    _kept(SessionStarted, "who published or watched what is on record for supervisors"),
    _kept(SessionEnded, "who published or watched what is on record for supervisors"),
    _kept(SegmentClosed, "a recording's hash: the log covers the media (docs/media.md 6)"),
    _kept(SegmentCut, "a recording cut short by a crash, found at restart"),
    _kept(RecordingRead, "every retrieval of a recording is on record for supervisors"),
    _kept(RecordingsExpired, "retention: which recordings left the disk, and when"),
    _kept(RecordSpoken, "the 唱标 as spoken: its text and audio hashes, for anyone to check"),
)

CATALOGUE: Final[Mapping[str, Entry]] = MappingProxyType(
    {entry.event.TYPE: entry for entry in _ENTRIES}
)


def decode_event(event_type: str, payload: Payload) -> DomainEvent:
    """Rebuild a domain event from the log; UnknownEventType for a type not in the catalogue."""
    entry = CATALOGUE.get(event_type)
    if entry is None:
        raise UnknownEventType(event_type)
    return entry.event.from_payload(payload)
