// The opening's live picture: the host's desk (room `opening`, source `host`, docs/media.md),
// watched over WebRTC with the offer and answer on the live channel (no trickle: every ICE
// candidate is gathered before the offer goes). Until the host publishes the node answers
// MediaNotLive; the page says so and asks again a little later.

import { h } from "/static/js/lib/dom.js";
import { errorText, onLangChange, t } from "/static/js/lib/i18n.js";
import { negotiate, receiver } from "/static/js/lib/media.js";
import { tx } from "./render.js";

const RETRY_MS = 10_000;

export class HostStream {
  constructor(hall) {
    this.hall = hall;
    this.video = h("video", { id: "host-video", autoplay: true, playsinline: true, controls: true, muted: true });
    this.video.muted = true; // a page may play sound only after a click; the viewer unmutes
    this.status = h("p", { id: "stream-status", class: "muted" });
    // Live only once a picture plays: the node grants a watch before the host is on air.
    this.video.addEventListener("playing", () => this.pc && this.say("stream.live", null, "ok"));
    this.retry = tx("button", "stream.retry", { type: "button", id: "stream-retry", on: { click: () => this.watch() } });
    this.el = h("section", { class: "card", id: "stream" }, tx("h2", "stream.title"), this.video, this.status, h("div", { class: "actions" }, this.retry));
    this.pc = null;
    this.session = null;
    this.timer = null;
    this.say("stream.idle");
    onLangChange(() => this.say(this.status.dataset.state, this.error, this.status.className));
  }

  // What the stream is doing, in the page's language (`error` a refusal, shown by errorText).
  say(key, error = null, kind = "muted") {
    this.status.dataset.state = key;
    this.status.className = kind;
    this.error = error;
    this.status.textContent = error ? errorText(error) : t(key);
  }

  start() {
    this.hall.live.onMessage = (message) => this.onMessage(message);
    this.watch();
  }

  later() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.watch(), RETRY_MS);
  }

  stop() {
    if (this.pc) this.pc.close();
    this.pc = null;
    this.session = null;
  }

  onMessage(message) {
    if (message.type === "media_ended" && message.session === this.session) {
      this.stop();
      this.say("stream.ended");
      this.later();
    }
  }

  async watch() {
    if (this.pc) return;
    clearTimeout(this.timer);
    const pc = receiver(this.video);
    this.pc = pc;
    this.say("stream.connecting");
    pc.addEventListener("connectionstatechange", () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === "connected" && this.video.readyState < 2) this.say("stream.waiting");
      if (pc.connectionState === "failed") {
        this.stop();
        this.say("stream.failed", null, "error");
        this.later();
      }
    });
    try {
      const watch = { type: "media_watch", tender: this.hall.tenderId, room: "opening", source: "host" };
      const answer = await negotiate(this.hall.live, pc, watch);
      if (pc !== this.pc) return;
      this.session = answer.session;
    } catch (error) {
      if (pc !== this.pc) return;
      this.stop();
      if (error.rule === "MediaNotLive") this.say("stream.not_live");
      else if (error.rule === "MediaClosed") {
        this.say("stream.closed");
        return;
      } else this.say("stream.failed", error, "error");
      this.later();
    }
  }
}
