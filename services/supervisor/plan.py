"""Which agents fit on this machine at once, and, when not all do, in what turns they paint.

`aurora up` plans before it starts anything: each agent needs memory (its model's weights, its KV cache at
the roster's context, and the process around them) and cores (its llama.cpp threads). When every agent fits
in the machine's available memory and cores, all run at once. When not, agents take turns: as many as fit
are awake, the rest wait, and every `turn_minutes` the longest-waiting take the place of the longest-awake
(services/supervisor/turns.py keeps that clock; this module only says who fits and prints the plan).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

GIB = 1 << 30
MIB = 1 << 20
# What the studio's own processes hold (Redis, canvas, recorder, gateway, this supervisor): an estimate with
# margin from their resident sizes in a running studio; kept out of what the agents may use.
STUDIO_RESERVE = 512 * MIB
# An agent whose model runs on an inference server holds no model: Python and its clients, with margin.
SERVED_AGENT = 100 * MIB


class PlanError(ValueError):
    """A roster that cannot run on this machine at all; the message says which agent and what to change."""


@dataclass(frozen=True)
class Need:
    name: str
    memory: int   # bytes
    threads: int


@dataclass(frozen=True)
class Machine:
    memory: int   # bytes the agents may use
    cores: int
    source: str   # where the figures came from, for the printed plan

    @classmethod
    def detect(cls, memory: int | None = None, cores: int | None = None) -> "Machine":
        """This machine (available memory less the studio's reserve; the cores this process may run on),
        or the figures given (`aurora up --memory/--cores`: plan for another machine, or leave room)."""
        given = []
        if memory is None:
            memory = max(0, _available_memory() - STUDIO_RESERVE)
        else:
            given.append("memory")
        if cores is None:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        else:
            given.append("cores")
        source = "given " + " and ".join(given) if given else "this machine"
        return cls(memory, cores, source)


def _available_memory() -> int:
    """MemAvailable from /proc/meminfo (Linux); elsewhere the physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from `16G`, `512M`, `16 GiB`, `1.5g` or a plain number of bytes (powers of 1024)."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"not a size: {text!r} (say e.g. 16G or 512M)")
    return int(float(m.group(1)) * 1024 ** "_kmgt".index(m.group(2).lower() or "_"))


def fits(needs: list[Need], machine: Machine) -> bool:
    return sum(n.memory for n in needs) <= machine.memory and sum(n.threads for n in needs) <= machine.cores


def check(needs: list[Need], machine: Machine) -> None:
    """Raise PlanError for an agent that does not fit even alone: turns cannot help it."""
    for n in needs:
        if not fits([n], machine):
            what = (f"{gib(n.memory)} of memory ({machine.source}: {gib(machine.memory)} for agents)"
                    if n.memory > machine.memory else
                    f"{n.threads} threads ({machine.source}: {machine.cores} cores)")
            raise PlanError(f"agent {n.name} needs {what} even alone; give it a smaller model, a smaller "
                            "`context` or fewer `threads` in the roster, or plan for more with --memory/--cores")


def choose(order: list[Need], machine: Machine) -> list[str]:
    """The agents awake next: taken in `order` (the most deserving first), each that still fits."""
    awake: list[Need] = []
    for n in order:
        if fits(awake + [n], machine):
            awake.append(n)
    return [n.name for n in awake]


def gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / MIB:.0f} MiB"


def need_of(name: str, model_path, context: int, threads: int) -> Need:
    """What one agent needs: its model's weights and KV cache at `context` (read from the GGUF header), and
    the process around them (services/agent/gguf_info.py)."""
    from services.agent.gguf_info import agent_need_bytes, read_info
    return Need(name, agent_need_bytes(read_info(model_path), context), threads)


def describe(needs: list[Need], machine: Machine, schedule: list[tuple[float, list[str]]], minutes: float) -> str:
    """The plan as `aurora up --plan` prints it: what each agent needs, and whether they take turns."""
    lines = [f"Plan for {len(needs)} agent(s) on {machine.source}: {gib(machine.memory)} of memory for agents, "
             f"{machine.cores} cores",
             f"  {'agent':<24}{'memory':>10}{'threads':>9}"]
    lines += [f"  {n.name:<24}{gib(n.memory):>10}{n.threads:>9}" for n in needs]
    total = sum(n.memory for n in needs)
    threads = sum(n.threads for n in needs)
    if len(schedule[0][1]) == len(needs):
        lines.append(f"All fit at once ({gib(total)}, {threads} threads): every agent paints all the time.")
        return "\n".join(lines)
    lines.append(f"Not all fit at once ({gib(total)}, {threads} threads): they take turns of {minutes:g} minutes, "
                 f"as many awake as fit; the longest waiting wake first.")
    start = schedule[0][0]
    for i, (at, awake) in enumerate(schedule):
        when = "now" if at == start else f"+{round((at - start) / 60, 2):g} min"
        lines.append(f"  turn {i + 1:<3}{when:>11}   {', '.join(awake)}")
    round_ = set(schedule[-1][1]) == set(schedule[0][1])  # the last turn shown begins the next round
    turns = schedule[:-1] if round_ else schedule
    awake_turns = {n.name: sum(n.name in awake for _, awake in turns) for n in needs}
    low, high = min(awake_turns.values()), max(awake_turns.values())
    lines.append((f"A round is {len(turns)} turns;" if round_ else f"Over these {len(turns)} turns,")
                 + f" each agent is awake for {low}" + (f" to {high}" if high > low else "")
                 + " of them. A resting agent's model is closed (its memory freed); its bank, canvas and clock are kept.")
    return "\n".join(lines)
