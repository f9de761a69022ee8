"""Admission of live connections: the caps, and places given back."""

from __future__ import annotations

import pytest

from server.errors import NodeFull, TooManyConnections
from server.transport.admission import Admission


def test_places_are_capped_per_address_and_in_total_and_given_back() -> None:
    admission = Admission(total=2, per_address=1)
    with admission.admit("192.0.2.1"):
        with pytest.raises(TooManyConnections), admission.admit("192.0.2.1"):
            pass  # pragma: no cover - refused before the block
        with admission.admit("192.0.2.2"):
            assert admission.count == 2
            with pytest.raises(NodeFull), admission.admit("192.0.2.3"):
                pass  # pragma: no cover - refused before the block
    assert admission.count == 0
    with admission.admit("192.0.2.1"), admission.admit("192.0.2.3"):
        assert admission.count == 2


def test_a_failing_connection_gives_its_place_back() -> None:
    admission = Admission(total=1, per_address=1)
    with pytest.raises(ConnectionResetError), admission.admit("192.0.2.1"):
        raise ConnectionResetError
    with admission.admit("192.0.2.1"):
        assert admission.count == 1
