"""Challenge-response login and short-lived signed tokens."""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from crypto import (
    CryptoError,
    SigningKey,
    VerifyKey,
    b64url_decode,
    b64url_encode,
    canonical_json,
    parse_json,
    sign,
    verify,
)
from server.domain.access import ALL_TENDERS, Actor, Role
from server.domain.participants import PARTICIPANT_ID, Participant
from server.errors import ClockSkew, Unauthorized
from server.protocol import LOGIN_LABEL, login_document
from server.protocol.times import format_time, parse_time

if TYPE_CHECKING:
    from server.clock import Clock
    from server.config import Settings

logger = logging.getLogger(__name__)

TOKEN_PREFIX: Final = "v1."  # noqa: S105 - a format marker, not a secret
TOKEN_LABEL: Final = "token"  # noqa: S105 - a signature purpose label, not a secret
# Verified tokens are cached so that the hot path does not verify a signature per request.
TOKEN_CACHE_SIZE: Final = 10_000
_LOGIN_FAILED: Final = "Login failed: the challenge, participant or signature is not valid."
_DECOY_CHALLENGE: Final = {"challenge": "", "participant": "", "nonce": "", "node": ""}


@dataclass(frozen=True, slots=True)
class Challenge:
    id: str
    participant: str
    nonce: str
    node: str
    expires_at: datetime
    address: str = "unknown"

    def to_json(self) -> dict[str, str]:
        return {
            "challenge": self.id,
            "participant": self.participant,
            "nonce": self.nonce,
            "node": self.node,
            "expires_at": format_time(self.expires_at),
        }


@dataclass(frozen=True, slots=True)
class Claims:
    participant: str
    role: Role
    scopes: frozenset[str]
    issued_at: datetime
    expires_at: datetime
    node: str

    def actor(self, address: str) -> Actor:
        return Actor(self.participant, self.role, address, self.scopes)


class Authenticator:
    """Issues challenges, checks signed answers, issues and verifies tokens."""

    def __init__(
        self, settings: Settings, clock: Clock, node_key: SigningKey, node_id: str
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._key = node_key
        self._public = node_key.verify_key
        self.node_id = node_id
        self._challenges: OrderedDict[str, Challenge] = OrderedDict()
        self._by_address: dict[str, deque[str]] = {}
        self._per_address = settings.max_challenges_per_address
        self._verified: OrderedDict[str, Claims] = OrderedDict()
        # Unknown participants are checked against a key nobody holds, so that a login for an
        # id that does not exist costs the same and fails the same as a wrong signature.
        self._decoy = SigningKey.generate().verify_key

    def challenge(self, participant_id: str, address: str) -> Challenge:
        """A single-use challenge. Issued for any well-formed id, so ids can't be probed.

        Pending challenges are bounded per address and overall; past either bound the oldest
        is dropped, so a flood from one address delays only that address's own logins.
        """
        if not PARTICIPANT_ID.fullmatch(participant_id):
            raise Unauthorized("A participant id looks like p-xxxxxxxx.")
        now = self._clock.now()
        self._expire_challenges(now)
        while (mine := self._by_address.get(address)) and len(mine) >= self._per_address:
            self._discard(mine[0])
        while len(self._challenges) >= self._settings.max_pending_challenges:
            self._discard(next(iter(self._challenges)))
        challenge = Challenge(
            id=secrets.token_urlsafe(16),
            participant=participant_id,
            nonce=secrets.token_urlsafe(32),
            node=self.node_id,
            expires_at=now + timedelta(seconds=self._settings.challenge_ttl_seconds),
            address=address,
        )
        self._challenges[challenge.id] = challenge
        self._by_address.setdefault(address, deque()).append(challenge.id)
        return challenge

    def _discard(self, challenge_id: str) -> Challenge | None:
        challenge = self._challenges.pop(challenge_id, None)
        if challenge is not None:
            ids = self._by_address[challenge.address]
            ids.remove(challenge_id)  # at most max_challenges_per_address long
            if not ids:
                del self._by_address[challenge.address]
        return challenge

    def _expire_challenges(self, now: datetime) -> None:
        while self._challenges:
            first, oldest = next(iter(self._challenges.items()))
            if oldest.expires_at > now:
                return
            self._discard(first)

    def answer(
        self,
        challenge_id: str,
        participant: Participant | None,
        client_time: str,
        signature: str,
    ) -> Claims:
        """Check a signed answer; the challenge is used up whatever the outcome.

        The signature is checked first, with the same work whether or not the challenge and
        the participant exist, and every failure gives one message; only the holder of the
        key learns anything more (that its clock is off).
        """
        challenge = self._discard(challenge_id)
        now = self._clock.now()
        usable = (
            challenge is not None
            and participant is not None
            and challenge.expires_at > now
            and challenge.participant == participant.id
        )
        signed = challenge.to_json() if challenge else _DECOY_CHALLENGE
        try:  # a weak key enrolled before the node refused them is a failed login (KeyFormatError)
            key = VerifyKey.from_text(participant.public_key) if participant else self._decoy
            verify(key, LOGIN_LABEL, login_document(signed, client_time), b64url_decode(signature))
        except CryptoError:
            usable = False
        if not usable or participant is None:
            raise Unauthorized(_LOGIN_FAILED)
        self._check_skew(client_time, now)
        return self._claims(participant, now)

    def _check_skew(self, client_time: str, now: datetime) -> None:
        try:
            claimed = parse_time(client_time)
        except ValueError:
            raise Unauthorized("The signed login time is not an RFC 3339 timestamp.") from None
        skew = abs((claimed - now).total_seconds())
        if skew > self._settings.max_clock_skew_seconds:
            raise ClockSkew(
                f"Your clock is {skew:.0f} s away from the node's; at most "
                f"{self._settings.max_clock_skew_seconds} s is accepted. Correct the clock."
            )

    def _claims(self, participant: Participant, now: datetime) -> Claims:
        # An expert's scopes are the tenders it sits on a committee of, added at login.
        scopes = frozenset() if participant.role is Role.EXPERT else frozenset({ALL_TENDERS})
        return Claims(
            participant=participant.id,
            role=participant.role,
            scopes=scopes,
            issued_at=now,
            expires_at=now + timedelta(seconds=self._settings.token_ttl_seconds),
            node=self.node_id,
        )

    def issue(self, claims: Claims) -> str:
        document = {
            "v": 1,
            "sub": claims.participant,
            "role": claims.role.value,
            "scopes": sorted(claims.scopes),
            "iat": format_time(claims.issued_at),
            "exp": format_time(claims.expires_at),
            "node": claims.node,
            "jti": secrets.token_urlsafe(12),
        }
        body = b64url_encode(canonical_json(document))
        signature = b64url_encode(sign(self._key, TOKEN_LABEL, document))
        return f"{TOKEN_PREFIX}{body}.{signature}"

    def verify(self, token: str) -> Claims:
        """The token's claims, or Unauthorized (malformed, forged, expired, other node)."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            self._verified[token] = claims
            if len(self._verified) > TOKEN_CACHE_SIZE:
                self._verified.popitem(last=False)
        if claims.expires_at <= self._clock.now():
            self._verified.pop(token, None)
            raise Unauthorized("The token has expired; log in again.")
        return claims

    def _decode(self, token: str) -> Claims:
        try:
            if not token.startswith(TOKEN_PREFIX):
                raise ValueError
            body, signature = token[len(TOKEN_PREFIX) :].split(".")
            raw = b64url_decode(body)
            document = parse_json(raw)
            # One token, one spelling: a re-encoded body (spaces, escapes) is not our token.
            if not isinstance(document, dict) or canonical_json(document) != raw:
                raise ValueError
            if document.get("v") != 1:
                raise ValueError
            verify(self._public, TOKEN_LABEL, document, b64url_decode(signature))
            claims = Claims(
                participant=document["sub"],
                role=Role(document["role"]),
                scopes=frozenset(document["scopes"]),
                issued_at=parse_time(document["iat"]),
                expires_at=parse_time(document["exp"]),
                node=document["node"],
            )
        except (ValueError, KeyError, TypeError, CryptoError):
            raise Unauthorized("The token is not valid.") from None
        if claims.node != self.node_id:
            raise Unauthorized("The token was issued by another node.")
        return claims
