"""Finding the models a person has, in each layout, built on disk from the bundled models (links, real digests)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from services.agent import discovery
from services.agent.llm import Generator
from services.agent.models import resolve
from tests.support.gguf_copies import copy_gguf
from tests.support.model_layouts import digest, header_only, hf_file, link, ollama_model

SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def smol() -> Path:
    return resolve("smollm2-135m", Path("/nonexistent-data-dir"))


@pytest.fixture(scope="module")
def gemma(model_paths) -> Path:
    return model_paths("gemma3-270m")


@pytest.fixture(scope="module")
def parts(smol, tmp_path_factory) -> list[Path]:
    """SmolLM2 in three parts, real GGUF files written with the gguf package."""
    return copy_gguf(smol, tmp_path_factory.mktemp("parts") / "smol-parts.gguf", parts=3)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty home: every place a tool keeps models starts empty, and no environment variable points elsewhere."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("OLLAMA_MODELS", "HF_HUB_CACHE", "HF_HOME"):
        monkeypatch.delenv(name, raising=False)
    return home


def names(found: list[discovery.Found]) -> list[str]:
    return [f.name for f in found]


def test_ollama_manifests_name_their_models_and_bad_ones_are_reported(home, tmp_path, monkeypatch, smol, gemma):
    root = tmp_path / "ollama"
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    _, smol_blob = ollama_model(root, "registry.ollama.ai", "library", "smollm2", "135m", smol)
    ollama_model(root, "hf.co", "unsloth", "gemma-3-270m-GGUF", "Q4_K_M", gemma)
    broken, _ = ollama_model(root, "registry.ollama.ai", "library", "broken", "latest", smol)
    broken.write_text('{"schemaVersion": 2, "layers": [')  # cut short
    gone, gone_blob = ollama_model(root, "registry.ollama.ai", "someone", "gone", "7b", gemma)
    gone_blob = gone_blob.with_name("sha256-" + "e" * 64)
    gone.write_text(gone.read_text().replace(digest(gemma), "e" * 64))
    no_model, _ = ollama_model(root, "registry.ollama.ai", "library", "nomodel", "latest", smol)
    no_model.write_text(no_model.read_text().replace("image.model", "image.license"))

    found, problems = discovery.find("ollama")
    assert names(found) == ["hf.co/unsloth/gemma-3-270m-GGUF:Q4_K_M", "smollm2:135m"]
    assert found[1].info.path == smol_blob and found[1].info.parameters > 130e6 and found[1].short == "smollm2:135m"
    assert found[0].info.architecture == "gemma3" and found[0].short == "gemma-3-270m-GGUF:Q4_K_M"
    by_path = {p.path: p.reason for p in problems}
    assert set(by_path) == {broken, gone_blob, no_model}
    assert "not a readable Ollama manifest" in by_path[broken] and "`ollama pull broken:latest`" in by_path[broken]
    assert "the model of someone/gone:7b" in by_path[gone_blob] and "is missing" in by_path[gone_blob]
    assert "no layer of mediaType application/vnd.ollama.image.model" in by_path[no_model]


def test_ollama_is_found_in_the_home_folder_by_default(home, smol):
    _, blob = ollama_model(home / ".ollama" / "models", "registry.ollama.ai", "library", "smollm2", "latest", smol)
    found, problems = discovery.find("ollama")
    assert names(found) == ["smollm2:latest"] and not problems
    older = blob.with_name(blob.name.replace("sha256-", "sha256:"))  # as older Ollama versions named blobs
    blob.rename(older)
    found, problems = discovery.find("ollama")
    assert [f.info.path for f in found] == [older] and not problems


def test_a_blob_of_the_wrong_size_is_reported(home, tmp_path, monkeypatch, smol, gemma):
    root = tmp_path / "ollama"
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    manifest, blob = ollama_model(root, "registry.ollama.ai", "library", "smollm2", "135m", smol)
    manifest.write_text(manifest.read_text().replace(str(smol.stat().st_size), str(smol.stat().st_size + 1)))
    found, problems = discovery.find("ollama")
    assert not found and [p.path for p in problems] == [blob] and "its manifest says" in problems[0].reason


def test_lm_studio_folders_new_and_old(home, smol, gemma):
    link(smol, home / ".lmstudio/models/HuggingFaceTB/SmolLM2-135M-Instruct-GGUF" / SMOL_FILE)
    header_only(home / ".lmstudio/models/HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/mmproj-model-f16.gguf", "clip",
                "mmproj")
    header_only(home / ".lmstudio/models/HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/mmproj-old.gguf", "clip")
    link(gemma, home / ".cache/lm-studio/models/unsloth/gemma-3-270m-GGUF/gemma-3-270m-Q4_K_M.gguf")
    found, problems = discovery.find("lmstudio")
    assert names(found) == [f"HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/{SMOL_FILE}",
                            "unsloth/gemma-3-270m-GGUF/gemma-3-270m-Q4_K_M.gguf"]  # projectors are no models
    assert not problems and {f.source for f in found} == {"lmstudio"}


def test_hugging_face_snapshots_link_into_blobs(home, tmp_path, monkeypatch, smol, parts):
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    hf_file(cache, "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", SMOL_FILE, smol)
    first, *_ = [hf_file(cache, "someone/smol-parts-GGUF", p.name, p) for p in parts]
    dangling = hf_file(cache, "someone/unfinished-GGUF", "model-Q4_K_M.gguf", smol)
    (dangling.parent / os.readlink(dangling)).unlink()  # the blob of a download that did not finish

    found, problems = discovery.find("hf")
    assert names(found) == [f"HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/{SMOL_FILE}",
                            "someone/smol-parts-GGUF/smol-parts-00001-of-00003.gguf"]
    whole = found[1].info
    assert whole.path == first and len(whole.parts) == 3 and found[1].short == "smol-parts"
    assert whole.file_bytes == sum(p.stat().st_size for p in parts)
    assert [p.path for p in problems] == [dangling] and "missing" in problems[0].reason

    # The roster's path to a part keeps the part's name, by which llama.cpp finds the others beside it.
    assert resolve(str(first), tmp_path) == first
    with Generator(first, n_ctx=128, n_threads=1) as gen:
        assert gen.generate(gen.format("be brief", "hello"), max_tokens=2).tokens >= 1


def test_hugging_face_home_and_default_cache(home, tmp_path, monkeypatch, smol):
    hf_file(home / ".cache/huggingface/hub", "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", SMOL_FILE, smol)
    assert len(discovery.find("hf")[0]) == 1
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    assert discovery.places("hf") == [tmp_path / "hf-home" / "hub"] and discovery.find("hf") == ([], [])


def test_a_folder_lists_files_parts_and_llamafiles_and_names_bad_files(home, tmp_path, smol, gemma, parts):
    folder = tmp_path / "models"
    link(smol, folder / SMOL_FILE)
    link(gemma, folder / "base" / "gemma.gguf")
    for p in parts:
        link(p, folder / "split" / p.name)
    (folder / "notes.gguf").write_text("not a model\n")
    (folder / "README.md").write_text("a file that is not a model")
    llamafile = folder / "smol.llamafile"
    llamafile.write_bytes(b"MZqFpD='\n" + b"\0" * 4000)
    with zipfile.ZipFile(llamafile, "a") as z:
        z.write(smol, SMOL_FILE)

    found, problems = discovery.find(str(folder))
    assert names(found) == [SMOL_FILE, "smol.llamafile", "base/gemma.gguf", "split/smol-parts-00001-of-00003.gguf"]
    assert [f.why_not == "" for f in found] == [True, False, True, True]
    why = found[1].why_not
    assert why.startswith("llamafile:") and "llama-cpp-python" in why and f"unzip -j {llamafile} {SMOL_FILE}" in why
    assert [p.path for p in problems] == [folder / "notes.gguf"] and "not a GGUF file" in problems[0].reason
    # One file given alone.
    assert names(discovery.find(str(folder / "base" / "gemma.gguf"))[0]) == ["gemma.gguf"]


def test_a_missing_folder_is_a_problem_and_a_model_reached_twice_is_listed_once(home, tmp_path, smol):
    found, problems = discovery.find(str(tmp_path / "nowhere"))
    assert not found and [str(p) for p in problems] == [f"{tmp_path / 'nowhere'}: no such file or folder"]
    link(smol, home / ".lmstudio/models/HuggingFaceTB/SmolLM2/" / SMOL_FILE)
    link(smol, tmp_path / "mine" / "smol.gguf")
    found, _ = discovery.find_all(["lmstudio", str(tmp_path / "mine")])
    assert [f.source for f in found] == ["lmstudio"]
