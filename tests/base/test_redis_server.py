"""The embedded Redis-protocol server: real, password-protected, and its data survives a restart."""

from __future__ import annotations

import subprocess
import time

import pytest
import redis

from services.base.redis_server import EmbeddedRedis, RedisUnavailable, record_redis
from tests.support.processes import free_port


def test_the_embedded_server_refuses_strangers_and_keeps_its_data_across_a_restart(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", free_port()).start()
    try:
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=server.port).ping()  # no password: the default user is closed
        redis.Redis.from_url(server.url).set("kept", "yes")
    finally:
        server.stop()
    again = EmbeddedRedis(tmp_path / "redis", free_port()).start()
    try:
        assert again.password == server.password  # the same studio, the same admin password
        assert redis.Redis.from_url(again.url).get("kept") == b"yes"
        assert (tmp_path / "redis" / "admin.pass").stat().st_mode & 0o077 == 0
    finally:
        again.stop()


def test_record_redis_uses_the_running_server_and_leaves_it_running(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", free_port()).start()
    try:
        redis.Redis.from_url(server.url).set("kept", "yes")
        with record_redis(tmp_path / "redis", server.port) as url:
            assert url == server.url and redis.Redis.from_url(url).get("kept") == b"yes"
        assert server.proc.poll() is None and redis.Redis.from_url(server.url).ping()
    finally:
        server.stop()


def test_record_redis_starts_a_stopped_studio_s_server_for_the_block_only(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", free_port()).start()
    redis.Redis.from_url(server.url).set("kept", "yes")
    server.stop()
    port = free_port()
    with record_redis(tmp_path / "redis", port) as url:
        assert redis.Redis.from_url(url).get("kept") == b"yes"
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis.from_url(url, retry=None).ping()


def test_record_redis_wants_a_studio_s_data_and_its_password(tmp_path):
    with pytest.raises(RedisUnavailable, match="no Redis data"):
        with record_redis(tmp_path / "nothing", free_port()):
            pass
    assert not (tmp_path / "nothing").exists()
    other = EmbeddedRedis(tmp_path / "other", free_port()).start()
    try:
        EmbeddedRedis(tmp_path / "mine", free_port())  # makes a folder with another admin password
        with pytest.raises(RedisUnavailable, match="refuses this studio's admin password"):
            with record_redis(tmp_path / "mine", other.port):
                pass
    finally:
        other.stop()


@pytest.mark.timeout(120)
def test_every_answered_write_is_in_the_append_only_file_even_on_a_busy_disk(tmp_path):
    """The recorder confirms a batch once Redis answers its write, and the canvas then shows it applied: the
    write must be in the append-only file by then, or a SIGKILL of the server takes it back. Under `everysec`
    valkey postpones the file write while a background fsync runs (a busy disk), and answers anyway: this test
    found hundreds of such writes in 15 s. A disk kept busy by a writer that syncs every block makes the fsyncs
    slow (at most 256 MB of it: where syncing costs nothing, a tmpfs, it ends early and nothing is slow)."""
    server = EmbeddedRedis(tmp_path / "redis", free_port()).start()
    busy = subprocess.Popen(["dd", "if=/dev/zero", f"of={tmp_path / 'busy'}", "bs=64k", "count=4000",
                             "oflag=dsync"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis.from_url(server.url)
    try:
        (incr,) = (tmp_path / "redis" / "appendonlydir").glob("*.incr.aof")
        writes, ahead = 0, 0
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            before = incr.stat().st_size
            client.set("key", "x" * 100)
            writes += 1
            ahead += incr.stat().st_size == before  # answered, and not yet in the file
        assert writes > 100 and ahead == 0, f"{ahead} of {writes} answered writes were not yet in the file"
    finally:
        busy.kill()
        busy.wait()
        client.close()
        server.stop()
