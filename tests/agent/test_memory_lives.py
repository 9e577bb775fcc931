"""Memory that lives, with the real bundled models (llama.cpp in this process, a real canvas process, a real
valkey bank): a `remember` note reaches the next turn's prompt, a dream replaces what it condensed, and an
agent with `dream_every = 20` in a 1,024-token context decides, titles and dreams without an error."""

from __future__ import annotations

import logging

import pytest

from services.agent.budget import Budget
from services.agent.loop import Agent
from services.agent.memory import MemoryBank
from services.agent.roster import AgentSpec
from services.canvas.client import CanvasClient
from tests.support.processes import canvas_process

pytest.importorskip("llama_cpp", reason="llama-cpp-python is installed by `make test`")


class Recorded:
    """The real Generator, with the prompt of every generate() call kept."""

    def __init__(self, gen):
        self.gen, self.prompts = gen, []

    def __getattr__(self, name):
        return getattr(self.gen, name)

    def generate(self, prompt: str, **kw):
        self.prompts.append(prompt)
        return self.gen.generate(prompt, **kw)


@pytest.fixture(scope="module", params=["smollm2-135m", "gemma3-270m"])
def model(request, model_paths):
    from services.agent.llm import Generator

    with Generator(model_paths(request.param), n_ctx=1024, n_threads=1, seed=3) as gen:
        yield request.param, gen


def agent_for(addrs, connect_as, name, gen, **spec) -> Agent:
    spec = AgentSpec(name=name, model="bundled", context=1024, max_tokens=48, **spec)
    return Agent(spec, Recorded(gen), CanvasClient(name, addrs.agents), MemoryBank(connect_as(name), name),
                 Budget(None, None))


@pytest.mark.timeout(600)
def test_a_note_reaches_the_next_prompt_and_a_dream_replaces_what_it_condensed(model, connect_as, names):
    _, gen = model
    name = names("mem")
    with canvas_process() as (_, addrs):
        agent = agent_for(addrs, connect_as, name, gen, dream_every=1)
        agent.run(decisions=1)
        agent.bank.wipe()  # whatever the first decision left, the bank now holds one note only
        agent.bank.remember("a note kept between two turns", agent.clock())
        asked = len(agent.gen.prompts)
        agent.run(decisions=2)  # its next turn reads the note; then one memory waits: it dreams
        assert "a note kept between two turns" in agent.gen.prompts[asked]
        assert agent.stats.dreams == 1
        dream_prompt = agent.gen.prompts[-1]
        assert "Condensed, in at most 3 lines:" in dream_prompt and "a note kept between two turns" in dream_prompt
        assert not any("a note kept" in line for _, line in agent.bank.pending_entries())
        dreams = agent.bank.recent(4000)["dreams"]
        assert dreams and dreams[0]["replaces"] >= 1 and dreams[0]["text"]


@pytest.mark.timeout(900)
def test_dream_every_20_in_a_1024_token_context_runs_without_error(model, connect_as, names, caplog):
    _, gen = model
    name = names("tight")
    with canvas_process() as (_, addrs):
        agent = agent_for(addrs, connect_as, name, gen, dream_every=20)
        for i in range(19):  # the bank fills up as after a long life; the next work or note makes 20
            agent.bank.record_work(i + 1, f"work of the hour {i}", "a long statement " * 8, 1000.0 + i)
        agent.bank.remember("one more", 2000.0)
        with caplog.at_level(logging.ERROR, logger="aurora.agent"):
            agent.run(decisions=3)
        assert agent.stats.decisions == 3 and agent.stats.dreams >= 1
        assert agent.stats.too_long == 0 and not caplog.records
        assert all(gen.count_tokens(p) <= 1024 for p in agent.gen.prompts)
