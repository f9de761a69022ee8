// The host's list of tenders (drafts included) and the way to a new one.
import { api } from "/static/js/lib/api.js";
import { h } from "/static/js/lib/dom.js";
import { errorText, formatTime, t } from "/static/js/lib/i18n.js";
import { el } from "/static/js/host/util.js";

export function stateText(state) {
  return t(`host.state.${state}`);
}

function row(tender) {
  const link = el("a", { class: "tender-link", "data-route": "", "data-tender": tender.id }, { href: `/host/${encodeURIComponent(tender.id)}` },
    tender.spec.title);
  return h("tr", { "data-tender": tender.id },
    h("td", {}, link),
    h("td", {}, tender.spec.tenderer),
    h("td", { class: "state", "data-state": tender.state }, stateText(tender.state)),
    h("td", {}, formatTime(tender.opening_time)),
    h("td", { class: "mono" }, tender.id));
}

export async function tenderList() {
  const box = h("section", { class: "panel tender-list", "data-testid": "tender-list" },
    h("h2", { "data-i18n": "host.list.heading" }, t("host.list.heading")));
  try {
    const { tenders } = await api("GET", "/api/tenders");
    if (!tenders.length) {
      box.append(h("p", { class: "empty", "data-i18n": "host.list.empty" }, t("host.list.empty")));
      return box;
    }
    const head = ["host.list.title", "host.list.tenderer", "host.list.state", "host.list.opening_time", "host.list.id"]
      .map((key) => h("th", { "data-i18n": key }, t(key)));
    box.append(h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ...head)),
      h("tbody", {}, ...tenders.map(row)))));
  } catch (err) {
    box.append(h("p", { class: "error", role: "alert" }, errorText(err)));
  }
  return box;
}
