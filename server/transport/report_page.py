"""The evaluation report as an HTML page (Eval Rules 42), Chinese first, English on request.

Everything shown comes from the report document the members signed (and, once published, the
result: signatures, dissents, who is deemed to agree); every value is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any, Final

_LABELS: Final = {
    "title": ("评标报告", "Evaluation report"),
    "basic": ("一、基本情况", "1. Basic data"),
    "tender": ("项目编号", "Tender"),
    "name": ("项目名称", "Title"),
    "tenderer": ("招标人", "Tenderer"),
    "lot": ("标段", "Lot"),
    "committee": ("二、评标委员会", "2. Committee"),
    "expert": ("专家", "Expert"),
    "specialty": ("专业", "Specialty"),
    "site": ("评标场地", "Site"),
    "leader": ("组长", "Leader"),
    "replaced": ("更换的成员", "Replaced members"),
    "reason": ("原因", "Reason"),
    "opening": ("三、开标记录", "3. Opening record"),
    "record_hash": ("开标记录哈希", "Opening record hash"),
    "bidder": ("投标人", "Bidder"),
    "price": ("投标报价", "Price"),
    "compliance": ("四、符合性审查", "4. Compliance review"),
    "compliant": ("通过审查的投标", "Compliant bids"),
    "rejected": ("被否决的投标及原因", "Rejected bids and reasons"),
    "method": ("五、评标办法与标准", "5. Method and criteria"),
    "criterion": ("评审因素", "Criterion"),
    "max": ("分值", "Maximum"),
    "scores": ("六、评分", "6. Scores"),
    "aggregate": ("汇总得分", "Aggregate"),
    "price_score": ("价格分", "Price score"),
    "flags": ("评分复核记录", "Score checks"),
    "ranking": ("七、排序与中标候选人", "7. Ranking and candidates"),
    "rank": ("名次", "Rank"),
    "score": ("得分", "Score"),
    "candidates": ("中标候选人", "Candidates"),
    "clarifications": ("八、澄清纪要", "8. Clarification minutes"),
    "question": ("问题", "Question"),
    "answer": ("答复", "Answer"),
    "signatures": ("九、签署", "9. Signatures"),
    "signed": ("已签署", "Signed"),
    "dissent": ("保留意见", "Dissent"),
    "deemed": ("未签署亦未说明理由，视为同意", "Neither signed nor gave reasons: deemed to agree"),
    "pending": ("签署进行中", "Signing in progress"),
    "hash": ("报告哈希", "Report hash"),
    "none": ("无", "none"),
}


class _Page:
    def __init__(self, english: bool) -> None:
        self.english = english
        self.parts: list[str] = []

    def t(self, key: str) -> str:
        zh, en = _LABELS[key]
        return escape(en if self.english else zh)

    def h2(self, key: str) -> None:
        self.parts.append(f"<h2>{self.t(key)}</h2>")

    def para(self, text: str) -> None:
        self.parts.append(f"<p>{text}</p>")

    def table(self, heads: list[str], rows: list[list[Any]]) -> None:
        if not rows:
            self.para(self.t("none"))
            return
        head = "".join(f"<th>{self.t(h)}</th>" for h in heads)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
        )
        self.parts.append(f"<table><tr>{head}</tr>{body}</table>")


def render_report(found: dict[str, Any], *, english: bool = False) -> str:
    report: dict[str, Any] = found["report"]
    page = _Page(english)
    basic = report["basic"]
    names = {b["bidder"]: b["name"] for b in report["bids"]}
    page.h2("basic")
    page.table(
        ["tender", "name", "tenderer", "lot"],
        [
            [
                basic["tender"],
                basic["title"],
                basic["tenderer"],
                f"{basic['lot']} {basic['lot_name']}",
            ]
        ],
    )
    committee = report["committee"]
    page.h2("committee")
    yes = "✓"
    page.table(
        ["expert", "specialty", "site", "leader"],
        [[m["name"], m["specialty"], m["site"], yes if m["leader"] else ""]
         for m in committee["members"]],
    )  # fmt: skip
    if committee["replaced"]:
        page.table(
            ["replaced", "reason"], [[r["name"], r["reason"]] for r in committee["replaced"]]
        )
    page.h2("opening")
    page.para(f"{page.t('record_hash')}: <code>{escape(str(report['opening_record_hash']))}</code>")
    page.table(["bidder", "price"], [[b["name"], b["price"]] for b in report["bids"]])
    page.h2("compliance")
    page.table(["compliant"], [[names.get(b, b)] for b in report["compliant"]])
    page.table(
        ["rejected", "reason"],
        [[names.get(r["bidder"], r["bidder"]),
          "; ".join(f"{f['name']}: {' / '.join(f['reasons'])}" for f in r["failures"])]
         for r in report["rejected"]],
    )  # fmt: skip
    method = report["method"]
    page.h2("method")
    page.table(
        ["criterion", "max"],
        [[c["name"], c["max"]] for c in method["criteria"]]
        + [[page.t("price_score"), method["price_weight"]]],
    )
    scores = report["scores"]
    page.h2("scores")
    members = {m["expert"]: m["name"] for m in committee["members"]}
    page.table(
        ["expert", "bidder", "score"],
        [[members.get(e, e), names.get(b, b), v]
         for b, per in scores["totals"].items() for e, v in per.items()],
    )  # fmt: skip
    page.table(
        ["bidder", "price_score", "aggregate"],
        [[names.get(b, b), scores["price_scores"].get(b, ""), v]
         for b, v in scores["aggregates"].items()],
    )  # fmt: skip
    if report["flags"]:
        page.h2("flags")
        page.table(
            ["expert", "bidder", "reason"],
            [[members.get(f.get("expert", ""), f.get("expert", "")),
              names.get(f.get("bidder", ""), f.get("bidder", "")),
              f"{f.get('kind', '')} {f.get('answer', '')} {f.get('reason', '')}".strip()]
             for f in report["flags"]],
        )  # fmt: skip
    page.h2("ranking")
    page.table(
        ["rank", "bidder", "price", "score"],
        [[r["rank"], names.get(r["bidder"], r["bidder"]), r["price"], r["score"] or ""]
         for r in report["ranking"]],
    )  # fmt: skip
    page.para(
        f"{page.t('candidates')}: "
        + escape("、".join(names.get(b, b) for b in report["candidates"]))
    )
    page.h2("clarifications")
    page.table(
        ["bidder", "question", "answer"],
        [[names.get(c["bidder"], c["bidder"]), c["question"], c["answer"] or ""]
         for c in report["clarifications"]],
    )  # fmt: skip
    _signatures(page, found)
    title = page.t("title")
    lang = "en" if english else "zh-CN"
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:"
        "collapse;margin:.5em 0}td,th{border:1px solid #999;padding:.2em .5em}</style></head>"
        f"<body><h1>{title}</h1>{''.join(page.parts)}</body></html>"
    )


def _signatures(page: _Page, found: dict[str, Any]) -> None:
    page.h2("signatures")
    page.para(f"{page.t('hash')}: <code>{escape(str(found.get('report_hash')))}</code>")
    if "signatures" not in found:
        page.para(page.t("pending"))
        return
    rows = [[s["name"], page.t("signed")] for s in found["signatures"]]
    rows += [[d["name"], f"{page.t('dissent')}: {d['document'].get('reasons', '')}"]
             for d in found["dissents"]]  # fmt: skip
    rows += [[d["name"], page.t("deemed")] for d in found["deemed_agreed"]]
    page.table(["expert", "signatures"], rows)
