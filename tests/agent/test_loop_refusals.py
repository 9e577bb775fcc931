"""The agent's loop when the canvas refuses a whole decision (PROTOCOL.md section 7), with a scripted stand-in
for the model (no LLM here), a real canvas process and a real valkey bank: a decision past the roster's rate, which
the canvas enforces whatever the agent keeps to, is rested out as the canvas says, and the agent goes on."""

from __future__ import annotations

import threading

from services.canvas.replica import Replica
from tests.agent.test_loop import make_agent
from tests.support.processes import canvas_process


def test_a_decision_the_canvas_rate_limits_rests_until_it_says_and_the_agent_goes_on(connect_as, names, tmp_path):
    name = names("ada")
    roster = tmp_path / "roster.toml"  # the canvas's limit; the agent's own budget is unlimited
    roster.write_text(f'[[agent]]\nname = "{name}"\nmodel = "m"\n[agent.budget]\ndecisions_per_minute = 2\n')
    with canvas_process("--roster", str(roster)) as (_, addrs):
        replica = Replica(addrs.events, addrs.snapshots)
        replica.sync()
        now = [1000.0]
        agent, gen = make_agent(addrs, connect_as, name, ["pen down\n", "move right\n", "move left\n"])
        agent.clock = lambda: now[0]
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        replica.wait_for(lambda r: (r.activity.get(name) or {}).get("activity") == "resting", timeout=30)
        resting = replica.activity[name]
        assert resting["reason"] == "rate_limited" and 1000.0 + 50 < resting["until"] <= 1000.0 + 60
        assert agent.stats.refused == 1 and agent.stats.decisions == 2
        assert "refused the decision (rate_limited)" in agent.last_result
        assert replica.canvases[name].state()["cursor"] == [17, 8]  # the refused `move left` changed nothing
        agent.stop.set()
        thread.join(30)
        assert not thread.is_alive()
        replica.close()
