"""The GBNF grammar that constrains decoding, generated from the op table.

Every string the grammar accepts is a sequence of lines that `proto.ops.parser.parse` turns into ops with
no rejection (tests/proto/test_grammar.py checks this on generated samples). The same text is read by
llguidance (the agent's sampler, services/agent/constraint.py) and by llama.cpp (stock
`LlamaGrammar`, the baseline of `aurora bench agent`).

At most one `done`, and it ends the decision. `root` allows 1 to N lines, none of them `done`, or 0 to N-1
such lines followed by one `done` line; nothing follows a `done`. The parser agrees: a second `done` in one
text is refused (`extra_done`). (An op after the one `done` the parser accepts; the grammar never writes one.)

`feel` takes exactly the 50,000 words of `proto.ops.words`. How that is written matters to llguidance:
* Its GBNF reader turns every rule made only of terminals into one lexeme: here every rule but `root`. Had
  `feel` been one of the ops of `line`, the whole word list would sit inside the line's lexeme, and the first
  mask computed inside a word (when the model's own token is refused there) would need more than
  llguidance's per-step lexer budget ("lexer error: too many expressions constructed"; it failed from about
  20,000 words on). So the `feel` line is spelled out in `root` itself: `"feel" feel-word "\n"`, which makes
  `feel-word` a lexeme of its own.
* `feel-word` begins with the space (`" " (...)`): the lexeme then starts exactly where the model's token
  after `feel` starts (` calm`, ` wist`), and llguidance walks such a large lexeme against the whole
  vocabulary once, when it compiles the grammar, so the masks inside a word are cheap afterwards (without
  the space inside, the first mask after `feel` ran out of budget at 50,000 words on Gemma's vocabulary).
* The words are written as a radix tree (`"calm" ("ly" | "ness" | )`: each shared prefix once, an empty
  alternative where the prefix is a word itself), not as a flat alternation: 470 kB rather than 640 kB,
  and llama.cpp's own grammar sampler, which keeps one stack per open alternative, has a few alternatives
  open at each letter instead of 50,000 at the first. The empty alternative, not `?`: llama.cpp's GBNF
  reader counts the `?` of one rule toward its repetition limit and refused the tree from a few thousand
  words on.
Measured on the bundled models, `Grammars.matcher(gbnf(8))` the first time: about 1.0 s for SmolLM2 and for
Gemma 3 (it was 6 ms with `[a-z]{1,24}`), most of it llguidance's GBNF-to-Lark conversion, in Python; a mask
inside a word at most ~5 ms; one token checked against the matcher about 0.3 us, as before.
"""

from __future__ import annotations

import functools

from proto.ops import words
from proto.ops.table import ID_DIGITS, OCTAVES, OPS, SALON_OPS, Arg


def _literal(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _arg_rule(op: str, arg: Arg) -> tuple[str, str]:
    name = f"{op}-{arg.name}"
    if arg.kind == "choice":
        # Longest first so that no alternative is a prefix tried before a longer one.
        body = " | ".join(_literal(c) for c in sorted(arg.choices, key=len, reverse=True))
    elif arg.kind == "int":
        body = " | ".join(_literal(str(n)) for n in range(arg.hi, arg.lo - 1, -1))
    elif arg.kind == "id":
        body = f'[1-9] [0-9]{{0,{ID_DIGITS - 1}}}'
    elif arg.kind == "pitch":
        octaves = "".join(str(o) for o in OCTAVES)
        body = f'[A-G] ("#" | "b")? [{octaves}]'
    elif arg.kind == "word":
        # The separating space is part of the word's own rule (see the module docstring).
        assert arg.max_len >= words.MAX_LEN, (arg.max_len, words.MAX_LEN)
        body = f'" " ({word_tree()})'
    elif arg.kind == "text":
        # Printable ASCII without the quote; the first character is not a space.
        body = f'"\\"" [!#-~] [ !#-~]{{0,{arg.max_len - 1}}} "\\""'
    else:
        raise AssertionError(arg.kind)
    return name, body


def _tree_text(words_sorted: tuple[str, ...], depth: int) -> str:
    """The alternation of `words_sorted` (sorted, distinct, all longer than `depth`) after their common
    first `depth` characters, each shared prefix written once (a radix tree)."""
    alternatives = []
    i, n = 0, len(words_sorted)
    while i < n:
        head = words_sorted[i][depth]
        j = i
        while j < n and words_sorted[j][depth] == head:
            j += 1
        group = words_sorted[i:j]
        # The longest prefix that every word of the group shares, from `depth` on.
        first, last = group[0], group[-1]
        end = depth + 1
        while end < len(first) and end < len(last) and first[end] == last[end]:
            end += 1
        stem = first[depth:end]
        complete = first == first[:end]  # the stem alone is a word (it sorts first)
        rest = group[1:] if complete else group
        if not rest:
            alternatives.append(_literal(stem))
        else:
            # A stem that is a word itself ends in an empty alternative, not `?`: llama.cpp's GBNF reader
            # counts every `?` of a rule toward a limit on repetitions and refuses the tree beyond ~1,000 words.
            inner = _tree_text(rest, end) + (" | " if complete else "")
            alternatives.append(f"{_literal(stem)} ({inner})")
        i = j
    return " | ".join(alternatives)


@functools.cache
def word_tree() -> str:
    """The GBNF body that matches exactly the words of `proto.ops.words` (built once: about 0.1 s)."""
    return _tree_text(words.words(), 0)


def _has_word(name: str) -> bool:
    return any(arg.kind == "word" for arg in OPS[name].args)


def _op_parts(name: str) -> tuple[list[str], str]:
    """The rules of one op's arguments, and the op's sequence (its name, then its arguments)."""
    rules, seq = [], [_literal(name)]
    for arg in OPS[name].args:
        rule_name, body = _arg_rule(name, arg)
        rules.append(f"{rule_name} ::= {body}")
        part = rule_name if arg.kind == "word" else f'" " {rule_name}'
        seq.append(f"({part})?" if arg.default is not None else part)
    return rules, " ".join(seq)


def _op_rules(name: str) -> list[str]:
    """The rules of one op: one per argument, then the op's own."""
    rules, seq = _op_parts(name)
    return [*rules, f"op-{name} ::= {seq}"]


def gbnf(max_ops: int = 8, *, salon: bool = False) -> str:
    """A grammar for one decision: 1 to `max_ops` ops, one per line, each ending in a newline; at most one
    `done`, and only as the last line. The salon's ops only when `salon` (a studio of that mode)."""
    assert max_ops >= 1, max_ops
    names = [name for name in OPS if salon or name not in SALON_OPS]
    # Ops with a word argument are spelled out in root, so that the word is a lexeme of its own (see above).
    lifted = [name for name in names if _has_word(name)]
    rules = []
    items = ["line"]
    for name in lifted:
        arg_rules, seq = _op_parts(name)
        rules.extend(arg_rules)
        items.append(f'{seq} "\\n"')
    item = f"({' | '.join(items)})" if len(items) > 1 else "line"
    ending = "done-line" if max_ops == 1 else f"{item}{{0,{max_ops - 1}}} done-line"
    head = [f"root ::= {item}{{1,{max_ops}}} | {ending}", 'line ::= op "\\n"', 'done-line ::= op-done "\\n"',
            "op ::= " + " | ".join(f"op-{name}" for name in names if name != "done" and name not in lifted)]
    for name in names:
        if name not in lifted:
            rules.extend(_op_rules(name))
    return "\n".join(head + rules) + "\n"


def single_op_gbnf(op_name: str) -> str:
    """A grammar for exactly one op of one kind, ending in a newline (the agent asks for a title this way)."""
    if _has_word(op_name):
        arg_rules, seq = _op_parts(op_name)
        return "\n".join([f'root ::= {seq} "\\n"', *arg_rules]) + "\n"
    return "\n".join([f'root ::= op-{op_name} "\\n"', *_op_rules(op_name)]) + "\n"


def answer_gbnf(max_len: int, *, lines: int = 1, quotes: bool = True) -> str:
    """1 to `lines` lines of plain printable text, each of at most `max_len` characters, answering a question
    (a title, a statement, a dream). The first line may begin with one space, as the answer to a prompt that
    ends in a field label (`Title:`) naturally does; no line begins with more. `quotes=False` leaves out the
    double quote (a title's text may not hold one)."""
    chars = "[ !#-~]" if not quotes else "[ -~]"
    first = "[!#-~]" if not quotes else "[!-~]"
    return (f'root ::= " "? answer-line{{1,{lines}}}\n'
            f'answer-line ::= {first} {chars}{{0,{max_len - 1}}} "\\n"\n')
