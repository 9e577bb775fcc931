"""Constrained decoding with llguidance, on both bundled models: every generated turn parses, the mask of
allowed tokens agrees with the parser on generated prefixes, no control token is ever allowed, `feel` takes
the listed words and nothing else, a second `done` is refused, decoding under the grammar keeps pace with
decoding free, and a changed op-code table compiles a new matcher instead of reusing a stale one."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proto.canvas import CanvasModel
from proto.ops import words
from proto.ops.grammar import gbnf, single_op_gbnf
from proto.ops.parser import Op, format_op, parse
from proto.ops.table import OPS, Arg
from services.agent.constraint import token_bytes
from services.agent.llm import Generator
from services.agent.prompt import Turn, system_text, user_text
from tests.proto.strategies import decision, decisions

MODELS = ("smollm2-135m", "gemma3-270m")
MAX_OPS = 8
GRAMMAR = gbnf(MAX_OPS)


@pytest.fixture(scope="module", params=MODELS)
def gen(request, model_paths):
    # A high temperature: the model's own picks are refused more often, so the grammar has more to do.
    with Generator(model_paths(request.param), n_ctx=1536, n_threads=1, seed=11,
                   sampling={"temperature": 1.2, "top_k": 0, "top_p": 1.0, "min_p": 0.0}) as g:
        g.pieces = token_bytes(g._vocab, g.n_vocab)
        # Pieces that end in their only line break, with the tokens that write each: a vocabulary may hold one
        # piece twice (Gemma: "\n" and the byte token <0x0A>), and llguidance's mask offers one of them.
        g.line_enders = {}
        for t, piece in enumerate(g.pieces):
            if piece.endswith(b"\n") and piece.count(b"\n") == 1:
                g.line_enders.setdefault(piece, []).append(t)
        yield g


def agent_prompt(gen: Generator) -> str:
    canvas = CanvasModel()
    turn = Turn("ada", canvas.view(), canvas.state(), last_result="no ops yet", now=1.8e9)
    return gen.format(system_text("ada"), user_text(turn))


def only_ops(text: str) -> list[Op]:
    items = parse(text)
    assert all(isinstance(item, Op) for item in items), (text, items)
    return items


def test_every_generated_turn_parses(gen):
    prompt = agent_prompt(gen)
    before = gen.redraws
    finished = 0
    for _ in range(12):  # the RNG runs on: twelve different turns from one seed
        result = gen.generate(prompt, grammar=GRAMMAR, max_tokens=64)
        complete = result.text[:result.text.rfind("\n") + 1]
        assert len(only_ops(complete)) <= MAX_OPS
        if result.finish == "eos":
            finished += 1
            assert result.text == complete and 1 <= len(only_ops(result.text)) <= MAX_OPS
    assert finished >= 1
    assert gen.redraws > before  # the grammar refused some of the model's own picks and redrew them


def test_titles_are_one_title_op(gen):
    prompt = agent_prompt(gen)
    for _ in range(6):
        result = gen.generate(prompt, grammar=single_op_gbnf("title"), max_tokens=40)
        if result.finish == "eos":
            [op] = only_ops(result.text)
            assert op.name == "title" and result.text.endswith('"\n')


def _completes_a_canonical_line(prefix: str, piece: str) -> bool:
    """piece, which ends in its only line break, finishes the current line as a canonical op."""
    text = prefix + piece
    if text.count("\n") > MAX_OPS:
        return False
    line = text[:-1].rsplit("\n", 1)[-1]
    items = parse(line)
    return len(items) == 1 and isinstance(items[0], Op) and format_op(items[0]) == line


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(op_list=decisions(MAX_OPS, min_size=1), seed=st.integers(0, 2**16))
def test_the_mask_agrees_with_the_parser_on_generated_prefixes(gen, op_list, seed):
    text = decision(op_list) + "\n"
    tokens = gen.llm.tokenize(text.encode(), add_bos=False, special=False)
    matcher = gen.grammars.matcher(GRAMMAR)
    rng = random.Random(seed)
    banned = gen._banned
    eog = np.array(sorted(gen._eog), dtype=np.int32)
    done = b""
    for token in tokens:
        allowed = np.zeros(gen.n_vocab, dtype=bool)
        allowed[gen.grammars.allowed(matcher)] = True
        prefix = done.decode()
        # Complete: the text's own next token is allowed, as the parser accepts the text.
        assert allowed[token], (prefix, gen.pieces[token])
        # No control token, ever; an end only where the grammar is complete.
        assert not allowed[banned].any()
        assert allowed[eog].any() == matcher.is_accepting()
        # Sound: what an allowed token would write parses, line by line, without a rejection.
        for t in rng.sample(list(np.flatnonzero(allowed)), k=min(8, int(allowed.sum()))):
            if t in gen._eog:
                continue
            written = (done + gen.pieces[t]).decode(errors="replace")
            only_ops(written[:written.rfind("\n") + 1])
        # And complete again: a token that would finish the current line as a canonical op is allowed.
        for piece, ids in gen.line_enders.items():
            if _completes_a_canonical_line(prefix, piece.decode(errors="replace")):
                assert allowed[ids].any(), (prefix, piece)
        assert matcher.consume_token(token)
        done += gen.pieces[token]
    assert done.decode() == text and matcher.is_accepting()


def _validates(gen, matcher, text: str) -> bool:
    matcher.reset()
    tokens = gen.llm.tokenize(text.encode(), add_bos=False, special=False)
    return matcher.validate_tokens(tokens) == len(tokens)


FEELINGS = ["calm", "wistful", "melancholic", "joy", "a", "restless", "bittersweet", "nostalgic", "awe"]
NOT_WORDS = ["yourmyselfbecomingmoret", "iremirimimimimimimimimim", "calmm", "qz", "wistfull", "happysad"]


def test_feel_takes_the_listed_words_and_nothing_else(gen):
    matcher = gen.grammars.matcher(GRAMMAR)
    sample = FEELINGS + random.Random(3).sample(words.words(), 300)
    assert all(words.is_word(w) for w in FEELINGS)
    for word in sample:
        assert _validates(gen, matcher, f"pen down\nfeel {word}\n"), word
    for junk in NOT_WORDS:
        assert not words.is_word(junk) and not _validates(gen, matcher, f"feel {junk}\n"), junk


@pytest.mark.parametrize("pieces", [["feel", " ", "wist", "ful", "\n"], ["fe", "el", " w", "ist", "ful", "\n"],
                                    ["feel", " the", "\n"], ["feel", " zebra", "\n", "feel", " a", "\n"]])
def test_masks_inside_a_word_are_sound(gen, pieces):
    """A mask at every step, however the text is cut into tokens: llguidance's lexer budget holds."""
    matcher = gen.grammars.matcher(GRAMMAR)
    for piece in pieces:
        allowed = gen.grammars.allowed(matcher)
        assert not matcher.is_error(), matcher.get_error()
        for token in gen.llm.tokenize(piece.encode(), add_bos=False, special=False):
            assert token in allowed or matcher.validate_tokens([token]) == 1, piece
            assert matcher.consume_token(token), (piece, matcher.get_error())
            allowed = gen.grammars.allowed(matcher)
            assert not matcher.is_error(), matcher.get_error()
    assert matcher.is_accepting()


@pytest.mark.parametrize("text, ok", [("done\n", True), ("pen up\ndone\n", True), ("done\ndone\n", False),
                                      ("done\npen up\n", False), ("pen up\ndone\nfeel calm\ndone\n", False)])
def test_at_most_one_done_and_it_ends_the_decision(gen, text, ok):
    matcher = gen.grammars.matcher(GRAMMAR)
    assert _validates(gen, matcher, text) is ok
    if ok:
        assert matcher.consume_tokens(gen.llm.tokenize(text.encode(), add_bos=False, special=False))
        assert matcher.is_accepting()
        eog = sorted(gen._eog)
        assert set(gen.grammars.allowed(matcher)) <= set(eog)  # nothing but the end may follow a done


def test_a_changed_op_table_compiles_a_new_matcher(gen, monkeypatch):
    before = gen.grammars.matcher(gbnf(4))
    ochre = gen.llm.tokenize(b"color ochre\n", add_bos=False, special=False)
    assert before.validate_tokens(ochre) < len(ochre)
    colour = OPS["color"].args[0]
    monkeypatch.setitem(OPS, "color", OPS["color"]._replace(
        args=(Arg(colour.name, "choice", colour.choices + ("ochre",)),)))
    after = gen.grammars.matcher(gbnf(4))
    assert after is not before
    assert after.validate_tokens(ochre) == len(ochre)
    assert gen.grammars.matcher(gbnf(4)) is after  # and the new text is cached in turn
