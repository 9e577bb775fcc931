"""Chat templates: a model's own (checked at start-up), a plain document for a base model, a clear error for a
template that cannot be rendered; on the bundled models and on copies of SmolLM2 whose template is missing or
broken (written with the `gguf` package)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.agent.chat_template import ChatTemplate, check_before_start
from services.agent.llm import Generator
from services.agent.models import ModelError, resolve
from tests.support.gguf_copies import copy_gguf

CHATML = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
NO_SYSTEM = ("{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}"
             "{% endif %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
             "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
BROKEN = {
    "syntax": ("{% for m in messages %}{{ m.content }", "not valid Jinja (line 1"),
    "raises": ("{{ raise_exception('this template takes no conversation') }}",
               "raises ValueError: this template takes no conversation"),
    "undefined": ("{{ messages[0].content.nope.deeper }}", "raises UndefinedError"),
    "drops": ("<|im_start|>assistant\n", "drops the user message"),
}


def template(source: str) -> ChatTemplate:
    return ChatTemplate(source, model="m.gguf", bos="<s>", eos="</s>")


def test_a_template_with_a_system_turn_renders_both_messages():
    t = template(CHATML)
    assert t.system_turn
    assert t.prompt("be brief", "hello") == ("<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhello"
                                             "<|im_end|>\n<|im_start|>assistant\n")


def test_a_template_that_refuses_a_system_turn_gets_one_user_message():
    t = template(NO_SYSTEM)
    assert not t.system_turn
    assert t.prompt("be brief", "hello") == "<|im_start|>user\nbe brief\n\nhello<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.parametrize("what", sorted(BROKEN))
def test_a_template_that_cannot_be_rendered_names_the_model_and_the_fix(what):
    source, words = BROKEN[what]
    with pytest.raises(ModelError) as err:
        template(source)
    message = str(err.value)
    assert message.startswith("model m.gguf: its chat template") and words in message
    assert "gguf-new-metadata IN.gguf OUT.gguf --chat-template-file" in message
    assert ('set chat = "raw"' in message) == (what != "syntax")  # llama-cpp-python cannot load that one at all


# ---------------------------------------------------------------------------------- real models

@pytest.fixture(scope="module")
def smol_path() -> Path:
    return resolve("smollm2-135m", Path("/nonexistent-data-dir"))


@pytest.fixture(scope="module")
def copies(smol_path, tmp_path_factory):
    """copies(kind) -> SmolLM2 with its template removed ("missing") or replaced by a broken one; made once."""
    folder, made = tmp_path_factory.mktemp("templates"), {}

    def get(kind: str) -> Path:
        if kind not in made:
            value = None if kind == "missing" else BROKEN[kind][0]
            (made[kind],) = copy_gguf(smol_path, folder / f"smol-{kind}.gguf", {"tokenizer.chat_template": value})
        return made[kind]

    return get


def test_smollm2_prompts_with_its_own_template(smol_path):
    with Generator(smol_path, n_ctx=256, n_threads=1) as gen:
        assert gen.mode == "template" and gen._template.system_turn
        prompt = gen.format("be brief", "hello")
        assert prompt.startswith("<|im_start|>system\nbe brief") and prompt.endswith("<|im_start|>assistant\n")


def test_gemma_has_no_template_and_reads_a_plain_document(model_paths):
    with Generator(model_paths("gemma3-270m"), n_ctx=256, n_threads=1) as gen:
        assert gen.mode == "raw" and gen._template is None
        assert gen.format("be brief", "hello", cue="Ops:") == "be brief\n\nhello\n\nOps:\n"


def test_a_model_without_a_template_reads_a_plain_document_unless_the_roster_asks_for_one(copies):
    path = copies("missing")
    with Generator(path, n_ctx=256, n_threads=1) as gen:
        assert gen.mode == "raw"
        assert gen.generate(gen.format("be brief", "hello"), max_tokens=4).tokens >= 1
    with pytest.raises(ModelError, match="no chat template") as err:
        Generator(path, n_ctx=256, n_threads=1, chat="template")
    assert str(path) in str(err.value)


def test_a_template_that_raises_fails_at_start_up_naming_the_model(copies):
    path = copies("raises")
    with pytest.raises(ModelError) as err:
        Generator(path, n_ctx=256, n_threads=1)
    message = str(err.value)
    assert f"model {path} (Smollm2 135M" in message and BROKEN["raises"][1] in message
    # The first fix the message gives works: the same model as a plain document.
    with Generator(path, n_ctx=256, n_threads=1, chat="raw") as gen:
        assert gen.mode == "raw"
        assert gen.generate(gen.format("be brief", "hello"), max_tokens=4).tokens >= 1


def test_a_template_that_is_not_jinja_fails_at_load_naming_the_model(copies):
    """llama-cpp-python compiles the GGUF's templates as it loads the model, whatever `chat` says."""
    path = copies("syntax")
    for chat in ("auto", "raw"):
        with pytest.raises(ModelError) as err:
            Generator(path, n_ctx=256, n_threads=1, chat=chat)
        message = str(err.value)
        assert f"model {path}:" in message and BROKEN["syntax"][1] in message and "gguf-new-metadata" in message


def test_aurora_up_finds_a_template_that_cannot_be_rendered_before_it_starts_anything(smol_path, copies):
    """From the header alone (no model loaded), as `aurora up` checks every agent's model first."""
    check_before_start(smol_path, "auto")
    check_before_start(copies("missing"), "auto")
    check_before_start(copies("raises"), "raw")  # the roster's fix: a plain document
    with pytest.raises(ModelError, match=BROKEN["raises"][1]):
        check_before_start(copies("raises"), "auto")
    for chat in ("auto", "raw"):
        with pytest.raises(ModelError, match="gguf-new-metadata"):
            check_before_start(copies("syntax"), chat)
