"""Prompt-cache reuse: a repeated or extended prompt processes only what is new.

The unavoidable tail, per request: a prompt already wholly cached still evaluates its last
token (the logits to sample from), and a chat turn that resends the history also evaluates
the previous answer's last token, which was sampled but never decoded. So a repeat processes
1 token, and a turn its new tokens + 1.

Gemma 3 has sliding-window attention; with the small SWA cache llama-server falls back to a
context checkpoint 4 tokens before the previous prompt's end, and re-processes the rest.
xllamacpp turns swa_full on for such a model where the full-size cache at most doubles the
SWA layers' (n_ctx <= 2 * (n_swa + n_ubatch) per stream: 2048 here; xlc_model_defaults.cpp),
which keeps the whole prefix; the kit's MoE (a llama) has no SWA and keeps it anyway.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import pytest

import xllamacpp as xlc
from conftest import make_params

TINY = {"prompt": "The capital of France", "n_predict": 1}
TURNS = ["Hi, who are you?", "Tell me a fact about cats.", "And about dogs?", "Thanks. One more about birds."]
TAIL = 1  # the previous answer's last token, sampled and never decoded


def _params(model: str, **fields: Any) -> xlc.CommonParams:
    return make_params(model, n_parallel=1, port=-1, **fields)


def _tiny(server: xlc.Server) -> Tuple[List[int], List[str]]:
    """prompt_n and text of the same tiny request, three times."""
    prompt_n, texts = [], []
    for _ in range(3):
        r = server.handle_completions(TINY)
        prompt_n.append(r["timings"]["prompt_n"])
        texts.append(r["choices"][0]["text"])
    return prompt_n, texts


def _chat(server: xlc.Server) -> List[Dict[str, Any]]:
    """A chat that resends its whole history each turn: per turn, its new tokens, prompt_n, answer."""
    messages: List[Dict[str, str]] = []
    seen = 0  # tokens the cache has seen: the previous prompt and its answer
    out = []
    for text in TURNS:
        messages.append({"role": "user", "content": text})
        r = server.handle_chat_completions({"messages": messages, "max_tokens": 16})
        assert "error" not in r, r
        prompt_tokens = r["usage"]["prompt_tokens"]
        answer = r["choices"][0]["message"]["content"]
        out.append({"new": prompt_tokens - seen, "prompt_n": r["timings"]["prompt_n"], "answer": answer})
        messages.append({"role": "assistant", "content": answer})
        seen = prompt_tokens + r["usage"]["completion_tokens"]
    return out


def _assert_reuse(turns: List[Dict[str, Any]], tiny_prompt_n: List[int]) -> None:
    assert tiny_prompt_n[1:] == [1, 1], f"a repeated prompt re-processed more than its last token: {tiny_prompt_n}"
    for i, t in enumerate(turns[1:], 2):
        assert t["prompt_n"] <= t["new"] + TAIL, f"turn {i} processed {t['prompt_n']} tokens for {t['new']} new: {turns}"


@pytest.fixture(scope="module")
def gemma_default(model_path):
    with xlc.Server(_params(model_path)) as s:
        yield _tiny(s), _chat(s)


def test_gemma_repeat_and_turns_process_only_new_tokens(gemma_default):
    (prompt_n, _), turns = gemma_default
    _assert_reuse(turns, prompt_n)


def test_gemma_answers_unchanged_by_the_swa_full_default(model_path, gemma_default):
    # one step past the bound the small SWA cache stays: the same answers, and the tail again
    (_, texts), turns = gemma_default
    with xlc.Server(_params(model_path, n_ctx=2048 + 256)) as s:
        small_prompt_n, small_texts = _tiny(s)
        small_turns = _chat(s)
    assert small_texts == texts
    assert [t["answer"] for t in small_turns] == [t["answer"] for t in turns]
    assert small_prompt_n[1] > 1, "the small SWA cache re-processes the tail; if not, the default is not needed"


def test_moe_without_swa_repeat_and_turns_process_only_new_tokens(moe_model):
    with xlc.Server(_params(moe_model)) as s:
        prompt_n, _ = _tiny(s)
        turns = _chat(s)
    _assert_reuse(turns, prompt_n)
