"""The GBNF grammar, checked by translating it into a Python regex (it has no recursion, so a regex can hold it)."""

import random
import re
import string

import pytest
from hypothesis import given, settings, strategies as st

from proto.ops import words
from proto.ops.grammar import gbnf, single_op_gbnf
from proto.ops.parser import Op, Rejection, parse, parse_line
from proto.ops.table import MAX_OPS_PER_DECISION, OPS, SALON_OPS
from tests.proto.strategies import decision, decisions, ops, ops_but_done, salon_ops

RULE = re.compile(r"^([a-z][a-z0-9-]*) ::= (.*)$")
TOKEN = re.compile(r'\s*(?:("(?:\\.|[^"\\])*")|(\[(?:\\.|[^\]\\])*\])|([a-z][a-z0-9-]*)|(\{\d+,\d+\}|[()|?*+]))')


def rules(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        m = RULE.match(line)
        assert m, f"not a rule: {line!r}"
        assert m.group(1) not in out, f"rule {m.group(1)} defined twice"
        out[m.group(1)] = m.group(2)
    return out


def referenced(body: str) -> set[str]:
    return {m.group(3) for m in TOKEN.finditer(body) if m.group(3)}


def to_regex(name: str, table: dict[str, str]) -> str:
    """A regex for rule `name`: literals, char classes, rule references, groups, | and quantifiers."""
    body, pos, out = table[name], 0, []
    while pos < len(body.rstrip()):
        m = TOKEN.match(body, pos)
        assert m and m.end() > pos, f"cannot translate {body[pos:]!r}"
        literal, cls, ref, punct = m.groups()
        if literal:
            out.append(re.escape(literal[1:-1].encode().decode("unicode_escape")))
        elif cls:
            out.append(cls)  # GBNF and Python agree on [a-z], [!#-~], [23456]
        elif ref:
            out.append(f"(?:{to_regex(ref, table)})")
        else:
            out.append({"(": "(?:"}.get(punct, punct))
        pos = m.end()
    return "".join(out)


def expand(body: str) -> set[str]:
    """Every string a body of literals, groups, | and ? matches (a finite language: the word list)."""
    tokens = [m.groups() for m in TOKEN.finditer(body)]
    pos = 0

    def alternatives() -> set[str]:
        nonlocal pos
        out = sequence()
        while pos < len(tokens) and tokens[pos][3] == "|":
            pos += 1
            out |= sequence()
        return out

    def sequence() -> set[str]:
        nonlocal pos
        out = {""}
        while pos < len(tokens) and tokens[pos][3] not in ("|", ")"):
            literal, _, _, punct = tokens[pos]
            pos += 1
            if literal:
                part = {literal[1:-1]}
            else:
                assert punct == "(", tokens[pos - 1]
                part = alternatives()
                assert tokens[pos][3] == ")"
                pos += 1
            if pos < len(tokens) and tokens[pos][3] == "?":
                pos += 1
                part = part | {""}
            out = {a + b for a in out for b in part}
        return out

    result = alternatives()
    assert pos == len(tokens)
    return result


GRAMMAR = rules(gbnf())
ROOT = re.compile(to_regex("root", GRAMMAR))
OP = re.compile(to_regex("op", GRAMMAR))
FEEL_LINE = re.compile("feel" + to_regex("feel-word", GRAMMAR))
DONE = re.compile(to_regex("op-done", GRAMMAR))
LIFTED = {"feel"}  # ops spelled out in root (the ones with a word argument: see proto.ops.grammar)


def test_every_referenced_rule_is_defined():
    used = set().union(*(referenced(body) for body in GRAMMAR.values()))
    assert used <= set(GRAMMAR)
    assert set(GRAMMAR) - used == {"root"}  # and every rule is used


CANVAS_OPS = [name for name in OPS if name not in SALON_OPS]


def test_every_op_of_an_isolated_studio_has_a_rule_and_the_salon_s_none():
    assert {f"op-{name}" for name in CANVAS_OPS if name not in LIFTED} <= set(GRAMMAR)
    assert referenced(GRAMMAR["op"]) == {f"op-{name}" for name in CANVAS_OPS} - {"op-done"} - {f"op-{n}" for n in LIFTED}
    assert referenced(GRAMMAR["root"]) == {"line", "done-line", "feel-word"}
    assert not {rule for rule in GRAMMAR if rule.split("-")[-1] in SALON_OPS or rule.split("-")[0] in SALON_OPS}


SALON = rules(gbnf(salon=True))
SALON_ROOT = re.compile(to_regex("root", SALON))


def test_a_salon_s_grammar_has_every_op_and_the_salon_s_too():
    assert referenced(SALON["op"]) == {f"op-{name}" for name in OPS} - {"op-done", "op-feel", "op-react"}
    assert referenced(SALON["root"]) == {"line", "done-line", "feel-word", "react-post", "react-word"}


@settings(max_examples=60)
@given(salon_ops, decisions(4))
def test_only_a_salon_s_grammar_writes_the_salon_s_ops(op, op_list):
    text = decision([op, *op_list]) + "\n"
    assert SALON_ROOT.fullmatch(text) and not ROOT.fullmatch(text)


def canonical_line(op: Op) -> re.Pattern:
    return FEEL_LINE if op.name in LIFTED else DONE if op.name == "done" else OP


@given(ops)
def test_grammar_matches_every_canonical_op(op):
    assert canonical_line(op).fullmatch(op.text)


@given(decisions(8, min_size=1))
def test_grammar_matches_canonical_decisions(op_list):
    assert ROOT.fullmatch(decision(op_list) + "\n")


# ------------------------------------------------------------------------------------------------ feel words


def test_the_word_rule_is_exactly_the_word_list():
    body = GRAMMAR["feel-word"]
    assert body.startswith('" " (') and body.endswith(")")
    listed = words.words()
    assert expand(body[len('" " ('):-1]) == set(listed)
    assert len(listed) == words.SIZE == 50_000 and words.digest() == words.WORDS_DIGEST  # the same on every machine


def test_the_grammar_and_the_parser_accept_every_listed_word():
    word = re.compile(to_regex("feel-word", GRAMMAR))
    assert all(word.fullmatch(" " + w) for w in words.words())
    assert all(parse_line(f"feel {w}") == Op("feel", (w,)) for w in words.words())


NOT_WORDS = ["yourmyselfbecomingmoret", "iremirimimimimimimimimim", "calmm", "qz", "feelcalm", "zzzz", "aaaa",
             "happysad", "mimimimimi", "blue" * 6]


@pytest.mark.parametrize("junk", NOT_WORDS)
def test_the_grammar_refuses_a_non_word(junk):
    assert not words.is_word(junk)
    assert not FEEL_LINE.fullmatch(f"feel {junk}")
    assert not ROOT.fullmatch(f"feel {junk}\n")
    assert parse_line(f"feel {junk}").code == "bad_argument"


@settings(max_examples=500)
@given(st.text(string.ascii_lowercase, min_size=1, max_size=24))
def test_grammar_and_parser_agree_on_any_letters(letters):
    listed = words.is_word(letters)
    assert bool(FEEL_LINE.fullmatch(f"feel {letters}")) == listed
    assert isinstance(parse_line(f"feel {letters}"), Op) == listed


def test_random_strings_are_refused_by_both():
    rng = random.Random(13)
    refused = 0
    for _ in range(2000):
        letters = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(5, 24)))
        if words.is_word(letters):
            continue
        refused += 1
        assert not FEEL_LINE.fullmatch(f"feel {letters}") and isinstance(parse_line(f"feel {letters}"), Rejection)
    assert refused > 1900  # random letters are almost never a word: the list is not "any letters"


def test_single_op_grammar_for_feel():
    single = rules(single_op_gbnf("feel"))
    line = re.compile(to_regex("root", single))
    assert line.fullmatch("feel wistful\n") and not line.fullmatch("feel wistfull\n")


# ------------------------------------------------------------------------------------------------ one done


@given(st.lists(ops_but_done, max_size=6), st.lists(ops_but_done, max_size=1))
def test_a_second_done_is_refused_by_the_grammar_and_the_parser(before, between):
    text = decision([*before, Op("done"), *between, Op("done")]) + "\n"
    assert not ROOT.fullmatch(text)
    result = parse(text)
    assert result[:-1] == [*before, Op("done"), *between]
    assert result[-1] == Rejection("done", "extra_done", "at most one done in a decision")


@given(st.lists(ops_but_done, min_size=1, max_size=7), st.integers(0, 6))
def test_done_ends_the_decision_in_the_grammar(op_list, at):
    at = min(at, len(op_list) - 1)
    text = decision([*op_list[:at], Op("done"), *op_list[at:]]) + "\n"
    assert not ROOT.fullmatch(text)  # nothing after the one done
    assert all(isinstance(item, Op) for item in parse(text))  # which the parser still takes


@pytest.mark.parametrize("max_ops", [1, 2, 8, MAX_OPS_PER_DECISION])
def test_the_grammar_bounds_the_ops_and_allows_a_last_done(max_ops):
    root = re.compile(to_regex("root", with_few_words(rules(gbnf(max_ops)))))
    assert root.fullmatch("pen down\n" * max_ops) and not root.fullmatch("pen down\n" * (max_ops + 1))
    assert root.fullmatch("pen down\n" * (max_ops - 1) + "done\n")
    assert not root.fullmatch("pen down\n" * max_ops + "done\n")
    assert not root.fullmatch("") and root.fullmatch("done\n")


def with_few_words(table: dict[str, str], sample: int = 300) -> dict[str, str]:
    """The grammar with the word rule cut to `sample` listed words: the same structure, and a regex small
    enough for Hypothesis to draw from quickly (the whole word rule is checked word by word above)."""
    few = sorted(random.Random(5).sample(words.words(), sample))
    return {**table, "feel-word": '" " (' + " | ".join(f'"{w}"' for w in few) + ")"}


@settings(max_examples=300)
@given(st.from_regex(re.compile(to_regex("root", with_few_words(GRAMMAR))), fullmatch=True))
def test_everything_the_grammar_allows_parses_without_rejection(text):
    result = parse(text)
    assert result and all(isinstance(item, Op) for item in result), result


@pytest.mark.parametrize("line", [
    "move up 0", "move up 33", "tempo 39", "tempo 241", "note C7 quarter 90", "note C4 quarter 128",
    "feel Calm", "feel  calm", "feel calm ", "feel", "feel ", 'title ""', 'title " x"', "colour red", "move up ",
    "done\n", "done",
])
def test_grammar_refuses_what_the_parser_rejects_or_is_not_canonical(line):
    assert not OP.fullmatch(line) and not FEEL_LINE.fullmatch(line)
