"""What a forwarded command's answer looks like on the wire, and back (docs/sites.md section 5).

The home turns a handler's result into JSON values; the edge turns them back into what its own
transport expects from `Node.submit`, so that routes and the live channel can't tell a
forwarded command from a local one. Most results are JSON already or views (`to_json`); the
two that are not are listed in DECODERS. Commands that stream bytes are not forwarded at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from recordings.audit import AuditRecord
from server.domain.access import Action
from server.errors import HomeOnly
from server.service.evaluation import Ack
from server.service.tenders import Page

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from server.service.commands import Command


def encode(value: object) -> object:
    """A handler's result as JSON values (the home's side)."""
    if isinstance(value, Page):
        return {
            "records": [[record.body, record.hash] for record in value.records],
            "next_after_seq": value.next_after_seq,
            "more": value.more,
        }
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return encode(to_json())
    return value


def _page(document: Any) -> Page:
    records = [AuditRecord.load(body, hash_) for body, hash_ in document["records"]]
    return Page(records, next_after_seq=document["next_after_seq"], more=document["more"])


def _ack(document: Any) -> Ack:
    return Ack(seq=document["seq"], hash=document["hash"], type=document["type"])


_LOG_READS: Final = (Action.READ_SYSTEM_LOG, Action.READ_TENDER_LOG, Action.READ_BID_BOX)
DECODERS: Final[Mapping[tuple[Action, str], Callable[[Any], object]]] = {
    **{(action, ""): _page for action in _LOG_READS},
    (Action.ACT_IN_ROOM, ""): _ack,
}
# Bytes streamed in or out: these go to the home's own address, not through Redis.
HOME_ONLY: Final = frozenset({(Action.SUBMIT_BID, "upload.write"), (Action.READ_BID_DOCUMENT, "")})


def decode(command: Command, document: object) -> object:
    """The home's answer to `command`, as the local node would have returned it."""
    decoder = DECODERS.get((command.action, command.step))
    return document if decoder is None else decoder(document)


def check_forwardable(command: Command, home_url: str) -> None:
    """HomeOnly for a command whose bytes can't travel through the link between sites."""
    if (command.action, command.step) in HOME_ONLY or command.data is not None:
        where = f" at {home_url}" if home_url else ""
        raise HomeOnly(
            f"{command.action.value} streams a file: send it to the main venue's node{where}."
        )
