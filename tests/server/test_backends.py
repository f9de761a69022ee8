"""The backends factory: the settings choose the event store, blob store and bus."""

from __future__ import annotations

import ast
import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from crypto import SigningKey
from recordings.audit import verify_chain
from server.backends import build_backends, stored_log
from server.bus.local import LocalBus
from server.config import BLOB_STORES, BUSES, EVENT_STORES, Settings, SettingsError
from server.service.node_keys import NodeKeys
from server.storage.disk_blobs import DiskBlobStore
from server.storage.memory import MemoryEventStore
from server.storage.sqlite import SQLiteEventStore
from tests.recordings.test_audit import chain

KEYS = NodeKeys(SigningKey.generate())


def test_the_defaults_are_sqlite_the_data_directory_and_the_in_process_bus(
    tmp_path: Path,
) -> None:
    settings = Settings.load({"BIDROOM_DATA_DIR": str(tmp_path)})
    backends = build_backends(settings, KEYS)
    assert isinstance(backends.store, SQLiteEventStore)
    assert backends.store.path == settings.database_path
    assert isinstance(backends.blobs, DiskBlobStore)
    assert backends.blobs.bids_dir == tmp_path / "bids"
    assert isinstance(backends.bus, LocalBus)
    assert not settings.database_path.exists()  # built, not started: nothing touched yet


def test_a_store_or_bus_given_is_used_as_it_is(settings: Settings) -> None:
    store, bus = MemoryEventStore(), LocalBus()
    backends = build_backends(settings, KEYS, store=store, bus=bus)
    assert (backends.store, backends.bus) == (store, bus)
    assert isinstance(backends.blobs, DiskBlobStore)


@pytest.mark.parametrize(
    ("name", "choices"),
    [("event_store", EVENT_STORES), ("blob_store", BLOB_STORES), ("bus", BUSES)],
)
def test_every_choice_the_settings_accept_is_built(
    settings: Settings, name: str, choices: frozenset[str]
) -> None:
    # What some choices need besides (building touches neither database nor Redis).
    needs = {"postgres": {"database_url": "postgresql://bidroom@127.0.0.1:1/bidroom"},
             "redis": {"redis_url": "redis://127.0.0.1:1/0"}}  # fmt: skip
    for choice in choices:
        overrides = {"data_dir": settings.data_dir, name: choice, **needs.get(choice, {})}
        build_backends(Settings.load({}, overrides=overrides), KEYS)


def test_an_unknown_choice_is_a_settings_error_naming_the_known_ones() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.load(
            {"BIDROOM_EVENT_STORE": "oracle", "BIDROOM_BLOB_STORE": "s3", "BIDROOM_BUS": "pigeon"}
        )
    assert caught.value.problems == (
        "event_store must be one of postgres, sqlite",
        "blob_store must be one of disk",
        "bus must be one of local, redis",
    )


@pytest.mark.parametrize("name", ["event_store", "blob_store", "bus"])
def test_the_factory_refuses_an_unknown_choice_that_skipped_loading(
    settings: Settings, name: str
) -> None:
    changes: dict[str, Any] = {name: "elsewhere"}
    wrong = replace(settings, **changes)
    with pytest.raises(SettingsError, match=f"{name} must be one of .*, not 'elsewhere'"):
        build_backends(wrong, KEYS)


async def test_the_stored_log_reads_what_the_chosen_store_wrote(settings: Settings) -> None:
    store = build_backends(settings, KEYS).store
    await store.start()
    try:
        await store.append("t-1", chain(3))
    finally:
        await store.close()
    log = stored_log(settings, KEYS.records)
    assert await asyncio.to_thread(log.streams) == ["t-1"]
    head = await asyncio.to_thread(lambda: verify_chain("t-1", log.rows("t-1")))
    assert head.seq == 3
    with pytest.raises(SettingsError, match="event_store"):
        stored_log(replace(settings, event_store="elsewhere"), KEYS.records)


IMPLEMENTATIONS = (
    "server.storage.sqlite",
    "server.storage.sqlite_schema",
    "server.storage.sealed_rows",
    "server.storage.memory",
    "server.storage.disk_blobs",
    "server.bus.local",
)


def imported_names(path: Path) -> set[str]:
    """Every module an import names, `from a import b` counting as both `a` and `a.b`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_only_the_factory_names_an_implementation() -> None:
    root = Path(__file__).resolve().parents[2]
    naming = set()
    for path in sorted((root / "server").rglob("*.py")):
        name = ".".join(path.relative_to(root).with_suffix("").parts)
        if name == "server.backends" or name.startswith(("server.storage.", "server.bus.")):
            continue
        if imported_names(path) & set(IMPLEMENTATIONS):
            naming.add(name)
    assert naming == set()
