// Alerts a supervisor must see, derived from the records of the streams it follows: failed
// decryptions, objections, flagged scores, people going offline, refusals, failures. The chain
// alerts come from the verifier (chain.js), not from a record.

const REFUSALS = new Set([
  "access.denied",
  "access.throttled",
  "command.rejected",
  "auth.login_failed",
  "auth.login_throttled",
]);

function who(record, name) {
  const payload = record.payload || {};
  return name(payload.bidder || payload.participant || (record.actor && record.actor.id) || "");
}

// The alert a record raises, or null: {kind, stream, seq, time, params}.
export function alertOf(record, name = (id) => id) {
  const type = record.type;
  const payload = record.payload || {};
  const base = { stream: record.stream, seq: record.seq, time: record.time, type };
  if (type === "bid.decryption_attempt_failed" || type === "bid.decryption_failed") {
    return { ...base, kind: "decryption", params: { who: who(record, name), lot: payload.lot || "", reason: payload.reason || payload.outcome || "" } };
  }
  if (type === "opening.objection_raised") {
    return { ...base, kind: "objection", params: { who: who(record, name), text: payload.text || "" } };
  }
  if (type === "evaluation.checks_run" && Array.isArray(payload.flags) && payload.flags.length > 0) {
    return { ...base, kind: "flags", params: { count: payload.flags.length, lot: payload.lot || "", round: payload.round ?? "" } };
  }
  if (type === "presence.left") {
    return { ...base, kind: "offline", params: { who: who(record, name), site: payload.site || "", reason: payload.reason || "" } };
  }
  if (REFUSALS.has(type)) {
    const what = payload.action || payload.command || payload.reason || "";
    return { ...base, kind: "refusal", params: { who: who(record, name), what, rule: payload.rule || payload.reason || "" } };
  }
  if (type === "tender.failed" || type === "evaluation.draw_failed") {
    return { ...base, kind: "failure", params: { reason: payload.reason || "" } };
  }
  return null;
}

export const ALERT_KINDS = ["decryption", "objection", "flags", "offline", "refusal", "failure", "chain"];

// The alert list: newest first, with a count per kind.
export class AlertBoard {
  constructor(list, counts, render) {
    this.list = list;
    this.counts = counts;
    this.renderItem = render;
    this.alerts = [];
  }

  add(alert) {
    this.alerts.push(alert);
    this.list.prepend(this.renderItem(alert));
    this.renderCounts();
  }

  redraw() {
    this.list.replaceChildren(...this.alerts.slice().reverse().map(this.renderItem));
    this.renderCounts();
  }

  renderCounts() {
    for (const el of this.counts.querySelectorAll("[data-kind]")) {
      const count = this.alerts.filter((a) => a.kind === el.dataset.kind).length;
      el.querySelector(".count").textContent = String(count);
      el.classList.toggle("hot", count > 0);
    }
  }
}
