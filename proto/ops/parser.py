"""Text to typed ops, generated from the table. Never raises: what is not an op comes back with a reason."""

from __future__ import annotations

import functools
import re
from typing import NamedTuple, Union

from proto.ops import words
from proto.ops.table import (
    ACCIDENTALS,
    ALIASES,
    ID_DIGITS,
    MAX_OPS_PER_DECISION,
    OCTAVES,
    OPS,
    SEMITONES,
    Arg,
)


class Op(NamedTuple):
    """A parsed op: its canonical name and its arguments, each already converted (ints as int)."""

    name: str
    args: tuple = ()

    @property
    def text(self) -> str:
        return format_op(self)


class Rejection(NamedTuple):
    text: str  # the offending line (cut to 80 characters)
    code: str  # a code from proto.errors.CODES
    reason: str


Parsed = Union[Op, Rejection]

_PITCH = re.compile(r"([A-Ga-g])([#b]?)([0-9])$")
_WORD = re.compile(r"[a-z]+$")


def pitch_to_midi(pitch: str) -> int:
    """MIDI number of a canonical pitch such as 'C#4' (C4 = 60)."""
    m = _PITCH.match(pitch)
    assert m, pitch
    return 12 * (int(m.group(3)) + 1) + SEMITONES[m.group(1).upper()] + ACCIDENTALS[m.group(2)]


def _parse_arg(arg: Arg, token: str) -> tuple[object, str | None]:
    """(value, None) or (None, reason)."""
    if arg.kind == "choice":
        value = token.lower()
        if value in arg.choices:
            return value, None
        return None, f"{arg.name} must be one of {', '.join(arg.choices)}; got {token[:24]!r}"
    if arg.kind == "int":
        # Length first: int() refuses strings of over 4300 digits, and the parser must never raise.
        if len(token) <= 6 and token.isascii() and token.isdigit() and arg.lo <= int(token) <= arg.hi:
            return int(token), None
        return None, f"{arg.name} must be a whole number from {arg.lo} to {arg.hi}; got {token[:24]!r}"
    if arg.kind == "id":
        if 1 <= len(token) <= ID_DIGITS and token.isascii() and token.isdigit() and token[0] != "0":
            return int(token), None
        return None, f"{arg.name} must be a number from 1 of at most {ID_DIGITS} digits; got {token[:24]!r}"
    if arg.kind == "pitch":
        m = _PITCH.match(token)
        if m and int(m.group(3)) in OCTAVES:
            return f"{m.group(1).upper()}{m.group(2)}{int(m.group(3))}", None
        return None, (f"{arg.name} must be a letter A-G, optional # or b, and an octave "
                      f"{OCTAVES[0]}-{OCTAVES[-1]}; got {token[:24]!r}")
    if arg.kind == "word":
        value = token.lower()
        if not (_WORD.match(value) and value.isascii() and len(value) <= arg.max_len):
            return None, f"{arg.name} must be one word of 1 to {arg.max_len} letters a-z; got {token[:24]!r}"
        if not words.is_word(value):
            return None, f"{arg.name} must be an English word from the word list; got {token[:24]!r}"
        return value, None
    if arg.kind == "text":
        value = token[1:-1] if len(token) >= 2 and token[0] == token[-1] == '"' else token
        value = value.strip()
        if 1 <= len(value) <= arg.max_len and '"' not in value and value.isprintable():
            return value, None
        return None, f'{arg.name} must be 1 to {arg.max_len} printable characters in quotes, without "'
    raise AssertionError(arg.kind)


def parse_line(line: str) -> Parsed:
    return _parse_stripped(line.strip())


# Agents repeat themselves (a model's favourite ops, a scripted policy's small vocabulary), and Op and
# Rejection are immutable: remembering recent lines makes the canvas's parse mostly a dict lookup.
@functools.lru_cache(maxsize=4096)
def _parse_stripped(text: str) -> Parsed:
    shown = text[:80]
    parts = text.split(None, 1)
    head = parts[0] if parts else ""
    rest = parts[1] if len(parts) > 1 else ""
    name = ALIASES.get(head.lower())
    if name is None:
        return Rejection(shown, "unknown_op", f"unknown op {head[:24]!r}; ops are {', '.join(OPS)}")
    spec = OPS[name]
    rest = rest.strip()
    # A text argument (always the last) takes the rest of the line, spaces included.
    if spec.args and spec.args[-1].kind == "text":
        tokens = rest.split(None, len(spec.args) - 1)
    else:
        tokens = rest.split()
    required = sum(1 for a in spec.args if a.default is None)
    if not required <= len(tokens) <= len(spec.args):
        usage = " ".join(f"<{a.name}>" if a.default is None else f"[{a.name}]" for a in spec.args)
        return Rejection(shown, "bad_argument", f"usage: {name} {usage}".rstrip())
    values = []
    for arg, token in zip(spec.args, tokens):
        value, reason = _parse_arg(arg, token)
        if reason:
            return Rejection(shown, "bad_argument", f"{name}: {reason}")
        values.append(value)
    values.extend(arg.default for arg in spec.args[len(tokens):])
    return Op(name, tuple(values))


def parse(text: str, *, max_ops: int = MAX_OPS_PER_DECISION) -> list[Parsed]:
    """Every non-blank line of `text` (one decision), in order, as an Op or a Rejection.

    A decision holds at most `max_ops` ops (the lines after are `too_many_ops`) and at most one `done` (a
    second is `extra_done`). Rejected lines count toward neither."""
    out: list[Parsed] = []
    ops = 0
    done = False
    for line in text.splitlines():
        if not line.strip():
            continue
        if ops >= max_ops:
            out.append(Rejection(line.strip()[:80], "too_many_ops", f"at most {max_ops} ops in one decision"))
            continue
        item = parse_line(line)
        if isinstance(item, Op) and item.name == "done":
            if done:
                item = Rejection(line.strip()[:80], "extra_done", "at most one done in a decision")
            done = True
        if isinstance(item, Op):
            ops += 1
        out.append(item)
    return out


@functools.lru_cache(maxsize=4096)
def format_op(op: Op) -> str:
    """The canonical text of an op; parse_line(format_op(op)) == op."""
    spec = OPS[op.name]
    parts = [op.name]
    for arg, value in zip(spec.args, op.args):
        parts.append(f'"{value}"' if arg.kind == "text" else str(value))
    return " ".join(parts)
