"""Speculative decoding through the names both sides have: a draft path alone, and the per-request keys.

The README's own examples use older names upstream's wheel dropped; this file
sets the draft model under ``speculative.draft`` (the wheel's name, and today's
llama.cpp's) so that what the README promises can be compared on both sides.
Gemma drafts for itself, greedy; ``draft_n`` in the timings counts drafted tokens.
"""
from __future__ import annotations

import pytest

import xllamacpp as xlc

from ._side import NEWEST, OLDER
from ._side import close, small_params

NO_DRAFTING = ("a draft model path alone no longer turns drafting on, which its README says it does "
               "(speculative.types stays NONE): nothing is drafted")
PROMPT = "The capital of France is Paris. The capital of Germany is Berlin. The capital of Italy is"
N = 16


@pytest.fixture(scope="module")
def server(gemma):
    params = small_params(gemma)
    params.sampling.temp = 0.0
    params.sampling.top_k = 1
    params.speculative.draft.mparams.path = gemma  # no speculative.type: the path alone
    params.speculative.draft.n_max = 8
    params.speculative.draft.p_min = 0.0
    s = xlc.Server(params)
    yield s
    close(s)


def _drafted(server, **extra) -> int:
    reply = server.handle_completions({"prompt": PROMPT, "max_tokens": N, "temperature": 0.0, **extra})
    assert reply["timings"]["predicted_n"] == N
    return reply["timings"].get("draft_n", 0)


@pytest.mark.upstream_differs(NEWEST, NO_DRAFTING)
def test_a_draft_path_alone_drafts(server):
    assert _drafted(server) > N / 2


@pytest.mark.upstream_differs(NEWEST, NO_DRAFTING)
def test_per_request_n_max(server):
    assert 0 < _drafted(server, **{"speculative.n_max": 1}) <= N / 2 + 1
    assert _drafted(server, **{"speculative.n_max": 0}) == 0


@pytest.mark.upstream_differs(OLDER, "takes a per-request speculative.n_min without effect: drafts shorter than it are used")
def test_per_request_n_min(server):
    assert _drafted(server, **{"speculative.n_max": 4, "speculative.n_min": 5}) == 0


@pytest.mark.upstream_differs(OLDER, "takes a per-request speculative.p_min without effect")
@pytest.mark.upstream_differs(NEWEST, NO_DRAFTING)
def test_per_request_p_min(server):
    assert _drafted(server, **{"speculative.p_min": 1.0}) < _drafted(server) / 4
