"""Server calls the way upstream code writes them: keyword names, request forms, callbacks."""
from __future__ import annotations

import json

import pytest

import xllamacpp as xlc

from ._side import close, small_params


@pytest.fixture(scope="module")
def server(gemma):
    params = small_params(gemma)
    s = xlc.Server(common_params=params)  # upstream's keyword
    yield s
    close(s)


def test_keyword_prompt(server):
    result = server.handle_completions(prompt={"prompt": "Hello", "max_tokens": 2})
    assert result["usage"]["completion_tokens"] == 2
    result = server.handle_chat_completions(prompt={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2})
    assert result["choices"][0]["message"]["role"] == "assistant"


@pytest.mark.parametrize("stop_value", [True, 1, "stop", [0]])
def test_any_true_callback_result_stops_the_stream(server, stop_value):
    seen = []

    def callback(chunk):
        seen.append(chunk)
        return stop_value

    server.handle_completions({"prompt": "Once upon a time", "max_tokens": 32, "stream": True}, callback)
    assert len(seen) == 1


def test_false_callback_results_go_on(server):
    seen = []
    server.handle_completions({"prompt": "Once upon a time", "max_tokens": 8, "stream": True},
                              lambda chunk: seen.append(chunk) or 0)
    assert len(seen) > 2


def test_str_and_bytes_requests_answer_in_kind_through_the_callback(server):
    texts: list[str] = []
    blobs: list[bytes] = []
    server.handle_completions(json.dumps({"prompt": "Hello", "max_tokens": 2}), texts.append)
    server.handle_completions(json.dumps({"prompt": "Hello", "max_tokens": 2}).encode(), blobs.append)
    assert len(texts) == 1 and isinstance(texts[0], str) and json.loads(texts[0])["usage"]["completion_tokens"] == 2
    assert len(blobs) == 1 and isinstance(blobs[0], bytes) and json.loads(blobs[0])["object"] == "text_completion"


def test_a_stream_or_a_str_request_needs_a_callback(server):
    with pytest.raises(ValueError, match="requires a callback"):
        server.handle_completions({"prompt": "Hello", "stream": True})
    with pytest.raises(ValueError, match="requires a callback"):
        server.handle_chat_completions(json.dumps({"messages": []}))


def test_embeddings_str_in_str_out(server):
    reply = server.handle_embeddings(json.dumps({"input": "hi"}))
    assert isinstance(reply, str) and json.loads(reply)["error"]["code"] == 501  # not an embedding model


def test_metrics_text(server):
    text = server.handle_metrics()
    assert isinstance(text, str) and "metrics" in text  # refused without endpoint_metrics, as upstream


def test_listening_address(server):
    assert server.listening_address.startswith("http://127.0.0.1:")
