"""`aurora grant`: the agents' and the gateway's Redis users with passwords from the environment (docker compose),
kept in place across a Redis restart by --keep; `--check` for the healthcheck; a fresh password by hand."""

from __future__ import annotations

import signal
import subprocess

import pytest
import redis

from services.base.redis_server import EmbeddedRedis, url_with_credentials
from services.cli import main
from services.tools.grant_cmd import READER_PASSWORD_ENV, password_env
from tests.support.processes import aurora, free_port, stop, wait_until


@pytest.fixture
def server(tmp_path):
    """A Redis of this test's own: the tests restart it, and reset the record's read-only user."""
    s = EmbeddedRedis(tmp_path / "redis", free_port()).start()
    yield s
    s.stop()


def logs_in(base_url: str, user: str, password: str) -> bool:
    client = redis.Redis.from_url(url_with_credentials(base_url, user, password), socket_timeout=2)
    try:
        return client.ping()
    except redis.RedisError:
        return False
    finally:
        client.close()


def test_users_get_the_environments_passwords_and_aurora_ups_rules(server, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", server.url)
    monkeypatch.setenv(password_env("ada-1"), "ada-secret")
    monkeypatch.setenv(READER_PASSWORD_ENV, "reader-secret")
    assert main(["grant", "--reader", "ada-1"]) == 0
    assert "agent-ada-1, record-reader granted" in capsys.readouterr().out
    ada = redis.Redis.from_url(url_with_credentials(server.url, "agent-ada-1", "ada-secret"))
    ada.set("agent:ada-1:budget", "{}")
    with pytest.raises(redis.exceptions.NoPermissionError):
        ada.set("aurora:recorder", "x")  # only its own bank
    reader = redis.Redis.from_url(url_with_credentials(server.url, "record-reader", "reader-secret"))
    assert reader.get("aurora:recorder") is None
    with pytest.raises(redis.exceptions.NoPermissionError):
        reader.set("aurora:recorder", "x")  # read-only
    with pytest.raises(redis.exceptions.NoPermissionError):
        reader.get("agent:ada-1:budget")  # and never a memory bank
    assert main(["grant", "--check", "--reader", "ada-1"]) == 0
    monkeypatch.setenv(password_env("ada-1"), "not-its-password")
    assert main(["grant", "--check", "--reader", "ada-1"]) == 1
    assert "cannot log in as agent-ada-1" in capsys.readouterr().out


def test_keep_makes_the_users_again_after_a_redis_restart(server):
    env = {"REDIS_URL": server.url, password_env("bo"): "bo-secret", READER_PASSWORD_ENV: "reader-secret"}
    keeper = aurora("grant", "--keep", "0.2", "--reader", "bo", env_extra=env, stdout=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: logs_in(server.url, "agent-bo", "bo-secret"), what="bo granted")
        server.stop()
        server.start()  # ACL users live in memory only: gone
        wait_until(lambda: logs_in(server.url, "agent-bo", "bo-secret")
                   and logs_in(server.url, "record-reader", "reader-secret"), timeout=10, what="granted again")
        admin = redis.Redis.from_url(server.url)
        admin.execute_command("ACL", "SETUSER", "agent-bo", "resetpass", ">changed")
        wait_until(lambda: logs_in(server.url, "agent-bo", "bo-secret"), timeout=10, what="its password restored")
        admin.close()
        keeper.send_signal(signal.SIGTERM)
        assert keeper.wait(10) == 0
        assert "agent-bo granted again" in keeper.stdout.read()
    finally:
        stop(keeper)


def test_by_hand_a_fresh_password_is_made_and_its_url_printed(server, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", server.url)
    monkeypatch.delenv(password_env("cy"), raising=False)
    assert main(["grant", "cy"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("agent-cy: "))
    url = line.removeprefix("agent-cy: ")
    assert redis.Redis.from_url(url).set("agent:cy:clock", "1")


@pytest.mark.parametrize("argv, why", [
    (["grant", "--keep", "1", "dee"], "--keep needs every password"),
    (["grant", "a-b", "a_b"], "would share the variable"),
    (["grant", "Bad Name"], "must be 1-32"),
    (["grant"], "name at least one agent"),
])
def test_refused(server, monkeypatch, capsys, argv, why):
    monkeypatch.setenv("REDIS_URL", server.url)
    monkeypatch.delenv(password_env("dee"), raising=False)
    assert main(argv) == 2
    assert why in capsys.readouterr().err
