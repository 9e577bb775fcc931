"""The agent's end of the agents socket: handshake, decisions, heartbeats, reconnect with backoff.

Used by every agent process, LLM or scripted. It is synchronous: an agent makes one decision at a time, and
heartbeats go out whenever the agent calls in (`decide`, `idle`). Around long work that does not call in
(a model reading a long prompt), `with client.keepalive():` heartbeats from a helper thread. The socket is
only ever used under `self.lock`, which is the full memory barrier ZeroMQ asks for when a socket moves
between threads. Given `curve` (services/base/curve.py) it talks CurveZMQ, and a canvas that refuses its key
ends it with KeyRefused; without, it refuses to connect to an address that is not loopback, and its hello carries
the proof that the studio lets it use its name (PROTOCOL.md section 13): `proof`, else AURORA_HELLO_PROOF, else
made from the studio's data folder (services/base/keys.py), which only the studio's owner can read.

What the canvas refuses comes back as RemoteError, except what asks for a fresh start: a decision that got no
reply in time, or that the canvas failed on (`internal`) or still holds (`decision_in_flight`), is CanvasGone,
and the caller reconnects, which resyncs it with the canvas as it is. `rate_limited` is RateLimited, with the
seconds until the canvas takes the next decision.

With AURORA_ACKS_DIR set (`aurora chaos` sets it), each decision whose `result` came back is appended to
`<dir>/<agent>.jsonl` (its id, the result's seq, whether it made events), so that a run can check afterwards
that every decision an agent saw applied is in the record.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import zmq

from proto.envelope import Message, decode, encode
from proto.errors import ProtocolError, RemoteError
from proto.heartbeat import INTERVAL, LIVENESS, RECONNECT_MAX, RECONNECT_MIN
from proto.ops.table import AGENT_LOCAL_OPS
from proto.version import PROTOCOL_VERSION
from services.base.curve import ClientCurve, HandshakeWatch, require
from services.base.keys import PROOF_ENV, Keys

log = logging.getLogger("aurora.client")

REPLY_TYPES = frozenset({"welcome", "result", "heartbeat", "error", "wait"})
FATAL_CODES = frozenset({"version_mismatch", "bad_name", "identity_mismatch", "key_refused", "unauthorized"})
RESYNC_CODES = frozenset({"internal", "decision_in_flight"})  # only a fresh start (a new hello) helps
# A decision with no reply, and no `wait` saying the canvas holds it, for this many heartbeat intervals (and at
# least DECIDE_TIMEOUT_MIN_S: a canvas on a loaded machine may be slow) is taken as lost: the agent resyncs
# rather than wait for ever while heartbeats keep it live.
DECIDE_TIMEOUT_INTERVALS = 10
DECIDE_TIMEOUT_MIN_S = 10.0
ACKS_ENV = "AURORA_ACKS_DIR"


class CanvasGone(Exception):
    """Nothing heard from the canvas for INTERVAL x LIVENESS: reconnect."""


class RateLimited(RemoteError):
    """The canvas took no more decisions of this agent for now (`rate_limited`): send again in `retry_after` s."""

    def __init__(self, reason: str, retry_after: float):
        super().__init__("rate_limited", reason, retry_after)


class CanvasClient:
    def __init__(self, agent: str, address: str, *, model: str | None = None,
                 context: zmq.Context | None = None, protocol: str = PROTOCOL_VERSION,
                 view: dict[str, bool] | None = None, curve: ClientCurve | None = None,
                 lists: dict[str, list[str]] | None = None, proof: str | None = None):
        require(address, curve)  # CurveError now, rather than a canvas that never answers plaintext
        self.curve = curve
        self.watch: HandshakeWatch | None = None
        self.agent = agent
        self.address = address
        self.model = model
        self.protocol = protocol
        self.view = view
        self.lists = lists  # the order of its manual's lists, told at hello so the study can read it
        self.proof = proof
        self.context = context or zmq.Context.instance()
        self.sock: zmq.Socket | None = None
        self.interval = INTERVAL
        self.liveness = LIVENESS
        self.last_heard = self.last_sent = time.monotonic()
        self.welcome: dict[str, Any] | None = None
        self.reconnects = 0
        self.waits = 0  # replies the canvas said were waiting for the recorder
        self.held_for: str | None = None  # the id of the message the last `wait` was about
        self.lock = threading.RLock()

    # -- connection --------------------------------------------------------------------------------

    def connect(self, timeout: float = 5.0) -> dict[str, Any]:
        """One handshake attempt; returns the welcome body. Raises RemoteError or CanvasGone."""
        with self.lock:
            return self._connect(timeout)

    def _connect(self, timeout: float) -> dict[str, Any]:
        self._close_socket()
        self.sock = self.context.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if self.curve is not None:
            self.curve.apply(self.sock)
            self.watch = HandshakeWatch(self.sock, self.address, self.curve)
        self.sock.connect(self.address)
        self.last_heard = time.monotonic()
        body = {"agent": self.agent, "protocol": self.protocol, "model": self.model, "view": self.view}
        if self.lists is not None:
            body["lists"] = self.lists
        if self.curve is None:  # the key speaks for the name under CurveZMQ; on plaintext loopback, a proof
            body["proof"] = self.proof or os.environ.get(PROOF_ENV) or Keys.studio().hello_proof(self.agent)
        hello = Message("hello", body, self.agent)
        reply = self._request(hello, timeout)
        self.welcome = reply.body
        self.interval = float(reply.body["heartbeat_interval"])
        self.liveness = int(reply.body["liveness"])
        return reply.body

    def connect_with_backoff(self, deadline: float | None = None, should_stop=lambda: False) -> dict[str, Any]:
        """Handshake, retrying from RECONNECT_MIN doubling to RECONNECT_MAX; fatal refusals are raised."""
        delay = RECONNECT_MIN
        while True:
            try:
                return self.connect(timeout=max(self.interval * self.liveness, 1.0))
            except RemoteError as exc:
                if exc.code in FATAL_CODES:
                    raise
                log.info("canvas refused hello, retrying", extra={"fields": {"code": exc.code, "delay": delay}})
            except CanvasGone as exc:
                log.info("canvas not answering, retrying", extra={"fields": {"delay": delay, "reason": str(exc)}})
            if should_stop() or (deadline is not None and time.monotonic() + delay > deadline):
                raise CanvasGone(f"could not reach the canvas at {self.address}")
            time.sleep(delay)  # backoff between attempts, not a wait for a condition
            self.reconnects += 1
            delay = min(delay * 2, RECONNECT_MAX)

    def close(self, bye: bool = True, linger: float = 0.0) -> None:
        """Leave; `linger` seconds let what is still queued (a last `status`, the `bye`) reach the canvas
        before the context is terminated (the caller's to do; nothing waits here)."""
        with self.lock:
            self._close(bye, linger)

    def _close(self, bye: bool, linger: float = 0.0) -> None:
        if self.sock is not None and bye:
            try:
                self.sock.send(encode(Message("bye", {}, self.agent)), zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
        self._close_socket(linger)

    def _close_socket(self, linger: float = 0.0) -> None:
        if self.watch is not None:
            self.watch.close()
            self.watch = None
        if self.sock is not None:
            self.sock.close(int(linger * 1000))
            self.sock = None

    # -- traffic -----------------------------------------------------------------------------------

    def decide(self, text: str, timeout: float | None = None) -> dict[str, Any]:
        """Send one decision's op-code text; return the `result` body. With no reply (nor `wait`) within `timeout`
        (default: DECIDE_TIMEOUT_INTERVALS heartbeat intervals, at least DECIDE_TIMEOUT_MIN_S), or a refusal only
        a new hello helps, CanvasGone."""
        if timeout is None:
            timeout = max(self.interval * DECIDE_TIMEOUT_INTERVALS, DECIDE_TIMEOUT_MIN_S)
        with self.lock:
            try:
                msg = Message("ops", {"text": text}, self.agent)
                result = self._request(msg, timeout, held=True).body
                self._acknowledged(msg.id, result)
                return result
            except CanvasGone:
                self._close(bye=True)  # a connection that may still look live to the canvas frees the name
                raise
            except RemoteError as exc:
                if exc.code in RESYNC_CODES:
                    self._close(bye=True)  # frees the name at once for the new hello
                    raise CanvasGone(f"the canvas answered {exc.code}: {exc.reason}; resyncing") from None
                if exc.code == "rate_limited":
                    raise RateLimited(exc.reason, float(exc.retry_after or self.interval)) from None
                raise

    def _acknowledged(self, ops_id: str, result: dict[str, Any]) -> None:
        """Say that this decision's result came back, where AURORA_ACKS_DIR asks for it (module docstring)."""
        folder = os.environ.get(ACKS_ENV)
        if folder:
            made_events = bool(result["rejected"]) or any(text.split()[0] not in AGENT_LOCAL_OPS
                                                          for text in result["applied"] if text.split())
            line = {"id": ops_id, "seq": result["seq"], "events": made_events}
            with open(os.path.join(folder, f"{self.agent}.jsonl"), "a") as f:
                f.write(json.dumps(line) + "\n")

    def notify(self, msg_type: str, body: dict[str, Any]) -> None:
        """Send a message the canvas does not answer (`status`, `statement`); a refusal is logged."""
        with self.lock:
            assert self.sock is not None, "connect first"
            self._send(Message(msg_type, body, self.agent))

    def idle(self) -> None:
        """Keep the connection alive between decisions: answer nothing, but send and check heartbeats."""
        with self.lock:
            self._drain(0)
            self._heartbeat_if_due()

    @contextmanager
    def keepalive(self) -> Iterator[None]:
        """Heartbeat from a helper thread while the caller does long work without calling in."""
        done = threading.Event()
        gone: list[CanvasGone] = []

        def beat() -> None:
            while not done.wait(self.interval / 2):
                try:
                    self.idle()
                except CanvasGone as exc:
                    gone.append(exc)
                    return

        thread = threading.Thread(target=beat, name="keepalive", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
        if gone:
            raise gone[0]

    def _request(self, msg: Message, timeout: float | None, held: bool = False) -> Message:
        """Send `msg` and return its reply. With `held`, a `wait` for it lifts `timeout`: the canvas has the
        message and answers once the recorder has stored its effect, however long that takes."""
        assert self.sock is not None, "connect first"
        self._send(msg)
        give_up = time.monotonic() + timeout if timeout is not None else None
        while True:
            reply = self._drain(self.interval, parent=msg.id)
            if reply is not None:
                if reply.type == "error":
                    raise RemoteError(reply.body["code"], reply.body["reason"], reply.body.get("retry_after"))
                return reply
            if held and self.held_for == msg.id:
                give_up = None
            if self.watch is not None:
                self.watch.check()  # KeyRefused: the canvas will never answer this key
            self._heartbeat_if_due()
            now = time.monotonic()
            if give_up is not None and now >= give_up:
                raise CanvasGone(self._explain(f"no reply from the canvas at {self.address} within {timeout:.1f}s"))

    def _drain(self, wait: float, parent: str | None = None) -> Message | None:
        """Read what has arrived (waiting up to `wait` for the first frame); return the reply to `parent`."""
        assert self.sock is not None
        timeout_ms = int(wait * 1000)
        while self.sock.poll(timeout_ms, zmq.POLLIN):
            timeout_ms = 0
            frame = self.sock.recv()
            self.last_heard = time.monotonic()
            try:
                reply = decode(frame, limit=1 << 24, accept=REPLY_TYPES)
            except ProtocolError as exc:
                log.warning("bad frame from the canvas, dropped", extra={"fields": {"reason": exc.reason}})
                continue
            if reply.type == "error" and reply.body["code"] in ("not_registered", "unavailable"):
                # The canvas does not know this connection (it restarted, or ended our session), or it is
                # not serving yet: only a new handshake helps, whatever message the error answers.
                raise CanvasGone(f"the canvas at {self.address} no longer knows {self.agent!r} "
                                 f"({reply.body['code']}); reconnecting")
            if reply.type == "wait":  # the reply waits for the recorder; it will come (PROTOCOL.md 11)
                self.waits += 1
                self.held_for = reply.parent_id
                log.info("the canvas holds our reply until it is recorded",
                         extra={"fields": {"reason": reply.body["reason"]}})
                continue
            if parent is not None and reply.parent_id == parent:
                return reply
            if reply.type == "error":  # an error about a message we no longer wait for
                log.warning("canvas error", extra={"fields": dict(reply.body)})
        if time.monotonic() - self.last_heard > self.interval * self.liveness:
            raise CanvasGone(self._explain(f"nothing heard from the canvas at {self.address} for "
                                           f"{self.interval * self.liveness:.1f}s"))
        return None

    def _explain(self, message: str) -> str:
        return self.watch.explain(message) if self.watch is not None else message

    def _heartbeat_if_due(self) -> None:
        if self.sock is not None and time.monotonic() - self.last_sent >= self.interval:
            try:
                self._send(Message("heartbeat", {}, self.agent))
            except CanvasGone:
                pass  # a heartbeat that cannot go is no loss: nothing heard for long enough ends the connection

    def _send(self, msg: Message) -> None:
        """Send without ever blocking: a socket whose connection is gone for good (a CurveZMQ handshake refused)
        has nowhere to queue, and a blocking send would wait for ever."""
        assert self.sock is not None
        try:
            self.sock.send(encode(msg), zmq.NOBLOCK)
        except zmq.Again:
            if self.watch is not None:
                self.watch.check()  # KeyRefused, when that is why
            raise CanvasGone(self._explain(f"the connection to the canvas at {self.address} takes no more "
                                           "messages")) from None
        self.last_sent = time.monotonic()
