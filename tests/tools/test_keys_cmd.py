"""`aurora keys`: server, create, authorize, revoke, list, as a user runs them."""

from __future__ import annotations

import stat

import pytest

from services import cli
from services.base.keys import Keys


@pytest.fixture
def keys(monkeypatch, tmp_path) -> Keys:
    monkeypatch.setenv("AURORA_DATA", str(tmp_path / "data"))
    return Keys(tmp_path / "data" / "keys")


def aurora_keys(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(["keys", *argv])
    return code, capsys.readouterr().out


def test_list_says_what_is_missing_then_what_is_there(keys, capsys, tmp_path):
    code, out = aurora_keys(capsys, "list")
    assert code == 0 and "canvas (server)  MISSING: `aurora keys server`" in out and "none: every CurveZMQ" in out
    code, out = aurora_keys(capsys, "server")
    assert code == 0 and "made the canvas's keypair" in out and str(keys.server_public) in out
    assert stat.S_IMODE(keys.server_secret.stat().st_mode) == 0o600
    code, again = aurora_keys(capsys, "server")
    assert "made" not in again and again.split("\n")[0] in out  # the same key, printed again
    assert aurora_keys(capsys, "create", "ada")[0] == 0
    assert aurora_keys(capsys, "create", "bob", "--no-authorize")[0] == 0
    code, out = aurora_keys(capsys, "create", "carl", "--dir", str(tmp_path / "carls-host"), "--no-authorize")
    assert "send" in out and "aurora keys authorize" in out
    code, out = aurora_keys(capsys, "list")
    assert code == 0
    assert "authorized (1):" in out and "  ada " in out
    assert "bob" in out and "NOT authorized (`aurora keys authorize" in out
    assert "carl" not in out  # made elsewhere, its public key not yet sent
    code, out = aurora_keys(capsys, "authorize", str(tmp_path / "carls-host" / "carl.key"))
    assert code == 0 and out.startswith("authorized: carl")
    code, out = aurora_keys(capsys, "list")
    assert "authorized (2):" in out and "carl" in out


def test_mistakes_are_said_and_nothing_is_overwritten(keys, capsys, tmp_path):
    aurora_keys(capsys, "create", "ada")
    secret = (keys.clients / "ada.key_secret").read_text()
    code, out = aurora_keys(capsys, "create", "ada")
    assert code == 1 and "never overwritten" in out
    code, out = aurora_keys(capsys, "create", "ada", "--exist-ok")  # a setup run at every start
    assert code == 0 and out.startswith("kept ada's keypair")
    assert (keys.clients / "ada.key_secret").read_text() == secret
    code, out = aurora_keys(capsys, "authorize", str(tmp_path / "nowhere.key"))
    assert code == 1 and "cannot read the key file" in out
    code, out = aurora_keys(capsys, "revoke", "nobody")
    assert code == 1 and "no key is authorized under the name 'nobody'" in out
    code, out = aurora_keys(capsys, "revoke", "ada")
    assert code == 0 and "revoked ada" in out and not (keys.authorized / "ada.key").exists()
    (keys.clients / "ada.key_secret").chmod(0o644)
    code, out = aurora_keys(capsys, "list")
    assert "WARNING" in out and "chmod 600" in out
    assert cli.main(["keys"]) == 2  # no action: its help
