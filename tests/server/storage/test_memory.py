from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from server.storage.memory import MemoryEventStore
from tests.server.storage.contract import EventStoreContract

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from server.storage.base import EventStore


class TestMemoryEventStore(EventStoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[EventStore]:
        store = MemoryEventStore()
        await store.start()
        yield store
        await store.close()

    @pytest.fixture
    def rival(self, store: EventStore) -> EventStore:
        return store
