"""What each route of the HTTP API does, takes and answers: the words of the OpenAPI document.

One `Operation` per route, keyed by method and path as aiohttp's router spells them.
openapi.py walks the router and looks every route up here: a route without an entry fails
the generation (and its test), an entry without a route fails the test, so the table can't
drift from the app. Bodies are named from service/bodies.py (each beside its parser); answers
name a view of server/service/views.py (its schema is made from its type) or give a schema
here, for the answers that are not typed views yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True, slots=True)
class Answer:
    """A success: its status, media type, and schema (`view` names one in the catalogue)."""

    status: int = 200
    view: str | None = None
    schema: Mapping[str, Any] | None = None
    media: str = "application/json"
    description: str = "The answer."


@dataclass(frozen=True, slots=True)
class Operation:
    summary: str
    answer: Answer = field(default_factory=Answer)
    body: str | None = None  # a name in service/bodies.py BODIES
    query: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # name -> schema
    octets: bool = False  # the body is application/octet-stream bytes


def _obj(*required: str, **properties: Any) -> dict[str, Any]:
    props = {name: properties.get(name, {}) for name in required} | properties
    return {"type": "object", "properties": props, "required": list(required)}


_STR: Final = {"type": "string"}
_INT: Final = {"type": "integer", "minimum": 0}
_SEQ_QUERY: Final = MappingProxyType(
    {
        "after_seq": {"type": "integer", "minimum": 0},
        "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
    }
)
EVENT_PAGE: Final = _obj(
    "events", "next_after_seq", "more",
    events={"type": "array", "items": _obj("hash", "event", hash=_STR, event={"type": "object"})},
    next_after_seq=_INT, more={"type": "boolean"},
)  # fmt: skip
_LOGIN: Final = _obj(
    "token", "participant", "role", "scopes", "expires_at", token=_STR, participant=_STR,
    role=_STR, scopes={"type": "array", "items": _STR}, expires_at=_STR,
)  # fmt: skip
_HASHES: Final = {"type": "array", "items": _STR}
_UPLOAD: Final = _obj(
    "upload", "tender", "lot", "size", "sha256", "received", upload=_STR, tender=_STR, lot=_STR,
    size=_INT, sha256=_STR, received=_INT,
)  # fmt: skip
_PARTICIPANT: Final = _obj(
    "id", "role", "name", "public_key", "encryption_key", "attributes", id=_STR, role=_STR,
    name=_STR, public_key=_STR, encryption_key={"type": ["string", "null"]},
    attributes={"type": "object", "additionalProperties": _STR},
)  # fmt: skip
_TREE_HEAD: Final = Answer(schema=_obj(
    "seq", "hash", "tree_head", "signature", seq=_INT, hash=_STR, tree_head={"type": "object"},
    signature=_STR,
))  # fmt: skip
_INCLUSION: Final = Answer(schema=_obj(
    "stream", "seq", "size", "leaf_hash", "proof", stream=_STR, seq=_INT, size=_INT,
    leaf_hash=_STR, proof=_HASHES,
))  # fmt: skip
_CONSISTENCY: Final = Answer(schema=_obj(
    "stream", "from", "to", "proof", stream=_STR, **{"from": _INT, "to": _INT}, proof=_HASHES
))  # fmt: skip
_PROGRESS: Final = Answer(view="progress")
_CLARIFICATIONS: Final = Answer(schema=_obj("clarifications", clarifications={"type": "array"}))
_HTML: Final = Answer(media="text/html", schema=_STR, description="A browser page.")
_TENDER: Final = Answer(view="tender")
_CREATED_TENDER: Final = Answer(201, view="tender")
_OPENING: Final = Answer(view="opening")
_OBJECT: Final = Answer(schema={"type": "object"})
_PAGE: Final = Answer(schema=EVENT_PAGE, description="An event page (docs/protocol.md 2.6).")
_T: Final = "/api/tenders/{tender}"
_L: Final = f"{_T}/lots/{{lot}}"

OPERATIONS: Final[Mapping[str, Operation]] = MappingProxyType(
    {
        "GET /healthz": Operation("Liveness", Answer(schema=_obj("status", status=_STR))),
        "GET /readyz": Operation(
            "Readiness: the store writable, the bus reachable, the clock sane (503 if not)",
            Answer(schema=_obj("status", "checks", status=_STR, checks={"type": "object"})),
        ),
        "GET /metrics": Operation("Prometheus metrics (docs/operations.md)", Answer(
            media="text/plain", schema=_STR, description="The Prometheus text format.")),
        "GET /api/node": Operation("The node: id, public key, time, protocol", Answer(
            schema=_obj("node", "public_key", "server_time", "protocol", node=_STR,
                        public_key=_STR, server_time=_STR, protocol={"const": 1}))),
        "GET /api/openapi.json": Operation("This document (OpenAPI 3.1)", _OBJECT),
        "POST /api/auth/challenge": Operation("A login challenge (docs/protocol.md 2.2)", Answer(
            schema=_obj("challenge", "participant", "nonce", "node", "expires_at", challenge=_STR,
                        participant=_STR, nonce=_STR, node=_STR, expires_at=_STR)),
            body="Challenge"),
        "POST /api/auth/login": Operation("Log in with a signed answer", Answer(schema=_LOGIN),
                                          body="Login"),
        "POST /api/auth/visitor": Operation("A read-only visitor's token", Answer(schema=_LOGIN)),
        "POST /api/admin/participants": Operation("Enrol a participant", Answer(
            201, schema=_PARTICIPANT, description="The participant."),
            body="Enrolment"),
        "GET /api/admin/participants": Operation("The participants", Answer(
            schema=_obj("participants", participants={"type": "array", "items": _PARTICIPANT}))),
        "GET /api/system/events": Operation("The system log", _PAGE, query=_SEQ_QUERY),
        "GET /api/streams": Operation("Every stream (nodes only)", Answer(
            schema=_obj("streams", streams={"type": "array", "items": _STR}))),
        "POST /api/tenders": Operation("Create a tender (draft)", _CREATED_TENDER,
                                       body="TenderSpec"),
        "GET /api/tenders": Operation("The tenders", Answer(view="tenders")),
        f"GET {_T}": Operation("A tender", _TENDER),
        f"POST {_T}/publish": Operation("Publish a tender", _TENDER),
        f"POST {_T}/cancel": Operation("Cancel a tender", _TENDER, body="Reason"),
        f"POST {_T}/opening/start": Operation("Start the opening", _TENDER),
        f"GET {_T}/events": Operation("The tender's log", _PAGE, query=_SEQ_QUERY),
        f"POST {_L}/uploads": Operation("Announce a sealed bid's upload", Answer(
            201, schema=_UPLOAD, description="The upload (docs/protocol.md 2.7)."),
            body="Announce"),
        "GET /api/uploads/{upload}": Operation("An upload, with `received`",
                                               Answer(schema=_UPLOAD)),
        "PUT /api/uploads/{upload}": Operation("Bytes of an upload from `offset`", Answer(
            schema=_obj("upload", "received", upload=_STR, received=_INT)),
            query={"offset": {"type": "integer", "minimum": 0}}, octets=True),
        "DELETE /api/uploads/{upload}": Operation("Abandon an unfinished upload", Answer(
            schema=_obj("upload", "abandoned", upload=_STR, abandoned={"const": True}))),
        "POST /api/uploads/{upload}/complete": Operation("Complete an upload: the receipt", Answer(
            201, schema=_obj("receipt", "signature", receipt={"type": "object"},
                             signature=_STR))),
        f"POST {_L}/withdraw": Operation("Withdraw a bid", Answer(
            schema=_obj("withdrawn", withdrawn={"const": True}))),
        f"GET {_L}/sealed-list": Operation("The lot's sealed list, signed", Answer(
            schema=_obj("list", "signature", list={"type": "object"}, signature=_STR))),
        f"GET {_T}/bids/mine": Operation("The bidder's own receipts", Answer(
            schema=_obj("bids", bids={"type": "array", "items": _obj(
                "lot", "current", "receipts", lot=_STR,
                current={"type": ["object", "null"]}, receipts={"type": "array"})}))),
        f"GET {_T}/bid-box/events": Operation("The bid box's log", _PAGE, query=_SEQ_QUERY),
        f"POST {_L}/decrypt": Operation("Decrypt the bidder's bid", Answer(
            view="opening-bid", description="The bid's status."), body="FileKey"),
        f"GET {_L}/bids/{{bidder}}/document": Operation("A decrypted bid package", Answer(
            media="application/octet-stream", schema=_STR, description="The package, streamed.")),
        f"GET {_T}/opening": Operation("The opening", _OPENING),
        f"POST {_T}/opening/sign-in": Operation("Sign in to the opening", _OPENING),
        f"POST {_T}/opening/pause": Operation("Pause the opening", _OPENING, body="PauseReason"),
        f"POST {_T}/opening/resume": Operation("Resume the opening", _OPENING),
        f"POST {_T}/opening/shares": Operation("A custodian's key share", _OPENING, body="Share"),
        f"POST {_T}/opening/record": Operation("Publish the opening record", _OPENING),
        f"POST {_T}/opening/confirm": Operation("Confirm the record", _OPENING,
                                                body="Confirmation"),
        f"POST {_T}/opening/objections": Operation("Object to the record", Answer(
            201, view="opening"), body="Objection"),
        f"POST {_T}/opening/objections/{{objection}}/answer": Operation(
            "Answer an objection", _OPENING, body="ObjectionAnswer"),
        f"POST {_T}/opening/messages": Operation("A message in the opening's box", Answer(
            201, schema=_obj("seq", "hash", "message", seq=_INT, hash=_STR, message=_STR)),
            body="Message"),
        f"POST {_T}/opening/close": Operation("Close the opening", _OPENING),
        f"GET {_T}/tree-head": Operation("The latest signed tree head", _TREE_HEAD),
        f"GET {_T}/proofs/inclusion": Operation("An inclusion proof", _INCLUSION,
                                                query={"seq": _INT, "size": _INT}),
        f"GET {_T}/proofs/consistency": Operation("A consistency proof", _CONSISTENCY,
                                                  query={"from": _INT, "to": _INT}),
        f"GET {_T}/{{box}}/tree-head": Operation("The bid box's tree head", _TREE_HEAD),
        f"GET {_T}/{{box}}/proofs/inclusion": Operation(
            "An inclusion proof of the bid box", _INCLUSION, query={"seq": _INT, "size": _INT}),
        f"GET {_T}/{{box}}/proofs/consistency": Operation(
            "A consistency proof of the bid box", _CONSISTENCY, query={"from": _INT, "to": _INT}),
        f"GET {_T}/audit/bundle": Operation("The tender's audit bundle", Answer(
            media="application/jsonl", schema=_STR, description="docs/spec/audit-bundle.md")),
        f"POST {_T}/evaluation/start": Operation("Start the evaluation", _PROGRESS),
        f"GET {_T}/evaluation": Operation("The evaluation's progress", Answer(view="progress")),
        f"POST {_L}/draw": Operation("Draw the lot's experts", Answer(201, view="progress"),
                                     body="DrawRequest"),
        f"POST {_L}/draw/reveal": Operation("Reveal the draw", _PROGRESS),
        f"POST {_L}/evaluation/replace": Operation("Replace a member", _PROGRESS,
                                                   body="Replacement"),
        f"GET {_L}/room": Operation("The lot's evaluation room", Answer(view="room")),
        f"POST {_L}/room/acts": Operation("An expert's signed act", Answer(201, schema=_obj(
            "seq", "hash", "type", seq=_INT, hash=_STR, type=_STR)), body="SignedAct"),
        f"GET {_T}/clarifications": Operation("The bidder's clarification requests",
                                              _CLARIFICATIONS),
        f"POST {_L}/clarifications/{{clarification}}/answer": Operation(
            "Answer a clarification", _CLARIFICATIONS, body="ClarificationAnswer"),
        f"GET {_L}/result": Operation("The lot's result", Answer(view="result")),
        f"GET {_L}/report.html": Operation("The report as a page", _HTML,
                                           query={"lang": {"enum": ["en"]}}),
        "GET /api/evaluation/seats": Operation("The expert's seats", Answer(
            schema=_obj("seats", seats={"type": "array", "items": _obj(
                "tender", "lot", "stage", tender=_STR, lot=_STR,
                stage={"type": ["string", "null"]})}))),
        "GET /api/evaluation/pool": Operation("The experts' pool, counted", Answer(
            schema=_obj("pool", pool={"type": "array", "items": _obj(
                "specialty", "region", "count", specialty=_STR, region=_STR, count=_INT)}))),
        "GET /api/schema": Operation("The views and their schemas", Answer(
            schema=_obj("views", views={"type": "object", "additionalProperties": _STR}))),
        "GET /api/schema/{view}": Operation("A view's JSON Schema", _OBJECT),
        "GET /api/overview": Operation("The overview", Answer(view="overview")),
        "GET /api/presence": Operation("Who is online", Answer(view="presence")),
        f"GET {_T}/recordings": Operation("The tender's recordings", Answer(
            schema=_obj("recordings", recordings={"type": "array"}))),
        f"GET {_T}/recordings/{{name}}": Operation("A recording segment", Answer(
            media="video/webm", schema=_STR, description="The segment (Range honoured).")),
        "GET /": Operation("The landing page", _HTML),
        "GET /hall": Operation("The opening hall", _HTML),
        "GET /host": Operation("The host's page", _HTML),
        "GET /expert": Operation("The expert's workstation", _HTML),
        "GET /supervisor": Operation("The supervisor's page", _HTML),
        "GET /admin": Operation("The admin's page", _HTML),
        "GET /{page}/{tender}": Operation("A page opened on one tender", _HTML),
        "GET /static/{path}": Operation("A file of the pages", Answer(
            media="*/*", schema=_STR, description="The file.")),
        "GET /ws": Operation("The live channel (WebSocket; docs/protocol.md 3)", Answer(
            101, media="", description="Switching protocols.")),
    }
)  # fmt: skip

# Chinese first (the operators' language): each operation's summary in zh-CN; the English
# words above become its description. Keyed as OPERATIONS; a test checks they match.
ZH_SUMMARIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "GET /healthz": "存活检查",
        "GET /readyz": "就绪检查：存储可写、总线可达、时钟正常",
        "GET /metrics": "Prometheus 监控指标",
        "GET /api/node": "节点信息：标识、公钥、时间、协议版本",
        "GET /api/openapi.json": "本文档（OpenAPI 3.1）",
        "POST /api/auth/challenge": "申请登录挑战",
        "POST /api/auth/login": "以签名应答登录",
        "POST /api/auth/visitor": "访客只读令牌",
        "POST /api/admin/participants": "登记参与者",
        "GET /api/admin/participants": "参与者列表",
        "GET /api/system/events": "系统日志",
        "GET /api/streams": "全部日志流（仅节点）",
        "POST /api/tenders": "创建招标项目（草稿）",
        "GET /api/tenders": "招标项目列表",
        "GET /api/tenders/{tender}": "招标项目",
        "POST /api/tenders/{tender}/publish": "发布招标项目",
        "POST /api/tenders/{tender}/cancel": "终止招标项目",
        "POST /api/tenders/{tender}/opening/start": "开始开标",
        "GET /api/tenders/{tender}/events": "招标项目日志",
        "POST /api/tenders/{tender}/lots/{lot}/uploads": "申报密封投标文件上传",
        "GET /api/uploads/{upload}": "上传进度（已收字节）",
        "PUT /api/uploads/{upload}": "从 offset 起上传字节",
        "DELETE /api/uploads/{upload}": "放弃未完成的上传",
        "POST /api/uploads/{upload}/complete": "完成上传，取得回执",
        "POST /api/tenders/{tender}/lots/{lot}/withdraw": "撤回投标",
        "GET /api/tenders/{tender}/lots/{lot}/sealed-list": "标段密封清单（已签名）",
        "GET /api/tenders/{tender}/bids/mine": "本投标人的回执",
        "GET /api/tenders/{tender}/bid-box/events": "投标箱日志",
        "POST /api/tenders/{tender}/lots/{lot}/decrypt": "解密投标文件",
        "GET /api/tenders/{tender}/lots/{lot}/bids/{bidder}/document": "已解密的投标文件包",
        "GET /api/tenders/{tender}/opening": "开标",
        "POST /api/tenders/{tender}/opening/sign-in": "开标签到",
        "POST /api/tenders/{tender}/opening/pause": "暂停开标",
        "POST /api/tenders/{tender}/opening/resume": "恢复开标",
        "POST /api/tenders/{tender}/opening/shares": "保管人提交密钥分片",
        "POST /api/tenders/{tender}/opening/record": "公布开标记录",
        "POST /api/tenders/{tender}/opening/confirm": "确认开标记录",
        "POST /api/tenders/{tender}/opening/objections": "对开标记录提出异议",
        "POST /api/tenders/{tender}/opening/objections/{objection}/answer": "答复异议",
        "POST /api/tenders/{tender}/opening/messages": "开标消息",
        "POST /api/tenders/{tender}/opening/close": "结束开标",
        "GET /api/tenders/{tender}/tree-head": "最新签名树头",
        "GET /api/tenders/{tender}/proofs/inclusion": "包含证明",
        "GET /api/tenders/{tender}/proofs/consistency": "一致性证明",
        "GET /api/tenders/{tender}/{box}/tree-head": "投标箱的签名树头",
        "GET /api/tenders/{tender}/{box}/proofs/inclusion": "投标箱的包含证明",
        "GET /api/tenders/{tender}/{box}/proofs/consistency": "投标箱的一致性证明",
        "GET /api/tenders/{tender}/audit/bundle": "招标项目审计包",
        "POST /api/tenders/{tender}/evaluation/start": "开始评标",
        "GET /api/tenders/{tender}/evaluation": "评标进度",
        "POST /api/tenders/{tender}/lots/{lot}/draw": "抽取标段评标专家",
        "POST /api/tenders/{tender}/lots/{lot}/draw/reveal": "公布抽取结果",
        "POST /api/tenders/{tender}/lots/{lot}/evaluation/replace": "更换评标委员会成员",
        "GET /api/tenders/{tender}/lots/{lot}/room": "标段评标室",
        "POST /api/tenders/{tender}/lots/{lot}/room/acts": "专家签名行为",
        "GET /api/tenders/{tender}/clarifications": "投标人的澄清要求",
        "POST /api/tenders/{tender}/lots/{lot}/clarifications/{clarification}/answer": "答复澄清",
        "GET /api/tenders/{tender}/lots/{lot}/result": "标段评标结果",
        "GET /api/tenders/{tender}/lots/{lot}/report.html": "评标报告页面",
        "GET /api/evaluation/seats": "专家的评标席位",
        "GET /api/evaluation/pool": "专家库人数统计",
        "GET /api/schema": "视图及其模式",
        "GET /api/schema/{view}": "视图的 JSON Schema",
        "GET /api/overview": "总览",
        "GET /api/presence": "在线情况",
        "GET /api/tenders/{tender}/recordings": "招标项目录音录像",
        "GET /api/tenders/{tender}/recordings/{name}": "录音录像片段",
        "GET /": "首页",
        "GET /hall": "开标大厅",
        "GET /host": "主持人页面",
        "GET /expert": "专家评标工作站",
        "GET /supervisor": "监督页面",
        "GET /admin": "系统管理页面",
        "GET /{page}/{tender}": "按招标项目打开的页面",
        "GET /static/{path}": "页面文件",
        "GET /ws": "实时通道（WebSocket）",
    }
)
