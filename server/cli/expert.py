"""`bidroom expert`: an evaluation workstation's commands (远程异地评标).

Each act is a document built and signed here with the expert's key, sent over the live
channel, and acknowledged by the node with its place in the log (docs/spec/evaluation.md).
Sheets can be prepared in files: `review` reads a compliance sheet, `score` score sheets.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaluator_client.room import RoomClient, RoomState
from recordings.documents import report_hash
from recordings.vocabulary import ActType
from server.cli.common import print_json
from server.cli.consent import add_yes_flag, ask_to_sign
from server.cli.failures import EXIT_FAILED, Failure
from server.cli.messages import fail, text
from server.cli.progress import bar
from server.cli.remote import add_node_flags, read_json, with_session
from server.cli.unpack import unpack

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable

    from evaluator_client.session import Session
    from server.protocol import Acked

# How long `join --until` waits for its stage.
JOIN_TIMEOUT = 3600.0


def register(commands: Any) -> None:
    expert: argparse.ArgumentParser = commands.add_parser("expert", help="an expert's workstation")
    actions = expert.add_subparsers(dest="action", required=True, metavar="ACTION")
    login = actions.add_parser("login", help="log in; show where you sit (tender, lot, site)")
    add_node_flags(login)
    login.set_defaults(run=run_login)
    join = _action(actions, "join", run_join, "check in and pledge; show the room live")
    join.add_argument(
        "--conflict", action="append", default=[], metavar="ORGANISATION:REASON",
        help="declare a tie to an organisation (you will be replaced)",
    )  # fmt: skip
    join.add_argument("--until", metavar="STAGE", help="stop watching once the room is at STAGE")
    bids = _action(actions, "bids", run_bids, "list the bids; download their documents")
    bids.add_argument("--out", type=Path, help="save each bid's package in this directory")
    unpack_command = actions.add_parser(
        "unpack", help="extract a saved bid package: the opening sheet and its files"
    )
    unpack_command.add_argument("package", type=Path, help="a .package saved by bids --out")
    unpack_command.add_argument("dir", type=Path, help="an empty or new directory")
    unpack_command.set_defaults(run=run_unpack)
    vote = _action(actions, "vote", run_vote, "vote for the leader in the current round")
    vote.add_argument("candidate", help="the member's participant id")
    review = _action(actions, "review", run_review, "send the compliance sheet from a file")
    review.add_argument("sheet", type=Path, help='{"bidder": {"C1": {"pass": true, ...}}}')
    score = _action(actions, "score", run_score, "send score sheets from a file")
    score.add_argument("sheets", type=Path, help='[{"bidder", "scores": {...}, "comment"}]')
    confirm = _action(actions, "confirm", run_confirm, "stand by a flagged score, with a reason")
    confirm.add_argument("bidder")
    confirm.add_argument("--reason", required=True)
    sign = _action(actions, "sign", run_sign, "sign the report's hash, or record dissent")
    sign.add_argument("--dissent", metavar="REASONS", help="dissent instead, with reasons")
    add_yes_flag(sign)  # it shows the report's hash and ranking, then asks


def _action(actions: Any, name: str, run: Any, text: str) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = actions.add_parser(name, help=text, description=text)
    add_node_flags(command)
    command.add_argument("--tender", required=True, help="the tender id, t-...")
    command.set_defaults(run=run)
    return command


def run_login(args: argparse.Namespace) -> int:
    seats = with_session(args, RoomClient.seats)
    print_json({"participant": args.participant, "seats": seats})
    return 0


def _in_room(
    args: argparse.Namespace, work: Callable[[RoomClient, dict[str, Any]], Awaitable[Any]]
) -> Any:
    """Open the expert's seat for `--tender` with the room's current view, run `work`."""

    async def run(session: Session) -> Any:
        seats = [s for s in await RoomClient.seats(session) if s["tender"] == args.tender]
        if not seats:
            raise SystemExit(f"bidroom: you have no seat in tender {args.tender}")
        async with RoomClient(session, args.tender, seats[0]) as room:
            return await work(room, await room.view())

    return with_session(args, run)


def _acked(acks: list[Acked]) -> int:
    print_json([{"type": a.recorded, "seq": a.seq, "hash": a.hash} for a in acks])
    return 0


def run_join(args: argparse.Namespace) -> int:
    conflicts = []
    for item in args.conflict:
        organisation, _, reason = item.partition(":")
        if not organisation.strip() or not reason.strip():
            raise SystemExit("bidroom: --conflict needs ORGANISATION:REASON")
        conflicts.append((organisation.strip(), reason.strip()))

    async def join(room: RoomClient, view: dict[str, Any]) -> list[Acked]:
        you = next(m for m in view["members"] if m["expert"] == room.session.participant)
        acks = []
        if not you["checked_in"]:
            acks.append(await room.check_in())
        if not you["pledged"]:
            acks.append(await room.pledge(conflicts))
        stage = f"{view['stage']} round {view['round']}"
        print(f"room {room.lot}: {stage}, site {room.site}", file=sys.stderr)
        if args.until:
            shown: set[int] = set()

            def live(state: RoomState) -> bool:  # prints each event once, as it comes
                for event in state.events:
                    if event.seq not in shown:
                        shown.add(event.seq)
                        print(f"  #{event.seq} {event.type}", file=sys.stderr)
                return bool(state.stage == args.until)

            async with asyncio.timeout(JOIN_TIMEOUT):
                await room.wait_for(live)
        return acks

    return _acked(_in_room(args, join))


def run_bids(args: argparse.Namespace) -> int:
    async def bids(room: RoomClient, view: dict[str, Any]) -> list[dict[str, Any]]:
        if args.out is not None:
            await asyncio.to_thread(args.out.mkdir, parents=True, exist_ok=True)
            for bid in view["bids"]:
                path = f"/api/tenders/{args.tender}/lots/{room.lot}/bids/{bid['bidder']}/document"
                target = args.out / f"{bid['bidder']}.package"
                bid["size"] = await _download(room.session, path, target)
                bid["saved"] = str(target)
        return list(view["bids"])

    print_json(_in_room(args, bids))
    return 0


async def _download(session: Session, path: str, target: Path) -> int:
    """Stream a package to `target` (constant memory); a failed download leaves no file."""
    partial = target.with_name(target.name + ".part")
    handle = await asyncio.to_thread(partial.open, "wb")
    try:
        with bar("progress.download", None, name=target.name) as update:
            size = await session.download(path, handle, update)
    except BaseException:
        await asyncio.to_thread(handle.close)
        await asyncio.to_thread(partial.unlink, missing_ok=True)
        raise
    await asyncio.to_thread(handle.close)
    await asyncio.to_thread(partial.replace, target)
    return size


def run_unpack(args: argparse.Namespace) -> int:
    try:
        count = unpack(args.package, args.dir)
    except OSError as exc:
        raise fail("unpack.failed", path=exc.filename, reason=exc.strerror) from None
    print(text("unpack.done", dir=args.dir, count=count))
    return 0


def run_vote(args: argparse.Namespace) -> int:
    return _acked(_in_room(args, lambda room, _: _all(room.vote(args.candidate))))


def run_review(args: argparse.Namespace) -> int:
    sheet = read_json(args.sheet)
    if not isinstance(sheet, dict):
        raise SystemExit(f"bidroom: {args.sheet} must hold bidder -> criterion -> result")

    async def review(room: RoomClient, _: dict[str, Any]) -> list[Acked]:
        return [await room.send(room.document(ActType.COMPLIANCE_SHEET, results=sheet))]

    return _acked(_in_room(args, review))


def run_score(args: argparse.Namespace) -> int:
    sheets = read_json(args.sheets)
    if not isinstance(sheets, list) or not all(isinstance(s, dict) for s in sheets):
        raise SystemExit(f"bidroom: {args.sheets} must hold a list of score sheets")

    async def score(room: RoomClient, view: dict[str, Any]) -> list[Acked]:
        mine = {s["bidder"]: s["version"] for s in view["sheets"]}
        acks = []
        for sheet in sheets:
            bidder = str(sheet.get("bidder"))
            document = room.document(
                ActType.SCORE_SHEET, round=view["round"], version=mine.get(bidder, 0) + 1,
                bidder=bidder, scores=sheet.get("scores"), comment=sheet.get("comment", ""),
            )  # fmt: skip
            acks.append(await room.send(document))
        return acks

    return _acked(_in_room(args, score))


def run_confirm(args: argparse.Namespace) -> int:
    return _acked(_in_room(args, lambda room, _: _all(room.confirm(args.bidder, args.reason))))


def run_sign(args: argparse.Namespace) -> int:
    async def sign(room: RoomClient, view: dict[str, Any]) -> list[Acked]:
        _show_report(room, view)
        who = {"participant": args.participant}
        if args.dissent:
            print(text("sign.as_dissent", reasons=args.dissent, **who), file=sys.stderr)
        else:
            print(text("sign.as_signature", **who), file=sys.stderr)
        await asyncio.to_thread(ask_to_sign, args.yes)  # the loop keeps the room's feed alive
        return await _all(room.dissent(args.dissent) if args.dissent else room.sign_report())

    return _acked(_in_room(args, sign))


def _show_report(room: RoomClient, view: dict[str, Any]) -> None:
    """Print the report about to be signed (to stderr): its hash, checked here, and ranking."""
    report, claimed = view.get("report"), view.get("report_hash")
    if not isinstance(report, dict) or not claimed:
        raise Failure(EXIT_FAILED, "sign.no_report")
    if report_hash(report) != claimed:
        raise Failure(EXIT_FAILED, "sign.report_mismatch")
    print(text("sign.report", tender=room.tender, lot=room.lot, hash=claimed), file=sys.stderr)
    for entry in report.get("ranking", []):
        facts = {k: entry.get(k) if entry.get(k) is not None else "-" for k in RANKING}
        print(text("sign.ranking", **facts), file=sys.stderr)
    candidates = "、".join(str(c) for c in report.get("candidates", [])) or "-"
    print(text("sign.candidates", candidates=candidates), file=sys.stderr)


RANKING = ("rank", "bidder", "price", "score")


async def _all(act: Awaitable[Acked]) -> list[Acked]:
    return [await act]
