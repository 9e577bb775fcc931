"""The cost of taking turns: how long the studio goes without a decision when a turn changes.

Two SmolLM2 agents under `aurora up` on a memory budget (`--memory`) that fits one, with short turns: at each
change the awake agent finishes its decision, records that it waits and exits, and the other starts (its model
loads, its grammar compiles, it connects) and decides. turn_change_s is the median time from the supervisor's
"rests until" to the waking agent's first decision done; the baseline, measured in the same run, is the median
time one decision takes there, so `turn_change_decisions` says how many decisions a change costs.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path

from services.agent.models import resolve
from services.base.datadir import data_dir
from services.bench.studio_bench import Agent, Plan, Studio, _progress
from services.supervisor.plan import need_of

NAMES = ("turn-a", "turn-b")


def _roster(minutes: float) -> str:
    return (f"[defaults]\nthreads = 1\ncontext = 1024\n[turns]\nminutes = {minutes}\n"
            + "".join(f'[[agent]]\nname = "{n}"\nmodel = "smollm2-135m"\nseed = {i}\n' for i, n in enumerate(NAMES, 1)))


def measure_turns(changes: int = 2, minutes: float = 0.15, timeout: float = 300.0) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="aurora-bench-turns-"))
    studio = None
    try:
        roster = folder / "turns.toml"
        roster.write_text(_roster(minutes))
        one = need_of(NAMES[0], resolve("smollm2-135m", data_dir(), progress=_progress), 1024, 1).memory
        agents = {n: Agent(n, "smollm2-135m", 1, 1024, i) for i, n in enumerate(NAMES, 1)}
        plan = Plan(roster=roster, up_args=("--memory", str(one + one // 2), "--cores", "16"))
        _progress(f"turns: two agents on room for one, turns of {minutes * 60:.0f} s, {changes} changes")
        studio = Studio(plan, agents, folder)

        def gaps() -> list[float]:
            """For each turn change so far: from "rests until" to the waking agent's first decision done."""
            out = []
            for at, line in zip(studio.said_at, studio.said):
                if " rests until " in line:
                    leaving = line.split("agent ", 1)[1].split(" rests", 1)[0]
                    waking = next(n for n in NAMES if n != leaving)
                    first = [d["ts"] for d in agents[waking].decisions if d["ts"] > at]
                    if not first:
                        break
                    out.append(first[0] - at)
            return out
        studio.wait_for(lambda: len(gaps()) >= changes, f"through {changes} turn changes", timeout)
        with studio.lock:
            changed = gaps()[:changes]
            per_decision = [d["seconds"] for a in agents.values() for d in a.decisions]
    finally:
        if studio is not None:
            studio.stop()
        shutil.rmtree(folder, ignore_errors=True)
    change, decision = statistics.median(changed), statistics.median(per_decision)
    return {"turn_change_s": change, "decision_s": decision, "turn_change_decisions": change / decision}
