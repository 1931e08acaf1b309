// The agent's websocket (/ws/agent): hello with the token and the last seq of each conversation, then
// frames both ways. A dropped socket reconnects with back-off and resumes from the last seqs, so the server
// sends exactly what was missed (docs/protocol.md, "Gap healing and resume"). Close 4001 means the login
// is no longer valid: no retry.

const BACKOFF_S = [0.5, 1, 2, 4, 8, 15];
const PING_EVERY_MS = 20000;
const SILENT_LIMIT_MS = 45000;
const CLOSE_AUTH = 4001;

export class AgentSocket {
  /**
   * @param {object} o
   * @param {string} o.token         login token
   * @param {() => object} o.lastSeq conversation id -> last seq held, read at every (re)connect
   * @param {(frame: object) => void} o.onFrame
   * @param {(state: string, detail?: object) => void} o.onState
   *        "connecting", "open" (after welcome), "waiting" ({seconds}), "ended" ({code, message})
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
  }

  get open() {
    return this.welcomed && this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
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
      ws.send(JSON.stringify({type: "hello", v: 1, token: this.token, last_seq: this.lastSeq()}));
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
    clearInterval(this.pinger);
    this.pinger = setInterval(() => {
      if (ws !== this.ws) return;
      if (Date.now() - this.heardAt > SILENT_LIMIT_MS) ws.close(4000, "silent");
      else if (this.open) this.send("ping");
    }, PING_EVERY_MS);
  }

  retry() {
    const base = BACKOFF_S[Math.min(this.attempt, BACKOFF_S.length - 1)];
    const seconds = base * (0.8 + Math.random() * 0.4);
    this.attempt += 1;
    this.onState("waiting", {seconds});
    this.timer = setTimeout(() => this.connect(), seconds * 1000);
  }
}
