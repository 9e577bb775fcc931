"""Fixtures for every test directory: one real valkey server per session (never a fake)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from services.base.redis_server import EmbeddedRedis
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def studio_data(tmp_path_factory):
    """The session's own data folder (AURORA_DATA) for every test and the processes it starts: the keys and the
    hello secret a studio makes on its first start go there, never into the checkout's ./data. The models are the
    checkout's (a link), so nothing is assembled twice."""
    data = tmp_path_factory.mktemp("data")
    models = ROOT / "data" / "models"
    if models.is_dir():
        (data / "models").symlink_to(models.resolve())
    patch = pytest.MonkeyPatch()
    patch.setenv("AURORA_DATA", str(data))
    yield data
    patch.undo()


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


@pytest.fixture
def record_url(redis_server) -> str:
    """Database 1 of the session's server: the record's keys, kept apart from the agents' banks in database 0."""
    return redis_server.url.rsplit("/", 1)[0] + "/1"


@pytest.fixture
def record_db(record_url):
    """A client (bytes) to the record's database, emptied before and after the test."""
    client = redis.Redis.from_url(record_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()
