"""The agent's loop with a scripted stand-in for the model (named so: no LLM here), a real canvas process
and a real valkey bank: titles asked for, notes kept private, feelings and works remembered, budgets rested."""

from __future__ import annotations

import contextlib
import threading

import pytest
from services.agent.budget import Budget
from services.agent.echo import words_of
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
    reused = 0  # prompt tokens said to be kept in the KV cache from the call before
    can_grow = False  # every turn is a whole prompt (the growing context is tested with the real models)

    def __init__(self, answers: list[str]):
        self.answers = list(answers)
        self.prompts: list[str] = []

    def format(self, system: str, user: str, cue: str | None = "Ops:") -> str:
        return f"{system}\n\n{user}\n" + (f"{cue}\n" if cue else "")

    def count_tokens(self, text: str) -> int:
        return len(text) // 4

    def aside(self):
        return contextlib.nullcontext()

    def generate(self, prompt: str, *, grammar: str, max_tokens: int, stop=None, **_) -> GenerationResult:
        self.prompts.append(prompt)
        text = self.answers.pop(0) if self.answers else "move up\n"
        return GenerationResult(text, tokens=10, prompt_tokens=self.count_tokens(prompt), ttft_s=0.0, total_s=0.0,
                                stopped=False, reused_tokens=self.reused, ids=[0] * 10)


def make_agent(addrs, connect_as, name, answers, budget=None, **spec) -> tuple[Agent, ScriptedGenerator]:
    gen = ScriptedGenerator(answers)
    spec = AgentSpec(name=name, model="scripted", **{"dream_every": 20, **spec})
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
            "Quiet Field\n",                  # asked for, because the work had no title
            "light on a field\n",             # the statement
        ])
        stats = agent.run(decisions=1)
        events = []
        replica.wait_for(lambda r: events.extend(r.poll(0.05)) or any(e.body["kind"] == "statement" for e in events))
        done = [e.body["data"] for e in events if e.body["kind"] == "done"]
        assert done[0]["title"] == "Quiet Field"
        title_prompt, statement_prompt = gen.prompts[1], gen.prompts[2]
        # each question its own prompt: the finished work (no cursor), its colours, the field to fill; no manual
        assert title_prompt.endswith("Title:\n") and "Ops:" not in title_prompt and "Write one op" not in title_prompt
        assert "k black" in title_prompt and "@" not in title_prompt.split("finished:")[1]
        assert "kkkk" in statement_prompt and 'Title: Quiet Field\nStatement:' in statement_prompt
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
        assert resting["usage"]["decisions"] == 2 and resting["usage"]["prompt_tokens"] > 0
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


def echoes(events) -> list[dict]:
    return [e.body["data"] for e in events if e.body["kind"] == "echo"]


def test_done_on_a_blank_canvas_asks_no_title_and_is_refused_as_an_empty_work(connect_as, names):
    name = names("eve")
    with canvas_process() as (_, addrs):
        agent, gen = make_agent(addrs, connect_as, name, ["feel lost\ndone\n"])
        stats = agent.run(decisions=1)
        assert len(gen.prompts) == 1  # no title, no statement: the work was never finished
        assert stats.ops_rejected == 1 and stats.works == 0
        assert "refused: done (done refused: this work has no painted cell yet)" in agent.last_result


def test_every_text_is_reported_with_its_longest_run_shared_with_its_prompt(connect_as, names):
    name = names("fay")
    with canvas_process() as (_, addrs):
        replica = Replica(addrs.events, addrs.snapshots)
        replica.sync()
        agent, gen = make_agent(addrs, connect_as, name, [
            'pen down\nremember "write one op per line"\ntitle "Tide Pool"\ndone\n',
            "You are " + name + " in Aurora\n",  # the statement: copies its prompt's first words
        ])
        agent.run(decisions=1)
        events: list = []
        replica.wait_for(lambda r: events.extend(r.poll(0.05)) or len(echoes(events)) == 3)
        got = {e["of"]: e for e in echoes(events)}
        assert "asked" not in got["title"]  # the model named this work itself
        assert got["remember"]["words"] == 5 and got["remember"]["run"] == "write one op per line"
        assert got["remember"]["studio_words"] == 5  # the manual's words: the studio's, not its own
        assert got["title"]["words"] == 0 and got["title"]["work"] == 1
        run = " ".join(words_of(f"you are {name} in aurora"))  # a hyphen parts words; a tag of digits is none
        assert got["statement"]["words"] == len(run.split()) and got["statement"]["run"] == run
        replica.close()


def test_the_memory_in_the_prompt_is_the_bank_as_it_is_at_each_turn(connect_as, names):
    name = names("gil")
    with canvas_process() as (_, addrs):
        agent, gen = make_agent(addrs, connect_as, name, ['remember "north wall"\nfeel brave\n', "move up\n"])
        agent.run(decisions=2)
        assert "north wall" not in gen.prompts[0]
        assert "Note (" in gen.prompts[1] and "north wall" in gen.prompts[1] and "brave x1" in gen.prompts[1]


def test_a_dream_shows_what_fits_the_context_and_replaces_exactly_that(connect_as, names):
    name = names("hal")
    with canvas_process() as (_, addrs):
        agent, gen = make_agent(addrs, connect_as, name, [], dream_every=20, context=720, max_tokens=32)
        for i in range(20):
            agent.bank.remember(f"note number {i} " + "x" * 100, 1000.0 + i)
        gen.answers = ["move up\n", "all of it, shorter\n"]
        stats = agent.run(decisions=1)
        dream_prompt = gen.prompts[-1]
        assert stats.dreams == 1 and dream_prompt.endswith("Condensed, in at most 3 lines:\n")
        shown = dream_prompt.count("note number")
        assert shown == 10  # not all of them fit 720 tokens: halved, the oldest
        assert gen.count_tokens(dream_prompt) <= 720 - 96 - 8
        left = [line for _, line in agent.bank.pending_entries()]
        assert len(left) == 20 - shown and all(f"note number {i} " not in " ".join(left) for i in range(shown))
        assert "all of it, shorter" in agent.bank.render(2000)


def test_the_budget_and_the_usage_count_prompt_tokens_evaluated_as_well_as_generated(connect_as, names):
    name = names("ivy")
    budget = Budget(tokens_per_hour=10 ** 6, decisions_per_minute=None)
    with canvas_process() as (_, addrs):
        agent, gen = make_agent(addrs, connect_as, name, ["move up\n", "move up\n"], budget)
        gen.reused = 100
        agent.run(decisions=2)
        evaluated = sum(gen.count_tokens(p) - 100 for p in gen.prompts)
        assert agent.stats.prompt_tokens == evaluated and agent.stats.tokens == 20
        assert budget.state()["tokens_last_hour"] == evaluated + 20
        assert agent.bank.counters() == {"decisions": 2, "tokens": 20, "prompt_tokens": evaluated}


def test_an_agent_refuses_a_canvas_too_old_to_send_its_cells_with_a_clear_error():
    from proto.errors import RemoteError
    from services.bench.agent_fakes import FakeBank, FakeCanvasClient

    class OldCanvas(FakeCanvasClient):
        def connect_with_backoff(self, deadline=None, should_stop=lambda: False):
            welcome = super().connect_with_backoff(deadline, should_stop)
            del welcome["cells"]
            return {**welcome, "protocol": "1.5"}

    agent = Agent(AgentSpec(name="old", model="scripted"), ScriptedGenerator([]), OldCanvas("old"), FakeBank(),
                  Budget(None, None))
    with pytest.raises(RemoteError, match="protocol 1.6 or later") as refused:
        agent.run(decisions=1)
    assert refused.value.code == "version_mismatch"


def test_a_text_repeating_the_agents_own_memory_is_told_from_one_copying_the_studio(connect_as, names):
    name = names("jo")
    with canvas_process() as (_, addrs):
        replica = Replica(addrs.events, addrs.snapshots)
        replica.sync()
        agent, gen = make_agent(addrs, connect_as, name, ['title "slow rivers under a pale sky"\n'])
        agent.bank.remember("slow rivers under a pale sky", 1000.0)
        agent.run(decisions=1)
        events: list = []
        replica.wait_for(lambda r: events.extend(r.poll(0.05)) or len(echoes(events)) == 1)
        title = echoes(events)[0]
        assert title["of"] == "title" and title["words"] == 6  # the whole title is in its prompt: its memory
        assert title["studio_words"] < 5
        replica.close()


def test_the_work_s_title_said_again_is_no_new_title_and_reports_no_echo(connect_as, names):
    name = names("tam")
    with canvas_process() as (_, addrs):
        replica = Replica(addrs.events, addrs.snapshots)
        replica.sync()
        agent, _ = make_agent(addrs, connect_as, name, ['title "Low Tide"\n', 'title "Low Tide"\nmove up\n',
                                                        'title "High Tide"\n'])
        agent.run(decisions=3)
        events: list = []
        titles = lambda: sum(1 for e in events if e.body["kind"] == "title")  # noqa: E731
        # The canvas applied each op; a decision's echo is published before its ops, so all are in by now.
        replica.wait_for(lambda r: events.extend(r.poll(0.05)) or titles() == 3)
        assert [e["work"] for e in echoes(events)] == [1, 1]  # "Low Tide" once, "High Tide" once
        replica.close()


def test_look_is_kept_by_the_agent_and_asks_for_the_whole_canvas_next_turn(connect_as, names):
    name = names("lou")
    with canvas_process() as (_, addrs):
        agent, gen = make_agent(addrs, connect_as, name, ["look\nmove up\n"])
        stats = agent.run(decisions=1)
        assert stats.sent == ["move up 1"] and agent._look  # never sent to the canvas


def test_a_whole_prompt_each_turn_counts_a_restart_only_for_a_new_base_view(connect_as, names):
    name = names("kit")
    with canvas_process() as (_, addrs):
        agent, gen = make_agent(addrs, connect_as, name, ["move up\n"] * 3)  # a model that cannot grow
        agent.run(decisions=3)
        assert agent.stats.restarts == 0  # the cursor moved: two rows changed, the base view stays
        assert "Rows changed since:" in gen.prompts[-1] and gen.prompts[-1].count("Write one op per line") == 1
