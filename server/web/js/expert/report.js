// The evaluation report (docs/spec/evaluation.md section 6), rendered from the JSON the node
// issued, its hash, the node's HTML rendering as a download, and the member's signature or
// dissent. Every name and text in it is data: text nodes only.

import { apiBlob } from "/static/js/lib/api.js";
import { download, h } from "/static/js/lib/dom.js";
import { formatTime, lang, t } from "/static/js/lib/i18n.js";
import { labelledDigest } from "/static/js/lib/proofs.js";
import { actButton } from "/static/js/expert/forms.js";

/** hex(D("evaluation-report", JCS(report))) (docs/protocol.md 1.3): what a member signs. */
export function reportDigest(report) {
  return labelledDigest("evaluation-report", report);
}

/** Checks in the page that the hash to be signed is the hash of the report shown; if it is
 *  not, the signature and dissent buttons are disabled. */
export function hashCheck(report, reportHash, form) {
  const line = h("p", { class: "muted", "data-role": "report-check" }, t("expert.report.checking"));
  reportDigest(report).then(
    (digest) => {
      const same = digest === reportHash;
      line.className = same ? "ok" : "error";
      line.dataset.state = same ? "same" : "differs";
      line.textContent = t(same ? "expert.report.check_ok" : "expert.report.check_bad");
      if (!same) {
        for (const button of form.querySelectorAll("button")) {
          button.disabled = true;
        }
      }
    },
    () => {
      line.className = "error";
      line.textContent = t("expert.report.check_bad");
    },
  );
  return line;
}

function table(headKeys, rows, attrs = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "data", ...attrs },
      h("thead", {}, h("tr", {}, ...headKeys.map((k) => h("th", {}, t(k))))),
      h("tbody", {}, ...rows.map((cells) => h("tr", {}, ...cells.map((c) => h("td", {}, String(c ?? "")))))),
    ),
  );
}

export function renderReport(report, reportHash) {
  const names = new Map((report.bids ?? []).map((b) => [b.bidder, b.name]));
  const nameOf = (bidder) => names.get(bidder) ?? bidder;
  const basic = report.basic ?? {};
  const members = report.committee?.members ?? [];
  const rejected = report.rejected ?? [];
  const parts = [
    h("h3", {}, t("expert.report.heading", { title: String(basic.title ?? ""), lot: String(basic.lot_name ?? basic.lot ?? "") })),
    h(
      "p",
      { class: "muted" },
      t("expert.report.tenderer", { tenderer: String(basic.tenderer ?? "") }),
      " · ",
      t("expert.report.issued", { at: formatTime(report.issued_at) }),
    ),
    h("p", { class: "hash" }, t("expert.report.hash"), " ", h("code", { "data-role": "report-hash" }, String(reportHash ?? ""))),
    h("h4", {}, t("expert.report.committee")),
    table(
      ["expert.member.name", "expert.member.specialty", "expert.member.site", "expert.member.role"],
      members.map((m) => [m.name, m.specialty, m.site, m.leader ? t("expert.member.leader") : t("expert.member.member")]),
    ),
    h("h4", {}, t("expert.report.bids")),
    table(
      ["expert.bids.name", "expert.bids.price", "expert.report.compliance"],
      (report.bids ?? []).map((b) => [
        b.name,
        b.price,
        (report.compliant ?? []).includes(b.bidder) ? t("expert.bids.status.compliant") : t("expert.bids.status.rejected"),
      ]),
    ),
  ];
  if (rejected.length) {
    parts.push(
      h("h4", {}, t("expert.report.rejected")),
      table(
        ["expert.bids.name", "expert.compliance.criterion", "expert.compliance.reason"],
        rejected.flatMap((r) =>
          (r.failures ?? []).map((f) => [nameOf(r.bidder), `${f.criterion} ${f.name ?? ""}`, (f.reasons ?? []).join("；")]),
        ),
      ),
    );
  }
  const scores = report.scores ?? {};
  const aggregates = scores.aggregates ?? {};
  if (Object.keys(aggregates).length) {
    const memberName = new Map(members.map((m) => [m.expert, m.name]));
    const experts = members.map((m) => m.expert);
    const head = h(
      "tr",
      {},
      h("th", {}, t("expert.bids.name")),
      h("th", {}, t("expert.report.price_score")),
      ...experts.map((e) => h("th", {}, memberName.get(e) ?? e)),
      h("th", {}, t("expert.report.aggregate")),
    );
    const rows = Object.keys(aggregates).map((bidder) =>
      h(
        "tr",
        {},
        h("td", {}, nameOf(bidder)),
        h("td", {}, String(scores.price_scores?.[bidder] ?? "—")),
        ...experts.map((e) => h("td", {}, String(scores.totals?.[bidder]?.[e] ?? "—"))),
        h("td", {}, String(aggregates[bidder])),
      ),
    );
    parts.push(
      h("h4", {}, t("expert.report.scores")),
      h("div", { class: "table-wrap" }, h("table", { class: "data", "data-role": "totals" }, h("thead", {}, head), h("tbody", {}, ...rows))),
    );
    const flags = report.flags ?? [];
    if (flags.length) {
      parts.push(
        h("h4", {}, t("expert.report.flags")),
        table(
          ["expert.member.name", "expert.bids.name", "expert.report.flag_kind", "expert.report.flag_answer", "expert.report.flag_reason"],
          flags.map((f) => [
            memberName.get(f.expert) ?? f.expert,
            nameOf(f.bidder),
            t(`expert.report.kind.${f.kind}`),
            t(`expert.report.answer.${f.answer}`),
            f.reason || f.detail,
          ]),
        ),
      );
    }
  }
  const ranking = report.ranking ?? [];
  parts.push(
    h("h4", {}, t("expert.report.ranking")),
    table(
      ["expert.report.rank", "expert.bids.name", "expert.bids.price", "expert.report.score"],
      ranking.map((r) => [r.rank, nameOf(r.bidder), r.price, r.score ?? "—"]),
      { "data-role": "ranking" },
    ),
    h(
      "p",
      {},
      t("expert.report.candidates"),
      " ",
      (report.candidates ?? []).map((c) => nameOf(typeof c === "string" ? c : c.bidder)).join("、") || "—",
    ),
  );
  const clarifications = report.clarifications ?? [];
  if (clarifications.length) {
    parts.push(
      h("h4", {}, t("expert.report.clarifications")),
      table(
        ["expert.clarify.id", "expert.bids.name", "expert.clarify.question", "expert.clarify.answer"],
        clarifications.map((c) => [c.id, nameOf(c.bidder), c.question, c.answer ?? t("expert.clarify.waiting")]),
      ),
    );
  }
  return h("div", { class: "report", "data-role": "report" }, ...parts);
}

/** The node's HTML rendering (it wants the Bearer header): fetched, then saved as a file. */
export function reportDownload(room, status) {
  const button = h("button", { type: "button", "data-role": "report-html" }, t("expert.report.download"));
  button.addEventListener("click", async () => {
    try {
      const blob = await apiBlob(room.reportPath(lang()));
      download(new Blob([blob], { type: "text/html" }), `report-${room.tender}-${room.lot}.html`);
    } catch (err) {
      status.error(err);
    }
  });
  return button;
}

/** Sign the report as issued, or dissent with reasons; once. */
export function responseForm(room, status) {
  const view = room.view;
  const answered = view.responses?.[room.expert];
  if (answered) {
    return h(
      "p",
      { class: "ok", "data-role": "responded" },
      t(answered === "report-signature" ? "expert.report.signed" : "expert.report.dissented"),
    );
  }
  const reasons = h("textarea", { "data-role": "dissent-reasons", rows: "3" });
  reasons.id = "dissent-reasons";
  return h(
    "div",
    { class: "response", "data-form": "report" },
    h("p", {}, t("expert.report.sign_until", { at: formatTime(view.sign_until) })),
    actButton(
      t("expert.report.sign"),
      status,
      async () => {
        await room.signReport();
        status.ok(t("expert.report.signed"));
      },
      { "data-role": "sign-report" },
    ),
    h("div", { class: "field" }, h("label", { for: "dissent-reasons" }, t("expert.report.dissent_reasons")), reasons),
    actButton(
      t("expert.report.dissent"),
      status,
      async () => {
        const text = reasons.value.trim();
        if (!text) {
          status.warn(t("expert.report.reasons_required"));
          return;
        }
        await room.dissent(text);
        status.ok(t("expert.report.dissented"));
      },
      { class: "danger", "data-role": "dissent-report" },
    ),
  );
}
