"""Where the canvas's four sockets live (PROTOCOL.md section 1).

Each address comes from, in this order: the command's option (`--agents` ...), the environment variable
(`AURORA_AGENTS_ADDR` ...), the config file, the built-in default. The canvas binds the address it is given
(`tcp://0.0.0.0:5555` to listen on every interface); everyone else connects to the one they are given
(`tcp://studio.local:5555`), so on several machines each side names what it sees.

The config file is TOML, `$AURORA_CONFIG`, else `aurora.toml` in the studio's data folder if there is one:

    [addresses]
    agents = "tcp://0.0.0.0:5555"
    events = "tcp://0.0.0.0:5556"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULTS = {
    "agents": ("AURORA_AGENTS_ADDR", "tcp://127.0.0.1:5555"),
    "events": ("AURORA_EVENTS_ADDR", "tcp://127.0.0.1:5556"),
    "snapshots": ("AURORA_SNAPSHOTS_ADDR", "tcp://127.0.0.1:5557"),
    "record": ("AURORA_RECORD_ADDR", "tcp://127.0.0.1:5558"),
}
CONFIG_NAME = "aurora.toml"


class ConfigError(ValueError):
    """The config file cannot be used; the message names the file and what is wrong."""


def config_path() -> Path | None:
    """The config file in force, if any: $AURORA_CONFIG (which must exist), else data/aurora.toml."""
    named = os.environ.get("AURORA_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"AURORA_CONFIG names {path}, which is not a file")
        return path
    from services.base.datadir import data_dir  # here: the data folder is itself configured by environment

    path = data_dir(create=False) / CONFIG_NAME
    return path if path.is_file() else None


def configured() -> dict[str, str]:
    """The [addresses] table of the config file ({} without one); a bad file raises ConfigError."""
    path = config_path()
    if path is None:
        return {}
    try:
        table = tomllib.loads(path.read_text()).get("addresses", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [addresses] must be a table")
    unknown = set(table) - set(DEFAULTS)
    if unknown or not all(isinstance(v, str) and v for v in table.values()):
        raise ConfigError(f"{path}: [addresses] takes {', '.join(DEFAULTS)} as strings like "
                          f"\"tcp://HOST:PORT\"" + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else ""))
    return table


@dataclass(frozen=True)
class CanvasAddresses:
    agents: str
    events: str
    snapshots: str
    record: str

    @classmethod
    def from_env(cls, **overrides: str | None) -> "CanvasAddresses":
        """Options (`overrides`) first, then the environment, the config file, the defaults."""
        config = configured()
        values = {}
        for key, (var, default) in DEFAULTS.items():
            values[key] = overrides.get(key) or os.environ.get(var) or config.get(key) or default
        return cls(**values)


def add_arguments(parser) -> None:
    """--agents/--events/--snapshots/--record options, defaulting to the environment, the config file, then the
    built-in ports."""
    for key, (var, default) in DEFAULTS.items():
        parser.add_argument(f"--{key}", default=None, metavar="ADDR",
                            help=f"the canvas {key} socket (env {var}, then {CONFIG_NAME}, default {default})")


def from_args(args) -> CanvasAddresses:
    return CanvasAddresses.from_env(agents=args.agents, events=args.events, snapshots=args.snapshots,
                                    record=args.record)
