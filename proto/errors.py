"""The one table of error codes, and the exceptions raised at the transport boundary.

Every error reply carries a code from `CODES`; services raise `ProtocolError` subclasses and the
service base turns them into replies, so a bad frame never escapes as a crash.
"""

from __future__ import annotations

CODES: dict[str, int] = {
    "bad_encoding": 400,
    "bad_envelope": 401,
    "bad_field": 402,
    "identity_mismatch": 403,
    "unknown_type": 405,
    "not_registered": 409,
    "frame_too_large": 413,
    "bad_name": 422,
    "name_taken": 423,
    "decision_in_flight": 425,
    "unauthorized": 407,
    "rate_limited": 429,
    "internal": 500,
    "unavailable": 503,
    "version_mismatch": 426,
    "unknown_op": 460,
    "bad_argument": 461,
    "too_many_ops": 462,
    "empty_work": 463,
    "extra_done": 464,
}


class ProtocolError(Exception):
    """A message that cannot be accepted. `code` is a key of CODES; `parent_id` the offending message's id;
    `retry_after`, for a refusal that lifts by itself (`rate_limited`), the seconds until it does."""

    code = "bad_envelope"

    def __init__(self, reason: str, *, parent_id: str | None = None, code: str | None = None,
                 retry_after: float | None = None):
        super().__init__(reason)
        if code is not None:
            self.code = code
        assert self.code in CODES, self.code
        self.reason = reason
        self.parent_id = parent_id
        self.retry_after = retry_after

    @property
    def number(self) -> int:
        return CODES[self.code]


class DecodeError(ProtocolError):
    code = "bad_encoding"


class EnvelopeError(ProtocolError):
    code = "bad_envelope"


class FieldError(ProtocolError):
    code = "bad_field"


class UnknownTypeError(ProtocolError):
    code = "unknown_type"


class FrameTooLarge(ProtocolError):
    code = "frame_too_large"


class VersionMismatch(ProtocolError):
    code = "version_mismatch"


class RemoteError(Exception):
    """An `error` reply received from a peer, raised on the client side."""

    def __init__(self, code: str, reason: str, retry_after: float | None = None):
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.retry_after = retry_after
