"""The agent's loop with a scripted stand-in for the model (named so: no LLM here), a real canvas process
and a real valkey bank: titles asked for, notes kept private, feelings and works remembered, budgets rested."""

from __future__ import annotations

import threading
from services.agent.budget import Budget
from services.agent.llm import GenerationResult
from services.agent.loop import Agent
from services.agent.memory import MemoryBank
from services.agent.roster import AgentSpec
from services.canvas.client import CanvasClient
from services.canvas.replica import Replica
from tests.support.processes import canvas_process


class ScriptedGenerator:
    """NOT a model: answers each generation with the next scripted text, and records the prompts."""

    mode = "raw"

    def __init__(self, answers: list[str]):
        self.answers = list(answers)
        self.prompts: list[str] = []

    def format(self, system: str, user: str) -> str:
        return f"{system}\n\n{user}\n"

    def count_tokens(self, text: str) -> int:
        return len(text) // 4

    def generate(self, prompt: str, *, grammar: str, max_tokens: int, stop=None, **_) -> GenerationResult:
        self.prompts.append(prompt)
        text = self.answers.pop(0) if self.answers else "move up\n"
        return GenerationResult(text, tokens=10, prompt_tokens=0, ttft_s=0.0, total_s=0.0, stopped=False)


def make_agent(addrs, connect_as, name, answers, budget=None) -> tuple[Agent, ScriptedGenerator]:
    gen = ScriptedGenerator(answers)
    spec = AgentSpec(name=name, model="scripted", dream_every=100)
    client = CanvasClient(name, addrs.agents)
    agent = Agent(spec, gen, client, MemoryBank(connect_as(name), name), budget or Budget(None, None))
    return agent, gen


def test_done_without_a_title_asks_the_model_for_one_and_remember_stays_private(connect_as, names):
    name = names("ada")
    with canvas_process() as (_, addrs):
        replica = Replica(addrs.events, addrs.snapshots)
        replica.sync()
        agent, gen = make_agent(addrs, connect_as, name, [
            'pen down\nmove right 3\nfeel calm\nremember "a secret place"\ndone\n',
            'title "Quiet Field"\n',          # asked for, because the work had no title
            "light on a field\n",             # the statement
        ])
        stats = agent.run(decisions=1)
        events = []
        replica.wait_for(lambda r: events.extend(r.poll(0.05)) or any(e.body["kind"] == "statement" for e in events))
        done = [e.body["data"] for e in events if e.body["kind"] == "done"]
        assert done[0]["title"] == "Quiet Field"
        assert "It has no title yet." in gen.prompts[1]
        assert stats.sent == ["pen down", "move right 3", "feel calm", 'title "Quiet Field"', "done"]
        assert not any("secret" in str(e.body) for e in events)  # kept in the bank, never published
        bank = MemoryBank(connect_as(name), name)
        text = bank.render(2000)
        assert "a secret place" in text and "Quiet Field" in text and "light on a field" in text
        assert bank.feelings() == [("calm", 1)]
        replica.close()


def test_a_spent_budget_rests_says_until_when_and_resumes_by_itself(connect_as, names):
    name = names("bob")
    now = [1000.0]
    budget = Budget(None, decisions_per_minute=2, clock=lambda: now[0])
    with canvas_process() as (_, addrs):
        replica = Replica(addrs.events, addrs.snapshots)
        replica.sync()
        agent, gen = make_agent(addrs, connect_as, name, [], budget)
        agent.clock = lambda: now[0]
        thread = threading.Thread(target=agent.run, kwargs={"decisions": 3}, daemon=True)
        thread.start()
        replica.wait_for(lambda r: (r.activity.get(name) or {}).get("activity") == "resting", timeout=20)
        resting = replica.activity[name]
        assert resting["reason"] == "decisions_per_minute" and resting["until"] == 1060.0
        assert len(gen.prompts) == 2  # no model time while resting
        now[0] = 1061.0  # a minute later, the agent goes on by itself
        replica.wait_for(lambda r: r.activity[name]["activity"] == "painting", timeout=20)
        thread.join(20)
        assert not thread.is_alive() and len(gen.prompts) == 3
        replica.close()


def test_stop_ends_the_loop_cleanly_and_says_bye(connect_as, names):
    name = names("cy")
    with canvas_process() as (_, addrs):
        replica = Replica(addrs.events, addrs.snapshots)
        replica.sync()
        agent, _ = make_agent(addrs, connect_as, name, [])
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        replica.wait_for(lambda r: name in r.canvases and r.canvases[name].ops > 3)
        agent.stop.set()
        thread.join(10)
        assert not thread.is_alive()
        replica.wait_for(lambda r: r.status.get(name) == "away")  # `bye`: the name is free at once
        replica.close()


def test_the_prompt_holds_the_clock_and_the_canvas_but_no_instruction(connect_as, names):
    name = names("di")
    with canvas_process() as (_, addrs):
        agent, gen = make_agent(addrs, connect_as, name, [])
        agent.run(decisions=2)
        prompt = gen.prompts[-1]
        assert "Clock:" in prompt and "Since your last turn:" in prompt and "You first woke" in prompt
        assert "Your canvas (work 1)" in prompt and "@" in prompt
        for word in ("should", "please", "try to", "paint something", "express"):
            assert word not in prompt.lower()
