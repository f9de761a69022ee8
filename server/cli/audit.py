"""`bidroom audit`: verify the node's log offline, export a tender's bundle, verify a bundle."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crypto import HASH_BYTES
from evaluator_client.witness import ForkDetected, TreeHead, Witness, latest_tree_head
from recordings.errors import ChainBroken
from recordings.verify_bundle import verify_bundle
from server import console
from server.audit_export import export_bundle
from server.cli.common import (
    NOT_PINNED,
    add_settings_flags,
    node_key_from,
    print_json,
    settings_from,
)
from server.cli.remote import add_node_flags, with_session
from server.protocol import box_stream

if TYPE_CHECKING:
    import argparse

    from evaluator_client.session import Session


def register(commands: Any) -> None:
    command: argparse.ArgumentParser = commands.add_parser("audit", help="the audit log")
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        help="verify the hash chains of the node's log (a tender, or all), or a bundle file",
    )
    add_settings_flags(verify)
    verify.add_argument(
        "target", nargs="?", help="a tender id, `system`, or a bundle file (default: all streams)"
    )
    verify.add_argument(
        "--recordings", type=Path, help="with a bundle: check the media files in this directory"
    )
    verify.add_argument(
        "--node-key", help="with a bundle: the node's public key, known from elsewhere (pinned)"
    )
    verify.add_argument(
        "--witness-state", type=Path,
        help="with a bundle: a witness's memory; the bundle must extend the tree heads it saw",
    )  # fmt: skip
    verify.set_defaults(run=run_verify)
    export = actions.add_parser("export", help="write a tender's self-contained audit bundle")
    add_settings_flags(export)
    export.add_argument("tender", help="the tender id")
    export.add_argument("--out", type=Path, required=True, help="the bundle file to write")
    export.set_defaults(run=run_export)
    witness = actions.add_parser(
        "witness", help="check the node's newest signed tree head extends the last one seen"
    )
    add_node_flags(witness)
    witness.add_argument("--tender", required=True, help="the tender id, t-...")
    witness.add_argument("--box", action="store_true", help="the tender's bid box (supervisors)")
    witness.add_argument(
        "--state", type=Path, required=True, help="the witness's memory (a JSON file)"
    )
    witness.add_argument("--node-key", help="the node's public key, if known in advance")
    witness.set_defaults(run=run_witness)


def run_verify(args: argparse.Namespace) -> int:
    target = args.target
    if target is not None and Path(target).is_file():
        anchors = None
        if args.witness_state is not None:
            anchors = _witnessed(args.witness_state)
        if args.node_key:
            node_key_from(args.node_key)  # a malformed or weak pinned key ends the command
        return verify_bundle_file(Path(target), args.recordings, args.node_key, anchors)
    settings = settings_from(args)
    path = settings.database_path
    if not path.exists():
        raise SystemExit(f"bidroom: no audit log at {path}")
    try:
        log = console.sealed_log(settings)
    except console.ConsoleError as exc:
        raise SystemExit(f"bidroom: {exc}") from None
    streams = [target] if target else log.streams()
    failures = 0
    for stream in streams:
        try:
            head = log.verify(stream)
        except ChainBroken as exc:
            failures += 1
            print(f"BROKEN  {stream}: first bad event is {exc.seq}: {exc.reason}")
            continue
        if head.seq == 0:
            failures += 1
            print(f"EMPTY   {stream}: no events")
        else:
            print(f"OK      {stream}: {head.seq} events, head {head.hash}")
    return 1 if failures else 0


def _witnessed(path: Path) -> dict[str, tuple[int, bytes]]:
    """A witness's memory (docs/spec/audit-bundle.md section 5): stream -> (size, root)."""
    try:
        seen = json.loads(path.read_text(encoding="utf-8"))
        anchors = {s: (h["size"], bytes.fromhex(h["root"])) for s, h in seen.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SystemExit(f"bidroom: {path} is not a witness's memory: {exc}") from None
    for stream, (size, root) in anchors.items():
        if type(size) is not int or size < 1 or len(root) != HASH_BYTES:
            raise SystemExit(
                f"bidroom: {path} is not a witness's memory: {stream} needs a size of at least 1"
                " and a root of 64 hex digits"
            )
    return anchors


def verify_bundle_file(
    path: Path, recordings: Path | None = None, node_key: str | None = None,
    anchors: dict[str, tuple[int, bytes]] | None = None,
) -> int:  # fmt: skip
    """Check a bundle with no server; print what it trusts, what was checked, every failure."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        report = verify_bundle(lines, recordings, node_key=node_key, anchors=anchors)
    header = report.header
    if header is not None:
        pinned = "pinned" if node_key else "as the bundle says: compare it with the node's"
        print(f"node    {header.get('node')} {header.get('node_key')} ({pinned})")
    if not node_key:
        print(NOT_PINNED)
    for stream, size in sorted(report.signed_sizes.items()):
        print(f"signed  {stream}: the last tree head covers {size} events")
    for what, count in sorted(report.checked.items()):
        print(f"OK      {count:>6} {what}")
    for failure in report.failures:
        print(f"FAILED  {failure}")
    verdict = "verified" if not report.failures else f"{len(report.failures)} failure(s)"
    if not node_key:
        verdict += " (未固定节点公钥 node key not pinned)"
    print(f"bundle {path.name}: {verdict}")
    return 1 if report.failures else 0


def run_export(args: argparse.Namespace) -> int:
    try:
        counts = export_bundle(settings_from(args), args.tender, args.out, datetime.now(UTC))
    except FileExistsError:
        raise SystemExit(f"bidroom: {args.out} exists; refusing to overwrite it") from None
    print_json({"bundle": str(args.out), **counts})
    return 0


def run_witness(args: argparse.Namespace) -> int:
    stream = box_stream(args.tender) if args.box else args.tender

    async def look(session: Session) -> tuple[TreeHead, str]:
        key = node_key_from(args.node_key or (await session.get("/api/node"))["public_key"])
        head = await latest_tree_head(session, stream, key)
        return head, await Witness(args.state).observe(session, head)

    try:
        head, outcome = with_session(args, look)
    except ForkDetected as exc:
        print(f"ALARM   {exc}")
        return 1
    print_json({"stream": stream, "size": head.size, "root": head.root.hex(), "seen": outcome})
    return 0
