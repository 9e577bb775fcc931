"""Real GGUF files written by tests with the `gguf` package: a bundled model copied with other metadata, or in parts."""

from __future__ import annotations

from pathlib import Path

import gguf


def copy_gguf(src: Path, dst: Path, metadata: dict[str, str | None] | None = None,
              parts: int = 1) -> list[Path]:
    """Copy the GGUF `src` to `dst` with its tensors unchanged: each key of `metadata` set to its string, or
    removed when None; `parts` > 1 writes `<dst stem>-0000i-of-0000N.gguf` files. Returns the files written."""
    metadata = metadata or {}
    reader = gguf.GGUFReader(src)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    per_part = -(-len(reader.tensors) // parts) if parts > 1 else 0
    writer = gguf.GGUFWriter(dst, arch, split_max_tensors=per_part)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF.") or field.name in metadata:
            continue
        vtype = field.types[0]
        writer.add_key_value(field.name, field.contents(), vtype,
                             sub_type=field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None)
    for key, value in metadata.items():
        if value is not None:
            writer.add_string(key, value)
    for t in reader.tensors:
        writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)  # data.shape: bytes per row when quantized
    written = writer.format_shard_names(Path(dst))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return written
