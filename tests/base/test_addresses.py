"""Where the canvas's sockets are: option, then environment, then the config file, then the default."""

from __future__ import annotations

import pytest

from services import cli
from services.base.addresses import DEFAULTS, CanvasAddresses, ConfigError


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    for var, _ in DEFAULTS.values():
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("AURORA_CONFIG", raising=False)
    monkeypatch.setenv("AURORA_DATA", str(tmp_path / "data"))


def test_option_then_environment_then_config_file_then_default(monkeypatch, tmp_path):
    config = tmp_path / "studio.toml"
    config.write_text('[addresses]\nagents = "tcp://10.0.0.1:6000"\nevents = "tcp://10.0.0.1:6001"\n'
                      'snapshots = "tcp://10.0.0.1:6002"\n')
    monkeypatch.setenv("AURORA_CONFIG", str(config))
    monkeypatch.setenv("AURORA_EVENTS_ADDR", "tcp://10.9.9.9:7001")
    addrs = CanvasAddresses.from_env(snapshots="tcp://10.8.8.8:8002")
    assert addrs.snapshots == "tcp://10.8.8.8:8002"   # the option
    assert addrs.events == "tcp://10.9.9.9:7001"      # the environment
    assert addrs.agents == "tcp://10.0.0.1:6000"      # the config file
    assert addrs.record == DEFAULTS["record"][1]      # the default


def test_the_data_folder_may_hold_the_config_file(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "aurora.toml").write_text('[addresses]\nrecord = "tcp://0.0.0.0:6100"\n')
    assert CanvasAddresses.from_env().record == "tcp://0.0.0.0:6100"


@pytest.mark.parametrize("text, says", [
    ("[addresses\n", "aurora.toml"),
    ('[addresses]\nagentz = "tcp://x:1"\n', "unknown: agentz"),
    ("[addresses]\nagents = 5555\n", "as strings"),
])
def test_a_bad_config_file_is_named_with_what_is_wrong(tmp_path, text, says):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "aurora.toml").write_text(text)
    with pytest.raises(ConfigError, match=says):
        CanvasAddresses.from_env()


def test_a_command_with_a_bad_config_says_so_and_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("AURORA_CONFIG", str(tmp_path / "missing.toml"))
    assert cli.main(["peek", "--timeout", "0.1"]) == 2
    assert "AURORA_CONFIG names" in capsys.readouterr().err
