"""`bidroom host`: the host's commands (主持人): tenders, the opening, the draw, the status.

Each command logs in like the bidder's and expert's (`--node --participant --key`, or a
profile: profiles.py), makes one or a few API calls (docs/protocol.md 2.4, 2.8, 2.10) and says
in one line what the node did; `--json` prints the node's answer instead. A tender spec is
JSON, or JSON with comments like the shipped example (`bidroom host tender example`).
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaluator_client.errors import ApiError
from server.cli import jsonc
from server.cli.common import print_json
from server.cli.messages import fail, table, text
from server.cli.remote import add_node_flags, with_session

if TYPE_CHECKING:
    import argparse

    from evaluator_client.session import Session

EXAMPLE = "tender.example.jsonc"


def register(commands: Any) -> None:
    host: argparse.ArgumentParser = commands.add_parser("host", help="the host's commands (主持人)")
    groups = host.add_subparsers(dest="group", required=True, metavar="GROUP")
    _tender(groups)
    _opening(groups)
    _draw(groups)
    evaluation = _group(groups, "evaluation", "the evaluation (评标)")
    _action(
        evaluation, "start", run_evaluation_start, "start the evaluation once the opening closed"
    )
    _action(groups, "status", run_status, "the tender, its opening and its rooms")


def _group(groups: Any, name: str, help_text: str) -> Any:
    group: argparse.ArgumentParser = groups.add_parser(name, help=help_text)
    return group.add_subparsers(dest="action", required=True, metavar="ACTION")


def _action(
    actions: Any, name: str, run: Any, help_text: str, *, tender: bool = True
) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = actions.add_parser(
        name, help=help_text, description=help_text
    )
    add_node_flags(command)
    command.add_argument("--json", action="store_true", help="print the node's answer as JSON")
    if tender:
        command.add_argument("tender", metavar="ID", help="the tender id, t-...")
    command.set_defaults(run=run)
    return command


def _tender(groups: Any) -> None:
    tender = _group(groups, "tender", "tenders (招标项目)")
    create = _action(
        tender, "create", run_create, "create a draft tender from a spec", tender=False
    )
    create.add_argument("file", nargs="?", type=Path, help="the spec: JSON, comments allowed")
    create.add_argument(
        "--interactive", action="store_true",
        help="ask for the essentials, write them to FILE (from the example), then create",
    )  # fmt: skip
    _action(tender, "publish", run_publish, "publish a draft tender")
    _action(tender, "list", run_list, "the tenders you may see", tender=False)
    example = tender.add_parser("example", help="print the commented example spec")
    example.set_defaults(run=run_example)


def _opening(groups: Any) -> None:
    opening = _group(groups, "opening", "the opening (开标)")
    _action(opening, "start", run_opening("start"), "start the opening (at or after the deadline)")
    pause = _action(opening, "pause", run_opening("pause"), "pause the decryption window")
    pause.add_argument("--reason", required=True, help="why, on record")
    _action(opening, "resume", run_opening("resume"), "resume the decryption window")
    _action(opening, "record", run_opening("record"), "read out the opening record (唱标)")
    answer = _action(opening, "answer", run_opening("answer"), "answer an objection on record")
    answer.add_argument("objection", help="the objection's id, e.g. o1")
    answer.add_argument("--text", required=True, help="the answer")
    _action(opening, "close", run_opening("close"), "close the opening; the node signs the record")


def _draw(groups: Any) -> None:
    draw = _group(groups, "draw", "the expert draw (专家抽取)")
    request = _action(draw, "request", run_draw_request, "commit a lot's draw (the seed's hash)")
    request.add_argument("lot", help="the lot id, e.g. L1")
    request.add_argument("file", type=Path, help="the draw request (docs/spec/evaluation.md 2.2)")
    reveal = _action(draw, "reveal", run_draw_reveal, "reveal the seed: the committee is drawn")
    reveal.add_argument("lot", help="the lot id, e.g. L1")


def _call(args: argparse.Namespace, work: Any) -> Any:
    answer = with_session(args, work)
    if args.json:
        print_json(answer)
    return answer


def _get(args: argparse.Namespace, path: str) -> Any:
    """The node's answer to GET `path` (printed as JSON with --json)."""

    async def get(session: Session) -> dict[str, Any]:
        return await session.get(path)

    return _call(args, get)


def _post(args: argparse.Namespace, path: str, body: dict[str, Any] | None = None) -> Any:
    """The node's answer to POST `path` with `body` (printed as JSON with --json)."""

    async def post(session: Session) -> dict[str, Any]:
        return await session.post(path, body or {})

    return _call(args, post)


# Tenders.


def example_text() -> str:
    return (resources.files("server") / "examples" / EXAMPLE).read_text(encoding="utf-8")


def run_example(args: argparse.Namespace) -> int:
    sys.stdout.write(example_text())
    return 0


def read_spec(path: Path) -> dict[str, Any]:
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail("tender.spec_unreadable", path=path, reason=exc.strerror) from None
    except UnicodeDecodeError as exc:
        raise fail("tender.spec_unreadable", path=path, reason=exc.reason) from None
    try:
        spec = jsonc.loads(source)
    except ValueError as exc:
        raise fail("tender.spec_invalid", path=path, reason=exc) from None
    if not isinstance(spec, dict):
        raise fail("tender.spec_not_object", path=path)
    return spec


def run_create(args: argparse.Namespace) -> int:
    if args.file is None:
        raise fail("tender.need_file")
    if args.interactive:
        if args.file.exists():  # before the questions, not after them
            raise fail("tender.exists", path=args.file)
        spec = ask_spec()
        write_spec(args.file, spec)
    else:
        spec = read_spec(args.file)
    created = _post(args, "/api/tenders", spec)
    if not args.json:
        print(text("tender.created", id=created["id"], title=created["spec"]["title"]))
    return 0


def ask_spec() -> dict[str, Any]:
    """The example spec with the essentials asked for; the rest stays as in the example."""
    spec: dict[str, Any] = jsonc.loads(example_text())
    spec["title"] = _ask("ask.title", spec["title"])
    spec["tenderer"] = _ask("ask.tenderer", spec["tenderer"])
    names = [n.strip() for n in _ask("ask.lots", "一标段").split(",") if n.strip()]
    spec["lots"] = [{"id": f"L{i}", "name": name} for i, name in enumerate(names, 1)]
    schedule = spec["schedule"]
    schedule["bidding_opens_at"] = _ask("ask.opens", schedule["bidding_opens_at"])
    schedule["deadline"] = _ask("ask.deadline", schedule["deadline"])
    custodians = _ask("ask.custodians", ",".join(spec["opening"]["custodians"]))
    spec["opening"]["custodians"] = [c.strip() for c in custodians.split(",") if c.strip()]
    spec["opening"]["threshold"] = _ask_int("ask.threshold", spec["opening"]["threshold"])
    spec["committee"]["size"] = _ask_int("ask.committee", spec["committee"]["size"])
    spec["min_bids"] = _ask_int("ask.min_bids", spec["min_bids"])
    return spec


def _ask(message: str, default: str) -> str:
    while True:
        answer = input(f"{text(message)} [{default}]: ").strip() or default
        if answer:
            return answer
        print(text("ask.empty"), file=sys.stderr)


def _ask_int(message: str, default: int) -> int:
    while True:
        answer = _ask(message, str(default))
        if answer.isdecimal():
            return int(answer)
        print(text("ask.not_number"), file=sys.stderr)


def write_spec(path: Path, spec: dict[str, Any]) -> None:
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(json.dumps(spec, ensure_ascii=False, indent=2) + "\n")
    except FileExistsError:
        raise fail("tender.exists", path=path) from None
    except OSError as exc:
        raise fail("tender.spec_unreadable", path=path, reason=exc.strerror) from None
    print(text("tender.spec_written", path=path), file=sys.stderr)


def run_publish(args: argparse.Namespace) -> int:
    _post(args, f"/api/tenders/{args.tender}/publish")
    if not args.json:
        print(text("tender.published", id=args.tender))
    return 0


def run_list(args: argparse.Namespace) -> int:
    tenders = _get(args, "/api/tenders")["tenders"]
    if args.json:
        return 0
    if not tenders:
        print(text("tender.none"))
        return 0
    rows: list[list[object]] = [
        [t["id"], t["spec"]["title"], t["state"], t["opening_time"]] for t in tenders
    ]
    print(table(["col.tender", "col.title", "col.state", "col.deadline"], rows))
    return 0


# The opening.

OPENING_STEPS = {
    "start": "opening/start",
    "pause": "opening/pause",
    "resume": "opening/resume",
    "record": "opening/record",
    "answer": "opening/objections/{objection}/answer",
    "close": "opening/close",
}


def run_opening(step: str) -> Any:
    path = OPENING_STEPS[step]

    def run(args: argparse.Namespace) -> int:
        body: dict[str, Any] = {}
        if step == "pause":
            body = {"reason": args.reason}
        elif step == "answer":
            body = {"answer": args.text}
        where = path.format(objection=getattr(args, "objection", ""))
        answer = _post(args, f"/api/tenders/{args.tender}/{where}", body)
        if not args.json:
            phase = answer.get("phase") or answer.get("state", "-")
            print(text("opening.done", step=text(f"opening.step.{step}"), phase=phase))
        return 0

    return run


# The draw and the evaluation.


def run_draw_request(args: argparse.Namespace) -> int:
    request = read_spec(args.file)
    answer = _post(args, f"/api/tenders/{args.tender}/lots/{args.lot}/draw", request)
    if not args.json:
        lot = _lot(answer, args.lot)
        print(text("draw.committed", lot=args.lot, seed_hash=lot.get("seed_hash", "-")))
    return 0


def run_draw_reveal(args: argparse.Namespace) -> int:
    answer = _post(args, f"/api/tenders/{args.tender}/lots/{args.lot}/draw/reveal")
    if not args.json:
        print(text("draw.revealed", lot=args.lot, seed=_lot(answer, args.lot).get("seed", "-")))
    return 0


def _lot(progress: dict[str, Any], lot: str) -> dict[str, Any]:
    for item in progress.get("lots", []):
        if isinstance(item, dict) and item.get("lot") == lot:
            return item
    return progress


def run_evaluation_start(args: argparse.Namespace) -> int:
    _post(args, f"/api/tenders/{args.tender}/evaluation/start")
    if not args.json:
        print(text("evaluation.started", id=args.tender))
    return 0


# The status.


def run_status(args: argparse.Namespace) -> int:
    async def gather(session: Session) -> dict[str, Any]:
        base = f"/api/tenders/{args.tender}"
        status: dict[str, Any] = {"tender": await session.get(base)}
        status["opening"] = await _optional(session, f"{base}/opening")
        status["evaluation"] = await _optional(session, f"{base}/evaluation")
        return status

    status = _call(args, gather)
    if not args.json:
        print(status_text(status))
    return 0


async def _optional(session: Session, path: str) -> dict[str, Any] | None:
    """A view that may not exist yet (404) or not be the host's to see (403)."""
    try:
        return await session.get(path)
    except ApiError as exc:
        if exc.status in (403, 404, 409, 422):
            return None
        raise


def status_text(status: dict[str, Any]) -> str:
    tender = status["tender"]
    spec = tender["spec"]
    rows: list[list[object]] = [
        [text("col.tender"), tender["id"]],
        [text("col.title"), spec["title"]],
        [text("status.tenderer"), spec["tenderer"]],
        [text("col.state"), tender["state"]],
        [text("col.deadline"), tender["opening_time"]],
    ]
    opening = status["opening"]
    if opening is None:
        rows.append([text("status.opening"), text("status.no_opening")])
    else:
        signed_in = opening.get("signed_in")
        rows += [
            [text("status.opening"), opening.get("phase")],
            [text("col.bids"), len(opening.get("bids", []))],
            [text("status.signed_in"), len(signed_in) if isinstance(signed_in, list) else "-"],
            [text("status.objections"), len(opening.get("objections", []))],
            [text("status.remaining"), opening.get("remaining_seconds")],
        ]
    parts = [table(["col.field", "col.value"], rows)]
    lots = (status["evaluation"] or {}).get("lots") or []
    if lots:
        rooms: list[list[object]] = [
            [lot.get("lot"), lot.get("stage"), lot.get("members"), lot.get("checked_in"),
             lot.get("signed")]
            for lot in lots
        ]  # fmt: skip
        header = ["col.lot", "col.stage", "col.members", "col.checked_in", "col.signed"]
        parts.append(table(header, rooms))
    else:
        parts.append(text("status.no_rooms"))
    return "\n\n".join(parts)
