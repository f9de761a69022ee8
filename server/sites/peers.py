"""A node's client of another node: the node-to-node fetch of docs/sites.md section 7.

Nodes speak to each other over the same HTTP API as clients. `PeerClient` logs in to another
node with this node's key, as the participant of role `node` that key is enrolled as there
(its id is this node's id), by the challenge-response login every client uses (the signed
answer is `server.protocol.answer_challenge`, shared with the client library). It logs in again
shortly before its token expires, and once more if the other node refuses a token it still
thought good (that node restarted, or its clock runs ahead).

It reads the event pages of the log endpoints (`/api/system/events`, a tender's
`/api/tenders/{t}/events`, a bid box's `/api/tenders/{t}/bid-box/events`) and the list of
streams (`/api/streams`), and rebuilds each record from its body and hash. A page is checked to
chain before anyone sees it: consecutive sequence numbers from where it was asked, each body
hashing to its hash and linking to the record before, the first to `after_hash` when given; a
record that fails raises `ChainBroken` (or `RecordFormatError`) of recordings/errors.py.

Every request is bounded by `timeout`. A node that can't be reached, times out, or answers 5xx
or 429 raises `HomeUnavailable`; a refusal of the login or the token (401, 403) `Unauthorized`;
a stream it does not have `NotFound`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Self

import aiohttp

from crypto import CryptoError, canonical_json
from recordings.audit import AuditRecord, ChainHead, ChainVerifier
from server.errors import BadRequest, HomeUnavailable, NotFound, Unauthorized
from server.protocol import STREAM_PATTERN, SYSTEM_STREAM, answer_challenge, box_tender
from server.protocol.times import format_time, parse_time
from server.service.node_keys import node_id

if TYPE_CHECKING:
    import ssl
    from types import TracebackType

    from crypto import SigningKey
    from server.clock import Clock

# Log in again this long before the token expires.
RENEW_MARGIN: Final = timedelta(seconds=30)
# What one request for events may ask for (transport/http.py MAX_EVENTS_PER_PAGE).
MAX_PAGE: Final = 1000
DEFAULT_TIMEOUT_SECONDS: Final = 10.0


class TokenRefused(Unauthorized):
    """The other node refused the login or the token (401); a token is then renewed once."""


class PeerClient:
    """A logged-in session with another node, reading its streams as a node may."""

    def __init__(
        self,
        base_url: str,
        key: SigningKey,
        clock: Clock,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.participant = node_id(key.verify_key)
        self._key = key
        self._clock = clock
        limits = aiohttp.ClientTimeout(total=timeout, connect=timeout)
        connector = aiohttp.TCPConnector(ssl=ssl_context if ssl_context is not None else True)
        self._http = aiohttp.ClientSession(timeout=limits, connector=connector)
        self._token: str | None = None
        self._expires_at = datetime.min.replace(tzinfo=UTC)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.close()

    async def login(self) -> None:
        """Answer a fresh challenge with the node key; keep the token it earns."""
        challenge = await self._call(
            "POST", "/api/auth/challenge", {"participant": self.participant}
        )
        answer = answer_challenge(challenge, self._key, format_time(self._clock.now()))
        granted = await self._call("POST", "/api/auth/login", answer)
        try:
            token, expires_at = str(granted["token"]), parse_time(str(granted["expires_at"]))
        except (KeyError, ValueError):
            raise HomeUnavailable(
                f"The node at {self.base_url} answered the login oddly."
            ) from None
        self._token, self._expires_at = token, expires_at

    async def streams(self) -> list[str]:
        """Every stream the other node holds: the system log, each tender, each bid box."""
        document = await self._get("/api/streams")
        streams = document.get("streams")
        if not isinstance(streams, list) or not all(isinstance(s, str) for s in streams):
            raise HomeUnavailable(f"The node at {self.base_url} sent no list of streams.")
        return streams

    async def fetch(
        self, stream: str, after_seq: int, limit: int, *, after_hash: str | None = None
    ) -> list[AuditRecord]:
        """Up to `limit` records of `stream` after `after_seq`, checked to chain.

        With `after_hash` (the hash of the reader's record `after_seq`) the first record must
        link to it; without, the first record's `prev` is the caller's to check.
        """
        if after_seq < 0 or limit < 1:
            raise ValueError("after_seq must be 0 or more and limit 1 or more")
        path = _events_path(stream)
        records: list[AuditRecord] = []
        verifier: ChainVerifier | None = None
        if after_hash is not None:
            verifier = ChainVerifier.after(ChainHead(stream, after_seq, after_hash))
        position = after_seq
        while len(records) < limit:
            asked = min(MAX_PAGE, limit - len(records))
            page = await self._get(f"{path}?after_seq={position}&limit={asked}")
            found = _records(page, self.base_url)
            if found:
                if verifier is None:
                    verifier = ChainVerifier.after(ChainHead(stream, after_seq, found[0].prev))
                for record in found:
                    verifier.add(record.seq, record.body, record.hash)
                records += found
                position = found[-1].seq
            if not page.get("more") or len(found) < asked:
                return records
        return records

    async def token(self) -> str:
        """A current token of this node at the other one (for its live channel, say)."""
        if self._token is None or self._clock.now() >= self._expires_at - RENEW_MARGIN:
            await self.login()
        if self._token is None:  # pragma: no cover - login sets it or raises
            raise TokenRefused("The other node gave no token.")
        return self._token

    async def _get(self, path: str) -> dict[str, Any]:
        """GET with a current token; a token refused as expired is renewed and tried once more."""
        if self._token is None or self._clock.now() >= self._expires_at - RENEW_MARGIN:
            await self.login()
        try:
            return await self._call("GET", path, None)
        except TokenRefused:
            await self.login()
            return await self._call("GET", path, None)

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        data = None if body is None else json.dumps(body)
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._http.request(
                method, self.base_url + path, data=data, headers=headers
            ) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise HomeUnavailable(
                f"The node at {self.base_url} can't be reached ({type(exc).__name__})."
            ) from None
        return _answer(status, text, self.base_url)


def _events_path(stream: str) -> str:
    if not STREAM_PATTERN.fullmatch(stream):
        raise ValueError(f"{stream[:64]!r} is not a stream name")
    if stream == SYSTEM_STREAM:
        return "/api/system/events"
    tender = box_tender(stream)
    if tender is not None:
        return f"/api/tenders/{tender}/bid-box/events"
    return f"/api/tenders/{stream}/events"


def _answer(status: int, text: str, where: str) -> dict[str, Any]:
    """The JSON object of a reply, or the typed error its status stands for."""
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise HomeUnavailable(f"The node at {where} answered {status} without a JSON object.")
    if status < 400:
        return document
    error = document.get("error")
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    said = f"The node at {where} answered {status}: {message}"
    if status == 401:
        raise TokenRefused(said)
    if status == 403:
        raise Unauthorized(said)
    if status == 404:
        raise NotFound(said)
    if status == 429 or status >= 500:
        raise HomeUnavailable(said)
    raise BadRequest(said)


def _records(page: dict[str, Any], where: str) -> list[AuditRecord]:
    """The records of an event page, each rebuilt from its canonical body and its hash.

    The page embeds each body as stored; parsed and written again canonically, it is the same
    text, which the chain check then hashes (a body that was not canonical fails it).
    """
    events = page.get("events")
    if not isinstance(events, list):
        raise HomeUnavailable(f"The node at {where} sent no event page.")
    records = []
    for item in events:
        try:
            body = canonical_json(item["event"]).decode("utf-8")
            records.append(AuditRecord.load(body, str(item["hash"])))
        except (KeyError, TypeError, CryptoError):
            raise HomeUnavailable(
                f"The node at {where} sent an event it can't have stored."
            ) from None
    return records
