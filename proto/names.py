"""Agent names (PROTOCOL.md section 3): they name a canvas, its topics and a memory bank."""

from __future__ import annotations

import re

NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
RESERVED_NAMES = frozenset({"canvas", "studio"})


def name_problem(name: str) -> str | None:
    """Why `name` cannot be an agent's name, or None when it can."""
    if not NAME_RE.fullmatch(name):
        return f"agent name {name[:40]!r} must be 1-32 of a-z 0-9 - _, starting with a letter"
    if name in RESERVED_NAMES:
        return f"agent name {name!r} is reserved"
    return None
