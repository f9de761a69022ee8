// One tender in the host's console: its summary, the opening and the evaluation, drawn again
// from the node's views whenever the tender's stream brings an event.
import { api, ApiError } from "/static/js/lib/api.js";
import { h, replace } from "/static/js/lib/dom.js";
import { errorText, formatTime, has, t } from "/static/js/lib/i18n.js";
import { current } from "/static/js/lib/session.js";
import { evaluationPanel } from "/static/js/host/evaluation.js";
import { stateText } from "/static/js/host/list.js";
import { MESSAGE_SENT, messagesPanel, readLog } from "/static/js/host/messages.js";
import { act, openingPanel } from "/static/js/host/opening.js";
import { countdown } from "/static/js/host/ticker.js";
import { button, el } from "/static/js/host/util.js";

const FEED_LENGTH = 30;
// The host's stream carries a room's stages but not its members' acts (those are the
// committee's): while rooms sit, their counts are read again this often.
const PROGRESS_POLL_MS = 15_000;

// A tender may be cancelled until it concludes (the lifecycle of docs/protocol.md 2.5), with a
// reason, on record; the reason typed is kept while the panel is drawn again.
const CANCELLABLE = ["draft", "published", "bidding", "opening", "evaluating"];
const cancelReason = el("input", {
  type: "text", class: "cancel-reason", "data-testid": "cancel-reason",
  "data-i18n-placeholder": "host.cancel.reason", "data-i18n-aria-label": "host.cancel.reason",
}, {});

function cancelBox(ctx) {
  const where = h("div", { class: "refusal" });
  cancelReason.placeholder = t("host.cancel.reason");
  cancelReason.setAttribute("aria-label", t("host.cancel.reason"));
  const confirm = button("host.cancel.confirm", () => {
    const reason = cancelReason.value.trim();
    if (!reason) {
      where.replaceChildren(h("p", { class: "error", role: "alert" }, t("host.cancel.reason_needed")));
      return;
    }
    act(confirm, where, async () => {
      await api("POST", `/api/tenders/${ctx.id}/cancel`, { reason });
      cancelReason.value = "";
      await ctx.apply();
    });
  }, "danger");
  return h("details", { class: "cancel", "data-testid": "cancel" },
    h("summary", { "data-i18n": "host.cancel.open" }, t("host.cancel.open")),
    h("p", { class: "muted", "data-i18n": "host.cancel.explain" }, t("host.cancel.explain")),
    h("div", { class: "inline" }, cancelReason, confirm), where);
}

function summaryPanel(ctx, tender) {
  const spec = tender.spec;
  const where = h("div", { class: "refusal" });
  const facts = [
    ["host.summary.tenderer", spec.tenderer],
    ["host.summary.state", stateText(tender.state)],
    ["host.summary.bidding_opens_at", formatTime(spec.schedule.bidding_opens_at)],
    ["host.summary.deadline", formatTime(spec.schedule.deadline)],
    ["host.summary.lots", spec.lots.map((lot) => `${lot.id} ${lot.name}`).join("、")],
    ["host.summary.committee", t("host.summary.committee_value", { size: spec.committee.size })],
    ["host.summary.min_bids", String(spec.min_bids)],
    ["host.summary.id", tender.id],
  ];
  const panel = h("section", { class: "panel summary", "data-testid": "summary", "data-state": tender.state },
    h("h2", { "data-testid": "tender-title" }, spec.title),
    h("dl", { class: "facts" }, ...facts.flatMap(([key, value]) => [h("dt", {}, t(key)), h("dd", { "data-fact": key }, value)])));
  if (tender.ended_reason) {
    const label = has(`host.summary.ended.${tender.state}`) ? `host.summary.ended.${tender.state}` : "host.summary.ended_reason";
    panel.append(h("p", { class: "error" }, t(label), " ",
      h("span", { "data-testid": "ended-reason" }, tender.ended_reason)));
  }
  if (["published", "bidding"].includes(tender.state) && !tender.bids_closed) {
    panel.append(h("p", { class: "timing", "data-testid": "until-opening" }, t("host.summary.until_opening"), " ",
      countdown(spec.schedule.deadline)));
  }
  if (tender.state === "draft") {
    const publish = button("host.summary.publish", () => act(publish, where, async () => {
      await api("POST", `/api/tenders/${ctx.id}/publish`);
      await ctx.apply();
    }), "primary");
    panel.append(h("div", { class: "actions" }, publish), where);
  }
  if (CANCELLABLE.includes(tender.state)) panel.append(cancelBox(ctx));
  return panel;
}

function feedItem(record) {
  const key = `host.event.${record.type}`;
  const reason = record.type === "opening.decryption_paused" ? record.payload.reason : "";
  return h("li", { "data-type": record.type },
    h("span", { class: "time" }, formatTime(record.time)), " ",
    has(key) ? t(key) : record.type,
    reason ? h("span", { class: "reason" }, t("host.feed.reason", { reason })) : "");
}

// Inputs the host types in are kept across redraws (an event may arrive mid-sentence): the
// one being typed in keeps the focus and the caret.
function keepingFocus(redraw) {
  const active = document.activeElement;
  const caret = active && typeof active.selectionStart === "number" ? [active.selectionStart, active.selectionEnd] : null;
  redraw();
  if (!active || active === document.body || !active.isConnected || document.activeElement === active) return;
  active.focus({ preventScroll: true });
  if (caret) active.setSelectionRange(...caret);
}

// Who is in the sealed lists: before the opening starts, the opening view lists no bids yet,
// and the host watches sign-ins against this.
async function sealedBidders(tender) {
  const bidders = new Set();
  for (const lot of tender.spec.lots) {
    try {
      const { list } = await api("GET", `/api/tenders/${encodeURIComponent(tender.id)}/lots/${encodeURIComponent(lot.id)}/sealed-list`);
      const receipts = Array.isArray(list.receipts) ? list.receipts : Object.values(list.receipts);
      for (const receipt of receipts) bidders.add(receipt.bidder);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
    }
  }
  return bidders.size;
}

export async function tenderConsole(root, id, live, onRedraw) {
  const view = { tender: null, opening: null, progress: null };
  const messages = new Map(); // message id -> the opening.message_sent payload
  const feed = h("ol", { class: "feed", "data-testid": "feed" });
  const body = h("div", { class: "console-body" });
  const errorBox = h("div", { class: "refusal" });
  const seen = [];
  replace(root,
    h("p", {}, el("a", { class: "back", "data-route": "", "data-i18n": "host.back" }, { href: "/host" }, t("host.back"))),
    errorBox, body,
    h("aside", { class: "panel activity" }, h("h3", { "data-i18n": "host.feed.heading" }, t("host.feed.heading")), feed));
  const drawFeed = () => replace(feed, ...seen.map(feedItem));

  let running = null;
  let again = false;
  async function load() {
    const tender = await api("GET", `/api/tenders/${encodeURIComponent(id)}`);
    let opening = null;
    let progress = null;
    if (tender.state !== "draft") opening = await api("GET", `/api/tenders/${encodeURIComponent(id)}/opening`);
    if (opening && tender.bids_closed && !opening.bids.length) opening.sealed = await sealedBidders(tender);
    if (["evaluating", "concluded"].includes(tender.state) || (opening && opening.phase === "closed")) {
      progress = await api("GET", `/api/tenders/${encodeURIComponent(id)}/evaluation`);
    }
    Object.assign(view, { tender, opening, progress });
  }
  // Building the panels moves the kept inputs into them: the focus is noted before.
  const draw = () => keepingFocus(() => {
    const { tender, opening, progress } = view;
    const panels = [summaryPanel(ctx, tender)];
    const opened = opening && !(opening.phase === "not_started" && tender.state === "cancelled");
    if (opened) panels.push(openingPanel(ctx, tender, opening));
    if (opening) panels.push(messagesPanel(ctx, tender, opening, messages, (current() || {}).participant));
    if (opening && (opening.phase === "closed" || progress)) panels.push(evaluationPanel(ctx, tender, opening, progress));
    replace(body, ...panels);
  });
  // Refreshes one at a time; events arriving meanwhile ask for one more round.
  async function refresh() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await load();
          errorBox.replaceChildren();
          draw();
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          replace(errorBox, h("p", { class: "error", role: "alert" }, errorText(err)));
        }
      } while (again);
    })();
    try {
      await running;
    } finally {
      running = null;
    }
  }
  const ctx = { id, apply: refresh };
  onRedraw(() => {
    if (view.tender) draw();
    drawFeed();
  });

  await refresh();
  if (!view.tender) return () => {};
  const take = (record) => {
    if (record.type === MESSAGE_SENT) messages.set(record.payload.message, record.payload);
    seen.unshift(record);
    seen.splice(FEED_LENGTH);
  };
  // What happened before the page opened: the feed's last entries and the message box.
  const upTo = view.tender.seq ?? 0;
  try {
    await readLog(id, upTo, take);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    replace(errorBox, h("p", { class: "error", role: "alert" }, errorText(err)));
  }
  drawFeed();
  draw();
  const unfollow = live.follow(id, upTo, (record) => {
    take(record);
    drawFeed();
    refresh();
  });
  const poll = setInterval(() => {
    if (view.tender && view.tender.state === "evaluating" && !document.hidden) refresh();
  }, PROGRESS_POLL_MS);
  return () => {
    unfollow();
    clearInterval(poll);
  };
}
