"""Infill (/infill): fill-in-the-middle on a vocabulary with FIM tokens, a clear refusal without."""
from __future__ import annotations

from typing import Any

import pytest
import requests

import xllamacpp as xlc
from conftest import make_params

BODY: dict[str, Any] = {"input_prefix": "def add(a, b):\n    return ", "input_suffix": "\n\nprint(add(1, 2))\n", "n_predict": 6}


@pytest.fixture(scope="module")
def coder(fim_model):
    # n_batch below n_ctx: llama-server gives input_extra only the context a batch leaves free
    with xlc.Server(make_params(fim_model, n_parallel=1, n_batch=512)) as s:
        yield s


def test_infill_builds_a_fim_prompt_and_generates(coder):
    r = coder.handle("POST", "/infill", BODY)
    assert "error" not in r, r
    assert r["tokens_predicted"] == 6 and r["content"]
    prompt = r["prompt"]
    pre, suf, mid = prompt.find("<fim_prefix>"), prompt.find("<fim_suffix>"), prompt.find("<fim_middle>")
    assert 0 <= pre < suf < mid and prompt.endswith("<fim_middle>")
    assert BODY["input_prefix"] in prompt[pre:suf] and BODY["input_suffix"] in prompt[suf:mid]


def test_infill_takes_extra_context_files(coder):
    r = coder.handle("POST", "/infill", {**BODY, "input_extra": [{"filename": "util.py", "text": "X = 1\n"}]})
    assert "error" not in r, r
    # without a file-separator token in the vocabulary, chunks go in as "--- snippet ---" blocks
    assert 0 <= r["prompt"].find("X = 1") < r["prompt"].find("<fim_prefix>")


def test_infill_over_http(coder):
    r = requests.post(coder.listening_address + "/infill", json=BODY, timeout=60)
    assert r.status_code == 200 and r.json()["tokens_predicted"] == 6


@pytest.mark.parametrize("body, message", [
    ({"input_suffix": "x"}, "input_prefix"),
    ({"input_prefix": "x"}, "input_suffix"),
    ({**BODY, "input_extra": "not a list"}, "input_extra"),
    ({**BODY, "input_extra": [{"filename": "a.py"}]}, "text"),
])
def test_bad_infill_requests_are_400(coder, body, message):
    r = coder.handle("POST", "/infill", body)
    assert r["error"]["code"] == 400 and message in r["error"]["message"]


def test_a_model_without_fim_tokens_refuses_infill_clearly(server):
    """gemma3's vocabulary has no FIM tokens."""
    r = server.handle("POST", "/infill", BODY)
    assert r["error"]["code"] == 501
    assert "Infill is not supported by this model" in r["error"]["message"]
    assert "prefix token is missing" in r["error"]["message"]
