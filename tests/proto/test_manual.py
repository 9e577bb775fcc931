import re

import pytest

from proto.ops.manual import choice_lists, manual, valid_lists
from proto.ops.table import BLANK, BRUSHES, COLOURS, DIRECTIONS, DURATIONS, OPS, SALON_OPS

MANUAL = manual()
SALON_MANUAL = manual(salon=True)


def mentions(word: str, text: str = MANUAL) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


@pytest.mark.parametrize("spec", OPS.values(), ids=list(OPS))
def test_every_op_with_placeholders_and_no_example(spec):
    text = SALON_MANUAL if spec.name in SALON_OPS else MANUAL
    assert re.search(rf"^\s*{spec.name}\b", text, flags=re.M), spec.name
    for arg in spec.args:
        assert mentions(f"<{arg.name}>" if arg.default is None else f"[{arg.name}]", text)
    assert "example" not in text.lower()


@pytest.mark.parametrize("name", SALON_OPS)
def test_only_a_salon_s_manual_shows_the_salon_s_ops(name):
    assert not re.search(rf"^\s*{name}\b", MANUAL, flags=re.M)
    assert SALON_MANUAL.startswith(MANUAL.rsplit("\n", 1)[0].split("Directions:")[0].rstrip())


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
