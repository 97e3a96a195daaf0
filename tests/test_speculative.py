"""Speculative decoding on gemma3 270M: with a draft model (the kit's, or gemma itself) and with
n-grams. Greedy output must be the output without speculation; the timings count the drafts.

Every server here sets ``no_extra_bufts`` (llama-server's --no-repack): CPU weight repacking
computes a batch of tokens with other kernels than one token, so verifying a draft in one
batch can round a near-tie the other way and change greedy text. Without repacking the
kernels agree and the equality below is exact.
"""
from __future__ import annotations

import pytest
import requests

import xllamacpp as xlc
from conftest import make_params, wait_for_log

SPEC = xlc.common_speculative_type
PROMPT = "The capital of France is"
COUNTING = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2, 3,"
N = 16


def _params(model_path: str, spec_type=None, draft: str | None = None, **fields):
    params = make_params(model_path, n_parallel=1, no_extra_bufts=True, **fields)
    if draft is not None:
        params.speculative.draft.mparams.path = draft
    if spec_type is not None:
        params.speculative.types = [spec_type]  # a draft path alone drafts nothing yet (#15)
    return params


def _complete(server: xlc.Server, prompt: str) -> dict:
    r = server.handle_completions({"prompt": prompt, "max_tokens": N})
    assert "error" not in r, r
    return r


@pytest.fixture(scope="module")
def plain(model_path):
    with xlc.Server(_params(model_path)) as s:
        yield {p: _complete(s, p)["choices"][0]["text"] for p in (PROMPT, COUNTING)}


def test_a_tiny_draft_model_drafts_and_changes_nothing(model_path, draft_model, plain):
    with xlc.Server(_params(model_path, SPEC.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE, draft_model)) as s:
        assert s.handle("GET", "/slots")[0]["speculative"] is True
        r = _complete(s, PROMPT)
    assert r["choices"][0]["text"] == plain[PROMPT]
    t = r["timings"]
    assert t["draft_n"] > 0 and 0 <= t["draft_n_accepted"] <= t["draft_n"]


def test_the_target_as_its_own_draft_gets_every_draft_accepted(model_path, plain):
    with xlc.Server(_params(model_path, SPEC.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE, model_path,
                            speculative__draft__n_max=4)) as s:
        r = _complete(s, PROMPT)
        over_http = requests.post(s.listening_address + "/completion",
                                  json={"prompt": PROMPT, "n_predict": N}, timeout=120).json()
    assert r["choices"][0]["text"] == plain[PROMPT] == over_http["content"]
    t = r["timings"]
    assert t["draft_n"] > 0 and t["draft_n_accepted"] == t["draft_n"]
    # drafted tokens were verified in batches: fewer target decodes than generated tokens
    assert t["draft_n_accepted"] >= N // 2


def test_ngram_lookup_drafts_from_the_context(model_path, plain):
    params = _params(model_path, SPEC.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE,
                     speculative__ngram_simple__size_n=4, speculative__ngram_simple__size_m=8)
    with xlc.Server(params) as s:
        counting = _complete(s, COUNTING)
        other = _complete(s, PROMPT)
    assert counting["choices"][0]["text"] == plain[COUNTING]
    assert other["choices"][0]["text"] == plain[PROMPT]
    t = counting["timings"]
    assert t["draft_n"] > 0 and 0 < t["draft_n_accepted"] <= t["draft_n"]


def test_an_incompatible_draft_model_is_dropped_with_a_warning(model_path, moe_model, caplog):
    """The MoE's llama SPM vocabulary is not gemma's: llama-server serves without speculation
    and says so in the log, as it does on the command line."""
    with xlc.Server(_params(model_path, SPEC.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE, moe_model)) as s:
        assert s.handle("GET", "/slots")[0]["speculative"] is False
        r = _complete(s, "Hi")
    assert "draft_n" not in r["timings"]
    assert wait_for_log(caplog, "vocabs are not compatible")


def test_a_missing_draft_model_is_an_error_naming_it(model_path, tmp_path):
    missing = str(tmp_path / "draft.gguf")
    with pytest.raises(RuntimeError, match="draft model"):
        xlc.Server(_params(model_path, SPEC.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE, missing))
