"""Refusals raised by the domain. Each names the rule it enforces.

DomainError                     base; `rule` is the class name, `cite` the article if any
├── AccessDenied                the role x action table refuses (403)
│   ├── NotACommitteeMember, WrongWorkstation, NotAtTheOpening
├── OutOfScope                  the token does not cover this tender (403)
├── InvalidTransition           the lifecycle table forbids the change (409)
├── RuleViolation               a business rule refuses the command (422)
│   ├── ScheduleInPast
│   ├── BiddingNotOpenYet
│   ├── DeadlineNotReached
│   ├── OpeningTimeNotReached
│   ├── ReasonRequired
│   ├── DeadlinePassed, UnknownLot, DuplicateBid, NoBid          (sealed bids)
│   ├── SignInNotOpen, NotSignedIn, OpeningNotReady, DecryptionWindowClosed,
│   │   BidNotPending, WrongFileKey, NotACustodian, OpeningKeyMismatch,
│   │   DecryptionInProgress, ConfirmationWindowClosed, AlreadyResponded,
│   │   UnknownObjection, OpeningStillOpen, OpeningAlreadyClosed,
│   │   SignatureRejected                                     (the opening)
│   ├── MessagesClosed, UnknownRecipient, TooManyMessages      (the opening's message box)
│   ├── MediaNotLive, MediaClosed                                   (live media)
└── RegistryError               enrolment refusals (409)
    ├── DuplicateParticipant
    └── DuplicatePublicKey
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """A command was refused; the message is a full sentence for the user."""

    cite: ClassVar[str | None] = None

    @property
    def rule(self) -> str:
        return type(self).__name__


class AccessDenied(DomainError):
    """The actor's role may not perform this action."""


class OutOfScope(DomainError):
    """The actor's token does not cover this tender."""


class InvalidTransition(DomainError):
    """The lifecycle table has no edge from the current state to the requested one."""


class DecryptionRunning(InvalidTransition):
    """The same bid is being decrypted by another request right now."""


class UploadBusy(InvalidTransition):
    """Another request is writing or completing this upload, or it stands elsewhere."""


class RuleViolation(DomainError):
    """A business rule refuses the command."""


class ScheduleInPast(RuleViolation):
    """A tender can't be published with its deadline already behind it."""


class BiddingNotOpenYet(RuleViolation):
    """Bidding starts at the time the tender documents set."""


class DeadlineNotReached(RuleViolation):
    """Bidding closes at the deadline, not before (E-Measures 27)."""

    cite = "E-Measures 27"


class OpeningTimeNotReached(RuleViolation):
    """The opening starts at the time set in the tender documents (E-Measures 29)."""

    cite = "E-Measures 29"


class ReasonRequired(RuleViolation):
    """Failing or cancelling a tender is recorded with a reason."""


class RegistryError(DomainError):
    """An enrolment conflicts with the registry."""


class DuplicateParticipant(RegistryError):
    """The participant id is taken."""


class DuplicatePublicKey(RegistryError):
    """One key identifies one participant; it is already enrolled."""


class DeadlinePassed(RuleViolation):
    """No bid is accepted, revised or withdrawn after the deadline (E-Measures 27)."""

    cite = "E-Measures 27"


class UnknownLot(RuleViolation):
    """The tender has no such lot."""


class DuplicateBid(RuleViolation):
    """The same sealed file is already this bidder's current bid."""


class NoBid(RuleViolation):
    """The bidder has no bid here."""


class SignInNotOpen(RuleViolation):
    """Sign-in opens a set time before the opening and closes when the record is read out."""


class NotSignedIn(RuleViolation):
    """Only a bidder who signed in takes part in the opening."""


class OpeningNotReady(RuleViolation):
    """The opening is not at a stage where this can be done."""


class OpeningAlreadyClosed(RuleViolation):
    """An opening closes once; closing it again is refused as already done."""


class DecryptionWindowClosed(RuleViolation):
    """Bids are decrypted within the window the tender sets (E-Measures 30)."""

    cite = "E-Measures 30"


class BidNotPending(RuleViolation):
    """The bid has already been decrypted or has failed."""


class WrongFileKey(RuleViolation):
    """The key does not open this sealed bid."""


class NotACustodian(RuleViolation):
    """Only the tender's custodians hold shares of its opening key."""


class OpeningKeyMismatch(RuleViolation):
    """The opening key material does not match the tender's custodians and threshold."""


class DecryptionInProgress(RuleViolation):
    """The record is read out once every bid is decided or the window is over."""


class ConfirmationWindowClosed(RuleViolation):
    """Bidders confirm or object within the window after the record is read out."""


class AlreadyResponded(RuleViolation):
    """Each bidder confirms or objects once."""


class UnknownObjection(RuleViolation):
    """There is no such objection, or it is already answered."""


class OpeningStillOpen(RuleViolation):
    """The opening closes once every objection is answered and the window is over (Regs 44)."""

    cite = "Regs 44"


class MessagesClosed(RuleViolation):
    """The message box opens at the deadline (who bid is secret until then, E-Measures 21)
    and closes with the opening."""

    cite = "E-Measures 21"


class UnknownRecipient(RuleViolation):
    """The host writes to a bidder of the opening or to all signed-in bidders; bidders write
    to the host."""


class TooManyMessages(RuleViolation):
    """Each participant sends a bounded number of messages in one opening."""


class SignatureRejected(RuleViolation):
    """A signature that does not verify for the participant's key."""


class NotASealedBid(RuleViolation):
    """Only bids the bidder sealed itself are accepted (E-Measures 26)."""

    cite = "E-Measures 26"


class UploadIncomplete(RuleViolation):
    """An upload is finished only when all its bytes have arrived."""


class ChecksumMismatch(RuleViolation):
    """The bytes that arrived are not the file the bidder announced."""


class TooManyRevisions(RuleViolation):
    """A bidder may revise a lot's bid only so many times before the deadline."""


class TooManyUploads(RuleViolation):
    """A bidder keeps a few uploads going at once, not more."""


# The evaluation rooms.


class NotACommitteeMember(AccessDenied):
    """Only the drawn members act in an evaluation room (GP87 66); replaced members no longer."""

    cite = "GP87 66"


class WrongWorkstation(AccessDenied):
    """A member acts from the site and workstation it was bound to at the draw."""


class WrongStage(RuleViolation):
    """The room is not at the stage this act belongs to."""


class NotCheckedIn(RuleViolation):
    """A member checks in and pledges before anything else."""


class AlreadyActed(RuleViolation):
    """Each member does this once (a vote per round, a sheet per bid, one signature)."""


class StaleRound(RuleViolation):
    """The act names a round that is not the room's current one: stale or replayed."""


class StaleVersion(RuleViolation):
    """A score sheet's version is the expert's next one for that bid; others are replays."""


class ScoreOutOfRange(RuleViolation):
    """An item score beyond the criterion's range (GP87 64)."""

    cite = "GP87 64"


class ScoreOffStep(RuleViolation):
    """An item score between the criterion's steps."""


class IncompleteSheet(RuleViolation):
    """A sheet covers exactly the tender's criteria (and, for compliance, every bid)."""

    cite = "Eval Rules 17"


class BidNotInReview(RuleViolation):
    """The bid was rejected at the compliance review, or is not in this lot's evaluation."""


class NotFlagged(RuleViolation):
    """After the first round only flagged scores may be revised or confirmed (GP87 64)."""

    cite = "GP87 64"


class MustRevise(RuleViolation):
    """An objective score that differs from the others is revised, not confirmed."""

    cite = "GP87 64"


class NotLeader(RuleViolation):
    """Clarifications go to bidders through the committee's leader (Regs 52)."""

    cite = "Regs 52"


class StaleReport(RuleViolation):
    """Members sign the report as issued: its hash must be the current one."""


class NotEnoughExperts(RuleViolation):
    """The pool has too few eligible experts for the request (Law 37, Eval Rules 12)."""

    cite = "Eval Rules 12"


class NoStandbyLeft(RuleViolation):
    """No standby expert fits the seat to fill (Regs 46)."""

    cite = "Regs 46"


class CommitteeRuleBroken(RuleViolation):
    """The draw request does not make a lawful committee (Law 37, GP87 47)."""

    cite = "Law 37"


class DrawNotReady(RuleViolation):
    """The draw is committed once per lot after the deadline, then revealed, in that order."""


class UnknownClarification(RuleViolation):
    """There is no such open clarification for this bidder."""


class WrongRoom(RuleViolation):
    """The act names another tender or lot than the room it was sent to."""


class UnknownCandidate(RuleViolation):
    """Members vote for one of the current members."""


# Live media (docs/media.md).


class NotAtTheOpening(AccessDenied):
    """Experts may not attend the opening, so they neither watch nor publish there."""

    cite = "GP87 40"


class MediaNotLive(RuleViolation):
    """Nothing is published at that source of the room right now."""


class MediaClosed(RuleViolation):
    """The room's media has ended: the tender or the room is over (or not yet published)."""
