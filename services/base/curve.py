"""CurveZMQ between hosts (PROTOCOL.md section 13): what is loopback, the clients' keys and options, and what a
client learns of its handshakes.

A canvas socket bound to loopback may stay plaintext; one bound to any other address is a CURVE server whose
ZAP handler lets in only the keys it knows (services/canvas/zap.py). A client given keys (`--curve-server-key`
and `--curve-key`, or AURORA_CURVE_SERVER_KEY and AURORA_CURVE_KEY) talks CURVE; one given none refuses to
connect to a non-loopback address, rather than wait forever on a canvas that will never answer plaintext.
The key files are zmq.auth certificates; the studio's own are laid out in services/base/keys.py.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
from dataclasses import dataclass

import zmq
import zmq.auth
from zmq.utils import z85
from zmq.utils.monitor import parse_monitor_message

from proto.errors import RemoteError
from services.base.log import event

log = logging.getLogger("aurora.curve")

SERVER_KEY_ENV = "AURORA_CURVE_SERVER_KEY"
KEY_ENV = "AURORA_CURVE_KEY"
LOCAL_TRANSPORTS = ("ipc", "inproc")
LOOPBACK_NAMES = ("localhost", "ip6-localhost", "ip6-loopback")
HANDSHAKE_EVENTS = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
                    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
HOW_TO = ("give --curve-server-key FILE (the canvas's public key, its canvas.key: `aurora keys server` prints "
          "where it is) and --curve-key FILE (this client's NAME.key_secret: `aurora keys create NAME`), or set "
          f"{SERVER_KEY_ENV} and {KEY_ENV}")


class CurveError(Exception):
    """A key that is missing or unreadable, or plaintext where only CURVE is taken. The message says what to do."""


class KeyRefused(RemoteError):
    """The canvas's ZAP handler refused this client's key: it is not authorized there. Retrying will not help."""

    def __init__(self, reason: str):
        super().__init__("key_refused", reason)


def is_loopback(endpoint: str) -> bool:
    """Whether a ZeroMQ endpoint stays on this host: ipc://, inproc://, or tcp:// on 127.0.0.0/8, ::1 or
    localhost. Anything else (0.0.0.0, *, an interface name, a LAN address, a host name) is not."""
    transport, _, rest = endpoint.partition("://")
    if transport in LOCAL_TRANSPORTS:
        return True
    if transport != "tcp":
        return False
    host = rest.rsplit(";", 1)[-1].rpartition(":")[0]  # a connect's "source;destination": the destination
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def fingerprint(public_key: bytes | str) -> str:
    """A short name for a public key (z85) in logs and listings: the first 64 bits of its SHA-256."""
    key = public_key.encode() if isinstance(public_key, str) else public_key
    digest = hashlib.sha256(z85.decode(key)).hexdigest()[:16]
    return ":".join(digest[i:i + 4] for i in range(0, 16, 4))


def load_key(path: str | os.PathLike, *, secret: bool) -> tuple[bytes, bytes | None]:
    """(public, secret) from a zmq.auth certificate file; with `secret`, a secret key must be in it."""
    try:
        public, secret_key = zmq.auth.load_certificate(path)
        if len(public) != 40 or (secret_key is not None and len(secret_key) != 40):
            raise ValueError("a key is not 40 characters of z85")
        z85.decode(public)
    except (OSError, ValueError) as exc:
        raise CurveError(f"cannot read the key file {path}: {exc}") from None
    if secret and secret_key is None:
        raise CurveError(f"{path} holds no secret key: give the NAME.key_secret file made by `aurora keys create`")
    return public, secret_key


@dataclass(frozen=True)
class ClientCurve:
    """A client's CURVE settings: the canvas's public key and this client's keypair (all z85)."""

    server_key: bytes
    public: bytes
    secret: bytes
    key_file: str = ""

    @classmethod
    def load(cls, server_key_file: str | os.PathLike, key_file: str | os.PathLike) -> "ClientCurve":
        server, _ = load_key(server_key_file, secret=False)
        public, secret = load_key(key_file, secret=True)
        return cls(server, public, secret, str(key_file))

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    def apply(self, sock: zmq.Socket) -> None:
        """Make `sock` a CURVE client of the canvas (before it connects)."""
        sock.curve_serverkey = self.server_key
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret

    def refused(self, endpoint: str) -> str:
        public = self.key_file[:-len("_secret")] if self.key_file.endswith("_secret") else "its public key"
        return (f"the canvas at {endpoint} refused this client's key {self.fingerprint}: it is not authorized "
                f"there. Send {public} to the canvas's operator, who runs `aurora keys authorize FILE`")


def require(endpoint: str, curve: ClientCurve | None) -> None:
    """Refuse plaintext to a non-loopback address: the canvas takes only CURVE there."""
    if curve is None and not is_loopback(endpoint):
        raise CurveError(f"{endpoint} is not a loopback address, and between hosts the canvas takes only "
                         f"CurveZMQ: {HOW_TO}")


# -- the command line ----------------------------------------------------------------------------------------

def add_client_arguments(parser) -> None:
    """--curve-server-key/--curve-key: every service that connects to the canvas takes them."""
    parser.add_argument("--curve-server-key", default=None, metavar="FILE",
                        help=f"the canvas's public key file, canvas.key (env {SERVER_KEY_ENV}); with --curve-key, "
                             "talk CurveZMQ (required for a canvas that is not on loopback)")
    parser.add_argument("--curve-key", default=None, metavar="FILE",
                        help=f"this client's secret key file, NAME.key_secret from `aurora keys create NAME` "
                             f"(env {KEY_ENV})")


def add_server_arguments(parser) -> None:
    """--curve: the canvas takes CurveZMQ on loopback too (any other bind always takes only CurveZMQ)."""
    parser.add_argument("--curve", action="store_true",
                        help="CurveZMQ on every socket, loopback too; a socket bound to any other address takes only "
                             "CurveZMQ anyway. Keys: DATA/keys (`aurora keys`)")


def client_from_args(args, *endpoints: str, prog: str, default: dict[str, str] | None = None) -> ClientCurve | None:
    """The CURVE settings the options (or the environment, or else `default`: key files by variable name) give,
    checked against `endpoints`; a problem ends the command with a message that says what to do."""
    given = (args.curve_server_key or os.environ.get(SERVER_KEY_ENV), args.curve_key or os.environ.get(KEY_ENV))
    if not any(given) and default:
        given = (default.get(SERVER_KEY_ENV), default.get(KEY_ENV))
    server_file, key_file = given
    try:
        curve = None
        if server_file or key_file:
            if not (server_file and key_file):
                raise CurveError(f"CurveZMQ needs both keys: {HOW_TO}")
            curve = ClientCurve.load(server_file, key_file)
        for endpoint in endpoints:
            require(endpoint, curve)
        return curve
    except CurveError as exc:
        raise SystemExit(f"aurora {prog}: {exc}") from None


# -- a client's handshakes -----------------------------------------------------------------------------------

def dropping_send(sock: zmq.Socket):
    """`sock.send` that never blocks, for a service's DEALER: once the canvas has refused its key the socket has
    no connection to queue on, and a plain send would wait for ever (its HandshakeWatch stops the service)."""
    def send(frame: bytes) -> None:
        try:
            sock.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            log.debug("a frame to the canvas dropped: no connection takes it")
    return send


class HandshakeWatch:
    """What a CURVE client socket's monitor says of its handshakes. `check()` raises KeyRefused when the canvas's
    ZAP handler refused the key; a handshake that failed otherwise (the wrong server key, a plaintext socket) is
    kept in `problem`, for the message of a timeout: it may be a restart, so it is retried."""

    def __init__(self, sock: zmq.Socket, endpoint: str, curve: ClientCurve):
        self.sock, self.endpoint, self.curve = sock, endpoint, curve
        self.monitor = sock.get_monitor_socket(HANDSHAKE_EVENTS)
        self.problem: str | None = None
        self.refused: KeyRefused | None = None

    def check(self) -> None:
        while self.monitor.poll(0):
            self.on_frames(self.monitor.recv_multipart())

    def on_frames(self, frames: list[bytes]) -> None:
        kind = parse_monitor_message(frames)["event"]
        if kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            raise KeyRefused(self.curve.refused(self.endpoint))
        if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.problem = None
        else:
            self.problem = ("the CurveZMQ handshake failed: is --curve-server-key the canvas's canvas.key, and "
                            "does the canvas take CurveZMQ on this socket?")

    def serve(self, loop, who: str) -> None:
        """Have a service's loop (services/base/loop.py) read the monitor. A refused key is logged, kept in
        `refused`, and stops the loop: the service would never be let in."""
        def handle(frames: list[bytes]) -> None:
            try:
                self.on_frames(frames)
            except KeyRefused as exc:
                event(log, logging.ERROR, f"the canvas refused this {who}'s key", reason=exc.reason)
                self.refused = exc
                loop.stop()

        loop.sockets.append(self.monitor)
        loop.on_frames(self.monitor, handle)

    def explain(self, message: str) -> str:
        return f"{message} ({self.problem})" if self.problem else message

    def close(self) -> None:
        try:
            self.sock.disable_monitor()
        except zmq.ZMQError:  # the socket is closed already
            pass
        self.monitor.close(0)
