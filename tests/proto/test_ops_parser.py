import re

import pytest
from hypothesis import given, strategies as st

from proto.errors import CODES
from proto.ops.words import is_word
from proto.ops.parser import Op, Rejection, format_op, parse, parse_line, pitch_to_midi
from proto.ops.table import (ACCIDENTALS, ALIASES, COLOURS, DIRECTIONS, ID_DIGITS, MAX_OPS_PER_DECISION, OCTAVES, OPS,
                             PITCH_LETTERS)
from tests.proto.strategies import decision, decisions, ops, ops_but_done


def fits_table(op: Op) -> bool:
    """Every argument of `op` is one the table allows."""
    spec = OPS[op.name]
    if len(op.args) != len(spec.args):
        return False
    for arg, value in zip(spec.args, op.args):
        ok = {
            "choice": lambda v: v in arg.choices,
            "int": lambda v: type(v) is int and arg.lo <= v <= arg.hi,
            "id": lambda v: type(v) is int and 1 <= v < 10 ** ID_DIGITS,
            "pitch": lambda v: v[0] in PITCH_LETTERS and v[1:-1] in ACCIDENTALS and int(v[-1]) in OCTAVES,
            "word": lambda v: v.isascii() and v.isalpha() and v.islower() and 1 <= len(v) <= arg.max_len
            and is_word(v),
            "text": lambda v: '"' not in v and v == v.strip() and 1 <= len(v) <= arg.max_len and v.isprintable(),
        }[arg.kind]
        if not ok(value):
            return False
    return True


@given(decisions())
def test_canonical_text_parses_back_to_the_same_ops(op_list):
    assert all(fits_table(op) for op in op_list)
    assert parse(decision(op_list)) == op_list


@given(ops)
def test_op_text_is_canonical(op):
    assert op.text == format_op(op) and parse_line(op.text) == op


# Examples live here, in the tests, and nowhere a model reads (the table and the manual carry none).
EXAMPLES = {
    "move": ("move up-left 3", Op("move", ("up-left", 3))),
    "pen": ("pen down", Op("pen", ("down",))),
    "color": ("color teal", Op("color", ("teal",))),
    "brush": ("brush square", Op("brush", ("square",))),
    "note": ("note C#4 quarter 90", Op("note", ("C#4", "quarter", 90))),
    "rest": ("rest half", Op("rest", ("half",))),
    "tempo": ("tempo 96", Op("tempo", (96,))),
    "feel": ("feel wistful", Op("feel", ("wistful",))),
    "title": ('title "Salt Window"', Op("title", ("Salt Window",))),
    "done": ("done", Op("done")),
    "remember": ('remember "the left edge"', Op("remember", ("the left edge",))),
    "look": ("look", Op("look")),
    "post": ("post", Op("post")),
    "reply": ('reply 12 "a line for it"', Op("reply", (12, "a line for it"))),
    "react": ("react 3 wistful", Op("react", (3, "wistful"))),
}


def test_every_op_has_an_example():
    assert set(EXAMPLES) == set(OPS)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_examples_parse(name):
    text, op = EXAMPLES[name]
    assert parse_line(text) == op and op.text == text


@pytest.mark.parametrize("spec", [s for s in OPS.values() if s.aliases], ids=lambda s: s.name)
def test_aliases(spec):
    text, op = EXAMPLES[spec.name]
    rest = text[len(spec.name):]
    for alias in spec.aliases:
        assert parse_line(alias + rest) == op
    assert parse_line("colour red") == Op("color", ("red",))


@given(ops)
def test_op_names_and_choices_are_case_insensitive(op):
    spec = OPS[op.name]
    parts = [op.name.upper()]
    for arg, value in zip(spec.args, op.args):
        if arg.kind in ("choice", "word"):
            parts.append(value.upper())
        elif arg.kind == "pitch":
            parts.append(value[0].lower() + value[1:])
        else:
            parts.append(f'"{value}"' if arg.kind == "text" else str(value))
    assert parse_line("  " + "   ".join(parts) + " \t") == op


@pytest.mark.parametrize("short, full", [("move up", "move up 1"), ("MOVE down-left", "move down-left 1")])
def test_optional_argument_takes_its_default(short, full):
    assert parse_line(short) == parse_line(full) == Op("move", (full.split()[1].lower(), 1))


texts = st.text() | st.text(st.characters(max_codepoint=0x7F)) | st.text(min_size=500, max_size=5000)
words = sorted({*ALIASES, *(c for spec in OPS.values() for a in spec.args for c in a.choices)})
token = st.sampled_from([*words, '"', '""', '"a b"']) | st.integers(-3, 300).map(str) | st.text(max_size=6)
op_like_lines = st.lists(token, min_size=1, max_size=5).map(" ".join)


@given(texts | st.lists(op_like_lines, max_size=80).map("\n".join))
def test_any_text_gives_an_op_or_a_rejection_per_line(text):
    result = parse(text)
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(result) == len(lines)
    for line, item in zip(lines, result):
        if isinstance(item, Op):
            assert fits_table(item) and parse_line(item.text) == item
        else:
            assert isinstance(item, Rejection) and item.code in CODES and item.reason
            assert item.text == line.strip()[:80]


@pytest.mark.parametrize("text", ["x" * 100_000, "title " + "a" * 100_000, "move up " + "1 " * 50_000,
                                  "note " + "C" * 10_000 + " quarter 90", "\x00\x1b[2J" * 1000, "feel " + "é" * 5000])
def test_huge_lines_are_rejected(text):
    [item] = parse(text)
    assert isinstance(item, Rejection) and len(item.text) <= 80


@pytest.mark.parametrize("text", ["move up " + "9" * 5000, "tempo " + "1" * 4301, "note C" + "4" * 5000 + " half 9"])
def test_huge_numbers_are_rejected(text):
    [item] = parse(text)
    assert item.code == "bad_argument"


def test_more_than_max_ops_are_rejected():
    result = parse("\n".join(["pen up", "bogus"] * (MAX_OPS_PER_DECISION + 3)))
    assert [type(r) for r in result[:2]] == [Op, Rejection] and result[1].code == "unknown_op"
    assert sum(isinstance(r, Op) for r in result) == MAX_OPS_PER_DECISION  # rejected lines do not count
    tail = result[2 * MAX_OPS_PER_DECISION:]
    assert len(tail) == 6 and {r.code for r in tail} == {"too_many_ops"}
    first, second, third = parse("pen up\n\n  \ndone\npen down", max_ops=2)
    assert (first, second) == (Op("pen", ("up",)), Op("done")) and third.code == "too_many_ops" and third.reason


def test_a_second_done_is_refused():
    first, second, third, fourth = parse("done\nmove up\n  DONE \ndone")
    assert first == Op("done") and second == Op("move", ("up", 1))
    assert third == Rejection("DONE", "extra_done", "at most one done in a decision")
    assert fourth == Rejection("done", "extra_done", "at most one done in a decision")
    assert "extra_done" in CODES
    # A refused done counts as no op; a done that is not an op (a bad argument) does not use up the one done.
    assert [getattr(r, "code", r) for r in parse("done now\ndone\ndone", max_ops=2)] == [
        "bad_argument", Op("done"), "extra_done"]
    assert parse("pen up\ndone\ndone\npen down", max_ops=2)[3].code == "too_many_ops"


@given(st.lists(ops_but_done, max_size=5), st.lists(ops_but_done, max_size=5), st.integers(2, 4))
def test_only_the_first_done_of_a_decision_is_an_op(before, after, dones):
    result = parse(decision([*before, *[Op("done")] * dones, *after]))
    assert result == [*before, Op("done"), *[Rejection("done", "extra_done", "at most one done in a decision")]
                      * (dones - 1), *after]


def test_parse_line_alone_knows_no_decision():
    assert parse_line("done") == Op("done")  # the rule is about a decision: parse() keeps it


@pytest.mark.parametrize("line", ["paint red", "moveup 3", "mov up", "# move up", "\"done\"", "title:x", "déjà vu"])
def test_unknown_op(line):
    item = parse_line(line)
    assert isinstance(item, Rejection) and item.code == "unknown_op" and item.reason


@pytest.mark.parametrize("line", [
    "move", "move up 0", "move up 33", "move up -1", "move up 2.5", "move up ３", "move sideways", "move up 3 4",
    "pen", "pen sideways", "color ultraviolet", "brush star", "done now", "rest", "rest triplet",
    "note C4 quarter 0", "note C4 quarter 128", "note C4 quarter loud", "note C4 quarter", "note C4 triplet 90",
    "note H4 quarter 90", "note C7 quarter 90", "note C1 quarter 90", "note C#b4 quarter 90", "note CB4 half 9",
    "tempo 39", "tempo 241", "tempo fast", "feel", "feel two words", "feel calm2", "feel " + "a" * 25, "feel café",
    "feel yourmyselfbecomingmoret", "feel iremirimimimimimimimimim", "feel qz", "feel calmm",
    'title', 'title ""', 'title "  "', 'title "a"b"', "title " + "x" * 61, 'title "tab\there"',
])
def test_bad_argument(line):
    item = parse_line(line)
    assert isinstance(item, Rejection) and item.code == "bad_argument" and item.reason


# Every value a model may give, and words that look like examples: no rejection reason may name one.
SUGGESTIVE = re.compile(
    r"\b(" + "|".join([*COLOURS, *DIRECTIONS, "calm", "happy", "blue", "rain", "quarter", "square"]) + r")\b"
    r"|\b[A-G][#b]?[2-6]\b", re.IGNORECASE)


@pytest.mark.parametrize("line", ["feel xyzzyq", "feel yourmyselfbecomingmoret", "feel calm2", "feel",
                                  "note H9 quarter 90", "note C4 quarter 0", "move", "tempo 300", "title \"\""])
def test_reasons_suggest_no_value(line):
    item = parse_line(line)
    assert isinstance(item, Rejection) and item.reason
    shown = item.reason.replace(repr(line.split(None, 1)[-1][:24]), "")  # the model's own token, echoed back
    assert not SUGGESTIVE.search(shown.replace("C#", "")), item.reason


def test_a_non_word_is_a_bad_argument_with_a_plain_reason():
    item = parse_line("feel yourmyselfbecomingmoret")
    assert item.code == "bad_argument"
    assert item.reason == "feel: word must be an English word from the word list; got 'yourmyselfbecomingmoret'"
    assert "like" not in parse_line("note H4 quarter 90").reason


@pytest.mark.parametrize("pitch, midi", [("C4", 60), ("A4", 69), ("Bb3", 58), ("C#4", 61), ("C2", 36), ("B6", 95)])
def test_pitch_to_midi(pitch, midi):
    assert pitch_to_midi(pitch) == midi


def test_any_whitespace_separates_the_op_from_its_arguments():
    assert parse("move\tup 3\nfeel   calm") == [Op("move", ("up", 3)), Op("feel", ("calm",))]
    assert parse_line("") == parse_line("   ")  # blank: never an exception
