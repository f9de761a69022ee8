// 不见面开标大厅: the opening hall of one tender, for its bidders and for the public.
//
// The page reads the tender and its opening (views), follows the tender's stream on the live
// channel and reads the views again when something happens; the bidder's own actions are in
// hall/bidder.js, the sections in hall/render.js, the checks it makes itself in hall/verify.js.

import { api } from "/static/js/lib/api.js";
import { $, h, replace, toast } from "/static/js/lib/dom.js";
import { errorText, onLangChange, t } from "/static/js/lib/i18n.js";
import { Live } from "/static/js/lib/live.js";
import { node } from "/static/js/lib/session.js";
import { setLiveStatus, startPage } from "/static/js/lib/shell.js";
import { BidderPanel, messageBox } from "./hall/bidder.js";
import {
  renderCountdown,
  renderHead,
  renderMessages,
  renderObjections,
  renderProgress,
  renderRecord,
  signInOpens,
  totalRows,
  tx,
} from "./hall/render.js";
import { HostStream } from "./hall/stream.js";
import { importNodeKey, recordHash, verifySignature } from "./hall/verify.js";

const ROW_MS = 600; // 唱标: one row of the record every so often, as it is read out
const TENDER_PATH = /^\/hall\/([A-Za-z0-9][A-Za-z0-9-]{0,79})\/?$/;

class Hall {
  constructor(me, tenderId) {
    this.base = `/api/tenders/${encodeURIComponent(tenderId)}`;
    this.tenderId = tenderId;
    this.s = {
      me,
      tender: null,
      opening: null,
      mine: [],
      inclusion: new Map(),
      messages: [],
      rowsShown: Infinity,
      totalRows: 0,
      recordCheck: null,
      signInOpens: null,
    };
    this.bidder = me.role === "bidder";
    this.pending = null;
    this.caughtUp = false;
    this.reading = null;
  }

  build(app) {
    this.head = h("header", { class: "card hall-head", id: "hall-head" });
    this.countdown = h("div", { class: "card countdown", id: "countdown", role: "timer" });
    this.progress = h("section", { class: "card", id: "progress" });
    this.record = h("section", { class: "card", id: "record" });
    this.objections = h("section", { class: "card", id: "objections" });
    this.stream = new HostStream(this);
    const side = h("aside", { class: "hall-side" });
    if (this.bidder) {
      this.panel = new BidderPanel(this);
      this.box = messageBox(this);
      side.append(this.panel.el, this.box.el);
    } else {
      side.append(h("section", { class: "card", id: "visitor-note" }, tx("h2", "visitor.title"), tx("p", "visitor.explain", { class: "muted" })));
    }
    const main = h("div", { class: "hall-main" }, this.stream.el, this.progress, this.record, this.objections);
    replace(app, h("section", { id: "hall" }, this.head, this.countdown, h("div", { class: "hall-grid" }, main, side)));
  }

  async start(app) {
    this.s.tender = await api("GET", this.base);
    this.s.signInOpens = signInOpens(this.s);
    this.build(app);
    this.nodeKey = importNodeKey((await node()).public_key); // what sealed lists are checked with
    this.nodeKey.catch(() => {}); // a bad key is reported where a list is checked
    await this.refresh();
    this.live = new Live({ onStatus: setLiveStatus });
    this.live.follow(this.tenderId, 0, (event) => this.onEvent(event), {
      onCaughtUp: () => {
        this.caughtUp = true;
        this.schedule();
      },
      onError: (error) => this.fail(error),
    });
    setInterval(() => renderCountdown(this.countdown, this.s), 1000);
    onLangChange(() => this.redraw());
    this.stream.start();
  }

  fail(error) {
    toast(errorText(error), "error");
  }

  onEvent(event) {
    if (event.type === "opening.message_sent") {
      this.addMessage(event.seq, event.payload);
      return;
    }
    if (event.type === "opening.closed") this.s.final = event.payload; // the node-signed record
    if (event.type === "opening.decryption_paused") this.s.pause = event.payload; // and why
    if (event.type === "opening.decryption_resumed") this.s.pause = null;
    if (!this.caughtUp) return; // the views read after the replay show it all
    if (event.type === "opening.record_published") this.s.rowsShown = 0;
    this.schedule();
  }

  // One refresh for a burst of events.
  schedule() {
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.refresh().catch((error) => this.fail(error)), 100);
  }

  messageSent(seq, message) {
    this.addMessage(seq, message);
  }

  addMessage(seq, message) {
    if (this.s.messages.some((m) => m.message === message.message)) return;
    this.s.messages.push({ ...message, seq });
    this.s.messages.sort((a, b) => a.seq - b.seq);
    if (this.box) renderMessages(this.box.list, this.s);
  }

  async refresh() {
    const s = this.s;
    const [tender, opening, mine] = await Promise.all([
      api("GET", this.base),
      api("GET", `${this.base}/opening`),
      this.bidder ? api("GET", `${this.base}/bids/mine`) : null,
    ]);
    s.tender = tender;
    // Two reads in flight may come back in either order: a view never replaces a later one.
    if (!s.opening || !(opening.seq < s.opening.seq)) s.opening = opening;
    if (mine) s.mine = mine.bids;
    s.totalRows = totalRows(s.opening.record);
    if (s.opening.record && s.recordCheck === null) {
      s.recordCheck = (await recordHash(s.opening.record)) === s.opening.record_hash ? "ok" : "bad";
    }
    if (s.final && s.finalCheck === undefined) s.finalCheck = await this.checkFinal(s.final);
    this.redraw();
    if (s.rowsShown < s.totalRows) this.readOut();
    if (this.bidder && tender.bids_closed) await this.panel.checkLists(this.nodeKey);
  }

  // The final record as the node closed the opening (E-Measures 32): its hash and the node's
  // signature, checked here.
  async checkFinal(final) {
    try {
      const signed = await verifySignature(await this.nodeKey, "opening-record", final.record, final.signature);
      return signed && (await recordHash(final.record)) === final.record_hash ? "ok" : "bad";
    } catch {
      return "bad";
    }
  }

  // 唱标 row by row: the record arrived live; it is shown as it is read out.
  readOut() {
    if (this.reading) return;
    this.reading = setInterval(() => {
      this.s.rowsShown += 1;
      renderRecord(this.record, this.s);
      if (this.panel) this.panel.update();
      if (this.s.rowsShown >= this.s.totalRows) {
        clearInterval(this.reading);
        this.reading = null;
        this.s.rowsShown = Infinity; // from now on the record is shown whole
      }
    }, ROW_MS);
  }

  redraw() {
    const s = this.s;
    renderHead(this.head, s);
    renderCountdown(this.countdown, s);
    renderProgress(this.progress, s);
    renderRecord(this.record, s);
    renderObjections(this.objections, s);
    if (this.panel) this.panel.update();
    if (this.box) {
      renderMessages(this.box.list, s);
      this.box.update(s);
    }
  }
}

async function main() {
  const me = await startPage({ page: "hall", titleKey: "hall.title", roles: ["bidder", "public"] });
  const app = $("#app");
  const match = location.pathname.match(TENDER_PATH);
  if (!match) {
    replace(app, h("section", { class: "card" }, tx("p", "hall.no_tender"), h("a", { href: "/" }, t("hall.to_index"))));
    return;
  }
  const hall = new Hall(me, match[1]);
  try {
    await hall.start(app);
  } catch (error) {
    replace(app, h("section", { class: "card" }, h("p", { class: "error", role: "alert", id: "hall-error" }, errorText(error)), h("a", { href: "/" }, t("hall.to_index"))));
  }
}

main();
