"""The ranking, the evaluation report (Eval Rules 42) and the result, as JSON documents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from recordings.vocabulary import ActType
from server.domain.scores import aggregate, price_scores, rank
from server.domain.spec import ScoringMethod
from server.protocol.times import format_time

if TYPE_CHECKING:
    from datetime import datetime
    from decimal import Decimal

    from server.domain.committee import RoomContext
    from server.domain.room import Room


def plain(value: Decimal) -> str:
    """A decimal as a plain string, never in exponent form."""
    return format(value, "f")


def ranking(room: Room, ctx: RoomContext) -> dict[str, Any]:
    """Price scores, each member's total per bid, the aggregates, the order, the candidates."""
    scheme = ctx.spec.scoring
    bids = [bid for bid in ctx.bids if bid.bidder in room.compliant()]
    prices: dict[str, Decimal] = {}
    totals: dict[str, dict[str, Decimal]] = {}
    aggregates: dict[str, Decimal] = {}
    if scheme.method is ScoringMethod.COMPREHENSIVE:
        prices = price_scores({b.bidder: b.price for b in bids}, scheme.price_weight)
        for bid in bids:
            totals[bid.bidder] = {
                member: sum(room.current(member, bid.bidder).scores.values(), prices[bid.bidder])
                for member in room.members
            }
            aggregates[bid.bidder] = aggregate(
                list(totals[bid.bidder].values()), scheme.drop_extremes
            )
    order = rank(scheme, bids, aggregates)
    by_bidder = {bid.bidder: bid for bid in bids}
    return {
        "round": room.scoring_round,
        "price_scores": {b: plain(v) for b, v in prices.items()},
        "totals": {b: {m: plain(v) for m, v in t.items()} for b, t in totals.items()},
        "aggregates": {b: plain(v) for b, v in aggregates.items()},
        "ranking": [
            {
                "rank": place,
                "bidder": bidder,
                "price": plain(by_bidder[bidder].price),
                "score": plain(aggregates[bidder]) if bidder in aggregates else None,
            }
            for place, bidder in enumerate(order, start=1)
        ],
        "candidates": order[: scheme.candidates],
    }


def report_document(room: Room, ctx: RoomContext, now: datetime) -> dict[str, Any]:
    """The report as the members sign it (docs/spec/evaluation.md section 6)."""
    spec, names = ctx.spec, ctx.names
    ranked = room.ranked or {}
    decided = room.decided or {}
    return {
        "v": 1,
        "type": "evaluation-report",
        "basic": {
            "tender": ctx.tender,
            "title": spec.title,
            "tenderer": spec.tenderer,
            "lot": ctx.lot.id,
            "lot_name": ctx.lot.name,
        },
        "committee": {
            "members": [
                {
                    "expert": s.expert,
                    "name": names.get(s.expert, s.expert),
                    "specialty": s.specialty,
                    "site": s.site,
                    "workstation": s.workstation,
                    "leader": s.expert == room.leader,
                }
                for s in room.members.values()
            ],
            "replaced": [
                {
                    "expert": r.leaving,
                    "name": names.get(r.leaving, r.leaving),
                    "reason": r.reason,
                    "by": r.by,
                }
                for r in room.replaced
            ],
        },
        "opening_record_hash": ctx.record_hash,
        "bids": [
            {"bidder": b.bidder, "name": names.get(b.bidder, b.bidder), "price": plain(b.price)}
            for b in ctx.bids
        ],
        "compliant": list(decided.get("compliant", [])),
        "rejected": list(decided.get("rejected", [])),
        "method": spec.scoring.to_json(),
        "scores": {
            "sheets": [
                {
                    "expert": m,
                    "bidder": b,
                    "round": sheet.round,
                    "version": sheet.version,
                    "scores": {c: plain(v) for c, v in sheet.scores.items()},
                    "comment": sheet.comment,
                }
                for (m, b), versions in sorted(room.sheets.items())
                if m in room.members
                for sheet in versions[-1:]
            ],
            "price_scores": ranked.get("price_scores", {}),
            "totals": ranked.get("totals", {}),
            "aggregates": ranked.get("aggregates", {}),
        },
        "flags": list(room.flag_log),
        "ranking": list(ranked.get("ranking", [])),
        "candidates": list(ranked.get("candidates", [])),
        "clarifications": [
            {"id": c.id, "bidder": c.bidder, "question": c.question, "answer": c.answer}
            for c in room.clarifications.values()
        ],
        "time": {
            "ends_at": format_time(room.ends_at) if room.ends_at else None,
            "extended": room.extended,
        },
        "issued_at": format_time(now),
    }


def result_document(
    room: Room, ctx: RoomContext, silent: list[str], now: datetime
) -> dict[str, Any]:
    """The published result: the report, the names, every signature and dissent (GP87 69)."""
    names = ctx.names
    signed: list[dict[str, Any]] = []
    dissents: list[dict[str, Any]] = []
    for expert, act in room.responses.items():
        entry = {"expert": expert, "name": names.get(expert, expert),
                 "document": dict(act.document), "signature": act.signature}  # fmt: skip
        (dissents if act.document["type"] == ActType.REPORT_DISSENT else signed).append(entry)
    candidates = (room.ranked or {}).get("candidates", [])
    return {
        "report": dict(room.report or {}),
        "report_hash": room.report_hash,
        "committee": [
            {
                "expert": s.expert,
                "name": names.get(s.expert, s.expert),
                "specialty": s.specialty,
                "site": s.site,
                "leader": s.expert == room.leader,
            }
            for s in room.members.values()
        ],
        "signatures": signed,
        "dissents": dissents,
        # Regs 53: a member who neither signs nor gives reasons for dissent agrees.
        "deemed_agreed": [{"expert": m, "name": names.get(m, m)} for m in silent],
        "candidates": [{"bidder": b, "name": names.get(b, b)} for b in candidates],
        "at": format_time(now),
    }
