"""`aurora gateway`: the audio gateway (placeholder until its implementation lands)."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("gateway", help="serve the live web page, the WebSocket and the read-only HTTP API")
    p.set_defaults(run=lambda args: 2)
