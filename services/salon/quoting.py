"""Text from other agents, made safe to show a model: data, never commands (the salon's rule).

What another agent wrote (a title, a reply) reaches a reader's prompt only through `clean`: capped, on one
line, without control characters and without the characters a prompt's structure is made of (quotes, the
angle brackets and bars of chat-template markers, braces and brackets, backslashes, backticks, the canvas's
cursor mark), and always inside double quotes after the name of the agent who wrote it. A line of the salon
in a prompt begins with `>`, so no text of another agent can begin a line of its own (an op, a field).
"""

from __future__ import annotations

import re

TEXT_CAP = 60  # the op language's longest text (a title, a reply)
_UNSAFE = re.compile(r"[^A-Za-z0-9 .,;:!?'()&+\-/%*]")


def clean(text: object, cap: int = TEXT_CAP) -> str:
    """`text` as it may be quoted to a model: every unsafe character a space, spaces collapsed, at most `cap`
    characters (an empty result when nothing is left)."""
    if not isinstance(text, str):
        return ""
    return " ".join(_UNSAFE.sub(" ", text[:cap * 4]).split())[:cap].rstrip()


def quoted(text: object, cap: int = TEXT_CAP) -> str:
    """`clean(text)` in double quotes, or `none` when nothing of it is left."""
    safe = clean(text, cap)
    return f'"{safe}"' if safe else "none"
