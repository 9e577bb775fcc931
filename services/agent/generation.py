"""What every generator of an agent shares: its sampling settings and what one generation returns
(services/agent/llm.py runs a model in-process, services/agent/server_backend.py asks an inference server)."""

from __future__ import annotations

from dataclasses import dataclass, field

SAMPLING_DEFAULTS: dict[str, float] = {
    "temperature": 0.8, "top_p": 0.95, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1,
}


def sampling_settings(sampling: dict[str, float] | None) -> dict[str, float]:
    """`sampling` over the defaults; ValueError names any key that is not a sampling setting."""
    unknown = set(sampling or {}) - set(SAMPLING_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown sampling key(s) {', '.join(sorted(unknown))}; known: {', '.join(SAMPLING_DEFAULTS)}")
    return {**SAMPLING_DEFAULTS, **(sampling or {})}


@dataclass
class GenerationResult:
    text: str            # the generated text, never a special token (see `generate` for a cut one)
    tokens: int          # tokens generated
    prompt_tokens: int   # tokens in the prompt
    ttft_s: float        # from the call to the first generated token (tokenizing and prefill included)
    total_s: float
    stopped: bool        # stop() returned True
    finish: str = "eos"  # "eos" (the model or the grammar ended it), "length" (max_tokens or context), "stop"
    reused_tokens: int = 0  # prompt tokens whose KV cache was kept from the previous call
    ids: list[int] = field(default_factory=list)  # the generated tokens (an end token is never among them)
