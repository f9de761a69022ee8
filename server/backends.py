"""What a node runs on, built from its settings: the one place that names the implementations.

`build_backends` gives the event store, the blob store and the bus that the settings choose
(`event_store`, `blob_store`, `bus` in config.py); `stored_log` reads the chosen store's log
offline, for verifiers (`bidroom audit verify`, the demo). Nothing else names SQLite,
PostgreSQL, the disk layout of bid files or the in-process bus: another implementation is one
entry in a table here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeVar

from server.bus.local import LocalBus
from server.bus.redis import RedisBus
from server.config import SettingsError
from server.storage import postgres_schema, sqlite_schema
from server.storage.base import Backends
from server.storage.disk_blobs import DiskBlobStore
from server.storage.postgres import PostgresEventStore
from server.storage.sqlite import SQLiteEventStore

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from recordings.audit import ChainHead
    from server.bus.base import Bus
    from server.config import Settings
    from server.service.node_keys import NodeKeys
    from server.storage.base import EventStore, Sealer
    from server.storage.blobs import BlobStore

    # (seq, body, hash) of one stream in seq order, as recordings.audit.verify_chain reads them.
    Rows = Iterator[tuple[int, str, str]]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StoredLog:
    """The node's log as stored, read-only, with no node running: its streams, their rows,
    and the check of one stream's chain on its stored bytes (docs/spec/audit-log.md)."""

    streams: Callable[[], list[str]]
    rows: Callable[[str], Rows]
    verify: Callable[[str], ChainHead]


def build_backends(
    settings: Settings, keys: NodeKeys, *, store: EventStore | None = None, bus: Bus | None = None
) -> Backends:
    """The event store, blob store and bus the settings choose, not started yet.

    A `store` or `bus` given is used as it is (tests run on a memory store, for instance).
    SettingsError for a choice that no implementation answers to.
    """
    event_store = _choice(_EVENT_STORES, "event_store", settings.event_store)
    blob_store = _choice(_BLOB_STORES, "blob_store", settings.blob_store)
    event_bus = _choice(_BUSES, "bus", settings.bus)
    return Backends(
        store=store or event_store(settings, keys),
        blobs=blob_store(settings, keys),
        bus=bus or event_bus(settings),
    )


def stored_log(settings: Settings, sealer: Sealer) -> StoredLog:
    """The log of the event store the settings choose, opened with `sealer`, read offline."""
    return _choice(_STORED_LOGS, "event_store", settings.event_store)(settings, sealer)


def _sqlite_log(settings: Settings, sealer: Sealer) -> StoredLog:
    path = settings.database_path
    return StoredLog(
        streams=lambda: sqlite_schema.stored_streams(path),
        rows=lambda stream: sqlite_schema.stored_rows(path, stream, sealer),
        verify=lambda stream: sqlite_schema.verify_stored(path, stream, sealer),
    )


def _postgres_log(settings: Settings, sealer: Sealer) -> StoredLog:
    url = _database_url(settings)
    return StoredLog(
        streams=lambda: postgres_schema.stored_streams(url),
        rows=lambda stream: postgres_schema.stored_rows(url, stream, sealer),
        verify=lambda stream: postgres_schema.verify_stored(url, stream, sealer),
    )


def _database_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise SettingsError(["event_store postgres needs database_url"])
    return settings.database_url


_EVENT_STORES: Final[Mapping[str, Callable[[Settings, NodeKeys], EventStore]]] = {
    "sqlite": lambda settings, keys: SQLiteEventStore(settings.database_path, keys.records),
    "postgres": lambda settings, keys: PostgresEventStore(_database_url(settings), keys.records),
}
_STORED_LOGS: Final[Mapping[str, Callable[[Settings, Sealer], StoredLog]]] = {
    "sqlite": _sqlite_log,
    "postgres": _postgres_log,
}
_BLOB_STORES: Final[Mapping[str, Callable[[Settings, NodeKeys], BlobStore]]] = {
    "disk": lambda settings, keys: DiskBlobStore(settings.data_dir, keys.uploads, keys.bids),
}
_BUSES: Final[Mapping[str, Callable[[Settings], Bus]]] = {
    "local": lambda settings: LocalBus(),
    "redis": RedisBus,
}


def _choice(table: Mapping[str, T], name: str, value: str) -> T:
    try:
        return table[value]
    except KeyError:
        known = ", ".join(sorted(table))
        raise SettingsError([f"{name} must be one of {known}, not {value!r}"]) from None
