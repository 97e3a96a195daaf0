"""The same server over HTTP: llama-server's endpoints, the openai and anthropic clients, API keys."""
from __future__ import annotations

import json

import pytest
import requests

import xllamacpp as xlc
from conftest import make_params


@pytest.fixture(scope="module")
def base(server):
    return server.listening_address


def test_listening_address_is_http_loopback(base):
    assert base.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("path", ["/health", "/v1/health", "/models", "/v1/models", "/props", "/slots", "/lora-adapters"])
def test_get_endpoints(base, path):
    r = requests.get(base + path, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json() is not None


def test_metrics_endpoint(base, server):
    requests.post(base + "/completion", json={"prompt": "Hi", "n_predict": 2}, timeout=60)
    r = requests.get(base + "/metrics", timeout=30)
    assert r.status_code == 200 and "llamacpp:prompt_seconds_total" in r.text


@pytest.mark.parametrize("path, body, key", [
    ("/completion", {"prompt": "Hi", "n_predict": 2}, "content"),
    ("/completions", {"prompt": "Hi", "n_predict": 2}, "content"),
    ("/v1/completions", {"prompt": "Hi", "max_tokens": 2}, "choices"),
    ("/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}, "choices"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}, "choices"),
    ("/v1/responses", {"input": "Hi", "max_output_tokens": 2}, "output"),
    ("/v1/messages", {"model": "x", "max_tokens": 2, "messages": [{"role": "user", "content": "Hi"}]}, "content"),
    ("/v1/messages/count_tokens", {"model": "x", "messages": [{"role": "user", "content": "Hi"}]}, "input_tokens"),
    ("/v1/chat/completions/input_tokens", {"messages": [{"role": "user", "content": "Hi"}]}, "input_tokens"),
    ("/tokenize", {"content": "hello"}, "tokens"),
    ("/detokenize", {"tokens": [23391]}, "content"),
    ("/apply-template", {"messages": [{"role": "user", "content": "Hi"}]}, "prompt"),
])
def test_post_endpoints(base, path, body, key):
    r = requests.post(base + path, json=body, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()[key]


def test_infill_without_fim_tokens_is_refused(base):
    r = requests.post(base + "/infill", json={"input_prefix": "def f(", "input_suffix": "):", "n_predict": 2}, timeout=60)
    assert r.status_code == 501 and "prefix token is missing" in r.json()["error"]["message"]


def test_embeddings_and_rerank_are_refused_without_the_mode(base):
    r = requests.post(base + "/v1/embeddings", json={"input": "hi"}, timeout=30)
    assert r.status_code == 501 and "--embeddings" in r.json()["error"]["message"]
    r = requests.post(base + "/v1/rerank", json={"query": "a", "documents": ["b"]}, timeout=30)
    assert r.status_code == 501 and "--reranking" in r.json()["error"]["message"]


def test_bad_requests_are_4xx_json(base):
    r = requests.post(base + "/v1/chat/completions", data=b"{not json", timeout=30,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["message"]
    r = requests.post(base + "/v1/completions", json={"prompt": "x", "max_tokens": "many"}, timeout=30)
    assert r.status_code == 400 and "max_tokens" in r.json()["error"]["message"]
    r = requests.get(base + "/no-such-route", timeout=30)
    assert r.status_code == 404
    # and the server still serves
    assert requests.get(base + "/health", timeout=30).status_code == 200


def test_streaming_over_http_is_server_sent_events(base):
    with requests.post(base + "/v1/chat/completions", stream=True, timeout=60,
                       json={"messages": [{"role": "user", "content": "Count"}], "max_tokens": 8, "stream": True}) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line.startswith(b"data: ")]
    assert events[-1] == b"data: [DONE]"
    assert json.loads(events[0][6:])["object"] == "chat.completion.chunk"


def test_openai_client(base):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=base + "/v1", api_key="unused")
    models = client.models.list()
    assert models.data and models.data[0].id
    chat = client.chat.completions.create(model=models.data[0].id, messages=[{"role": "user", "content": "Hi"}],
                                          max_tokens=8, temperature=0)
    assert chat.choices[0].message.role == "assistant"
    stream = client.chat.completions.create(model="x", messages=[{"role": "user", "content": "Count"}],
                                            max_tokens=8, stream=True)
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(pieces)
    comp = client.completions.create(model="x", prompt="The capital of France is", max_tokens=4)
    assert comp.choices[0].text


def test_anthropic_client(base):
    anthropic = pytest.importorskip("anthropic")
    client = anthropic.Anthropic(base_url=base, api_key="unused")
    msg = client.messages.create(model="x", max_tokens=8, messages=[{"role": "user", "content": "Hi"}])
    assert msg.role == "assistant" and msg.content[0].type == "text"
    with client.messages.stream(model="x", max_tokens=8, messages=[{"role": "user", "content": "Count"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.stop_reason in ("max_tokens", "end_turn")


def test_api_keys_are_enforced(model_path):
    with xlc.Server(make_params(model_path, api_keys=["sekret"])) as s:
        base = s.listening_address
        assert requests.get(base + "/health", timeout=30).status_code == 200  # public, as in llama-server
        r = requests.get(base + "/v1/models", timeout=30)
        assert r.status_code == 401 and r.json()["error"]["message"]
        r = requests.get(base + "/v1/models", headers={"Authorization": "Bearer wrong"}, timeout=30)
        assert r.status_code == 401
        r = requests.get(base + "/v1/models", headers={"Authorization": "Bearer sekret"}, timeout=30)
        assert r.status_code == 200
        r = requests.get(base + "/v1/models", headers={"X-Api-Key": "sekret"}, timeout=30)
        assert r.status_code == 200
        # in-process calls are trusted: no key needed
        assert s.handle("GET", "/v1/models")["data"]


def test_http_and_in_process_share_one_route_table(server, base):
    a = server.handle("POST", "/tokenize", {"content": "same answer"})
    b = requests.post(base + "/tokenize", json={"content": "same answer"}, timeout=30).json()
    assert a == b
