// One evaluation room as a supervisor sees it (GET .../lots/{lot}/room): the stage, the
// members with their seats, the bids' review status and the node's flags. Read-only.

import { api } from "/static/js/lib/api.js";
import { h, replace } from "/static/js/lib/dom.js";
import { errorText, t } from "/static/js/lib/i18n.js";

function yes(flag) {
  return flag ? t("sup.yes") : t("sup.no");
}

function members(room) {
  return h(
    "table",
    { class: "members" },
    h("thead", {}, h("tr", {}, ["sup.room.expert", "sup.room.specialty", "sup.room.site", "sup.room.workstation", "sup.room.checked_in", "sup.room.pledged"].map((k) => h("th", {}, t(k))))),
    h(
      "tbody",
      {},
      room.members.map((m) =>
        h(
          "tr",
          { "data-expert": m.expert },
          h("td", {}, m.name, room.leader === m.expert ? h("span", { class: "tag" }, t("sup.room.leader")) : null),
          h("td", {}, m.specialty),
          h("td", {}, m.site),
          h("td", {}, m.workstation),
          h("td", {}, yes(m.checked_in)),
          h("td", {}, yes(m.pledged)),
        ),
      ),
    ),
  );
}

// The node's flags (GP87 64): who scored whom out of line, and how it was answered.
function flags(room) {
  const expert = (id) => (room.members.find((m) => m.expert === id) || {}).name || id;
  const bidder = (id) => (room.bids.find((b) => b.bidder === id) || {}).name || id;
  return h(
    "ul",
    { class: "room-flags" },
    room.flags.map((f) =>
      h(
        "li",
        { "data-expert": f.expert, "data-bidder": f.bidder },
        t("sup.room.flag", { expert: expert(f.expert), bidder: bidder(f.bidder), kind: t(`sup.flag.${f.kind === "objective" ? "objective" : "abnormal"}`), round: f.round ?? "" }),
        f.detail ? h("span", { class: "muted" }, ` ${f.detail}`) : null,
      ),
    ),
  );
}

export async function showRoom(root, tender, lot) {
  replace(root, h("p", { class: "muted" }, t("sup.loading")));
  let room;
  try {
    room = await api("GET", `/api/tenders/${encodeURIComponent(tender)}/lots/${encodeURIComponent(lot)}/room`);
  } catch (error) {
    replace(root, h("p", { class: "error", role: "alert" }, errorText(error)));
    return;
  }
  replace(
    root,
    h("h3", {}, t("sup.room.title", { tender, lot })),
    h("p", { class: "room-stage" }, t("sup.room.stage", { stage: room.stage ? t(`sup.stage.${room.stage}`) : t("sup.stage.none"), round: room.round })),
    members(room),
    h("p", {}, t("sup.room.bids", { count: room.bids.length })),
    h("ul", { class: "room-bids" }, room.bids.map((b) => h("li", {}, `${b.name} · ${b.price} · ${t(`sup.review.${b.status}`)}`))),
    h("p", { class: room.flags.length ? "warn" : "muted" }, t("sup.room.flags", { count: room.flags.length })),
    room.flags.length ? flags(room) : null,
  );
}
