"""What a GGUF model is and what an agent on it needs, read from its header alone (the model is never loaded).

`read_info(path)` takes a .gguf file, the first part of a multi-part model (`<name>-00001-of-0000N.gguf`:
every part is read and counted), or a llamafile (the GGUF stored in its zip, found by offset).
`agent_memory_bytes(info, context)` estimates the memory an agent on the model needs at a roster's context.
"""

from __future__ import annotations

import struct
import zipfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import gguf

from services.agent.gguf_header import GGUF_MAGIC, Header
from services.agent.models import SPLIT_RE, ModelError, check_gguf

KV_BYTES = 2  # llama.cpp's default K and V cache type is f16


@dataclass(frozen=True)
class ModelInfo:
    path: Path                  # what an agent loads: the file, or the first part of a multi-part model
    name: str                   # general.name, else the file's stem
    architecture: str           # general.architecture: the family llama.cpp knows it by (llama, gemma3, qwen2...)
    kind: str                   # general.type: "model", or "mmproj" / "adapter" (not a model an agent can run)
    parameters: int             # elements of every tensor, all parts
    quantisation: str           # from general.file_type (Q4_K_M, F16...), else the type of most tensor bytes
    file_bytes: int             # every part's file (a llamafile: its GGUF entry)
    weight_bytes: int           # every tensor's data
    context_length: int         # the context it was trained for (0: not in the header)
    chat_template: bool         # tokenizer.chat_template is present
    vocabulary: int             # tokens in tokenizer.ggml.tokens (0: not in the header)
    block_count: int
    head_count_kv: tuple[int, ...]  # per layer (a header may give one number for all)
    key_length: int
    value_length: int
    sliding_window: int         # 0: none
    parts: tuple[Path, ...]
    offset: int = 0             # where the GGUF starts in `path` (a llamafile)
    member: str = ""            # the GGUF's name inside a llamafile

    @property
    def is_llamafile(self) -> bool:
        return self.offset > 0

    @property
    def summary(self) -> str:
        template = "own chat template" if self.chat_template else "no chat template (a plain document)"
        return (f"{self.architecture}, {count_text(self.parameters)} parameters, {self.quantisation}, "
                f"{bytes_text(self.file_bytes)}, context {self.context_length}, {template}")


def count_text(n: int) -> str:
    """135M, 8.0B: the way model sizes are spoken of."""
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def bytes_text(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def read_info(path: Path | str) -> ModelInfo:
    """The header's account of the model at `path`; ModelError names the file when it cannot be read."""
    path = Path(path)
    member, offset, length = _llamafile_entry(path) if _is_zip(path) else ("", 0, None)
    split = SPLIT_RE.match(path.name)
    if split and offset == 0:
        parts = _parts(path, split)
        headers = [check_gguf(p) for p in parts]
        file_bytes = sum(p.stat().st_size for p in parts)
    else:
        parts = (path,)
        headers = [check_gguf(path, offset=offset, length=length)]
        file_bytes = length if length is not None else path.stat().st_size
    return replace(_info(path, headers, parts, file_bytes), offset=offset, member=member)


def agent_memory_bytes(info: ModelInfo, context: int) -> int:
    """An estimate of the memory one agent on `info` needs at `context` tokens: weights + KV cache.

    Weights: every tensor's bytes (mapped from the file; agents on the same file share those pages, which this
    per-agent figure does not discount). KV cache: f16 K and V for every layer and token of the context,
    block_count x context x head_count_kv x (key_length + value_length) x 2 bytes, the key and value lengths
    from the header or else embedding_length / head_count. A sliding-window model (Gemma 3) is estimated at
    full context, which is what llama.cpp allocates while it keeps every cell (its swa_full default, see
    services/agent/llm.py). Not counted: llama.cpp's compute buffers and the logits, tens of MB for a small
    vocabulary to a few hundred for a large one at the agent's batch size. Recurrent models (no attention
    heads in the header) count weights only.
    """
    per_token = sum(h * (info.key_length + info.value_length) for h in info.head_count_kv) * KV_BYTES
    return info.weight_bytes + context * per_token


# What an agent process holds beside its weights and KV cache: Python with llama.cpp, llguidance, numpy and
# the clients (~60 MB resident), the op grammar's matcher over the vocabulary, llama.cpp's compute buffers and
# logits, which grow with the vocabulary. Fitted to the bundled models, measured 2026-12-05 (resident size
# after loading at context 2048, compiling the op grammar and generating under it, less weights and KV cache):
# 125 MiB for SmolLM2 (49,152 tokens), 256 MiB for Gemma 3 (262,144 tokens); with margin.
PROCESS_BASE = 112 << 20
PROCESS_PER_TOKEN = 700


def process_bytes(info: ModelInfo) -> int:
    return PROCESS_BASE + PROCESS_PER_TOKEN * info.vocabulary


def agent_need_bytes(info: ModelInfo, context: int) -> int:
    """The memory one agent on `info` needs at `context`: weights, KV cache and its process (estimated)."""
    return agent_memory_bytes(info, context) + process_bytes(info)


# ------------------------------------------------------------------------------------------------ parts

def _parts(first: Path, split) -> tuple[Path, ...]:
    count = int(split["count"])
    if int(split["no"]) != 1:
        raise ModelError(f"{first} is part {int(split['no'])} of a {count}-part model; give its first part "
                         f"({split['stem']}-00001-of-{split['count']}.gguf)")
    parts = tuple(first.with_name(f"{split['stem']}-{i:05d}-of-{split['count']}.gguf") for i in range(1, count + 1))
    missing = [p.name for p in parts if not p.exists()]
    if missing:
        raise ModelError(f"{first} is the first of {count} parts and {', '.join(missing)} "
                         f"{'is' if len(missing) == 1 else 'are'} missing beside it; put every part in one folder")
    return parts


def _is_zip(path: Path) -> bool:
    """A llamafile is an executable that is also a zip archive; a GGUF file starts with its magic instead."""
    try:
        with open(path, "rb") as f:
            if f.read(4) == GGUF_MAGIC:
                return False
    except OSError:
        return False  # check_gguf says why
    return zipfile.is_zipfile(path)


def _llamafile_entry(path: Path) -> tuple[str, int, int]:
    """(name, offset, length) of the GGUF stored, uncompressed, in the llamafile (zip) at `path`."""
    try:
        with zipfile.ZipFile(path) as z:
            entries = [e for e in z.infolist() if e.filename.lower().endswith(".gguf")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"{path} is neither a GGUF file nor a readable llamafile (zip: {exc})") from None
    if not entries:
        raise ModelError(f"{path} is a zip archive (a llamafile?) with no .gguf inside; give a .gguf file")
    entry = entries[0]
    if entry.compress_type != zipfile.ZIP_STORED:
        raise ModelError(f"{path}: {entry.filename} is compressed inside the archive, so it has no offset to read "
                         f"it at; extract it with `unzip -j {path} {entry.filename}`")
    with open(path, "rb") as f:  # the local header's name and extra field lengths can differ from the directory's
        f.seek(entry.header_offset + 26)
        lengths = f.read(4)
    if len(lengths) != 4:
        raise ModelError(f"{path}: the zip entry {entry.filename} lies past the end of the file")
    name_len, extra_len = struct.unpack("<HH", lengths)
    return entry.filename, entry.header_offset + 30 + name_len + extra_len, entry.file_size


# ----------------------------------------------------------------------------------------------- fields

def _info(path: Path, headers: list[Header], parts: tuple[Path, ...], file_bytes: int) -> ModelInfo:
    meta = headers[0].metadata
    arch = str(meta.get("general.architecture", ""))

    def number(key: str, default: int = 0) -> int:
        value = meta.get(f"{arch}.{key}", default)
        return value if isinstance(value, int) else default

    tensors = [t for h in headers for t in h.tensors]
    blocks = number("block_count")
    heads = meta.get(f"{arch}.attention.head_count", 0)
    heads = max(heads) if isinstance(heads, list) and heads else heads if isinstance(heads, int) else 0
    kv = meta.get(f"{arch}.attention.head_count_kv", heads)
    kv_per_layer = tuple(kv[:blocks]) if isinstance(kv, list) else (kv if isinstance(kv, int) else 0,) * blocks
    head_dim = number("embedding_length") // heads if heads else 0
    return ModelInfo(
        path=path, name=str(meta.get("general.name") or _stem(path)), architecture=arch or "unknown",
        kind=str(meta.get("general.type", "model")), parameters=sum(t.n_elements for t in tensors),
        quantisation=_quantisation(meta.get("general.file_type"), tensors), file_bytes=file_bytes,
        weight_bytes=sum(t.nbytes for t in tensors), context_length=number("context_length"),
        chat_template=bool(meta.get("tokenizer.chat_template")),
        vocabulary=headers[0].lengths.get("tokenizer.ggml.tokens", 0), block_count=blocks, head_count_kv=kv_per_layer,
        key_length=number("attention.key_length", head_dim), value_length=number("attention.value_length", head_dim),
        sliding_window=number("attention.sliding_window"), parts=parts)


def _stem(path: Path) -> str:
    split = SPLIT_RE.match(path.name)
    return split["stem"] if split else path.stem


def _quantisation(file_type: object, tensors) -> str:
    if isinstance(file_type, int):
        try:
            return gguf.LlamaFileType(file_type).name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            pass
    by_bytes: Counter[int] = Counter()
    for t in tensors:
        by_bytes[t.ggml_type] += t.nbytes
    if not by_bytes:
        return "unknown"
    top = by_bytes.most_common(1)[0][0]
    try:
        return gguf.GGMLQuantizationType(top).name
    except ValueError:
        return f"type {top}"
