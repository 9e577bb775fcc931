import re

import pytest

from proto.ops.manual import choice_lists, manual, valid_lists
from proto.ops.table import BLANK, BRUSHES, COLOURS, DIRECTIONS, DURATIONS, OPS

MANUAL = manual()


def mentions(word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", MANUAL) is not None


@pytest.mark.parametrize("spec", OPS.values(), ids=list(OPS))
def test_every_op_with_placeholders_and_no_example(spec):
    assert re.search(rf"^\s*{spec.name}\b", MANUAL, flags=re.M), spec.name
    for arg in spec.args:
        assert mentions(f"<{arg.name}>" if arg.default is None else f"[{arg.name}]")
    assert "example" not in MANUAL.lower()


@pytest.mark.parametrize("name", COLOURS)
def test_every_colour_with_its_code(name):
    assert mentions(f"{name} {COLOURS[name].code}")


@pytest.mark.parametrize("word", [*BRUSHES, *DURATIONS, *DIRECTIONS])
def test_every_brush_duration_and_direction(word):
    assert mentions(word)


def test_blank_and_cursor_are_explained():
    assert f"{BLANK} is a blank cell" in MANUAL and "@" in MANUAL


@pytest.mark.parametrize("phrase", ["should", "must", "you are", "try to", "be creative", "express", "beautiful",
                                    "feel free", "make a", "paint a", "draw a", "happy", "sad", "please"])
def test_no_instructions_about_what_to_make_or_feel(phrase):
    assert not re.search(rf"\b{phrase}\b", MANUAL, flags=re.I)


def test_look_is_listed_after_the_agents_own_order_so_that_kept_lists_stay_valid():
    lists = choice_lists(7)
    assert "look" not in lists["ops"] and valid_lists(lists)  # a bank's, a hello's or a record's lists of 1.6
    lines = [line for line in manual(lists).split("\n") if line.startswith("  ")]
    assert [line.split()[0].rstrip(":") for line in lines] == [*lists["ops"], "look"]
