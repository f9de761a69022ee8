"""Refusals raised by the domain. Each names the rule it enforces.

DomainError                     base; `rule` is the class name, `cite` the article if any
├── AccessDenied                the role x action table refuses (403)
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
│   │   UnknownObjection, OpeningStillOpen, SignatureRejected  (the opening)
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
