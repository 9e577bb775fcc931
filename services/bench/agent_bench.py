"""`aurora bench agent [--quick]`: an LLM agent's decision path against raw llama-cpp-python, in the same run.

SmolLM2 (the bundled GGUF) at the agent's default context (2048 tokens), one llama.cpp thread per model.

1. ratio: a real `services.agent.loop.Agent` decides (its real Generator, prompt and grammar `gbnf(8)`) against
   an in-process canvas (proto.canvas.CanvasModel, services/bench/agent_fakes.py) and an in-memory bank, on a
   simulated clock. Each decision's prompt is replayed at once through
   `llama_cpp.Llama.create_completion(stream=True, grammar=LlamaGrammar.from_string(...))` on a second Llama
   with the same file and settings, the same sampling and the same token limit, so both sides see the same
   prompts in the same order, and the same noise (the title and statement prompts that follow a `done` are
   evaluated on raw too, untimed, so that both KV caches hold the same history). Generations end early when
   the grammar or the model says
   so, differently on each side, so each side is brought to the same number of generated tokens N: a
   decision of N tokens = its fixed cost (everything but decoding tokens 2..N: prompt, prefill of what
   changed, first token, handling the ops) + (N - 1) x its time per decoded token. ratio = raw ÷ agent.
2. ttft_ratio: time to the first token of a turn's prompt when the previous turn's prompt is in the KV cache
   (two consecutive prompts from services.agent.prompt: two cells painted and 7 s passed between them, so
   three canvas rows, the state, last-turn and clock lines differ) ÷ the same with the KV cache cleared.
3. mem_ratio: PSS added per extra agent process ÷ PSS of one (services/bench/agent_mem.py).
4. constrained_ratio, for each bundled model: the agent's Generator decoding under the grammar ÷ decoding
   free, with stock llama-cpp-python's grammar beside them (services/bench/agent_constrained.py).
5. server_ratio: the agent's decisions/s through the llama-cpp-python server ÷ the same model in-process,
   same prompt and settings; serve_ratio: the same through `aurora serve`; llama_server_ratio: through
   llama.cpp's `llama-server`, only where one is found (services/bench/agent_server.py).
6. turn_change_s: when agents take turns (`aurora up` with more agents than fit), the time from a resting
   agent's "rests until" to the waking agent's first decision; turn_change_decisions: that time in decisions
   of the same run (services/bench/turns_bench.py).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from proto.canvas import CanvasModel
from proto.ops.grammar import gbnf
from services.agent.budget import Budget
from services.agent.loop import MEMORY_CHARS, Agent
from services.agent.models import BUNDLED, ModelError, resolve
from services.agent.prompt import Turn, system_text, user_text
from services.agent.roster import AgentSpec
from services.base.datadir import data_dir
from services.bench import agent_constrained, agent_mem, agent_server, turns_bench
from services.bench.agent_fakes import EPOCH, FakeBank, FakeCanvasClient, SimClock
from services.bench.generation_timing import Raw, Side

TARGET_RATIO = 0.9
TARGET_TTFT = 0.3
TARGET_MEM = 0.6
TARGET_CONSTRAINED = 0.9
TARGET_SERVER = 0.8
MODEL = "smollm2-135m"
SEED = 1
AGENT = "smol"


@dataclass(frozen=True)
class Plan:
    tokens: int = 48         # N: generated tokens per decision that both sides are compared at
    warmup: int = 1          # decisions not counted (the first prefills the whole prompt on both sides)
    decisions: int = 12      # counted decisions (each: the agent's, then raw's on the same prompt)
    ttft_rounds: int = 3
    free_rounds: int = 3     # constrained, free and stock generations each per model, for constrained_ratio
    processes: int = 3       # agent processes in the second memory measurement
    server_decisions: int = 8  # counted decisions of each side for server_ratio (after `warmup`)
    turn_changes: int = 3    # turn changes measured for turn_change_s
    n_ctx: int = 2048
    threads: int = 1         # per model, as in the default roster


FULL = Plan()
QUICK = Plan(decisions=3, ttft_rounds=1, free_rounds=1, server_decisions=3, turn_changes=1)


def _progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


class RecordingGenerator:
    """The agent's Generator, with every generate() call recorded (prompt, grammar, limit, result, wall time)."""

    def __init__(self, gen):
        self.gen = gen
        self.calls: list[tuple[str, str | None, int, object, float]] = []

    def __getattr__(self, name):  # format, tokenize, joint, aside, ...: the Generator's own
        return getattr(self.gen, name)

    def generate(self, prompt: str, *, grammar: str | None = None, max_tokens: int = 64, **kw):
        t0 = time.perf_counter()
        result = self.gen.generate(prompt, grammar=grammar, max_tokens=max_tokens, **kw)
        self.calls.append((prompt, grammar, max_tokens, result, time.perf_counter() - t0))
        return result


def run_decisions(gen, raw: Raw, plan: Plan) -> tuple[Side, Side, dict]:
    """A real Agent decides; raw replays each of its generations right after it (only decisions are timed)."""
    spec = AgentSpec(name=AGENT, model=MODEL, seed=SEED, threads=plan.threads, context=plan.n_ctx, max_ops=8,
                     max_tokens=plan.tokens, dream_every=10 ** 9)
    clock = SimClock()
    client = FakeCanvasClient(AGENT, view=spec.view)
    rec = RecordingGenerator(gen)
    agent = Agent(spec, rec, client, FakeBank(), Budget(None, None, clock=clock), clock=clock)
    agent_side, raw_side = Side(), Side()
    info = {"prompt_tokens": [], "reused": [], "extra_generations": 0}
    total = plan.warmup + plan.decisions
    for i in range(total):
        clock.advance()
        rec.calls.clear()
        t0 = time.perf_counter()
        agent.run(decisions=i + 1)  # connect (in-process, instant), then one decide()
        wall = time.perf_counter() - t0
        prompt, grammar, max_tokens, result, _ = rec.calls[0]
        assert grammar == agent.grammar, "the decision's own generation comes first"
        extra = sum(c[4] for c in rec.calls[1:])  # a title or statement the model was asked for after `done`
        decode = result.total_s - result.ttft_s
        n, first, raw_decode = raw.complete(prompt, grammar, max_tokens)  # the same prompt, right after
        if len(rec.calls) > 1:  # and the same KV cache history: the questions asked aside, untimed, as the
            saved = raw.llm.save_state()  # agent does (Generator.aside), with stock llama-cpp-python's own state
            for p, g, _, _, _ in rec.calls[1:]:
                raw.complete(p, g, 1)
            raw.llm.load_state(saved)
        counted = i >= plan.warmup
        if counted:
            agent_side.add(result.tokens, wall - extra - decode, decode)
            raw_side.add(n, first, raw_decode)
            info["prompt_tokens"].append(result.prompt_tokens)
            info["reused"].append(result.reused_tokens)
            info["extra_generations"] += len(rec.calls) - 1
        _progress(f"decision {i + 1}/{total}{'' if counted else ' (warm-up)'}: agent {result.tokens} tokens "
                  f"{wall - extra:.2f} s, raw {n} tokens {first + raw_decode:.2f} s "
                  f"(prompt {result.prompt_tokens} tokens, {result.reused_tokens} kept in the KV cache)")
    info["ops_applied"] = agent.stats.ops_applied
    info["unparsed_lines"] = agent.stats.unparsed_lines
    return agent_side, raw_side, info


def consecutive_prompts(gen) -> tuple[str, str]:
    """Two consecutive turns' prompts, as an agent builds them: two cells painted and 7 s between them, so
    three canvas rows, the state, last-turn and clock lines differ."""
    canvas = CanvasModel()
    memory = FakeBank().render(MEMORY_CHARS)
    now = EPOCH + 3600.0
    woke, began = now - 3 * 86400.0, now - 600.0
    system = system_text(AGENT)
    canvas.apply_text("pen down")
    first = Turn(AGENT, canvas.view(), canvas.state(), memory, [], "1 op applied", now, now - 7.0, began, woke)
    for op in ("move down-right", "move down-right"):  # two cells painted: three rows change, with the cursor
        canvas.apply_text(op)
    second = Turn(AGENT, canvas.view(), canvas.state(), memory, [], "2 ops applied", now + 7.0, now, began, woke)
    return gen.format(system, user_text(first)), gen.format(system, user_text(second))


def run_ttft(gen, grammar: str, plan: Plan) -> dict:
    p1, p2 = consecutive_prompts(gen)
    with_reuse: list[float] = []
    without: list[float] = []
    kept = tokens = 0
    for r in range(plan.ttft_rounds):
        for kind in (("with", "without") if r % 2 == 0 else ("without", "with")):
            if kind == "with":
                gen.generate(p1, grammar=grammar, max_tokens=1)  # the previous turn, now in the KV cache
                res = gen.generate(p2, grammar=grammar, max_tokens=1)
                with_reuse.append(res.ttft_s)
                kept, tokens = res.reused_tokens, res.prompt_tokens
            else:
                gen.llm.reset()  # forget the KV cache: the whole prompt is evaluated again
                res = gen.generate(p2, grammar=grammar, max_tokens=1)
                assert res.reused_tokens == 0
                without.append(res.ttft_s)
        _progress(f"time to first token, round {r + 1}/{plan.ttft_rounds}: with reuse "
                  f"{1000 * with_reuse[-1]:.0f} ms, without {1000 * without[-1]:.0f} ms")
    return {"with_ms": 1000 * sum(with_reuse) / len(with_reuse), "without_ms": 1000 * sum(without) / len(without),
            "kept": kept, "tokens": tokens, "prompt": p2}


def run_memory(model_path: Path, plan: Plan) -> tuple[agent_mem.Memory, agent_mem.Memory]:
    out = []
    for n in (1, plan.processes):
        _progress(f"memory: {n} agent process(es), each loads the model and generates")
        out.append(agent_mem.measure(model_path, n, n_ctx=plan.n_ctx, threads=plan.threads))
    return out[0], out[1]


def run_bench(plan: Plan, label: str = "aurora bench agent") -> dict[str, float]:
    """Run `plan`, print the report ending in the RESULT line, return its ratios (constrained_ratio.<model>
for each bundled model)."""
    from services.agent.llm import SAMPLING_DEFAULTS, Generator  # imports llama_cpp: only when the bench runs

    model_path = resolve(MODEL, data_dir(), progress=_progress)
    began = time.monotonic()
    # Memory first, while this process has not mapped the model yet.
    mem1, mem_n = run_memory(model_path, plan)
    _progress(f"loading {model_path.name} twice (the agent's Generator, and a plain Llama)")
    gen = Generator(model_path, n_ctx=plan.n_ctx, n_threads=plan.threads, seed=SEED)
    raw = None
    try:
        raw = Raw(model_path, n_ctx=plan.n_ctx, threads=plan.threads, n_batch=gen.llm.n_batch, seed=SEED,
                  sampling=dict(SAMPLING_DEFAULTS))
        grammar = gbnf(8)
        agent_side, raw_side, info = run_decisions(gen, raw, plan)
        raw.close()
        raw = None
        ttft = run_ttft(gen, grammar, plan)
    finally:
        if raw is not None:
            raw.close()
        gen.close()
    served = agent_server.measure(model_path, tokens=plan.tokens, warmup=plan.warmup,
                                  decisions=plan.server_decisions, n_ctx=plan.n_ctx, threads=plan.threads, seed=SEED,
                                  sampling=dict(SAMPLING_DEFAULTS), progress=_progress)
    decoding = [agent_constrained.measure(
        name, resolve(name, data_dir(), progress=_progress), prompt_for=lambda g: consecutive_prompts(g)[1],
        grammar=grammar, tokens=plan.tokens, rounds=plan.free_rounds, n_ctx=plan.n_ctx, threads=plan.threads,
        seed=SEED, progress=_progress) for name in BUNDLED]
    turns = turns_bench.measure_turns(changes=plan.turn_changes)

    results = {
        "ratio": raw_side.at(plan.tokens) / agent_side.at(plan.tokens),
        "ttft_ratio": ttft["with_ms"] / ttft["without_ms"],
        "mem_ratio": (mem_n.group_pss_mb - mem1.group_pss_mb) / (plan.processes - 1) / mem1.group_pss_mb,
        **{f"constrained_ratio.{d.model}": d.ratio for d in decoding},
        **served.ratios(plan.tokens),
        **turns,
    }
    _report(label, plan, model_path, agent_side, raw_side, info, ttft, decoding, mem1, mem_n, served, results,
            time.monotonic() - began)
    return results


def _met(value: float, target: float, below: bool) -> str:
    ok = value <= target if below else value >= target
    return f"target {'<=' if below else '>='} {target}: {'met' if ok else 'MISSED'}"


def _span(values: list[int]) -> str:
    return f"{min(values)}" if min(values) == max(values) else f"{min(values)}-{max(values)}"


def _mem_line(m: agent_mem.Memory) -> str:
    return (f"  {m.processes} agent process{'es' if m.processes > 1 else '  '}  PSS {m.group_pss_mb:6.1f} MB  "
            f"(anon {m.mb('Pss_Anon'):5.1f}, files {m.mb('Pss_File') - m.gguf_pss_kb / 1024 :4.1f}, GGUF "
            f"{m.gguf_rss_kb / 1024:4.1f} once)   plain PSS sum {m.mb('Pss'):6.1f} MB   RSS sum {m.mb('Rss'):6.1f} MB")


def _report(label, plan, model_path, agent_side, raw_side, info, ttft, decoding, mem1, mem_n, served, results,
            seconds) -> None:
    n = plan.tokens
    extra = (mem_n.group_pss_mb - mem1.group_pss_mb) / (plan.processes - 1)
    others = max(mem1.others_mapping, mem_n.others_mapping)
    prompt_tokens = info["prompt_tokens"]
    lines = [
        f"{label}: an LLM agent's decision path against raw llama-cpp-python, measured in the same run",
        f"  model {model_path.name}, context {plan.n_ctx}, {plan.threads} llama.cpp thread per model, "
        f"grammar proto.ops.grammar.gbnf(8), sampling as services.agent.llm.SAMPLING_DEFAULTS; "
        f"machine: {os.cpu_count()} cores",
        "  agent: services.agent.loop.Agent.run/decide with its real Generator and prompt, against an in-process "
        "canvas (proto.canvas) and an in-memory bank, simulated clock",
        "  raw:   llama_cpp.Llama.create_completion(stream=True, grammar=LlamaGrammar.from_string(...)) on a second "
        "Llama with the same settings, replaying each of the agent's prompts right after it",
        "",
        f"{plan.decisions} decision(s) after {plan.warmup} warm-up (prompt {_span(prompt_tokens)} tokens, "
        f"{_span(info['reused'])} kept in the KV cache from the previous turn)",
        f"  {'':<44}{'agent':>10}{'raw':>10}",
        f"  {'tokens generated per decision (mean)':<44}{agent_side.mean_tokens:>10.1f}{raw_side.mean_tokens:>10.1f}",
        f"  {'fixed ms (prompt, prefill, 1st token, ops)':<44}{1000 * agent_side.mean_fixed_s:>10.0f}"
        f"{1000 * raw_side.mean_fixed_s:>10.0f}",
        f"  {'decoding tok/s (tokens 2..n)':<44}{agent_side.tok_s:>10.1f}{raw_side.tok_s:>10.1f}",
        f"  {f'ms per decision of {n} tokens':<44}{1000 * agent_side.at(n):>10.0f}{1000 * raw_side.at(n):>10.0f}",
        f"  ratio {results['ratio']:.2f} (raw ÷ agent time per decision; > 1: the agent is faster; "
        f"{_met(results['ratio'], TARGET_RATIO, False)})",
        f"  the agent applied {info['ops_applied']} ops; unparsable lines {info['unparsed_lines']}; "
        f"{info['extra_generations']} title/statement generations after `done` (not timed; their prompts "
        "are evaluated on raw too, so that both KV caches see the same prompts)",
        "",
        f"time to first token of a turn (prompt {ttft['tokens']} tokens; the previous turn's differs in three "
        f"canvas rows, the state, last-turn and clock lines), mean of {plan.ttft_rounds}",
        f"  with prefix reuse ({ttft['kept']} tokens kept)  {ttft['with_ms']:8.0f} ms",
        f"  without (KV cache cleared)          {ttft['without_ms']:8.0f} ms",
        f"  ttft_ratio {results['ttft_ratio']:.2f} ({_met(results['ttft_ratio'], TARGET_TTFT, True)})",
        "",
        *agent_constrained.report(decoding, tokens=n, rounds=plan.free_rounds, target=TARGET_CONSTRAINED),
        "",
        *agent_server.report(served, tokens=n, target=TARGET_SERVER, met=_met),
        "",
        f"taking turns: two SmolLM2 agents under `aurora up` on room for one, {plan.turn_changes} turn change(s), "
        "median",
        f"  from a rest to the waking agent's first decision  {results['turn_change_s']:6.1f} s",
        f"  one decision in the same run                     {results['decision_s']:6.2f} s",
        f"  turn_change_decisions {results['turn_change_decisions']:.1f} (a change costs that many decisions' time: "
        "the leaving agent's last decision, the new one's start, model load, grammar and whole first prompt)",
        "",
        "memory: PSS summed over agent processes, each has loaded the model and generated "
        "(the GGUF mapping counted once for the group)",
        _mem_line(mem1),
        _mem_line(mem_n),
        f"  per extra agent {extra:.1f} MB; mem_ratio {results['mem_ratio']:.2f} "
        f"({_met(results['mem_ratio'], TARGET_MEM, True)})",
    ]
    if others:
        lines.append(f"  note: {others} other process(es) had the GGUF mapped (taking a share of its pages: the "
                     "plain PSS sums are lower than alone)")
    lines += ["", f"({seconds:.0f} s)",
              f"RESULT bench=agent ratio={results['ratio']:.2f} ttft_ratio={results['ttft_ratio']:.2f} "
              f"mem_ratio={results['mem_ratio']:.2f} "
              + " ".join(f"constrained_ratio.{d.model}={d.ratio:.2f}" for d in decoding)
              + f" server_ratio={results['server_ratio']:.2f} serve_ratio={results['serve_ratio']:.2f}"
              + f" turn_change_s={results['turn_change_s']:.1f}"
              + f" turn_change_decisions={results['turn_change_decisions']:.1f}"
              + (f" llama_server_ratio={results['llama_server_ratio']:.2f}" if "llama_server_ratio" in results else "")]
    print("\n".join(lines), flush=True)


# What a run can fail with that is the machine's or the install's fault, not a bug: said in one line.
EXPECTED_ERRORS = (ModelError, RuntimeError, OSError)
