// One seat's evaluation room: the room view, the tender's live feed from the view's `seq`, and
// the expert's signed acts (docs/spec/evaluation.md section 3), each sent over the live channel
// and awaited (its ack) before the page offers what depends on it.
// The documents mirror evaluator_client/room.py field for field.

import { api } from "/static/js/lib/api.js";
import { sign } from "/static/js/lib/session.js";

export const IN_SESSION = ["check_in", "election", "compliance", "scoring"];

export class Room {
  constructor({ live, seat, expert, onView, onEvent }) {
    this.live = live;
    this.seat = seat;
    this.tender = String(seat.tender);
    this.lot = String(seat.lot);
    this.expert = expert;
    this.view = null;
    this.onView = onView;
    this.onEvent = onEvent;
    this.onError = null;
    this.unfollow = null;
    this.refreshing = null;
    this.stale = false;
    this.busy = false;
  }

  get path() {
    return `/api/tenders/${encodeURIComponent(this.tender)}/lots/${encodeURIComponent(this.lot)}`;
  }

  /** Read the room, then follow the tender from the position the view shows. */
  async open() {
    this.view = await api("GET", `${this.path}/room`);
    this.onView(this.view);
    this.unfollow = this.live.follow(this.tender, Number(this.view.seq ?? 0), (record) => this.received(record));
  }

  close() {
    if (this.unfollow !== null) {
      this.unfollow();
      this.unfollow = null;
    }
  }

  received(record) {
    const payload = record.payload ?? {};
    // A node's step names the lot; a signed act carries it in its document.
    if ((payload.lot ?? payload.document?.lot) !== this.lot) {
      return;
    }
    this.onEvent(record);
    this.refresh().catch((err) => this.onError?.(err));
  }

  /** Read the view again; one read at a time, and one more if something came meanwhile. */
  async refresh() {
    if (this.refreshing !== null) {
      this.stale = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.stale = false;
          this.view = await api("GET", `${this.path}/room`);
          this.onView(this.view);
        } while (this.stale);
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /** What every act's document has, then the type's own members. */
  document(type, members) {
    return {
      v: 1,
      type,
      tender: this.tender,
      lot: this.lot,
      expert: this.expert,
      workstation: String(this.seat.workstation),
      ...members,
    };
  }

  /** Sign the document here and send it; resolves with the ack, rejects with an ApiError. */
  async act(type, members) {
    const document = this.document(type, members);
    const signature = await sign(type, document);
    const ack = await this.live.act(this.tender, document, signature);
    await this.refresh().catch((err) => this.onError?.(err));
    return ack;
  }

  // The acts, as evaluator_client/room.py builds them.

  checkIn() {
    return this.act("check-in", { site: String(this.seat.site) });
  }

  pledge(conflicts) {
    return this.act("pledge", { conflicts });
  }

  vote(candidate) {
    return this.act("leader-vote", { round: this.round(), candidate });
  }

  compliance(results) {
    return this.act("compliance-sheet", { results });
  }

  score(bidder, scores, comment) {
    return this.act("score-sheet", {
      round: this.round(),
      version: this.nextVersion(bidder),
      bidder,
      scores,
      comment,
    });
  }

  confirm(bidder, reason) {
    return this.act("flag-confirmation", { round: this.round(), bidder, reason });
  }

  ask(bidder, question) {
    return this.act("clarification-request", { bidder, question });
  }

  moreTime(reason) {
    return this.act("time-request", { reason });
  }

  signReport() {
    return this.act("report-signature", { report_hash: this.view.report_hash });
  }

  dissent(reasons) {
    return this.act("report-dissent", { report_hash: this.view.report_hash, reasons });
  }

  // What the view says of this member.

  round() {
    return Math.max(Number(this.view?.round ?? 0), 1);
  }

  me() {
    return (this.view?.members ?? []).find((m) => m.expert === this.expert) ?? null;
  }

  sheet(bidder) {
    return (this.view?.sheets ?? []).find((s) => s.expert === this.expert && s.bidder === bidder) ?? null;
  }

  nextVersion(bidder) {
    return Number(this.sheet(bidder)?.version ?? 0) + 1;
  }

  flag(bidder) {
    return (this.view?.flags ?? []).find((f) => f.expert === this.expert && f.bidder === bidder) ?? null;
  }

  name(participant) {
    const member = (this.view?.members ?? []).find((m) => m.expert === participant);
    if (member) {
      return member.name;
    }
    const bid = (this.view?.bids ?? []).find((b) => b.bidder === participant);
    return bid ? bid.name : participant;
  }

  documentPath(bidder) {
    return `${this.path}/bids/${encodeURIComponent(bidder)}/document`;
  }

  reportPath(lang) {
    return `${this.path}/report.html${lang === "en" ? "?lang=en" : ""}`;
  }
}
