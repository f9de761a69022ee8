// The message box between the host and the bidders during the opening (docs/protocol.md 2.8):
// each message is an event of the tender's log (`opening.message_sent`), read once from the
// log, then followed live. From the deadline until the opening closes the host writes to one
// bidder or to every signed-in bidder.
import { api } from "/static/js/lib/api.js";
import { h } from "/static/js/lib/dom.js";
import { formatTime, t } from "/static/js/lib/i18n.js";
import { act } from "/static/js/host/opening.js";
import { button, el, select } from "/static/js/host/util.js";

export const MESSAGE_SENT = "opening.message_sent";
const PAGE = 1000;

// The tender's log up to `upTo` (the view's seq; what follows comes live), page by page as
// protocol.md 2.6 reads it: each record the host may see is handed to `take`.
export async function readLog(id, upTo, take) {
  let after = 0;
  while (after < upTo) {
    const path = `/api/tenders/${encodeURIComponent(id)}/events?after_seq=${after}&limit=${Math.min(PAGE, upTo - after)}`;
    const page = await api("GET", path);
    for (const item of page.events) {
      if (item.event.seq <= upTo) take(item.event);
    }
    if (!page.more) return;
    after = page.next_after_seq;
  }
}

const kept = { text: null, to: "" };

function composer(ctx, opening, names) {
  if (!kept.text) {
    kept.text = el("textarea", {
      class: "message-text", "data-testid": "message-text",
      "data-i18n-aria-label": "host.messages.text", "data-i18n-placeholder": "host.messages.text",
    }, { rows: 2, maxLength: 2000, placeholder: t("host.messages.text") });
    kept.text.setAttribute("aria-label", t("host.messages.text"));
  }
  const bidders = Array.isArray(opening.signed_in) ? opening.signed_in : [];
  const to = select([["", "host.messages.to_all"]], kept.to);
  for (const bidder of bidders) to.append(h("option", { value: bidder }, names.get(bidder) || bidder));
  to.value = bidders.includes(kept.to) ? kept.to : "";
  to.dataset.testid = "message-to";
  to.setAttribute("aria-label", t("host.messages.to"));
  to.addEventListener("change", () => {
    kept.to = to.value;
  });
  const where = h("div", { class: "refusal" });
  const send = button("host.messages.send", () => {
    const text = kept.text.value.trim();
    if (!text) return;
    act(send, where, async () => {
      const body = to.value ? { text, to: to.value } : { text };
      await api("POST", `/api/tenders/${encodeURIComponent(ctx.id)}/opening/messages`, body);
      kept.text.value = "";
    });
  }, "primary");
  return h("div", { class: "composer" }, to, kept.text, send, where);
}

function line(message, names, host) {
  const sender = message.sender === host ? t("host.messages.me") : names.get(message.sender) || message.sender;
  // A bidder's message names no one: it is for the host.
  const to = message.to && message.to.length ? message.to : [host];
  const recipients = message.broadcast
    ? t("host.messages.to_all")
    : to.map((id) => (id === host ? t("host.messages.me") : names.get(id) || id)).join("、");
  return h("li", { class: message.sender === host ? "mine" : "theirs", "data-message": message.message },
    h("p", { class: "meta" }, t("host.messages.from_to", { from: sender, to: recipients }), " · ",
      h("span", { class: "time" }, formatTime(message.at))),
    h("p", { class: "message-body" }, message.text));
}

export function messagesPanel(ctx, tender, opening, messages, host) {
  const names = new Map(opening.bids.map((bid) => [bid.bidder, bid.name]));
  const open = tender.bids_closed && opening.phase !== "closed";
  if (!open && !messages.size) return "";
  const list = [...messages.values()].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return h("section", { class: "panel messages", "data-testid": "messages" },
    h("h3", {}, t("host.messages.heading")),
    list.length ? h("ol", { class: "message-list" }, ...list.map((m) => line(m, names, host)))
      : h("p", { class: "muted" }, t("host.messages.none")),
    open ? composer(ctx, opening, names) : "");
}
