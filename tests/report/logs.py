"""Recorded logs for the report's tests, with what was planted in them and what they hold, tallied as they are
written (not read back from the record, so that the report is checked against the log, not against itself).

`play` writes a studio of two models into a real valkey with tests/support/record_writer.py: agent "ada"
(model "planted") plays notes whose pitch rises with the brightness of the active colour and whose velocity is
loud under red and quiet under blue; agent "bo" (model "none") picks colour, pitch and velocity independently.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from proto.ops.table import COLOURS
from services.report.association import BRIGHTNESS
from tests.support.record_writer import RecordWriter

T0 = 1_800_000_000.0  # the first event's time
STEP = 30.0  # seconds between two decisions of an agent
PITCHES = ["C", "D", "E", "F", "G", "A", "B"]
SEMITONE = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
FEELINGS = {"ada": ["calm", "bright", "tender", "calm", "glad"], "bo": ["calm", "restless", "grey", "odd"]}
MODELS = {"ada": "planted", "bo": "none"}


@dataclass
class Tally:
    decisions: int = 0
    applied: int = 0  # ops whose events were written (tallied from the writer's events: a stroke is one op)
    rejected: int = 0
    notes: list[tuple[float, str, int, int]] = field(default_factory=list)  # (time, colour, midi, velocity)
    feelings: Counter = field(default_factory=Counter)
    feeling_times: list[float] = field(default_factory=list)
    works: list[tuple[int, str | None, str | None]] = field(default_factory=list)  # (work, title, statement)


def _note(rng: random.Random, agent: str, colour: str) -> tuple[str, int, int]:
    """(op text, midi, velocity) of one note, planted or not."""
    if agent == "ada":
        octave = 2 + round(BRIGHTNESS[colour] * 4)  # black: 2 ... white: 6
        velocity = 120 if colour == "red" else 15 if colour == "blue" else rng.randint(50, 90)
    else:
        octave, velocity = rng.randint(2, 6), rng.randint(1, 127)
    letter = rng.choice(PITCHES)
    midi = 12 * (octave + 1) + SEMITONE[letter]
    return f"note {letter}{octave} quarter {velocity}", midi, velocity


def play(w: RecordWriter, *, decisions: int = 120, seed: int = 7) -> dict[str, Tally]:
    rng = random.Random(seed)
    tallies: dict[str, Tally] = defaultdict(Tally)
    w.now = T0
    for agent in ("ada", "bo"):
        w.join(agent, 16, 8, model=MODELS[agent])
    for i in range(decisions):
        for agent in ("ada", "bo"):
            w.now = T0 + i * STEP + (1.0 if agent == "bo" else 0.0)
            t = tallies[agent]
            lines, refused = [], []
            colour = rng.choice(list(COLOURS))
            lines += [f"color {colour}", "pen down", f"move {rng.choice(['right', 'down', 'left', 'up'])} 2"]
            for _ in range(2):
                text, midi, velocity = _note(rng, agent, colour)
                lines.append(text)
                t.notes.append((w.now, colour, midi, velocity))
            if i % 3 == 0:
                word = FEELINGS[agent][(i // 3) % len(FEELINGS[agent])]
                lines.append(f"feel {word}")
                t.feelings[word] += 1
                t.feeling_times.append(w.now)
            if i % 7 == 6:
                refused.append("paint the sky")
            finishing = i % 25 == 24
            title = f"Piece {i}" if finishing and i % 50 == 24 else None  # every other work is untitled
            if title:
                lines.append(f'title "{title}"')
            if finishing:
                lines.append("done")
            before = w.seq
            w.decide(agent, lines, refused)
            t.decisions += 1
            t.rejected += len(refused)
            t.applied += sum(1 for s in range(before + 1, w.seq + 1) if w.bodies[s]["kind"] not in ("rejected", "new"))
            if finishing:
                work = len(t.works) + 1
                statement = f"{agent} closes work {work} | with <b>care</b>" if work == 1 else None
                if statement:
                    w.event(agent, "statement", {"work": work, "text": statement})
                t.works.append((work, title, statement))
    return tallies
