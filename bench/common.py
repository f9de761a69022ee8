"""Shared benchmark helpers: percentiles, tables, test records, a node on a local port."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from aiohttp import web

from recordings.audit import GENESIS, AuditRecord
from recordings.vocabulary import EventType

if TYPE_CHECKING:
    from collections.abc import Sequence

# A payload the size of a typical opening-room event (about 500 bytes of canonical JSON).
PAYLOAD = {
    "command": "tender.opening.confirm",
    "rule": "Note",
    "reason": "投标人确认开标记录无异议 / The bidder confirms the opening record. " * 3,
}


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def records(stream: str, count: int) -> list[AuditRecord]:
    """A valid chain of `count` typical records."""
    result: list[AuditRecord] = []
    prev = GENESIS
    for seq in range(1, count + 1):
        record = AuditRecord.create(
            stream=stream,
            seq=seq,
            prev=prev,
            type=EventType.COMMAND_REJECTED,
            actor_id="p-0123456789ab",
            actor_role="bidder",
            address="203.0.113.77",
            time="2026-11-21T09:30:00.123456Z",
            payload=PAYLOAD,
            visibility=frozenset({"supervisor"}),
        )
        result.append(record)
        prev = record.hash
    return result


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """Run `app` on a free local port; the runner (to clean up) and the base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"
