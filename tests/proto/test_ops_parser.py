import pytest
from hypothesis import given, strategies as st

from proto.errors import CODES
from proto.ops.parser import Op, Rejection, format_op, parse, parse_line, pitch_to_midi
from proto.ops.table import ACCIDENTALS, ALIASES, MAX_OPS_PER_DECISION, OCTAVES, OPS, PITCH_LETTERS
from tests.proto.strategies import decision, op_lists, ops


def fits_table(op: Op) -> bool:
    """Every argument of `op` is one the table allows."""
    spec = OPS[op.name]
    if len(op.args) != len(spec.args):
        return False
    for arg, value in zip(spec.args, op.args):
        ok = {
            "choice": lambda v: v in arg.choices,
            "int": lambda v: type(v) is int and arg.lo <= v <= arg.hi,
            "pitch": lambda v: v[0] in PITCH_LETTERS and v[1:-1] in ACCIDENTALS and int(v[-1]) in OCTAVES,
            "word": lambda v: v.isascii() and v.isalpha() and v.islower() and 1 <= len(v) <= arg.max_len,
            "text": lambda v: '"' not in v and v == v.strip() and 1 <= len(v) <= arg.max_len and v.isprintable(),
        }[arg.kind]
        if not ok(value):
            return False
    return True


@given(op_lists)
def test_canonical_text_parses_back_to_the_same_ops(op_list):
    assert all(fits_table(op) for op in op_list)
    assert parse(decision(op_list)) == op_list


@given(ops)
def test_op_text_is_canonical(op):
    assert op.text == format_op(op) and parse_line(op.text) == op


@pytest.mark.parametrize("spec", OPS.values(), ids=list(OPS))
def test_table_examples_parse(spec):
    op = parse_line(spec.example)
    assert isinstance(op, Op) and op.name == spec.name and op.text == spec.example


@pytest.mark.parametrize("spec", [s for s in OPS.values() if s.aliases], ids=lambda s: s.name)
def test_aliases(spec):
    rest = spec.example[len(spec.name):]
    for alias in spec.aliases:
        assert parse_line(alias + rest) == parse_line(spec.example)
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
    result = parse("\n".join(["done", "bogus"] * (MAX_OPS_PER_DECISION + 3)))
    assert [type(r) for r in result[:2]] == [Op, Rejection] and result[1].code == "unknown_op"
    assert sum(isinstance(r, Op) for r in result) == MAX_OPS_PER_DECISION  # rejected lines do not count
    tail = result[2 * MAX_OPS_PER_DECISION:]
    assert len(tail) == 6 and {r.code for r in tail} == {"too_many_ops"}
    first, second, third = parse("done\n\n  \ndone\ndone", max_ops=2)
    assert first == second == Op("done") and third.code == "too_many_ops" and third.reason


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
    'title', 'title ""', 'title "  "', 'title "a"b"', "title " + "x" * 61, 'title "tab\there"',
])
def test_bad_argument(line):
    item = parse_line(line)
    assert isinstance(item, Rejection) and item.code == "bad_argument" and item.reason


@pytest.mark.parametrize("pitch, midi", [("C4", 60), ("A4", 69), ("Bb3", 58), ("C#4", 61), ("C2", 36), ("B6", 95)])
def test_pitch_to_midi(pitch, midi):
    assert pitch_to_midi(pitch) == midi


def test_any_whitespace_separates_the_op_from_its_arguments():
    assert parse("move\tup 3\nfeel   calm") == [Op("move", ("up", 3)), Op("feel", ("calm",))]
    assert parse_line("") == parse_line("   ")  # blank: never an exception
