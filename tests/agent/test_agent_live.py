"""A real SmolLM2 agent (llama.cpp, the bundled GGUF) paints against a real canvas process, remembers in a
real valkey, and carries its memory across a restart."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from services.agent.memory import MemoryBank, agent_url, grant
from services.canvas.replica import Replica
from tests.support.processes import addr_args, aurora, canvas_process

pytest.importorskip("llama_cpp", reason="llama-cpp-python is installed by `make test`")

SEED = 1  # a seed with which SmolLM2 finishes a work within 20 decisions (many seeds never paint before `done`)
ROSTER = f"""
[defaults]
threads = 1
context = 2048
max_ops = 8
max_tokens = 48
dream_every = 3
[defaults.sampling]
temperature = 0.9
top_p = 0.95
top_k = 40
min_p = 0.05
repeat_penalty = 1.1
[defaults.budget]
tokens_per_hour = 1000000
decisions_per_minute = 1000

[[agent]]
name = "smol"
model = "smollm2-135m"
seed = {SEED}
"""


def run_agent(tmp_path, addrs, memory_url: str, decisions: int, *extra: str) -> dict:
    roster = tmp_path / "roster.toml"
    roster.write_text(ROSTER)
    proc = aurora("agent", "smol", "--roster", str(roster), "--decisions", str(decisions), *addr_args(addrs),
                  *extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                  env_extra={"AURORA_MEMORY_URL": memory_url, "AURORA_DATA": str(tmp_path / "data")})
    out, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err[-2000:]
    stats = re.search(r"aurora agent smol stopped: (\{.*\})", out)
    assert stats, out[-2000:]
    assert re.search(r"aurora agent smol: ready \(model [\d.]+ s, grammar [\d.]+ s\)", out), out[:2000]
    print(out[-3000:], err[-3000:])  # shown by pytest when an assertion below fails
    return json.loads(stats.group(1))


@pytest.mark.timeout(900)  # ~20 decisions of a real model on 2 shared cores: minutes, mostly prompt reading
def test_a_real_model_paints_feels_finishes_titles_and_remembers(tmp_path, redis_server, admin):
    with canvas_process() as (_, addrs):
        replica = Replica(addrs.events, addrs.snapshots)
        replica.sync()
        memory_url = agent_url(redis_server.url, "smol", grant(admin, "smol"))
        stats = run_agent(tmp_path, addrs, memory_url, 20, "--fresh")
        events = []
        replica.wait_for(lambda r: events.extend(r.poll(0.05)) or r.canvases.get("smol") is not None
                         and r.canvases["smol"].ops >= stats["ops_applied"])
        kinds = [e.body["kind"] for e in events]

        assert stats["decisions"] == 20
        assert stats["unparsed_lines"] == 0  # every op it sent parsed
        # the canvas refuses only what its rules refuse: `done` on a work with no painted cell
        refused = [e.body["data"]["code"] for e in events if e.body["kind"] == "rejected"]
        assert set(refused) <= {"empty_work"} and len(refused) == stats["ops_rejected"]
        assert stats["ops_applied"] + stats["ops_rejected"] == stats["ops_sent"] > 20
        assert "feel" in kinds, f"the model named no feeling with seed {SEED}: {sorted(set(kinds))}"
        done = [e.body["data"] for e in events if e.body["kind"] == "done"]
        assert done and all(d["title"] for d in done), "every finished work has the title the model chose"
        assert "statement" in kinds
        assert replica.canvases["smol"].work == 1 + len(done)

        bank = MemoryBank(admin, "smol")
        before = bank.clock()
        assert bank.counters()["decisions"] == 20
        assert bank.feelings()
        # a restart resumes from the bank: same first waking, usage goes on
        stats2 = run_agent(tmp_path, addrs, agent_url(redis_server.url, "smol", grant(admin, "smol")), 2)
        assert stats2["decisions"] == 2
        assert bank.clock()["first_woke"] == before["first_woke"]
        assert bank.counters()["decisions"] == 22
        replica.close()
