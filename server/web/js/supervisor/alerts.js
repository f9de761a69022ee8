// Alerts a supervisor must see, derived from the records of the streams it follows: failed
// decryptions, objections, flagged scores, people going offline, refusals, failures. The chain
// alerts come from the verifier (chain.js), not from a record.

function who(record, name) {
  const payload = record.payload || {};
  return name(payload.bidder || payload.participant || (record.actor && record.actor.id) || "");
}

// The alert a record raises, or null: {kind, key, params, stream, seq, time}; `key` is the
// catalogue's sentence for it. Free text (an objection) is a parameter: the page sets it as text.
export function alertOf(record, name = (id) => id) {
  const type = record.type;
  const payload = record.payload || {};
  const base = { stream: record.stream, seq: record.seq, time: record.time, type };
  const raise = (kind, key, params) => ({ ...base, kind, key: `sup.alert.${key}`, params });
  switch (type) {
    case "bid.decryption_attempt_failed":
      return raise("decryption", "decryption_attempt", { who: who(record, name), lot: payload.lot || "", attempt: payload.attempt ?? "" });
    case "bid.decryption_failed":
      return raise("decryption", `decryption_${payload.outcome === "withdrawn" ? "withdrawn" : "revoked"}`, { who: who(record, name), lot: payload.lot || "" });
    case "opening.objection_raised":
      return raise("objection", "objection", { who: who(record, name), text: payload.text || "" });
    case "presence.left":
      return raise("offline", "offline", { who: who(record, name), site: payload.site || "" });
    case "auth.login_failed":
      return raise("refusal", "login_failed", { who: payload.participant || "", address: payload.address || "", reason: payload.reason || "" });
    case "auth.login_throttled":
    case "access.throttled":
      return raise("refusal", "throttled", { who: who(record, name), limit: payload.limit ?? "" });
    case "access.denied":
    case "command.rejected":
      return raise("refusal", "denied", { who: who(record, name), what: payload.action || payload.command || "", rule: payload.rule || "" });
    case "tender.failed":
    case "evaluation.draw_failed":
      return raise("failure", type === "tender.failed" ? "tender_failed" : "draw_failed", { lot: payload.lot || "" });
    default:
      if (type === "evaluation.checks_run" && Array.isArray(payload.flags) && payload.flags.length > 0) {
        return raise("flags", "flags", { count: payload.flags.length, lot: payload.lot || "", round: payload.round ?? "" });
      }
      return null;
  }
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
