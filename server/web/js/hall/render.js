// The hall's sections, drawn from the state hall.js keeps. Text goes in as text (h() and
// textContent), never as markup: names, objections and messages are whatever people typed.

import { h, replace } from "/static/js/lib/dom.js";
import { formatDuration, formatTime, t } from "/static/js/lib/i18n.js";
import { serverNow } from "/static/js/lib/session.js";

// An element whose text is a catalogue entry, kept in step when the language changes.
export function tx(tag, key, attrs = {}) {
  return h(tag, { ...attrs, "data-i18n": key }, t(key));
}

export const SHEET_COLUMNS = ["price", "duration_days", "quality", "project_manager"];

function seconds(until) {
  return (Date.parse(until) - serverNow().getTime()) / 1000;
}

function badge(text, kind = "") {
  return h("span", { class: ["badge", kind] }, text);
}

export function short(hash) {
  return typeof hash === "string" && hash.length > 16 ? `${hash.slice(0, 8)}…${hash.slice(-8)}` : String(hash || "");
}

// The head: title, tenderer, state, phase, lots; the countdown is drawn apart, every second.
export function renderHead(el, s) {
  const spec = s.tender.spec;
  const phase = s.opening ? s.opening.phase : "not_started";
  replace(
    el,
    h("h1", { id: "tender-title" }, spec.title),
    h(
      "p",
      { class: "muted" },
      t("hall.tenderer", { tenderer: spec.tenderer }),
      " · ",
      h("span", { class: "mono", id: "tender-id" }, s.tender.id),
    ),
    h(
      "div",
      { class: "hall-badges" },
      h("span", { id: "tender-state" }, badge(t(`state.${s.tender.state}`))),
      h("span", { id: "opening-phase" }, badge(t(`phase.${phase}`), phase === "decrypting" ? "warn" : "")),
      s.me ? badge(t(`role.${s.me.role}`)) : null,
    ),
    h(
      "ul",
      { class: "lots", id: "lots" },
      spec.lots.map((lot) => h("li", { "data-lot": lot.id }, h("strong", {}, lot.id), " ", lot.name, failedLot(s, lot.id))),
    ),
    h(
      "p",
      { class: "muted", id: "schedule" },
      t("hall.deadline_at", { time: formatTime(s.tender.opening_time) }),
      " · ",
      t("hall.sign_in_from", { time: formatTime(signInOpens(s)) }),
    ),
  );
}

function failedLot(s, lot) {
  const failed = s.opening && (s.opening.failed_lots || []).find((f) => f.lot === lot);
  return failed ? tx("span", "hall.lot_failed", { class: "badge bad" }) : null;
}

export function signInOpens(s) {
  const lead = s.tender.spec.schedule.sign_in_lead_minutes || 0;
  return new Date(Date.parse(s.tender.opening_time) - lead * 60_000).toISOString();
}

// What the clock counts down to, by where the tender and its opening stand.
export function renderCountdown(el, s) {
  const o = s.opening;
  const phase = o ? o.phase : "not_started";
  let label;
  let value = "";
  let reason = null;
  if (["draft", "published", "bidding"].includes(s.tender.state) && !s.tender.bids_closed) {
    label = t("countdown.deadline");
    value = formatDuration(seconds(s.tender.opening_time));
  } else if (phase === "not_started" && s.tender.state !== "failed" && s.tender.state !== "cancelled") {
    label = t("countdown.waiting_start");
  } else if (phase === "decrypting" && o.ends_at) {
    label = t("countdown.decryption");
    value = formatDuration(seconds(o.ends_at));
  } else if (phase === "paused") {
    label = t("countdown.paused");
    value = formatDuration(o.remaining_seconds || 0);
    if (s.pause) reason = t("countdown.pause_reason", { reason: s.pause.reason });
  } else if (phase === "record_published" && o.confirm_until) {
    label = t("countdown.confirm");
    value = formatDuration(seconds(o.confirm_until));
  } else {
    label = t(`countdown.over.${s.tender.state === "failed" || s.tender.state === "cancelled" ? s.tender.state : "done"}`);
  }
  replace(
    el,
    h("span", { id: "countdown-label" }, label),
    " ",
    h("strong", { id: "countdown-value" }, value),
    reason ? h("span", { id: "pause-reason", class: "warn" }, reason) : null,
  );
}

// Decryption progress: every bid of every lot, with its status, live.
export function renderProgress(el, s) {
  const bids = s.opening ? s.opening.bids : [];
  const title = tx("h2", "progress.title");
  if (!bids.length) {
    replace(el, title, h("p", { class: "muted", id: "progress-empty" }, t(s.tender.bids_closed ? "progress.not_started" : "progress.secret")));
    return;
  }
  const done = bids.filter((b) => b.status !== "pending").length;
  const meter = h("progress", { id: "progress-meter", max: String(bids.length), value: String(done) });
  const rows = bids.map((b) =>
    h(
      "tr",
      { "data-bidder": b.bidder, "data-lot": b.lot, class: b.bidder === s.me?.participant ? "mine" : "" },
      h("td", {}, b.lot),
      h("td", { class: "bidder-name" }, b.name),
      h("td", { class: "bid-status" }, badge(t(`bid.${b.status}`), { decrypted: "ok", revoked: "bad", withdrawn: "bad", pending: "warn" }[b.status])),
      h("td", {}, b.by ? t(`bid.by.${b.by}`) : b.reason || ""),
      h("td", {}, b.attempts ? t("bid.attempts", { n: b.attempts }) : ""),
    ),
  );
  replace(
    el,
    title,
    h("p", { id: "progress-count" }, t("progress.count", { done, total: bids.length }), " ", meter),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { id: "progress-table" },
        h("thead", {}, h("tr", {}, ["progress.lot", "progress.bidder", "progress.status", "progress.detail", "progress.attempts"].map((k) => h("th", {}, t(k))))),
        h("tbody", {}, rows),
      ),
    ),
  );
}

function sheetCell(sheet, column) {
  if (!sheet) return "";
  const value = sheet[column];
  if (column === "price" && typeof value === "string") {
    const n = Number(value);
    return Number.isFinite(n) ? n.toLocaleString("zh-CN", { minimumFractionDigits: 2 }) : value;
  }
  return value === undefined || value === null ? "" : String(value);
}

// 唱标: the record, row by row as it is read out (`shown` rows of it so far).
export function renderRecord(el, s) {
  const o = s.opening;
  const title = tx("h2", "record.title");
  if (!o || !o.record) {
    replace(el, title, tx("p", "record.not_yet", { class: "muted", id: "record-empty" }));
    return;
  }
  const extra = s.tender.spec.opening.sheet_fields || [];
  let left = s.rowsShown;
  let index = 0;
  const lots = o.record.lots.map((lot) => {
    const rows = [];
    for (const [i, bid] of lot.bids.entries()) {
      if (left <= 0) break;
      left -= 1;
      index += 1;
      const sheet = bid.sheet;
      rows.push(
        h(
          "tr",
          { class: ["record-row", index === s.rowsShown && "just-read"], "data-bidder": bid.bidder },
          h("td", {}, String(i + 1)),
          h("td", { class: "bidder-name" }, bid.name),
          SHEET_COLUMNS.map((c) => h("td", { class: `sheet-${c}` }, sheetCell(sheet, c))),
          extra.map((f) => h("td", {}, sheet && sheet.extra ? String(sheet.extra[f.name] ?? "") : "")),
          h("td", {}, badge(t(`bid.${bid.status}`), bid.status === "decrypted" ? "ok" : "bad"), bid.reason ? h("div", { class: "muted" }, bid.reason) : null),
        ),
      );
    }
    return h(
      "div",
      { class: "record-lot", "data-lot": lot.lot },
      h("h3", {}, `${lot.lot} ${lot.name}`, lot.failed ? tx("span", "hall.lot_failed", { class: "badge bad" }) : null),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "record-table" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              tx("th", "record.no"),
              tx("th", "record.bidder"),
              SHEET_COLUMNS.map((c) => h("th", {}, t(`record.${c}`))),
              extra.map((f) => h("th", {}, f.label)),
              tx("th", "record.status"),
            ),
          ),
          h("tbody", {}, rows),
        ),
      ),
    );
  });
  const check = s.recordCheck;
  const hashLine = h(
    "p",
    { id: "record-hash", class: check === "ok" ? "ok" : check === "bad" ? "error" : "muted" },
    check === "ok" ? t("record.hash_ok", { hash: short(o.record_hash) }) : check === "bad" ? t("record.hash_bad") : t("record.hash_checking"),
  );
  const reading = s.rowsShown < totalRows(o.record) ? tx("p", "record.reading", { class: "warn", id: "record-reading" }) : null;
  replace(el, title, h("p", { class: "muted" }, t("record.at", { time: formatTime(o.record.at) })), reading, lots, hashLine, finalLine(s));
}

// Once closed: the final record the node signed, checked in the page (hall.js checkFinal).
function finalLine(s) {
  if (!s.final || !s.finalCheck) return null;
  if (s.finalCheck !== "ok") return tx("p", "record.final_bad", { class: "error", id: "record-final" });
  const final = s.final.record;
  const counts = { confirmed: final.confirmed.length, deemed: final.deemed_accepted.length, objections: final.objections.length };
  return h("p", { class: "ok", id: "record-final" }, t("record.final_ok", counts));
}

export function totalRows(record) {
  return record ? record.lots.reduce((n, lot) => n + lot.bids.length, 0) : 0;
}

function nameOf(s, bidder) {
  const found = s.opening && s.opening.bids.find((b) => b.bidder === bidder);
  return found ? found.name : bidder;
}

// Objections (异议) and the host's answers, on record for everyone at the opening.
export function renderObjections(el, s) {
  const objections = s.opening ? s.opening.objections : [];
  const title = tx("h2", "objections.title");
  if (!objections.length) {
    replace(el, title, tx("p", "objections.none", { class: "muted" }));
    return;
  }
  replace(
    el,
    title,
    h(
      "ol",
      { id: "objection-list", class: "feed" },
      objections.map((o) =>
        h(
          "li",
          { class: "objection", "data-objection": o.id },
          h("div", {}, h("strong", { class: "objection-bidder" }, nameOf(s, o.bidder)), " ", h("span", { class: "muted" }, o.id)),
          h("p", { class: "objection-text" }, o.text),
          o.answer === null || o.answer === undefined
            ? tx("p", "objections.pending", { class: "warn objection-pending" })
            : h("p", { class: "objection-answer" }, tx("strong", "objections.answer"), " ", h("span", { class: "answer-text" }, o.answer)),
        ),
      ),
    ),
  );
}

// The message box: what the node let this bidder read, oldest first.
export function renderMessages(list, s) {
  if (!s.messages.length) {
    replace(list, tx("li", "messages.none", { class: "muted", id: "messages-empty" }));
    return;
  }
  replace(
    list,
    s.messages.map((m) => {
      const mine = m.sender === s.me.participant;
      return h(
        "li",
        { class: ["message", mine ? "from-me" : "from-host"], "data-message": m.message },
        h(
          "div",
          { class: "message-meta muted" },
          mine ? t("messages.me") : t("messages.host"),
          m.broadcast ? tx("span", "messages.broadcast", { class: "badge" }) : null,
          " ",
          formatTime(m.at),
        ),
        h("p", { class: "message-text" }, m.text),
      );
    }),
  );
  list.lastElementChild?.scrollIntoView?.({ block: "nearest" });
}
