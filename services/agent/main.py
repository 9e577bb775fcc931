"""`aurora agent NAME`: one resident LLM agent, as its own process."""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import signal
import sys
from contextlib import contextmanager
from typing import Iterator

import redis

from proto.errors import RemoteError
from services.agent import roster as rosters
from services.agent.budget import Budget
from services.agent.loop import Agent
from services.agent.memory import MemoryBank
from services.agent.models import ModelError, resolve
from services.base import addresses, curve
from services.base.datadir import data_dir
from services.base.redis_server import EmbeddedRedis, RedisUnavailable, free_loopback_port
from services.base.log import event, setup
from services.canvas.client import CanvasClient
from services.supervisor import state as studio_state


def add_parser(sub) -> None:
    p = sub.add_parser("agent", help="run one LLM agent from the roster")
    p.add_argument("name", help="the agent's name in the roster")
    p.add_argument("--roster", default=str(rosters.DEFAULT_ROSTER), help="roster TOML (default: the bundled one)")
    addresses.add_arguments(p)
    curve.add_client_arguments(p)
    p.add_argument("--memory-url", default=None,
                   help="Redis URL with this agent's own credentials (env AURORA_MEMORY_URL; `aurora up` sets it)")
    p.add_argument("--fresh", action="store_true", help="wipe this agent's memory bank (and only its) first")
    p.add_argument("--decisions", type=int, default=0, help="stop after this many decisions (0: never)")
    p.set_defaults(run=run)


OWN_BANKS = "banks"  # <data>/banks/<agent>: the memory of an agent given no Redis (one on another host)


@contextmanager
def memory_url(args, name: str) -> Iterator[str]:
    """The URL of this agent's memory bank, for the block; a server started for it is stopped after.

    --memory-url / AURORA_MEMORY_URL (the studio's Redis with this agent's own ACL user: `aurora up` and
    `aurora grant` make it), else REDIS_URL as is (warned: nothing keeps the bank from others), else a Redis
    of the agent's own on this host, data in <data>/banks/<name>: an agent that joins a studio from another
    host needs nothing but the canvas's address, and keeps its memory across restarts there. Raises
    RedisUnavailable when that server cannot start, or when another process of this agent holds its folder.
    """
    given = args.memory_url or os.environ.get("AURORA_MEMORY_URL")
    url = given or os.environ.get("REDIS_URL")
    if url:
        if not given:
            logging.getLogger("aurora.agent").warning(
                "using REDIS_URL as is: the bank is not isolated by the server (run under `aurora up` for that)")
        yield url
        return
    folder = data_dir() / OWN_BANKS / name
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "agent.lock").open("w") as lock:
        try:  # two servers on one append-only file would corrupt it; the lock goes with the process
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RedisUnavailable(f"agent {name} already runs on this host: its memory bank in {folder} is "
                                   "in use") from None
        server = EmbeddedRedis(folder, free_loopback_port()).start()
        print(f"aurora agent {name}: memory bank in {folder} (a Redis of its own; AURORA_MEMORY_URL for the "
              "studio's)", flush=True)
        try:
            yield server.url
        finally:
            server.stop()


def run(args: argparse.Namespace) -> int:
    setup(f"aurora.agent.{args.name}")
    address = addresses.from_args(args).agents
    keys = curve.client_from_args(args, address, prog="agent")  # before a model loads: a bad key fails at once
    try:
        spec = rosters.find(rosters.load(args.roster), args.name)
        model_path = spec.model if spec.backend == "openai" else resolve(
            spec.model, data_dir(), progress=lambda m: print(f"aurora agent {spec.name}: {m}", flush=True))
    except (rosters.RosterError, ModelError) as exc:
        print(f"aurora agent: {exc}", file=sys.stderr)
        return 2
    try:  # the bank before the model: a bank that cannot open fails at once, not after minutes of loading
        with memory_url(args, spec.name) as url:
            bank = MemoryBank(redis.Redis.from_url(url, socket_timeout=10, health_check_interval=30), spec.name)
            return _live(args, spec, bank, keys, address, model_path)
    except (ModelError, RedisUnavailable, ValueError) as exc:  # ValueError: an API key variable not set
        print(f"aurora agent: {exc}", file=sys.stderr)
        return 2


def _generator(spec, model_path: str):
    """The agent's model: in this process (backend "local"), or behind an inference server ("openai")."""
    if spec.backend == "openai":
        from services.agent.server_backend import ServerGenerator, api_key  # httpx: only for a server

        print(f"aurora agent {spec.name}: model {spec.model} served at {spec.url} ({spec.dialect})", flush=True)
        return ServerGenerator(spec.url, spec.model, dialect=spec.dialect, api_key=api_key(spec.api_key_env),
                               chat=spec.chat, seed=spec.seed, sampling=spec.sampling)
    from services.agent.llm import Generator  # imports llama_cpp: only when a model will run

    print(f"aurora agent {spec.name}: loading {os.path.basename(model_path)}", flush=True)
    return Generator(model_path, n_ctx=spec.context, n_threads=spec.threads, seed=spec.seed, sampling=spec.sampling,
                     chat=spec.chat)


def _live(args, spec, bank: MemoryBank, keys, address: str, model_path: str) -> int:
    """The agent's life once its bank is open: load its model, then decide until stopped."""
    gen = _generator(spec, model_path)
    log = logging.getLogger(f"aurora.agent.{spec.name}")
    if args.fresh:
        bank.wipe()
        event(log, logging.WARNING, "memory bank wiped (--fresh)", agent=spec.name)
    budget = Budget.from_dict(bank.load_budget(), spec.budget.get("tokens_per_hour"),
                              spec.budget.get("decisions_per_minute"))
    client = CanvasClient(spec.name, address, model=os.path.basename(model_path), view=spec.view, curve=keys)
    agent = Agent(spec, gen, client, bank, budget)
    # SIGTERM: finish the decision under way (generation stops at once; its complete ops are sent), then exit.
    signal.signal(signal.SIGTERM, lambda *_: agent.stop.set())
    signal.signal(signal.SIGINT, lambda *_: agent.stop.set())

    def turn_over(*_) -> None:  # `aurora up` taking turns: rest until the time it wrote for this agent
        agent.turn_over, agent.waiting_until = True, studio_state.waiting_until(data_dir(), f"agent {spec.name}")
        agent.stop.set()
    signal.signal(signal.SIGUSR1, turn_over)
    if spec.backend == "openai":
        from services.agent.server_backend import ServerRefused  # imported with the generator (_generator)

        gen.should_stop = agent.stop.is_set  # a wait for the server ends when the agent is stopped
        try:
            gen.check(agent.grammar)  # waits for the server; refuses at once what it refuses
        except ServerRefused as exc:
            print(f"aurora agent {spec.name}: {exc}", file=sys.stderr)
            return 2
        event(log, logging.INFO, "agent awake", agent=spec.name, model=spec.model, url=spec.url, mode=gen.mode)
        print(f"aurora agent {spec.name}: ready (server {spec.url}); painting", flush=True)
    else:
        gen.grammars.matcher(agent.grammar)  # the one-time cost of constrained decoding, paid and logged here
        event(log, logging.INFO, "agent awake", agent=spec.name, model=str(model_path), mode=gen.mode,
              load_s=round(gen.load_s, 3), grammar_setup_s=round(gen.grammars.setup_s, 3),
              grammar_compile_s=round(gen.grammars.compile_s[agent.grammar], 3))
        print(f"aurora agent {spec.name}: ready (model {gen.load_s:.1f} s, grammar {gen.grammars.setup_s:.1f} s); "
              "painting", flush=True)
    studio_state.mark_ready(data_dir(), spec.name)  # `aurora up`'s turn runs from here, not from the start
    try:
        stats = agent.run(decisions=args.decisions)
    except RemoteError as exc:
        print(f"aurora agent {spec.name}: the canvas refused this agent: {exc}", file=sys.stderr)
        return 2
    if agent.turn_over:
        client.context.term()  # waits (the socket's linger at most) until its last `status` has left
    summary = {k: v for k, v in vars(stats).items() if k != "sent"}
    print(f"aurora agent {spec.name} stopped: {json.dumps(summary)}", flush=True)
    return 0
