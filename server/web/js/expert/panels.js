// The room's read-only panels: the committee, the bids (with the button that opens their
// documents) and the opening record the experts read here (they do not attend the opening).

import { h } from "/static/js/lib/dom.js";
import { formatTime, t } from "/static/js/lib/i18n.js";

export function membersTable(view, expert) {
  const yes = (flag) => (flag ? "✓" : "—");
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "data", "data-role": "members" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...["name", "specialty", "site", "checked_in", "pledged"].map((k) => h("th", {}, t(`expert.member.${k}`))),
        ),
      ),
      h(
        "tbody",
        {},
        ...view.members.map((m) =>
          h(
            "tr",
            { "data-expert": m.expert, class: m.expert === expert ? "me" : "" },
            h(
              "td",
              {},
              m.name,
              m.expert === view.leader ? h("span", { class: "badge" }, t("expert.member.leader")) : "",
              m.expert === expert ? h("span", { class: "badge" }, t("expert.member.you")) : "",
            ),
            h("td", {}, m.specialty),
            h("td", {}, `${m.site} / ${m.workstation}`),
            h("td", {}, yes(m.checked_in)),
            h("td", {}, yes(m.pledged)),
          ),
        ),
      ),
    ),
  );
}

export function bidsTable(view, pledged, onRead) {
  const rows = view.bids.map((bid) => {
    const read = h("button", { type: "button", "data-role": "read-bid" }, t("expert.bids.read"));
    read.disabled = !pledged;
    read.addEventListener("click", () => onRead(bid));
    return h(
      "tr",
      { "data-bidder": bid.bidder },
      h("td", { "data-role": "bid-name", "data-label": t("expert.bids.name") }, bid.name),
      h("td", { "data-label": t("expert.bids.price") }, bid.price),
      h("td", { "data-label": t("expert.bids.status") }, t(`expert.bids.status.${bid.status}`)),
      h("td", {}, read),
    );
  });
  return h(
    "div",
    {},
    pledged ? "" : h("p", { class: "muted" }, t("expert.bids.after_pledge")),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "data stack", "data-role": "bids" },
        h("thead", {}, h("tr", {}, ...["name", "price", "status", "documents"].map((k) => h("th", {}, t(`expert.bids.${k}`))))),
        h("tbody", {}, ...rows),
      ),
    ),
  );
}


export function openingRecord(view, lot) {
  const record = view.opening_record;
  if (!record) {
    return h("p", { class: "muted" }, t("expert.record.none"));
  }
  const entry = (record.lots ?? []).find((l) => l.lot === lot);
  const rows = (entry?.bids ?? []).map((b) =>
    h(
      "tr",
      {},
      h("td", {}, b.name),
      h("td", {}, t(`expert.record.status.${b.status}`)),
      h("td", {}, String(b.sheet?.price ?? "")),
      h("td", {}, String(b.sheet?.duration_days ?? "")),
      h("td", {}, String(b.sheet?.quality ?? b.reason ?? "")),
    ),
  );
  return h(
    "details",
    { class: "record" },
    h("summary", {}, t("expert.record.summary", { at: formatTime(record.at) })),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "data" },
        h(
          "thead",
          {},
          h("tr", {}, ...["name", "status", "price", "duration", "quality"].map((k) => h("th", {}, t(`expert.record.${k}`)))),
        ),
        h("tbody", {}, ...rows),
      ),
    ),
  );
}

