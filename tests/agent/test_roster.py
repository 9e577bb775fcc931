"""The roster: defaults merged per agent, clear errors, and a roster made from a folder of GGUF files."""

from __future__ import annotations

import pytest

from services.agent import roster as rosters


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
])
def test_a_bad_roster_says_what_and_where(tmp_path, text, words):
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(rosters.RosterError, match=words.replace("[", r"\[").replace("`", "`")):
        rosters.load(path)


def test_a_folder_of_fourteen_gguf_files_becomes_a_roster_of_fourteen_agents(tmp_path):
    for i in range(14):
        (tmp_path / f"Model_{i:02d}.Q4_K_M.gguf").write_bytes(b"GGUF")
    out = tmp_path / "roster.toml"
    out.write_text(rosters.from_folder(tmp_path))
    specs = rosters.load(out)
    assert len(specs) == 14 and len({s.name for s in specs}) == 14
    assert all(s.model.endswith(".gguf") and s.model.startswith(str(tmp_path)) for s in specs)
