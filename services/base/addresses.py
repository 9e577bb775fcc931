"""Where the canvas's four sockets live (PROTOCOL.md section 1); each can be set by environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULTS = {
    "agents": ("AURORA_AGENTS_ADDR", "tcp://127.0.0.1:5555"),
    "events": ("AURORA_EVENTS_ADDR", "tcp://127.0.0.1:5556"),
    "snapshots": ("AURORA_SNAPSHOTS_ADDR", "tcp://127.0.0.1:5557"),
    "record": ("AURORA_RECORD_ADDR", "tcp://127.0.0.1:5558"),
}


@dataclass(frozen=True)
class CanvasAddresses:
    agents: str
    events: str
    snapshots: str
    record: str

    @classmethod
    def from_env(cls, **overrides: str | None) -> "CanvasAddresses":
        values = {}
        for key, (var, default) in DEFAULTS.items():
            values[key] = overrides.get(key) or os.environ.get(var) or default
        return cls(**values)


def add_arguments(parser) -> None:
    """--agents/--events/--snapshots/--record options, defaulting to the environment, then the built-in ports."""
    for key, (var, default) in DEFAULTS.items():
        parser.add_argument(f"--{key}", default=None, metavar="ADDR",
                            help=f"the canvas {key} socket (env {var}, default {default})")


def from_args(args) -> CanvasAddresses:
    return CanvasAddresses.from_env(agents=args.agents, events=args.events, snapshots=args.snapshots,
                                    record=args.record)
