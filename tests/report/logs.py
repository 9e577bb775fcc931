"""Recorded logs for the report's tests, with what was planted in them and what they hold, tallied as they are
written (not read back from the record, so that the report is checked against the log, not against itself).

`play` writes a studio of two models into a real valkey with tests/support/record_writer.py: agent "ada"
(model "planted") plays notes whose pitch rises with the brightness of the active colour and whose velocity is
loud under red and quiet under blue; agent "bo" (model "none") picks colour, pitch and velocity independently.
`play_authenticity` writes what the report's `authenticity` section measures: echo events, agents' own lists
and the choices made from them, blank works, repeated titles, feelings that are words or not.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from proto.canvas import CanvasModel
from proto.ops.manual import choice_lists
from proto.ops.parser import Op, parse_line
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


# -- authenticity: planted echoes, lists, blank works and choices ----------------------------------------------

COPYING = 5  # the words of a run that copies (services.report.authenticity.COPY_RUN_WORDS, stated here again)
RUN_A = "name what you feel, in one <b>word</b>"  # a copied run, with markup that must stay text
RUN_B = "You have finished work 4 and its title is"
AUTHENTIC = {  # agent -> (model, the seed of its lists or None for a record made before lists and echoes)
    "cy": ("mimic", 3), "di": ("mimic", 4), "ed": ("plain", None)}
WORDS = ["joy", "fear", "table", "window", "joy", "anger", "calm"]  # dictionary words, some of them emotions
OLD_WORDS = ["xqzvvb", "calm", "iremirim"]  # ed's: a record from before feelings had to be dictionary words


@dataclass
class Planted:
    model: str
    lists: dict[str, list[str]] | None
    choices: list[tuple[str, str]] = field(default_factory=list)  # (list, item) of every op applied, in order
    pitches: Counter = field(default_factory=Counter)
    titles: list[str] = field(default_factory=list)  # of every finished work
    says_studio: bool = False  # its echoes say studio_words
    blank: int = 0  # finished works with no painted cell
    echoes: list[tuple[str, int, str]] = field(default_factory=list)  # (of, words, run)
    feelings: Counter = field(default_factory=Counter)


def _plan(agent: str, lists: dict[str, list[str]], works: int, blank_at: set[int], feelings: list[str]):
    """(lines, choices) of each work's one decision: the choices as planted, not parsed back from the lines."""
    for i in range(works):
        lines: list[str] = []
        made: list[tuple[str, str]] = []

        def op(text: str, *choices: tuple[str, str]) -> None:
            lines.append(text)
            made.extend([("ops", text.split()[0]), *choices])

        if i not in blank_at:
            colour = lists["colour"][0] if i % 2 == 0 else lists["colour"][1 + i % 3]
            direction = lists["direction"][0 if i % 2 == 0 else 3]
            op(f"color {colour}", ("colour", colour))
            if i == 0:
                op(f"brush {lists['shape'][0]}", ("shape", lists["shape"][0]))
            op("pen down", ("position", "down"))
            op(f"move {direction} 1", ("direction", direction))
            letter = lists["letter"][0] if i < 6 else lists["letter"][4]
            octave = lists["octave"][i % 5]
            duration = lists["duration"][0 if i % 4 == 0 else 1]
            accidental = "#" if i == 3 else ""
            op(f"note {letter}{accidental}{octave} {duration} 80", ("letter", letter), ("octave", octave),
               ("duration", duration))
            if i == 1:
                op(f"rest {lists['duration'][2]}", ("duration", lists["duration"][2]))
            word = feelings[i % len(feelings)]
            op(f"feel {word}")
        title = "Blue Rain" if i % 3 == 0 else f"{agent} {i}"
        op(f'title "{title}"')
        op("done")
        yield i, lines, made, title


def studio_words(words: int) -> int:
    """The run of the studio's words that the log plants beside an echo of `words` (cy's echoes)."""
    return max(0, words - 3)


def play_authenticity(w: RecordWriter) -> dict[str, Planted]:
    """Three agents: cy and di (model "mimic") with lists of their own and echo events, ed (model "plain") as a
    record made before both (no `lists`, no `echo`, feelings that are no words). cy finishes 10 works, 2 of them
    blank; 3 of its 10 titles copy their prompt (runs of 5, 7 and 12 words), 1 of its 10 statements (5 words, the
    least that copies; the others 4), 2 of its 4 remember notes, none of its 2 dreams."""
    planted: dict[str, Planted] = {}
    w.now = T0
    for agent, (model, seed) in AUTHENTIC.items():
        lists = choice_lists(seed) if seed is not None else None
        planted[agent] = Planted(model, lists)
        w.event(agent, "joined", {"model": model} if lists is None else {"model": model, "lists": lists})
        w.canvases[agent] = CanvasModel(12, 6)
        w.sizes[agent] = (12, 6)
        w.event(agent, "new", {"work": 1, "width": 12, "height": 6})
    shapes = {"cy": (10, {2, 5}, [0, 1, 5, 2, 7, 4, 3, 12, 0, 1]), "di": (4, set(), [9, 0, 0, 4]),
              "ed": (3, {1}, [])}
    for agent, (works, blank_at, title_words) in shapes.items():
        p = planted[agent]
        order = p.lists or choice_lists()
        for i, lines, made, title in _plan(agent, order, works, blank_at, OLD_WORDS if agent == "ed" else WORDS):
            w.now += STEP
            old = [line for line in lines if not isinstance(parse_line(line), Op)]  # today's parser refuses them
            decision = w.decide(agent, [line for line in lines if line not in old],
                                refused=["color ultraviolet"] if i == 1 else [])
            for line in old:  # as the canvas published them then
                w.event(agent, "feel", {"op": line, "feel": line.split()[1]}, parent_id=decision)
            p.choices += made
            p.pitches.update(line.split()[1] for line in lines if line.startswith("note "))
            p.feelings.update(line.split()[1] for line in lines if line.startswith("feel "))
            p.titles.append(title)
            p.blank += i in blank_at
            if p.lists is None:
                continue
            runs = {2: RUN_A, 4: RUN_A, 7: RUN_B, 0: RUN_B}
            echoes = [("title", title_words[i], runs.get(i, "") if title_words[i] >= COPYING else "a run")]
            statement_words = 5 if i == 3 else 4
            echoes.append(("statement", statement_words, RUN_A if i == 3 else "four words of it"))
            if agent == "cy" and i < 4:
                echoes.append(("remember", 6 if i < 2 else 1, RUN_A if i < 2 else "the"))
                p.choices.append(("ops", "remember"))
            if agent == "cy" and i in (4, 8):
                echoes.append(("dream", 3, "my works were"))
            for of, words, run in echoes:
                # cy's runs of the studio's words are 3 shorter than its runs of the prompt (it repeats its own
                # memory too); di's echoes come from before the agents said it (no studio_words)
                p.says_studio = agent == "cy"
                studio = {"studio_words": studio_words(words)} if p.says_studio else {}
                w.event(agent, "echo", {"of": of, "work": i + 1, "words": words, "run": run, **studio})
                p.echoes.append((of, words, run))
    return planted
