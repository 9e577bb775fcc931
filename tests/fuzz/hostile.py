"""Hypothesis strategies for hostile frames at the canvas's doors, each with the error codes it may be refused with.

A `Hostile` is what one peer sends in one go (a ZeroMQ message of one frame or more) and which codes a reply to it
may carry; a door's test checks the reply against them, so "refused with a clear code" is checked per example,
not only in total.
"""

from __future__ import annotations

import itertools
import time
from typing import Callable, NamedTuple

import msgpack
from hypothesis import strategies as st

from proto.messages import AGENT_FRAME_LIMIT, SCHEMAS
from proto.version import PROTOCOL_VERSION

DECODING = frozenset({"bad_encoding", "bad_envelope", "bad_field", "unknown_type"})  # what decode() may refuse with
HARD_LIMIT = 1 << 20  # the canvas's ZMQ_MAXMSGSIZE: past it ZeroMQ drops the peer (services/canvas/main.py)
HELLO_REFUSALS = frozenset({"unauthorized", "bad_name", "version_mismatch", "identity_mismatch", "bad_field"})
_ids = itertools.count(1)


class Hostile(NamedTuple):
    kind: str
    frames: list[bytes]
    codes: frozenset[str]  # what the refusal may say

    def __repr__(self) -> str:  # a huge frame is shown by its length and its start
        shown = [f if len(f) <= 300 else f"{f[:300]!r}... ({len(f)} bytes)" for f in self.frames]
        return f"Hostile({self.kind!r}, {shown!r}, {sorted(self.codes)})"


def pack(obj) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def envelope(msg_type: str, body: dict, sender: str = "mallory", msg_id: str | None = None) -> dict:
    # Ids of one length: hypothesis replays an example's draws (a cut point) against a frame of the same length.
    return {"version": PROTOCOL_VERSION, "type": msg_type, "id": msg_id or f"fuzz-{next(_ids):012d}",
            "sender": sender, "time": time.time(), "parent_id": None, "body": body}


scalars = (st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 64) - 1) | st.floats()
           | st.text(max_size=40) | st.binary(max_size=40))
# Any msgpack value, nested a few levels: what a wrong-typed field or an unknown extra one may hold.
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
# Agent names: the good agent's, the hostile one's, free ones, reserved and bad ones, and any text.
names = (st.sampled_from(["ada", "mallory", "canvas", "studio", "recorder", "", "Ada", "a" * 33, "9lives", "ada\x00",
                          "ada/../bob"])
         | st.from_regex(r"[a-z][a-z0-9_-]{0,31}", fullmatch=True) | st.text(max_size=70))


def _wrong(value_types: tuple[type, ...]) -> st.SearchStrategy:
    """A value of none of `value_types` (a bool is wrong wherever bool is not named, as decode() has it)."""
    def wrong(v) -> bool:
        return (type(v) is bool and bool not in value_types) or not isinstance(v, value_types)
    return values.filter(wrong)


_OF_TYPE = {str: st.text(max_size=80), int: st.integers(-(1 << 63), (1 << 64) - 1), float: st.floats(),
            bool: st.booleans(), type(None): st.none(), dict: st.dictionaries(st.text(max_size=12), values, max_size=4),
            list: st.lists(values, max_size=4)}


def _typed(field) -> st.SearchStrategy:
    """A value of one of the field's types (arbitrary otherwise), within its max_len."""
    strategy = st.one_of(*(_OF_TYPE[t] for t in field.types))
    if field.max_len is not None:
        strategy = strategy.filter(lambda v: not isinstance(v, (str, list)) or len(v) <= field.max_len)
    return strategy


def bodies(msg_type: str) -> st.SearchStrategy[dict]:
    """A body for `msg_type` whose fields have their schema's types (values arbitrary), plus unknown extras."""
    required = {n: _typed(f) for n, f in SCHEMAS[msg_type].items() if f.required}
    optional = {n: _typed(f) for n, f in SCHEMAS[msg_type].items() if not f.required}
    extras = st.dictionaries(st.text(max_size=12).filter(lambda k: k not in SCHEMAS[msg_type]), values, max_size=2)
    return st.builds(lambda body, extra: {**extra, **body}, st.fixed_dictionaries(required, optional=optional),
                     extras)


def random_bytes() -> st.SearchStrategy[Hostile]:
    return st.binary(max_size=600).map(lambda b: Hostile("bytes", [b], DECODING))


def truncated(accept: frozenset[str]) -> st.SearchStrategy[Hostile]:
    """A well-formed envelope cut short."""
    @st.composite
    def build(draw):
        msg_type = draw(st.sampled_from(sorted(accept)))
        whole = pack(envelope(msg_type, draw(bodies(msg_type))))
        return Hostile("truncated", [whole[:draw(st.integers(0, len(whole) - 1))]], frozenset({"bad_encoding"}))
    return build()


def not_a_map() -> st.SearchStrategy[Hostile]:
    return values.filter(lambda v: not isinstance(v, dict)).map(lambda v: Hostile("not_a_map", [pack(v)],
                                                                                  frozenset({"bad_encoding"})))


def wrong_envelope(accept: frozenset[str]) -> st.SearchStrategy[Hostile]:
    """An envelope with one field missing or of the wrong type (parent_id may be missing: it is optional)."""
    types = {"version": (str,), "type": (str,), "id": (str,), "sender": (str,), "time": (float, int),
             "parent_id": (str, type(None)), "body": (dict,)}

    @st.composite
    def build(draw):
        msg_type = draw(st.sampled_from(sorted(accept)))
        raw = envelope(msg_type, draw(bodies(msg_type)))
        field = draw(st.sampled_from(sorted(types)))
        if field != "parent_id" and draw(st.booleans()):
            del raw[field]
        else:
            raw[field] = draw(_wrong(types[field]))
        return Hostile("envelope", [pack(raw)], frozenset({"bad_envelope"}))
    return build()


def long_id(accept: frozenset[str]) -> st.SearchStrategy[Hostile]:
    return st.builds(lambda t, n: Hostile("long_id", [pack(envelope(t, {}, msg_id="i" * n))],
                                          frozenset({"bad_envelope"})),
                     st.sampled_from(sorted(accept)), st.integers(65, 5000))


def unknown_type(accept: frozenset[str]) -> st.SearchStrategy[Hostile]:
    """A well-formed envelope of a type this door does not take: another socket's, or none at all."""
    others = sorted(set(SCHEMAS) - accept)
    msg_type = st.sampled_from(others) | st.text(max_size=50).filter(lambda t: t not in accept)
    return st.builds(lambda t, body: Hostile("unknown_type", [pack(envelope(t, body))], frozenset({"unknown_type"})),
                     msg_type, st.dictionaries(st.text(max_size=10), values, max_size=3))


def wrong_body(accept: frozenset[str]) -> st.SearchStrategy[Hostile]:
    """A type this door takes, with one body field missing or of the wrong type (only types that have fields)."""
    @st.composite
    def build(draw):
        msg_type = draw(st.sampled_from(sorted(t for t in accept if SCHEMAS[t])))
        body = draw(bodies(msg_type))
        field_name = draw(st.sampled_from(sorted(SCHEMAS[msg_type])))
        field = SCHEMAS[msg_type][field_name]
        if field.required and draw(st.booleans()):
            body.pop(field_name, None)
        else:
            body[field_name] = draw(_wrong(field.types))
        return Hostile("body", [pack(envelope(msg_type, body))], frozenset({"bad_field"}))
    return build()


def huge(refused_over: int | None = AGENT_FRAME_LIMIT) -> st.SearchStrategy[Hostile]:
    """A frame over the agents' decoding limit, below ZeroMQ's hard one: refused before it is decoded at a door
    with that limit (`refused_over`), decoded and refused as it is at one without (the record socket)."""
    codes = frozenset({"frame_too_large"}) if refused_over else DECODING
    return st.builds(lambda n, fill: Hostile("huge", [fill * n], codes),
                     st.integers(AGENT_FRAME_LIMIT + 1, 4 * AGENT_FRAME_LIMIT),
                     st.sampled_from([b"\x00", b"\xc1", b"\x91", b"a"]))


def deep() -> st.SearchStrategy[Hostile]:
    """Arrays or maps nested deeper than msgpack's unpacker goes (it refuses past 1024 levels)."""
    def nested(opener: bytes) -> st.SearchStrategy[Hostile]:  # within the frame limit: decoded, then refused
        return st.integers(1100, (AGENT_FRAME_LIMIT - 1) // len(opener)).map(
            lambda depth: Hostile("deep", [opener * depth + b"\xc0"], frozenset({"bad_encoding"})))
    return st.sampled_from([b"\x91", b"\x81\xa1k"]).flatmap(nested)


def multipart(accept: frozenset[str]) -> st.SearchStrategy[Hostile]:
    """More than one frame where a door takes one envelope (the agents socket answers; the others drop it)."""
    frame = st.binary(max_size=64) | st.sampled_from(sorted(accept)).map(lambda t: pack(envelope(t, {})))
    return st.lists(frame, min_size=2, max_size=5).map(lambda fs: Hostile("multipart", fs,
                                                                          frozenset({"bad_envelope"})))


def malformed(accept: frozenset[str], limit: int | None = AGENT_FRAME_LIMIT) -> st.SearchStrategy[Hostile]:
    """Every malformed single frame above, for a door that takes the types `accept` and decodes frames up to
    `limit` bytes."""
    return st.one_of(random_bytes(), truncated(accept), not_a_map(), wrong_envelope(accept), long_id(accept),
                     unknown_type(accept), wrong_body(accept), huge(limit), deep())


def hellos(proof: Callable[[str], str]) -> st.SearchStrategy[Hostile]:
    """Hellos that may not join: no proof, a wrong one or another name's, a bad name, another sender, another
    major version, bad view options. `proof(name)`: the studio's proof for a name."""
    @st.composite
    def build(draw):
        name = draw(names)
        other = draw(names.filter(lambda n: n != name))
        body = {"agent": name, "protocol": draw(st.just(PROTOCOL_VERSION) | st.sampled_from(["2.0", "0.9", "", "1"])
                                                | st.text(max_size=16)),
                "proof": draw(st.none() | st.text(max_size=128) | st.just(proof(other)) | st.just("0" * 64))}
        if draw(st.booleans()):
            body["view"] = draw(st.dictionaries(st.sampled_from(["coords", "cursor", "x"]), values, max_size=3))
        sender = draw(st.sampled_from([name, other]))
        return Hostile("hello", [pack(envelope("hello", body, sender))], HELLO_REFUSALS)
    return build()


def before_hello(accept: frozenset[str], hello: str = "hello") -> st.SearchStrategy[Hostile]:
    """A well-formed message of a type this door takes, but its `hello`, from a peer that has not said hello."""
    return st.sampled_from(sorted(accept - {hello})).flatmap(
        lambda t: bodies(t).map(lambda body: Hostile("before_hello", [pack(envelope(t, body))],
                                                    frozenset({"not_registered"}))))
