"""Requests upstream refuses by raising, and the ones it answers with an error object.

In-process, upstream's handle_* raise when llama-server's handler refuses a
request outright (std::invalid_argument as ValueError, anything else as
RuntimeError) and return the error object when the refusal comes from the task.
The message is the error object's.
"""
from __future__ import annotations

import pytest

import xllamacpp as xlc

from ._side import OLDER
from ._side import close, small_params

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def server(gemma):
    params = small_params(gemma)
    s = xlc.Server(params)
    yield s
    close(s)


@pytest.mark.parametrize("request_, message", [
    ({"max_tokens": 4}, "'messages' is required"),
    ({"messages": "hi", "max_tokens": 4}, "messages"),
    ({"messages": MESSAGES, "response_format": {"type": "bogus"}, "max_tokens": 4}, "response_format"),
])
def test_chat_requests_refused_raise_value_error(server, request_, message):
    with pytest.raises(ValueError, match=message):
        server.handle_chat_completions(request_)


def test_json_schema_with_grammar_raises_runtime_error(server):
    with pytest.raises(RuntimeError, match="json_schema and grammar"):
        server.handle_chat_completions({"messages": MESSAGES, "json_schema": {"type": "object"},
                                        "grammar": 'root ::= "a"', "max_tokens": 4})


@pytest.mark.parametrize("method", ["handle_completions", "handle_chat_completions"])
def test_invalid_json_raises_runtime_error(server, method):
    seen: list[object] = []
    with pytest.raises(RuntimeError, match="parse error"):
        getattr(server, method)("{not json", seen.append)
    assert seen == []


def test_a_streamed_request_refused_raises_before_any_chunk(server):
    seen: list[object] = []
    with pytest.raises(ValueError, match="'messages' is required"):
        server.handle_chat_completions({"stream": True}, seen.append)
    assert seen == []


def test_errors_of_the_task_come_back_as_the_error_object(server):
    reply = server.handle_completions({"max_tokens": 4})  # no prompt
    assert reply["error"]["code"] == 400 and "prompt" in reply["error"]["message"]
    reply = server.handle_embeddings({"input": "hi"})  # not an embedding server
    assert reply["error"]["code"] == 501


def test_the_server_serves_on_after_a_refusal(server):
    with pytest.raises(ValueError):
        server.handle_chat_completions({"max_tokens": 4})
    reply = server.handle_completions({"prompt": "Hello", "max_tokens": 2})
    assert reply["usage"]["completion_tokens"] == 2


@pytest.mark.upstream_differs(OLDER, "answers invalid JSON with 500, as if the server were at fault")
def test_invalid_json_over_http_is_the_clients_fault(server):
    import requests

    r = requests.post(server.listening_address + "/v1/chat/completions", data="{not json",
                      headers={"Content-Type": "application/json"}, timeout=300)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_refusals_over_http_stay_json_errors(server):
    import requests

    r = requests.post(server.listening_address + "/v1/chat/completions", json={"max_tokens": 4}, timeout=300)
    assert r.status_code == 400 and "'messages' is required" in r.json()["error"]["message"]
