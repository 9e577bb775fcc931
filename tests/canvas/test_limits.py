"""What the canvas enforces whatever an agent does (PROTOCOL.md section 7), against a fake transport: one decision
in flight, the roster's decisions per minute, frames and floods of refused lines, a handler that fails, and a
plaintext hello that must prove its name."""

from __future__ import annotations

import pytest

from proto.envelope import Message, encode
from proto.events import rejected_lines
from proto.messages import AGENT_FRAME_LIMIT, REJECTED_EACH_MAX
from services.canvas.limits import DecisionRate
from tests.canvas.fakes import Harness

A, B, REC = b"route-a", b"route-b", b"rec"


def durable() -> Harness:
    h = Harness(durable=True)
    h.as_recorder("record_hello", {"seq": 0, "canvases": {}}, REC)
    return h


def commit(h: Harness) -> None:
    h.as_recorder("recorded", {"seq": h.studio.seq}, REC)


def test_a_second_decision_while_the_first_waits_for_its_reply_is_refused_with_a_code():
    h = durable()
    h.hello(A, "ada")
    commit(h)
    assert h.ops(A, "ada", "pen down") is None  # no reply yet: the first waits for the recorder
    second = h.ops(A, "ada", "move right 2")
    assert second.type == "error" and second.body["code"] == "decision_in_flight"
    assert h.studio.canvases["ada"].state()["cursor"] == [16, 8]  # the second changed nothing
    commit(h)
    assert h.outbox.last(A).type == "result"  # the first's reply went out: the agent may decide again
    assert h.ops(A, "ada", "move right 2") is None  # taken, and waiting for the recorder in its turn
    commit(h)
    assert h.outbox.last(A).body["applied"] == ["move right 2"]


def test_the_roster_s_decisions_per_minute_are_enforced_and_the_refusal_says_when_to_come_back():
    h = Harness(rate=DecisionRate({"ada": 2}))
    h.hello(A, "ada")
    h.hello(B, "bob")  # not limited: the roster does not name it
    assert h.ops(A, "ada", "pen down").type == "result"
    h.clock.now += 10
    assert h.ops(A, "ada", "move right").type == "result"
    h.clock.now += 5
    refused = h.ops(A, "ada", "move right")
    assert refused.type == "error" and refused.body["code"] == "rate_limited"
    assert refused.body["retry_after"] == pytest.approx(45.0)  # when the first of its minute expires
    assert h.studio.counters["decisions_rate_limited"] == 1
    assert all(h.ops(B, "bob", "move left").type == "result" for _ in range(5))
    h.clock.now += 45
    assert h.ops(A, "ada", "move right").type == "result"


def test_the_canvas_reads_each_agent_s_limit_from_the_roster_file(tmp_path):
    roster = tmp_path / "roster.toml"
    roster.write_text('[defaults.budget]\ndecisions_per_minute = 7\n\n[[agent]]\nname = "ada"\nmodel = "m"\n\n'
                      '[[agent]]\nname = "bob"\nmodel = "m"\n[agent.budget]\ndecisions_per_minute = 3\n')
    assert DecisionRate.from_roster(roster).limits == {"ada": 7, "bob": 3}


def test_a_flood_of_refused_lines_is_one_event_with_a_count_and_the_study_counts_every_line():
    h = Harness()
    h.hello(A, "ada")
    before = len(h.outbox.events())
    text = "\n".join(["x"] * 1700 + ["pen down"] + ["pen x"] * 100)
    assert len(text) <= 4096
    reply = h.ops(A, "ada", text)
    assert reply.type == "result" and reply.body["applied"] == ["pen down"]
    rejected = [e.body["data"] for e in h.outbox.events("rejected")]
    assert len(rejected) == REJECTED_EACH_MAX + 1
    assert len(h.outbox.events()) - before == REJECTED_EACH_MAX + 1 + 1  # and the stroke of `pen down`
    flood = rejected[-1]
    assert flood["count"] == 1800 - REJECTED_EACH_MAX and flood["codes"] == {"unknown_op": 1700 - REJECTED_EACH_MAX,
                                                                             "bad_argument": 100}
    counted: dict[str, int] = {}
    for data in rejected:
        for code, n in rejected_lines(data).items():
            counted[code] = counted.get(code, 0) + n
    assert counted == {"unknown_op": 1700, "bad_argument": 100}
    assert reply.body["rejected"][-1] == flood  # the agent is told the same
    assert h.studio.counters["ops_rejected"] == 1800


def test_a_frame_over_the_agents_limit_is_refused_before_it_is_decoded_and_the_largest_valid_one_fits():
    h = Harness()
    h.hello(A, "ada")
    largest = encode(Message("ops", {"text": "\u20ac" * 4096}, "ada"))  # TEXT_MAX characters of 3 bytes
    assert len(largest) <= AGENT_FRAME_LIMIT and h.frame(A, largest).type == "result"
    over = h.frame(A, b"\xc1" * (AGENT_FRAME_LIMIT + 1))  # not even msgpack: never looked at
    assert over.type == "error" and over.body["code"] == "frame_too_large"


def test_a_handler_that_fails_mid_decision_answers_with_an_error_and_the_agent_may_go_on(monkeypatch):
    h = durable()
    h.hello(A, "ada")
    commit(h)
    canvas = h.studio.canvases["ada"]
    real = type(canvas).apply
    calls = []

    def failing(self, op):
        calls.append(op)
        if len(calls) == 2:
            raise RuntimeError("a bug")
        return real(self, op)

    monkeypatch.setattr(type(canvas), "apply", failing)
    reply = h.ops(A, "ada", "pen down\nmove right 3\nmove down")
    assert reply.type == "error" and reply.body["code"] == "internal" and reply.body["number"] == 500
    assert reply.parent_id is not None and "say hello again" in reply.body["reason"]
    assert h.studio.counters["handler_errors"] == 1
    monkeypatch.setattr(type(canvas), "apply", real)
    commit(h)
    assert [e.body["kind"] for e in h.outbox.events()][-1] == "stroke"  # what it applied before failing stays
    assert h.hello(A, "ada") is None  # a resync: the welcome waits for the recorder like any reply
    commit(h)
    assert h.outbox.last(A).type == "welcome" and h.outbox.last(A).body["state"]["pen"] == "down"
    assert h.ops(A, "ada", "move down") is None  # not refused as in flight: the failed one is over
    commit(h)
    assert h.outbox.last(A).body["applied"] == ["move down 1"]


def test_a_plaintext_hello_must_carry_the_proof_for_its_name_and_a_key_s_user_needs_none():
    h = Harness(proof=lambda name: f"proof-of-{name}")
    refused = h.send(A, "hello", {"agent": "ada", "protocol": "1.7"}, "ada")
    assert refused.type == "error" and refused.body["code"] == "unauthorized"
    wrong = h.send(A, "hello", {"agent": "ada", "protocol": "1.7", "proof": "proof-of-bob"}, "ada")
    assert wrong.type == "error" and wrong.body["code"] == "unauthorized"
    assert h.studio.counters["hellos_unproven"] == 2 and "ada" not in h.studio.canvases
    assert h.send(A, "hello", {"agent": "ada", "protocol": "1.7", "proof": "proof-of-ada"}, "ada").type == "welcome"
    h.studio.on_agent_frames([B, encode(Message("hello", {"agent": "bob", "protocol": "1.7"}, "bob"))], user="bob")
    assert h.outbox.last(B).type == "welcome"
