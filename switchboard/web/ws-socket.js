// The agent's websocket (/ws/agent): hello with the token and the last seq of each conversation, then
// frames both ways. A dropped socket reconnects with back-off and resumes from the last seqs, so the server
// sends exactly what was missed (docs/protocol.md, "Gap healing and resume"). Close 4001 means the login
// is no longer valid: no retry.
//
// Heartbeat: a cut network closes nothing, so silence is the only sign. After PING_AFTER_MS without a
// frame the socket sends a `ping` (the server answers `pong`); after SILENT_LIMIT_MS without any frame,
// or without a welcome since connecting, the socket counts as lost at once: the page says so and
// reconnects. It does not wait for the close handshake, which a dead network never completes (the
// workspace showed "Connected" for 75 s with the network cut). The browser's `offline` event ends it sooner.

const BACKOFF_S = [0.5, 1, 2, 4, 8, 15];
const PING_AFTER_MS = 4000;
const SILENT_LIMIT_MS = 10000;
const WATCH_EVERY_MS = 1000;
const CLOSE_AUTH = 4001;

export class AgentSocket {
  /**
   * @param {object} o
   * @param {string | (() => string)} o.token  login token, or a function giving the current one (read at
   *        every connect, so a token renewed meanwhile is the one the hello carries)
   * @param {() => object} o.lastSeq conversation id -> last seq held, read at every (re)connect
   * @param {(frame: object) => void} o.onFrame
   * @param {(state: string, detail?: object) => void} o.onState
   *        "connecting", "open" (after welcome), "waiting" ({seconds}: lost, reconnecting), "offline" (stopped),
   *        "ended" ({code, message})
   */
  constructor({token, lastSeq, onFrame, onState}) {
    Object.assign(this, {token, lastSeq, onFrame, onState});
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.welcomed = false;
    this.timer = null;
    this.pinger = null;
    this.heardAt = 0;
    this.authError = null;
    this.onOffline = () => { if (this.ws) this.lost(this.ws); };
  }

  get open() {
    return this.welcomed && this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  start() {
    this.stopped = false;
    window.addEventListener("offline", this.onOffline);
    this.connect();
  }

  /** `ws` is dead (silent, or the browser went offline): forget it now and reconnect with back-off. */
  lost(ws) {
    if (ws !== this.ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    clearInterval(this.pinger);
    this.ws = null;
    this.welcomed = false;
    try {
      ws.close(4000, "silent");
    } catch {
      // closing a socket that never opened may throw; it is forgotten either way
    }
    if (!this.stopped) this.retry();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    window.removeEventListener("offline", this.onOffline);
    const ws = this.ws;
    this.ws = null;
    this.welcomed = false;
    if (ws) ws.close(1000, "bye");
    this.onState("offline");
  }

  /** Send a frame now; false (and nothing sent) when the socket is not open. */
  send(type, fields = {}) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify({type, ...fields}));
    return true;
  }

  /** Drop the connection as if the network had (tests and the "reconnect" button use it). */
  drop() {
    if (this.ws) this.ws.close(4000, "dropped by the client");
  }

  connect() {
    clearTimeout(this.timer);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws/agent`);
    this.ws = ws;
    this.welcomed = false;
    this.authError = null;
    this.onState("connecting");
    ws.onopen = () => {
      this.heardAt = Date.now();
      const token = typeof this.token === "function" ? this.token() : this.token;
      ws.send(JSON.stringify({type: "hello", v: 1, token, last_seq: this.lastSeq()}));
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this.heardAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "error" && !this.welcomed) this.authError = frame;
      if (frame.type === "welcome") {
        this.welcomed = true;
        this.attempt = 0;
        this.onState("open");
      }
      this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      clearInterval(this.pinger);
      this.welcomed = false;
      this.ws = null;
      if (this.stopped) return;
      if (event.code === CLOSE_AUTH) {
        const error = this.authError || {code: "session_ended", message: "the session has ended"};
        this.stopped = true;
        this.onState("ended", error);
        return;
      }
      this.retry();
    };
    this.heardAt = Date.now(); // a connect that is not welcomed within SILENT_LIMIT_MS is lost too
    this.pingedAt = 0;
    clearInterval(this.pinger);
    this.pinger = setInterval(() => {
      if (ws !== this.ws) return;
      const quiet = Date.now() - this.heardAt;
      if (quiet > SILENT_LIMIT_MS) this.lost(ws);
      else if (quiet > PING_AFTER_MS && this.heardAt > this.pingedAt && this.open) {
        this.pingedAt = Date.now();
        this.send("ping");
      }
    }, WATCH_EVERY_MS);
  }

  retry() {
    const base = BACKOFF_S[Math.min(this.attempt, BACKOFF_S.length - 1)];
    const seconds = base * (0.8 + Math.random() * 0.4);
    this.attempt += 1;
    this.onState("waiting", {seconds});
    this.timer = setTimeout(() => this.connect(), seconds * 1000);
  }
}
