"""Where an agent's memory bank lives (services/agent/main.py memory_url): the studio's Redis when it is given
one, else a real Redis of its own under the data folder, which keeps the bank across restarts."""

from __future__ import annotations

import argparse

import pytest
import redis

from services.agent.main import memory_url
from services.agent.memory import MemoryBank
from services.base.redis_server import RedisUnavailable


def args(url=None) -> argparse.Namespace:
    return argparse.Namespace(memory_url=url)


def test_a_given_url_is_used_as_it_is_and_nothing_is_started(tmp_path, monkeypatch):
    monkeypatch.setenv("AURORA_DATA", str(tmp_path))
    monkeypatch.setenv("AURORA_MEMORY_URL", "redis://env:pw@127.0.0.1:1/0")
    with memory_url(args("redis://ada:pw@127.0.0.1:2/0"), "ada") as url:
        assert url == "redis://ada:pw@127.0.0.1:2/0"
    with memory_url(args(), "ada") as url:
        assert url == "redis://env:pw@127.0.0.1:1/0"
    assert not (tmp_path / "banks").exists()


def test_with_no_redis_given_the_agent_runs_its_own_and_remembers_across_restarts(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AURORA_DATA", str(tmp_path))
    monkeypatch.delenv("AURORA_MEMORY_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    with memory_url(args(), "ada") as url:
        client = redis.Redis.from_url(url)
        MemoryBank(client, "ada").remember("the red corner", at=1.0)
        client.close()
    assert "memory bank in" in capsys.readouterr().out
    assert (tmp_path / "banks" / "ada" / "admin.pass").exists()
    with pytest.raises(redis.exceptions.ConnectionError):  # stopped with the agent
        redis.Redis.from_url(url, socket_connect_timeout=0.5, retry=None).ping()
    with memory_url(args(), "ada") as again:
        client = redis.Redis.from_url(again)
        assert "the red corner" in MemoryBank(client, "ada").render(2000)
        client.close()


def test_a_second_process_of_the_same_agent_is_refused_its_bank(tmp_path, monkeypatch):
    monkeypatch.setenv("AURORA_DATA", str(tmp_path))
    monkeypatch.delenv("AURORA_MEMORY_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    with memory_url(args(), "ada"):
        with pytest.raises(RedisUnavailable, match="already runs on this host"):
            with memory_url(args(), "ada"):
                pass
        with memory_url(args(), "bo") as other:  # another agent's bank is its own
            assert redis.Redis.from_url(other).ping()
