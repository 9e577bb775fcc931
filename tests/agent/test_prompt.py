"""The prompt: facts only, ordered for KV reuse, fitted to the context without cutting the canvas."""

from __future__ import annotations

import pytest

from proto.canvas import CanvasModel
from services.agent.prompt import PromptTooLong, Turn, fit, span, system_text, user_text


def turn(memory: str = "", **kw) -> Turn:
    canvas = CanvasModel()
    return Turn("ada", canvas.view(), canvas.state(), memory, now=1_800_000_000.0, **kw)


def test_parts_come_from_what_changes_least_to_what_changes_most():
    text = user_text(turn("Work: 'Dawn' (work 1)", last_turn=1_799_999_990.0, first_woke=1_799_000_000.0))
    order = [text.index(p) for p in ("Your memory:", "Your canvas (work 1):", "State:", "Clock:")]
    assert order == sorted(order)
    assert "Since your last turn: 10 s" in text and "You first woke: 11 days 13 h ago" in text
    assert "manual" not in text and "Write one op per line" in system_text("ada")


@pytest.mark.parametrize("seconds, said", [(None, "never"), (4.9, "4 s"), (125, "2 min"), (3700, "1 h 1 min"),
                                           (90000, "1 days 1 h")])
def test_durations_read_as_a_person_says_them(seconds, said):
    assert span(seconds) == said


def test_fit_halves_the_memory_until_the_prompt_fits_and_never_touches_the_canvas():
    memory = "\n".join(f"Note {i}: " + "x" * 40 for i in range(40))
    built: list[int] = []

    def build(chars: int) -> str:
        built.append(chars)
        return user_text(turn(memory[:chars]))

    count = len  # one token per character, for the test
    budget = len(user_text(turn())) + 300
    prompt, tokens, size = fit(build, count, budget, len(memory))
    assert tokens <= budget and CanvasModel().view() in prompt and size < len(memory)
    assert built[0] == len(memory) and built[1] == len(memory) // 2  # halved, not cut blindly
    with pytest.raises(PromptTooLong, match="raise `context`"):
        fit(build, count, 100, len(memory))
