"""What a model reads suggests nothing: every prompt kind (turn, title, statement, dream), rendered for both
bundled models in their own formats, carries no example value, no op to copy, and no cue of another question."""

from __future__ import annotations

import re

import pytest

from proto.canvas import CanvasModel
from proto.ops.manual import LIST_NAMES, choice_lists, manual
from proto.ops.parser import Op, parse_line
from proto.ops.table import OPS
from services.agent.prompt import (RAW_CUE, Turn, dream_text, legend, question_system, statement_text,
                                   system_text, title_text, user_text)

pytest.importorskip("llama_cpp", reason="llama-cpp-python is installed by `make test`")

# The values wave one's manual gave as examples, and which the models copied (issue 13).
OLD_EXAMPLES = ("calm", "blue rain", "red corner", "c#4", "up-left 3", "tempo 96", "quarter 90", "brush square",
                "rest half", "color blue", "pen down", "example")


@pytest.fixture(scope="module", params=["smollm2-135m", "gemma3-270m"])
def gen(request, model_paths):
    from services.agent.llm import Generator

    with Generator(model_paths(request.param), n_ctx=512) as g:
        yield g


def prompts(gen) -> dict[str, str]:
    """One prompt of each kind, for a fresh agent: no memory, a work with a few painted cells."""
    lists = choice_lists(seed=3)
    canvas = CanvasModel()
    for op in (Op("pen", ("down",)), Op("move", ("right", 3))):
        canvas.apply(op)
    rows = list(canvas.rows())
    finished = canvas.view(cursor=False)
    key = legend(rows, lists["colour"])
    return {
        "turn": gen.format(system_text("ada", lists), user_text(Turn("ada", canvas.view(), canvas.state()))),
        # in a salon: the manual holds the salon's ops too (the feed itself is others' words, quoted)
        "salon turn": gen.format(system_text("ada", lists, salon=True),
                                 user_text(Turn("ada", canvas.view(), canvas.state()))),
        "title": gen.format(question_system("ada"), title_text("ada", 1, finished, key), cue=None),
        "statement": gen.format(question_system("ada"), statement_text("ada", 1, "Untold", finished, key), cue=None),
        "dream": gen.format(question_system("ada"), dream_text("ada", ["Work: 'Untold' (work 1)"], 3), cue=None),
    }


def fragments(text: str) -> list[str]:
    return [f.strip() for f in re.split(r"[\n;:,.()]", text) if f.strip()]


def test_no_prompt_holds_an_op_to_copy_or_an_old_example(gen):
    for kind, prompt in prompts(gen).items():
        # Only the state line reports tools as they are (`pen down; colour black`): facts of this canvas, not
        # examples. Nothing else in any prompt reads as an op.
        body = "\n".join(line for line in prompt.splitlines() if not line.startswith("State:"))
        for example in OLD_EXAMPLES:
            assert not re.search(rf"(?<![\w-]){re.escape(example)}(?![\w-])", body.lower()), (kind, example)
        # The manual's forms (`title "<text>"`, `done`) are placeholders or take no value: not examples.
        ops = [f for f in fragments(body) if isinstance(parse_line(f), Op) and "<" not in f
               and not (f in OPS and not OPS[f].args)]
        assert ops == [], (kind, ops)
        # Quotes hold only placeholders and the agent's own title: no phrase is offered to be copied.
        quoted = set(re.findall(r'"([^"]*)"', body))
        assert quoted <= {"<text>", "Untold"}, (kind, quoted)


def test_questions_carry_no_manual_no_op_cue_and_end_with_the_field_they_ask_for(gen):
    for kind, prompt in prompts(gen).items():
        if kind.endswith("turn"):
            assert "Write one op per line" in prompt
            continue
        assert "Write one op per line" not in prompt and RAW_CUE not in prompt, kind
        field = {"title": "Title:", "statement": "Statement:", "dream": "in at most 3 lines:"}[kind]
        tail = prompt.rstrip()
        if gen.mode == "template":  # the chat template closes the user's message and opens the model's turn
            tail = tail[:tail.rindex(field) + len(field)]
        assert tail.endswith(field), (kind, prompt[-120:])
    statement = prompts(gen)["statement"]
    assert "Title: Untold" in statement and "kkkk" in statement  # the finished work, with its title


def test_the_state_line_reads_as_plain_text(gen):
    canvas = CanvasModel()
    text = user_text(Turn("ada", canvas.view(), canvas.state()))
    assert "title none" in text and "feeling none" in text and "None" not in text and "'" not in text
    canvas.apply(Op("title", ("Untold",)))
    assert 'title "Untold"' in user_text(Turn("ada", canvas.view(), canvas.state()))


def test_each_agent_reads_its_lists_in_an_order_of_its_own():
    a, b = choice_lists(seed=1), choice_lists(seed=2)
    assert set(a) == set(LIST_NAMES) and a == choice_lists(seed=1)
    assert any(a[name] != b[name] for name in LIST_NAMES)
    listed = manual(a)
    colours = re.search(r"Colours \(letter on the canvas\): (.*)", listed).group(1)
    assert [c.split()[0] for c in colours.split(", ")][:3] == a["colour"][:3]
    ops = [line.split()[0].rstrip(":") for line in listed.splitlines()[1:len(a["ops"]) + 1]]
    assert ops == a["ops"]
