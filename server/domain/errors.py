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
│   └── ReasonRequired
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
