"""server_ratio for `aurora bench agent`: an agent's decisions/s through the llama-cpp-python server ÷ the same
model in-process, same prompt and settings, measured in the same run.

Two real `services.agent.loop.Agent`s with the same AgentSpec (SmolLM2, context 2048, one llama.cpp thread,
the op grammar gbnf(8), the default sampling, `grow = false`: the server backend sends a whole prompt each
turn, so the in-process agent does too; both then keep the prompt's common prefix in the KV cache, llama.cpp's
server as the Generator does) decide in turns, one decision each, against in-process canvases and banks on
simulated clocks: the same prompts for each turn, up to what each model painted. The server runs in a
process of its own (services/bench/llama_server.py) with the same settings; while one agent decides the other
waits, so each has the machine's cores as the other had them.

A decision's time is the agent's wall time for it: for the server side that includes the HTTP requests
(counting the prompt's tokens while fitting it, and the streamed generation). Each side is brought to the same
number of generated tokens N, as `ratio` is (services/bench/generation_timing.Side: fixed cost + (N - 1) x
time per decoded token); server_ratio = in-process time per decision ÷ server's, i.e. the server's
decisions/s ÷ the in-process agent's.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from services.agent.budget import Budget
from services.agent.loop import Agent
from services.agent.roster import AgentSpec
from services.agent.server_backend import ServerGenerator
from services.bench.agent_fakes import FakeBank, FakeCanvasClient, SimClock
from services.bench.generation_timing import Side
from services.bench.llama_server import available, llama_server


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
    local: Side
    server: Side
    ops: dict[str, int]
    unparsed: dict[str, int]
    prompt_tokens: dict[str, list[int]]
    missing: str | None = None  # why the server could not be measured

    def ratio(self, n: int) -> float:
        return self.local.at(n) / self.server.at(n) if self.missing is None else float("nan")


def measure(model_path: Path, local_gen, *, tokens: int, warmup: int, decisions: int, n_ctx: int, threads: int,
            seed: int, sampling: dict[str, float], progress) -> ServerRun:
    """Decisions of an agent on `local_gen` (a Generator of `model_path`) and of one on the server, in turns."""
    why = available()
    if why is not None:
        progress(f"server_ratio not measured: {why}")
        return ServerRun(Side(), Side(), {}, {}, {}, missing=why)
    spec = AgentSpec(name="smol", model="smollm2", seed=seed, threads=threads, context=n_ctx, max_ops=8,
                     max_tokens=tokens, dream_every=10 ** 9, grow=False, sampling=dict(sampling))
    progress("starting the llama-cpp-python server with the same model and settings")
    with llama_server(model_path, n_ctx=n_ctx, threads=threads, n_batch=local_gen.llm.n_batch) as server:
        remote = ServerGenerator(server.url, spec.model, seed=seed, sampling=sampling, n_ctx=n_ctx)
        sides = {"local": (Timed(local_gen), Side()), "server": (Timed(remote), Side())}
        agents = {}
        for name, (gen, _) in sides.items():
            clock = SimClock()
            agents[name] = (Agent(spec, gen, FakeCanvasClient(spec.name, view=spec.view), FakeBank(),
                                  Budget(None, None, clock=clock), clock=clock), clock)
        prompt_tokens: dict[str, list[int]] = {name: [] for name in sides}
        try:
            for i in range(warmup + decisions):
                for name, (gen, side) in sides.items():
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
                        side.add(first.tokens, wall - extra - decode, decode)
                        prompt_tokens[name].append(first.prompt_tokens)
                    progress(f"server_ratio decision {i + 1}/{warmup + decisions}{'' if i >= warmup else ' (warm-up)'}"
                             f" {name}: {first.tokens} tokens, {wall - extra:.2f} s")
        finally:
            remote.close()
    return ServerRun(sides["local"][1], sides["server"][1],
                     {name: agents[name][0].stats.ops_applied for name in sides},
                     {name: agents[name][0].stats.unparsed_lines for name in sides}, prompt_tokens)


def report(run: ServerRun, *, tokens: int, target: float, met) -> list[str]:
    if run.missing is not None:
        return [f"server backend: not measured ({run.missing})", "  server_ratio nan"]
    local, server = run.local, run.server
    span = {k: f"{min(v)}-{max(v)}" for k, v in run.prompt_tokens.items()}
    return [
        f"server backend: the same agent through `python -m llama_cpp.server` (same model, settings and seed; "
        f"grow = false on both sides), {len(local.tokens)} decision(s) each, in turns",
        f"  {'':<44}{'in-process':>12}{'server':>10}",
        f"  {'prompt tokens':<44}{span['local']:>12}{span['server']:>10}",
        f"  {'tokens generated per decision (mean)':<44}{local.mean_tokens:>12.1f}{server.mean_tokens:>10.1f}",
        f"  {'fixed ms (prompt, prefill, 1st token, ops)':<44}{1000 * local.mean_fixed_s:>12.0f}"
        f"{1000 * server.mean_fixed_s:>10.0f}",
        f"  {'decoding tok/s (tokens 2..n)':<44}{local.tok_s:>12.1f}{server.tok_s:>10.1f}",
        f"  {f'decisions/s at {tokens} tokens':<44}{1 / local.at(tokens):>12.2f}{1 / server.at(tokens):>10.2f}",
        f"  ops applied {run.ops['local']} / {run.ops['server']}; unparsable lines {run.unparsed['local']} / "
        f"{run.unparsed['server']}",
        f"  server_ratio {run.ratio(tokens):.2f} (server ÷ in-process decisions/s; {met(run.ratio(tokens), target, False)})",
    ]
