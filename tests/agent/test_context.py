"""The context that grows turn by turn: what a later turn says (news_text), and, with the real bundled models
(llama.cpp in this process, the canvas's own rules in-process), that a turn evaluates only what is new, a
question asked aside keeps the turn's KV cache, a full context starts afresh and is counted, and `look`
shows the whole canvas again."""

from __future__ import annotations

import time

import pytest

from proto.canvas import CanvasModel
from services.agent.budget import Budget
from services.agent.loop import Agent
from services.agent.prompt import News, Turn, changed_rows, clock_news, news_text, user_text
from services.agent.roster import AgentSpec
from services.bench.agent_fakes import FakeBank, FakeCanvasClient
from tests.support.recorded_generator import Recorded

NOON = time.mktime((2026, 12, 5, 12, 0, 0, 0, 0, 0)) - time.timezone  # 2026-12-05 12:00:00 UTC


def _news(before: CanvasModel, after: CanvasModel, **kw) -> str:
    args = dict(result="2 ops applied", view=after.view(), seen_view=before.view(), state=after.state(),
                seen_state=before.state(), now=NOON, last_turn=NOON - 2)
    return news_text(News(**{**args, **kw}))


def test_a_later_turn_says_only_what_changed():
    before, after = CanvasModel(), CanvasModel()
    for text in ("color red", "pen down", "move right 2"):
        after.apply_text(text)
    text = _news(before, after)
    rows = changed_rows(before.view(), after.view())
    assert rows == [after.view().split("\n")[1 + after.cursor[1]]] and "rr@" in rows[0]  # with its row number
    x, y = after.cursor
    assert text == (f"Last turn: 2 ops applied.\nChanged rows:\n{rows[0]}\n"
                    f"State: cursor x={x} y={y}; pen down; colour red.\nClock: 12:00 UTC.")


def test_a_new_work_a_look_or_most_rows_changed_show_the_whole_canvas():
    before = CanvasModel()
    before.apply_text("pen down")
    after = CanvasModel()
    after.new_work(2)
    assert f"Your canvas (work 2):\n{after.view()}" in _news(before, after)
    assert f"Your canvas (work 1):\n{before.view()}" in _news(before, before, look=True)
    assert changed_rows("a\nb\nc\nd", "x\ny\nz\nd") is None  # most rows changed: the whole view
    assert changed_rows("a\nb\nc\nd", "a\ny\nc\nd") == ["y"]
    assert changed_rows("a\nb", "a\nb\nc") is None  # another size
    assert "State:" not in _news(before, before) and "Changed rows" not in _news(before, before)


def test_the_clock_says_the_date_on_a_new_day_and_a_long_gap():
    assert clock_news(NOON, NOON - 5) == "Clock: 12:00 UTC."
    assert clock_news(NOON, NOON - 600) == "Clock: 12:00 UTC; 10 min since your last turn."
    assert clock_news(NOON, NOON - 13 * 3600) == "Clock: 2026-12-05 12:00 (Saturday) UTC; 13 h 0 min since your last turn."


def test_the_clock_is_said_once_a_minute():
    assert clock_news(NOON + 59, NOON + 58, seen_time=NOON) == ""  # the minute the model last read
    assert clock_news(NOON + 60, NOON + 59, seen_time=NOON + 59) == "Clock: 12:01 UTC."
    assert clock_news(NOON + 600, NOON, seen_time=NOON) == "Clock: 12:10 UTC; 10 min since your last turn."
    midnight = NOON + 12 * 3600
    # the last turn ended after midnight, but the model last read the clock before it: the new day is said
    assert clock_news(midnight + 2, midnight + 1, seen_time=midnight - 2) == "Clock: 2026-12-06 00:00 (Sunday) UTC."
    before = CanvasModel()
    assert _news(before, before, now=NOON + 30, seen_time=NOON) == "Last turn: 2 ops applied."
    assert _news(before, before, now=NOON + 90, last_turn=NOON + 89, seen_time=NOON).endswith("\nClock: 12:01 UTC.")


# -- with the real models ------------------------------------------------------------------------------------

pytest.importorskip("llama_cpp", reason="llama-cpp-python is installed by `make test`")


@pytest.fixture(scope="module", params=["smollm2-135m", "gemma3-270m"])
def gen(request, model_paths):
    from services.agent.llm import Generator

    with Generator(model_paths(request.param), n_ctx=2048, n_threads=1, seed=4) as g:
        yield g


def agent_on(gen, **spec) -> Agent:
    spec = AgentSpec(name="ctx", model="bundled", max_tokens=32, dream_every=10 ** 6, **spec)
    return Agent(spec, Recorded(gen), FakeCanvasClient("ctx", view=spec.view), FakeBank(), Budget(None, None))


@pytest.mark.timeout(600)
def test_each_turn_evaluates_only_what_is_new_and_a_question_aside_keeps_the_cache(gen):
    agent = agent_on(gen, context=2048)
    agent.run(decisions=4)
    turns = [(p, r) for p, n, r in agent.gen.calls if n == 32]
    assert isinstance(turns[0][0], str) and agent.stats.restarts == 0
    for (before, b), (after, a) in zip(turns, turns[1:]):
        read = len(gen.tokenize(before)) if isinstance(before, str) else len(before)
        assert after[:read + b.tokens] == (gen.tokenize(before) if isinstance(before, str) else before) + b.ids
        # everything read and written before is kept: only the last generated token (when the grammar ended
        # the answer, it was never evaluated) and the news are evaluated
        assert a.reused_tokens >= read + b.tokens - 1 and a.prompt_tokens - a.reused_tokens < 400
    context = list(agent.ctx.tokens)
    with gen.aside():
        gen.generate(gen.format("q", "a question of its own", cue=None), max_tokens=4)
    joint, _ = gen.joint("Last turn: nothing new.")
    after = gen.generate(context + joint, max_tokens=2)
    assert after.reused_tokens >= len(context) - 1


@pytest.mark.timeout(600)
def test_a_full_context_starts_afresh_counted_and_never_overflows(gen):
    agent = agent_on(gen, context=1200)
    agent.run(decisions=12)
    prompts = [p for p, n, _ in agent.gen.calls if n == 32]
    sizes = [len(p) if isinstance(p, list) else gen.count_tokens(p) for p in prompts]
    assert max(sizes) + 32 <= 1200
    fresh = sum(1 for p in prompts if isinstance(p, str))
    assert agent.stats.restarts == fresh - 1 >= 1 and agent.bank.usage["restarts"] == agent.stats.restarts


@pytest.mark.timeout(600)
def test_look_shows_the_whole_canvas_at_the_next_turn(gen):
    agent = agent_on(gen, context=2048)
    agent.run(decisions=1)
    agent._look = True  # as a decision holding `look` leaves it (the op's handling is in Agent._play)
    shown = len(agent.ctx.text)
    agent.run(decisions=2)
    assert f"Your canvas (work {agent.ctx.seen_state['work']}):" in agent.ctx.text[shown:]


@pytest.mark.timeout(600)
def test_grow_false_gives_each_turn_the_whole_prompt(gen):
    agent = agent_on(gen, context=2048, grow=False)
    agent.run(decisions=3)
    prompts = [p for p, n, _ in agent.gen.calls if n == 32]
    assert all(isinstance(p, str) and "Write one op per line" in p for p in prompts)
    whole = sum(1 for p in prompts if "Rows changed since:" not in p)  # a new base, or nothing changed since
    assert agent.stats.restarts <= whole - 1  # only a new base view counts (a new work, most rows changed)


def test_a_whole_prompt_shows_its_base_view_then_the_rows_changed_since():
    base, now = CanvasModel(), CanvasModel()
    for text in ("pen down", "move right 2"):
        now.apply_text(text)
    turn = Turn("ada", now.view(), now.state(), base_view=base.view(), base_time=NOON - 60)
    text = user_text(turn)
    assert f"Your canvas (work 1) at 11:59:00 UTC:\n{base.view()}\n\nRows changed since:\n" in text
    assert text.count("\n 8 ") == 2  # row 8 twice: as it was, and as it is
    assert f"Your canvas (work 1):\n{now.view()}" in user_text(Turn("ada", now.view(), now.state(), base_view=now.view()))
