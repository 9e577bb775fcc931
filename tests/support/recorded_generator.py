"""A real Generator with every generate() call kept, for tests that look at what the model was given."""

from __future__ import annotations


class Recorded:
    """The real Generator (everything else is its own), with each call's prompt, token limit and result."""

    def __init__(self, gen):
        self.gen, self.calls = gen, []

    def __getattr__(self, name):
        return getattr(self.gen, name)

    @property
    def prompts(self) -> list:
        return [prompt for prompt, _, _ in self.calls]

    def generate(self, prompt, **kw):
        result = self.gen.generate(prompt, **kw)
        self.calls.append((prompt, kw.get("max_tokens"), result))
        return result
