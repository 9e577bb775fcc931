"""Fuzz the canvas's agents socket over real ZeroMQ: hostile frames from peers that never said hello, then a hostile
agent (`mallory`, with its own proof) that claims other names, replays ids, floods, and sends wrong-typed, nested and
non-finite fields. After each batch the canvas is up, the good agent `ada` decides as before (stored first) and its
canvas holds only its own ops, and the canvas's counters hold every refusal and no handler crash.

Longer, by hand (budget.py): AURORA_FUZZ_SCALE=20 PYTHONPATH=$PWD python -m pytest -q tests/fuzz
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from hypothesis import given, strategies as st

from proto.errors import CODES
from proto.events import rejected_lines
from proto.messages import AGENT_TYPES, TEXT_MAX
from proto.version import PROTOCOL_VERSION
from tests.canvas.fakes import Harness
from tests.fuzz.budget import fuzz
from tests.fuzz.hostile import (HELLO_REFUSALS, before_hello, bodies, envelope, hellos, malformed, multipart, names,
                                pack)
from tests.fuzz.peer import Peer, clear_error, counted, refused
from tests.proto.strategies import decision, decisions

pytestmark = pytest.mark.fuzz

REPLIES = {"welcome", "result", "error", "wait", "heartbeat"}  # what the canvas sends an agent
CLAIM_REFUSALS = HELLO_REFUSALS | {"not_registered"}  # a message in another's name (after a bye: no session)


def test_frames_from_peers_that_said_no_hello_are_each_refused_with_a_code(studio, ctx, ada):
    hostile = st.one_of(malformed(AGENT_TYPES), multipart(AGENT_TYPES), before_hello(AGENT_TYPES),
                        hellos(studio.keys.hello_proof))
    tally: Counter[str] = Counter()

    @fuzz(400)
    @given(hostile)
    def batch(frame):
        peer = Peer(ctx, studio.addrs.agents)
        try:
            peer.send(frame.frames)
            refused(peer.reply(), frame, tally)
        finally:
            peer.close()

    with ada.client.keepalive():
        batch()
    assert studio.proc.poll() is None
    ada.decides()
    counted(studio.stopped_counters(), tally)
    print(f"agents socket, peers without hello: {sum(tally.values())} refused {dict(tally)}")


def _texts() -> st.SearchStrategy[str]:
    """What an `ops` may carry: a decision, lines of garbage, a flood of one-letter lines, any text at the limit."""
    garbage = st.lists(st.text(max_size=40), max_size=80).map("\n".join)
    flood = st.integers(1, TEXT_MAX // 2).map(lambda n: "x\n" * n)
    return (decisions().map(decision) | garbage | flood
            | st.text(min_size=TEXT_MAX - 8, max_size=TEXT_MAX))


@st.composite
def _acts(draw):
    """One thing mallory does on its connection: (what, message type, body, sender) or a replay of the last."""
    what = draw(st.sampled_from(["ops"] * 3 + ["as_other"] * 2 + ["notify"] * 2 + ["nested", "hello_again", "replay",
                                                                                "heartbeat", "bye"]))
    if what == "ops":
        return what, "ops", {"text": draw(_texts())}, "mallory"
    if what == "as_other":  # a well-formed message claiming another agent's name
        msg_type = draw(st.sampled_from(["ops", "status", "bye", "heartbeat"]))
        body = {"ops": {"text": "pen down\nmove right 5"}, "status": {"activity": "resting"}}.get(msg_type, {})
        return what, msg_type, body, draw(names.filter(lambda n: n != "mallory"))
    if what == "notify":  # typed fields with any values (NaN, huge ints, nested extras), or a real one
        msg_type = draw(st.sampled_from(["status", "statement", "echo"]))
        return what, msg_type, draw(bodies(msg_type)), "mallory"
    if what == "nested":  # as deep as msgpack packs (511 levels), in a field the canvas reads or in an extra one
        deep = _nested(draw(st.integers(2, 500)))
        body = draw(st.sampled_from([("status", {"activity": "painting", "usage": {"decisions": deep, "tokens": 0,
                                                                                   "prompt_tokens": 0}}),
                                     ("status", {"activity": "painting", "extra": deep}),
                                     ("ops", {"text": "pen up", "extra": deep}),
                                     ("echo", {"of": "title", "work": 1, "words": 1, "run": "a", "asked": deep}),
                                     ("hello", {"agent": "mallory", "protocol": PROTOCOL_VERSION, "view": deep})]))
        return (what, *body, "mallory")
    if what == "hello_again":
        name = draw(st.sampled_from(["mallory", "ada"]) | names)
        return what, "hello", {"agent": name, "protocol": PROTOCOL_VERSION, "proof": draw(st.text(max_size=64))}, name
    return what, what, {}, "mallory"


def test_a_hostile_agent_changes_nothing_but_its_own_canvas_and_each_refusal_has_a_code(studio, ctx, ada):
    proof = studio.keys.hello_proof("mallory")
    before = ada.decides("pen up")["state"]["ops"]
    tally: Counter[str] = Counter()
    kinds: Counter[str] = Counter()  # of the replies mallory got

    @fuzz(150)
    @given(st.lists(_acts(), min_size=1, max_size=12))
    def batch(acts):
        peer = Peer(ctx, studio.addrs.agents)
        try:
            hello = envelope("hello", {"agent": "mallory", "protocol": PROTOCOL_VERSION, "proof": proof}, "mallory")
            peer.send([pack(hello)])
            assert [m.type for m in peer.replies_until(hello["id"])][-1] == "welcome"
            last, claims = None, []
            for what, msg_type, body, sender in acts:
                if what != "replay" or last is None:  # a replay sends the last message again, its id too
                    last = envelope(msg_type, body, sender)
                peer.send([pack(last)])
                if sender != "mallory":
                    claims.append(last["id"])
            peer.send([pack(envelope("bye", {}, "mallory"))])  # the name is free for the next example
            probe = envelope("snapshot_request", {}, "mallory")  # not an agent's type: always answered at once
            peer.send([pack(probe)])
            replies = peer.replies_until(probe["id"])
        finally:
            peer.close()
        by_parent = defaultdict(list)
        for reply in replies:
            assert reply.type in REPLIES, reply.type
            kinds[reply.type] += 1
            by_parent[reply.parent_id].append(reply)
            if reply.type == "error":
                clear_error(reply, tally)
        for claim in claims:  # another's name: refused, whatever the message (or the connection is gone)
            assert by_parent[claim] and all(r.type == "error" and r.body["code"] in CLAIM_REFUSALS
                                            for r in by_parent[claim])

    with ada.client.keepalive():
        batch()
    assert studio.proc.poll() is None
    after = ada.decides("pen down")["state"]["ops"]
    assert after == before + 1  # ada's canvas holds ada's ops only
    counted(studio.stopped_counters(), tally)
    assert tally["identity_mismatch"] > 0 and set(tally) <= set(CODES)
    print(f"agents socket, a hostile agent: replies {dict(kinds)}, refused {dict(tally)}")



def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@fuzz(400)
@given(st.lists(_texts(), min_size=1, max_size=4))
def test_any_ops_text_is_applied_or_refused_line_by_line(texts):
    """In process (the handlers on a fake transport), where the canvas's rate does not limit how many texts are
    tried: every non-blank line of each decision is an applied op or a refused line, and no handler fails."""
    h = Harness()
    h.hello(b"route", "ada")
    for text in texts:
        reply = h.ops(b"route", "ada", text)
        assert reply.type == "result", reply.body
        refused = sum(n for r in reply.body["rejected"] for n in rejected_lines(r).values())
        assert len(reply.body["applied"]) + refused == sum(1 for line in text.splitlines() if line.strip())
    assert h.studio.counters["handler_errors"] == 0
