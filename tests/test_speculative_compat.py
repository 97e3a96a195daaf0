"""Speculative decoding set up with upstream's older names, per-request keys over HTTP, bad values.

tests/compat/test_speculative_requests.py shows what each per-request key does
(on ours and on upstream's wheel). Gemma drafts for itself here; the timings of a
reply carry ``draft_n`` only when tokens were drafted.
"""
from __future__ import annotations

from typing import Any

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


def test_a_draft_model_path_alone_turns_drafting_on(spec_server):
    drafted, predicted = _drafted(spec_server)
    assert drafted > predicted / 2  # up to 8 a step: most of the text was drafted


def test_the_same_keys_work_over_http(spec_server):
    url = spec_server.listening_address + "/v1/completions"
    body: dict[str, Any] = {"prompt": PROMPT, "max_tokens": N, "temperature": 0.0, "speculative.n_max": 0}
    reply = requests.post(url, json=body, timeout=300).json()
    assert reply["timings"]["predicted_n"] == N and "draft_n" not in reply["timings"]


def test_bad_per_request_values_are_refused(spec_server):
    url = spec_server.listening_address + "/v1/completions"
    cases: list[tuple[str, Any]] = [("speculative.n_max", -1), ("speculative.n_min", 1.5), ("speculative.p_min", 2.0),
                                    ("speculative.p_min", "high")]
    for key, value in cases:
        r = requests.post(url, json={"prompt": "Hi", "max_tokens": 2, key: value}, timeout=300)
        assert r.status_code == 400 and key in r.json()["error"]["message"], (key, value)
    assert "timings" in spec_server.handle_completions({"prompt": "Hi", "max_tokens": 2})  # still serving

