// The notes, heard with the Web Audio API. Each agent is a channel: its own voice (oscillator type, envelope,
// detune, an optional octave partial, all chosen from a hash of its name, so the same agent always sounds the
// same), its own place in the stereo field, a volume and a mute. Pitch comes from the note's `midi`, duration
// from its `beats` at its `tempo` (seconds = beats * 60 / tempo) and loudness from its `velocity`.
//
// An agent's notes and rests are played one after another, as it wrote them: each note starts where the
// agent's previous note or rest ended, or now if that is past. An agent that writes music faster than it can
// be played would drift ever further behind the canvas, so when its next note would start more than
// MAX_AHEAD seconds from now, it starts now instead (counted in `late`) and overlaps what is still sounding.

const TYPES = ["sine", "triangle", "square", "sawtooth"];
const TYPE_GAIN = { sine: 1.0, triangle: 0.9, square: 0.35, sawtooth: 0.4 }; // about equally loud
const LEAD = 0.03; // seconds between a note's arrival and its start: room for the scheduling itself
const MAX_AHEAD = 2.0;
const MAX_VOICES = 12; // per agent; past it the oldest note is faded out early
const PEAK = 0.3; // the gain of a velocity-127 sine note at volume 1

/** FNV-1a, 32 bits: a stable number from a name. */
export function hashName(name) {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** An agent's voice, a pure function of its name. */
export function voiceOf(name) {
  const h = hashName(name);
  const type = TYPES[h % TYPES.length];
  return {
    type,
    attack: 0.004 + ((h >>> 4) % 8) * 0.006, // 4 to 46 ms
    sustain: 0.45 + ((h >>> 8) % 6) * 0.1, // level held after the attack, of the peak
    release: 0.05 + ((h >>> 12) % 6) * 0.05, // 50 to 300 ms after the note's end
    detune: (((h >>> 16) % 11) - 5) * 2, // cents
    partial: ((h >>> 20) & 1) === 1 && type !== "sawtooth", // an octave above, quietly
    gain: TYPE_GAIN[type],
  };
}

export function midiToHz(midi) {
  return 440 * 2 ** ((midi - 69) / 12);
}

/** Stereo positions spread evenly across agents, in name order, from -0.8 to 0.8. */
export function panOf(index, count) {
  return count <= 1 ? 0 : -0.8 + (1.6 * index) / (count - 1);
}

const STORE = "aurora.mix."; // localStorage key prefix of an agent's volume and mute

export class Sound {
  constructor() {
    this.ctx = null;
    this.master = null;
    this.channels = new Map(); // name -> {voice, gain, panner, playhead, voices}
    this.mix = new Map(); // name -> {volume, muted}: set before or after sound is on, kept across visits
    this.order = [];
  }

  get state() {
    return this.ctx ? this.ctx.state : "off";
  }

  get on() {
    return this.ctx !== null && this.ctx.state === "running";
  }

  /** Start the AudioContext; browsers allow it only from a user gesture (a click). */
  async enable() {
    if (!this.ctx) {
      this.ctx = new AudioContext({ latencyHint: "interactive" });
      const limiter = new DynamicsCompressorNode(this.ctx, { threshold: -10, knee: 6, ratio: 12 });
      this.master = new GainNode(this.ctx, { gain: 0.8 });
      this.master.connect(limiter).connect(this.ctx.destination);
      this.layout(this.order);
    }
    await this.ctx.resume();
  }

  /** The volume of all agents together, 0 to 1. */
  setMaster(volume) {
    if (this.master) this.master.gain.setTargetAtTime(volume, this.ctx.currentTime, 0.02);
  }

  mixOf(name) {
    let m = this.mix.get(name);
    if (!m) {
      m = { volume: 0.8, muted: false };
      try {
        Object.assign(m, JSON.parse(localStorage.getItem(STORE + name) ?? "{}"));
      } catch { /* storage unavailable or unreadable: the defaults */ }
      this.mix.set(name, m);
    }
    return m;
  }

  setMix(name, change) {
    const m = Object.assign(this.mixOf(name), change);
    try {
      localStorage.setItem(STORE + name, JSON.stringify(m));
    } catch { /* storage unavailable: the setting lasts this visit */ }
    const ch = this.channels.get(name);
    if (ch) ch.gain.gain.setTargetAtTime(m.muted ? 0 : m.volume, this.ctx.currentTime, 0.02);
    return m;
  }

  /** The agents present, in any order: each gets a channel and its stereo position. */
  layout(names) {
    this.order = [...names].sort();
    if (!this.ctx) return;
    this.order.forEach((name, i) => {
      this.channel(name).panner.pan.setTargetAtTime(panOf(i, this.order.length), this.ctx.currentTime, 0.05);
    });
  }

  channel(name) {
    let ch = this.channels.get(name);
    if (!ch) {
      const m = this.mixOf(name);
      const gain = new GainNode(this.ctx, { gain: m.muted ? 0 : m.volume });
      const panner = new StereoPannerNode(this.ctx, { pan: 0 });
      gain.connect(panner).connect(this.master);
      ch = { voice: voiceOf(name), gain, panner, playhead: 0, voices: [] };
      this.channels.set(name, ch);
    }
    return ch;
  }

  /** Play a note (a `note` event's data) in the agent's voice. Returns where it was put:
   * {scheduled: false} when sound is off or the agent muted, else {scheduled: true, start, late}. */
  play(name, note, tempo) {
    if (!this.on || this.mixOf(name).muted) return { scheduled: false };
    const ctx = this.ctx;
    const ch = this.channel(name);
    const v = ch.voice;
    const now = ctx.currentTime;
    const seconds = (note.beats * 60) / (note.tempo || tempo || 100);
    let start = Math.max(ch.playhead, now + LEAD);
    const late = start > now + MAX_AHEAD;
    if (late) start = now + LEAD;
    const end = start + Math.max(seconds, v.attack + 0.01);
    ch.playhead = start + seconds;

    const peak = PEAK * v.gain * (Math.max(1, Math.min(127, note.velocity)) / 127) ** 1.5;
    const env = new GainNode(ctx, { gain: 0 });
    env.gain.setValueAtTime(0, start);
    env.gain.linearRampToValueAtTime(peak, start + v.attack);
    env.gain.setTargetAtTime(peak * v.sustain, start + v.attack, Math.max(0.02, seconds / 4));
    env.gain.setTargetAtTime(0, end, v.release / 4);
    env.connect(ch.gain);
    const oscs = [new OscillatorNode(ctx, { type: v.type, frequency: midiToHz(note.midi), detune: v.detune })];
    if (v.partial) {
      const quiet = new GainNode(ctx, { gain: 0.25 });
      quiet.connect(env);
      oscs.push(new OscillatorNode(ctx, { type: "sine", frequency: midiToHz(note.midi + 12) }));
      oscs[1].connect(quiet);
    }
    oscs[0].connect(env);
    const stopAt = end + v.release;
    const sounding = { env, oscs };
    for (const osc of oscs) {
      osc.start(start);
      osc.stop(stopAt);
    }
    oscs[0].onended = () => {
      env.disconnect();
      const i = ch.voices.indexOf(sounding);
      if (i >= 0) ch.voices.splice(i, 1);
    };
    ch.voices.push(sounding);
    if (ch.voices.length > MAX_VOICES) this.steal(ch.voices.shift());
    return { scheduled: true, start, late };
  }

  /** A `rest` event: the agent's next note waits for it. */
  rest(name, rest, tempo) {
    if (!this.on) return;
    const ch = this.channel(name);
    const now = this.ctx.currentTime;
    ch.playhead = Math.max(ch.playhead, now + LEAD) + (rest.beats * 60) / (tempo || 100);
    if (ch.playhead > now + MAX_AHEAD) ch.playhead = now + LEAD;
  }

  steal(sounding) {
    const now = this.ctx.currentTime;
    sounding.env.gain.cancelScheduledValues(now);
    sounding.env.gain.setTargetAtTime(0, now, 0.01);
    for (const osc of sounding.oscs) osc.stop(now + 0.06);
  }
}
