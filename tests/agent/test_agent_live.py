"""A real SmolLM2 agent (llama.cpp, the bundled GGUF) paints against a real canvas process, remembers in a
real valkey, and carries its memory across a restart."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter

import pytest

from services.agent.memory import MemoryBank, agent_url, grant
from services.base.keys import PROOF_ENV, Keys
from services.canvas.replica import Replica
from tests.support.processes import addr_args, aurora, canvas_process

pytest.importorskip("llama_cpp", reason="llama-cpp-python is installed by `make test`")

SEED = 1
DECISIONS = 20
# What the model makes is its own: whether it paints, feels or finishes a work in 20 decisions depends on the
# seed and on the model (SmolLM2 often repeats its last answer, a refused `done` included: `aurora report`
# counts it). So this test asserts what the studio guarantees for whatever the model does; finishing, titling
# and stating are asserted with a scripted stand-in in tests/agent/test_loop.py and with both real models,
# asked directly, in tests/agent/test_memory_lives.py.
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
                  env_extra={"AURORA_MEMORY_URL": memory_url, "AURORA_DATA": str(tmp_path / "data"),
                             # its own data folder, not the canvas's: the studio gives it the proof of its name
                             PROOF_ENV: Keys.studio().hello_proof("smol")})
    out, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err[-2000:]
    stats = re.search(r"aurora agent smol stopped: (\{.*\})", out)
    assert stats, out[-2000:]
    assert re.search(r"aurora agent smol: ready \(model [\d.]+ s, grammar [\d.]+ s\)", out), out[:2000]
    print(out[-3000:], err[-3000:])  # shown by pytest when an assertion below fails
    return json.loads(stats.group(1))


@pytest.mark.timeout(900)  # ~20 decisions of a real model on 2 shared cores
def test_a_real_model_decides_against_a_real_canvas_and_its_bank_survives_a_restart(tmp_path, redis_server, admin):
    with canvas_process() as (_, addrs):
        replica = Replica(addrs.events, addrs.snapshots)
        replica.sync()
        memory_url = agent_url(redis_server.url, "smol", grant(admin, "smol"))
        stats = run_agent(tmp_path, addrs, memory_url, DECISIONS, "--fresh")
        events = []
        replica.wait_for(lambda r: events.extend(r.poll(0.05)) or r.canvases.get("smol") is not None
                         and r.canvases["smol"].ops >= stats["ops_applied"])
        kinds = [e.body["kind"] for e in events]

        assert stats["decisions"] == DECISIONS
        assert stats["unparsed_lines"] == 0  # every op it sent parsed
        # the canvas refuses only what its rules refuse: `done` on a work with no painted cell
        refused = [e.body["data"]["code"] for e in events if e.body["kind"] == "rejected"]
        assert set(refused) <= {"empty_work"} and len(refused) == stats["ops_rejected"]
        assert stats["ops_applied"] + stats["ops_rejected"] == stats["ops_sent"] > 0
        done = [e.body["data"] for e in events if e.body["kind"] == "done"]
        assert all(d["title"] for d in done), "a finished work always has a title (the model's, or asked for)"
        assert kinds.count("statement") == len(done) == stats["works"]
        assert replica.canvases["smol"].work == 1 + len(done)

        bank = MemoryBank(admin, "smol")
        before = bank.clock()
        assert bank.counters()["decisions"] == DECISIONS
        felt = Counter(e.body["data"]["feel"] for e in events if e.body["kind"] == "feel")
        assert dict(bank.feelings(top=100)) == dict(felt)  # every feeling the canvas applied, and no other
        # a restart resumes from the bank: same first waking, usage goes on
        stats2 = run_agent(tmp_path, addrs, agent_url(redis_server.url, "smol", grant(admin, "smol")), 2)
        assert stats2["decisions"] == 2
        assert bank.clock()["first_woke"] == before["first_woke"]
        assert bank.counters()["decisions"] == DECISIONS + 2
        replica.close()
