"""The README's first command, as a user runs it: `bidroom demo` in a fresh process."""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys
from typing import TYPE_CHECKING, Any

from crypto import canonical_json
from recordings.audit import read_body
from recordings.vocabulary import EventType
from server.config import Settings
from server.domain.bidbox import BidBox
from server.domain.catalogue import decode_event
from server.domain.participants import Registry
from server.domain.tender import Tender
from server.media.speech import spoken_text
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
    # Against the signed system log; the visitor is in the tender's log as a media watcher.
    assert re.search(r"OK +13 participant keys proven", text)
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
    _assert_media(text)
    assert "FAILED" not in text
    assert "audit log verified" in text
    assert not err.strip(), err.decode()
    assert await asyncio.to_thread(_reads_back, tmp_path / "demo") >= 40  # event types seen
    segments = await asyncio.to_thread(_recordings_match_the_log, tmp_path / "demo")
    assert re.search(rf"OK +{segments} segments match the hashes in the log", text)


def _assert_media(text: str) -> None:
    """The host's desk and the workstations went live, were watched, spoken over, recorded."""
    assert "host publishes opening/host: a test picture 320x240 at 10 fps" in text
    assert "visitor watches opening/host: first picture 320x240 decoded" in text
    assert re.search(
        r"the node reads the record out in Mandarin \(espeak-ng [\d.]+, cmn-latn-pinyin\): "
        r"[1-9]\d*\.\ds, text sha256 [0-9a-f]{16}…",
        text,
    )
    published = re.findall(r"expert-\d +publishes L1/([MS]-0\d) from its workstation", text)
    assert len(set(published)) == 5
    watched = re.search(
        r"the supervisor watches L1/([MS]-0\d): first picture 320x240 decoded", text
    )
    assert watched is not None
    assert watched[1] in published
    assert "sessions: 6 published, 2 watched, 8 ended, each on record" in text
    pictures = re.search(r"visitor +decoded (\d+) pictures \(320x240\) and (\d+) audio", text)
    assert pictures is not None
    assert int(pictures[1]) >= 10  # the opening lasts seconds at 10 pictures a second
    assert int(pictures[2]) >= 10
    assert re.search(r"supervisor +decoded [1-9]\d* pictures \(320x240\)", text)
    rooms = dict(re.findall(r"room (\w+) +(\d+) segments recorded", text))
    assert int(rooms["L1"]) >= 10  # a video and an audio track from each of 5 workstations
    assert int(rooms["opening"]) >= 3  # the host's video, the program audio, the speech
    assert re.search(r"唱标 spoken: [1-9]\d*\.\ds, text sha256 [0-9a-f]{16}…", text)


def _recordings_match_the_log(data_dir: Path) -> int:
    """Every segment on disk is in the tender's log with its hash, and every one the log lists
    is on disk; the spoken text is the record's, rebuilt. Returns how many segments."""
    settings = Settings(data_dir=data_dir)
    sealer = NodeKeys(load_node_key(settings.node_key_path, None)).records
    streams = stored_streams(settings.database_path)
    (tender,) = (s for s in streams if s != SYSTEM_STREAM and box_tender(s) is None)
    listed: dict[str, str] = {}
    published: dict[str, Any] = {}
    spoken: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for _seq, body, _hash in stored_rows(settings.database_path, tender, sealer):
        record = read_body(body)
        if record["type"] == EventType.TENDER_CREATED:
            fields = record["payload"]["spec"]["opening"]["sheet_fields"]
            labels = {field["name"]: field["label"] for field in fields}
        elif record["type"] == EventType.MEDIA_SEGMENT_CLOSED:
            listed[record["payload"]["name"]] = record["payload"]["sha256"]
        elif record["type"] == EventType.OPENING_RECORD_PUBLISHED:
            published = record["payload"]
        elif record["type"] == EventType.OPENING_RECORD_SPOKEN:
            spoken = record["payload"]
    root = settings.recordings_dir
    on_disk = {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file()
    }
    assert on_disk == listed
    rooms = {name.split("/")[1] for name in listed}
    assert rooms == {"opening", "L1"}
    assert any(name.endswith("/opening/node/speech/000000.webm") for name in listed)
    assert spoken["spoken"] is True
    text = spoken_text(published["record"], labels)  # the sheet's fields by the tender's labels
    assert hashlib.sha256(text.encode()).hexdigest() == spoken["text_sha256"]
    return len(listed)


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
