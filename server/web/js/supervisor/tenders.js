// Every tender the supervisor may see (drafts included): its state, the opening's phase and
// bids, each room's stage, the audit chain as verified in this page, and the bundle export.

import { api, apiBlob } from "/static/js/lib/api.js";
import { h, replace, toast } from "/static/js/lib/dom.js";
import { errorText, t } from "/static/js/lib/i18n.js";
import { BOX_SUFFIX } from "/static/js/supervisor/labels.js";

// The live states first: those are the ones a supervisor watches.
const ORDER = ["opening", "evaluating", "bidding", "published", "draft", "concluded", "failed", "cancelled"];

export function sortTenders(tenders) {
  const rank = (s) => (ORDER.includes(s) ? ORDER.indexOf(s) : ORDER.length);
  return [...tenders].sort((a, b) => rank(a.state) - rank(b.state) || a.id.localeCompare(b.id));
}

function chainCell(state) {
  if (!state) return h("span", { class: "chain muted" }, t("sup.chain.not_followed"));
  if (state.failed !== null) {
    return h("span", { class: "chain bad", "data-chain": "failed" }, t("sup.chain.failed", { seq: state.failed, reason: t(`sup.chain.reason.${state.reason}`) }));
  }
  if (state.verified === 0) return h("span", { class: "chain muted", "data-chain": "empty" }, t("sup.chain.empty"));
  const signed = state.signed ? t("sup.chain.signed", { size: state.signed }) : "";
  return h("span", { class: "chain good", "data-chain": "verified" }, `${t("sup.chain.verified", { seq: state.verified })}${signed}`);
}

async function exportBundle(tender, button) {
  button.disabled = true;
  try {
    const blob = await apiBlob(`/api/tenders/${encodeURIComponent(tender)}/audit/bundle`);
    const link = h("a", { href: URL.createObjectURL(blob), download: `${tender}.bundle.jsonl`, class: "hidden" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    toast(t("sup.export.done", { tender }), "info");
  } catch (error) {
    toast(errorText(error), "error");
  } finally {
    button.disabled = false;
  }
}

export class TenderBoard {
  constructor(root, { chains, onWatch, onRoom, onRecordings, onFollow, onUnfollow }) {
    this.root = root;
    this.chains = chains; // stream -> Chain
    this.onWatch = onWatch;
    this.onRoom = onRoom;
    this.onRecordings = onRecordings;
    this.onFollow = onFollow;
    this.onUnfollow = onUnfollow;
    this.tenders = [];
    this.overview = new Map();
    this.failing = false;
  }

  async refresh() {
    try {
      const [list, overview] = await Promise.all([api("GET", "/api/tenders"), api("GET", "/api/overview")]);
      this.tenders = sortTenders(list.tenders);
      this.overview = new Map(overview.tenders.map((o) => [o.id, o]));
      this.failing = false;
    } catch (error) {
      if (!this.failing) toast(errorText(error), "error"); // once, not at every poll
      this.failing = true;
    }
    this.render();
    return this.tenders;
  }

  render() {
    if (this.tenders.length === 0) {
      replace(this.root, h("p", { class: "muted" }, t("sup.tenders.none")));
      return;
    }
    replace(this.root, h("div", { class: "tender-cards" }, this.tenders.map((tender) => this.card(tender))));
  }

  card(tender) {
    const o = this.overview.get(tender.id) || {};
    const chain = this.chains.get(tender.id);
    const box = this.chains.get(tender.id + BOX_SUFFIX);
    const exportButton = h("button", { type: "button", class: "export" }, t("sup.export.button"));
    exportButton.addEventListener("click", () => exportBundle(tender.id, exportButton));
    const actions = [
      h("button", { type: "button", class: "watch", on: { click: () => this.onWatch(tender.id) } }, t("sup.tenders.watch")),
      h("button", { type: "button", class: "recordings", on: { click: () => this.onRecordings(tender.id) } }, t("sup.media.recordings")),
      exportButton,
    ];
    if (!chain) actions.unshift(h("button", { type: "button", class: "follow", on: { click: () => this.onFollow(tender.id) } }, t("sup.tenders.follow")));
    else actions.push(h("button", { type: "button", class: "unfollow link", on: { click: () => this.onUnfollow(tender.id) } }, t("sup.tenders.unfollow")));
    return h(
      "article",
      { class: ["card", "tender-card", chain && chain.state.failed !== null ? "alarm" : ""], "data-tender": tender.id },
      h("header", {}, h("h3", {}, (tender.spec && tender.spec.title) || tender.id), h("span", { class: ["state", `state-${tender.state}`] }, t(`sup.state.${tender.state}`))),
      h("p", { class: "muted mono" }, tender.id),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, t("sup.tenders.phase")),
        h("dd", { class: "phase" }, o.opening_phase ? t(`sup.phase.${o.opening_phase}`) : "—"),
        h("dt", {}, t("sup.tenders.bids")),
        h("dd", { class: "bids" }, this.bids(o.bids)),
        h("dt", {}, t("sup.tenders.chain")),
        h("dd", { class: "chain-tender" }, chainCell(chain && chain.state)),
        h("dt", {}, t("sup.tenders.box_chain")),
        h("dd", { class: "chain-box" }, chainCell(box && box.state)),
      ),
      this.rooms(tender.id, o.rooms || []),
      h("div", { class: "actions" }, actions),
    );
  }

  bids(counts) {
    if (!counts || Object.keys(counts).length === 0) return "—";
    return Object.entries(counts).map(([status, n]) => `${t(`sup.bid.${status}`)} ${n}`).join(" · ");
  }

  rooms(tender, rooms) {
    if (rooms.length === 0) return null;
    return h(
      "ul",
      { class: "rooms" },
      rooms.map((room) =>
        h(
          "li",
          { class: "room", "data-lot": room.lot },
          h("button", { type: "button", class: "link", on: { click: () => this.onRoom(tender, room.lot) } }, t("sup.room.name", { lot: room.lot })),
          ` ${room.stage ? t(`sup.stage.${room.stage}`) : t("sup.stage.none")} · ${t("sup.room.counts", { members: room.members, checked_in: room.checked_in, signed: room.signed })}`,
        ),
      ),
    );
  }
}
