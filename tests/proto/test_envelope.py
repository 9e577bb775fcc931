import msgpack
import pytest
from hypothesis import given, strategies as st

from proto.envelope import DEFAULT_FRAME_LIMIT, Message, decode, encode
from proto.errors import (CODES, DecodeError, EnvelopeError, FieldError, FrameTooLarge, ProtocolError,
                          UnknownTypeError)
from proto.messages import AGENT_TYPES, SCHEMAS, SNAPSHOT_TYPES, TEXT_MAX

NoneType = type(None)
scalars = st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=20)
VALUES = {
    str: lambda n: st.text(max_size=min(n or 40, 40)),
    int: lambda n: st.integers(-2**63, 2**64 - 1),
    float: lambda n: st.floats(allow_nan=False),
    bool: lambda n: st.booleans(),
    NoneType: lambda n: st.none(),
    dict: lambda n: st.dictionaries(st.text(max_size=8), scalars, max_size=4),
    list: lambda n: st.lists(scalars, max_size=4),
}


def bodies(msg_type):
    """Valid bodies for a message type, generated from its schema; optional fields may be left out."""
    fields = {name: (f.required, st.one_of(*(VALUES[t](f.max_len) for t in f.types)))
              for name, f in SCHEMAS[msg_type].items()}
    return st.fixed_dictionaries({k: v for k, (req, v) in fields.items() if req},
                                 optional={k: v for k, (req, v) in fields.items() if not req})


_DROP = object()  # an override that leaves the field out


def raw(**override):
    env = {"version": "1.0", "type": "ops", "id": "m-1", "sender": "ada", "time": 1.5, "parent_id": None,
           "body": {"text": "pen down"}}
    env.update(override)
    return {k: v for k, v in env.items() if v is not _DROP}


def frame(**override) -> bytes:
    return msgpack.packb(raw(**override), use_bin_type=True)


def raises(exc_type, code, data, **kwargs):
    with pytest.raises(exc_type) as info:
        decode(data, **kwargs)
    assert info.value.code == code and info.value.number == CODES[code]
    return info.value


@pytest.mark.parametrize("msg_type", sorted(SCHEMAS))
@given(data=st.data())
def test_round_trip_every_type(msg_type, data):
    msg = Message(msg_type, data.draw(bodies(msg_type)), data.draw(st.text(max_size=32)),
                  parent_id=data.draw(st.none() | st.text(max_size=64)))
    assert decode(encode(msg)) == msg


def test_extra_envelope_and_body_fields_are_tolerated():
    msg = decode(frame(extra=[1, 2], future={"a": 1}, body={"text": "done", "hint": 3}))
    assert (msg.type, msg.body["text"], msg.id) == ("ops", "done", "m-1")


@pytest.mark.parametrize("data", [b"", b"\xc1", b"\x92\x01", b"\xa5ab", frame() + b"\x00"])
def test_malformed_msgpack(data):
    raises(DecodeError, "bad_encoding", data)


@pytest.mark.parametrize("value", [[1, 2], "ops", 3, None, {1: "int key"}])
def test_not_a_string_keyed_map(value):
    raises(DecodeError, "bad_encoding", msgpack.packb(value))


@pytest.mark.parametrize("name", ["version", "type", "id", "sender", "time", "body"])
def test_missing_envelope_field(name):
    err = raises(EnvelopeError, "bad_envelope", frame(**{name: _DROP}))
    assert name in err.reason
    assert err.parent_id == (None if name == "id" else "m-1")


def test_missing_parent_id_is_nil_or_refused():
    try:
        assert decode(frame(parent_id=_DROP)).parent_id is None
    except ProtocolError as err:
        assert err.code == "bad_envelope"


@pytest.mark.parametrize("name, value", [
    ("version", 1), ("type", None), ("id", 7), ("sender", b"ada"), ("time", "now"), ("time", True),
    ("parent_id", 5), ("parent_id", False), ("body", ["text"]), ("body", None),
])
def test_envelope_field_of_wrong_type(name, value):
    assert name in raises(EnvelopeError, "bad_envelope", frame(**{name: value})).reason


def test_id_longer_than_64():
    decode(frame(id="x" * 64))
    raises(EnvelopeError, "bad_envelope", frame(id="x" * 65))


def test_frame_over_limit_is_refused_before_decoding():
    raises(FrameTooLarge, "frame_too_large", b"\xc1" * 101, limit=100)  # garbage, yet not bad_encoding
    ok = frame()
    decode(ok, limit=len(ok))
    raises(FrameTooLarge, "frame_too_large", ok, limit=len(ok) - 1)
    raises(FrameTooLarge, "frame_too_large", b"\xc1" * (DEFAULT_FRAME_LIMIT + 1))


def test_unknown_type():
    assert raises(UnknownTypeError, "unknown_type", frame(type="paint")).parent_id == "m-1"


@pytest.mark.parametrize("msg_type, body, accept", [
    ("snapshot_request", {"agent": None}, AGENT_TYPES),
    ("ops", {"text": "done"}, SNAPSHOT_TYPES),
])
def test_type_not_accepted_by_this_socket(msg_type, body, accept):
    data = frame(type=msg_type, body=body)
    assert decode(data).type == msg_type
    raises(UnknownTypeError, "unknown_type", data, accept=accept)


@pytest.mark.parametrize("msg_type, body", [
    ("ops", {}),                                            # missing
    ("ops", {"text": 5}),                                   # wrong type
    ("ops", {"text": "x" * (TEXT_MAX + 1)}),                # too long
    ("hello", {"agent": "ada", "protocol": "1.0", "pid": True}),  # bool is no int
    ("hello", {"agent": "a" * 65, "protocol": "1.0"}),
    ("hello", {"agent": "ada", "protocol": "1.0", "model": 3}),
    ("event", {"seq": 1.0, "agent": "ada", "kind": "note", "data": {}}),
    ("event", {"seq": False, "agent": "ada", "kind": "note", "data": {}}),
    ("error", {"code": "bad_field", "number": 402}),
])
def test_bad_body_field(msg_type, body):
    err = raises(FieldError, "bad_field", frame(type=msg_type, body=body))
    assert err.parent_id == "m-1" and msg_type in err.reason


def test_longest_ops_text_is_accepted():
    assert len(decode(frame(body={"text": "x" * TEXT_MAX})).body["text"]) == TEXT_MAX


@given(st.binary(max_size=512))
def test_arbitrary_bytes_raise_only_protocol_errors(data):
    try:
        decode(data)
    except ProtocolError as err:  # anything else fails the test
        assert err.code in CODES


msgpack_values = st.recursive(
    scalars | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELDS = ["version", "type", "id", "sender", "time", "parent_id", "body"]


# parent_id is never dropped here: see test_missing_parent_id_is_nil_or_refused.
@given(st.sampled_from([*FIELDS, "other"]), msgpack_values, st.sampled_from(sorted(SCHEMAS)),
       st.sets(st.sampled_from([f for f in FIELDS if f != "parent_id"])))
def test_mutated_envelopes_decode_or_raise_protocol_errors(name, value, msg_type, dropped):
    data = frame(**{"type": msg_type, name: value, **dict.fromkeys(dropped, _DROP)})
    try:
        msg = decode(data)
    except ProtocolError as err:
        assert err.code in CODES and err.reason
        return
    assert msg.type in SCHEMAS and isinstance(msg.body, dict) and not dropped


def test_reply_names_its_parent():
    ask = Message("ops", {"text": "done"}, "ada")
    answer = ask.reply("error", {"code": "bad_field", "number": 402, "reason": "x"}, "canvas")
    assert answer.parent_id == ask.id and answer.id != ask.id and answer.sender == "canvas"
    assert decode(encode(answer)).parent_id == ask.id


def test_ids_are_unique():
    ids = {Message("heartbeat", {}, "ada").id for _ in range(20000)}
    assert len(ids) == 20000 and all(len(i) <= 64 for i in ids)
