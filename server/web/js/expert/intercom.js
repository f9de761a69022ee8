// The intercom (docs/media.md): the expert's camera and microphone published for its seat in the
// lot's room, and the other members' workstations watched, each a WebRTC session negotiated on
// the live channel with a complete offer (no trickle). The node names sources by workstation.

import { h, replace } from "/static/js/lib/dom.js";
import { errorText, t } from "/static/js/lib/i18n.js";
import { negotiate, receiver } from "/static/js/lib/media.js";

function video(muted) {
  const el = h("video", { class: "intercom-video", autoplay: true, playsinline: true });
  el.muted = muted;
  return el;
}

export class Intercom {
  constructor(live, room) {
    this.live = live;
    this.room = room;
    this.sessions = new Map(); // session -> {pc, stream, tile}
    this.own = null; // {session, pc, stream}
    this.key = null;
    this.status = h("p", { class: "muted", "data-role": "intercom-status", role: "status" });
    this.self = h("div", { class: "intercom-self" });
    this.tiles = h("div", { class: "intercom-tiles" });
    this.el = h("div", { class: "intercom" }, this.status, this.self, this.tiles);
  }

  /** Another language: rebuilt in it unless a session is on (it would be cut). */
  relabel() {
    if (this.sessions.size === 0) {
      this.key = null;
    }
  }

  render(view) {
    const others = view.members.filter((m) => m.expert !== this.room.expert);
    const open = view.result === null && view.members.some((m) => m.expert === this.room.expert);
    const key = JSON.stringify([open, others.map((m) => [m.expert, m.workstation, m.name])]);
    if (key === this.key) {
      return;
    }
    this.key = key;
    this.stopAll();
    if (!open) {
      replace(this.self);
      replace(this.tiles);
      replace(this.status, t("expert.intercom.closed"));
      return;
    }
    replace(this.status, t("expert.intercom.help"));
    this.showSelf();
    replace(this.tiles, ...others.map((member) => this.tile(member)));
  }

  showSelf() {
    const start = h("button", { type: "button", class: "primary", "data-role": "intercom-publish" }, t("expert.intercom.publish"));
    start.addEventListener("click", async () => {
      start.disabled = true;
      try {
        await this.publish();
      } catch (err) {
        this.fail(err);
        this.showSelf();
      }
    });
    replace(this.self, h("h4", {}, t("expert.intercom.me", { workstation: String(this.room.seat.workstation) })), start);
  }

  async publish() {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    const pc = new RTCPeerConnection({ iceServers: [] });
    for (const track of stream.getTracks()) {
      pc.addTrack(track, stream);
    }
    let answer;
    try {
      answer = await negotiate(this.live, pc, { type: "media_publish", tender: this.room.tender, room: this.room.lot });
    } catch (err) {
      pc.close();
      stream.getTracks().forEach((track) => track.stop());
      throw err;
    }
    const preview = video(true);
    preview.srcObject = stream;
    const stop = h("button", { type: "button", "data-role": "intercom-stop" }, t("expert.intercom.stop"));
    stop.addEventListener("click", () => {
      this.close(answer.session);
      this.showSelf();
    });
    this.own = answer.session;
    this.sessions.set(answer.session, { pc, stream, tile: null });
    this.status.className = "muted";
    replace(this.status, t("expert.intercom.help"));
    replace(
      this.self,
      h("h4", {}, t("expert.intercom.me", { workstation: String(this.room.seat.workstation) })),
      h("p", { class: "ok", "data-role": "intercom-live" }, t("expert.intercom.live")),
      preview,
      stop,
    );
  }

  tile(member) {
    const screen = h("div", { class: "intercom-screen" });
    const button = h("button", { type: "button", "data-role": "intercom-watch" }, t("expert.intercom.watch"));
    const note = h("p", { class: "muted", "data-role": "intercom-note" });
    const tile = h(
      "div",
      { class: "intercom-tile", "data-workstation": member.workstation },
      h("h4", {}, `${member.name} · ${member.workstation}`),
      screen,
      note,
      button,
    );
    button.addEventListener("click", async () => {
      button.disabled = true;
      replace(note);
      try {
        await this.watch(member, tile, screen, note);
        button.hidden = true;
      } catch (err) {
        replace(note, errorText(err));
        note.className = "error";
        button.disabled = false;
      }
    });
    return tile;
  }

  async watch(member, tile, screen, note) {
    const shown = video(false);
    const pc = receiver(shown);
    let answer;
    try {
      answer = await negotiate(this.live, pc, {
        type: "media_watch",
        tender: this.room.tender,
        room: this.room.lot,
        source: String(member.workstation),
      });
    } catch (err) {
      pc.close();
      throw err;
    }
    this.sessions.set(answer.session, { pc, stream: null, tile, note });
    replace(screen, shown);
    note.className = "ok";
    replace(note, t("expert.intercom.watching"));
  }

  /** The node ended a session (the source stopped, the peer went away...). */
  ended(message) {
    const held = this.sessions.get(message.session);
    if (!held) {
      return;
    }
    this.drop(message.session);
    if (message.session === this.own) {
      this.own = null;
      this.showSelf();
    } else if (held.tile) {
      const note = held.tile.querySelector("[data-role=intercom-note]");
      note.className = "muted";
      replace(note, t("expert.intercom.ended"));
      replace(held.tile.querySelector(".intercom-screen"));
      const button = held.tile.querySelector("[data-role=intercom-watch]");
      button.hidden = false;
      button.disabled = false;
    }
  }

  close(session) {
    this.live.send({ type: "media_close", session });
    this.drop(session);
    if (session === this.own) {
      this.own = null;
    }
  }

  drop(session) {
    const held = this.sessions.get(session);
    if (!held) {
      return;
    }
    this.sessions.delete(session);
    held.pc.close();
    held.stream?.getTracks().forEach((track) => track.stop());
  }

  stopAll() {
    for (const session of [...this.sessions.keys()]) {
      this.close(session);
    }
  }

  fail(err) {
    this.status.className = "error";
    replace(this.status, err instanceof DOMException ? t("expert.intercom.no_camera") : errorText(err));
  }
}
