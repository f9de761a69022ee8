"""The opening sheet (开标一览表) a bidder seals with its bid (docs/spec/sealed-bid.md section 4).

Its form is part of the sealed-bid format, so one definition serves the bidder's tool, which
checks a sheet before sealing it, and the node, which checks it again when the bid is opened.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Iterable

MEMBERS: Final = frozenset(
    {
        "v",
        "tender",
        "lot",
        "bidder",
        "price",
        "duration_days",
        "quality",
        "project_manager",
        "extra",
    }
)
PRICE: Final = re.compile(r"(0|[1-9][0-9]{0,14})(\.[0-9]{1,2})?")


def sheet_problem(
    sheet: dict[str, Any], fields: Iterable[str], tender: str, lot: str, bidder: str
) -> str | None:
    """What is wrong with `sheet` for this tender, lot and bidder, or None.

    `fields` are the names of the tender's own sheet fields (its spec's `sheet_fields`), which
    `extra` must hold exactly.
    """
    if set(sheet) != MEMBERS:
        missing, unknown = sorted(MEMBERS - set(sheet)), sorted(set(sheet) - MEMBERS)
        named = "; ".join(
            [*([f"it lacks {', '.join(missing)}"] if missing else []),
             *([f"unknown members {', '.join(unknown)}"] if unknown else [])]
        )  # fmt: skip
        hint = " (extra is required: {} when the tender defines no fields)" * ("extra" in missing)
        return f"it does not have the members of an opening sheet v1: {named}{hint}"
    if sheet["v"] != 1 or (sheet["tender"], sheet["lot"], sheet["bidder"]) != (tender, lot, bidder):
        return "it names another tender, lot or bidder"
    if not isinstance(sheet["price"], str) or not PRICE.fullmatch(sheet["price"]):
        return "the price must be a decimal string with at most two decimals"
    days = sheet["duration_days"]
    if type(days) is not int or not 0 <= days <= 36500:
        return "duration_days must be a whole number of days"
    for name in ("quality", "project_manager"):
        if not isinstance(sheet[name], str) or not 1 <= len(sheet[name]) <= 200:
            return f"{name} must be 1 to 200 characters"
    extra = sheet["extra"]
    wanted = set(fields)
    if not isinstance(extra, dict) or set(extra) != wanted:
        return f"extra must hold exactly the tender's fields: {', '.join(sorted(wanted)) or 'none'}"
    if not all(isinstance(v, str) and len(v) <= 200 for v in extra.values()):
        return "extra values must be strings of at most 200 characters"
    return None
