import pytest

from proto.errors import EnvelopeError, ProtocolError, UnknownTypeError
from proto.names import RESERVED_NAMES
from proto.topics import TICK_TOPIC, TOPICS, decode_event, decode_published, encode_event, encode_tick


def test_a_tick_decodes_as_published_but_never_as_an_event():
    frames = encode_tick(42)
    assert frames[0] == TICK_TOPIC.encode()
    tick = decode_published(frames)
    assert (tick.type, tick.body, tick.sender) == ("tick", {"seq": 42}, "canvas")
    with pytest.raises(UnknownTypeError):
        decode_event(frames)
    event = decode_published(encode_event(7, "ada", "move", {"op": "move up 1", "cursor": [1, 2]}))
    assert event.type == "event" and event.body["seq"] == 7


def test_decode_published_refuses_what_the_events_socket_never_sends():
    with pytest.raises(EnvelopeError):
        decode_published(encode_tick(1)[1:])
    frames = encode_event(1, "ada", "move", {})
    frames[1] = frames[1].replace(b"move", b"jump")
    with pytest.raises(EnvelopeError, match="unknown event kind"):
        decode_published(frames)
    with pytest.raises(ProtocolError):
        decode_published([b"studio.tick", b"\xc1"])


def test_no_agent_topic_can_collide_with_the_tick():
    assert TICK_TOPIC.split(".")[0] in RESERVED_NAMES
    assert all(not pattern.startswith("studio.") for pattern in TOPICS.values())
