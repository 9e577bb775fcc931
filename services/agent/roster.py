"""The roster: a TOML file listing the agents, each with its model, sampling, threads, view and budget."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proto.names import name_problem

DEFAULT_ROSTER = Path(__file__).with_name("default_roster.toml")

SAMPLING_KEYS = {"temperature", "top_p", "top_k", "min_p", "repeat_penalty"}
VIEW_KEYS = {"coords", "cursor"}
BUDGET_KEYS = {"tokens_per_hour", "decisions_per_minute"}


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


MAX_DREAM_EVERY = 20  # a dream shows the model every pending memory: keep that prompt short

SCALARS = {"name", "model", "seed", "threads", "context", "max_ops", "max_tokens", "dream_every", "chat", "grow",
           "backend", "url", "dialect", "api_key_env"}
BACKENDS = ("local", "openai")
TABLES = {"sampling": SAMPLING_KEYS, "view": VIEW_KEYS, "budget": BUDGET_KEYS}


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
    _check_keys(str(path), data, {"defaults", "agent"})
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


def from_folder(folder: Path) -> str:
    """A roster text listing every .gguf file in `folder`, one agent each (`aurora roster DIR`)."""
    lines = [DEFAULT_ROSTER.read_text().split("[[agent]]")[0].rstrip(), ""]
    for i, path in enumerate(sorted(Path(folder).glob("*.gguf"))):
        stem = "".join(c if c.isalnum() else "-" for c in path.stem.lower()).strip("-")
        name = ("m-" + stem)[:32].rstrip("-")
        lines += ["[[agent]]", f'name = "{name}"', f'model = "{path.resolve()}"', f"seed = {i + 1}", ""]
    return "\n".join(lines)
