"""The roster: a TOML file listing the agents, each with its model, sampling, threads, view and budget."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proto.messages import MODES
from proto.names import RESERVED_NAMES, name_problem

if TYPE_CHECKING:
    from services.agent.discovery import Found

DEFAULT_ROSTER = Path(__file__).with_name("default_roster.toml")

SAMPLING_KEYS = {"temperature", "top_p", "top_k", "min_p", "repeat_penalty"}
VIEW_KEYS = {"coords", "cursor"}
BUDGET_KEYS = {"tokens_per_hour", "decisions_per_minute"}
SALON_KEYS = {"post_minutes", "reply_seconds", "replies_per_hour", "react_seconds"}  # services/salon/board.py


class RosterError(ValueError):
    pass


@dataclass
class AgentSpec:
    name: str
    model: str
    seed: int = 0
    threads: int = 1
    context: int = 2048
    max_ops: int = 8
    max_tokens: int = 64
    dream_every: int = 6
    chat: str = "auto"  # auto: the model's chat template if it has one, else a raw completion
    grow: bool = True  # the context grows turn by turn (services/agent/context.py); False: a whole prompt each turn
    # backend "local": `model` is a GGUF run in the agent's process; "openai": `model` is the name of a model
    # served at `url` by an OpenAI-compatible server of `dialect` (services/agent/server_backend.py), with the
    # API key from the environment variable `api_key_env` names (never the key itself in a roster).
    backend: str = "local"
    url: str | None = None
    dialect: str = "llama-cpp-python"
    api_key_env: str | None = None
    sampling: dict[str, float] = field(default_factory=dict)
    view: dict[str, bool] = field(default_factory=lambda: {"coords": True, "cursor": True})
    budget: dict[str, int | None] = field(default_factory=dict)
    salon: dict[str, float] = field(default_factory=dict)  # how often it may post, reply, react (salon mode)


MAX_DREAM_EVERY = 20  # a dream shows the model every pending memory: keep that prompt short

SCALARS = {"name", "model", "seed", "threads", "context", "max_ops", "max_tokens", "dream_every", "chat", "grow",
           "backend", "url", "dialect", "api_key_env"}
BACKENDS = ("local", "openai")
TABLES = {"sampling": SAMPLING_KEYS, "view": VIEW_KEYS, "budget": BUDGET_KEYS, "salon": SALON_KEYS}


def _check_keys(where: str, table: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise RosterError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(allowed))}")


def _merge(where: str, defaults: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    _check_keys(where, entry, SCALARS | set(TABLES))
    merged = {k: v for k, v in defaults.items() if k not in TABLES}
    merged.update({k: v for k, v in entry.items() if k not in TABLES})
    for table, keys in TABLES.items():
        for source in (defaults.get(table, {}), entry.get(table, {})):
            _check_keys(f"{where} [{table}]", source, keys)
        merged[table] = {**defaults.get(table, {}), **entry.get(table, {})}
    return merged


def load(path: Path = DEFAULT_ROSTER) -> list[AgentSpec]:
    """Every agent of the roster at `path`; RosterError says what is wrong and where."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RosterError(f"roster {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise RosterError(f"roster {path} is not valid TOML: {exc}") from None
    _check_keys(str(path), data, {"defaults", "agent", "turns", "studio"})
    defaults = data.get("defaults", {})
    _check_keys(f"{path} [defaults]", defaults, (SCALARS - {"name", "model"}) | set(TABLES))
    specs: list[AgentSpec] = []
    for i, entry in enumerate(data.get("agent", [])):
        where = f"{path} agent #{i + 1}"
        merged = _merge(where, defaults, entry)
        for key in ("name", "model"):
            if not isinstance(merged.get(key), str):
                raise RosterError(f"{where}: `{key}` is required (a string)")
        problem = name_problem(merged["name"])
        if problem:
            raise RosterError(f"{where}: {problem}")
        if merged.get("chat", "auto") not in ("auto", "template", "raw"):
            raise RosterError(f"{where}: chat must be auto, template or raw")
        if not isinstance(merged.get("grow", True), bool):
            raise RosterError(f"{where}: grow must be true or false")
        if not 1 <= merged.get("dream_every", 6) <= MAX_DREAM_EVERY:
            raise RosterError(f"{where}: dream_every must be 1 to {MAX_DREAM_EVERY} (a dream shows the model every "
                              "memory it condenses)")
        _check_backend(where, merged)
        bad = [k for k, v in merged["salon"].items() if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0
               or (k == "replies_per_hour" and not isinstance(v, int))]
        if bad:
            raise RosterError(f"{where} [salon]: {', '.join(sorted(bad))} must be positive numbers "
                              "(replies_per_hour a whole one)")
        try:
            specs.append(AgentSpec(**merged))
        except TypeError as exc:
            raise RosterError(f"{where}: {exc}") from None
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise RosterError(f"{path}: agent names must be unique, got {names}")
    if not specs:
        raise RosterError(f"{path}: no [[agent]] entries")
    return specs


DEFAULT_TURN_MINUTES = 30.0


def turn_minutes(path: Path = DEFAULT_ROSTER) -> float:
    """`[turns] minutes`: how long agents stay awake when the roster does not fit the machine at once
    (services/supervisor/turns.py); RosterError when it is not a positive number."""
    turns = _section(path, "turns", {"minutes"})
    minutes = turns.get("minutes", DEFAULT_TURN_MINUTES)
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or minutes <= 0:
        raise RosterError(f"{path} [turns]: minutes must be a positive number, got {minutes!r}")
    return float(minutes)


def _section(path: Path, name: str, keys: set[str]) -> dict[str, Any]:
    """The roster's top-level table `name` (empty when it has none), holding only `keys`."""
    try:
        table = tomllib.loads(Path(path).read_text()).get(name, {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RosterError(f"roster {path}: {exc}") from None
    _check_keys(f"{path} [{name}]", table, keys)
    return table


def studio_mode(path: Path = DEFAULT_ROSTER) -> str:
    """`[studio] mode`: `isolated` (each agent sees only its own canvas; the default) or `salon` (agents see and
    answer the works others post: services/salon); RosterError for anything else."""
    mode = _section(path, "studio", {"mode"}).get("mode", "isolated")
    if mode not in MODES:
        raise RosterError(f"{path} [studio]: mode must be {' or '.join(MODES)}, not {mode!r}")
    return mode


def _check_backend(where: str, merged: dict[str, Any]) -> None:
    from services.agent.server_backend import DIALECTS  # no HTTP client is made: the table only

    backend = merged.get("backend", "local")
    if backend not in BACKENDS:
        raise RosterError(f"{where}: backend must be {' or '.join(BACKENDS)}, not {backend!r}")
    if backend == "openai":
        if not isinstance(merged.get("url"), str) or not merged["url"].startswith(("http://", "https://")):
            raise RosterError(f"{where}: backend = \"openai\" needs `url`, the server's address (http://host:port)")
        if merged.get("dialect", "llama-cpp-python") not in DIALECTS:
            raise RosterError(f"{where}: dialect must be one of {', '.join(DIALECTS)}")
        key_env = merged.get("api_key_env")
        if key_env is not None and (not isinstance(key_env, str) or not key_env.isidentifier()):
            raise RosterError(f"{where}: api_key_env is the NAME of an environment variable holding the key "
                              "(never the key itself)")


def find(specs: list[AgentSpec], name: str) -> AgentSpec:
    for spec in specs:
        if spec.name == name:
            return spec
    raise RosterError(f"no agent named {name!r} in the roster (it has: {', '.join(s.name for s in specs)})")


def agent_names(labels: list[str]) -> list[str]:
    """An agent name for each label (a model's name), passing proto/names.py's rule and unique: lower case,
    every run of other characters a dash, a letter first (else "m-" before), at most 32 characters, and a
    "-2", "-3"... where a name is taken."""
    names: list[str] = []
    for label in labels:
        base = re.sub(r"[^a-z0-9_]+", "-", label.lower()).strip("-_")
        if not base[:1].isalpha() or base in RESERVED_NAMES:
            base = f"m-{base}"
        base = base[:32].rstrip("-_")
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base[:32 - len(str(n)) - 1].rstrip('-_')}-{n}"
        names.append(name)
    return names


def from_found(found: list[Found]) -> str:
    """A roster text with one agent per model found (`aurora roster --from ...`), on the bundled roster's defaults."""
    lines = [DEFAULT_ROSTER.read_text().split("[[agent]]")[0].rstrip(), ""]
    for i, (f, name) in enumerate(zip(found, agent_names([f.short for f in found]))):
        lines += [f"# {f.name} ({f.source}): {f.info.summary}", "[[agent]]", f"name = {json.dumps(name)}",
                  f"model = {json.dumps(str(f.info.path.absolute()), ensure_ascii=False)}", f"seed = {i + 1}", ""]
    return "\n".join(lines)
