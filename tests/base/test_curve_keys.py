"""CurveZMQ's pieces in-process: what is loopback, the clients' options, the key files, the ZAP provider."""

from __future__ import annotations

import argparse
import os
import stat
from collections import Counter

import pytest
import zmq

from services.base import curve
from services.base.curve import ClientCurve, CurveError, fingerprint, is_loopback, require
from services.base.keys import Keys
from services.canvas.zap import REFUSED, AuthorizedKeys, Security, Throttle


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    monkeypatch.delenv(curve.SERVER_KEY_ENV, raising=False)
    monkeypatch.delenv(curve.KEY_ENV, raising=False)
    monkeypatch.setenv("AURORA_DATA", str(tmp_path / "data"))


@pytest.fixture
def keys(tmp_path) -> Keys:
    return Keys(tmp_path / "data" / "keys")


@pytest.mark.parametrize("endpoint, loopback", [
    ("tcp://127.0.0.1:5555", True), ("tcp://127.3.2.1:*", True), ("tcp://[::1]:5555", True),
    ("tcp://localhost:5555", True), ("tcp://LOCALHOST:1", True), ("tcp://[::ffff:127.0.0.1]:5555", True),
    ("ipc:///tmp/aurora.sock", True), ("inproc://canvas", True), ("tcp://10.0.0.1:5555;127.0.0.1:5555", True),
    ("tcp://0.0.0.0:5555", False), ("tcp://*:5555", False), ("tcp://10.1.2.3:5555", False),
    ("tcp://[::]:5555", False), ("tcp://eth0:5555", False), ("tcp://studio.local:5555", False),
    ("tcp://127.0.0.1:5555;10.0.0.2:5555", False), ("ws://127.0.0.1:5555", False), ("garbage", False),
])
def test_loopback_is_127_8_and_1_and_localhost_and_local_transports_only(endpoint, loopback):
    assert is_loopback(endpoint) is loopback


def test_plaintext_is_refused_off_loopback_only():
    require("tcp://127.0.0.1:5555", None)
    with pytest.raises(CurveError, match="not a loopback address.*--curve-server-key.*aurora keys create"):
        require("tcp://10.0.0.1:5555", None)


def test_the_server_keypair_is_made_once_and_its_secret_is_0600(keys):
    with pytest.raises(CurveError, match="aurora keys server"):
        keys.server_key(create=False)
    public, secret = keys.server_key(create=True)
    assert keys.server_key(create=False) == (public, secret)  # made once, then read
    assert stat.S_IMODE(keys.server_secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.server_public.stat().st_mode) == 0o644
    assert zmq.auth.load_certificate(keys.server_public) == (public, None)  # zmq.auth's format
    assert [p.name for p in keys.root.iterdir() if p.name.startswith(".")] == []  # no scratch left


def test_a_client_keypair_is_authorized_by_default_and_never_overwritten(keys, tmp_path):
    public, secret = keys.create_client("ada")
    assert public.parent == keys.clients and stat.S_IMODE(secret.stat().st_mode) == 0o600
    found, bad = keys.authorized_keys()
    assert list(found) == ["ada"] and not bad
    assert found["ada"][0] == zmq.auth.load_certificate(public)[0]
    with pytest.raises(CurveError, match="never overwritten"):
        keys.create_client("ada")
    elsewhere, _ = keys.create_client("bob", tmp_path / "bobs-host", authorize=False)
    assert "bob" not in keys.authorized_keys()[0]
    with pytest.raises(CurveError, match="not a key name"):
        keys.create_client("../evil")
    target, new = keys.authorize(elsewhere)
    assert new and target == keys.authorized / "bob.key"
    assert keys.authorize(elsewhere) == (target, False)  # again: nothing changes


def test_authorize_keeps_only_the_public_key_and_refuses_a_name_held_by_another_key(keys, tmp_path):
    _, secret = keys.create_client("ada", tmp_path / "host", authorize=False)
    target, _ = keys.authorize(secret)  # someone sent the secret file by mistake: its secret is not copied
    assert "secret" not in target.read_text()
    _, other = keys.create_client("ada", tmp_path / "other-host", authorize=False)
    with pytest.raises(CurveError, match="holds another key.*revoke"):
        keys.authorize(other)
    assert keys.authorize(other, "ada-2")[1]
    keys.revoke("ada")
    assert list(keys.authorized_keys()[0]) == ["ada-2"]
    with pytest.raises(CurveError, match="no key is authorized"):
        keys.revoke("ada")


def test_unreadable_key_files_are_named(keys, tmp_path):
    keys.authorized.mkdir(parents=True)
    (keys.authorized / "junk.key").write_text("not a certificate\n")
    found, bad = keys.authorized_keys()
    assert not found and list(bad) == [keys.authorized / "junk.key"]
    with pytest.raises(CurveError, match="cannot read the key file"):
        ClientCurve.load(tmp_path / "missing.key", tmp_path / "missing.key_secret")
    keys.server_key(create=True)
    with pytest.raises(CurveError, match="holds no secret key"):
        ClientCurve.load(keys.server_public, keys.server_public)


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(curve_server_key=kw.get("server"), curve_key=kw.get("key"))


def test_client_options_come_from_flags_or_environment_and_problems_end_the_command(keys, monkeypatch):
    keys.server_key(create=True)
    _, secret = keys.create_client("ada")
    assert curve.client_from_args(_args(), "tcp://127.0.0.1:5555", prog="peek") is None  # loopback: plaintext
    with pytest.raises(SystemExit, match="aurora peek: tcp://10.0.0.1:5556 is not a loopback address"):
        curve.client_from_args(_args(), "tcp://127.0.0.1:5555", "tcp://10.0.0.1:5556", prog="peek")
    with pytest.raises(SystemExit, match="needs both keys"):
        curve.client_from_args(_args(key=str(secret)), "tcp://10.0.0.1:5555", prog="peek")
    loaded = curve.client_from_args(_args(server=str(keys.server_public), key=str(secret)), "tcp://10.0.0.1:5555",
                                    prog="peek")
    assert loaded.server_key == keys.server_key(create=False)[0] and loaded.fingerprint == fingerprint(loaded.public)
    monkeypatch.setenv(curve.SERVER_KEY_ENV, str(keys.server_public))
    monkeypatch.setenv(curve.KEY_ENV, str(secret))
    assert curve.client_from_args(_args(), "tcp://10.0.0.1:5555", prog="peek") == loaded


def test_fingerprints_are_short_and_stable():
    public, _ = zmq.curve_keypair()
    assert fingerprint(public) == fingerprint(public.decode()) and len(fingerprint(public)) == 19
    assert fingerprint(public) != fingerprint(zmq.curve_keypair()[0])


def test_the_zap_provider_reads_authorized_keys_again_when_the_folder_changes_and_counts_refusals(keys, tmp_path):
    counters: Counter = Counter({REFUSED: 0})
    now = [0.0]
    provider = AuthorizedKeys(keys, counters, Throttle(60.0, clock=lambda: now[0]))
    _, secret = keys.create_client("mallory", tmp_path / "host", authorize=False)
    key = zmq.auth.load_certificate(secret)[0]
    provider.peer = "10.0.0.2"
    assert not provider.callback("agents", key) and not provider.callback("agents", key)
    assert counters[REFUSED] == 2
    keys.authorize(secret)
    assert provider.callback("agents", key)  # no restart: the folder changed
    keys.revoke("mallory")
    assert not provider.callback("agents", key) and counters[REFUSED] == 3


def test_a_repeated_refusal_is_said_once_a_minute_with_the_count_kept_quiet():
    now = [0.0]
    throttle = Throttle(60.0, clock=lambda: now[0])
    assert throttle.due(("k",)) == 0
    assert throttle.due(("k",)) is None and throttle.due(("k",)) is None
    assert throttle.due(("other",)) == 0
    now[0] = 61.0
    assert throttle.due(("k",)) == 2


def test_the_canvas_refuses_to_bind_off_loopback_without_a_key_and_says_to_run_aurora_keys(keys):
    endpoints = {"agents": "tcp://0.0.0.0:5555", "events": "tcp://127.0.0.1:5556"}
    with pytest.raises(CurveError, match="agents socket binds tcp://0.0.0.0:5555.*aurora keys server"):
        Security(endpoints, force=False, keys=keys)
    assert Security({"events": "tcp://127.0.0.1:5556"}, force=False, keys=keys).curve == []  # plaintext is fine
    with pytest.raises(CurveError, match="--curve"):
        Security({"events": "tcp://127.0.0.1:5556"}, force=True, keys=keys)
    keys.server_key(create=True)
    assert Security(endpoints, force=False, keys=keys).curve == ["agents"]  # per socket: loopback stays plaintext
    assert Security(endpoints, force=True, keys=keys).curve == ["agents", "events"]


def test_a_supervisor_gets_the_environment_for_its_own_services_made_once(keys, monkeypatch):
    env = keys.local_client()
    assert env == keys.local_client()  # made once, then the same
    monkeypatch.setenv(curve.SERVER_KEY_ENV, env[curve.SERVER_KEY_ENV])
    monkeypatch.setenv(curve.KEY_ENV, env[curve.KEY_ENV])
    loaded = curve.client_from_args(_args(), "tcp://0.0.0.0:5555", prog="agent")
    assert loaded.public in {public for public, _ in keys.authorized_keys()[0].values()}


def test_keys_files_are_private_even_with_a_permissive_umask(keys):
    old = os.umask(0)
    try:
        _, secret = keys.create_client("ada")
    finally:
        os.umask(old)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
