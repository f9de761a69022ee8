// The room on screen. Each panel is rebuilt only when what it shows changes (its key), so that a
// form being filled in is never wiped by another member's act arriving on the live feed.

import { h, replace } from "/static/js/lib/dom.js";
import { errorText, formatDuration, formatTime, has, t } from "/static/js/lib/i18n.js";
import { serverNow } from "/static/js/lib/session.js";
import { DocumentReader } from "/static/js/expert/documents.js";
import {
  actButton,
  checkInForm,
  complianceForm,
  pledgeForm,
  ScoringPanel,
  voteForm,
} from "/static/js/expert/forms.js";
import { hashCheck, renderReport, reportDownload, responseForm } from "/static/js/expert/report.js";
import { IN_SESSION } from "/static/js/expert/room.js";
import { bidsTable, membersTable, openingRecord } from "/static/js/expert/panels.js";

const LOG_LIMIT = 200;

function statusLine(el) {
  let beside = null; // the note next to the button last pressed
  const set = (kind, text) => {
    for (const target of [el, beside]) {
      if (target !== null && target.isConnected) {
        target.className = `${target === el ? "act-status" : "act-note"} ${kind}`;
        target.setAttribute("role", kind === "error" ? "alert" : "status");
        replace(target, text);
      }
    }
  };
  return {
    beside: (note) => {
      beside = note;
    },
    clear: () => {
      set("", "");
      beside = null;
    },
    ok: (text) => set("ok", text),
    warn: (text) => set("warn", text),
    error: (err) => set("error", errorText(err)),
  };
}

function section(name, titleKey) {
  const body = h("div", { class: "panel-body" });
  const el = h("section", { class: "card", "data-panel": name }, titleKey ? h("h2", {}, t(titleKey)) : "", body);
  return { el, body };
}

export class RoomPage {
  constructor(root, room, records = [], intercom = null) {
    this.root = root;
    this.room = room;
    this.records = [];
    this.keys = new Map();
    this.timeAsked = false;
    this.scoring = null;
    const statusEl = h("div", { class: "act-status", "data-role": "act-status", role: "status" });
    this.status = statusLine(statusEl);
    this.summary = section("summary");
    this.action = section("action", "expert.action.title");
    this.report = section("report", "expert.report.title");
    this.clarify = section("clarify", "expert.clarify.title");
    this.time = section("time", "expert.time.title");
    this.members = section("members", "expert.members.title");
    this.bids = section("bids", "expert.bids.title");
    this.record = section("record", "expert.record.title");
    this.log = section("log", "expert.log.title");
    this.intercom = intercom;
    this.media = section("intercom", "expert.intercom.title");
    if (intercom !== null) {
      this.media.body.append(intercom.el);
    }
    this.logList = h("ol", { class: "log", "data-role": "log", reversed: "" });
    replace(this.log.body, this.logList);
    this.documents = h("section", { class: "card documents", "data-role": "documents", hidden: true });
    this.reader = new DocumentReader(this.documents);
    this.clock = setInterval(() => this.tick(), 1000);
    room.onError = (err) => {
      if (err?.rule === "NotACommitteeMember") {
        this.left();
      }
      this.status.error(err);
    };
    for (const record of records) {
      this.logEvent(record);
    }
    replace(
      root,
      h(
        "div",
        { class: "room", "data-role": "room" },
        this.summary.el,
        h(
          "div",
          { class: "room-grid" },
          h("div", { class: "col-main" }, statusEl, this.action.el, this.documents, this.report.el, this.clarify.el, this.time.el),
          h("div", { class: "col-side" }, this.members.el, this.media.el, this.bids.el, this.record.el, this.log.el),
        ),
      ),
    );
  }

  /** The time left until the evaluation's end, or the signing's: shown, never enforced here. */
  tick() {
    const view = this.room.view;
    const el = this.summary.body.querySelector("[data-fact=time_left], [data-fact=sign_left]");
    if (!view || !el) {
      return;
    }
    const until = view.stage === "report" ? view.sign_until : IN_SESSION.includes(view.stage) ? view.ends_at : null;
    if (!until) {
      el.textContent = "—";
      return;
    }
    const left = (Date.parse(until) - serverNow().getTime()) / 1000;
    el.textContent = left > 0 ? formatDuration(left) : t("expert.summary.time_up");
  }

  dispose() {
    clearInterval(this.clock);
  }

  /** The node no longer counts this expert a member (replaced): nothing left to do here. */
  left() {
    this.keys.set("action", "left");
    replace(this.action.body, h("p", { class: "error", role: "alert", "data-role": "not-member" }, t("expert.room.not_member")));
  }

  /** Rebuild `panel` with `build()` when `key` differs from what it shows. */
  panel(name, target, key, build) {
    if (this.keys.get(name) === key) {
      return;
    }
    this.keys.set(name, key);
    replace(target.body, ...build());
  }

  render(view) {
    const room = this.room;
    const me = room.me();
    const inSession = IN_SESSION.includes(view.stage);
    this.panel("summary", this.summary, JSON.stringify([view.stage, view.round, view.leader, view.ends_at, view.extended, me !== null]), () =>
      this.summaryBody(view, me),
    );
    this.tick();
    const mine = {
      me,
      voted: view.voted.includes(room.expert),
      compliance: view.compliance_in.includes(room.expert),
      sheets: view.sheets.filter((s) => s.expert === room.expert).map((s) => [s.bidder, s.version]),
      flags: view.flags.filter((f) => f.expert === room.expert).map((f) => [f.bidder, f.kind, f.answer]),
      bids: view.bids.map((b) => [b.bidder, b.status]),
    };
    const scoring = view.stage === "scoring" && Boolean(me?.pledged);
    const actionKey = JSON.stringify(scoring ? ["scoring", room.expert] : [view.stage, view.round, mine]);
    this.panel("action", this.action, actionKey, () => [this.actionBody(view, me, mine)]);
    if (scoring) {
      this.scoring.update();
    }
    this.panel("report", this.report, JSON.stringify([view.report_hash, view.responses, view.stage, view.result !== null]), () =>
      this.reportBody(view),
    );
    this.report.el.hidden = view.report === null && view.result === null;
    this.panel("clarify", this.clarify, JSON.stringify([view.clarifications, view.leader, view.stage, view.bids.length]), () =>
      this.clarifyBody(view),
    );
    this.panel("time", this.time, JSON.stringify([inSession, view.ends_at, view.extended, this.timeAsked, me?.pledged ?? false]), () =>
      this.timeBody(view, inSession && Boolean(me?.pledged)),
    );
    this.panel("members", this.members, JSON.stringify([view.members, view.leader]), () => [membersTable(view, room.expert)]);
    this.panel("bids", this.bids, JSON.stringify([view.bids, me?.pledged ?? false]), () => [
      bidsTable(view, Boolean(me?.pledged), (bid) => void this.reader.open(room, bid)),
    ]);
    this.intercom?.render(view);
    this.media.el.hidden = this.intercom === null;
    this.panel("record", this.record, view.opening_record ? "1" : "0", () => [openingRecord(view, room.lot)]);
  }

  summaryBody(view, me) {
    const seat = this.room.seat;
    const facts = [
      ["expert.summary.tender", view.tender],
      ["expert.summary.lot", view.lot],
      ["expert.summary.stage", view.stage ? t(`expert.stage.${view.stage}`) : "—"],
      ["expert.summary.round", String(view.round)],
      ["expert.summary.leader", view.leader ? this.room.name(view.leader) : t("expert.summary.no_leader")],
      ["expert.summary.seat", t("expert.seats.where", { site: String(seat.site), workstation: String(seat.workstation) })],
      ["expert.summary.ends_at", view.ends_at ? formatTime(view.ends_at) + (view.extended ? ` ${t("expert.summary.extended")}` : "") : "—"],
      [view.stage === "report" ? "expert.summary.sign_left" : "expert.summary.time_left", ""],
    ];
    const items = facts.map(([key, value]) =>
      h("div", { class: "fact" }, h("dt", {}, t(key)), h("dd", { "data-fact": key.split(".").pop() }, value)),
    );
    const parts = [h("h2", {}, t("expert.room.title")), h("dl", { class: "facts" }, ...items)];
    if (me === null) {
      parts.push(h("p", { class: "error", role: "alert" }, t("expert.room.not_member")));
    }
    return parts;
  }

  actionBody(view, me, mine) {
    const room = this.room;
    const status = this.status;
    if (me === null) {
      return h("p", { class: "muted" }, t("expert.room.not_member"));
    }
    if (view.stage === "draw_committed" || view.stage === "drawn") {
      return h("p", { class: "muted", "data-role": "waiting" }, t("expert.action.not_started"));
    }
    if (IN_SESSION.includes(view.stage)) {
      if (!me.checked_in) {
        return checkInForm(room, status);
      }
      if (!me.pledged) {
        return pledgeForm(room, status);
      }
    }
    switch (view.stage) {
      case "check_in":
        return this.waiting("expert.action.wait_checkin");
      case "election":
        return mine.voted ? this.waiting("expert.action.wait_votes") : voteForm(room, status);
      case "compliance":
        return mine.compliance ? this.waiting("expert.action.wait_compliance") : complianceForm(room, status);
      case "scoring":
        this.scoring = new ScoringPanel(room, status, (bid) => void this.reader.open(room, bid));
        return this.scoring.el;
      case "report":
        return this.waiting(view.responses?.[room.expert] ? "expert.action.wait_signatures" : "expert.action.read_report");
      case "done":
        return this.waiting("expert.action.done");
      default:
        return this.waiting("expert.action.not_started");
    }
  }

  waiting(key) {
    return h("p", { class: "muted", "data-role": "waiting" }, t(key));
  }

  reportBody(view) {
    if (view.result !== null) {
      const result = view.result;
      return [
        h("p", { class: "ok", "data-role": "result" }, t("expert.report.published", { at: formatTime(result.at) })),
        renderReport(result.report, result.report_hash),
        reportDownload(this.room, this.status),
      ];
    }
    if (view.report === null) {
      return [];
    }
    const form = responseForm(this.room, this.status);
    const check = hashCheck(view.report, view.report_hash, form);
    const answers = view.members.map((m) => {
      const answer = view.responses?.[m.expert];
      const state = answer === "report-signature" ? "signed" : answer === "report-dissent" ? "dissented" : "pending";
      return h("li", { "data-expert": m.expert, "data-response": state }, `${m.name}：`, t(`expert.report.response.${state}`));
    });
    return [
      renderReport(view.report, view.report_hash),
      reportDownload(this.room, this.status),
      h("h4", {}, t("expert.report.responses")),
      h("ul", { class: "responses" }, ...answers),
      check,
      form,
    ];
  }

  clarifyBody(view) {
    const room = this.room;
    const list = view.clarifications.length
      ? h(
          "ul",
          { class: "clarifications", "data-role": "clarifications" },
          ...view.clarifications.map((c) =>
            h(
              "li",
              {},
              h("strong", {}, `${c.id} · ${room.name(c.bidder)}`),
              h("p", {}, t("expert.clarify.q"), " ", c.question),
              h("p", { class: c.answer === null ? "muted" : "" }, t("expert.clarify.a"), " ", c.answer ?? t("expert.clarify.waiting")),
            ),
          ),
        )
      : h("p", { class: "muted" }, t("expert.clarify.none"));
    const parts = [list];
    const asking = ["compliance", "scoring"].includes(view.stage);
    if (asking && view.leader === room.expert) {
      const select = h("select", { "data-role": "clarify-bidder" }, ...view.bids.map((b) => h("option", { value: b.bidder }, b.name)));
      select.id = "clarify-bidder";
      const question = h("textarea", { "data-role": "clarify-question", rows: "3" });
      question.id = "clarify-question";
      parts.push(
        h(
          "div",
          { class: "clarify-form", "data-form": "clarify" },
          h("div", { class: "field" }, h("label", { for: "clarify-bidder" }, t("expert.clarify.bidder")), select),
          h("div", { class: "field" }, h("label", { for: "clarify-question" }, t("expert.clarify.question")), question),
          actButton(t("expert.clarify.button"), this.status, async () => {
            const text = question.value.trim();
            if (!text) {
              this.status.warn(t("expert.clarify.question_required"));
              return;
            }
            await room.ask(select.value, text);
            question.value = "";
            this.status.ok(t("expert.clarify.sent"));
          }),
        ),
      );
    } else if (asking) {
      parts.push(h("p", { class: "muted" }, t("expert.clarify.leader_only")));
    }
    return parts;
  }

  timeBody(view, open) {
    if (!open) {
      return [h("p", { class: "muted" }, t("expert.time.closed"))];
    }
    if (this.timeAsked) {
      return [h("p", { class: "ok" }, t("expert.time.asked"))];
    }
    const reason = h("input", { type: "text", "data-role": "time-reason" });
    reason.id = "time-reason";
    return [
      h("p", { class: "muted" }, t("expert.time.help")),
      h("div", { class: "field" }, h("label", { for: "time-reason" }, t("expert.time.reason")), reason),
      actButton(t("expert.time.button"), this.status, async () => {
        const text = reason.value.trim();
        if (!text) {
          this.status.warn(t("expert.time.reason_required"));
          return;
        }
        await this.room.moreTime(text);
        this.timeAsked = true;
        this.status.ok(t("expert.time.asked"));
        this.render(this.room.view);
      }),
    ];
  }

  logEvent(record) {
    this.records.push(record);
    if (this.records.length > LOG_LIMIT) {
      this.records.shift();
    }
    const type = String(record.type ?? "");
    const doc = record.payload?.document;
    if (type === "evaluation.time_requested" && doc?.expert === this.room.expert) {
      this.timeAsked = true;
    }
    const payload = record.payload ?? {};
    let text = has(`expert.event.${type}`) ? t(`expert.event.${type}`) : type;
    if (type === "evaluation.stage_opened" && has(`expert.stage.${payload.stage}`)) {
      const round = Number(payload.round ?? 0);
      text += t(round ? "expert.log.stage_round" : "expert.log.stage", { stage: t(`expert.stage.${payload.stage}`), round: String(round) });
    }
    if (type === "evaluation.member_replaced" && payload.leaving === this.room.expert) {
      this.status.error({ rule: "NotACommitteeMember" });
    }
    this.logList.prepend(
      h("li", { "data-type": type, "data-seq": String(record.seq) }, h("time", {}, formatTime(record.time)), " ", text),
    );
    while (this.logList.children.length > LOG_LIMIT) {
      this.logList.lastElementChild.remove();
    }
  }
}
