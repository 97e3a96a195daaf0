"""A model file without a chat template gets llama.cpp's built-in template that its architecture
and vocabulary call for (cshim/src/xlc_chat_template.cpp); an explicit one wins."""
from __future__ import annotations

import logging

import xllamacpp as xlc
from conftest import make_params, wait_for_log

QUESTION = [{"role": "user", "content": "Hi"}]


def _prompt(s: xlc.Server) -> str:
    return s.handle("POST", "/apply-template", {"messages": QUESTION})["prompt"]


def test_the_default_model_gets_gemma_and_the_log_says_so(model_path, caplog):
    caplog.set_level(logging.INFO, logger="xllamacpp")
    with xlc.Server(make_params(model_path, n_parallel=1)) as s:
        assert wait_for_log(caplog, "using llama.cpp's built-in 'gemma' format (architecture gemma3")
        assert wait_for_log(caplog, "as llama.cpp's jinja template models/templates/google-gemma-2-2b-it.jinja")
        prompt = _prompt(s)
        assert "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n" in prompt, prompt
        assert "<|im_start|>" not in prompt
        reply = s.handle_chat_completions({"messages": QUESTION, "max_tokens": 48})
        text = reply["choices"][0]["message"]["content"]
        assert "<|im_end|>" not in text and "<|im_start|>" not in text, text


def test_an_explicit_chat_template_wins(model_path, caplog):
    caplog.set_level(logging.INFO, logger="xllamacpp")
    with xlc.Server(make_params(model_path, n_parallel=1, chat_template="chatml")) as s:
        assert "<|im_start|>user\nHi<|im_end|>" in _prompt(s)
        assert s.handle("GET", "/props")["chat_template"].startswith("{%")  # llama.cpp's jinja ChatML: jinja stays on
    assert not any("built-in" in r.getMessage() for r in caplog.records)


def test_a_kit_gemma3_gets_gemma_and_a_kit_llama_on_the_spm_vocabulary_gets_llama2(draft_model, moe_model):
    with xlc.Server(make_params(draft_model, n_parallel=1)) as s:
        assert "<start_of_turn>user\nHi<end_of_turn>" in _prompt(s)
    with xlc.Server(make_params(moe_model, n_parallel=1)) as s:
        prompt = _prompt(s)
        assert "[INST]" in prompt and "<|im_start|>" not in prompt, prompt  # llama2


def test_a_kit_llama_whose_vocabulary_fits_no_built_in_keeps_llama_cpp_s_fallback(fim_model, caplog):
    caplog.set_level(logging.INFO, logger="xllamacpp")
    with xlc.Server(make_params(fim_model, n_parallel=1)) as s:
        assert "<|im_start|>user\nHi<|im_end|>" in _prompt(s)  # the StarCoder vocabulary has none of their markers
    assert not any("built-in" in r.getMessage() for r in caplog.records)


def test_the_choice_keeps_jinja_so_tools_are_taken(model_path):
    with xlc.Server(make_params(model_path, n_parallel=1)) as s:
        assert "<start_of_turn>" in s.handle("GET", "/props")["chat_template"]
        r = s.handle_chat_completions({"messages": QUESTION, "max_tokens": 2, "tools": [
            {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]})
        assert r["choices"][0]["message"]["role"] == "assistant", r


def test_without_a_jinja_template_for_the_format_it_is_the_built_in_without_jinja(moe_model):
    with xlc.Server(make_params(moe_model, n_parallel=1)) as s:
        assert s.handle("GET", "/props")["chat_template"] == "llama2"  # llama.cpp ships no jinja llama2
