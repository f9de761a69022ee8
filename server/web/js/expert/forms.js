// The forms of the expert's acts, built from the room view and the tender's scoring scheme:
// check-in, the pledge with declared conflicts, the leader vote, the compliance sheet, the
// score sheets (and their flags). Each form sends one act and waits for its ack.

import { h, replace } from "/static/js/lib/dom.js";
import { t } from "/static/js/lib/i18n.js";
import { scoreProblem } from "/static/js/expert/decimal.js";

const MAX_CONFLICTS = 20;

/** A submit button that runs `work` once at a time and reports into `status`, both at the top
 *  of the room and beside the button (which may be far down the page, or on a phone's screen). */
export function actButton(label, status, work, attrs = {}) {
  const button = h("button", { type: "button", class: "primary", ...attrs }, label);
  const note = h("span", { class: "act-note", "data-role": "act-note", role: "status" });
  button.addEventListener("click", async () => {
    if (button.disabled) {
      return;
    }
    button.disabled = true;
    status.clear();
    status.beside(note);
    try {
      await work();
    } catch (err) {
      status.error(err);
    } finally {
      button.disabled = false;
    }
  });
  return h("span", { class: "act" }, button, note);
}

function field(labelText, input, hint) {
  const id = `f-${Math.random().toString(36).slice(2, 10)}`;
  input.id = id;
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, labelText),
    input,
    hint ? h("small", { class: "muted" }, hint) : "",
  );
}

function textInput(role, attrs = {}) {
  return h("input", { type: "text", "data-role": role, ...attrs });
}

function textArea(role) {
  return h("textarea", { "data-role": role, rows: "3" });
}

// Check-in and pledge.

export function checkInForm(room, status) {
  const seat = room.seat;
  return h(
    "section",
    { class: "card", "data-form": "check-in" },
    h("h3", {}, t("expert.checkin.title")),
    h("p", {}, t("expert.checkin.text", { site: String(seat.site), workstation: String(seat.workstation) })),
    actButton(t("expert.checkin.button"), status, async () => {
      await room.checkIn();
      status.ok(t("expert.checkin.done"));
    }),
  );
}

export function pledgeForm(room, status) {
  const rows = h("div", { class: "conflicts", "data-role": "conflicts" });
  const add = h("button", { type: "button", "data-role": "add-conflict" }, t("expert.pledge.add_conflict"));
  add.addEventListener("click", () => {
    if (rows.children.length < MAX_CONFLICTS) {
      rows.append(conflictRow());
    }
  });
  const declared = () =>
    [...rows.children].map((row) => ({
      organisation: row.querySelector("[data-role=organisation]").value.trim(),
      reason: row.querySelector("[data-role=reason]").value.trim(),
    }));
  return h(
    "section",
    { class: "card", "data-form": "pledge" },
    h("h3", {}, t("expert.pledge.title")),
    h("blockquote", { class: "pledge-text" }, t("expert.pledge.text")),
    h("p", { class: "muted" }, t("expert.pledge.conflicts_help")),
    rows,
    add,
    actButton(t("expert.pledge.button"), status, async () => {
      const conflicts = declared();
      if (conflicts.some((c) => !c.organisation || !c.reason)) {
        status.warn(t("expert.pledge.conflict_incomplete"));
        return;
      }
      await room.pledge(conflicts);
      status.ok(t(conflicts.length ? "expert.pledge.declared" : "expert.pledge.done"));
    }),
  );
}

function conflictRow() {
  const remove = h("button", { type: "button", class: "link" }, t("expert.pledge.remove"));
  const row = h(
    "div",
    { class: "conflict-row" },
    field(t("expert.pledge.organisation"), textInput("organisation", { maxlength: "200" })),
    field(t("expert.pledge.reason"), textInput("reason", { maxlength: "2000" })),
    remove,
  );
  remove.addEventListener("click", () => row.remove());
  return row;
}

// The leader vote.

export function voteForm(room, status) {
  const view = room.view;
  const name = `vote-${view.round}`;
  const choices = view.members.map((member) => {
    const input = h("input", { type: "radio", value: member.expert, "data-role": "candidate" });
    input.name = name;
    return h("label", { class: "choice" }, input, `${member.name} (${member.specialty})`);
  });
  return h(
    "section",
    { class: "card", "data-form": "vote" },
    h("h3", {}, t("expert.vote.title", { round: String(view.round) })),
    h("div", { class: "choices" }, ...choices),
    actButton(t("expert.vote.button"), status, async () => {
      const chosen = choices.map((c) => c.querySelector("input")).find((i) => i.checked);
      if (!chosen) {
        status.warn(t("expert.vote.choose"));
        return;
      }
      await room.vote(chosen.value);
      status.ok(t("expert.vote.done"));
    }),
  );
}

// The compliance sheet: every bid, every compliance criterion, pass or fail with a reason.

export function complianceForm(room, status) {
  const view = room.view;
  const criteria = view.scheme?.compliance ?? [];
  const cells = [];
  const rows = [];
  for (const bid of view.bids) {
    for (const criterion of criteria) {
      const pass = h("input", { type: "radio", value: "pass", "data-role": "pass" });
      const fail = h("input", { type: "radio", value: "fail", "data-role": "fail" });
      pass.name = fail.name = `c-${bid.bidder}-${criterion.id}`;
      pass.checked = true;
      const reason = textInput("reason", { maxlength: "2000" });
      reason.placeholder = t("expert.compliance.reason");
      reason.setAttribute("aria-label", t("expert.compliance.reason"));
      cells.push({ bidder: bid.bidder, criterion: criterion.id, fail, reason });
      rows.push(
        h(
          "tr",
          { "data-bidder": bid.bidder, "data-criterion": criterion.id },
          h("td", { "data-label": t("expert.compliance.bid") }, bid.name),
          h("td", { "data-label": t("expert.compliance.criterion") }, `${criterion.id} ${criterion.name}`),
          h(
            "td",
            { class: "verdict", "data-label": t("expert.compliance.verdict") },
            h("label", { class: "choice" }, pass, t("expert.compliance.pass")),
            h("label", { class: "choice" }, fail, t("expert.compliance.fail")),
          ),
          h("td", { "data-label": t("expert.compliance.reason") }, reason),
        ),
      );
    }
  }
  const head = h(
    "tr",
    {},
    ...["bid", "criterion", "verdict", "reason"].map((k) => h("th", {}, t(`expert.compliance.${k}`))),
  );
  return h(
    "section",
    { class: "card", "data-form": "compliance" },
    h("h3", {}, t("expert.compliance.title")),
    h("div", { class: "table-wrap" }, h("table", { class: "data stack" }, h("thead", {}, head), h("tbody", {}, ...rows))),
    actButton(t("expert.compliance.button"), status, async () => {
      const results = {};
      for (const cell of cells) {
        const failed = cell.fail.checked;
        const reason = cell.reason.value.trim();
        if (failed && !reason) {
          cell.reason.focus();
          status.warn(t("expert.compliance.reason_required"));
          return;
        }
        results[cell.bidder] ??= {};
        results[cell.bidder][cell.criterion] = { pass: !failed, reason };
      }
      await room.compliance(results);
      status.ok(t("expert.compliance.done"));
    }),
  );
}

// Score sheets: one per compliant bid; a flagged one is revised (a new version) or confirmed.

export class ScoringPanel {
  constructor(room, status, onRead) {
    this.room = room;
    this.status = status;
    this.onRead = onRead; // opens a bid's documents beside the form
    this.keys = new Map();
    this.cards = new Map();
    this.title = h("h3", {});
    this.list = h("div", { class: "score-cards" });
    this.el = h("section", { class: "card", "data-form": "scoring" }, this.title, this.list);
    this.update();
  }

  /** Rebuild only the cards whose sheet or flag changed: other forms keep what is typed. */
  update() {
    const room = this.room;
    const view = room.view;
    replace(this.title, t("expert.score.title", { round: String(view.round) }));
    for (const bid of view.bids.filter((b) => b.status === "compliant")) {
      const flag = room.flag(bid.bidder);
      const key = JSON.stringify([view.round, bid.name, room.sheet(bid.bidder)?.version ?? 0, flag?.kind, flag?.answer]);
      if (this.keys.get(bid.bidder) === key) {
        continue;
      }
      this.keys.set(bid.bidder, key);
      const card = scoreCard(room, bid, this.status, this.onRead);
      const old = this.cards.get(bid.bidder);
      if (old) {
        old.replaceWith(card);
      } else {
        this.list.append(card);
      }
      this.cards.set(bid.bidder, card);
    }
  }
}

function scoreCard(room, bid, status, onRead) {
  const sheet = room.sheet(bid.bidder);
  const flag = room.flag(bid.bidder);
  const open = flag !== null && flag.answer === "open";
  const read = h("button", { type: "button", class: "link", "data-role": "read-bid" }, t("expert.bids.read"));
  read.addEventListener("click", () => onRead(bid));
  const card = h("div", { class: "score-card", "data-bidder": bid.bidder }, h("h4", {}, bid.name, " ", read));
  if (sheet !== null) {
    card.append(sheetSummary(room, sheet));
  }
  if (flag !== null) {
    card.append(flagNote(flag));
  }
  if (sheet === null || open) {
    card.append(scoreForm(room, bid, sheet, status));
  }
  if (open && flag.kind === "abnormal") {
    card.append(confirmForm(room, bid, status));
  }
  return card;
}

function sheetSummary(room, sheet) {
  const criteria = room.view.scheme?.criteria ?? [];
  return h(
    "div",
    { class: "sheet-summary", "data-role": "sheet-summary" },
    h("p", { class: "ok" }, t("expert.score.sent", { version: String(sheet.version), round: String(sheet.round) })),
    h(
      "table",
      { class: "kv" },
      h(
        "tbody",
        {},
        ...criteria.map((c) => h("tr", {}, h("th", {}, `${c.id} ${c.name}`), h("td", {}, String(sheet.scores[c.id] ?? "")))),
        sheet.comment ? h("tr", {}, h("th", {}, t("expert.score.comment")), h("td", {}, sheet.comment)) : "",
      ),
    ),
  );
}

function flagNote(flag) {
  const state = flag.answer === "open" ? "open" : flag.answer;
  return h(
    "div",
    { class: `flag flag-${flag.kind}`, "data-role": "flag", role: "status" },
    h("strong", {}, t(`expert.flag.${flag.kind}`)),
    " ",
    t(`expert.flag.state.${state}`),
    h("br", {}),
    h("small", {}, flag.detail),
  );
}

function scoreForm(room, bid, previous, status) {
  const criteria = room.view.scheme?.criteria ?? [];
  const inputs = criteria.map((criterion) => {
    const input = textInput("score", { inputmode: "decimal", "data-criterion": criterion.id });
    input.value = previous?.scores?.[criterion.id] ?? "";
    return { criterion, input };
  });
  const comment = textArea("comment");
  comment.value = previous?.comment ?? "";
  const form = h(
    "div",
    { class: "score-form", "data-role": "score-form" },
    ...inputs.map(({ criterion, input }) =>
      field(
        `${criterion.id} ${criterion.name}`,
        input,
        t("expert.score.hint", {
          max: String(criterion.max),
          step: String(criterion.step),
          kind: t(`expert.score.kind.${criterion.kind ?? "subjective"}`),
        }),
      ),
    ),
    field(t("expert.score.comment"), comment),
  );
  form.append(
    actButton(t(previous ? "expert.score.revise" : "expert.score.button"), status, async () => {
      const scores = {};
      for (const { criterion, input } of inputs) {
        const value = input.value.trim();
        const problem = scoreProblem(criterion, value);
        input.setAttribute("aria-invalid", problem ? "true" : "false");
        if (problem) {
          input.focus();
          status.warn(`${criterion.id} ${criterion.name}: ${t(problem, { max: String(criterion.max), step: String(criterion.step) })}`);
          return;
        }
        scores[criterion.id] = value;
      }
      await room.score(bid.bidder, scores, comment.value.trim());
      status.ok(t("expert.score.done", { name: bid.name }));
    }),
  );
  return form;
}

function confirmForm(room, bid, status) {
  const reason = textArea("confirm-reason");
  return h(
    "div",
    { class: "confirm-form", "data-role": "confirm-form" },
    field(t("expert.flag.confirm_reason"), reason),
    actButton(t("expert.flag.confirm"), status, async () => {
      const text = reason.value.trim();
      if (!text) {
        status.warn(t("expert.flag.reason_required"));
        return;
      }
      await room.confirm(bid.bidder, text);
      status.ok(t("expert.flag.confirmed"));
    }),
  );
}
