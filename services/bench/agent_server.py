"""server_ratio and serve_ratio for `aurora bench agent`: an agent's decisions/s through the llama-cpp-python
server (server_ratio), and through `aurora serve` (serve_ratio), ÷ the same model in-process, same prompt and
settings, measured in the same run.

Two real `services.agent.loop.Agent`s with the same AgentSpec (SmolLM2, context 2048, one llama.cpp thread,
the op grammar gbnf(8), the default sampling, `grow = false`: the server backend sends a whole prompt each
turn, so the in-process agent does too; both then keep the prompt's common prefix in the KV cache, llama.cpp's
server as the Generator does) decide in turns, one decision each, against in-process canvases and banks on
simulated clocks: the same prompts for each turn, up to what each model painted. The server runs in a
process of its own (services.bench.model_servers.py) with the same settings; while one agent decides the other
waits, so each has the machine's cores as the other had them.

A decision's time is the agent's wall time for it: for the server side that includes the HTTP requests
(counting the prompt's tokens while fitting it, and the streamed generation). Each side is brought to the same
number of generated tokens N, as `ratio` is (services/bench/generation_timing.Side: fixed cost + (N - 1) x
time per decoded token); server_ratio = in-process time per decision ÷ the server's, i.e. the server's
decisions/s ÷ the in-process agent's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path

from services.agent.budget import Budget
from services.agent.loop import Agent
from services.agent.roster import AgentSpec
from services.agent.server_backend import ServerGenerator
from services.bench.agent_fakes import FakeBank, FakeCanvasClient, SimClock
from services.bench.generation_timing import Side
from services.bench.model_servers import available, model_server

@dataclasses.dataclass(frozen=True)
class ServerSide:
    kind: str      # the server it asks (services/bench/model_servers.py ModelServer's kind)
    dialect: str   # how the server backend talks to it (services/agent/server_backend.py DIALECTS)
    head: str      # its column in the table
    ratio: str     # its figure in the RESULT line
    optional: bool = False  # in the RESULT line only where its server is found (the project installs none)


SERVERS = {  # side: its server
    "server": ServerSide("llama-cpp-python", "llama-cpp-python", "llama-cpp-py", "server_ratio"),
    "serve": ServerSide("aurora", "llama-cpp-python", "aurora serve", "serve_ratio"),
    "llama": ServerSide("llama.cpp", "llama.cpp", "llama-server", "llama_server_ratio", optional=True),
}
HEADS = {"local": "in-process", **{side: s.head for side, s in SERVERS.items()}}


class Timed:
    """A generator whose generate() results are kept (the decision's own is the first of each decision)."""

    def __init__(self, gen):
        self.gen = gen
        self.results: list = []

    def __getattr__(self, name):
        return getattr(self.gen, name)

    def generate(self, prompt, **kw):
        result = self.gen.generate(prompt, **kw)
        self.results.append(result)
        return result


@dataclasses.dataclass
class ServerRun:
    sides: dict[str, Side]  # "local", and one per server of SERVERS that ran
    ops: dict[str, int]
    unparsed: dict[str, int]
    prompt_tokens: dict[str, list[int]]
    missing: dict[str, str] = dataclasses.field(default_factory=dict)  # side: why its server was not measured

    def ratio(self, side: str, n: int) -> float:
        if side not in self.sides:
            return float("nan")
        return self.sides["local"].at(n) / self.sides[side].at(n)

    def ratios(self, n: int) -> dict[str, float]:
        """The RESULT line's: server_ratio and serve_ratio always (nan where not measured), llama_server_ratio
        only where a llama-server was found (the project does not install one)."""
        return {s.ratio: self.ratio(side, n) for side, s in SERVERS.items()
                if not (s.optional and side in self.missing)}


def measure(model_path: Path, *, tokens: int, warmup: int, decisions: int, n_ctx: int, threads: int, seed: int,
            sampling: dict[str, float], progress) -> ServerRun:
    """Decisions of an agent on an in-process Generator of `model_path` and of one on each server, in turns.
    Every model is loaded afresh with the same seed: `aurora serve`'s agent then decides exactly as the
    in-process one (the same sampler), so their prompts are the same turn after turn."""
    from services.agent.llm import Generator  # imports llama_cpp: only when the bench runs

    missing = {side: why for side, s in SERVERS.items() if (why := available(s.kind)) is not None}
    for side, why in missing.items():
        progress(f"{SERVERS[side].ratio} not measured: {why}")
    spec = AgentSpec(name="smol", model="smollm2", seed=seed, threads=threads, context=n_ctx, max_ops=8,
                     max_tokens=tokens, dream_every=10 ** 9, grow=False, sampling=dict(sampling))
    found = {side: s for side, s in SERVERS.items() if side not in missing}
    progress(f"starting {' and '.join(s.kind for s in found.values())} server(s) with the same model and settings")
    with contextlib.ExitStack() as stack:
        local_gen = stack.enter_context(Generator(model_path, n_ctx=n_ctx, n_threads=threads, seed=seed,
                                                  sampling=sampling))
        gens = {"local": Timed(local_gen)}
        for side, s in found.items():
            server = stack.enter_context(model_server(model_path, kind=s.kind, n_ctx=n_ctx, threads=threads,
                                                      n_batch=local_gen.llm.n_batch, seed=seed))
            remote = stack.enter_context(ServerGenerator(server.url, spec.model, dialect=s.dialect, seed=seed,
                                                         sampling=sampling))
            gens[side] = Timed(remote)
        sides = {name: Side() for name in gens}
        agents = {}
        for name, gen in gens.items():
            clock = SimClock()
            agents[name] = (Agent(spec, gen, FakeCanvasClient(spec.name, view=spec.view), FakeBank(),
                                  Budget(None, None, clock=clock), clock=clock), clock)
        prompt_tokens: dict[str, list[int]] = {name: [] for name in gens}
        for i in range(warmup + decisions):
            for name, gen in gens.items():
                agent, clock = agents[name]
                clock.advance()
                gen.results.clear()
                t0 = time.perf_counter()
                agent.run(decisions=i + 1)
                wall = time.perf_counter() - t0
                first = gen.results[0]
                extra = sum(r.total_s for r in gen.results[1:])  # a title or statement asked after `done`
                decode = first.total_s - first.ttft_s
                if i >= warmup:
                    sides[name].add(first.tokens, wall - extra - decode, decode)
                    prompt_tokens[name].append(first.prompt_tokens)
                progress(f"server_ratio decision {i + 1}/{warmup + decisions}{'' if i >= warmup else ' (warm-up)'}"
                         f" {name}: {first.tokens} tokens, {wall - extra:.2f} s")
    return ServerRun(sides, {name: agents[name][0].stats.ops_applied for name in gens},
                     {name: agents[name][0].stats.unparsed_lines for name in gens}, prompt_tokens, missing)


def report(run: ServerRun, *, tokens: int, target: float, met) -> list[str]:
    names = list(run.sides)

    def row(label: str, values) -> str:
        return f"  {label:<44}" + "".join(f"{v:>14}" for v in values)

    sides = [run.sides[n] for n in names]
    lines = [
        "server backend: the same agent through `python -m llama_cpp.server` (server_ratio), `aurora serve` "
        "(serve_ratio) and, where one is found, llama.cpp's `llama-server` (llama_server_ratio): same model, "
        f"settings and seed, grow = false on every side, {len(sides[0].tokens)} decision(s) each, in turns",
        row("", [HEADS[n] for n in names]),
        row("prompt tokens", [f"{min(run.prompt_tokens[n])}-{max(run.prompt_tokens[n])}" for n in names]),
        row("tokens generated per decision (mean)", [f"{s.mean_tokens:.1f}" for s in sides]),
        row("fixed ms (prompt, prefill, 1st token, ops)", [f"{1000 * s.mean_fixed_s:.0f}" for s in sides]),
        row("decoding tok/s (tokens 2..n)", [f"{s.tok_s:.1f}" for s in sides]),
        row(f"decisions/s at {tokens} tokens", [f"{1 / s.at(tokens):.2f}" for s in sides]),
        row("ops applied", [run.ops[n] for n in names]),
        row("unparsable lines", [run.unparsed[n] for n in names]),
    ]
    for side, s in SERVERS.items():
        if side in run.missing:
            lines.append(f"  {s.ratio} nan: not measured ({run.missing[side]})")
        else:
            value = run.ratio(side, tokens)
            lines.append(f"  {s.ratio} {value:.2f} ({s.head} ÷ in-process decisions/s; {met(value, target, False)})")
    return lines
