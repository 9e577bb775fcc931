"""One agent's context, grown turn by turn so that the model reads each thing once.

The first turn (and the first after a restart) is the whole prompt: manual, memory, canvas, state, clock
(`services.agent.prompt.user_text`). Each later turn appends to what the model already read: its own
generated ops (their tokens are in the KV cache already), then, in the model's turn format
(`Generator.joint`), only what is new (`services.agent.prompt.news_text`). llama.cpp keeps the KV cache of
everything before, so a turn evaluates only its news.

When the next turn would not fit the context, the context starts again from a fresh full prompt (a restart;
the agent counts them). A model whose chat template cannot be grown (it renders earlier turns otherwise the
second time) starts afresh every turn.

The context's text is kept beside its tokens, and so is the studio's text alone (the context without the
model's answers), with the agent's own words that the studio repeats in it (its memory, titles, dreams), so
that an echo can tell repeating oneself from copying the studio.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TurnContext:
    size: int                     # the model's context, in tokens
    tokens: list[int] = field(default_factory=list)  # what the model has read and written, in order
    text: str = ""                # the same, as text
    studio: str = ""              # the text without the model's answers
    own: list[str] = field(default_factory=list)     # the agent's own words in `studio` (memory, titles, dreams)
    started: bool = False
    seen_view: str = ""           # the canvas, state and clock as the model last read them
    seen_state: dict = field(default_factory=dict)
    seen_time: float | None = None  # when the model last read the clock (a turn says it again on a new minute)

    def start(self, tokens: list[int], text: str, own: list[str]) -> None:
        self.started = True
        self.tokens, self.text, self.studio, self.own = list(tokens), text, text, [part for part in own if part]

    def fits(self, more: int, answer: int) -> bool:
        return len(self.tokens) + more + answer <= self.size

    def extend(self, tokens: list[int], text: str, own: list[str] = ()) -> None:
        """What the studio says next (its `own` parts are the agent's words it repeats, e.g. a title)."""
        self.tokens += tokens
        self.text += text
        self.studio += text
        self.own += [part for part in own if part]

    def answered(self, tokens: list[int], text: str) -> None:
        """The model's own answer, as generated (its tokens are already in the KV cache)."""
        self.tokens += tokens
        self.text += text

    def saw(self, view: str, state: dict, now: float) -> None:
        self.seen_view, self.seen_state, self.seen_time = view, dict(state), now
