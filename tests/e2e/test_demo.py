"""The README's first command, as a user runs it: `bidroom demo` in a fresh process."""

from __future__ import annotations

import asyncio
import re
import sys
from typing import TYPE_CHECKING

from crypto import canonical_json
from recordings.audit import read_body
from server.config import Settings
from server.domain.bidbox import BidBox
from server.domain.catalogue import decode_event
from server.domain.participants import Registry
from server.domain.tender import Tender
from server.protocol import SYSTEM_STREAM, box_tender
from server.service.node import load_node_key
from server.service.node_keys import NodeKeys
from server.storage.sqlite_schema import stored_rows, stored_streams

if TYPE_CHECKING:
    from pathlib import Path


async def test_the_demo_runs_an_opening_and_an_evaluation_and_verifies_its_audit_log(
    tmp_path: Path,
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "demo", "--data-dir", str(tmp_path / "demo"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    text = out.decode()
    assert process.returncode == 0, err.decode()[-2000:]
    assert len(re.findall(r"receipt #1 for [\d,]+ bytes.*node signature verified", text)) == 5
    assert re.search(r"bidder-2 +receipt #2", text)  # the revision
    for rule in ("NotASealedBid", "AccessDenied", "OpeningTimeNotReached"):
        assert f"(rule {rule})" in text
    assert "the host sees 0 signed in, 0 bids" in text  # secret until the deadline
    assert "every bidder found its receipt under the one root" in text
    assert text.count("sends only its file key: decrypted") == 4
    assert "No attempts left: the bid is revoked." in text
    assert re.search(r"乙工程有限公司 Bidder B +decrypted +3139000\.00", text)  # the revised price
    assert re.search(r"戊市政工程有限公司 Bidder E +revoked", text)
    assert "the final record is signed by the node: verified" in text
    assert "(matches)" in text
    assert "documents ['商务标.txt', '技术标/施工组织设计.txt']" in text
    assert "reconnected 1x" in text
    assert re.search(r"visitor +tender +\d+ events, 0 bid receipts", text)
    assert re.search(r"supervisor +bid box +\d+ events, 6 bid receipts", text)
    assert len(re.findall(r"  OK      \S+: \d+ events", text)) == 3  # system, tender, bid box
    assert re.search(r"tree head of \d+ events, root \w+…: extends \d+", text)  # the witness
    assert re.search(r"OK +\d+ tree heads", text)  # the bundle, checked with no server
    assert re.search(r"OK +6 receipt signatures", text)
    assert re.search(r"OK +12 participant keys proven", text)  # against the signed system log
    # The evaluation: a verifiable draw, signed acts, a flagged score revised, the result.
    assert "re-runs the draw from the seed: the same committee" in text
    assert "expert-8 works for a bidder and was avoided" in text
    assert text.count("check-in and pledge signed, acked as #") == 5
    assert re.search(r"flag: expert-\d: subjective subtotal", text)
    assert "revises its sheet: version 2" in text
    assert "recomputed: True" in text
    assert text.count("候选人 candidate") == 3
    assert "5 signatures, 0 dissents" in text
    assert re.search(r"OK +1 draws re-run from their seed", text)
    assert re.search(r"OK +5 report-signature signatures", text)
    assert re.search(r"OK +21 score-sheet signatures", text)
    assert re.search(r"OK +1 witnessed tree heads extended", text)
    assert "FAILED" not in text
    assert "audit log verified" in text
    assert not err.strip(), err.decode()
    assert await asyncio.to_thread(_reads_back, tmp_path / "demo") >= 40  # event types seen


def _reads_back(data_dir: Path) -> int:
    """Every record of the demo's log decodes, encodes again byte for byte, and folds into its
    stream's aggregate. Returns how many event types the log holds."""
    settings = Settings(data_dir=data_dir)
    sealer = NodeKeys(load_node_key(settings.node_key_path, None)).records
    seen: set[str] = set()
    for stream in stored_streams(settings.database_path):
        aggregate: Tender | BidBox | Registry = (
            Registry() if stream == SYSTEM_STREAM
            else BidBox(stream) if box_tender(stream) is not None
            else Tender(stream)
        )  # fmt: skip
        for _seq, body, _hash in stored_rows(settings.database_path, stream, sealer):
            record = read_body(body)
            event = decode_event(record["type"], record["payload"])
            assert canonical_json(event.payload()) == canonical_json(record["payload"])
            if not hasattr(event, "audience"):  # a room's members then are not in the payload
                assert sorted(event.visibility()) == record["visibility"]
            aggregate.apply(event)
            seen.add(record["type"])
    return len(seen)
