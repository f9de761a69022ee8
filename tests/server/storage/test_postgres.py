"""The PostgreSQL store: the contract, plus group commit, several nodes on one database, its
rows sealed at rest and its offline readers, on a throwaway cluster (tests/postgres_server.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from crypto import SigningKey
from server.service.node_keys import NodeKeys
from server.storage.postgres import PostgresEventStore
from tests.server.storage.contract import EventStoreContract

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from server.storage.base import EventStore

SEALER = NodeKeys(SigningKey.generate()).records


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    async def store(self, postgres_url: str) -> AsyncIterator[EventStore]:
        store = PostgresEventStore(postgres_url, SEALER)
        await store.start()
        yield store
        await store.close()

    @pytest.fixture
    async def rival(self, store: EventStore, postgres_url: str) -> AsyncIterator[EventStore]:
        rival = PostgresEventStore(postgres_url, SEALER)
        await rival.start()
        yield rival
        await rival.close()
