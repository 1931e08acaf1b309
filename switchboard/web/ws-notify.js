// Notices an agent notices without looking: the document title counts unread messages, and a short
// WebAudio chime sounds on a new conversation or message (no audio file; browsers allow sound only after
// a user gesture, so the context is opened on the login click and on later clicks).

const BASE_TITLE = "Workspace — Switchboard";
let audio = null;

export function unlockAudio() {
  try {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    audio = audio || new Context();
    if (audio.state === "suspended") audio.resume().catch(() => {});
  } catch {
    audio = null;
  }
}

/** A soft chime: two notes for a new conversation, one for a message. */
export function chime(kind = "message") {
  document.documentElement.dataset.chimes = String(Number(document.documentElement.dataset.chimes || 0) + 1);
  if (!audio) return;
  try {
    const notes = kind === "conversation" ? [660, 880] : [740];
    let t = audio.currentTime + 0.01;
    for (const frequency of notes) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.12, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.25);
      osc.connect(gain).connect(audio.destination);
      osc.start(t);
      osc.stop(t + 0.3);
      t += 0.16;
    }
  } catch {
    // no sound is no harm
  }
}

/** "(2) New conversation — Switchboard" while something is unread, else the plain title. */
export function setTitle(unread, freshConversation) {
  const title = unread > 0
    ? `(${unread}) ${freshConversation ? "New conversation" : "New message"} — Switchboard`
    : BASE_TITLE;
  if (document.title !== title) document.title = title;
}
