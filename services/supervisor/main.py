"""`aurora up`: the whole studio, each part in its own process, restarted with backoff if it dies.

It starts the embedded Redis (unless REDIS_URL names one), the recorder, the canvas (durable: it resumes
from the record and replies only once events are stored), and one agent per roster entry, each agent with its
own Redis credentials (granted afresh at every start). Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import os
import signal
import time

import redis

from proto.messages import MODES
from services.agent import roster as rosters
from services.agent.chat_template import check_before_start
from services.agent.memory import agent_url, grant
from services.agent.models import ModelError, resolve
from services.base import addresses
from services.base.datadir import data_dir
from services.base.curve import is_loopback
from services.base.keys import PROOF_ENV, RECORDER, Keys
from services.base.redis_server import EmbeddedRedis, RedisUnavailable, add_port_argument, url_with_credentials
from services.recorder import archive
from services.supervisor import plan
from services.supervisor.children import BACKOFF_MAX, BACKOFF_MIN, Child
from services.supervisor.state import StudioState, ready_at
from services.supervisor.rotation import Rotation
from services.supervisor.turns import Turns



def say(text: str) -> None:
    print(text, flush=True)


def add_parser(sub) -> None:
    p = sub.add_parser("up", help="start the whole studio (what `make up` runs)")
    addresses.add_arguments(p)
    p.add_argument("--roster", default=str(rosters.DEFAULT_ROSTER), help="roster TOML (default: the bundled one)")
    p.add_argument("--no-agents", action="store_true", help="start no LLM agent")
    p.add_argument("--scripted", type=int, default=0, metavar="N",
                   help="also run N scripted, non-LLM load agents (for trying the studio without models)")
    add_port_argument(p)
    p.add_argument("--curve", action="store_true",
                   help="CurveZMQ on the canvas's loopback sockets too (it is always on for an address off loopback)")
    p.add_argument("--gateway-host", default=os.environ.get("AURORA_GATEWAY_HOST", "127.0.0.1"),
                   help="address the web page is served on (env AURORA_GATEWAY_HOST, default 127.0.0.1)")
    p.add_argument("--gateway-port", type=int, default=int(os.environ.get("AURORA_GATEWAY_PORT", 8080)),
                   help="port of the web page (env AURORA_GATEWAY_PORT, default 8080)")
    p.add_argument("--mode", choices=MODES, default=None,
                   help="isolated (each agent alone with its canvas) or salon (agents may post finished works and see "
                        "and answer each other's); default: the roster's [studio] mode, else isolated")
    p.add_argument("--plan", action="store_true",
                   help="print how the roster fits this machine (all at once, or in turns) and exit")
    p.add_argument("--memory", type=plan.parse_size, metavar="SIZE",
                   help="plan for this much memory for the agents (e.g. 16G) instead of what is available now")
    p.add_argument("--cores", type=int, metavar="N", help="plan for this many cores instead of this machine's")
    p.set_defaults(run=run)


def _redis(args, data: os.PathLike) -> tuple[str, EmbeddedRedis | None]:
    url = os.environ.get("REDIS_URL")
    if url:
        say("aurora: using the Redis at REDIS_URL")
        return url, None
    say(f"aurora: starting the embedded Redis (data in {data}/redis)")
    server = EmbeddedRedis(data / "redis", args.redis_port).start()
    return server.url, server


def _proof(name: str, keys_env: dict[str, str]) -> dict[str, str]:
    """What proves an agent's name at its hello (PROTOCOL.md 13): its CurveZMQ key, else the studio's proof."""
    return {} if keys_env else {PROOF_ENV: Keys.studio().hello_proof(name) or ""}


def _agent_children(args, specs, admin_url: str, addr_args: list[str], keys_env: dict[str, str]) -> list[Child]:
    admin = redis.Redis.from_url(admin_url)

    def env_for(name: str):
        def env() -> dict[str, str]:
            password = grant(admin, name)  # a fresh password per start: a stale process loses access
            return {**os.environ, **keys_env, **_proof(name, keys_env),
                    "AURORA_MEMORY_URL": agent_url(admin_url, name, password)}
        return env

    return [Child(f"agent {s.name}", ["agent", s.name, "--roster", args.roster, *addr_args], env_for(s.name), say)
            for s in specs]


def _reader_env(redis_url: str):
    """The gateway reads the record as the read-only user `record-reader` (a fresh password at every start);
    where the Redis refuses ACL commands (a server of your own, REDIS_URL), with the URL as given."""
    def env() -> dict[str, str]:
        try:
            with redis.Redis.from_url(redis_url) as admin:
                url = url_with_credentials(redis_url, archive.READER, archive.grant_reader(admin))
        except redis.RedisError as exc:
            say(f"aurora: could not make the record's read-only user ({exc}); the gateway reads as REDIS_URL")
            url = redis_url
        return {**os.environ, "REDIS_URL": url}
    return env


def run(args: argparse.Namespace) -> int:
    data = data_dir()
    addrs = addresses.from_args(args)
    addr_args = ["--agents", addrs.agents, "--events", addrs.events, "--snapshots", addrs.snapshots,
                 "--record", addrs.record]
    try:
        specs = [] if args.no_agents else rosters.load(args.roster)
        minutes = rosters.turn_minutes(args.roster)
        mode = args.mode or rosters.studio_mode(args.roster)
        needs = []
        for spec in specs:  # install/assemble/check models before anything starts, showing progress
            if spec.backend == "openai":  # a served model: its agent waits for the server and says when it refuses
                needs.append(plan.Need(spec.name, plan.SERVED_AGENT, 0))
                continue
            path = resolve(spec.model, data, progress=lambda m, n=spec.name: say(f"aurora: model for {n}: {m}"))
            check_before_start(path, spec.chat)
            needs.append(plan.need_of(spec.name, path, spec.context, spec.threads))
        machine = plan.Machine.detect(args.memory, args.cores)
        plan.check(needs, machine)
        turns = Turns(needs, machine, minutes * 60, time.time())
        if args.plan:
            print(plan.describe(needs, machine, turns.round(time.time()), minutes))
            return 0
        redis_url, server = _redis(args, data)
    except (ModelError, RedisUnavailable, rosters.RosterError, plan.PlanError) as exc:
        say(f"aurora: cannot start: {exc}")
        return 2
    # Off loopback the canvas takes only CurveZMQ (PROTOCOL.md section 13): the studio's own children then use
    # the keypair `studio`, authorized on this host, made with the canvas's on first use.
    curve_on = args.curve or not all(is_loopback(a) for a in (addrs.agents, addrs.events, addrs.snapshots,
                                                                addrs.record))
    keys_env = Keys.studio().local_client() if curve_on else {}
    # The record socket takes only the recorder's own key, wherever it binds.
    recorder_env = {**os.environ, **Keys.studio().local_client(RECORDER)}
    # The recorder first: the canvas serves no one until a recorder has told it what the record holds.
    recorder = Child("recorder", ["recorder", *addr_args], lambda: {**recorder_env, "REDIS_URL": redis_url}, say)
    # The canvas enforces the roster's limits itself, read from the file the agents read theirs from.
    canvas = Child("canvas", ["canvas", *addr_args, *(["--curve"] if curve_on else []), "--mode", mode,
                              *([] if args.no_agents else ["--roster", args.roster])], say=say)
    reader_env = _reader_env(redis_url)
    gateway = Child("gateway", ["gateway", "--host", args.gateway_host, "--port", str(args.gateway_port),
                                *addr_args], lambda: {**reader_env(), **keys_env}, say)
    agents = _agent_children(args, specs, redis_url, addr_args, keys_env)
    for i in range(args.scripted):
        agents.append(Child(f"scripted-{i + 1} (non-LLM)", ["scripted-agent", f"scripted-{i + 1}", "--seed", str(i),
                                                           "--pace", "0.5", "--done-every", "40", *addr_args],
                            lambda n=f"scripted-{i + 1}": {**os.environ, **keys_env, **_proof(n, keys_env)}, say))
    children = [recorder, canvas, gateway, *agents]
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    state = StudioState(data, f"http://{args.gateway_host}:{args.gateway_port}/", addrs.events, keys_env)
    rotation = Rotation(turns, {s.name: child for s, child in zip(specs, agents)}, lambda: state.update(children),
                        say, ready_at=lambda name: ready_at(data, name))
    resting = [child for child in agents[:len(specs)] if child not in rotation.awake()]
    for child in children:
        if child not in resting:
            child.start()
    if resting:
        say(f"aurora: {len(resting)} of {len(specs)} agents wait their turn (`aurora up --plan` shows the turns)")
    say(f"Aurora studio is up (pid {os.getpid()}, mode {mode}), data in {data}.\n"
        f"  open http://{args.gateway_host}:{args.gateway_port}/ to watch and hear every agent\n"
        f"  agents connect to  {addrs.agents}\n"
        f"  events stream from {addrs.events} (snapshots at {addrs.snapshots})\n"
        f"  see every canvas:  aurora peek\n"
        f"Ctrl-C stops everything.")
    redis_retry_at, redis_delay = 0.0, BACKOFF_MIN
    while not stopping:
        now = time.monotonic()
        if server is not None and server.proc is not None and server.proc.poll() is not None \
                and now >= redis_retry_at:
            say(f"aurora: Redis exited with {server.proc.returncode}; restarting it")
            try:
                server.start()
                redis_delay = BACKOFF_MIN
            except RedisUnavailable as exc:  # the recorder holds its batches meanwhile; agents wait
                say(f"aurora: Redis did not start ({exc}); trying again in {redis_delay:.0f}s")
                redis_retry_at = now + redis_delay
                redis_delay = min(redis_delay * 2, BACKOFF_MAX)
        for child in children:
            child.check(now)
        rotation.tick()
        state.update(children)
        time.sleep(0.2)  # the supervisor's own tick
    # Stop in reverse order of start: the agents (together) finish their decision (recorded, so the canvas
    # and the recorder are still up) and write their banks, then the viewers' gateway, the canvas, the
    # recorder, and last Redis.
    for group in (agents, [gateway], [canvas], [recorder]):
        for child in group:
            child.terminate()
        for child in group:
            child.wait(15)
    if server is not None:
        server.stop()
    state.remove()
    say("Aurora studio stopped.")
    return 0
