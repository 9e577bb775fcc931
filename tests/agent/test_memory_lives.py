"""Memory that lives, with the real bundled models (llama.cpp in this process, a real canvas process, a real
valkey bank): a turn continues the context of the turn before, a dream condenses a note and replaces it, the
next turn reads the dream, and a context started afresh reads the memory; an agent with `dream_every = 20`
in a 1,024-token context decides, titles and dreams without an error."""

from __future__ import annotations

import logging

import pytest

from services.agent.budget import Budget
from services.agent.loop import Agent
from services.agent.memory import MemoryBank
from services.agent.roster import AgentSpec
from services.canvas.client import CanvasClient
from tests.support.processes import canvas_process
from tests.support.recorded_generator import Recorded

pytest.importorskip("llama_cpp", reason="llama-cpp-python is installed by `make test`")


@pytest.fixture(scope="module", params=["smollm2-135m", "gemma3-270m"])
def model(request, model_paths):
    from services.agent.llm import Generator

    with Generator(model_paths(request.param), n_ctx=2048, n_threads=1, seed=3) as gen:
        yield request.param, gen


def agent_for(addrs, connect_as, name, gen, **spec) -> Agent:
    spec = AgentSpec(name=name, model="bundled", max_tokens=48, **{"context": 1024, **spec})
    return Agent(spec, Recorded(gen), CanvasClient(name, addrs.agents), MemoryBank(connect_as(name), name),
                 Budget(None, None))


@pytest.mark.timeout(600)
def test_a_note_reaches_the_next_prompt_and_a_dream_replaces_what_it_condensed(model, connect_as, names):
    _, gen = model
    name = names("mem")
    with canvas_process() as (_, addrs):
        agent = agent_for(addrs, connect_as, name, gen, dream_every=1, context=2048)  # room for a few turns
        agent.run(decisions=1)
        first = list(agent.ctx.tokens)
        agent.bank.wipe()  # whatever the first decision left, the bank now holds one note only
        agent.bank.remember("a note kept between two turns", agent.clock())
        asked = len(agent.gen.prompts)
        agent.run(decisions=2)  # its next turn continues the context; then one memory waits: it dreams
        second = agent.gen.prompts[asked]
        assert isinstance(second, list) and second[:len(first)] == first  # read once, kept in the KV cache
        assert agent.stats.dreams >= 1 and agent.stats.restarts == 0  # a second, when the turn finished a work
        dream_prompt = next(p for p in agent.gen.prompts[asked:] if "Condensed, in at most 3 lines:" in p)
        assert "a note kept between two turns" in dream_prompt
        assert not any("a note kept" in line for _, line in agent.bank.pending_entries())
        dreams = agent.bank.recent(4000)["dreams"]
        assert dreams and dreams[0]["replaces"] >= 1 and dreams[0]["text"]
        agent.run(decisions=3)  # the next turn reads the dream: as news, or in its memory if it started afresh
        assert dreams[0]["text"] in agent.ctx.text
        again = agent_for(addrs, connect_as, name, gen, dream_every=1, context=2048)  # as after a process restart
        again.run(decisions=1)
        assert isinstance(again.gen.prompts[0], str) and dreams[0]["text"] in again.gen.prompts[0]


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
        assert all((len(p) if isinstance(p, list) else gen.count_tokens(p)) <= 1024 for p in agent.gen.prompts)
