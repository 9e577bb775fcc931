"""The GBNF grammar, checked by translating it into a Python regex (it has no recursion, so a regex can hold it)."""

import re

import pytest
from hypothesis import given, settings, strategies as st

from proto.ops.grammar import gbnf
from proto.ops.parser import Op, parse
from proto.ops.table import OPS
from tests.proto.strategies import decision, ops

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


GRAMMAR = rules(gbnf())
ROOT = re.compile(to_regex("root", GRAMMAR))
OP = re.compile(to_regex("op", GRAMMAR))


def test_every_referenced_rule_is_defined():
    used = set().union(*(referenced(body) for body in GRAMMAR.values()))
    assert used <= set(GRAMMAR)
    assert set(GRAMMAR) - used == {"root"}  # and every rule is used


def test_every_op_has_a_rule():
    assert {f"op-{name}" for name in OPS} <= set(GRAMMAR)
    assert referenced(GRAMMAR["op"]) == {f"op-{name}" for name in OPS}


@given(ops)
def test_grammar_matches_every_canonical_op(op):
    assert OP.fullmatch(op.text)


@given(st.lists(ops, min_size=1, max_size=8))
def test_grammar_matches_canonical_decisions(op_list):
    assert ROOT.fullmatch(decision(op_list) + "\n")


@settings(max_examples=300)
@given(st.from_regex(ROOT, fullmatch=True))
def test_everything_the_grammar_allows_parses_without_rejection(text):
    result = parse(text)
    assert result and all(isinstance(item, Op) for item in result), result


@pytest.mark.parametrize("line", [
    "move up 0", "move up 33", "tempo 39", "tempo 241", "note C7 quarter 90", "note C4 quarter 128",
    "feel Calm", 'title ""', 'title " x"', "colour red", "move up ", "done\n",
])
def test_grammar_refuses_what_the_parser_rejects_or_is_not_canonical(line):
    assert not OP.fullmatch(line)
