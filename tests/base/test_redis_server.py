"""The embedded Redis-protocol server: real, password-protected, and its data survives a restart."""

from __future__ import annotations

import pytest
import redis

from services.base.redis_server import EmbeddedRedis
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
