// The form a host fills to create a tender (docs/protocol.md 2.5): it builds the tender spec,
// sends it, and shows the node's problems next to the fields they name.
import { api, ApiError } from "/static/js/lib/api.js";
import { h, toast } from "/static/js/lib/dom.js";
import { errorText, t } from "/static/js/lib/i18n.js";
import { serverNow } from "/static/js/lib/session.js";
import { clearProblems, showProblems } from "/static/js/host/problems.js";
import { rowList } from "/static/js/host/rows.js";
import {
  busy, el, field, fromLocalInput, input, numberOf, select, toLocalInput,
} from "/static/js/host/util.js";

const HOUR = 3600 * 1000;

function section(titleKey, ...children) {
  return h("section", { class: "form-section" },
    h("h3", { "data-i18n": titleKey }, t(titleKey)), h("div", { class: "grid" }, ...children));
}

function checkbox(checked) {
  return el("input", { type: "checkbox" }, { checked });
}

function schedule(now) {
  const opens = new Date(Math.ceil((now.getTime() + HOUR) / 60000) * 60000);
  const deadline = new Date(opens.getTime() + 20 * 24 * HOUR);
  return {
    opens: input("datetime-local", toLocalInput(opens)),
    deadline: input("datetime-local", toLocalInput(deadline)),
    lead: input("text", "30", { inputMode: "numeric" }),
    window: input("text", "30", { inputMode: "numeric" }),
  };
}

export function tenderForm(onCreated) {
  const c = {
    title: input("text", ""),
    tenderer: input("text", ""),
    ...schedule(serverNow()),
    size: input("text", "5", { inputMode: "numeric" }),
    large: checkbox(false),
    minBids: input("text", "3", { inputMode: "numeric" }),
    method: select([["comprehensive", "host.method.comprehensive"],
      ["lowest_evaluated_price", "host.method.lowest_evaluated_price"]], "comprehensive"),
    priceWeight: input("text", "30", { inputMode: "numeric" }),
    deviation: input("text", "0.3", { inputMode: "decimal" }),
    dropExtremes: checkbox(false),
    candidates: input("text", "3", { inputMode: "numeric" }),
    evaluationMinutes: input("text", "240", { inputMode: "numeric" }),
    signingMinutes: input("text", "60", { inputMode: "numeric" }),
    threshold: input("text", "2", { inputMode: "numeric" }),
    wrapBids: checkbox(true),
    confirmMinutes: input("text", "15", { inputMode: "numeric" }),
  };
  const lots = rowList({
    path: "lots", titleKey: "host.form.lots", min: 1,
    columns: [{ name: "id", labelKey: "host.form.lot_id" }, { name: "name", labelKey: "host.form.lot_name" }],
    initial: [{ id: "L1", name: "" }],
  });
  const compliance = rowList({
    path: "scoring.compliance", titleKey: "host.form.compliance", min: 1,
    columns: [{ name: "id", labelKey: "host.form.item_id" }, { name: "name", labelKey: "host.form.item_name" }],
    initial: [{ id: "C1", name: "" }],
  });
  const criteria = rowList({
    path: "scoring.criteria", titleKey: "host.form.criteria",
    columns: [
      { name: "id", labelKey: "host.form.item_id" },
      { name: "name", labelKey: "host.form.item_name" },
      { name: "kind", labelKey: "host.form.kind", kind: "select",
        options: [["subjective", "host.kind.subjective"], ["objective", "host.kind.objective"]] },
      { name: "max", labelKey: "host.form.max", kind: "number" },
      { name: "step", labelKey: "host.form.step", kind: "number" },
    ],
    initial: [{ id: "T1", name: "", kind: "subjective", max: "70", step: "0.5" }],
  });
  const custodians = rowList({
    path: "opening.custodians", titleKey: "host.form.custodians", max: 16,
    columns: [{ name: null, labelKey: "host.form.custodian" }],
    initial: ["", ""],
  });
  const sheetFields = rowList({
    path: "opening.sheet_fields", titleKey: "host.form.sheet_fields", max: 20,
    columns: [{ name: "name", labelKey: "host.form.sheet_name" }, { name: "label", labelKey: "host.form.sheet_label" }],
    initial: [],
  });

  function spec() {
    return {
      title: c.title.value.trim(),
      tenderer: c.tenderer.value.trim(),
      lots: lots.read(),
      schedule: {
        bidding_opens_at: fromLocalInput(c.opens.value),
        deadline: fromLocalInput(c.deadline.value),
        sign_in_lead_minutes: numberOf(c.lead.value),
        decryption_window_minutes: numberOf(c.window.value),
      },
      committee: { size: numberOf(c.size.value), large: c.large.checked },
      min_bids: numberOf(c.minBids.value),
      scoring: {
        method: c.method.value,
        price_weight: numberOf(c.priceWeight.value),
        compliance: compliance.read(),
        criteria: criteria.read(),
        deviation: c.deviation.value.trim(),
        drop_extremes: c.dropExtremes.checked,
        candidates: numberOf(c.candidates.value),
        evaluation_minutes: numberOf(c.evaluationMinutes.value),
        signing_minutes: numberOf(c.signingMinutes.value),
      },
      opening: {
        custodians: custodians.read(),
        threshold: numberOf(c.threshold.value),
        wrap_bids: c.wrapBids.checked,
        confirmation_window_minutes: numberOf(c.confirmMinutes.value),
        sheet_fields: sheetFields.read(),
      },
    };
  }

  // The comprehensive method's maxima and price weight add up to 100: the running total helps.
  const total = h("p", { class: "muted sum-hint", "data-testid": "score-total" });
  const showTotal = () => {
    const maxima = criteria.read().map((c) => Number.parseFloat(c.max) || 0);
    const sum = maxima.reduce((a, b) => a + b, Number.parseInt(c.priceWeight.value, 10) || 0);
    total.textContent = t("host.form.total", { total: Math.round(sum * 100) / 100 });
  };
  const summary = h("div", { class: "form-summary", "aria-live": "polite" });
  const submit = el("button", { type: "submit", class: "btn primary", "data-i18n": "host.form.create" },
    {}, t("host.form.create"));
  const form = el("form", { class: "tender-form", "data-testid": "tender-form" }, { noValidate: true },
    h("h2", { "data-i18n": "host.form.heading" }, t("host.form.heading")),
    section("host.form.basics",
      field("host.form.title", c.title, "title"),
      field("host.form.tenderer", c.tenderer, "tenderer")),
    h("section", { class: "form-section" }, lots.element),
    section("host.form.schedule",
      field("host.form.bidding_opens_at", c.opens, "schedule.bidding_opens_at"),
      field("host.form.deadline", c.deadline, "schedule.deadline"),
      field("host.form.sign_in_lead", c.lead, "schedule.sign_in_lead_minutes"),
      field("host.form.decryption_window", c.window, "schedule.decryption_window_minutes")),
    section("host.form.committee",
      field("host.form.committee_size", c.size, "committee.size"),
      field("host.form.large", c.large, "committee.large"),
      field("host.form.min_bids", c.minBids, "min_bids")),
    section("host.form.scoring",
      field("host.form.method", c.method, "scoring.method"),
      field("host.form.price_weight", c.priceWeight, "scoring.price_weight"),
      field("host.form.deviation", c.deviation, "scoring.deviation"),
      field("host.form.drop_extremes", c.dropExtremes, "scoring.drop_extremes"),
      field("host.form.candidates", c.candidates, "scoring.candidates"),
      field("host.form.evaluation_minutes", c.evaluationMinutes, "scoring.evaluation_minutes"),
      field("host.form.signing_minutes", c.signingMinutes, "scoring.signing_minutes")),
    h("section", { class: "form-section" }, compliance.element, criteria.element, total),
    section("host.form.opening",
      field("host.form.threshold", c.threshold, "opening.threshold"),
      field("host.form.wrap_bids", c.wrapBids, "opening.wrap_bids"),
      field("host.form.confirmation_window", c.confirmMinutes, "opening.confirmation_window_minutes")),
    h("section", { class: "form-section" }, custodians.element, sheetFields.element),
    summary,
    h("div", { class: "actions" }, submit),
  );

  showTotal();
  form.addEventListener("input", showTotal);
  form.addEventListener("click", (event) => {
    if (event.target.closest(".remove-row, .add-row")) showTotal();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearProblems(form);
    summary.replaceChildren();
    busy(submit, async () => {
      try {
        const created = await api("POST", "/api/tenders", spec());
        toast(t("host.form.created"), "ok");
        onCreated(created);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        if (err.problems && err.problems.length) {
          summary.append(h("p", { class: "error" }, t("host.form.fix_problems")));
          showProblems(form, summary, err.problems);
        } else {
          summary.append(h("p", { class: "error", role: "alert" }, errorText(err)));
        }
      }
    });
  });
  return form;
}
