"""Nodes of several sites as real processes (`python -m server serve ...`), for the tests that
kill and restart them: the processes of server/sites/processes.py (the demo runs the same),
with the settings these tests want.

A node is ready when it prints its listening line; its role shows in its log lines. Tests
wait on those lines (each wait bounded), never on time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from server.sites import processes
from server.sites.processes import READY, START_SECONDS, enrol_offline

__all__ = ["ENVIRONMENT", "READY", "START_SECONDS", "NodeProcess", "enrol_offline"]

# The node's own settings for these tests: a short lease so that a failover is quick.
ENVIRONMENT: Final = {
    "BIDROOM_LEASE_TTL_SECONDS": "2",
    "BIDROOM_FORWARD_TIMEOUT_SECONDS": "5",
    "BIDROOM_REDIS_TIMEOUT_SECONDS": "2",
    "BIDROOM_LOG_LEVEL": "INFO",
}


@dataclass
class NodeProcess(processes.NodeProcess):
    environment: dict[str, str] = field(default_factory=lambda: dict(ENVIRONMENT))
