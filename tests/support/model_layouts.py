"""The places people keep GGUF models, built on disk from the bundled models: links, never copies of weights.

Ollama: real manifests (JSON, layers with mediaType and digest) and blobs named sha256-<hex> by the file's real
digest; Hugging Face: `models--<org>--<repo>` with blobs named by their digest and snapshots linking into them;
LM Studio: `<publisher>/<model>/<file>.gguf`.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import gguf

from services.agent.models import sha256_file

OLLAMA_LAYERS = {"template": "application/vnd.ollama.image.template", "params": "application/vnd.ollama.image.params"}


@functools.lru_cache(maxsize=None)
def digest(path: Path) -> str:
    return sha256_file(path)


def ollama_model(root: Path, registry: str, namespace: str, name: str, tag: str, model: Path) -> tuple[Path, Path]:
    """An Ollama model `namespace/name:tag` whose model layer is `model` (linked). Returns (manifest, blob)."""
    hexdigest = digest(model)
    blob = root / "blobs" / f"sha256-{hexdigest}"
    blob.parent.mkdir(parents=True, exist_ok=True)
    if not blob.exists():
        os.symlink(model, blob)
    layers = [{"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{hexdigest}",
               "size": model.stat().st_size}]
    layers += [{"mediaType": media, "digest": "sha256:" + f"{i}" * 64, "size": 10}
               for i, media in enumerate(OLLAMA_LAYERS.values())]  # their blobs are not needed to find the model
    manifest = root / "manifests" / registry / namespace / name / tag
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": "sha256:" + "c" * 64, "size": 485},
        "layers": layers}))
    return manifest, blob


def hf_file(cache: Path, repo: str, filename: str, model: Path, revision: str = "0" * 40) -> Path:
    """`model` as `filename` of the Hugging Face repo `org/name` in `cache`: a blob and a snapshot linking to it."""
    folder = cache / ("models--" + repo.replace("/", "--"))
    blob = folder / "blobs" / digest(model)
    blob.parent.mkdir(parents=True, exist_ok=True)
    if not blob.exists():
        os.symlink(model, blob)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(revision)
    link = folder / "snapshots" / revision / filename
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(blob, link.parent), link)
    return link


def link(model: Path, at: Path) -> Path:
    at.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(model, at)
    return at


def header_only(path: Path, arch: str = "llama", kind: str = "model") -> Path:
    """A GGUF with metadata and no tensors: enough to be found and listed (not to be run). kind "mmproj": a
    vision projector, a GGUF that goes beside a model and is not one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(path, arch)
    writer.add_type(kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    return path
