"""A participant's session with a node: challenge-response login and authenticated calls."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Self

import aiohttp

from crypto import b64url_encode, sign
from evaluator_client.errors import ApiError
from server.protocol import answer_challenge
from server.protocol.times import format_time, parse_time

if TYPE_CHECKING:
    from types import TracebackType

    from crypto import SigningKey

# Log in again this long before the token expires.
RENEW_MARGIN: Final = timedelta(seconds=30)
HTTP_TIMEOUT: Final = aiohttp.ClientTimeout(total=30)
# A package download may take minutes; only a stall of this long ends it.
DOWNLOAD_TIMEOUT: Final = aiohttp.ClientTimeout(total=None, sock_read=30)
# The piece a download holds in memory at a time.
DOWNLOAD_PIECE: Final = 256 * 1024

Clock = Callable[[], datetime]


def _system_time() -> datetime:
    return datetime.now(UTC)


class Session:
    """Holds the participant's key (in memory only) and a current token."""

    def __init__(
        self, base_url: str, participant: str, key: SigningKey, *, clock: Clock = _system_time
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._clock = clock
        self.participant = participant
        self._key = key
        self._http = aiohttp.ClientSession(timeout=HTTP_TIMEOUT)
        self._token: str | None = None
        self._expires_at = datetime.min.replace(tzinfo=UTC)
        self.role: str | None = None

    @classmethod
    async def login(
        cls, base_url: str, participant: str, key: SigningKey, *, clock: Clock = _system_time
    ) -> Self:
        session = cls(base_url, participant, key, clock=clock)
        try:
            await session.renew()
        except BaseException:
            await session.close()
            raise
        return session

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.close()

    @property
    def live_url(self) -> str:
        return self.base_url.replace("http", "ws", 1) + "/ws"

    async def renew(self) -> str:
        """Answer a fresh challenge with a signature; keep the new token."""
        challenge = await self._call(
            "POST", "/api/auth/challenge", {"participant": self.participant}
        )
        answer = answer_challenge(challenge, self._key, format_time(self._clock()))
        result = await self._call("POST", "/api/auth/login", answer)
        self._token = str(result["token"])
        self._expires_at = parse_time(result["expires_at"])
        self.role = str(result["role"])
        return self._token

    async def token(self) -> str:
        """A token valid for a while yet; logs in again when it is about to expire."""
        if self._token is None or self._clock() >= self._expires_at - RENEW_MARGIN:
            return await self.renew()
        return self._token

    def sign(self, label: str, document: object) -> str:
        """This participant's signature (base64url); the key never leaves this process."""
        return b64url_encode(sign(self._key, label, document))

    async def get(self, path: str) -> dict[str, Any]:
        return await self._call("GET", path, None, token=await self.token())

    async def put_bytes(self, path: str, data: bytes) -> dict[str, Any]:
        headers = {
            "Authorization": f"Bearer {await self.token()}",
            "Content-Type": "application/octet-stream",
        }
        body = io.BytesIO(data)  # a piece is megabytes: aiohttp sends a file-like one in parts
        async with self._http.put(self.base_url + path, data=body, headers=headers) as response:
            return await _document(response)

    async def get_bytes(self, path: str) -> bytes:
        headers = {"Authorization": f"Bearer {await self.token()}"}
        async with self._http.get(self.base_url + path, headers=headers) as response:
            if response.status >= 400:
                await _document(response)
            return await response.read()

    async def download(
        self, path: str, sink: BinaryIO, progress: Callable[[int], None] | None = None
    ) -> int:
        """Stream a response body into `sink` piece by piece (memory: one piece); its size."""
        headers = {"Authorization": f"Bearer {await self.token()}"}
        done = 0
        url = self.base_url + path
        async with self._http.get(url, headers=headers, timeout=DOWNLOAD_TIMEOUT) as response:
            if response.status >= 400:
                await _document(response)
            async for piece in response.content.iter_chunked(DOWNLOAD_PIECE):
                await asyncio.to_thread(sink.write, piece)
                done += len(piece)
                if progress is not None:
                    progress(done)
        return done

    async def delete(self, path: str) -> dict[str, Any]:
        return await self._call("DELETE", path, None, token=await self.token())

    async def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._call("POST", path, body or {}, token=await self.token())

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None, *, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None if body is None else json.dumps(body, ensure_ascii=False)
        if data is not None:
            headers["Content-Type"] = "application/json"
        url = self.base_url + path
        async with self._http.request(method, url, data=data, headers=headers) as response:
            return await _document(response)


async def _document(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        document = await response.json(content_type=None)
    except ValueError:  # not JSON: a proxy's page, another server, http to a TLS terminator
        raise ApiError(
            response.status, {"code": "not_json", "message": "The answer is not JSON."}
        ) from None
    if not isinstance(document, dict):
        raise ApiError(response.status, {"message": "The node sent no JSON object."})
    if response.status >= 400:
        raise ApiError(response.status, document.get("error", {}))
    return document
