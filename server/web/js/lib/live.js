// The live channel (docs/protocol.md 3): one WebSocket per page, authenticated with the
// session's token. It follows streams and, after any drop, reconnects (backoff with jitter)
// and subscribes again from the last sequence number it delivered: nothing is lost and
// nothing is delivered twice. Acts and media requests wait for their answer by id.

import { ApiError } from "./api.js";
import { learnTime, onSession, renew, token } from "./session.js";

const PING_MS = 20_000;
const MAX_BACKOFF_MS = 15_000;

export class Live {
  constructor({ onStatus = () => {}, onMessage = () => {} } = {}) {
    this.onStatus = onStatus;
    this.onMessage = onMessage; // media_ended and other unsolicited messages
    this.streams = new Map(); // stream -> {last, onEvent, onCaughtUp, onError}
    this.pending = new Map(); // id -> {resolve, reject, type}
    this.counter = 0;
    this.attempt = 0;
    this.stopped = false;
    this.status = "connecting";
    this.connected = new Promise((resolve) => (this.markConnected = resolve));
    onSession((session) => {
      if (session && this.status === "live") this.send({ type: "auth", token: token() });
    });
    this.connect();
    this.pinger = setInterval(() => this.status === "live" && this.send({ type: "ping" }), PING_MS);
  }

  setStatus(status) {
    this.status = status;
    this.onStatus(status);
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ v: 1, type: "auth", token: token() }));
    ws.onmessage = (message) => this.receive(JSON.parse(message.data));
    ws.onclose = (event) => this.closed(ws, event);
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ v: 1, ...message }));
      return true;
    }
    return false;
  }

  nextId(prefix) {
    this.counter += 1;
    return `${prefix}-${this.counter}`;
  }

  receive(message) {
    const pending = message.id !== undefined ? this.pending.get(message.id) : undefined;
    switch (message.type) {
      case "welcome":
        learnTime(message.server_time);
        if (this.status !== "live") {
          this.attempt = 0;
          this.setStatus("live");
          this.markConnected();
          for (const [stream, follower] of this.streams) this.subscribe(stream, follower);
        }
        return;
      case "pong":
        learnTime(message.server_time);
        return;
      case "event": {
        const follower = this.streams.get(message.event.stream);
        if (!follower || message.event.seq <= follower.last) return;
        follower.last = message.event.seq;
        follower.onEvent(message.event, message.hash);
        return;
      }
      case "caught_up": {
        const follower = this.streams.get(message.tender);
        if (!follower) return;
        follower.last = Math.max(follower.last, message.seq);
        follower.onCaughtUp(message.seq);
        return;
      }
      case "error":
        if (pending) {
          this.pending.delete(message.id);
          pending.reject(new ApiError(message));
        } else if (message.id && message.id.startsWith("sub-")) {
          const follower = [...this.streams.values()].find((f) => f.id === message.id);
          if (follower) follower.onError(new ApiError(message));
        } else {
          this.onMessage(message);
        }
        return;
      default:
        if (pending && (message.type === pending.type || pending.type === "*")) {
          this.pending.delete(message.id);
          pending.resolve(message);
        } else {
          this.onMessage(message);
        }
    }
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    for (const [id, pending] of this.pending) {
      // An ack that was lost is not asked again (docs/protocol.md 3.5): the page reads its view.
      pending.reject(new ApiError({ code: "connection_lost", message: `closed ${event.code}` }));
      this.pending.delete(id);
    }
    if (this.stopped) return;
    this.setStatus("reconnecting");
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    setTimeout(async () => {
      if (event.code === 4001) await renew().catch(() => {});
      if (!this.stopped) this.connect();
    }, delay);
  }

  subscribe(stream, follower) {
    follower.id = this.nextId("sub");
    this.send({ type: "subscribe", id: follower.id, tender: stream, after_seq: follower.last });
  }

  // Events of `stream` after `afterSeq`, replayed then live; returns the function that stops.
  follow(stream, afterSeq, onEvent, { onCaughtUp = () => {}, onError = (e) => console.warn(e) } = {}) {
    const follower = { last: afterSeq, onEvent, onCaughtUp, onError, id: null };
    this.streams.set(stream, follower);
    if (this.status === "live") this.subscribe(stream, follower);
    return () => {
      if (this.streams.get(stream) === follower) {
        this.streams.delete(stream);
        this.send({ type: "unsubscribe", tender: stream });
      }
    };
  }

  // A message that is answered by `type` with the same id (an act's ack, a media answer).
  async request(message, type = "*") {
    await this.connected;
    const id = this.nextId(message.type);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, type });
      if (!this.send({ ...message, id })) {
        this.pending.delete(id);
        reject(new ApiError({ code: "connection_lost" }));
      }
    });
  }

  // An expert's signed act (docs/protocol.md 3.5): resolves with the ack once on record.
  act(tender, document, signature) {
    return this.request({ type: "act", tender, document, signature }, "ack");
  }

  close() {
    this.stopped = true;
    clearInterval(this.pinger);
    if (this.ws) this.ws.close(1000);
  }
}
