"""Speculative decoding the way upstream's README drives it: a draft model path alone, per-request keys.

Gemma drafts for itself here: the same vocabulary and, greedy, the same tokens, so
every draft is accepted and the number of drafted tokens shows how long each draft
was allowed to be. The timings of a reply carry ``draft_n`` only when tokens were
drafted.
"""
from __future__ import annotations

import pytest
import requests

import xllamacpp as xlc

from conftest import make_params

PROMPT = "The capital of France is Paris. The capital of Germany is Berlin. The capital of Italy is"
N = 16


@pytest.fixture(scope="module")
def spec_server(model_path):
    p = make_params(model_path, n_ctx=1024)
    p.speculative.mparams_dft.path = model_path  # upstream's older name; no speculative.type set
    p.speculative.n_max = 8
    p.speculative.n_min = 0
    p.speculative.p_min = 0.0
    p.speculative.cpuparams.n_threads = 2
    with xlc.Server(p) as s:
        yield s


def _drafted(server, **extra) -> tuple[int, int]:
    r = server.handle_completions({"prompt": PROMPT, "max_tokens": N, "temperature": 0.0, **extra})
    assert "error" not in r, r
    return r["timings"].get("draft_n", 0), r["timings"]["predicted_n"]


@pytest.fixture(scope="module")
def baseline(spec_server) -> tuple[int, int]:
    """Tokens drafted and predicted with the server's own settings (n_max 8, p_min 0)."""
    return _drafted(spec_server)


def test_a_draft_model_path_alone_turns_drafting_on(baseline):
    drafted, predicted = baseline
    assert drafted > predicted / 2  # up to 8 a step: most of the text was drafted


def test_per_request_n_max_caps_each_draft(spec_server, baseline):
    one, predicted = _drafted(spec_server, **{"speculative.n_max": 1})
    assert 0 < one <= predicted / 2 + 1  # one token a step, each accepted along with the step's own
    assert one < baseline[0]
    assert _drafted(spec_server, **{"speculative.n_max": 0})[0] == 0


def test_per_request_n_min_drops_short_drafts(spec_server):
    assert _drafted(spec_server, **{"speculative.n_max": 4, "speculative.n_min": 5})[0] == 0  # none reaches 5


def test_per_request_p_min_decides_the_drafts_confidence(spec_server, baseline):
    strict, _ = _drafted(spec_server, **{"speculative.p_min": 1.0})
    assert strict < baseline[0] / 4  # only what the draft model is certain of


def test_the_same_keys_work_over_http(spec_server):
    url = spec_server.listening_address + "/v1/completions"
    body = {"prompt": PROMPT, "max_tokens": N, "temperature": 0.0, "speculative.n_max": 0}
    reply = requests.post(url, json=body, timeout=300).json()
    assert reply["timings"]["predicted_n"] == N and "draft_n" not in reply["timings"]


def test_bad_per_request_values_are_refused(spec_server):
    url = spec_server.listening_address + "/v1/completions"
    for key, value in [("speculative.n_max", -1), ("speculative.n_min", 1.5), ("speculative.p_min", 2.0),
                       ("speculative.p_min", "high")]:
        r = requests.post(url, json={"prompt": "Hi", "max_tokens": 2, key: value}, timeout=300)
        assert r.status_code == 400 and key in r.json()["error"]["message"], (key, value)
    assert "timings" in spec_server.handle_completions({"prompt": "Hi", "max_tokens": 2})  # still serving

