"""Where a source is published (docs/media.md section 9): the port, and a node alone's.

Media stays on the node that received it; a watcher at another node of the deployment is
served by its own node, which watches the publishing node as a client (a cascade: hub.py).
To find that node, each node announces the sources published at it; a node alone has nobody
to tell, and every source it has is its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio

    from aiortc.mediastreams import MediaStreamTrack


class Directory(Protocol):
    """The deployment's list of who publishes what, at which node."""

    async def announce(self, tender: str, room: str, source: str) -> None:
        """`source` of `room` is published at this node (kept up until withdrawn)."""
        ...

    async def withdraw(self, tender: str, room: str, source: str) -> None: ...

    async def find(self, tender: str, room: str, source: str) -> str | None:
        """The URL of another node publishing `source` now, or None."""
        ...

    async def close(self) -> None: ...


class Alone:
    """A node without others: nothing to announce, nowhere else to look."""

    async def announce(self, tender: str, room: str, source: str) -> None:
        return None

    async def withdraw(self, tender: str, room: str, source: str) -> None:
        return None

    async def find(self, tender: str, room: str, source: str) -> str | None:
        return None

    async def close(self) -> None:
        return None


class Upstream(Protocol):
    """A source watched at another node: its decoded tracks by kind, and when it ended."""

    @property
    def received(self) -> dict[str, MediaStreamTrack]: ...

    @property
    def ended(self) -> asyncio.Future[str]: ...

    async def close(self) -> None: ...


class Cascade(Protocol):
    """How this node watches a source at another node, as a client of it."""

    async def watch(self, url: str, tender: str, room: str, source: str) -> Upstream: ...
