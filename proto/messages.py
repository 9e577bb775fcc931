"""Message types and the shape of their bodies (PROTOCOL.md section 4).

Each type has a schema: its body fields, their types, whether they are required and how long a string
may be. `proto.envelope.decode` checks a body against its schema, so a handler only ever sees messages whose
fields have the types written here. Unknown extra fields are kept but never required.
"""

from __future__ import annotations

from typing import Any, NamedTuple

NoneType = type(None)


class Field(NamedTuple):
    types: tuple[type, ...]
    required: bool = True
    max_len: int | None = None  # for str and list fields


def _f(*types: type, required: bool = True, max_len: int | None = None) -> Field:
    return Field(types, required, max_len)


NAME_MAX = 32
TEXT_MAX = 4096  # op-code text of one decision
# The largest frame the canvas decodes on the agents socket: room for the largest valid message (an `ops` text of
# TEXT_MAX characters of up to 4 bytes each, and its envelope); a larger one is refused before it is decoded.
AGENT_FRAME_LIMIT = 20 * 1024
# The largest frame on the record socket (its ZMQ_MAXMSGSIZE too): a recorder's hello carries every recorded canvas,
# far more than an agent's frame (40 canvases of 32 x 16 are already over AGENT_FRAME_LIMIT).
RECORD_FRAME_LIMIT = 1 << 28
PROOF_MAX = 128  # a hello's proof (PROTOCOL.md section 13)
REJECTED_EACH_MAX = 8  # refused lines of one decision published one by one; the rest as one event with a count
STATEMENT_MAX = 200  # an agent's one-line statement about a finished work
ECHO_RUN_MAX = 200  # the words an `echo` quotes from the prompt
USAGE_FIELDS = ("decisions", "tokens", "prompt_tokens")  # a `status`'s usage: counts, each an int >= 0
ECHO_OF = ("title", "statement", "remember", "dream", "reply")  # the texts an agent reports echoes of, in order
ECHO_WORDS_MAX = 200  # the longest run an `echo` may count, in words
ACTIVITIES = frozenset({"painting", "resting", "dreaming", "waiting"})
RECORD_BATCH_MAX = 4096  # events in one `record` message

STATE = _f(dict)

SCHEMAS: dict[str, dict[str, Field]] = {
    # agent -> canvas
    "hello": {
        "agent": _f(str, max_len=64),
        "protocol": _f(str, max_len=16),
        "model": _f(str, NoneType, required=False, max_len=256),
        "pid": _f(int, NoneType, required=False),
        "view": _f(dict, NoneType, required=False),  # view options: {coords: bool, cursor: bool}
        "lists": _f(dict, NoneType, required=False),  # the order of each list in this agent's manual (1.6)
        "proof": _f(str, NoneType, required=False, max_len=PROOF_MAX),  # that the studio lets it use this name (1.7)
    },
    "ops": {"text": _f(str, max_len=TEXT_MAX)},
    "status": {
        "activity": _f(str, max_len=16),
        "until": _f(float, int, NoneType, required=False),
        "reason": _f(str, NoneType, required=False, max_len=64),
        "usage": _f(dict, NoneType, required=False),  # decisions, tokens, prompt_tokens so far (1.6)
    },
    "statement": {"work": _f(int), "text": _f(str, max_len=STATEMENT_MAX)},
    # how much of a text the agent generated repeats the prompt it was generated from (1.6)
    "echo": {"of": _f(str, max_len=16), "work": _f(int), "words": _f(int), "run": _f(str, max_len=ECHO_RUN_MAX),
             "studio_words": _f(int, required=False),  # the same, against the prompt without the agent's own words
             "asked": _f(bool, required=False)},  # a title the agent asked for after a bare `done`
    "heartbeat": {},
    "bye": {},
    # canvas -> agent
    "welcome": {
        "agent": _f(str),
        "protocol": _f(str),
        "width": _f(int),
        "height": _f(int),
        "view": _f(str),
        "state": STATE,
        "cells": _f(list, required=False),  # the canvas's rows of cell codes, no frame, no cursor (1.6)
        "seq": _f(int),
        "heartbeat_interval": _f(float, int),
        "liveness": _f(int),
        "mode": _f(str, required=False),  # the studio's mode: isolated or salon (1.8)
        "salon": _f(list, required=False),  # in a salon: the latest works of others, with replies (1.8)
    },
    "result": {
        "applied": _f(list),
        "rejected": _f(list),
        "notes": _f(list),
        "view": _f(str),
        "state": STATE,
        "cells": _f(list, required=False),
        "seq": _f(int),
        "salon": _f(list, required=False),  # in a salon: what others posted, replied and reacted since (1.8)
    },
    "error": {"code": _f(str), "number": _f(int), "reason": _f(str),
              "retry_after": _f(float, int, NoneType, required=False)},  # seconds, for `rate_limited` (1.7)
    # viewer <-> canvas
    "snapshot_request": {"agent": _f(str, NoneType, required=False, max_len=64)},
    "snapshot": {"seq": _f(int), "canvases": _f(dict),
                 "mode": _f(str, required=False), "salon": _f(dict, required=False)},  # (1.8)
    # canvas -> everyone (events socket)
    "event": {"seq": _f(int), "agent": _f(str), "kind": _f(str), "data": _f(dict)},
    "tick": {"seq": _f(int)},  # the seq of the last event published, every heartbeat interval
    # canvas -> agent, while a reply waits for the recorder (section 11)
    "wait": {"reason": _f(str, max_len=256)},
    # recorder <-> canvas (record socket, section 11)
    "record_hello": {"seq": _f(int), "canvases": _f(dict, NoneType, required=False),
                     # with the canvases: the salon's recorded events, [seq, agent, kind, data] (1.8)
                     "salon": _f(list, required=False)},
    "record": {"events": _f(list, max_len=RECORD_BATCH_MAX), "snapshots": _f(list, NoneType, required=False)},
    "recorded": {"seq": _f(int)},
}

# A studio's modes (PROTOCOL.md section 14): isolated, the default, or salon.
MODES = ("isolated", "salon")

# Which types each socket accepts from its clients; anything else is `unknown_type`.
AGENT_TYPES = frozenset({"hello", "ops", "status", "statement", "echo", "heartbeat", "bye"})
SNAPSHOT_TYPES = frozenset({"snapshot_request"})
RECORDER_TYPES = frozenset({"record_hello", "recorded", "heartbeat"})  # what the canvas accepts from a recorder
CANVAS_TO_RECORDER_TYPES = frozenset({"record", "heartbeat", "error"})


def echo_problem(echo: dict[str, Any]) -> str | None:
    """Why an `echo` message's body, or an `echo` event's data, is not one; None when it is. The canvas refuses
    such a message and the study skips such an event (a record is read as it was written)."""
    of, work, words, studio = (echo.get(k) for k in ("of", "work", "words", "studio_words"))
    count = lambda v, most: type(v) is int and 0 <= v <= most  # noqa: E731
    if of not in ECHO_OF:
        return f"an echo is of one of {', '.join(ECHO_OF)}"
    if not (type(work) is int and work >= 1):
        return "an echo names the work it was written during or about, from 1"
    if not count(words, ECHO_WORDS_MAX):
        return f"words counts the longest run the text shares with its prompt, 0 to {ECHO_WORDS_MAX}"
    if studio is not None and not count(studio, words):
        return "studio_words counts a run within the prompt's, so from 0 to words"
    if not isinstance(echo.get("run"), str):
        return "run is the text of that run"
    return None


def check_body(msg_type: str, body: dict[str, Any]) -> str | None:
    """Return why `body` does not fit the schema of `msg_type`, or None when it fits."""
    for name, field in SCHEMAS[msg_type].items():
        if name not in body:
            if field.required:
                return f"{msg_type}: missing field {name!r}"
            continue
        value = body[name]
        # bool is an int subclass in Python; a bool is valid only where a field says bool, never as an int.
        if (type(value) is bool and bool not in field.types) or not isinstance(value, field.types):
            want = " or ".join("nil" if t is NoneType else t.__name__ for t in field.types)
            return f"{msg_type}: field {name!r} must be {want}, got {type(value).__name__}"
        if field.max_len is not None and isinstance(value, (str, list)) and len(value) > field.max_len:
            return f"{msg_type}: field {name!r} is longer than {field.max_len}"
    return None
