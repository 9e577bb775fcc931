"""The canvas's side of CurveZMQ (PROTOCOL.md section 13): which sockets are CURVE servers, and the ZAP handler
that lets in only the keys in DATA/keys/authorized/, logging and counting every key it refuses.

A socket bound to loopback stays plaintext unless the canvas runs with `--curve`; a socket bound anywhere else
is a CURVE server, and the canvas will not start without its key (no plaintext fallback). The record socket is a
CURVE server wherever it binds: it takes only the recorder's key (on one host the canvas's keypair is made at its
first start, and the recorder's by whichever of the two comes first). Every CURVE socket has its name as ZAP
domain: the handler lets a key join only the sockets its name may join (`may_join`), and a refusal says which
socket refused. The ZAP handler (pyzmq's ThreadAuthenticator) is
a thread in the canvas's process and context, started before any socket binds: libzmq lets every CURVE client
in when no handler answers. Handshakes that fail before ZAP (a plaintext client, the wrong canvas key) are seen
on each socket's monitor and logged as well.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from pathlib import Path

import zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import parse_monitor_message

from services.base.curve import CurveError, fingerprint, is_loopback
from services.base.keys import RECORDER, STUDIO, Keys
from services.base.log import event
from services.base.loop import ServiceLoop

log = logging.getLogger("aurora.canvas.zap")

LOG_EVERY = 60.0  # seconds: the same refusal again and again is logged once a minute, and counted every time
REFUSED, FAILED = "keys_refused", "curve_handshakes_failed"
PROTOCOL_ERRORS = {getattr(zmq, n): n[len("PROTOCOL_ERROR_"):] for n in dir(zmq) if n.startswith("PROTOCOL_ERROR_")}


def may_join(domain: str, name: str) -> bool:
    """Whether an authorized key named `name` may join socket `domain`: the record socket only the recorder's, and
    the recorder's no other (PROTOCOL.md section 13)."""
    return (name == RECORDER) == (domain == "record")


class Throttle:
    """Whether to log a repeated event now, and how many of it went unlogged since."""

    def __init__(self, every: float = LOG_EVERY, clock=time.monotonic, keep: int = 1024):
        self.every, self.clock, self.keep = every, clock, keep
        self.last: dict[tuple, float] = {}
        self.quiet: Counter[tuple] = Counter()

    def due(self, key: tuple) -> int | None:
        """None: stay quiet; else the number of times it was kept quiet before this one."""
        now = self.clock()
        if now - self.last.get(key, -self.every) < self.every:
            self.quiet[key] += 1
            return None
        if len(self.last) >= self.keep:  # a flood of distinct keys must not grow this without bound
            self.last.clear()
        self.last[key] = now
        return self.quiet.pop(key, 0)


class AuthorizedKeys:
    """ZAP's credentials provider: the public keys in `folder`, read again whenever the folder changes (a key
    authorized or revoked takes effect at the next handshake, without a restart)."""

    def __init__(self, keys: Keys, counters: Counter, throttle: Throttle | None = None):
        self.keys, self.counters = keys, counters
        self.throttle = throttle or Throttle()
        self.peer = ""  # the address of the peer whose handshake is being checked (set by Guard)
        self.granted: str | None = None  # the name of the key let in by the request being answered
        self.stamp: tuple | None = None
        self.known: dict[bytes, str] = {}

    def current(self) -> dict[bytes, str]:
        stamp = _stamp(self.keys.authorized)
        if stamp != self.stamp:
            found, bad = self.keys.authorized_keys()
            for path, why in bad.items():
                event(log, logging.WARNING, "an authorized key file cannot be read; ignored", file=str(path),
                      reason=why)
            self.known = {public: name for name, (public, _) in found.items()}
            self.stamp = stamp
        return self.known

    def callback(self, domain: str, key: bytes) -> bool:
        name = self.current().get(key)
        self.granted = name if name is not None and may_join(domain, name) else None
        if self.granted is not None:
            event(log, logging.INFO, "let a client in", socket=domain, name=name, peer=self.peer)
            return True
        self.counters[REFUSED] += 1  # the key was seeded: no new key is ever added from this thread
        quiet = self.throttle.due((key, self.peer, domain))
        if quiet is None:
            return False
        said = dict(socket=domain, fingerprint=fingerprint(key), key=key.decode("ascii", "replace"), peer=self.peer,
                    refused_since_last_said=quiet, refused_total=self.counters[REFUSED])
        if name is None:
            event(log, logging.WARNING, "refused a client whose key is not authorized", **said,
                  to_let_it_in="aurora keys authorize FILE (its NAME.key)")
        else:
            event(log, logging.WARNING, "refused a key on a socket it may not join", **said, name=name,
                  who_may=f"the record socket takes only the key authorized as {RECORDER!r}, which joins no other")
        return False


def _stamp(folder: Path) -> tuple:
    """What changes when a key file in `folder` is added, removed or replaced (a handshake's worth of stat calls)."""
    try:
        return tuple(sorted((e.name, e.stat().st_mtime_ns, e.inode()) for e in os.scandir(folder)
                            if e.name.endswith(".key")))
    except OSError:
        return ()


class Guard(ThreadAuthenticator):
    """pyzmq's ZAP thread, telling the credentials provider which peer each request is about."""

    def __init__(self, context: zmq.Context, provider: AuthorizedKeys):
        super().__init__(context, log=logging.getLogger("aurora.canvas.zap.thread"))
        self.provider = provider

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        self.provider.peer = msg[3].decode("utf-8", "replace") if len(msg) > 3 else ""
        await super().handle_zap_message(msg)

    def curve_user_id(self, client_public_key: bytes) -> str:
        """The User-Id of a connection let in: the name its key is authorized under, which the canvas reads from
        each message and lets a hello name only that agent; none ("") for the studio's own key (keys.STUDIO),
        which speaks for every agent of the canvas's host."""
        # Asked right after the callback let this key in, on the same thread: the name it found, not the folder
        # read again (a key revoked in between must not come out as no name, which speaks for any agent).
        name, self.provider.granted = self.provider.granted, None
        if name is None:
            raise RuntimeError("a User-Id asked for a key the callback did not let in")
        return "" if name == STUDIO else name


class Security:
    """Decides, for each of the canvas's sockets, plaintext or CURVE server; refuses to start when a socket that
    must be CURVE has no key. `start(loop)` before the sockets bind, `close()` after the loop has stopped."""

    def __init__(self, endpoints: dict[str, str], *, force: bool, keys: Keys):
        self.endpoints, self.keys = endpoints, keys
        self.curve = [name for name, endpoint in endpoints.items()
                      if force or name == "record" or not is_loopback(endpoint)]
        self.server: tuple[bytes, bytes] | None = None
        self.guard: Guard | None = None
        self.throttle = Throttle()
        off = [n for n in self.curve if not is_loopback(endpoints[n])]
        if not self.curve:  # all plaintext (a canvas given no record socket): no key is needed or made
            return
        if not (force or off):  # only the record socket, on this host: the studio makes its own keys
            self.server = keys.server_key_made()
            return
        why = ("the canvas runs with --curve" if force else
               "; ".join(f"the {n} socket binds {endpoints[n]}, which is not loopback" for n in off))
        try:
            self.server = keys.server_key(create=False)
        except CurveError as exc:
            raise CurveError(f"{why}: there the canvas takes only CurveZMQ, and {exc} (or bind 127.0.0.1 "
                             "to keep a studio on this machine plaintext)") from None

    def start(self, loop: ServiceLoop) -> None:
        if not self.curve:
            return
        for name in (REFUSED, FAILED):
            loop.counters[name] += 0  # the ZAP thread only ever updates keys that exist
        provider = AuthorizedKeys(self.keys, loop.counters)
        if self.curve != ["record"] and not provider.current():
            event(log, logging.WARNING, "no client key is authorized: every CurveZMQ client will be refused "
                  "(`aurora keys create NAME`, `aurora keys authorize FILE`)", folder=str(self.keys.authorized))
        self.guard = Guard(loop.context, provider)
        self.guard.start()
        for name in self.curve:
            self.guard.configure_curve_callback(name, provider)

    def secure(self, name: str, sock: zmq.Socket, loop: ServiceLoop) -> None:
        """Make `sock` (the canvas's `name` socket, not yet bound) a CURVE server if it must be one."""
        if name not in self.curve:
            return
        assert self.server is not None and self.guard is not None, "start() first"
        sock.curve_server = True
        sock.curve_publickey, sock.curve_secretkey = self.server
        sock.zap_domain = name.encode()
        monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        loop.sockets.append(monitor)
        loop.on_frames(monitor, lambda frames: self._failed(name, frames, loop.counters))

    def _failed(self, name: str, frames: list[bytes], counters: Counter) -> None:
        info = parse_monitor_message(frames)
        counters[FAILED] += 1
        quiet = self.throttle.due((name,))
        if quiet is not None:
            if info["event"] == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
                code = int(info["value"])
                reason = PROTOCOL_ERRORS.get(code, f"{code:#x}").lower() + " (a plaintext client, or the wrong key)"
            else:
                reason = "no detail: a plaintext client, the wrong canvas key, or a peer gone mid-handshake"
            event(log, logging.WARNING, "a peer failed the CurveZMQ handshake", socket=name,
                  endpoint=self.endpoints[name], reason=reason, failed_since_last_said=quiet,
                  failed_total=counters[FAILED])

    def close(self) -> None:
        if self.guard is not None:
            self.guard.stop()
            self.guard = None
