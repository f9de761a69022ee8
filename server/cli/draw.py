"""`bidroom draw verify BUNDLE`: re-run every expert draw of a tender's audit bundle.

The bundle is checked whole first (chains, signed tree heads, proven keys, signatures); then
each draw is listed with its seed and committee, as re-computed from the seed and the
committed pool snapshot (docs/spec/evaluation.md section 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from recordings.bundle import Report, read_bundle
from recordings.draw import DrawRequest, PoolEntry, draw
from recordings.verify_bundle import verify_bundle
from recordings.vocabulary import EventType
from server.cli.common import NOT_PINNED, node_key_from

if TYPE_CHECKING:
    import argparse


def register(commands: Any) -> None:
    command: argparse.ArgumentParser = commands.add_parser("draw", help="the expert draw")
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="re-run every draw of an audit bundle")
    verify.add_argument("bundle", type=Path, help="a tender's bundle (bidroom audit export)")
    verify.add_argument("--node-key", help="the node's public key, known from elsewhere")
    verify.set_defaults(run=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    path: Path = args.bundle
    if not path.is_file():
        raise SystemExit(f"bidroom: no bundle at {path}")
    if args.node_key:
        node_key_from(args.node_key)  # a malformed or weak pinned key ends the command
    else:
        print(NOT_PINNED)
    with path.open(encoding="utf-8", errors="replace") as lines:
        report = verify_bundle(lines, node_key=args.node_key)
    with path.open(encoding="utf-8", errors="replace") as lines:
        bundle = read_bundle(lines, Report())
    events = [e for _, e, _ in bundle.streams.get(bundle.tender, [])] if bundle else []
    commitments: dict[str, dict[str, Any]] = {}
    for event in events:
        payload = event["payload"]
        if event["type"] == EventType.EVALUATION_DRAW_COMMITTED:
            commitments[payload["lot"]] = payload
        elif event["type"] == EventType.EVALUATION_COMMITTEE_DRAWN:
            _show(payload, commitments[payload["lot"]])
    runs = report.checked.get("draws re-run from their seed", 0)
    replacements = report.checked.get("replacements re-run", 0)
    for failure in report.failures:
        print(f"FAILED  {failure}")
    verdict = "verified" if not report.failures else f"{len(report.failures)} failure(s)"
    print(f"{runs} draw(s) and {replacements} replacement(s) re-run; bundle {path.name}: {verdict}")
    return 1 if report.failures or not runs else 0


def _show(drawn: dict[str, Any], committed: dict[str, Any]) -> None:
    committee = draw(
        bytes.fromhex(drawn["seed"]),
        tuple(PoolEntry.from_json(e) for e in committed["snapshot"]),
        DrawRequest.from_json(committed["request"]),
        committed["avoid"],
    )
    print(f"lot {drawn['lot']}: seed {drawn['seed']}")
    print(f"  committed seed hash {committed['seed_hash']}, pool {committed['snapshot_hash']}")
    print(f"  pool of {len(committed['snapshot'])}, avoiding {', '.join(committed['avoid'])}")
    for seat in committee.members:
        print(f"  member  {seat.expert}  {seat.specialty}  {seat.site}/{seat.workstation}")
    print(f"  standby {' '.join(committee.standby) or '-'}")
