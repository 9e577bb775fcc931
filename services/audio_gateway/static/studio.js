// The studio as the page knows it: one model per agent, built from the gateway's snapshot and kept live by its
// events (PROTOCOL.md sections 5 and 12). It follows proto/canvas.py's rules, but needs no op parser: a
// `stroke` carries the cells it painted and its colour, a `move` its cursor, a `tool` the tool state.

// Colour name -> cell code, a copy of proto/ops/table.py's COLOURS (a `stroke` names its colour, the cells hold
// codes). tests/audio_gateway/test_page.py keeps the two equal. A snapshot that carries its own `colors` map
// (name -> code) is used instead.
export const COLOUR_CODES = {
  black: "k", white: "w", gray: "a", red: "r", orange: "o", yellow: "y", lime: "l", green: "g",
  teal: "t", cyan: "c", blue: "b", navy: "n", purple: "p", magenta: "m", pink: "i", brown: "u",
};
export const BLANK = ".";

// The kinds that carry an op and so count as one op applied on the canvas (proto/events.py OP_KINDS).
const OP_KINDS = new Set(["stroke", "move", "tool", "note", "rest", "tempo", "feel", "title", "done"]);
const STATUS_OF_KIND = { joined: "live", missing: "missing", left: "away" };
// The state fields an event carries, copied as they are (the rest of proto/canvas.py's state follows from them).
const STATE_OF_KIND = {
  stroke: ["color", "cursor"], move: ["cursor"], tool: ["pen", "color", "brush"], tempo: ["tempo"], feel: ["feel"],
  title: ["title"],
};

export class Agent {
  constructor(name, width, height) {
    this.name = name;
    this.width = width;
    this.height = height;
    this.state = { cursor: [0, 0], pen: "up", color: "black", brush: "dot", tempo: 100, work: 1, title: null,
                   feel: null, ops: 0 };
    this.status = "live";
    this.activity = null; // the data of its last `status` event
    this.lastWork = null; // {work, title} of its last finished work
    this.lastNote = null;
    this.newWork(1);
  }

  static fromSnapshot(name, c) {
    const agent = new Agent(name, c.width, c.height);
    agent.cells = c.cells.join("").split("");
    Object.assign(agent.state, c.state);
    agent.status = c.status ?? "away";
    agent.activity = c.activity ?? null;
    return agent;
  }

  /** A blank canvas for work number `work`; the tools (colour, brush, tempo) carry over (CanvasModel.new_work). */
  newWork(work) {
    this.cells = new Array(this.width * this.height).fill(BLANK);
    Object.assign(this.state, { work, title: null, pen: "up",
                                cursor: [Math.floor(this.width / 2), Math.floor(this.height / 2)] });
  }

  cell(x, y) {
    return this.cells[y * this.width + x];
  }
}

/**
 * Every agent's model. `apply` takes one `event` message and returns what changed, for the view and the sound:
 * {agent, painted: [[x, y], ...] | null, redraw: bool, note: data | null, rest: data | null}.
 */
export class Studio {
  constructor() {
    this.reset();
  }

  reset() {
    this.agents = new Map();
    this.seq = 0;
    this.synced = false;
    this.palette = {};
    this.codes = COLOUR_CODES;
    this.works = [];
  }

  load(snapshot) {
    this.reset();
    this.seq = snapshot.seq;
    this.palette = snapshot.palette ?? {};
    if (snapshot.colors) this.codes = snapshot.colors;
    for (const [name, c] of Object.entries(snapshot.canvases ?? {})) {
      this.agents.set(name, Agent.fromSnapshot(name, c));
    }
    for (const w of snapshot.works ?? []) { // newest first: the first of an agent's is its last finished
      const agent = this.agents.get(w.agent);
      if (agent && !agent.lastWork) agent.lastWork = { work: w.work, title: w.title };
    }
    this.synced = true;
  }

  /** The hex colour of a cell code, or null for a blank cell. */
  rgb(code) {
    return code === BLANK ? null : (this.palette[code] ?? null);
  }

  apply(msg) {
    const { agent: name, kind } = msg;
    const data = msg.data ?? {};
    this.seq = msg.seq;
    const change = { agent: name, painted: null, redraw: false, note: null, rest: null };
    let agent = this.agents.get(name);
    if (kind === "new") {
      if (!agent) {
        agent = new Agent(name, data.width, data.height);
        this.agents.set(name, agent);
      }
      agent.newWork(data.work);
      change.redraw = true;
      return change;
    }
    if (!agent) return change; // an event for an agent with no canvas yet (the canvas always sends `new` first)
    const state = agent.state;
    if (OP_KINDS.has(kind)) state.ops += 1;
    for (const key of STATE_OF_KIND[kind] ?? []) state[key] = data[key];
    if (kind === "stroke") {
      const code = this.codes[data.color] ?? BLANK;
      for (const [x, y] of data.cells) {
        if (x >= 0 && x < agent.width && y >= 0 && y < agent.height) agent.cells[y * agent.width + x] = code;
      }
      state.pen = "down";
      change.painted = data.cells;
    } else if (kind === "note") {
      agent.lastNote = change.note = data;
    } else if (kind === "rest") {
      change.rest = data;
    } else if (kind === "done") {
      agent.lastWork = { work: data.work, title: data.title ?? null };
    } else if (kind === "status") {
      agent.activity = data;
    } else if (kind in STATUS_OF_KIND) {
      agent.status = STATUS_OF_KIND[kind];
    }
    return change;
  }
}
