"""Challenge-response login and short-lived signed tokens.

A token is signed by the node that issued it. A node accepts its own, and, in a deployment of
several sites (docs/sites.md 7), one issued by another node that is enrolled here with the role
`node`: the caller injects `peer_key`, which names the enrolled key of such a node by its id,
or None for an id that is not one.
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
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
from server.domain.logins import LoginFailure
from server.domain.participants import PARTICIPANT_ID, Participant
from server.errors import ClockSkew, LoginFailed, Unauthorized
from server.protocol import LOGIN_LABEL, login_document
from server.protocol.fields import Reader
from server.protocol.times import format_time, parse_time
from server.service.challenges import (
    CHALLENGE_KEY_LABEL,
    TOKEN_CHARS,
    AddressSlots,
    AnsweredChallenges,
    ChallengeTokens,
    Ticket,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from server.clock import Clock
    from server.config import Settings

logger = logging.getLogger(__name__)

TOKEN_PREFIX: Final = "v1."  # noqa: S105 - a format marker, not a secret
TOKEN_LABEL: Final = "token"  # noqa: S105 - a signature purpose label, not a secret
# Verified tokens are cached so that the hot path does not verify a signature per request.
TOKEN_CACHE_SIZE: Final = 10_000
VISITOR_PREFIX: Final = "v-"  # a visitor's id: never a participant's (p-) nor a node's (n-)
_DECOY_CHALLENGE: Final = {"challenge": "", "participant": "", "nonce": "", "node": ""}


def _no_peers(node: str) -> VerifyKey | None:
    return None


@dataclass(frozen=True, slots=True)
class Challenge:
    id: str  # the MACed token (service/challenges.py)
    participant: str
    nonce: str
    node: str
    expires_at: datetime

    def to_json(self) -> dict[str, str]:
        return {
            "challenge": self.id,
            "participant": self.participant,
            "nonce": self.nonce,
            "node": self.node,
            "expires_at": format_time(self.expires_at),
        }


@dataclass(frozen=True, slots=True)
class LoginAnswer:
    """The body of POST /api/auth/login: the challenge echoed, the signed time, the signature."""

    challenge: str
    participant: str
    time: str
    signature: str

    @classmethod
    def parse(cls, document: object) -> LoginAnswer:
        reader = Reader(document)
        answer = cls(
            challenge=reader.text("challenge", max_len=TOKEN_CHARS),
            participant=reader.text("participant", max_len=40),
            time=reader.text("time", max_len=40),
            signature=reader.text("signature", max_len=128),
        )
        reader.finish()
        return answer


@dataclass(frozen=True, slots=True)
class Claims:
    participant: str
    role: Role
    scopes: frozenset[str]
    issued_at: datetime
    expires_at: datetime
    node: str

    def actor(self, address: str, site: str = "") -> Actor:
        """The actor these claims speak for, from `address`, at the node of `site`."""
        return Actor(self.participant, self.role, address, self.scopes, site)


class Authenticator:
    """Issues challenges, checks signed answers, issues and verifies tokens."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        node_key: SigningKey,
        node_id: str,
        peer_key: Callable[[str], VerifyKey | None] = _no_peers,
    ) -> None:
        self._settings = settings
        self._peer_key = peer_key
        self._clock = clock
        self._key = node_key
        self._public = node_key.verify_key
        self.node_id = node_id
        self._tokens = ChallengeTokens(node_key.derive_key(CHALLENGE_KEY_LABEL), node_id)
        self._slots = AddressSlots(
            settings.max_challenges_per_address, settings.max_tracked_callers
        )
        self._answered = AnsweredChallenges(settings.max_answered_challenges)
        self._verified: OrderedDict[str, Claims] = OrderedDict()
        # Unknown participants are checked against a key nobody holds, so that a login for an
        # id that does not exist costs the same and fails the same as a wrong signature.
        self._decoy = SigningKey.generate().verify_key

    def challenge(self, participant_id: str, address: str) -> Challenge:
        """A single-use challenge. Issued for any well-formed id, so ids can't be probed.

        The node keeps nothing per challenge: the token names the participant, the address
        and the expiry under the node's MAC. Only the count of unanswered challenges per
        address is kept, and past its cap that address is refused, no one else.
        """
        if not PARTICIPANT_ID.fullmatch(participant_id):
            raise Unauthorized("A participant id looks like p-xxxxxxxx.")
        now = self._clock.now()
        expires_at = now + timedelta(seconds=self._settings.challenge_ttl_seconds)
        self._slots.take(address, now, expires_at)
        token, ticket = self._tokens.issue(participant_id, address, expires_at)
        return Challenge(token, participant_id, ticket.nonce, self.node_id, ticket.expires_at)

    def answer(self, answer: LoginAnswer, participant: Participant | None, address: str) -> Claims:
        """Check a signed answer from `address`; raise LoginFailed with the reason if it fails.

        The signature is checked whatever else is wrong, with the same work whether or not the
        challenge and the participant exist, and every failure gives the caller one message;
        only the holder of the key learns anything more (that its clock is off).
        """
        now = self._clock.now()
        ticket = self._tokens.read(answer.challenge, answer.participant, address)
        failure = _ticket_failure(ticket, now, self._answered)
        if participant is None:
            failure = failure or LoginFailure.UNKNOWN_PARTICIPANT
        key, key_failure = self._key_of(participant)
        signed = _challenge_json(answer, ticket, self.node_id)
        try:
            document = login_document(signed, answer.time)
            verify(key, LOGIN_LABEL, document, b64url_decode(answer.signature))
        except CryptoError:
            failure = failure or key_failure or LoginFailure.BAD_SIGNATURE
        if failure is not None or ticket is None or participant is None:
            raise LoginFailed(failure or LoginFailure.BAD_SIGNATURE)
        self._answered.add(ticket, now)  # before the time check: this signature is spent
        self._slots.give_back(address)
        self._check_skew(answer.time, now)
        return self._claims(participant, now)

    def _key_of(self, participant: Participant | None) -> tuple[VerifyKey, LoginFailure | None]:
        if participant is None:
            return self._decoy, None
        try:
            return VerifyKey.from_text(participant.public_key), None
        except CryptoError:  # enrolled before the node refused such keys
            return self._decoy, LoginFailure.UNUSABLE_KEY

    def _check_skew(self, client_time: str, now: datetime) -> None:
        try:
            claimed = parse_time(client_time)
        except ValueError:
            raise LoginFailed(LoginFailure.BAD_TIME) from None
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

    def visitor(self) -> Claims:
        """A read-only visitor of public openings (docs/pages.md 3): role `public`, an id of its
        own (`v-` and 16 hex digits) that no enrolled participant can have, no key, nothing
        recorded. It may do what the role table lets `public` do, which is to read."""
        now = self._clock.now()
        return Claims(
            participant=f"{VISITOR_PREFIX}{secrets.token_hex(8)}",
            role=Role.PUBLIC,
            scopes=frozenset({ALL_TENDERS}),
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
        """The token's claims, or Unauthorized (malformed, forged, expired, issued by a node
        that is neither this one nor an enrolled node).

        Verified claims are cached until the token expires, so a peer node's enrolment is
        looked up once per token."""
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
            issuer = self._issuer_key(document.get("node"))
            verify(issuer, TOKEN_LABEL, document, b64url_decode(signature))
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
        return claims

    def _issuer_key(self, node: object) -> VerifyKey:
        """The key that signs tokens of `node`: this node's, or an enrolled peer node's."""
        if node == self.node_id:
            return self._public
        key = self._peer_key(node) if isinstance(node, str) else None
        if key is None:
            raise Unauthorized("The token was issued by another node, not one enrolled here.")
        return key


def _ticket_failure(
    ticket: Ticket | None, now: datetime, answered: AnsweredChallenges
) -> LoginFailure | None:
    if ticket is None:
        return LoginFailure.BAD_CHALLENGE
    if ticket.expires_at <= now:
        return LoginFailure.EXPIRED_CHALLENGE
    if ticket.nonce in answered:
        return LoginFailure.USED_CHALLENGE
    return None


def _challenge_json(answer: LoginAnswer, ticket: Ticket | None, node: str) -> dict[str, str]:
    """The challenge as the client got it, rebuilt from the token; a decoy if it is not ours."""
    if ticket is None:
        return _DECOY_CHALLENGE
    return {
        "challenge": answer.challenge,
        "participant": answer.participant,
        "nonce": ticket.nonce,
        "node": node,
    }
