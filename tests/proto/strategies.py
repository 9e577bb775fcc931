"""Hypothesis strategies for the op-code language, generated from the table (proto.ops.table.OPS).

A new argument kind in the table fails loudly here until it has a strategy.
"""

from __future__ import annotations

from hypothesis import strategies as st

from proto.ops import words
from proto.ops.parser import Op, format_op
from proto.ops.table import (ACCIDENTALS, ID_DIGITS, MAX_OPS_PER_DECISION, OCTAVES, OPS, PITCH_LETTERS, SALON_OPS, Arg,
                             OpSpec)

# Printable ASCII without the double quote: what a title may hold.
TITLE_ALPHABET = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != '"')


def arg_values(arg: Arg) -> st.SearchStrategy:
    if arg.kind == "choice":
        return st.sampled_from(arg.choices)
    if arg.kind == "int":
        return st.integers(arg.lo, arg.hi)
    if arg.kind == "pitch":
        return st.builds(lambda letter, acc, octave: f"{letter}{acc}{octave}",
                         st.sampled_from(PITCH_LETTERS), st.sampled_from(tuple(ACCIDENTALS)), st.sampled_from(OCTAVES))
    if arg.kind == "word":
        return st.sampled_from(words.words())
    if arg.kind == "id":
        return st.integers(1, 10 ** ID_DIGITS - 1)
    if arg.kind == "text":
        return st.text(TITLE_ALPHABET, min_size=1, max_size=arg.max_len).map(str.strip).filter(bool)
    raise AssertionError(f"no strategy for argument kind {arg.kind!r}")


def op_of(spec: OpSpec) -> st.SearchStrategy[Op]:
    return st.tuples(*(arg_values(a) for a in spec.args)).map(lambda args: Op(spec.name, args))


# The canvas's ops (the salon's go to its board, services/salon, and are drawn on their own).
ops = st.one_of(*(op_of(spec) for spec in OPS.values() if spec.name not in SALON_OPS))
ops_but_done = st.one_of(*(op_of(spec) for spec in OPS.values() if spec.name not in ("done", *SALON_OPS)))
salon_ops = st.one_of(*(op_of(OPS[name]) for name in SALON_OPS))


def decisions(max_ops: int = MAX_OPS_PER_DECISION, *, min_size: int = 0) -> st.SearchStrategy[list[Op]]:
    """Lists of ops as a decision may hold them: at most `max_ops`, at most one `done`, and that one last
    (as the grammar writes them; the parser takes a `done` anywhere, once)."""
    body = st.lists(ops_but_done, min_size=min_size, max_size=max_ops)
    ended = st.lists(ops_but_done, max_size=max_ops - 1).map(lambda ops: [*ops, Op("done")])
    return body | ended


# Ops as a canvas may see them over many decisions (any number of `done`).
op_lists = st.lists(ops, max_size=MAX_OPS_PER_DECISION)


def decision(op_list: list[Op]) -> str:
    """The canonical text of a decision: one op per line."""
    return "\n".join(format_op(op) for op in op_list)
