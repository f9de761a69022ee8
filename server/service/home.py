"""What only a tender's home node may hold in memory, in one object per tender.

Everything else a node knows is in the log and can be folded again anywhere. These are not:
custodians' shares of the opening key (kept in memory only, until a quorum opens the bids),
the running SHA-256 of uploads on their way in, and the work in flight that a deadline or a
pause waits for (decryptions, bids being completed). A node that does not run the tender must
not hold them, and a node that takes a tender over starts them empty.

Today one node runs every tender, so `Homes` (owned by the node) hands out a `TenderHome` per
tender on first use. The next issue (main and secondary venues) puts each tender's home behind
a lease: only the node holding a tender's lease may call `Homes.of` for it, and commands
reaching another node are forwarded to the holder (service/commands.py).

The per-refusal counters of the gate (service/throttle.py) count per actor, across tenders,
so they stay with the node rather than with a tender.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from server.domain.errors import DeadlinePassed
from server.service.decrypt import Decryptions
from server.service.inflight import InFlight


class RunningDigest:
    """The SHA-256 of an upload's first `covered` bytes."""

    def __init__(self) -> None:
        self.covered = 0
        self._hasher = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._hasher.update(data)
        self.covered += len(data)

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()


@dataclass(slots=True)
class TenderHome:
    """One tender's in-memory state on its home node."""

    tender: str
    # Custodians' shares by index, until a quorum opens what remains.
    shares: dict[int, bytes] = field(default_factory=dict)
    # Running digests of the tender's uploads, by upload id, while their bytes arrive.
    digests: dict[str, RunningDigest] = field(default_factory=dict)


class Homes:
    """The homes of the tenders this node runs, and the work in flight on them."""

    def __init__(self) -> None:
        self._homes: dict[str, TenderHome] = {}
        # Decryptions running (their threads, and per tender what a pause waits for).
        self.decryptions = Decryptions()
        # Completions that arrived before the deadline: sealing the box waits for them.
        self.completions = InFlight(
            lambda: DeadlinePassed("The deadline has passed: the bid box is being sealed.")
        )

    def of(self, tender_id: str) -> TenderHome:
        home = self._homes.get(tender_id)
        if home is None:
            home = self._homes[tender_id] = TenderHome(tender_id)
        return home

    def close(self) -> None:
        """Stop the decryption threads (the node is closing); what is held is dropped."""
        self.decryptions.close()
        self._homes.clear()
