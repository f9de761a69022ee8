"""Exporting a tender's audit bundle from the node's data directory, offline.

Whoever holds the data directory can export; the bundle is checked by anyone, with no server
(`bidroom audit verify BUNDLE`, recordings/bundle.py, docs/spec/audit-bundle.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recordings.audit import AuditRecord
from recordings.bundle import Participant, bundle_lines
from server.errors import NotFound
from server.protocol import SYSTEM_STREAM, box_stream
from server.protocol.times import format_time
from server.service.node import load_node_key, node_id_of
from server.storage.sqlite import stored_rows, stored_streams

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from server.config import Settings


def export_bundle(settings: Settings, tender: str, out: Path, now: datetime) -> dict[str, int]:
    """Write the bundle of `tender` to `out` (which must not exist); returns the counts."""
    path = settings.database_path
    if tender not in stored_streams(path):
        raise NotFound(f"There is no tender {tender} in this node's log.")
    streams = [
        (stream, [AuditRecord.load(body, digest) for _, body, digest in stored_rows(path, stream)])
        for stream in (tender, box_stream(tender))
    ]
    key = load_node_key(settings.node_key_path, settings.node_key_passphrase)
    system = (
        AuditRecord.load(body, digest) for _, body, digest in stored_rows(path, SYSTEM_STREAM)
    )
    enrolled = {r.payload["id"]: r.payload for r in system if r.type == "participant.enrolled"}
    actors = {r.actor_id for _, records in streams for r in records}
    participants = [
        Participant(pid, p["role"], p["public_key"])
        for pid, p in sorted(enrolled.items())
        if pid in actors
    ]
    with out.open("x", encoding="utf-8") as sink:
        for line in bundle_lines(
            tender=tender, node=node_id_of(key), node_key=key.verify_key.to_text(),
            exported_at=format_time(now), participants=participants, streams=streams,
        ):  # fmt: skip
            sink.write(line)
    return {"events": sum(len(r) for _, r in streams), "participants": len(participants)}
