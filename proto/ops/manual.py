"""The manual shown to the models, generated from the op table. It says what each op does, never what to make.

No example values: every op is generated under the grammar, so the syntax needs none, and an example is a
value a small model copies (wave one's gemma named `calm`, the manual's example feeling, in 330 of 342
feelings). Each op's form is shown with placeholders only, and every set of choices is listed.

Any list has a first item, and a model may favour whatever comes first. So each agent reads its lists in an
order of its own (`choice_lists(seed)`, drawn once and kept in its memory bank); the study can then tell a
liking for a colour from a liking for the first colour listed (`aurora report`, `authenticity`).
"""

from __future__ import annotations

import random
from collections import Counter

from proto.ops.table import BLANK, BRUSHES, COLOURS, ID_DIGITS, OCTAVES, OPS, PITCH_LETTERS, SALON_OPS

# The lists a manual shows, by name: the ops, each choice argument (named as in the table), and the parts of
# a pitch. `choice_lists` orders them; the report reads an agent's order from its `joined` event.
LIST_NAMES = ("ops", "direction", "position", "colour", "shape", "duration", "letter", "octave")
# `look` (the agent shows its model the whole canvas again) came after the lists were kept in banks, told at
# hello and recorded: it is listed after the agent's own order of the other ops, so that every agent's lists
# stayed as they were (and banks, records and 1.6 canvases still check them). It makes no choice of art.
UNORDERED_OPS = ("look",)
# The salon's ops are shown only in a studio of mode `salon`, after the others, in the table's order: they came
# after the lists were kept in banks too, and they choose nothing of the art itself.


def choice_lists(seed: int | None = None) -> dict[str, list[str]]:
    """Every list the manual shows, in the table's order, or shuffled with `seed` (each list on its own)."""
    lists: dict[str, list[str]] = {"ops": [name for name in OPS if name not in UNORDERED_OPS + SALON_OPS]}
    for spec in OPS.values():
        for arg in spec.args:
            if arg.kind == "choice":
                lists.setdefault(arg.name, list(arg.choices))
    lists["letter"] = list(PITCH_LETTERS)
    lists["octave"] = [str(o) for o in OCTAVES]
    assert tuple(lists) == LIST_NAMES, tuple(lists)
    if seed is not None:
        rng = random.Random(seed)
        for items in lists.values():
            rng.shuffle(items)
    return lists


def valid_lists(lists: object) -> bool:
    """True when `lists` holds every list of the manual, each a reordering of the table's (a bank's or a
    hello's). Lists of other names are let be: a later minor version of the protocol may add one."""
    if not isinstance(lists, dict) or not set(LIST_NAMES) <= set(lists):
        return False
    canonical = choice_lists()
    return all(isinstance(lists[k], list) and all(type(item) is str for item in lists[k])
               and Counter(lists[k]) == Counter(v) for k, v in canonical.items())


def _usage(spec) -> str:
    parts = [spec.name]
    for arg in spec.args:
        slot = f'"<{arg.name}>"' if arg.kind == "text" else f"<{arg.name}>"
        parts.append(slot if arg.default is None else f"[{arg.name}]")
    return " ".join(parts)


def _range(spec_name: str, arg_name: str) -> str:
    arg = next(a for a in OPS[spec_name].args if a.name == arg_name)
    return f"{arg.lo} to {arg.hi}"


def manual(lists: dict[str, list[str]] | None = None, *, salon: bool = False) -> str:
    """The manual: every op (the salon's too when `salon`), the lists of choices in the order of `lists`."""
    lists = lists or choice_lists()
    lines = ["Write one op per line. Ops:"]
    shown = [*lists["ops"], *UNORDERED_OPS, *(SALON_OPS if salon else ())]
    lines += [f"  {_usage(OPS[name])}: {OPS[name].summary}." for name in shown]
    word, text = OPS["feel"].args[0], OPS["title"].args[0]
    lines.append("Directions: " + ", ".join(lists["direction"]) + ".")
    lines.append("Pen positions: " + ", ".join(lists["position"]) + ".")
    lines.append("Colours (letter on the canvas): "
                 + ", ".join(f"{name} {COLOURS[name].code}" for name in lists["colour"]) + f"; {BLANK} is a blank cell.")
    lines.append("Brushes: " + ", ".join(f"{name} ({len(BRUSHES[name])} cell{'s' if len(BRUSHES[name]) > 1 else ''})"
                                          for name in lists["shape"]) + ".")
    lines.append("Durations: " + ", ".join(lists["duration"]) + ".")
    lines.append("Pitch letters: " + ", ".join(lists["letter"]) + "; octaves: " + ", ".join(lists["octave"]) + ".")
    lines.append(f"Steps: {_range('move', 'steps')}. Loudness: {_range('note', 'velocity')}. "
                 f"Beats per minute: {_range('tempo', 'bpm')}.")
    lines.append(f"A <word> is one lowercase English word of at most {word.max_len} letters; a <text> is at most "
                 f"{text.max_len} characters, without a double quote.")
    if salon:
        lines.append(f"A <post> is the number of a work in the salon, at most {ID_DIGITS} digits.")
    lines.append("The canvas shows x across the top and y down the side; @ marks the cursor.")
    return "\n".join(lines)
