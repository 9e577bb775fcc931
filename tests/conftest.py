"""Fixtures for every test directory: one real valkey server per session (never a fake)."""

from __future__ import annotations

import pytest
import redis

from services.base.redis_server import EmbeddedRedis
from tests.support.processes import free_port


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = EmbeddedRedis(tmp_path_factory.mktemp("valkey"), free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def admin(redis_server):
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    client.close()
