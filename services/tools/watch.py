"""`aurora watch`: a terminal viewer (placeholder until its implementation lands)."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("watch", help="watch every canvas live in the terminal")
    p.set_defaults(run=lambda args: 2)
