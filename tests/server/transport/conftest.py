"""Fixtures of the transport tests that several modules share."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.server.transport.evaluation_world import Evaluation, build_evaluation

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from tests.conftest import Harness


@pytest.fixture
async def evaluation(harness: Harness, tmp_path: Path) -> AsyncIterator[Evaluation]:
    """A closed opening, an expert pool in two regions; the committee is not drawn yet."""
    built = await build_evaluation(harness, tmp_path)
    yield built
    await built.close()
