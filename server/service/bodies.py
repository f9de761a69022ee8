"""The JSON Schemas of the request bodies, each beside the parser that reads it.

The node reads bodies imperatively (`server/protocol/fields.py`'s `Reader` collects every
problem at once), so a body's schema can't be derived from its parser: it is declared here,
next to a reference to that parser, with examples. The OpenAPI document
(transport/openapi.py) publishes the schemas and examples; tests/server/transport/
test_openapi.py feeds every example through its parser (they must be accepted), checks that a
body missing a required member is refused by both, and fuzzes the API with bodies drawn from
the schemas (they must never cause a 5xx), so a schema that drifts from its parser is caught.

Schemas say what a parser's shape checks say (types, lengths, ranges, patterns, required and
unknown members); what needs the node's state (a known participant, a valid signature) is
left to the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from server.domain.access import Role
from server.domain.committee import parse_draw_request
from server.domain.participants import Enrolment
from server.domain.spec import (
    MAX_COMMITTEE,
    MAX_CUSTODIANS,
    MAX_SHEET_FIELDS,
    MIN_BIDS_BY_LAW,
    MIN_COMMITTEE,
    MIN_CUSTODIAN_THRESHOLD,
    TenderSpec,
)
from server.service import opening_bodies
from server.service.auth import LoginAnswer
from server.service.evaluation import _answer, _replacement, _signed_act
from server.service.logins import parse_challenge
from server.service.tenders import _reason_of
from server.service.uploads import _announced

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_SIGNATURE: Final = (
    "Zm9yZ2VkLXNpZ25hdHVyZS1ub3QtY2hlY2tlZC1oZXJlLW9ubHktaXRzLXNoYXBlLWlzLWNoZWNrZWQtaGVyZQ"
)
_PARTICIPANT: Final = "p-3f9a1c2b7d4e"
_TENDER: Final = "t-20261122-0123456789ab"


@dataclass(frozen=True, slots=True)
class Body:
    """A request body: its schema, examples that its parser accepts, and that parser."""

    schema: Mapping[str, Any]
    examples: tuple[Any, ...]
    parse: Callable[[Any], object]


def _text(max_len: int = 200, min_len: int = 1, **more: Any) -> dict[str, Any]:
    return {"type": "string", "minLength": min_len, "maxLength": max_len, **more}


def _object(
    required: Mapping[str, Any], optional: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
        "additionalProperties": False,
    }


def _int(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


_OBJECT: Final = {"type": "object"}
_TIME: Final = _text(40, format="date-time")  # RFC 3339, UTC (docs/protocol.md 1.1)
_SIG86: Final = _text(86, 86)
_ID_PATTERN: Final = "^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$"

_TENDER_SPEC_EXAMPLE: Final = {
    "title": "市政道路照明改造工程",
    "tenderer": "示范市城市管理局",
    "lots": [{"id": "L1", "name": "一标段"}],
    "schedule": {
        "bidding_opens_at": "2026-11-22T01:00:00Z",
        "deadline": "2026-12-12T01:00:00Z",
        "sign_in_lead_minutes": 30,
        "decryption_window_minutes": 30,
    },
    "committee": {"size": 5, "large": False},
    "min_bids": 3,
    "scoring": {
        "method": "comprehensive",
        "price_weight": 30,
        "compliance": [{"id": "C1", "name": "投标函签字盖章"}],
        "criteria": [
            {"id": "T1", "name": "施工组织设计", "kind": "subjective", "max": "70", "step": "0.5"}
        ],
        "deviation": "0.3",
        "drop_extremes": False,
        "candidates": 3,
        "evaluation_minutes": 240,
        "signing_minutes": 60,
    },
    "opening": {
        "custodians": ["p-custodian01", "p-custodian02"],
        "threshold": 2,
        "wrap_bids": True,
        "confirmation_window_minutes": 15,
        "sheet_fields": [{"name": "warranty_years", "label": "质保期(年)"}],
    },
}

BODIES: Final[Mapping[str, Body]] = MappingProxyType(
    {
        "Challenge": Body(
            _object({"participant": _text(40)}),
            ({"participant": _PARTICIPANT},),
            parse_challenge,
        ),
        "Login": Body(
            _object(
                {
                    "challenge": _text(64),
                    "participant": _text(40),
                    "time": _text(40),
                    "signature": _text(128),
                }
            ),
            (
                {
                    "challenge": "Q2hhbGxlbmdlLWZyb20tdGhlLW5vZGU",
                    "participant": _PARTICIPANT,
                    "time": "2026-11-22T01:00:00.000000Z",
                    "signature": _SIGNATURE,
                },
            ),
            LoginAnswer.parse,
        ),
        "Enrolment": Body(
            _object(
                {
                    "role": {"enum": [role.value for role in Role]},
                    "name": _text(),
                    "public_key": _text(100),
                },
                {
                    "encryption_key": _text(100),
                    "attributes": {
                        "type": "object",
                        "maxProperties": 16,
                        "propertyNames": {"pattern": "^[a-z][a-z0-9_]{0,31}$"},
                        "additionalProperties": {"type": "string"},
                    },
                },
            ),
            (
                {"role": "bidder", "name": "示范照明工程有限公司", "public_key": "ed25519:AAAA"},
                {
                    "role": "custodian",
                    "name": "Custodian 1",
                    "public_key": "ed25519:AAAA",
                    "encryption_key": "x25519:AAAA",
                    "attributes": {"organisation": "示范市公共资源交易中心"},
                },
            ),
            Enrolment.parse,
        ),
        "TenderSpec": Body(
            {
                "type": "object",
                "description": "The tender spec (docs/protocol.md 2.5).",
                "properties": {
                    "title": _text(),
                    "tenderer": _text(),
                    "lots": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 50,
                        "items": _object({"id": _text(32), "name": _text()}),
                    },
                    "schedule": _object(
                        {
                            "bidding_opens_at": _TIME,
                            "deadline": _TIME,
                            "sign_in_lead_minutes": _int(0, 240),
                            "decryption_window_minutes": _int(1, 480),
                        }
                    ),
                    "committee": _object(
                        {"size": _int(MIN_COMMITTEE, MAX_COMMITTEE), "large": {"type": "boolean"}}
                    ),
                    "min_bids": _int(MIN_BIDS_BY_LAW, 1000),
                    "scoring": {
                        "type": "object",
                        "description": "The scoring scheme (docs/spec/evaluation.md section 1).",
                    },
                    "opening": {
                        "type": "object",
                        "properties": {
                            "custodians": {
                                "type": "array",
                                "maxItems": MAX_CUSTODIANS,
                                "items": {"type": "string", "pattern": "^p-[a-z0-9]{4,32}$"},
                            },
                            "threshold": _int(MIN_CUSTODIAN_THRESHOLD, MAX_CUSTODIANS),
                            "wrap_bids": {"type": "boolean"},
                            "confirmation_window_minutes": _int(1, 240),
                            "sheet_fields": {
                                "type": "array",
                                "maxItems": MAX_SHEET_FIELDS,
                                "items": _object(
                                    {
                                        "name": _text(32, pattern="^[a-z][a-z0-9_]{0,31}$"),
                                        "label": _text(),
                                    }
                                ),
                            },
                        },
                    },
                },
                "required": [
                    "title",
                    "tenderer",
                    "lots",
                    "schedule",
                    "committee",
                    "min_bids",
                    "scoring",
                    "opening",
                ],
            },
            (_TENDER_SPEC_EXAMPLE,),
            TenderSpec.parse,
        ),
        "Reason": Body(
            _object({"reason": _text(2000, 0)}), ({"reason": "采购需求变更"},), _reason_of
        ),
        "PauseReason": Body(
            _object({"reason": _text(2000)}),
            ({"reason": "网络中断"},),
            lambda document: opening_bodies.text(document, "reason"),
        ),
        "Announce": Body(
            _object(
                {"size": _int(1, 4 * 1024**3), "sha256": _text(64, 64, pattern="^[0-9a-f]{64}$")}
            ),
            ({"size": 1048576, "sha256": "ab" * 32},),
            _announced,
        ),
        "FileKey": Body(
            _object({"file_key": _text(64)}), ({"file_key": "A" * 43},), opening_bodies.file_key
        ),
        "Share": Body(
            _object({"index": _int(1, 255), "value": _text(64)}),
            ({"index": 1, "value": "A" * 43},),
            opening_bodies.share,
        ),
        "Confirmation": Body(
            _object({"signature": _SIG86}), ({"signature": _SIGNATURE},), opening_bodies.signature
        ),
        "Objection": Body(
            _object({"text": _text(2000), "signature": _SIG86}),
            ({"text": "开标记录中的报价有误", "signature": _SIGNATURE},),
            opening_bodies.objection,
        ),
        "ObjectionAnswer": Body(
            _object({"answer": _text(2000)}),
            ({"answer": "已核实，记录无误"},),
            lambda document: opening_bodies.text(document, "answer"),
        ),
        "Message": Body(
            _object({"text": _text(2000, pattern=r"\S")}, {"to": _text(64)}),
            ({"text": "请各投标人解密"}, {"text": "请解密", "to": _PARTICIPANT}),
            opening_bodies.message,
        ),
        "DrawRequest": Body(
            _object(
                {
                    "quotas": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 20,
                        "items": _object({"specialty": _text(64), "count": _int(1, 49)}),
                    },
                    "sites": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 8,
                        "items": _object(
                            {
                                "site": _text(32, pattern=_ID_PATTERN),
                                "region": _text(64),
                                "workstations": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": 64,
                                    "items": _object(
                                        {"id": _text(32, pattern=_ID_PATTERN)},
                                        {"address": _text(45)},
                                    ),
                                },
                            }
                        ),
                    },
                    "standby": _int(0, 20),
                }
            ),
            (
                {
                    "quotas": [{"specialty": "市政工程", "count": 5}],
                    "sites": [
                        {
                            "site": "hq",
                            "region": "示范市",
                            "workstations": [{"id": f"ws{i}"} for i in range(1, 6)],
                        }
                    ],
                    "standby": 2,
                },
            ),
            parse_draw_request,
        ),
        "Replacement": Body(
            _object({"workstation": _text(32), "reason": _text(2000)}),
            ({"workstation": "ws1", "reason": "专家回避"},),
            _replacement,
        ),
        "SignedAct": Body(
            _object({"document": _OBJECT, "signature": _text(128)}),
            (
                {
                    "document": {
                        "v": 1,
                        "type": "time-request",
                        "tender": _TENDER,
                        "lot": "L1",
                        "expert": _PARTICIPANT,
                        "workstation": "ws1",
                        "reason": "需要更多时间",
                    },
                    "signature": _SIGNATURE,
                },
            ),
            _signed_act,
        ),
        "ClarificationAnswer": Body(
            _object({"answer": _text(2000), "signature": _text(128)}),
            ({"answer": "报价含税", "signature": _SIGNATURE},),
            _answer,
        ),
    }
)
