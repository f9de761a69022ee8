// What a bidder does in the hall: sign in (签到), check its receipts against the node-signed
// sealed lists, decrypt its bid in the page, confirm or object to the record (signed here with
// its own key), and write to the host. Every action is the node's to allow: a refusal comes
// back typed and is shown in the page's language.

import { api } from "/static/js/lib/api.js";
import { h, replace, toast } from "/static/js/lib/dom.js";
import { errorText, formatTime, t } from "/static/js/lib/i18n.js";
import { b64url, sign } from "/static/js/lib/session.js";
import { short, tx } from "./render.js";
import { readEncryptionKey, unwrapFileKey } from "./unwrap.js";
import { CheckFailed, checkInclusion } from "./verify.js";

function failure(error) {
  return error instanceof CheckFailed ? t(error.key) : errorText(error);
}

// A button that runs `action`, shows a refusal in `problem`, and is disabled meanwhile.
function busy(button, problem, action) {
  button.addEventListener("click", async () => {
    problem.textContent = "";
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      problem.textContent = failure(error);
    } finally {
      button.disabled = false;
    }
  });
}

export class BidderPanel {
  constructor(hall) {
    this.hall = hall; // {s, base, refresh(), messageSent(event)}
    this.el = h("section", { class: "card", id: "bidder-panel" });
    this.build();
  }

  get s() {
    return this.hall.s;
  }

  build() {
    // 签到
    this.signInStatus = h("p", { id: "sign-in-status" });
    this.signInButton = tx("button", "bidder.sign_in", { type: "button", class: "primary", id: "sign-in" });
    this.signInError = h("p", { class: "error", id: "sign-in-error", role: "alert" });
    busy(this.signInButton, this.signInError, async () => {
      this.hall.s.opening = await api("POST", `${this.hall.base}/opening/sign-in`);
      toast(t("bidder.signed_in"), "ok");
      this.hall.redraw();
    });
    this.signIn = h("div", { class: "bidder-step" }, tx("h3", "bidder.sign_in_title"), this.signInStatus, this.signInButton, this.signInError);
    // Receipts and the sealed lists
    this.receipts = h("div", { id: "receipts" });
    // Decryption in the page
    this.decrypt = this.buildDecrypt();
    // Confirm or object
    this.respond = this.buildRespond();
    this.el.append(tx("h2", "bidder.title"), this.signIn, h("div", { class: "bidder-step" }, tx("h3", "receipts.title"), this.receipts), this.decrypt.el, this.respond.el);
  }

  buildDecrypt() {
    const lot = h("select", { id: "decrypt-lot", on: { change: () => this.update() } });
    const sealed = h("input", { type: "file", id: "decrypt-sealed", accept: ".sealed,application/octet-stream" });
    const key = h("input", { type: "file", id: "decrypt-key", accept: ".pem" });
    const passphrase = h("input", { type: "password", id: "decrypt-passphrase", autocomplete: "off" });
    const button = tx("button", "decrypt.submit", { type: "button", class: "primary", id: "decrypt-submit" });
    const problem = h("p", { class: "error", id: "decrypt-error", role: "alert" });
    const cli = h("code", { id: "decrypt-cli" });
    busy(button, problem, async () => {
      if (!sealed.files[0] || !key.files[0]) throw new CheckFailed("decrypt.choose_files");
      const own = await readEncryptionKey(key.files[0], passphrase.value);
      passphrase.value = ""; // the key is open: its passphrase is not kept
      const expected = { tender: this.s.tender.id, lot: lot.value, bidder: this.s.me.participant };
      const fileKey = await unwrapFileKey(sealed.files[0], own, expected);
      const status = await api("POST", `${this.hall.base}/lots/${encodeURIComponent(lot.value)}/decrypt`, { file_key: b64url(fileKey) });
      fileKey.fill(0);
      toast(t(`bid.${status.status}`), status.status === "decrypted" ? "ok" : "error");
      await this.hall.refresh();
    });
    const el = h(
      "div",
      { class: "bidder-step", id: "decrypt" },
      tx("h3", "decrypt.title"),
      tx("p", "decrypt.explain", { class: "muted" }),
      tx("label", "decrypt.lot", { for: "decrypt-lot" }),
      lot,
      tx("label", "decrypt.sealed_file", { for: "decrypt-sealed" }),
      sealed,
      tx("label", "decrypt.key_file", { for: "decrypt-key" }),
      key,
      tx("label", "decrypt.passphrase", { for: "decrypt-passphrase" }),
      passphrase,
      h("div", { class: "actions" }, button),
      problem,
      h("details", {}, tx("summary", "decrypt.cli"), h("pre", {}, cli)),
    );
    return { el, lot, cli };
  }

  buildRespond() {
    const status = h("p", { id: "respond-status" });
    const confirm = tx("button", "respond.confirm", { type: "button", class: "primary", id: "confirm" });
    const text = h("textarea", { id: "objection-text", maxlength: "2000", rows: "3", "data-i18n-aria-label": "respond.objection_label" });
    const object = tx("button", "respond.object", { type: "button", class: "danger", id: "object" });
    const problem = h("p", { class: "error", id: "respond-error", role: "alert" });
    busy(confirm, problem, async () => {
      const o = this.s.opening;
      const document = { type: "opening-confirmation", tender: this.s.tender.id, record_hash: o.record_hash };
      const signature = await sign("opening-confirmation", document);
      this.hall.s.opening = await api("POST", `${this.hall.base}/opening/confirm`, { signature });
      toast(t("respond.confirmed"), "ok");
      this.hall.redraw();
    });
    busy(object, problem, async () => {
      const o = this.s.opening;
      const words = text.value.replace(/\s+/g, " ").trim();
      if (!words) throw new CheckFailed("respond.objection_empty");
      const document = { type: "opening-objection", tender: this.s.tender.id, record_hash: o.record_hash, text: words };
      const signature = await sign("opening-objection", document);
      this.hall.s.opening = await api("POST", `${this.hall.base}/opening/objections`, { text: words, signature });
      text.value = "";
      toast(t("respond.objected"), "ok");
      this.hall.redraw();
    });
    const actions = h(
      "div",
      { id: "respond-actions" },
      h("div", { class: "actions" }, confirm),
      tx("label", "respond.objection_label", { for: "objection-text" }),
      text,
      h("div", { class: "actions" }, object),
    );
    const el = h("div", { class: "bidder-step", id: "respond" }, tx("h3", "respond.title"), tx("p", "respond.explain", { class: "muted" }), status, actions, problem);
    return { el, status, actions, confirm };
  }

  // Redraw what changes with the opening; inputs keep what the bidder typed.
  update() {
    const s = this.s;
    const o = s.opening;
    const phase = o ? o.phase : "not_started";
    const over = phase === "record_published" || phase === "closed" || ["evaluating", "concluded", "failed", "cancelled"].includes(s.tender.state);
    const signedIn = o && o.signed_in === true;
    this.signInStatus.textContent = signedIn ? t("bidder.signed_in") : t("bidder.not_signed_in", { time: formatTime(s.signInOpens) });
    this.signInStatus.className = signedIn ? "ok" : "muted";
    this.signInButton.hidden = signedIn || over;
    this.drawReceipts();
    // Decryption: the bidder's own pending bids, while the window runs.
    const pending = o ? o.bids.filter((b) => b.bidder === s.me.participant && b.status === "pending") : [];
    this.decrypt.el.hidden = !(phase === "decrypting" && pending.length);
    if (!this.decrypt.el.hidden) {
      const chosen = this.decrypt.lot.value;
      replace(this.decrypt.lot, pending.map((b) => h("option", { value: b.lot }, b.lot)));
      if (pending.some((b) => b.lot === chosen)) this.decrypt.lot.value = chosen;
      const node = location.origin;
      this.decrypt.cli.textContent = `bidroom bidder decrypt --node ${node} --participant ${s.me.participant} --key ${s.me.participant}.pem --tender ${s.tender.id} --lot ${this.decrypt.lot.value} --encryption-key encryption.pem bid.sealed`;
    }
    // Confirm or object, once the record is read out.
    const answered = o && o.responses ? o.responses[s.me.participant] : undefined;
    this.respond.el.hidden = phase !== "record_published" && !answered;
    const canRespond = phase === "record_published" && !answered && signedIn && s.recordCheck === "ok" && s.rowsShown >= s.totalRows;
    this.respond.actions.hidden = !canRespond;
    if (answered) this.respond.status.textContent = t(`respond.${answered}`);
    else if (!signedIn) this.respond.status.textContent = t("respond.not_signed_in");
    else if (s.recordCheck === "bad") this.respond.status.textContent = t("record.hash_bad");
    else this.respond.status.textContent = o && o.confirm_until ? t("respond.until", { time: formatTime(o.confirm_until) }) : "";
  }

  drawReceipts() {
    const s = this.s;
    if (!s.mine.length) {
      replace(this.receipts, tx("p", "receipts.none", { class: "muted" }));
      return;
    }
    replace(
      this.receipts,
      s.mine.map((lot) => {
        const receipt = lot.current;
        const check = s.inclusion.get(lot.lot);
        let line;
        if (!receipt) line = tx("p", "receipts.withdrawn", { class: "muted" });
        else if (!s.tender.bids_closed) line = tx("p", "receipts.before_deadline", { class: "muted" });
        else if (!check) line = tx("p", "receipts.checking", { class: "muted" });
        else if (check.ok) line = h("p", { class: "ok" }, t("receipts.included", { count: check.count, root: short(check.root) }));
        else line = h("p", { class: "error" }, check.text);
        return h(
          "div",
          { class: "receipt", id: `receipt-${lot.lot}`, "data-lot": lot.lot },
          h("strong", {}, t("receipts.lot", { lot: lot.lot })),
          receipt
            ? h(
                "dl",
                {},
                tx("dt", "receipts.seq"),
                h("dd", {}, String(receipt.seq)),
                tx("dt", "receipts.received_at"),
                h("dd", {}, formatTime(receipt.received_at)),
                tx("dt", "receipts.sha256"),
                h("dd", { class: "mono" }, short(receipt.sha256)),
                lot.receipts.length > 1 ? [tx("dt", "receipts.history"), h("dd", {}, t("receipts.revisions", { n: lot.receipts.length }))] : null,
              )
            : null,
          h("div", { class: "inclusion", id: `inclusion-${lot.lot}` }, line),
        );
      }),
    );
  }

  // After the deadline, each lot's sealed list, checked here against the node's key (a promise).
  async checkLists(nodeKey) {
    const s = this.s;
    for (const lot of s.mine) {
      if (!lot.current || s.inclusion.get(lot.lot)?.ok) continue;
      try {
        const { list, signature } = await api("GET", `${this.hall.base}/lots/${encodeURIComponent(lot.lot)}/sealed-list`);
        const root = await checkInclusion(await nodeKey, list, signature, lot.current);
        s.inclusion.set(lot.lot, { ok: true, root, count: list.receipts.length });
      } catch (error) {
        s.inclusion.set(lot.lot, { ok: false, text: failure(error) });
      }
    }
    this.drawReceipts();
  }
}

// The message box with the host (a bidder's): the list and the form.
export function messageBox(hall) {
  const list = h("ol", { id: "message-list", class: "feed messages" });
  const text = h("textarea", { id: "message-text", maxlength: "2000", rows: "2", "data-i18n-aria-label": "messages.label" });
  const send = tx("button", "messages.send", { type: "submit", class: "primary", id: "message-send" });
  const problem = h("p", { class: "error", id: "message-error", role: "alert" });
  const form = h("form", { id: "message-form" }, tx("label", "messages.label", { for: "message-text" }), text, h("div", { class: "actions" }, send), problem);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.textContent = "";
    const words = text.value.replace(/\s+/g, " ").trim();
    if (!words) return;
    send.disabled = true;
    try {
      const sent = await api("POST", `${hall.base}/opening/messages`, { text: words });
      text.value = "";
      hall.messageSent(sent.seq, sent.message);
    } catch (error) {
      problem.textContent = errorText(error);
    } finally {
      send.disabled = false;
    }
  });
  const note = h("p", { class: "muted", id: "message-note" });
  const el = h("section", { class: "card", id: "messages" }, tx("h2", "messages.title"), tx("p", "messages.explain", { class: "muted" }), list, note, form);
  // The box opens at the deadline (who bid is secret until then) and closes with the opening.
  const update = (s) => {
    const closed = !s.tender.bids_closed || (s.opening && s.opening.phase === "closed") || !["bidding", "opening"].includes(s.tender.state);
    send.disabled = closed;
    note.textContent = closed ? t(s.tender.bids_closed ? "messages.closed" : "messages.not_yet") : "";
  };
  return { el, list, update };
}
