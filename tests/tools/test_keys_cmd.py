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


def folder_files(folder) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


def test_setup_gives_each_client_a_folder_of_its_own_and_a_second_run_changes_nothing(keys, capsys, tmp_path):
    given = tmp_path / "given"
    code, out = aurora_keys(capsys, "setup", "--dir", str(given), "recorder", "smol")
    assert code == 0 and "made" in out.splitlines()[0] and out.count("authorized;") == 2
    assert stat.S_IMODE(keys.server_secret.stat().st_mode) == 0o600
    for name in ("recorder", "smol"):  # all it needs, nothing of the canvas's secret or of another client's
        assert {p.name for p in (given / name).iterdir()} == {"canvas.key", f"{name}.key", f"{name}.key_secret"}
        assert (given / name / "canvas.key").read_text() == keys.server_public.read_text()
        assert stat.S_IMODE((given / name / f"{name}.key_secret").stat().st_mode) == 0o600
        assert (keys.authorized / f"{name}.key").exists()
    before = {name: folder_files(given / name) for name in ("recorder", "smol")}
    server = keys.server_secret.read_text()
    code, out = aurora_keys(capsys, "setup", "--dir", str(given), "recorder", "smol", "gemma")  # one more
    assert code == 0 and "kept" in out.splitlines()[0] and out.count("already authorized") == 2
    assert keys.server_secret.read_text() == server
    assert {name: folder_files(given / name) for name in ("recorder", "smol")} == before
    assert sorted(p.stem for p in keys.authorized.glob("*.key")) == ["gemma", "recorder", "smol"]
    assert not keys.clients.exists()  # nothing of the clients' stays in DATA/keys but their public keys


def test_setup_renews_a_stale_canvas_key_and_refuses_a_name_held_by_another_key(keys, capsys, tmp_path):
    given = tmp_path / "given"
    aurora_keys(capsys, "setup", "--dir", str(given), "smol")
    secret = (given / "smol" / "smol.key_secret").read_text()
    for path in (keys.server_public, keys.server_secret):  # the studio's keys lost, the client's volume kept
        path.unlink()
    code, out = aurora_keys(capsys, "setup", "--dir", str(given), "smol")
    assert code == 0 and "made" in out.splitlines()[0]
    assert (given / "smol" / "canvas.key").read_text() == keys.server_public.read_text()  # the new canvas key
    assert (given / "smol" / "smol.key_secret").read_text() == secret
    for path in (given / "smol").iterdir():  # the client's volume lost: a new keypair, refused under the old name
        path.unlink()
    code, out = aurora_keys(capsys, "setup", "--dir", str(given), "smol")
    assert code == 1 and "holds another key" in out and "aurora keys revoke smol" in out
    code, out = aurora_keys(capsys, "setup", "--dir", str(given), "canvas")
    assert code == 1 and "cannot be called 'canvas'" in out
    with pytest.raises(SystemExit):  # --dir is required
        cli.main(["keys", "setup", "smol"])


def test_setup_run_as_root_gives_the_keys_to_the_owner_of_the_data_folder(keys, capsys, tmp_path, monkeypatch):
    given = tmp_path / "given"
    chowned = {}
    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setattr("os.chown", lambda path, uid, gid, follow_symlinks=True: chowned.setdefault(str(path),
                                                                                                    (uid, gid)))
    assert aurora_keys(capsys, "setup", "--dir", str(given), "smol")[0] == 0
    data = (tmp_path / "data").stat()
    written = [keys.root, keys.server_secret, keys.authorized / "smol.key", given / "smol",
               given / "smol" / "smol.key_secret", given / "smol" / "canvas.key"]
    assert all(chowned.get(str(p)) == (data.st_uid, data.st_gid) for p in written), chowned
