// The landing page: the tenders open to the public, live, each with its countdown and a door
// into its opening hall. Anyone may look: the page visits as the public (read-only, no key).

import { api } from "/static/js/lib/api.js";
import { $, h, replace } from "/static/js/lib/dom.js";
import { errorText, formatDuration, formatTime, onLangChange, t } from "/static/js/lib/i18n.js";
import { serverNow, visit } from "/static/js/lib/session.js";
import { startPage } from "/static/js/lib/shell.js";

const LIVE = ["published", "bidding", "opening", "evaluating"];
const REFRESH_MS = 30_000;
let tenders = [];

function countdown(tender) {
  if (tender.bids_closed || !["published", "bidding"].includes(tender.state)) return null;
  const left = (Date.parse(tender.opening_time) - serverNow().getTime()) / 1000;
  return h("p", { class: "countdown-line" }, t("index.opens_in"), " ", h("strong", { class: "tender-countdown" }, formatDuration(left)));
}

function card(tender) {
  const spec = tender.spec;
  const hall = `/hall/${encodeURIComponent(tender.id)}`;
  return h(
    "li",
    { "data-tender": tender.id },
    h(
      "article",
      { class: "card" },
      h("h3", {}, h("a", { href: hall, class: "tender-title" }, spec.title)),
      h("p", { class: "muted" }, t("index.tenderer", { tenderer: spec.tenderer })),
      h("p", {}, h("span", { class: "badge tender-state" }, t(`state.${tender.state}`)), " ", t("index.lots", { n: spec.lots.length })),
      h("p", { class: "muted" }, t("index.opening_at", { time: formatTime(tender.opening_time) })),
      countdown(tender),
      h("p", {}, h("a", { href: hall, class: "button primary enter-hall" }, t("index.enter"))),
    ),
  );
}

function draw() {
  const live = tenders.filter((x) => LIVE.includes(x.state));
  const past = tenders.filter((x) => !LIVE.includes(x.state));
  replace(
    $("#app"),
    h("h1", {}, t("index.title")),
    h("p", { class: "muted" }, t("index.explain")),
    h("section", { id: "live-tenders" }, h("h2", {}, t("index.live")), live.length ? h("ul", { class: "tender-list" }, live.map(card)) : h("p", { class: "muted", id: "no-tenders" }, t("index.none"))),
    past.length ? h("section", { id: "past-tenders" }, h("h2", {}, t("index.past")), h("ul", { class: "tender-list" }, past.map(card))) : null,
  );
}

async function load() {
  const listed = await api("GET", "/api/tenders");
  tenders = listed.tenders.sort((a, b) => Date.parse(a.opening_time) - Date.parse(b.opening_time));
  draw();
}

async function main() {
  await startPage({ page: "index", titleKey: "index.title" });
  try {
    await visit();
    await load();
  } catch (error) {
    replace($("#app"), h("p", { class: "error", role: "alert", id: "index-error" }, errorText(error)));
    return;
  }
  onLangChange(draw);
  setInterval(() => {
    for (const line of document.querySelectorAll("[data-tender]")) {
      const tender = tenders.find((x) => x.id === line.dataset.tender);
      const old = line.querySelector(".countdown-line");
      const fresh = tender && countdown(tender);
      if (old && fresh) old.replaceWith(fresh);
    }
  }, 1000);
  setInterval(() => load().catch(() => {}), REFRESH_MS);
}

main();
