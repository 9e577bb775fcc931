// Aurora's live page: every agent's canvas drawn as it is painted, its notes played with Web Audio, and the
// gallery of finished works. It listens to the gateway's WebSocket (`/ws`, PROTOCOL.md section 12): it applies
// the `snapshot`, then each `event` in seq order; on `resync` it drops its state and waits for the snapshot
// that follows; `work` messages fill the gallery. It reconnects with exponential backoff when the socket
// closes, and for a fresh snapshot when an event's seq does not follow the last one. In a salon it shows the
// board (salon.js) from the snapshot and each `salon` message. It sends nothing.
//
// window.aurora, for automated checks (tests/audio_gateway/test_page.py) and the curious. Counts run from the
// page's load; a snapshot does not reset them.
//   connected    bool          the WebSocket is open
//   seq          int           the seq of the last snapshot or event applied (0 before the first snapshot)
//   snapshotSeq  int | null    the seq of the last snapshot applied
//   snapshots    int           snapshots applied
//   resyncs      int           `resync` messages received
//   gaps         int           events whose seq did not follow the last one (each costs a reconnect)
//   reconnects   int           sockets opened after the first
//   audio        str           "off" before Enable sound is clicked, then the AudioContext's state
//                              ("running", "suspended" while sound is paused, ...)
//   drawn        {agent: int}  events applied to that agent's model, and so drawn: every kind, `new` included
//   notes        {agent: int}  `note` events applied, whether they were played or not
//   scheduled    {agent: int}  notes scheduled on the AudioContext: a `note` event counts here when, at the
//                              moment the page applies it, sound is on (enabled and not paused: the context's
//                              state is "running") and the agent is not muted. Its oscillators are then given
//                              their start and stop times on the context's clock (at the agent's playhead: an
//                              agent's notes and rests play one after another, see audio.js). A note that
//                              arrives while sound is off or paused, or its agent muted, counts in `notes`
//                              only, and is never played later. Volume 0 is not mute: those notes count here.
//   late         {agent: int}  of the scheduled, notes started at once because the agent's music had fallen
//                              more than 2 s behind (they overlap what still sounds)
//   mode         str | null    the studio's mode from the last snapshot: "isolated" or "salon" (1.8)
//   salon        int           `salon` messages applied (a post, reply or reaction changed a post)

import { Salon } from "./salon.js";
import { Sound } from "./audio.js";
import { Studio } from "./studio.js";
import { AgentCard, Gallery } from "./view.js";

const BACKOFF_MIN = 0.5; // seconds before the first reconnect, doubling up to BACKOFF_MAX
const BACKOFF_MAX = 15;

const aurora = {
  connected: false, seq: 0, snapshotSeq: null, snapshots: 0, resyncs: 0, gaps: 0, reconnects: 0, audio: "off",
  drawn: {}, notes: {}, scheduled: {}, late: {}, mode: null, salon: 0,
};
window.aurora = aurora;

const studio = new Studio();
const sound = new Sound();
const gallery = new Gallery();
const salon = new Salon();
const cards = new Map(); // agent -> AgentCard
const dirty = new Set(); // agents whose words or cursor changed since the last frame
let frame = 0;

const $ = (id) => document.getElementById(id);
const count = (counter, name) => { counter[name] = (counter[name] ?? 0) + 1; };

// -- the view ---------------------------------------------------------------------------------------------

function cardOf(name) {
  let card = cards.get(name);
  if (!card) {
    card = new AgentCard(name, sound);
    cards.set(name, card);
    const names = [...cards.keys()].sort();
    $("studio").append(...names.map((n) => cards.get(n).el)); // moves them into name order
    $("studio-empty").hidden = true;
    sound.layout(names);
    if ($("connection").dataset.state === "live") showLive(); // an agent that joins while the page is live
  }
  return card;
}

function render() {
  frame = 0;
  for (const name of dirty) {
    const agent = studio.agents.get(name);
    if (agent) cards.get(name)?.update(agent, studio);
  }
  dirty.clear();
}

function changed(name) {
  dirty.add(name);
  if (!frame) frame = requestAnimationFrame(render);
}

function showConnection(state, text) {
  const el = $("connection");
  el.dataset.state = state;
  el.textContent = text;
  document.body.classList.toggle("stale", state !== "live");
}

// -- the messages -----------------------------------------------------------------------------------------

function onSnapshot(msg) {
  studio.load(msg);
  aurora.snapshots += 1;
  aurora.seq = aurora.snapshotSeq = msg.seq;
  for (const [name, card] of cards) {
    if (!studio.agents.has(name)) {
      card.el.remove();
      cards.delete(name);
    }
  }
  for (const [name, agent] of studio.agents) {
    cardOf(name).drawAll(agent, studio);
    changed(name);
  }
  $("studio-empty").hidden = cards.size > 0;
  gallery.merge(msg.works ?? []);
  salon.load(msg, studio);
  aurora.mode = salon.mode;
  attempts = 0;
  showLive();
}

function showLive() {
  showConnection("live", `live · ${cards.size} agent${cards.size === 1 ? "" : "s"}`);
}

function onEvent(msg) {
  if (!studio.synced || msg.seq <= studio.seq) return; // before the snapshot, or already in it
  if (msg.seq !== studio.seq + 1) {
    aurora.gaps += 1;
    reconnect("gap"); // events were lost: a fresh snapshot holds them
    return;
  }
  const change = studio.apply(msg);
  aurora.seq = msg.seq;
  const name = msg.agent;
  const agent = studio.agents.get(name);
  if (!agent) return;
  count(aurora.drawn, name);
  const card = cardOf(name);
  if (change.redraw) card.drawAll(agent, studio);
  else if (change.painted) card.paint(agent, studio, change.painted);
  if (change.note) {
    count(aurora.notes, name);
    const played = sound.play(name, change.note, agent.state.tempo);
    if (played.scheduled) {
      count(aurora.scheduled, name);
      if (played.late) count(aurora.late, name);
      card.flash(Math.max(0, played.start - sound.ctx.currentTime));
    }
  }
  if (change.rest) sound.rest(name, change.rest, agent.state.tempo);
  changed(name);
}

function onResync(msg) {
  aurora.resyncs += 1;
  studio.reset(); // the page keeps showing the old state, greyed, until the snapshot that follows
  showConnection("resync", `catching up (${msg.reason ?? "resync"})…`);
}

const HANDLERS = {
  snapshot: onSnapshot,
  event: onEvent,
  work: (msg) => gallery.merge([msg]),
  salon: (msg) => {
    if (!studio.synced) return; // before the snapshot: the snapshot holds it
    salon.update(msg, studio);
    aurora.salon = salon.updates;
  },
  resync: onResync,
};

// -- the socket -------------------------------------------------------------------------------------------

let socket = null;
let attempts = 0; // reconnects since the last snapshot
let timer = 0;

function connect() {
  clearTimeout(timer);
  const url = new URL("ws", location.href); // /ws beside the page
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.search = url.hash = "";
  const ws = new WebSocket(url);
  socket = ws;
  showConnection("connecting", "connecting…");
  ws.onopen = () => {
    if (ws !== socket) return;
    aurora.connected = true;
    showConnection("open", "connected, waiting for the studio…");
  };
  ws.onmessage = (e) => {
    if (ws !== socket) return;
    let msg;
    try {
      msg = JSON.parse(e.data);
    } catch {
      return; // not JSON: not from a gateway that speaks section 12
    }
    HANDLERS[msg?.type]?.(msg);
  };
  ws.onclose = (e) => {
    if (ws !== socket) return;
    socket = null;
    aurora.connected = false;
    studio.synced = false;
    const delay = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** attempts) * (0.5 + Math.random() / 2);
    attempts += 1;
    const why = e.code === 1008 ? "refused (too many viewers from here?)"
      : e.code === 1013 ? "dropped: this page fell behind" : `closed (${e.code})`;
    showConnection("closed", `${why}; retrying in ${delay.toFixed(1)} s`);
    timer = setTimeout(() => {
      aurora.reconnects += 1;
      connect();
    }, delay * 1000);
  };
}

/** Close the socket and open a new one, for a fresh snapshot. */
function reconnect(reason) {
  studio.synced = false;
  socket?.close(4000, reason); // onclose reconnects
}

// -- the controls -----------------------------------------------------------------------------------------

function soundButton() {
  const button = $("enable-sound");
  const show = () => {
    aurora.audio = sound.state;
    button.textContent = sound.state === "running" ? "Pause sound" : sound.state === "off" ? "Enable sound"
      : "Resume sound";
    button.setAttribute("aria-pressed", String(sound.state === "running"));
  };
  button.addEventListener("click", async () => {
    if (sound.state === "running") await sound.ctx.suspend();
    else {
      await sound.enable();
      sound.ctx.onstatechange = show;
      sound.setMaster(Number($("master-volume").value));
    }
    show();
  });
  $("master-volume").addEventListener("input", (e) => sound.setMaster(Number(e.target.value)));
}

soundButton();
window.addEventListener("online", () => { if (!socket) connect(); });
connect();
