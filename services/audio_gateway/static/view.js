// What the page shows: a card per agent (its canvas, drawn one pixel per cell and scaled up by CSS, its
// status, feeling, work and mix controls) and the gallery of finished works. Everything an agent wrote (its
// titles, feelings, statements) goes in as text, never as HTML.

const GALLERY_SIZE = 60;
const STILL = matchMedia("(prefers-reduced-motion: reduce)");

function clone(id) {
  return document.getElementById(id).content.firstElementChild.cloneNode(true);
}

function clock(unixSeconds) {
  return new Date(unixSeconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** A work's PNG address, if it is a path on this server (never another origin, never a script). */
export function safePath(url) {
  return typeof url === "string" && /^\/(?!\/)[^\s\\]*$/.test(url) ? url : null;
}

export class AgentCard {
  constructor(name, sound) {
    this.name = name;
    this.el = clone("agent-card");
    this.el.dataset.agent = name;
    this.q = (sel) => this.el.querySelector(sel);
    this.q(".name").textContent = name;
    this.canvas = this.q("canvas");
    this.canvas.setAttribute("aria-label", `${name}'s canvas`);
    this.ctx = this.canvas.getContext("2d", { alpha: true });
    this.cursor = this.q(".cursor");
    this.frame = this.q(".frame");
    const mute = this.q(".mute");
    const volume = this.q(".volume");
    const mix = sound.mixOf(name);
    volume.value = String(mix.volume);
    volume.setAttribute("aria-label", `${name}'s volume`);
    const showMute = (m) => {
      mute.textContent = m.muted ? "Unmute" : "Mute";
      mute.setAttribute("aria-pressed", String(m.muted));
      this.el.classList.toggle("muted", m.muted);
    };
    showMute(mix);
    mute.addEventListener("click", () => showMute(sound.setMix(name, { muted: !sound.mixOf(name).muted })));
    volume.addEventListener("input", () => sound.setMix(name, { volume: Number(volume.value) }));
  }

  /** Draw every cell: after a snapshot, or when a new work begins. */
  drawAll(agent, studio) {
    if (this.canvas.width !== agent.width || this.canvas.height !== agent.height) {
      this.canvas.width = agent.width; // resizing clears it
      this.canvas.height = agent.height;
      this.el.style.setProperty("--cells-x", agent.width);
      this.el.style.setProperty("--cells-y", agent.height);
    } else {
      this.ctx.clearRect(0, 0, agent.width, agent.height);
    }
    for (let y = 0; y < agent.height; y++) {
      for (let x = 0; x < agent.width; x++) this.fill(x, y, studio.rgb(agent.cell(x, y)));
    }
  }

  /** Draw the cells one stroke painted. */
  paint(agent, studio, cells) {
    for (const [x, y] of cells) {
      if (x >= 0 && x < agent.width && y >= 0 && y < agent.height) this.fill(x, y, studio.rgb(agent.cell(x, y)));
    }
  }

  fill(x, y, rgb) {
    if (rgb === null) {
      this.ctx.clearRect(x, y, 1, 1);
    } else {
      this.ctx.fillStyle = rgb;
      this.ctx.fillRect(x, y, 1, 1);
    }
  }

  /** The words and the cursor: cheap, but done at most once a frame (see App.render). */
  update(agent, studio) {
    const s = agent.state;
    const [cx, cy] = s.cursor;
    const style = this.cursor.style;
    style.left = `${(100 * cx) / agent.width}%`;
    style.top = `${(100 * cy) / agent.height}%`;
    style.width = `${100 / agent.width}%`;
    style.height = `${100 / agent.height}%`;
    style.setProperty("--ink", studio.rgb(studio.codes[s.color]) ?? "#888");
    this.cursor.classList.toggle("down", s.pen === "down");

    const status = this.q(".status");
    status.dataset.status = agent.status;
    let text = agent.status;
    const act = agent.activity;
    // A live agent's activity; an agent away on its turn's rest (`aurora up` taking turns) says until when.
    if (act && act.activity && (agent.status === "live" || act.activity === "waiting")) {
      text = act.activity + (act.until ? ` until ${clock(act.until)}` : "");
      status.title = act.reason ?? "";
    } else {
      status.title = "";
    }
    status.textContent = text;
    this.q(".feel").textContent = s.feel ?? "—";
    this.q(".work").textContent = `#${s.work}` + (s.title ? ` “${s.title}”` : "");
    const last = agent.lastWork;
    this.q(".last").textContent = last ? `#${last.work} “${last.title ?? "untitled"}”` : "—";
    const n = agent.lastNote;
    this.q(".note").textContent = n ? `${n.pitch} ${n.duration}, velocity ${n.velocity}, ${n.tempo} bpm` : "—";
  }

  /** Light the card's frame when a note starts, `delay` seconds from now. */
  flash(delay) {
    if (STILL.matches) return;
    this.frame.animate([{ boxShadow: "0 0 0 3px rgb(53 208 232 / 0.8)" }, { boxShadow: "0 0 0 0 transparent" }],
                             { duration: 350, delay: delay * 1000, easing: "ease-out" });
  }
}

export class Gallery {
  constructor() {
    this.list = document.getElementById("gallery");
    this.empty = document.getElementById("gallery-empty");
    this.works = new Map(); // "agent/work" -> work
    this.cards = new Map(); // "agent/work" -> {li, shown}: a card is made again only when its work changed
  }

  /** Add or update works (a snapshot's `works`, or one `work` message). */
  merge(works) {
    for (const w of works) {
      const key = `${w.agent}/${w.work}`;
      this.works.set(key, { ...this.works.get(key), ...w });
    }
    const newest = [...this.works.values()].sort((a, b) => b.done_seq - a.done_seq);
    for (const w of newest.slice(GALLERY_SIZE)) this.works.delete(`${w.agent}/${w.work}`);
    this.render(newest.slice(0, GALLERY_SIZE));
  }

  render(works) {
    const cards = new Map();
    for (const w of works) {
      const key = `${w.agent}/${w.work}`;
      const shown = JSON.stringify(w);
      const old = this.cards.get(key);
      cards.set(key, old && old.shown === shown ? old : { li: this.card(w), shown });
    }
    this.cards = cards;
    this.list.replaceChildren(...[...cards.values()].map((c) => c.li));
    this.empty.hidden = cards.size > 0;
  }

  card(w) {
    const li = clone("work-card");
    li.dataset.agent = w.agent;
    li.dataset.work = String(w.work);
    const title = w.title ?? "untitled";
    const img = li.querySelector("img");
    const src = safePath(w.png);
    if (src) {
      img.src = src;
      img.alt = `“${title}” by ${w.agent}`;
      img.addEventListener("error", () => { img.hidden = true; });
    } else {
      img.hidden = true;
    }
    li.querySelector(".title").textContent = title;
    li.querySelector(".by").textContent = `${w.agent} · work ${w.work}`;
    const statement = li.querySelector(".statement");
    statement.textContent = w.statement ?? "";
    statement.hidden = !w.statement;
    return li;
  }
}
