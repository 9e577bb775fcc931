"""`aurora models` and `aurora roster --from`: the table, problems on stderr with their paths, rosters that load."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from services.agent import roster as rosters
from services.agent.gguf_info import agent_need_bytes, bytes_text, read_info
from services.agent.models import resolve
from services.cli import main
from tests.support.model_layouts import digest, header_only, hf_file, link, ollama_model


@pytest.fixture(scope="module")
def smol() -> Path:
    return resolve("smollm2-135m", Path("/nonexistent-data-dir"))


@pytest.fixture
def home(tmp_path, monkeypatch, smol) -> Path:
    """A home with a model in each place (Ollama's through OLLAMA_MODELS), and a broken Ollama manifest."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "ollama"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HOME", raising=False)
    ollama_model(tmp_path / "ollama", "registry.ollama.ai", "library", "smollm2", "135m", smol)
    broken, _ = ollama_model(tmp_path / "ollama", "registry.ollama.ai", "library", "broken", "latest", smol)
    broken.write_text("{")
    header_only(home / ".lmstudio/models/Qwen/Qwen3-GGUF/Qwen3-Q8_0.gguf", "qwen3")
    hf_file(home / ".cache/huggingface/hub", "mistralai/Tiny-GGUF", "tiny-Q4_K_M.gguf",
            header_only(tmp_path / "blobs" / "tiny.gguf", "llama"))
    return home


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_models_lists_every_place_and_reports_problems_with_their_paths(home, tmp_path, capsys, smol):
    rc, out, err = run(capsys, "models")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "SOURCE", "FAMILY", "PARAMS", "QUANT", "SIZE", "CONTEXT", "MEMORY", "TEMPLATE",
                                "PATH"]
    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    assert set(rows) == {"smollm2:135m", "Qwen/Qwen3-GGUF/Qwen3-Q8_0.gguf", "mistralai/Tiny-GGUF/tiny-Q4_K_M.gguf"}
    memory = bytes_text(agent_need_bytes(read_info(smol), rosters.load()[0].context))
    assert " ".join(rows["smollm2:135m"][1:11]) == f"ollama llama 135M Q4_1 98 MB 8192 {memory} own"
    assert rows["Qwen/Qwen3-GGUF/Qwen3-Q8_0.gguf"][1:3] == ["lmstudio", "qwen3"]
    broken = tmp_path / "ollama/manifests/registry.ollama.ai/library/broken/latest"
    assert err.startswith(f"aurora models: {broken}: not a readable Ollama manifest")

    rc, out, _ = run(capsys, "models", "--from", "ollama", "--context", "8192")
    assert rc == 0 and bytes_text(agent_need_bytes(read_info(smol), 8192)) in out.splitlines()[1]
    assert "Qwen" not in out and "a context of 8192 tokens" in out


def test_models_says_where_it_looked_when_it_finds_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("OLLAMA_MODELS", "HF_HUB_CACHE", "HF_HOME"):
        monkeypatch.delenv(name, raising=False)
    rc, out, err = run(capsys, "models")
    assert rc == 1 and not out
    assert f"no GGUF model found (looked in {tmp_path}/.ollama/models" in err and "--from DIR" in err


def test_roster_from_sources_writes_one_agent_per_model(home, tmp_path, capsys, smol):
    folder = tmp_path / "mine"
    link(smol, folder / "a" / "SmolLM2.gguf")
    header_only(folder / "canvas.gguf")
    llamafile = folder / "smol.llamafile"
    llamafile.write_bytes(b"MZqFpD='\n")
    with zipfile.ZipFile(llamafile, "a") as z:
        z.write(smol, "smol.gguf")

    rc, out, err = run(capsys, "roster", "--from", "ollama", "--from", str(folder))
    assert rc == 0
    (tmp_path / "r.toml").write_text(out)
    specs = rosters.load(tmp_path / "r.toml")
    # The folder's SmolLM2 is the Ollama blob's file: listed once, as Ollama's.
    assert [(s.name, s.model, s.seed) for s in specs] == [
        ("smollm2-135m", str(tmp_path / "ollama/blobs" / f"sha256-{digest(smol)}"), 1),
        ("m-canvas", str(folder / "canvas.gguf"), 2)]
    assert "# smollm2:135m (ollama): llama, 135M parameters, Q4_1" in out
    assert "not a readable Ollama manifest" in err and "left out smol.llamafile: llamafile:" in err

    rc, alias, _ = run(capsys, "roster", "--from-folder", str(folder))
    assert rc == 0 and alias == run(capsys, "roster", "--from", str(folder))[1]


def test_roster_from_nothing_fails(tmp_path, capsys):
    rc, out, err = run(capsys, "roster", "--from", str(tmp_path / "none"))
    assert rc == 1 and not out and "no such file or folder" in err and "no model an agent can run" in err
