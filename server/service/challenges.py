"""Stateless login challenges: node-MACed tokens, a cap per address, a bounded replay set."""

from __future__ import annotations

import heapq
import math
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from crypto import MAC_BYTES, CryptoError, b64url_decode, b64url_encode, mac, verify_mac
from server.errors import TooManyRequests, Unavailable

# HKDF label of the MAC key (derived from the node key) and the MAC's purpose label.
CHALLENGE_KEY_LABEL: Final = "bidroom login-challenge v1"
CHALLENGE_LABEL: Final = "login-challenge"
VERSION: Final = 1
NONCE_BYTES: Final = 16
# version (1), expiry in microseconds since the epoch (8), nonce, MAC: 57 bytes, 76 characters.
_TOKEN: Final = struct.Struct(f">BQ{NONCE_BYTES}s{MAC_BYTES}s")
TOKEN_CHARS: Final = math.ceil(_TOKEN.size * 4 / 3)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Ticket:
    """What an authentic challenge token says: its nonce (text form) and its expiry."""

    nonce: str
    expires_at: datetime


class ChallengeTokens:
    """Challenges the node can check without keeping them: the MAC binds participant,
    address, node, nonce and expiry, so a token is good only for the login it was issued for."""

    def __init__(self, key: bytes, node_id: str) -> None:
        self._key = key
        self._node = node_id

    def issue(self, participant: str, address: str, expires_at: datetime) -> tuple[str, Ticket]:
        nonce = secrets.token_bytes(NONCE_BYTES)
        micros = (expires_at - _EPOCH) // _MICROSECOND
        ticket = Ticket(b64url_encode(nonce), _EPOCH + micros * _MICROSECOND)
        tag = mac(self._key, CHALLENGE_LABEL, self._bound(participant, address, micros, ticket))
        return b64url_encode(_TOKEN.pack(VERSION, micros, nonce, tag)), ticket

    def read(self, token: str, participant: str, address: str) -> Ticket | None:
        """The token's ticket; None if it is malformed, forged, or bound to another login."""
        try:
            version, micros, nonce, tag = _TOKEN.unpack(b64url_decode(token))
            if version != VERSION:
                return None
            ticket = Ticket(b64url_encode(nonce), _EPOCH + micros * _MICROSECOND)
            bound = self._bound(participant, address, micros, ticket)
            verify_mac(self._key, CHALLENGE_LABEL, bound, tag)
        except (CryptoError, struct.error, OverflowError):
            return None
        return ticket

    def _bound(self, participant: str, address: str, micros: int, ticket: Ticket) -> object:
        return {
            "v": VERSION,
            "node": self._node,
            "participant": participant,
            "address": address,
            "nonce": ticket.nonce,
            "expires": micros,
        }


class AddressSlots:
    """At most `per_address` unanswered challenges per address within their lifetime.

    Past the cap an address is refused (429); no one's challenge is ever dropped. A challenge
    answered with a valid signature gives its slot back, so only unanswered ones count. At most
    `max_addresses` are tracked, the least recently seen forgotten first, which only loosens.
    """

    def __init__(self, per_address: int, max_addresses: int) -> None:
        self._per_address = per_address
        self._max_addresses = max_addresses
        # Expiries of each address's unanswered challenges (at most `per_address`, oldest
        # first; a short list costs far less than a deque), addresses in order of last use.
        self._pending: dict[str, list[datetime]] = {}

    def take(self, address: str, now: datetime, expires_at: datetime) -> None:
        pending = [t for t in self._pending.pop(address, ()) if t > now]
        self._pending[address] = pending
        if len(pending) >= self._per_address:
            wait = math.ceil((pending[0] - now).total_seconds())
            raise TooManyRequests(
                f"More than {self._per_address} unanswered login challenges from your address; "
                f"answer one or retry in {wait} s.",
                retry_after=wait,
            )
        pending.append(expires_at)
        if len(self._pending) > self._max_addresses:
            del self._pending[next(iter(self._pending))]

    def give_back(self, address: str) -> None:
        pending = self._pending.get(address)
        if pending:
            del pending[0]


class AnsweredChallenges:
    """Nonces of the challenges answered with a valid signature, each kept until it expires.

    Only a valid signature by an enrolled key adds one, so strangers can't fill it. If it is
    full anyway, logins are refused (503) until the oldest expire: forgetting one early would
    let its login be replayed.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._nonces: set[str] = set()
        self._by_expiry: list[tuple[datetime, str]] = []

    def __contains__(self, nonce: str) -> bool:
        return nonce in self._nonces

    def add(self, ticket: Ticket, now: datetime) -> None:
        while self._by_expiry and self._by_expiry[0][0] <= now:
            self._nonces.discard(heapq.heappop(self._by_expiry)[1])
        if len(self._nonces) >= self._capacity:
            wait = max(1, math.ceil((self._by_expiry[0][0] - now).total_seconds()))
            raise Unavailable(
                f"The node is taking more logins than it can check for replay; retry in {wait} s.",
                retry_after=wait,
            )
        self._nonces.add(ticket.nonce)
        heapq.heappush(self._by_expiry, (ticket.expires_at, ticket.nonce))
