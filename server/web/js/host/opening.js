// The opening as the host runs it (docs/protocol.md 2.8): sign-ins, bid statuses, start,
// pause with a reason and resume, the record read out (唱标), objections answered, close.
import { api, ApiError } from "/static/js/lib/api.js";
import { h } from "/static/js/lib/dom.js";
import { errorText, formatDuration, formatTime, has, t } from "/static/js/lib/i18n.js";
import { countdown } from "/static/js/host/ticker.js";
import { button, busy, el } from "/static/js/host/util.js";

// Inputs the host may be typing in survive the view being drawn again on every event.
const kept = { reason: null, answers: new Map() };

function reasonInput() {
  if (!kept.reason) {
    kept.reason = el("input", {
      type: "text", class: "pause-reason", "data-testid": "pause-reason",
      "data-i18n-placeholder": "host.opening.pause_reason", "data-i18n-aria-label": "host.opening.pause_reason",
    }, { placeholder: t("host.opening.pause_reason") });
    kept.reason.setAttribute("aria-label", t("host.opening.pause_reason"));
  }
  return kept.reason;
}

function answerInput(objection) {
  if (!kept.answers.has(objection)) {
    const box = el("textarea", {
      class: "answer-text", "data-objection": objection, "data-i18n-aria-label": "host.opening.answer_text",
    }, { rows: 2 });
    box.setAttribute("aria-label", t("host.opening.answer_text"));
    kept.answers.set(objection, box);
  }
  return kept.answers.get(objection);
}

// Calls the node; a refusal shows once, in `where` beside the action, in the reader's language.
export async function act(control, where, call) {
  return busy(control, async () => {
    where.replaceChildren();
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      where.append(h("p", { class: "error", role: "alert" }, errorText(err)));
      return null;
    }
  });
}

function namesOf(opening) {
  return new Map(opening.bids.map((bid) => [bid.bidder, bid.name]));
}

function signIns(tender, opening) {
  if (!tender.bids_closed) {
    // Who bid stays secret until the deadline, sign-ins included (E-Measures 21).
    return h("p", { class: "muted sign-ins", "data-testid": "sign-ins" }, t("host.opening.sign_ins_secret"));
  }
  const names = namesOf(opening);
  const list = Array.isArray(opening.signed_in) ? opening.signed_in : [];
  const total = new Set(opening.bids.map((bid) => bid.bidder)).size || opening.sealed || 0;
  return h("div", { class: "sign-ins", "data-testid": "sign-ins" },
    h("h4", {}, t("host.opening.signed_in", { count: list.length, total })),
    h("ul", { class: "chips" }, ...list.map((id) => h("li", { "data-bidder": id }, names.get(id) || id))));
}

// A value the node names (who opened a bid, whose fault it was) in words where the catalogue
// has them, else as the node wrote it.
function named(prefix, value) {
  return has(`${prefix}.${value}`) ? t(`${prefix}.${value}`) : value;
}

function bidDetail(bid) {
  if (bid.by) return named("host.by", bid.by);
  return [bid.fault ? named("host.fault", bid.fault) : "", bid.reason || ""].filter(Boolean).join(" · ");
}

function bidsTable(opening) {
  const head = ["host.opening.lot", "host.opening.bidder", "host.opening.status", "host.opening.attempts",
    "host.opening.detail"].map((key) => h("th", {}, t(key)));
  const rows = opening.bids.map((bid) => h("tr", { "data-bidder": bid.bidder, "data-status": bid.status },
    h("td", {}, bid.lot), h("td", {}, bid.name),
    h("td", { class: `status ${bid.status}` }, t(`host.bid.${bid.status}`)),
    h("td", {}, String(bid.attempts)), h("td", {}, bidDetail(bid))));
  return h("div", { class: "table-wrap" }, h("table", { class: "bids", "data-testid": "bids" },
    h("thead", {}, h("tr", {}, ...head)), h("tbody", {}, ...rows)));
}

function recordTable(record, spec, opening) {
  const extras = spec.opening.sheet_fields || [];
  const names = ["price", "duration_days", "quality", "project_manager"];
  const head = [t("host.opening.bidder"), t("host.opening.status"), ...names.map((n) => t(`host.sheet.${n}`)),
    ...extras.map((f) => f.label)].map((text) => h("th", {}, text));
  const responses = opening.responses || {};
  const lots = record.lots.map((lot) => {
    const rows = lot.bids.map((bid) => {
      const sheet = bid.sheet || {};
      const cells = bid.sheet
        ? [...names.map((n) => String(sheet[n] ?? "")), ...extras.map((f) => String((sheet.extra || {})[f.name] ?? ""))]
        : [bidDetail(bid), ...names.slice(1).map(() => ""), ...extras.map(() => "")];
      const response = responses[bid.bidder];
      return h("tr", { "data-bidder": bid.bidder },
        h("td", {}, bid.name, response ? h("span", { class: `badge ${response}` }, named("host.response", response)) : ""),
        h("td", {}, t(`host.bid.${bid.status}`)), ...cells.map((text) => h("td", {}, text)));
    });
    return h("div", { class: "record-lot", "data-lot": lot.lot },
      h("h5", {}, `${lot.lot} ${lot.name}`, lot.failed ? h("span", { class: "badge failed" }, t("host.opening.lot_failed")) : ""),
      h("div", { class: "table-wrap" }, h("table", { class: "record" },
        h("thead", {}, h("tr", {}, ...head)), h("tbody", {}, ...rows))));
  });
  return h("section", { class: "record-box", "data-testid": "record" },
    h("h4", {}, t("host.opening.record_heading", { at: formatTime(record.at) })),
    opening.confirm_until ? h("p", { class: "muted" }, t("host.opening.confirm_until", { at: formatTime(opening.confirm_until) })) : "",
    ...lots);
}

function objectionsBox(ctx, opening) {
  const names = namesOf(opening);
  if (!opening.objections.length) return "";
  const items = opening.objections.map((objection) => {
    const where = h("div", { class: "refusal" });
    const parts = [
      h("p", { class: "who" }, names.get(objection.bidder) || objection.bidder),
      h("p", { class: "objection-text" }, objection.text),
    ];
    if (objection.answer !== null && objection.answer !== undefined) {
      parts.push(h("p", { class: "answer" }, h("strong", {}, t("host.opening.answer_label")), " ", objection.answer));
    } else {
      const text = answerInput(objection.id);
      const send = button("host.opening.answer", () => {
        const answer = text.value.trim();
        if (!answer) {
          where.replaceChildren(h("p", { class: "error", role: "alert" }, t("host.opening.answer_empty")));
          return;
        }
        act(send, where, async () => {
          const path = `/api/tenders/${ctx.id}/opening/objections/${encodeURIComponent(objection.id)}/answer`;
          await ctx.apply(await api("POST", path, { answer }));
          kept.answers.delete(objection.id);
        });
      }, "primary");
      parts.push(text, send, where);
    }
    return h("li", { class: "objection", "data-objection": objection.id }, ...parts);
  });
  return h("section", { class: "objections", "data-testid": "objections" },
    h("h4", {}, t("host.opening.objections")), h("ul", {}, ...items));
}

function controls(ctx, tender, opening) {
  const where = h("div", { class: "refusal", "data-testid": "opening-refusal" });
  const post = (control, path, body) => act(control, where, async () => {
    await ctx.apply(await api("POST", `/api/tenders/${ctx.id}/${path}`, body));
  });
  const bar = h("div", { class: "actions" });
  const phase = opening.phase;
  if (phase === "not_started" && ["bidding", "opening"].includes(tender.state)) {
    const start = button("host.opening.start", () => post(start, "opening/start"), "primary");
    bar.append(start);
  }
  if (phase === "decrypting") {
    const reason = reasonInput();
    const pause = button("host.opening.pause", () => {
      const text = reason.value.trim();
      if (!text) {
        where.replaceChildren(h("p", { class: "error", role: "alert" }, t("host.opening.reason_needed")));
        return;
      }
      post(pause, "opening/pause", { reason: text }).then(() => { reason.value = ""; });
    });
    bar.append(h("span", { class: "inline" }, reason, pause));
  }
  if (phase === "paused") {
    const resume = button("host.opening.resume", () => post(resume, "opening/resume"), "primary");
    bar.append(resume);
  }
  if (phase === "decrypting" || phase === "decryption_closed") {
    const read = button("host.opening.read_record", () => post(read, "opening/record"), "primary");
    bar.append(read);
  }
  if (phase === "record_published") {
    const close = button("host.opening.close", () => post(close, "opening/close"), "primary");
    bar.append(close);
  }
  return h("div", {}, bar, where);
}

// The decryption window: counting down while it runs, the time kept while paused.
function timing(opening) {
  if (opening.phase === "decrypting" && opening.ends_at) {
    return h("p", { class: "timing" }, t("host.opening.remaining_label"), " ", countdown(opening.ends_at),
      ` · ${t("host.opening.ends_at", { at: formatTime(opening.ends_at) })}`);
  }
  if (opening.phase === "paused" && opening.remaining_seconds !== undefined) {
    return h("p", { class: "timing" }, t("host.opening.remaining_label"), " ",
      formatDuration(Math.max(0, opening.remaining_seconds)));
  }
  return "";
}

export function openingPanel(ctx, tender, opening) {
  const panel = h("section", { class: "panel opening", "data-testid": "opening", "data-phase": opening.phase },
    h("h3", {}, t("host.opening.heading")),
    h("p", { class: "phase" }, h("span", { class: "label" }, t("host.opening.phase")), " ",
      h("strong", { "data-testid": "phase" }, t(`host.phase.${opening.phase}`))),
    timing(opening));
  if (opening.failed_lots.length) {
    panel.append(h("ul", { class: "failed-lots" }, ...opening.failed_lots.map((f) =>
      h("li", {}, t("host.opening.failed_lot", { lot: f.lot, reason: f.reason })))));
  }
  panel.append(controls(ctx, tender, opening), signIns(tender, opening));
  if (opening.bids.length) panel.append(bidsTable(opening));
  if (opening.record) panel.append(recordTable(opening.record, tender.spec, opening));
  panel.append(objectionsBox(ctx, opening));
  return panel;
}
