"""A 14-model roster on a 16 GB laptop, planned: writes header-only stand-ins of 14 well-known models and a
roster listing them, for `aurora up --plan` (docs/models.md's worked example of taking turns).

Each stand-in is a real GGUF header with the model's published shape (layers, KV heads, head size, trained
context, vocabulary size) and one tensor as large as the model's Q4_K_M weights; its data is a sparse hole, so
the folder takes a few MB of disk. It is what `aurora up --plan` reads (never the weights), not a model anyone can run.

    python docs/examples/laptop_plan.py /tmp/laptop
    aurora up --plan --roster /tmp/laptop/roster.toml --memory 12G --cores 8
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import gguf

# name: (architecture, layers, KV heads, head size, trained context, vocabulary, Q4_K_M file size in GB). Shapes
# from each model's published config; sizes as the common Q4_K_M GGUF builds of them are, rounded.
MODELS = {
    "llama2-7b": ("llama", 32, 32, 128, 4096, 32000, 4.08),
    "llama3-1-8b": ("llama", 32, 8, 128, 131072, 128256, 4.92),
    "llama3-2-3b": ("llama", 28, 8, 128, 131072, 128256, 2.02),
    "llama3-2-1b": ("llama", 16, 8, 64, 131072, 128256, 0.81),
    "mistral-7b": ("llama", 32, 8, 128, 32768, 32768, 4.37),
    "mistral-nemo-12b": ("llama", 40, 8, 128, 131072, 131072, 7.48),
    "gemma2-9b": ("gemma2", 42, 8, 256, 8192, 256000, 5.76),
    "gemma2-2b": ("gemma2", 26, 4, 256, 8192, 256000, 1.71),
    "qwen2-5-7b": ("qwen2", 28, 4, 128, 32768, 152064, 4.68),
    "qwen2-5-3b": ("qwen2", 36, 2, 128, 32768, 151936, 1.93),
    "deepseek-r1-qwen-7b": ("qwen2", 28, 4, 128, 131072, 152064, 4.68),
    "phi3-mini": ("phi3", 32, 32, 96, 4096, 32064, 2.39),
    "smollm2-1-7b": ("llama", 24, 32, 64, 8192, 49152, 1.06),
    "tinyllama-1-1b": ("llama", 22, 4, 64, 2048, 32000, 0.67),
}

ROSTER_HEAD = """# 14 models on a 16 GB laptop (stand-ins written by docs/examples/laptop_plan.py): they take turns.
[defaults]
threads = 2
context = 2048

[turns]
minutes = 30
"""


def stand_in(path: Path, arch: str, layers: int, kv: int, head: int, context: int, vocabulary: int, gb: float) -> None:
    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q4_K]
    elements = int(gb * 1e9) // size * block
    w = gguf.GGUFWriter(path, arch)
    w.add_name(path.stem)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    w.add_block_count(layers)
    w.add_context_length(context)
    w.add_head_count(kv)
    w.add_head_count_kv(kv)
    w.add_key_length(head)
    w.add_value_length(head)
    w.add_embedding_length(kv * head)
    w.add_token_list([f"t{i}" for i in range(vocabulary)])  # its length is what the plan reads of it
    w.add_tensor_info("weights", (elements,), gguf.GGMLQuantizationType.Q4_K, elements // block * size,
                      raw_dtype=gguf.GGMLQuantizationType.Q4_K)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    with open(path, "r+b") as f:  # the weights' place, as a hole: the header says where they end
        data = (f.seek(0, os.SEEK_END) + 31) // 32 * 32
        f.truncate(data + elements // block * size)


def main(folder: str) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    lines = [ROSTER_HEAD]
    for i, (name, shape) in enumerate(MODELS.items(), 1):
        path = out / f"{name}.Q4_K_M.gguf"
        stand_in(path, *shape)
        lines.append(f'[[agent]]\nname = "{name}"\nmodel = "{path}"\nseed = {i}\n')
    (out / "roster.toml").write_text("\n".join(lines))
    print(f"wrote {len(MODELS)} stand-ins and {out / 'roster.toml'}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "laptop")
