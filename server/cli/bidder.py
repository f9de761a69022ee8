"""`bidroom bidder` and `bidroom custodian`: a bidder's and a custodian's tools.

Sealing and unwrapping happen on this machine with keys from local files. The node receives
sealed files, signatures, and at the opening the file key of the bidder's own bid.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crypto import (
    CryptoError,
    EncryptionKey,
    EncryptionPublicKey,
    InvalidSignature,
    SealedBidHeader,
)
from evaluator_client import bidding
from evaluator_client.errors import SealedFileRefused
from evaluator_client.witness import latest_tree_head, prove_included
from recordings.vocabulary import EventType
from server.cli.common import node_key_from, print_json
from server.cli.consent import add_yes_flag, ask_to_sign
from server.cli.messages import (
    EXIT_CORRUPT,
    EXIT_DUPLICATE,
    EXIT_ELSEWHERE,
    EXIT_NO_OPENING_KEY,
    EXIT_NOT_SEALED,
    EXIT_NOT_YOURS,
    text,
)
from server.cli.progress import bar, waiting
from server.cli.remote import (
    add_encryption_flag,
    add_node_flags,
    read_encryption_key,
    read_json,
    with_session,
    write_json,
)
from server.protocol.opening_sheet import sheet_problem

if TYPE_CHECKING:
    import argparse

    from evaluator_client.session import Session


def register(commands: Any) -> None:
    bidder: argparse.ArgumentParser = commands.add_parser("bidder", help="a bidder's tools")
    actions = bidder.add_subparsers(dest="action", required=True, metavar="ACTION")

    seal = _action(actions, "seal", run_seal, "seal a bid package for a tender's lot")
    add_encryption_flag(seal)
    seal.add_argument("--sheet", type=Path, required=True, help="opening-sheet.json")
    seal.add_argument("--package", type=Path, required=True, help="a directory or a .zip")
    seal.add_argument("--out", type=Path, required=True, help="the sealed file to write")

    submit = _action(
        actions, "submit", run_submit, "check a sealed bid, upload it, keep the receipt"
    )
    add_encryption_flag(submit)
    submit.add_argument("sealed", type=Path)
    submit.add_argument("--resume", metavar="UPLOAD", help="resume this unfinished upload")

    receipt = actions.add_parser("receipt", help="receipts")
    receipt_actions = receipt.add_subparsers(dest="receipt_action", required=True)
    verify = receipt_actions.add_parser("verify", help="check a receipt and its sealing")
    add_node_flags(verify)
    verify.add_argument("receipt", type=Path, help="the .receipt.json that submit wrote")
    verify.add_argument("--node-key", help="the node's public key, if known in advance")
    verify.set_defaults(run=run_verify)

    _action(actions, "withdraw", run_withdraw, "withdraw the bid for a lot (before the deadline)")
    _action(actions, "sign-in", run_sign_in, "sign in for the opening (签到)", lot=False)
    decrypt = _action(actions, "decrypt", run_decrypt, "unwrap the file key locally, send it")
    add_encryption_flag(decrypt)
    decrypt.add_argument("sealed", type=Path, help="your copy of the sealed bid")
    confirm = _action(
        actions, "confirm", run_confirm, "confirm the opening record, signed", lot=False
    )
    add_yes_flag(confirm)  # it shows the record and its hash, then asks
    objection = _action(actions, "object", run_object, "object to the opening record", lot=False)
    objection.add_argument("--text", required=True, help="the objection, in writing")

    custodian: argparse.ArgumentParser = commands.add_parser(
        "custodian", help="an opening-key custodian's tools"
    )
    custodian_actions = custodian.add_subparsers(dest="action", required=True, metavar="ACTION")
    share = _action(
        custodian_actions, "share", run_share, "open your key share, hand it in", lot=False
    )
    add_encryption_flag(share)


def _action(
    actions: Any, name: str, run: Any, text: str, *, lot: bool = True
) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = actions.add_parser(name, help=text, description=text)
    add_node_flags(command)
    command.add_argument("--tender", required=True, help="the tender id, t-...")
    if lot:
        command.add_argument("--lot", required=True, help="the lot id, e.g. L1")
    command.set_defaults(run=run)
    return command


def run_seal(args: argparse.Namespace) -> int:
    own = read_encryption_key(args)
    sheet = read_json(args.sheet)
    if not isinstance(sheet, dict):
        raise SystemExit(f"bidroom: {args.sheet} must hold a JSON object")

    async def fetch(session: Session) -> tuple[dict[str, Any], dict[str, Any]]:
        tender = await session.get(f"/api/tenders/{args.tender}")
        return tender, await session.get(f"/api/tenders/{args.tender}/opening")

    tender, opening = with_session(args, fetch)
    full = {"v": 1, "tender": args.tender, "lot": args.lot, "bidder": args.participant} | sheet
    full.setdefault("extra", {})
    fields = [field["name"] for field in tender["spec"]["opening"]["sheet_fields"]]
    problem = sheet_problem(full, fields, args.tender, args.lot, args.participant)
    if problem is not None:
        raise SystemExit(f"bidroom: {args.sheet}: {problem}")
    opening_key = EncryptionPublicKey.from_text(opening["opening_key"])
    if args.package.is_dir():
        with tempfile.TemporaryDirectory() as scratch:
            archive = Path(scratch) / "package.zip"
            bidding.archive_directory(args.package, archive)
            sha256 = _seal(args, full, archive, own.public_key, opening_key)
    else:
        sha256 = _seal(args, full, args.package, own.public_key, opening_key)
    print_json({"sealed": str(args.out), "sha256": sha256, "size": args.out.stat().st_size})
    return 0


def _seal(
    args: argparse.Namespace, sheet: dict[str, Any], archive: Path,
    own: EncryptionPublicKey, opening_key: EncryptionPublicKey,
) -> str:  # fmt: skip
    try:
        with bar("progress.seal", archive.stat().st_size, name=args.out.name) as update:
            return bidding.seal_to_file(
                tender=args.tender, lot=args.lot, bidder=args.participant, sheet=sheet,
                archive=archive, own_key=own, opening_key=opening_key, out=args.out,
                progress=lambda done, _: update(done),
            )  # fmt: skip
    except FileExistsError:
        raise SystemExit(f"bidroom: {args.out} exists; refusing to overwrite it") from None
    except OSError as exc:
        raise SystemExit(f"bidroom: {exc.filename}: {exc.strerror}") from None


def run_submit(args: argparse.Namespace) -> int:
    """Check the file on this machine, ask the node, then upload: a refusal sends nothing."""
    own = read_encryption_key(args)
    name = args.sealed.name
    header, sha256 = _check_locally(args, own)
    size = args.sealed.stat().st_size

    async def submit(session: Session) -> dict[str, Any]:
        tender = await session.get(f"/api/tenders/{args.tender}")
        opening = await session.get(f"/api/tenders/{args.tender}/opening")
        try:
            bidding.check_opening_key(header, tender, opening)
        except SealedFileRefused as exc:
            raise _refusal(args, exc) from None
        held = await bidding.already_received(session, args.tender, args.lot, sha256)
        if held is not None:
            raise _refused(EXIT_DUPLICATE, "submit.duplicate", seq=held["seq"], sha256=sha256)
        with bar("progress.submit", size, name=name) as update:
            answer = await bidding.submit(
                session, args.tender, args.lot, args.sealed, upload=args.resume,
                progress=lambda done, _: update(done), sha256=sha256,
            )  # fmt: skip
        node = await session.get("/api/node")
        return answer | {"node_key": node["public_key"], "node": args.node}

    answer = with_session(args, submit)
    kept = args.sealed.with_name(args.sealed.name + ".receipt.json")
    write_json(kept, answer)
    print_json({"receipt": answer["receipt"], "kept_in": str(kept)})
    return 0


_REFUSALS = {
    SealedFileRefused.NOT_SEALED: (EXIT_NOT_SEALED, "submit.not_sealed"),
    SealedFileRefused.ELSEWHERE: (EXIT_ELSEWHERE, "submit.elsewhere"),
    SealedFileRefused.NOT_YOURS: (EXIT_NOT_YOURS, "submit.not_yours"),
    SealedFileRefused.CORRUPT: (EXIT_CORRUPT, "submit.corrupt"),
    SealedFileRefused.NO_OPENING_KEY: (EXIT_NO_OPENING_KEY, "submit.no_opening_key"),
}


def _check_locally(args: argparse.Namespace, own: EncryptionKey) -> tuple[SealedBidHeader, str]:
    """The sealed file opens with the bidder's own key, whole: else one line and its exit code."""
    path = args.sealed
    try:
        with bar("progress.check", path.stat().st_size, name=path.name) as update:
            return bidding.check_sealed(
                path, own, tender=args.tender, lot=args.lot, bidder=args.participant,
                progress=lambda done, _: update(done),
            )  # fmt: skip
    except OSError as exc:
        raise SystemExit(f"bidroom: can't read {path}: {exc.strerror}") from None
    except SealedFileRefused as exc:
        raise _refusal(args, exc) from None


def _refusal(args: argparse.Namespace, exc: SealedFileRefused) -> SystemExit:
    code, message = _REFUSALS[exc.kind]
    want = f"{args.tender}/{args.lot}/{args.participant}"
    return _refused(code, message, path=args.sealed, reason=exc.reason, want=want)


def _refused(code: int, message: str, **values: object) -> SystemExit:
    """One line on stderr, then exit with `code` (SystemExit with a string always exits 1)."""
    print(f"bidroom: {text(message, **values)}", file=sys.stderr)
    return SystemExit(code)


def run_verify(args: argparse.Namespace) -> int:
    kept = read_json(args.receipt)
    receipt, signature = kept["receipt"], kept["signature"]

    async def check(session: Session) -> dict[str, Any]:
        node_key = (await session.get("/api/node"))["public_key"]
        pinned = args.node_key or kept.get("node_key")
        if pinned and pinned != node_key:
            raise SystemExit("bidroom: the node's key is not the one that signed your receipt")
        key = node_key_from(pinned or node_key)
        try:
            bidding.check_receipt(receipt, signature, key)
        except InvalidSignature:
            raise SystemExit("bidroom: the receipt's signature does not verify") from None
        # The sealed list checked is the one in the log the node signed (proof: hashes only).
        event = await _sealed_event(session, receipt["tender"], receipt["lot"])
        if event is None:
            return {"signature": "valid", "sealed_list": "not sealed yet (before the deadline)"}
        logged = event["payload"]
        bidding.check_inclusion(receipt, logged["list"], logged["signature"], key)
        head = await latest_tree_head(session, receipt["tender"], key)
        await prove_included(session, event, head)
        return {
            "signature": "valid", "sealed_list": "included", "root": logged["list"]["root"],
            "signed_log": f"included in the tree head of {head.size} events",
        }  # fmt: skip

    print_json(with_session(args, check))
    return 0


async def _sealed_event(session: Session, tender: str, lot: str) -> dict[str, Any] | None:
    """The `lot.sealed` event of the lot as the log holds it, or None before the deadline."""
    after = 0
    while True:
        page = await session.get(f"/api/tenders/{tender}/events?after_seq={after}")
        for item in page["events"]:
            event = item["event"]
            if event["type"] == EventType.LOT_SEALED and event["payload"]["list"]["lot"] == lot:
                return dict(event)
        if not page["more"]:
            return None
        after = page["next_after_seq"]


def run_withdraw(args: argparse.Namespace) -> int:
    print_json(with_session(args, lambda s: bidding.withdraw(s, args.tender, args.lot)))
    return 0


def run_sign_in(args: argparse.Namespace) -> int:
    view = with_session(args, lambda s: bidding.sign_in(s, args.tender))
    print_json({"tender": args.tender, "phase": view["phase"], "signed_in": view["signed_in"]})
    return 0


def run_decrypt(args: argparse.Namespace) -> int:
    own = read_encryption_key(args)
    try:
        file_key = bidding.unwrap(args.sealed, own)
    except OSError as exc:
        raise SystemExit(f"bidroom: can't read {args.sealed}: {exc.strerror}") from None
    except CryptoError as exc:
        raise SystemExit(f"bidroom: {args.sealed}: your key does not open it ({exc})") from None

    async def send(session: Session) -> dict[str, Any]:
        with waiting("progress.decrypt", tender=args.tender, lot=args.lot):
            return await bidding.decrypt(session, args.tender, args.lot, file_key)

    print_json(with_session(args, send))
    return 0


def run_confirm(args: argparse.Namespace) -> int:
    async def confirm(session: Session) -> dict[str, Any]:
        record_hash = await _show_record(session, args.tender)
        facts = {"participant": args.participant, "tender": args.tender, "hash": record_hash}
        print(text("sign.record", **facts), file=sys.stderr)
        await asyncio.to_thread(ask_to_sign, args.yes)  # the loop keeps the connection alive
        return await bidding.confirm(session, args.tender)

    view = with_session(args, confirm)
    print_json({"tender": args.tender, "responses": view["responses"]})
    return 0


def run_object(args: argparse.Namespace) -> int:
    async def object_to(session: Session) -> dict[str, Any]:
        await _show_record(session, args.tender)
        return await bidding.object_to(session, args.tender, args.text)

    view = with_session(args, object_to)
    print_json({"tender": args.tender, "objections": view["objections"]})
    return 0


async def _show_record(session: Session, tender: str) -> str:
    """Print the record being signed (to stderr), its hash checked on this machine; the hash."""
    record, record_hash = await bidding.read_record(session, tender)
    print(f"开标记录 opening record of {tender} (hash {record_hash}):", file=sys.stderr)
    for lot in record["lots"]:
        print(f"  {lot['lot']} {lot['name']}", file=sys.stderr)
        for bid in lot["bids"]:
            detail = (bid.get("sheet") or {}).get("price") or bid.get("reason", "")
            print(f"    {bid['name']}: {bid['status']} {detail}", file=sys.stderr)
    return record_hash


def run_share(args: argparse.Namespace) -> int:
    own = read_encryption_key(args)
    view = with_session(args, lambda s: bidding.submit_share(s, args.tender, own))
    print_json({"tender": args.tender, "phase": view["phase"], "bids": view["bids"]})
    return 0
