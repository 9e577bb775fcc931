"""Clients that log in as an agent's ACL user (on the real server of tests/conftest.py), and the bundled models."""

from __future__ import annotations

import uuid

import pytest
import redis

from services.agent.memory import agent_url, grant


@pytest.fixture
def connect_as(redis_server, admin):
    """connect_as(name) -> a new connection as the ACL user agent-<name>, granted once per test."""
    passwords, clients = {}, []

    def connect(name: str, decode: bool = True) -> redis.Redis:
        if name not in passwords:
            passwords[name] = grant(admin, name)
        client = redis.Redis.from_url(agent_url(redis_server.url, name, passwords[name]), decode_responses=decode)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


@pytest.fixture
def names():
    """Agent names unique to this test, so tests share one server without sharing banks."""
    tag = uuid.uuid4().hex[:8]
    return lambda base: f"{base}-{tag}"


@pytest.fixture(scope="session")
def model_paths(tmp_path_factory):
    """model_paths(name) -> the GGUF of a bundled model; Gemma is assembled once per session."""
    from services.agent.models import resolve

    data = tmp_path_factory.mktemp("models")
    return lambda name: resolve(name, data, progress=lambda s: None)
