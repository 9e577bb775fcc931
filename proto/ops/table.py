"""The op-code language, defined once.

The parser (`proto.ops.parser`), the GBNF grammar for constrained decoding (`proto.ops.grammar`), the manual
shown to the models (`proto.ops.manual`) and the test strategies are all generated from the tables below.
Change the language here and everything else follows; `LANGUAGE_VERSION` changes with it (a digest of the
table), so caches keyed on it are invalidated.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from proto.ops.words import WORDS_DIGEST

DIRECTIONS: dict[str, tuple[int, int]] = {
    "up": (0, -1),
    "down": (0, 1),
    "left": (-1, 0),
    "right": (1, 0),
    "up-left": (-1, -1),
    "up-right": (1, -1),
    "down-left": (-1, 1),
    "down-right": (1, 1),
}


class Colour(NamedTuple):
    code: str  # the one character that stands for the colour in the ASCII view
    rgb: str  # for browsers and PNGs


COLOURS: dict[str, Colour] = {
    "black": Colour("k", "#1b1b1b"),
    "white": Colour("w", "#f4f4f4"),
    "gray": Colour("a", "#8a8a8a"),
    "red": Colour("r", "#e0312b"),
    "orange": Colour("o", "#f08a24"),
    "yellow": Colour("y", "#f5d327"),
    "lime": Colour("l", "#9be33a"),
    "green": Colour("g", "#2e9e44"),
    "teal": Colour("t", "#1e8c86"),
    "cyan": Colour("c", "#35d0e8"),
    "blue": Colour("b", "#2f5fe0"),
    "navy": Colour("n", "#1a2a6c"),
    "purple": Colour("p", "#8340c8"),
    "magenta": Colour("m", "#d936b5"),
    "pink": Colour("i", "#f59ac0"),
    "brown": Colour("u", "#8b5a2b"),
}
BLANK = "."
CODE_TO_COLOUR = {c.code: name for name, c in COLOURS.items()}

# Cells each brush paints, as offsets from the cursor.
BRUSHES: dict[str, tuple[tuple[int, int], ...]] = {
    "dot": ((0, 0),),
    "cross": ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)),
    "square": tuple((dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)),
    "circle": tuple((dx, dy) for dy in range(-2, 3) for dx in range(-2, 3) if dx * dx + dy * dy <= 4),
}

DURATIONS: dict[str, float] = {"whole": 4.0, "half": 2.0, "quarter": 1.0, "eighth": 0.5, "sixteenth": 0.25}

PITCH_LETTERS = "CDEFGAB"
SEMITONES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
ACCIDENTALS = {"": 0, "#": 1, "b": -1}
OCTAVES = (2, 3, 4, 5, 6)

MAX_OPS_PER_DECISION = 64
ID_DIGITS = 6


class Arg(NamedTuple):
    """One argument of an op. `kind` is one of: choice, int, word, text, pitch, id (a salon post's number:
    1 and up, at most ID_DIGITS digits; the board, not the grammar, knows which exist)."""

    name: str
    kind: str
    choices: tuple[str, ...] = ()
    lo: int = 0
    hi: int = 0
    max_len: int = 0
    default: object = None  # an argument with a default may be left out


class OpSpec(NamedTuple):
    name: str
    args: tuple[Arg, ...]
    summary: str
    aliases: tuple[str, ...] = ()


def _choice(name: str, choices) -> Arg:
    return Arg(name, "choice", tuple(choices))


OPS: dict[str, OpSpec] = {
    spec.name: spec
    for spec in (
        OpSpec(
            "move",
            (_choice("direction", DIRECTIONS), Arg("steps", "int", lo=1, hi=32, default=1)),
            "move the cursor; walls stop it; with the pen lowered, each cell reached is painted",
        ),
        OpSpec("pen", (_choice("position", ("up", "down")),), "lift or lower the pen; lowering it paints the cell under the cursor"),
        OpSpec("color", (_choice("colour", COLOURS),), "choose the paint colour", aliases=("colour",)),
        OpSpec("brush", (_choice("shape", BRUSHES),), "choose the brush"),
        OpSpec(
            "note",
            (Arg("pitch", "pitch"), _choice("duration", DURATIONS), Arg("velocity", "int", lo=1, hi=127)),
            "play a note: pitch (a letter, optional # or b, an octave), duration, loudness",
        ),
        OpSpec("rest", (_choice("duration", DURATIONS),), "a silence"),
        OpSpec("tempo", (Arg("bpm", "int", lo=40, hi=240),), "set the speed in beats per minute"),
        OpSpec("feel", (Arg("word", "word", max_len=24),), "name what you feel, in one word"),
        OpSpec("title", (Arg("text", "text", max_len=60),), "give the current work a title"),
        OpSpec("done", (), "the work is finished (it needs a painted cell); a blank canvas begins"),
        OpSpec("remember", (Arg("text", "text", max_len=60),), "keep a short note in your own memory"),
        OpSpec("look", (), "see your whole canvas at your next turn"),
        # The salon's ops (services/salon): in a studio of mode `salon` only, where the manual and the grammar
        # show them; an isolated studio refuses them (`not_salon`).
        OpSpec("post", (), "show your last finished work to the other agents in the salon"),
        OpSpec("reply", (Arg("post", "id"), Arg("text", "text", max_len=60)), "answer a work in the salon in words"),
        OpSpec("react", (Arg("post", "id"), Arg("word", "word", max_len=24)), "answer a work in the salon with one word"),
    )
}

SALON_OPS = ("post", "reply", "react")

# Ops the agent keeps to itself (its memory bank); the canvas applies nothing and publishes nothing for them.
# `look` only asks the agent to show the whole canvas again in the model's next turn.
AGENT_LOCAL_OPS = frozenset({"remember", "look"})

ALIASES: dict[str, str] = {alias: spec.name for spec in OPS.values() for alias in (spec.name, *spec.aliases)}


def _digest() -> str:
    parts = [repr(sorted(DIRECTIONS.items())), repr(sorted(COLOURS.items())), repr(sorted(BRUSHES.items())),
             repr(sorted(DURATIONS.items())), repr(OCTAVES), repr(MAX_OPS_PER_DECISION), repr(list(OPS.values())),
             WORDS_DIGEST]  # the feeling words are part of the language too
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


LANGUAGE_VERSION = _digest()
