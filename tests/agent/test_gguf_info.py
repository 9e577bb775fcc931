"""What a model is, from its GGUF header alone: the bundled models, a multi-part model, a llamafile, bad files."""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

import pytest

from services.agent.gguf_info import agent_memory_bytes, read_info
from services.agent.llm import Generator
from services.agent.models import ModelError, resolve
from tests.support.gguf_copies import copy_gguf


@pytest.fixture(scope="module")
def smol_path() -> Path:
    return resolve("smollm2-135m", Path("/nonexistent-data-dir"))


@pytest.fixture(scope="module")
def parts(smol_path, tmp_path_factory) -> list[Path]:
    return copy_gguf(smol_path, tmp_path_factory.mktemp("parts") / "smol.gguf", parts=3)


def test_smollm2_from_its_header(smol_path):
    info = read_info(smol_path)
    assert (info.architecture, info.kind, info.quantisation, info.context_length) == ("llama", "model", "Q4_1", 8192)
    assert info.name.startswith("Smollm2 135M") and info.chat_template
    assert 130e6 < info.parameters < 140e6  # "135M"
    assert info.file_bytes == smol_path.stat().st_size and info.weight_bytes < info.file_bytes
    assert (info.block_count, info.head_count_kv, info.key_length, info.value_length) == (30, (3,) * 30, 64, 64)


def test_gemma_from_its_header(model_paths):
    info = read_info(model_paths("gemma3-270m"))
    assert (info.architecture, info.quantisation, info.context_length, info.sliding_window) == ("gemma3", "Q4_K_M",
                                                                                                32768, 512)
    assert not info.chat_template and 260e6 < info.parameters < 275e6  # "270M"
    assert (info.block_count, info.head_count_kv, info.key_length) == (18, (1,) * 18, 256)


def test_memory_is_weights_plus_an_f16_kv_cache_at_the_context(smol_path):
    info = read_info(smol_path)
    kv_per_token = 30 * 3 * (64 + 64) * 2  # layers x KV heads x (key + value length) x f16
    assert agent_memory_bytes(info, 2048) == info.weight_bytes + 2048 * kv_per_token
    assert agent_memory_bytes(info, 4096) - agent_memory_bytes(info, 2048) == 2048 * kv_per_token


def test_the_kv_estimate_matches_what_llama_cpp_allocates(smol_path):
    """llama.cpp's own sequence state for a full context is its KV cache (plus a few bytes of bookkeeping)."""
    import llama_cpp

    info = read_info(smol_path)
    with Generator(smol_path, n_ctx=256, n_threads=1) as gen:
        gen.generate(gen.tokenize("x " * 300)[:255], max_tokens=1)
        state = llama_cpp.llama_state_seq_get_size(gen.llm._ctx.ctx, 0)
        cells = gen.llm.n_tokens
    kv = agent_memory_bytes(info, 256) - info.weight_bytes
    assert 0.95 * state < kv * cells / 256 <= 1.05 * state


def test_a_multi_part_model_is_one_model_counted_whole(smol_path, parts):
    whole, info = read_info(smol_path), read_info(parts[0])
    assert [p.name for p in info.parts] == [f"smol-{i:05d}-of-00003.gguf" for i in (1, 2, 3)]
    assert info.parameters == whole.parameters and info.weight_bytes == whole.weight_bytes
    assert info.file_bytes == sum(p.stat().st_size for p in parts)
    assert info.name == whole.name and info.chat_template
    with Generator(parts[0], n_ctx=256, n_threads=1) as gen:  # llama.cpp loads the parts from the first
        assert gen.generate(gen.format("be brief", "hello"), max_tokens=4).tokens >= 1


def test_a_missing_part_or_a_later_part_is_named(parts, tmp_path):
    for p in parts[:2]:
        os.symlink(p, tmp_path / p.name)
    with pytest.raises(ModelError, match="smol-00003-of-00003.gguf is missing beside it") as err:
        read_info(tmp_path / parts[0].name)
    assert str(tmp_path / parts[0].name) in str(err.value)
    with pytest.raises(ModelError, match="give its first part"):
        read_info(parts[1])


def test_a_llamafile_is_read_at_the_offset_of_its_gguf(smol_path, tmp_path):
    path = tmp_path / "smol.llamafile"
    path.write_bytes(b"MZqFpD='\n" + b"\0" * 4000)  # an executable's head, then the zip
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_STORED) as z:
        z.write(smol_path, "SmolLM2.gguf")
    info = read_info(path)
    assert info.is_llamafile and info.offset > 4000 and info.file_bytes == smol_path.stat().st_size
    assert info.parameters == read_info(smol_path).parameters
    with open(path, "rb") as f:
        f.seek(info.offset)
        assert f.read(4) == b"GGUF"


@pytest.mark.parametrize("what, words", [("missing", "does not exist"), ("text", "not a GGUF file"),
                                         ("cut", "truncated"), ("empty-zip", "no .gguf inside"),
                                         ("huge-key", "truncated"), ("bad-zip", "nor a readable llamafile")])
def test_a_bad_file_is_named(smol_path, tmp_path, what, words):
    path = tmp_path / "bad.gguf"
    if what == "text":
        path.write_text("not a model\n")
    elif what == "cut":
        path.write_bytes(smol_path.read_bytes()[:20 << 20])
    elif what == "huge-key":  # a key length of 2**62 bytes: refused, never allocated
        path.write_bytes(b"GGUF" + struct.pack("<IQQQ", 3, 0, 1, 1 << 62) + b"key")
    elif what == "bad-zip":  # a zip's end record pointing at a central directory that is not there
        path.write_bytes(b"MZ" + b"\0" * 100 + b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, 46, 0, 0))
    elif what == "empty-zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "nothing here")
    with pytest.raises(ModelError, match=words) as err:
        read_info(path)
    assert str(path) in str(err.value)
