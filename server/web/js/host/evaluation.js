// The evaluation as the host drives it (docs/protocol.md 2.10): start it, commit and reveal
// each lot's expert draw, and follow each room's stage. The progress view carries counts and
// stages only; this page never asks for anything that names a member.
import { api, apiBlob, ApiError } from "/static/js/lib/api.js";
import { download, h } from "/static/js/lib/dom.js";
import { errorText, formatTime, lang, t } from "/static/js/lib/i18n.js";
import { act } from "/static/js/host/opening.js";
import { clearProblems, showProblems } from "/static/js/host/problems.js";
import { rowList } from "/static/js/host/rows.js";
import { button, el, field, input, numberOf } from "/static/js/host/util.js";

// One draw form per lot, kept while the page is drawn again; so are replacement requests.
const forms = new Map();
const replacements = new Map();
// A member may be replaced while the room sits (docs/spec/evaluation.md 2.4).
const IN_SESSION = ["check_in", "election", "compliance", "scoring"];

function replaceBox(ctx, lot) {
  if (!replacements.has(lot)) {
    const workstation = el("input", { type: "text", class: "replace-workstation", "data-i18n-placeholder": "host.replace.workstation",
      "data-i18n-aria-label": "host.replace.workstation" }, { placeholder: t("host.replace.workstation") });
    const reason = el("input", { type: "text", class: "replace-reason", "data-i18n-placeholder": "host.replace.reason",
      "data-i18n-aria-label": "host.replace.reason" }, { placeholder: t("host.replace.reason") });
    workstation.setAttribute("aria-label", t("host.replace.workstation"));
    reason.setAttribute("aria-label", t("host.replace.reason"));
    replacements.set(lot, { workstation, reason, open: false });
  }
  const kept = replacements.get(lot);
  const where = h("div", { class: "refusal" });
  const confirm = button("host.replace.confirm", () => {
    const body = { workstation: kept.workstation.value.trim(), reason: kept.reason.value.trim() };
    if (!body.workstation || !body.reason) {
      where.replaceChildren(h("p", { class: "error", role: "alert" }, t("host.replace.needed")));
      return;
    }
    act(confirm, where, async () => {
      await api("POST", `/api/tenders/${ctx.id}/lots/${encodeURIComponent(lot)}/evaluation/replace`, body);
      replacements.delete(lot);
      await ctx.apply();
    });
  }, "danger");
  const box = h("details", { class: "replace", "data-lot": lot, open: kept.open },
    h("summary", { "data-i18n": "host.replace.open" }, t("host.replace.open")),
    h("p", { class: "muted", "data-i18n": "host.replace.explain" }, t("host.replace.explain")),
    h("div", { class: "inline" }, kept.workstation, kept.reason, confirm), where);
  box.addEventListener("toggle", () => {
    kept.open = box.open;
  });
  return box;
}

function workstations(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
    const [id, address] = line.split(/\s+/, 2);
    return { id, address: address || null };
  });
}

// What the pool can give, counted by specialty and region (never who): the host plans its
// quotas from it, and the form offers its specialties and regions as suggestions.
function poolBox(lot) {
  const specialties = h("datalist", { id: `pool-specialties-${lot}` });
  const regions = h("datalist", { id: `pool-regions-${lot}` });
  const table = h("div", { class: "pool", "data-lot": lot });
  const refresh = () => api("GET", "/api/evaluation/pool").then(({ pool }) => {
    const distinct = (key) => [...new Set(pool.map((entry) => entry[key]))];
    specialties.replaceChildren(...distinct("specialty").map((value) => h("option", { value })));
    regions.replaceChildren(...distinct("region").map((value) => h("option", { value })));
    if (pool.length === 0) {
      table.replaceChildren(h("p", { class: "muted" }, t("host.draw.pool_empty")));
      return;
    }
    const head = ["pool_specialty", "pool_region", "pool_count"].map((key) => h("th", {}, t(`host.draw.${key}`)));
    const rows = pool.map((entry) => h("tr", {}, h("td", {}, entry.specialty), h("td", {}, entry.region),
      h("td", { "data-count": "pool" }, String(entry.count))));
    table.replaceChildren(h("details", { open: true }, h("summary", {}, t("host.draw.pool")),
      h("table", {}, h("thead", {}, h("tr", {}, head)), h("tbody", {}, rows))));
  }).catch(() => table.replaceChildren());
  return { specialties, regions, table, refresh };
}

// The pool is read again each time the form is shown: experts may be enrolled meanwhile.
function drawForm(ctx, lot) {
  if (forms.has(lot)) {
    const kept = forms.get(lot);
    kept.refreshPool();
    return kept;
  }
  const pool = poolBox(lot);
  pool.refresh();
  const quotas = rowList({
    path: "quotas", titleKey: "host.draw.quotas", min: 1, max: 20,
    columns: [{ name: "specialty", labelKey: "host.draw.specialty", attrs: { list: pool.specialties.id } },
      { name: "count", labelKey: "host.draw.count", read: numberOf, props: { inputMode: "numeric" } }],
    initial: [{ specialty: "", count: "5" }],
  });
  const sites = rowList({
    path: "sites", titleKey: "host.draw.sites", min: 1, max: 8,
    columns: [{ name: "site", labelKey: "host.draw.site" },
      { name: "region", labelKey: "host.draw.region", attrs: { list: pool.regions.id } },
      { name: "workstations", labelKey: "host.draw.workstations", kind: "textarea", read: workstations }],
    initial: [{ site: "main", region: "", workstations: "" }],
  });
  const standby = input("text", "2", { inputMode: "numeric" });
  const summary = h("div", { class: "form-summary" });
  const submit = el("button", { type: "submit", class: "btn primary", "data-i18n": "host.draw.commit" }, {},
    t("host.draw.commit"));
  const form = el("form", { class: "draw-form", "data-lot": lot }, { noValidate: true },
    h("p", { class: "muted", "data-i18n": "host.draw.hint" }, t("host.draw.hint")),
    pool.table, pool.specialties, pool.regions,
    quotas.element, sites.element, field("host.draw.standby", standby, "standby"), summary,
    h("div", { class: "actions" }, submit));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearProblems(form);
    const body = { quotas: quotas.read(), sites: sites.read(), standby: numberOf(standby.value) };
    act(submit, summary, async () => {
      try {
        await api("POST", `/api/tenders/${ctx.id}/lots/${encodeURIComponent(lot)}/draw`, body);
      } catch (err) {
        if (err instanceof ApiError && err.problems && err.problems.length) {
          showProblems(form, summary, err.problems);
          return;
        }
        throw err;
      }
      // The form stays: if the reveal finds too few experts, the host adjusts the same request.
      await ctx.apply();
    });
  });
  form.refreshPool = pool.refresh;
  forms.set(lot, form);
  return form;
}

// Once a lot's result is out its committee and candidates are public (Regs 53, the result
// notice): the host reads the result and the report, as everyone but the admin may.
const results = new Map();

function resultBox(ctx, lot) {
  const path = `/api/tenders/${ctx.id}/lots/${encodeURIComponent(lot)}`;
  const box = h("div", { class: "result", "data-lot": lot });
  const where = h("div", { class: "refusal" });
  if (!results.has(lot)) results.set(lot, api("GET", `${path}/result`));
  results.get(lot).then((found) => {
    const report = found.report;
    const names = new Map(report.bids.map((bid) => [bid.bidder, bid.name]));
    const head = ["rank", "bidder", "price", "score"].map((key) => h("th", {}, t(`host.result.${key}`)));
    const rows = report.ranking.map((row) => h("tr", {}, h("td", {}, String(row.rank)),
      h("td", {}, names.get(row.bidder) || row.bidder), h("td", {}, row.price), h("td", {}, row.score ?? "")));
    const candidates = (found.candidates || []).map((c) => c.name).join("、");
    const read = button("host.result.report", () => act(read, where, async () => {
      const report = await apiBlob(`${path}/report.html${lang() === "en" ? "?lang=en" : ""}`);
      download(new Blob([report], { type: "text/html" }), `report-${ctx.id}-${lot}.html`);
    }));
    box.replaceChildren(h("h5", {}, t("host.result.heading")),
      h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, head)), h("tbody", {}, rows))),
      h("p", { "data-role": "candidates" }, t("host.result.candidates", { names: candidates })),
      h("p", { class: "muted" }, t("host.result.signatures", { signed: found.signatures.length,
        dissents: found.dissents.length, deemed: found.deemed_agreed.length })),
      h("div", { class: "actions" }, read), where);
  }).catch((error) => {
    results.delete(lot);
    box.replaceChildren(h("p", { class: "error" }, error instanceof ApiError ? errorText(error) : String(error)));
  });
  return box;
}

function counts(room) {
  const items = [
    ["members", room.members], ["checked_in", room.checked_in], ["pledged", room.pledged],
    ["signed", room.signed], ["replacements", room.replacements], ["round", room.round],
  ];
  return h("dl", { class: "counts" }, ...items.flatMap(([key, value]) => [
    h("dt", {}, t(`host.room.${key}`)), h("dd", { "data-count": key }, String(value))]));
}

function hashes(room) {
  const rows = [["seed_hash", room.seed_hash], ["snapshot_hash", room.snapshot_hash], ["seed", room.seed],
    ["report_hash", room.report_hash]].filter(([, value]) => value);
  return h("dl", { class: "hashes" }, ...rows.flatMap(([key, value]) => [
    h("dt", {}, t(`host.room.${key}`)), h("dd", { class: "mono" }, value)]));
}

function roomCard(ctx, lot, room, canDraw) {
  const card = h("article", { class: "room", "data-lot": lot, "data-stage": room ? String(room.stage) : "none" },
    h("h4", {}, t("host.room.heading", { lot })));
  const where = h("div", { class: "refusal" });
  if (!room || room.stage === null) {
    if (room) card.append(h("p", { class: "error" }, t("host.room.draw_failed")));
    if (canDraw) card.append(drawForm(ctx, lot));
    else card.append(h("p", { class: "muted" }, t("host.room.no_bids")));
    return card;
  }
  card.append(h("p", { class: "stage" }, h("span", { class: "label" }, t("host.room.stage")), " ",
    h("strong", { "data-testid": `stage-${lot}` }, t(`host.stage.${room.stage}`))));
  if (room.stage === "draw_committed") {
    const reveal = button("host.draw.reveal", () => act(reveal, where, async () => {
      await api("POST", `/api/tenders/${ctx.id}/lots/${encodeURIComponent(lot)}/draw/reveal`);
      await ctx.apply();
    }), "primary");
    card.append(h("div", { class: "actions" }, reveal), where);
  } else {
    card.append(counts(room));
    if (IN_SESSION.includes(room.stage)) card.append(replaceBox(ctx, lot));
  }
  const times = [];
  if (room.ends_at) times.push(t("host.room.ends_at", { at: formatTime(room.ends_at) }));
  if (room.extended) times.push(t("host.room.extended"));
  if (room.sign_until) times.push(t("host.room.sign_until", { at: formatTime(room.sign_until) }));
  if (room.published) times.push(t("host.room.published"));
  if (times.length) card.append(h("p", { class: "timing" }, times.join(" · ")));
  card.append(hashes(room));
  if (room.published) card.append(resultBox(ctx, lot));
  return card;
}

export function evaluationPanel(ctx, tender, opening, progress) {
  const where = h("div", { class: "refusal" });
  const refresh = button("host.evaluation.refresh", () => act(refresh, where, () => ctx.apply()), "small");
  const panel = h("section", { class: "panel evaluation", "data-testid": "evaluation" },
    h("h3", {}, t("host.evaluation.heading"), " ", refresh),
    h("p", { class: "muted" }, t("host.evaluation.no_names")));
  if (tender.state === "opening" && opening && opening.phase === "closed") {
    const start = button("host.evaluation.start", () => act(start, where, async () => {
      await api("POST", `/api/tenders/${ctx.id}/evaluation/start`);
      await ctx.apply();
    }), "primary");
    panel.append(h("div", { class: "actions" }, start), where);
  }
  if (!progress) {
    panel.append(h("p", { class: "muted" }, t("host.evaluation.not_yet")));
    return panel;
  }
  const rooms = new Map(progress.lots.map((room) => [room.lot, room]));
  const lots = tender.spec.lots.map((lot) => lot.id);
  panel.append(h("div", { class: "rooms" },
    ...lots.map((lot) => roomCard(ctx, lot, rooms.get(lot), progress.to_evaluate.includes(lot)))));
  return panel;
}
