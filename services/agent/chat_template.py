"""A model's own chat template (Jinja, from its GGUF's `tokenizer.chat_template`), checked when the model loads.

A template is code written by whoever made the GGUF: it may not compile, may raise (`raise_exception`, an
undefined name) on the conversation an agent gives it, or may drop a message. Each is found here, by rendering
a conversation whose contents are markers, when the agent starts, so a model that cannot be prompted fails
with a ModelError that names it and says what to do, not in the middle of a run.
"""

from __future__ import annotations

import jinja2
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from services.agent.models import ModelError

_SYSTEM, _USER = "\x00system\x00", "\x00user\x00"
REWRITE = ("write a working template into a copy of the GGUF with `gguf-new-metadata IN.gguf OUT.gguf "
           "--chat-template-file TEMPLATE.jinja` (from the gguf package)")


def syntax_error(model: str, exc: jinja2.TemplateSyntaxError) -> ModelError:
    """llama-cpp-python compiles every template of a GGUF when it loads it, so the model cannot be loaded at
    all, whatever the roster's `chat`: only a copy with another template helps."""
    return ModelError(f"model {model}: its chat template is not valid Jinja (line {exc.lineno}: {exc.message}), "
                      f"and llama-cpp-python compiles it whenever it loads the model; {REWRITE}")


class ChatTemplate:
    """Renders a system text and a user text as one conversation that asks for the model's answer.

    `system_turn`: the template takes a system message; when it refuses one (some raise on it, some drop it),
    the system text and the user text are given as one user message."""

    def __init__(self, source: str, *, model: str, bos: str, eos: str):
        fix = f'set chat = "raw" for this agent in your roster (the prompt is then a plain document), or {REWRITE}'
        try:
            self._formatter = Jinja2ChatFormatter(source, eos_token=eos, bos_token=bos, add_generation_prompt=True)
        except jinja2.TemplateSyntaxError as exc:
            raise syntax_error(model, exc) from None
        problems: list[str] = []
        self.system_turn = self._renders([_SYSTEM, _USER], problems)
        if not self.system_turn and not self._renders([_USER], problems):
            raise ModelError(f"model {model}: its chat template cannot be rendered ({'; '.join(problems)}); {fix}")

    def _renders(self, contents: list[str], problems: list[str]) -> bool:
        roles = ["system", "user"][-len(contents):]
        try:
            text = self.render([{"role": r, "content": c} for r, c in zip(roles, contents)])
        except Exception as exc:  # the template's own code: any error it raises is the template's
            problems.append(f"with {' and '.join(roles)} messages it raises {type(exc).__name__}: {exc}")
            return False
        lost = [r for r, c in zip(roles, contents) if c not in text]
        if lost:
            problems.append(f"it drops the {' and '.join(lost)} message")
            return False
        return True

    def render(self, messages: list[dict[str, str]]) -> str:
        return self._formatter(messages=messages).prompt

    def messages(self, system: str, user: str) -> list[dict[str, str]]:
        if self.system_turn:
            return [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return [{"role": "user", "content": f"{system}\n\n{user}"}]

    def prompt(self, system: str, user: str) -> str:
        return self.render(self.messages(system, user))


def check_before_start(model_path, chat: str) -> None:
    """The check an agent makes when its model loads, made by `aurora up` before it starts anything, from the
    GGUF header alone (no model loaded): a template that cannot be rendered stops the studio at once, naming
    the model, instead of an agent failing at each restart. The begin and end tokens are left empty here;
    the agent renders with the model's own."""
    from services.agent.models import check_gguf
    source = check_gguf(model_path).metadata.get("tokenizer.chat_template")
    if not isinstance(source, str) or not source:
        return
    if chat != "raw":
        ChatTemplate(source, model=str(model_path), bos="", eos="")
        return
    try:  # a plain document is asked for, but llama-cpp-python still compiles the template as it loads
        Jinja2ChatFormatter(source, eos_token="", bos_token="")
    except jinja2.TemplateSyntaxError as exc:
        raise syntax_error(str(model_path), exc) from None
