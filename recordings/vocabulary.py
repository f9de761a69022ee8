"""The words the log is written in: roles, act and event types, for node, clients, verifiers.

One definition each. The node records events under an `EventType` and reads acts of an
`ActType`; the expert's tool signs documents of an `ActType`; verifiers and clients read the
log by `EventType`; a record's actor role and its audiences are `Role`s. All are `StrEnum`s,
so a member is its wire string and compares equal to it: the log, the wire and the signatures
are unchanged by using them.
"""

from __future__ import annotations

import enum
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping


class Role(enum.StrEnum):
    """Who a participant is: the actor role of a record, and an audience of its visibility."""

    ADMIN = "admin"  # platform administrator: enrols participants, reads the node log
    HOST = "host"  # trading-centre staff or agent running a tender
    BIDDER = "bidder"
    EXPERT = "expert"
    SUPERVISOR = "supervisor"  # watches everything, changes nothing
    CUSTODIAN = "custodian"  # holds a share of a tender's opening key
    PUBLIC = "public"  # read-only visitor of public openings
    # Another node of the same deployment (docs/sites.md): reads every stream to keep its
    # replica, changes nothing. Its participant id is its node id, `n-<fingerprint>`. Records
    # the node writes under its own name carry this role too (the scheduler's, tree heads).
    NODE = "node"


class ActType(enum.StrEnum):
    """An expert's signed act in an evaluation room (docs/spec/evaluation.md section 3).

    The value is the document's `type` and the signature's purpose label.
    """

    CHECK_IN = "check-in"
    PLEDGE = "pledge"
    LEADER_VOTE = "leader-vote"
    COMPLIANCE_SHEET = "compliance-sheet"
    SCORE_SHEET = "score-sheet"
    FLAG_CONFIRMATION = "flag-confirmation"
    CLARIFICATION_REQUEST = "clarification-request"
    TIME_REQUEST = "time-request"
    REPORT_SIGNATURE = "report-signature"
    REPORT_DISSENT = "report-dissent"


class EventType(enum.StrEnum):
    """The `type` of a record in the audit log (docs/spec/audit-bundle.md)."""

    # The tender's lifecycle.
    TENDER_BIDDING_CLOSED = "tender.bidding_closed"
    TENDER_BIDDING_OPENED = "tender.bidding_opened"
    TENDER_CANCELLED = "tender.cancelled"
    TENDER_CONCLUDED = "tender.concluded"
    TENDER_CREATED = "tender.created"
    TENDER_EVALUATION_STARTED = "tender.evaluation_started"
    TENDER_FAILED = "tender.failed"
    TENDER_OPENING_STARTED = "tender.opening_started"
    TENDER_PUBLISHED = "tender.published"

    # Sealed lists and the bid box.
    LOT_SEALED = "lot.sealed"
    BOX_SEALED = "box.sealed"

    # Bids: submitted, withdrawn, opened.
    BID_DECRYPTED = "bid.decrypted"
    BID_DECRYPTION_ATTEMPT_FAILED = "bid.decryption_attempt_failed"
    BID_DECRYPTION_FAILED = "bid.decryption_failed"
    BID_DOCUMENT_READ = "bid.document_read"
    BID_SHEET_EXTRACTED = "bid.sheet_extracted"
    BID_SUBMITTED = "bid.submitted"
    BID_WITHDRAWN = "bid.withdrawn"

    # The opening session.
    OPENING_CLOSED = "opening.closed"
    OPENING_CONFIRMED = "opening.confirmed"
    OPENING_DECRYPTION_CLOSED = "opening.decryption_closed"
    OPENING_DECRYPTION_PAUSED = "opening.decryption_paused"
    OPENING_DECRYPTION_RESUMED = "opening.decryption_resumed"
    OPENING_DECRYPTION_STARTED = "opening.decryption_started"
    OPENING_KEY_ISSUED = "opening.key_issued"
    OPENING_KEY_SHARE_ISSUED = "opening.key_share_issued"
    OPENING_MESSAGE_SENT = "opening.message_sent"
    OPENING_OBJECTION_ANSWERED = "opening.objection_answered"
    OPENING_OBJECTION_RAISED = "opening.objection_raised"
    OPENING_RECORD_PUBLISHED = "opening.record_published"
    OPENING_RESEND_REQUESTED = "opening.resend_requested"
    OPENING_SHARE_SUBMITTED = "opening.share_submitted"
    OPENING_SIGNED_IN = "opening.signed_in"

    # The evaluation rooms.
    EVALUATION_CHECKED_IN = "evaluation.checked_in"
    EVALUATION_CHECKS_RUN = "evaluation.checks_run"
    EVALUATION_CLARIFICATION_ANSWERED = "evaluation.clarification_answered"
    EVALUATION_CLARIFICATION_REQUESTED = "evaluation.clarification_requested"
    EVALUATION_CLARIFICATION_SENT = "evaluation.clarification_sent"
    EVALUATION_COMMITTEE_DRAWN = "evaluation.committee_drawn"
    EVALUATION_COMPLIANCE_DECIDED = "evaluation.compliance_decided"
    EVALUATION_COMPLIANCE_SUBMITTED = "evaluation.compliance_submitted"
    EVALUATION_DRAW_COMMITTED = "evaluation.draw_committed"
    EVALUATION_DRAW_FAILED = "evaluation.draw_failed"
    EVALUATION_ELECTION_HELD = "evaluation.election_held"
    EVALUATION_FLAG_CONFIRMED = "evaluation.flag_confirmed"
    EVALUATION_MEMBER_REPLACED = "evaluation.member_replaced"
    EVALUATION_PLEDGED = "evaluation.pledged"
    EVALUATION_RANKED = "evaluation.ranked"
    EVALUATION_REPORT_DISSENTED = "evaluation.report_dissented"
    EVALUATION_REPORT_ISSUED = "evaluation.report_issued"
    EVALUATION_REPORT_SIGNED = "evaluation.report_signed"
    EVALUATION_RESULT_PUBLISHED = "evaluation.result_published"
    EVALUATION_SHEET_SUBMITTED = "evaluation.sheet_submitted"
    EVALUATION_SIGNING_CLOSED = "evaluation.signing_closed"
    EVALUATION_STAGE_OPENED = "evaluation.stage_opened"
    EVALUATION_TIME_EXTENDED = "evaluation.time_extended"
    EVALUATION_TIME_REQUESTED = "evaluation.time_requested"
    EVALUATION_VOTE_CAST = "evaluation.vote_cast"

    # The node: participants, logins, refusals, tree heads.
    PARTICIPANT_ENROLLED = "participant.enrolled"
    PARTICIPANT_LOGGED_IN = "participant.logged_in"
    AUTH_LOGIN_FAILED = "auth.login_failed"
    AUTH_LOGIN_THROTTLED = "auth.login_throttled"
    ACCESS_DENIED = "access.denied"
    ACCESS_THROTTLED = "access.throttled"
    COMMAND_REJECTED = "command.rejected"
    AUDIT_TREE_HEAD = "audit.tree_head"

    # Presence at the sites (docs/sites.md section 8).
    PRESENCE_LEFT = "presence.left"

    # Live media and its recordings (docs/media.md).
    MEDIA_SESSION_STARTED = "media.session_started"
    MEDIA_SESSION_ENDED = "media.session_ended"
    MEDIA_SEGMENT_CLOSED = "media.segment_closed"
    MEDIA_SEGMENT_CUT = "media.segment_cut"
    MEDIA_RECORDING_READ = "media.recording_read"
    MEDIA_RECORDINGS_EXPIRED = "media.recordings_expired"
    OPENING_RECORD_SPOKEN = "opening.record_spoken"


# What a person reads for each event type: (zh-CN, English). Short, for lists and live feeds.
EVENT_LABELS: Final[Mapping[EventType, tuple[str, str]]] = MappingProxyType(
    {
        EventType.TENDER_CREATED: ("草稿", "draft"),
        EventType.TENDER_PUBLISHED: ("已发布", "published"),
        EventType.TENDER_BIDDING_OPENED: ("投标中", "bidding"),
        EventType.TENDER_BIDDING_CLOSED: ("投标截止", "deadline"),
        EventType.TENDER_OPENING_STARTED: ("开标", "opening"),
        EventType.TENDER_EVALUATION_STARTED: ("评标开始", "evaluation started"),
        EventType.TENDER_CONCLUDED: ("招标结束", "concluded"),
        EventType.TENDER_FAILED: ("招标失败", "failed"),
        EventType.TENDER_CANCELLED: ("招标终止", "cancelled"),
        EventType.LOT_SEALED: ("封存清单", "sealed list"),
        EventType.BOX_SEALED: ("投标箱封存", "box sealed"),
        EventType.BID_SUBMITTED: ("递交回执", "receipt"),
        EventType.BID_WITHDRAWN: ("撤回投标", "bid withdrawn"),
        EventType.BID_DECRYPTED: ("解密成功", "decrypted"),
        EventType.BID_DECRYPTION_ATTEMPT_FAILED: ("解密失败", "attempt failed"),
        EventType.BID_DECRYPTION_FAILED: ("解密失败", "bid failed"),
        EventType.BID_SHEET_EXTRACTED: ("开标一览表", "sheet read"),
        EventType.BID_DOCUMENT_READ: ("调阅", "document read"),
        EventType.OPENING_KEY_ISSUED: ("开标密钥", "opening key"),
        EventType.OPENING_KEY_SHARE_ISSUED: ("密钥分片", "key share"),
        EventType.OPENING_SIGNED_IN: ("签到", "signed in"),
        EventType.OPENING_DECRYPTION_STARTED: ("解密开始", "decrypting"),
        EventType.OPENING_DECRYPTION_PAUSED: ("解密暂停", "decryption paused"),
        EventType.OPENING_DECRYPTION_RESUMED: ("解密继续", "decryption resumed"),
        EventType.OPENING_DECRYPTION_CLOSED: ("解密结束", "decryption closed"),
        EventType.OPENING_SHARE_SUBMITTED: ("分片提交", "share in"),
        EventType.OPENING_RESEND_REQUESTED: ("请重新提交", "please send again"),
        EventType.OPENING_RECORD_PUBLISHED: ("唱标", "record read out"),
        EventType.OPENING_CONFIRMED: ("确认", "confirmed"),
        EventType.OPENING_OBJECTION_RAISED: ("异议", "objection"),
        EventType.OPENING_OBJECTION_ANSWERED: ("答复", "answered"),
        EventType.OPENING_MESSAGE_SENT: ("开标留言", "message"),
        EventType.OPENING_CLOSED: ("开标结束", "closed"),
        EventType.EVALUATION_DRAW_COMMITTED: ("抽取承诺", "draw committed"),
        EventType.EVALUATION_COMMITTEE_DRAWN: ("专家抽取", "committee drawn"),
        EventType.EVALUATION_DRAW_FAILED: ("抽取失败", "draw failed"),
        EventType.EVALUATION_MEMBER_REPLACED: ("专家替换", "member replaced"),
        EventType.EVALUATION_STAGE_OPENED: ("评标阶段", "stage opened"),
        EventType.EVALUATION_CHECKED_IN: ("专家签到", "checked in"),
        EventType.EVALUATION_PLEDGED: ("回避承诺", "pledged"),
        EventType.EVALUATION_VOTE_CAST: ("组长投票", "vote cast"),
        EventType.EVALUATION_ELECTION_HELD: ("推选组长", "leader election"),
        EventType.EVALUATION_COMPLIANCE_SUBMITTED: ("符合性评审表", "compliance sheet"),
        EventType.EVALUATION_COMPLIANCE_DECIDED: ("初步评审结论", "compliance decided"),
        EventType.EVALUATION_SHEET_SUBMITTED: ("评分表", "score sheet"),
        EventType.EVALUATION_CHECKS_RUN: ("评分复核", "checks run"),
        EventType.EVALUATION_FLAG_CONFIRMED: ("复核确认", "flag confirmed"),
        EventType.EVALUATION_RANKED: ("排序", "ranked"),
        EventType.EVALUATION_CLARIFICATION_REQUESTED: ("澄清提议", "clarification requested"),
        EventType.EVALUATION_CLARIFICATION_SENT: ("澄清通知", "clarification sent"),
        EventType.EVALUATION_CLARIFICATION_ANSWERED: ("澄清答复", "clarification answered"),
        EventType.EVALUATION_TIME_REQUESTED: ("申请延时", "time requested"),
        EventType.EVALUATION_TIME_EXTENDED: ("评标延时", "time extended"),
        EventType.EVALUATION_REPORT_ISSUED: ("评标报告", "report issued"),
        EventType.EVALUATION_REPORT_SIGNED: ("报告签字", "report signed"),
        EventType.EVALUATION_REPORT_DISSENTED: ("不同意见", "dissent"),
        EventType.EVALUATION_SIGNING_CLOSED: ("签字截止", "signing closed"),
        EventType.EVALUATION_RESULT_PUBLISHED: ("评标结果", "result published"),
        EventType.PARTICIPANT_ENROLLED: ("登记", "enrolled"),
        EventType.PARTICIPANT_LOGGED_IN: ("登录", "logged in"),
        EventType.AUTH_LOGIN_FAILED: ("登录失败", "login failed"),
        EventType.AUTH_LOGIN_THROTTLED: ("登录限流", "logins throttled"),
        EventType.ACCESS_DENIED: ("越权被拒", "refused"),
        EventType.ACCESS_THROTTLED: ("拒绝限流", "refusals throttled"),
        EventType.COMMAND_REJECTED: ("指令被拒", "rejected"),
        EventType.AUDIT_TREE_HEAD: ("签名树头", "signed tree head"),
        EventType.PRESENCE_LEFT: ("席位离线", "workstation dropped out"),
        EventType.MEDIA_SESSION_STARTED: ("音视频接入", "media session started"),
        EventType.MEDIA_SESSION_ENDED: ("音视频断开", "media session ended"),
        EventType.MEDIA_SEGMENT_CLOSED: ("录像片段", "recording segment"),
        EventType.MEDIA_SEGMENT_CUT: ("录像中断", "recording cut short"),
        EventType.MEDIA_RECORDING_READ: ("调阅录像", "recording retrieved"),
        EventType.MEDIA_RECORDINGS_EXPIRED: ("录像到期删除", "recordings expired"),
        EventType.OPENING_RECORD_SPOKEN: ("语音唱标", "record spoken"),
    }
)
