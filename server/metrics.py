"""The node's Prometheus metrics: one registry per application, served at /metrics.

prometheus-client is the reference client of the format Prometheus scrapes: its text
exposition, histograms and callback gauges are what an operator's tooling expects, so the
node uses it rather than writing the format itself. Each application gets its own
`CollectorRegistry` (never the process-wide default), so that two nodes in one process (the
tests, the demo) keep separate counts. Labels are bounded sets: actions, rules and error codes,
decryption outcomes; never a tender, a participant or an address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from collections.abc import Callable

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
# Commits are group commits with fsync: milliseconds on a disk, up to seconds on a slow one.
COMMIT_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# From an event's time to its frame written to the live connections: local delivery is
# immediate; across sites Redis adds milliseconds, a backlog seconds.
FANOUT_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """What the node counts; implements server.service.observer.Observer."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self._commands = Counter(
            "bidroom_commands", "Commands and queries submitted, by action.", ["action"],
            registry=registry,
        )  # fmt: skip
        self._refusals = Counter(
            "bidroom_refusals", "Commands refused, by action and rule or error code.",
            ["action", "reason"], registry=registry,
        )  # fmt: skip
        self._commit = Histogram(
            "bidroom_commit_seconds", "From records queued to durable in the event store.",
            buckets=COMMIT_BUCKETS, registry=registry,
        )  # fmt: skip
        self._records = Counter(
            "bidroom_records_committed", "Records committed to the event store.",
            registry=registry,
        )  # fmt: skip
        self._fanout = Histogram(
            "bidroom_fanout_lag_seconds",
            "From an event's time to its frame written to the live connections.",
            buckets=FANOUT_BUCKETS, registry=registry,
        )  # fmt: skip
        self._decryptions = Counter(
            "bidroom_decryptions", "Stored sealed bids opened, by outcome (opened or the fault).",
            ["outcome"], registry=registry,
        )  # fmt: skip
        self._decrypted_bytes = Counter(
            "bidroom_decrypted_bytes", "Bytes of sealed bids decrypted.", registry=registry
        )
        self._decrypt_seconds = Counter(
            "bidroom_decrypt_seconds", "Time spent decrypting sealed bids (bytes / seconds is "
            "the throughput).", registry=registry,
        )  # fmt: skip
        self._uploaded = Counter(
            "bidroom_upload_bytes", "Bytes of sealed files received.", registry=registry
        )

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A value read at each scrape (live connections, subscribers, media sessions)."""
        Gauge(name, documentation, registry=self.registry).set_function(read)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # Observer.

    def command(self, action: str) -> None:
        self._commands.labels(action).inc()

    def refused(self, action: str, reason: str) -> None:
        self._refusals.labels(action, reason).inc()

    def committed(self, seconds: float, records: int) -> None:
        self._commit.observe(seconds)
        self._records.inc(records)

    def decrypted(self, outcome: str, size: int, seconds: float) -> None:
        self._decryptions.labels(outcome).inc()
        self._decrypted_bytes.inc(size)
        self._decrypt_seconds.inc(seconds)

    def uploaded(self, size: int) -> None:
        self._uploaded.inc(size)

    def fanned_out(self, seconds: float) -> None:
        self._fanout.observe(max(seconds, 0.0))
