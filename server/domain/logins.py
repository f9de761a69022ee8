"""Failed logins on record: why a login failed, and when failures stop being recorded."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar, Final

from recordings.vocabulary import EventType
from server.domain.events import NODE_ADMIN, DomainEvent

# Who a failed login is recorded as: the caller proved no identity, so the claimed id is only
# the payload's `participant`, never the record's actor.
ANONYMOUS: Final = "anonymous"


class LoginFailure(enum.StrEnum):
    """Why a login failed: for supervisors reading the log, never told to the caller."""

    BAD_CHALLENGE = "bad_challenge"  # malformed, forged, or for another participant or address
    EXPIRED_CHALLENGE = "expired_challenge"
    USED_CHALLENGE = "used_challenge"
    UNKNOWN_PARTICIPANT = "unknown_participant"
    UNUSABLE_KEY = "unusable_key"  # the enrolled key is one the node no longer accepts
    BAD_SIGNATURE = "bad_signature"
    BAD_TIME = "bad_time"
    CLOCK_SKEW = "clock_skew"


@dataclass(frozen=True, slots=True)
class LoginRefused(DomainEvent):
    """A login failed. Seen by those who see access refusals; the caller gets one message."""

    TYPE: ClassVar[str] = EventType.AUTH_LOGIN_FAILED
    VISIBILITY: ClassVar[frozenset[str]] = NODE_ADMIN
    participant: str  # the id claimed, whether or not it is enrolled
    address: str
    reason: LoginFailure


@dataclass(frozen=True, slots=True)
class LoginsThrottled(DomainEvent):
    """Failed logins for this id or from this address passed the limit; the rest go unrecorded."""

    TYPE: ClassVar[str] = EventType.AUTH_LOGIN_THROTTLED
    VISIBILITY: ClassVar[frozenset[str]] = NODE_ADMIN
    participant: str
    address: str
    limit: int
    window_seconds: int
