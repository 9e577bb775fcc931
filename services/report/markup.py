"""The report's Markdown pieces, one definition for every section: shares, numbers, anyone's text, tables."""

from __future__ import annotations

import html
import re
from typing import Any

MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]|])")


def pct(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.1f}%"


def num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def text(value: Any) -> str:
    """Anyone's text (a model's name, a title, a statement, an agent's or a feeling's name) as Markdown that
    shows it as it is, in prose or in a table cell: no HTML of its own (the page at /report), no link, image,
    emphasis or code, and no cell break."""
    return MARKDOWN_SPECIALS.sub(r"\\\1", html.escape(str(value), quote=False)).replace("\n", " ")


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(text(c) for c in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(text(c) for c in row) + " |" for row in rows]
    return lines + [""]
