"""The GBNF grammar that llama.cpp uses to constrain decoding, generated from the op table.

Every string the grammar accepts is a sequence of lines that `proto.ops.parser.parse` turns into ops with
no rejection (tests/proto/test_grammar.py checks this on generated samples).
"""

from __future__ import annotations

from proto.ops.table import OCTAVES, OPS, Arg


def _literal(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _arg_rule(op: str, arg: Arg) -> tuple[str, str]:
    name = f"{op}-{arg.name}"
    if arg.kind == "choice":
        # Longest first so that no alternative is a prefix tried before a longer one.
        body = " | ".join(_literal(c) for c in sorted(arg.choices, key=len, reverse=True))
    elif arg.kind == "int":
        body = " | ".join(_literal(str(n)) for n in range(arg.hi, arg.lo - 1, -1))
    elif arg.kind == "pitch":
        octaves = "".join(str(o) for o in OCTAVES)
        body = f'[A-G] ("#" | "b")? [{octaves}]'
    elif arg.kind == "word":
        body = f"[a-z]{{1,{arg.max_len}}}"
    elif arg.kind == "text":
        # Printable ASCII without the quote; the first character is not a space.
        body = f'"\\"" [!#-~] [ !#-~]{{0,{arg.max_len - 1}}} "\\""'
    else:
        raise AssertionError(arg.kind)
    return name, body


def _op_rules(name: str) -> list[str]:
    """The rules of one op: one per argument, then the op's own."""
    rules, seq = [], [_literal(name)]
    for arg in OPS[name].args:
        rule_name, body = _arg_rule(name, arg)
        rules.append(f"{rule_name} ::= {body}")
        part = f'" " {rule_name}'
        seq.append(f"({part})?" if arg.default is not None else part)
    rules.append(f"op-{name} ::= " + " ".join(seq))
    return rules


def gbnf(max_ops: int = 8) -> str:
    """A grammar for one decision: 1 to `max_ops` ops, one per line, each ending in a newline."""
    rules = [f"root ::= line{{1,{max_ops}}}", "line ::= op \"\\n\"",
             "op ::= " + " | ".join(f"op-{name}" for name in OPS)]
    for name in OPS:
        rules.extend(_op_rules(name))
    return "\n".join(rules) + "\n"


def single_op_gbnf(op_name: str) -> str:
    """A grammar for exactly one op of one kind, ending in a newline (the agent asks for a title this way)."""
    return "\n".join([f'root ::= op-{op_name} "\\n"', *_op_rules(op_name)]) + "\n"


def text_lines_gbnf(lines: int, max_len: int) -> str:
    """1 to `lines` lines of plain printable text (a statement about a work, a condensed memory)."""
    return (f'root ::= text-line{{1,{lines}}}\n'
            f'text-line ::= [!-~] [ -~]{{0,{max_len - 1}}} "\\n"\n')
