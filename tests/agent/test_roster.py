"""The roster: defaults merged per agent, clear errors, and a roster made from a folder of GGUF files."""

from __future__ import annotations

import pytest

from proto.names import name_problem
from services.agent import discovery
from services.agent import roster as rosters
from tests.support.model_layouts import header_only


def test_the_bundled_roster_runs_one_agent_per_bundled_model():
    specs = rosters.load()
    assert [s.model for s in specs] == ["smollm2-135m", "gemma3-270m"]
    assert all(s.threads == 1 and s.budget["tokens_per_hour"] > 0 and s.view["coords"] for s in specs)


def test_per_agent_settings_override_the_defaults(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('[defaults]\nthreads = 1\n[defaults.sampling]\ntemperature = 0.5\ntop_k = 10\n'
                    '[[agent]]\nname = "a"\nmodel = "m.gguf"\nthreads = 2\n[agent.sampling]\ntemperature = 1.2\n')
    (spec,) = rosters.load(path)
    assert spec.threads == 2 and spec.sampling == {"temperature": 1.2, "top_k": 10} and spec.grow is True


def test_a_served_model_is_named_with_its_server_and_the_variable_holding_its_key(tmp_path, monkeypatch):
    from services.agent.server_backend import api_key

    path = tmp_path / "r.toml"
    path.write_text('[[agent]]\nname = "a"\nmodel = "llama3.1-8b"\nbackend = "openai"\n'
                    'url = "http://gpu-box:8000"\ndialect = "vllm"\napi_key_env = "AURORA_TEST_KEY"\n')
    (spec,) = rosters.load(path)
    assert (spec.backend, spec.url, spec.dialect, spec.api_key_env) == ("openai", "http://gpu-box:8000", "vllm",
                                                                        "AURORA_TEST_KEY")
    monkeypatch.delenv("AURORA_TEST_KEY", raising=False)
    with pytest.raises(ValueError, match="AURORA_TEST_KEY, which is not set"):
        api_key(spec.api_key_env)
    monkeypatch.setenv("AURORA_TEST_KEY", "secret")
    assert api_key(spec.api_key_env) == "secret" and api_key(None) is None
    assert rosters.load()[0].backend == "local"  # the default


@pytest.mark.parametrize("text, words", [
    ('[[agent]]\nname = "a"\nmodel = "m"\ncolour = "red"\n', "unknown key"),
    ('[[agent]]\nname = "A!"\nmodel = "m"\n', "must be 1-32"),
    ('[[agent]]\nname = "a"\n', "`model` is required"),
    ('[[agent]]\nname = "a"\nmodel = "m"\n[[agent]]\nname = "a"\nmodel = "n"\n', "unique"),
    ('[[agent]]\nname = "a"\nmodel = "m"\n[agent.sampling]\nwarmth = 1\n', "unknown key"),
    ("[[agent]\n", "not valid TOML"),
    ('[[agent]]\nname = "a"\nmodel = "m"\ndream_every = 50\n', "dream_every must be"),
    ('[[agent]]\nname = "a"\nmodel = "m"\ngrow = "yes"\n', "grow must be true or false"),
    ("", "no [[agent]]"),
    ('[[agent]]\nname = "a"\nmodel = "m"\nbackend = "ollama"\n', "backend must be local or openai"),
    ('[[agent]]\nname = "a"\nmodel = "m"\nbackend = "openai"\n', "needs `url`"),
    ('[[agent]]\nname = "a"\nmodel = "m"\nbackend = "openai"\nurl = "http://h:1"\ndialect = "tgi"\n',
     "dialect must be one of"),
    ('[[agent]]\nname = "a"\nmodel = "m"\nbackend = "openai"\nurl = "http://h:1"\napi_key_env = "sk-123"\n',
     "NAME of an environment variable"),
])
def test_a_bad_roster_says_what_and_where(tmp_path, text, words):
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(rosters.RosterError, match=words.replace("[", r"\[").replace("`", "`")):
        rosters.load(path)


def test_a_folder_of_fourteen_gguf_files_becomes_a_roster_of_fourteen_agents(tmp_path):
    for i in range(14):
        header_only(tmp_path / f"Model_{i:02d}.Q4_K_M.gguf")
    found, problems = discovery.find(str(tmp_path))
    out = tmp_path / "roster.toml"
    out.write_text(rosters.from_found(found))
    specs = rosters.load(out)
    assert len(specs) == 14 and len({s.name for s in specs}) == 14 and not problems
    assert [s.name for s in specs][:2] == ["model_00-q4_k_m", "model_01-q4_k_m"]
    assert all(s.model.endswith(".gguf") and s.model.startswith(str(tmp_path)) for s in specs)
    assert [s.seed for s in specs] == list(range(1, 15))


@pytest.mark.parametrize("labels", [
    ["llama3.1:8b", "Llama3.1:8B", "llama3.1-8b"],   # the same name three ways
    ["canvas", "studio", "3b-model", "", "---", "ünïcode model"],  # reserved, no letter first, nothing left
    ["a" * 40, "a" * 40 + "b", "a" * 31 + ":x"] + ["a" * 32] * 12,  # long, and cut to the same 32 characters
])
def test_agent_names_from_model_names_are_valid_and_unique(labels):
    names = rosters.agent_names(labels)
    assert len(names) == len(labels) and len(set(names)) == len(names)
    assert all(name_problem(n) is None for n in names), names
    assert rosters.agent_names(["llama3.1:8b"]) == ["llama3-1-8b"]
