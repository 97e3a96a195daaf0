"""Every Python example of upstream xllamacpp's README, with its names, on our models.

Each test follows one example of the README (section named in the docstring)
statement for statement; only the model files are ours: Gemma 3 270M stands in
for Llama-3.2-1B-Instruct and the other plain LLMs, and the generated kit
models for the embedding, reranking, vision, LoRA and draft models. Then it
asserts what the example promises.
"""
from __future__ import annotations

import json
import logging
import os
import time

import pytest

import xllamacpp as xlc

from ._side import OLDER, RELEASES
from ._side import UPSTREAM
from ._side import close as _closing


def test_configuring_parameters(gemma):
    """Usage / Configuring Parameters."""
    params = xlc.CommonParams()
    params.model.path = gemma
    params.n_ctx = 512
    params.n_predict = 128
    params.n_batch = 2048
    params.n_ubatch = 512
    params.n_parallel = 1
    params.cpuparams.n_threads = 4
    params.cpuparams_batch.n_threads = 4
    params.sampling.temp = 0.8
    params.sampling.top_k = 40
    params.sampling.top_p = 0.95
    params.sampling.seed = 42
    params.warmup = True
    params.endpoint_metrics = True
    assert (params.n_ctx, params.n_predict, params.cpuparams.n_threads, params.sampling.seed) == (512, 128, 4, 42)
    assert abs(params.sampling.top_p - 0.95) < 1e-6 and params.endpoint_metrics is True


def test_environment_variables(gemma, monkeypatch, caplog, capfd):
    """Usage / Environment Variables: LLAMA_ATTN_ROT_DISABLE set before the Server starts."""
    monkeypatch.setenv("LLAMA_ATTN_ROT_DISABLE", "1")
    caplog.set_level(logging.WARNING, logger="xllamacpp")  # ours logs to Python's logging, upstream to stderr
    params = xlc.CommonParams()
    params.model.path = gemma
    server = xlc.Server(params)
    assert server.listening_address.startswith("http://")
    _closing(server)
    logged = ""
    for _ in range(50):  # ours delivers llama.cpp's lines from a queue, a moment later
        logged += capfd.readouterr().err
        if "attention rotation force disabled (LLAMA_ATTN_ROT_DISABLE)" in caplog.text + logged:
            break
        time.sleep(0.1)
    assert "attention rotation force disabled (LLAMA_ATTN_ROT_DISABLE)" in caplog.text + logged


def _small(gemma, n_predict=128, n_ctx=256):
    params = xlc.CommonParams()
    params.model.path = gemma
    params.n_predict = n_predict
    params.n_ctx = n_ctx
    params.cpuparams.n_threads = 4
    return params


def test_text_completions(gemma):
    """Usage / Text Completions."""
    server = xlc.Server(_small(gemma))
    result = server.handle_completions({
        "max_tokens": 128,
        "prompt": "Write the fibonacci function in C++.",
    })
    text = result["choices"][0]["text"]
    assert isinstance(text, str) and text
    assert result["usage"]["completion_tokens"] <= 128
    _closing(server)


def test_chat_completions(gemma):
    """Usage / Chat Completions."""
    server = xlc.Server(_small(gemma))
    result = server.handle_chat_completions({
        "max_tokens": 128,
        "messages": [
            {"role": "system", "content": "You are a coding assistant."},
            {"role": "user", "content": "Write the fibonacci function in C++."},
        ],
    })
    assert result["choices"][0]["message"]["role"] == "assistant"
    assert isinstance(result["choices"][0]["message"]["content"], str)
    _closing(server)


def test_streaming_and_stopping_early(gemma):
    """Usage / Streaming, and stopping a stream by returning True."""
    server = xlc.Server(_small(gemma, n_predict=64))
    chunks = []
    server.handle_completions({"max_tokens": 128, "prompt": "Tell me a story.", "stream": True},
                              lambda chunk: chunks.append(chunk))
    assert len(chunks) > 2 and all(isinstance(c, dict) for c in chunks)
    assert "".join(c["choices"][0]["text"] for c in chunks if c.get("choices"))
    chat_chunks = []
    server.handle_chat_completions({"max_tokens": 128, "messages": [{"role": "user", "content": "Tell me a joke."}],
                                    "stream": True}, lambda chunk: chat_chunks.append(chunk))
    assert any(c["choices"][0]["delta"].get("content") for c in chat_chunks if c.get("choices"))

    count = 0

    def stop_after_one(chunk):
        nonlocal count
        count += 1
        return True  # Returning True stops the stream

    server.handle_completions({"prompt": "Write a long story.", "stream": True, "max_tokens": 128}, stop_after_one)
    assert count == 1
    _closing(server)


@pytest.fixture(scope="module")
def structured(gemma):
    """Structured Output: the shared set-up of the three methods."""
    schema = {
        "type": "object",
        "properties": {
            "answer": {"type": "string"},
            "score": {"type": "number"},
        },
        "required": ["answer"],
    }
    params = xlc.CommonParams()
    params.model.path = gemma
    params.n_predict = 64
    params.n_ctx = 256
    params.sampling.temp = 0
    params.sampling.top_k = 1
    server = xlc.Server(params)
    messages = [
        {"role": "system", "content": "Respond with a JSON object matching the provided schema."},
        {"role": "user", "content": "Provide an answer string and an optional numeric score."},
    ]
    yield schema, server, messages
    _closing(server)


def _parsed(result, schema):
    """As the README parses the result; a 270M base model may still be inside the object at max_tokens."""
    choice = result["choices"][0]
    content = choice["message"]["content"]
    if choice["finish_reason"] == "length":
        assert content.lstrip().startswith("{") and '"answer"' in content
        return None
    parsed = json.loads(content)
    assert isinstance(parsed, dict) and isinstance(parsed["answer"], str)
    return parsed


def test_structured_grammar_in_request(structured):
    """Structured Output / Method 1: json_schema_to_grammar, passed as "grammar"."""
    schema, server, messages = structured
    grammar_str = xlc.json_schema_to_grammar(schema)
    result = server.handle_chat_completions({"max_tokens": 64, "messages": messages, "grammar": grammar_str})
    _parsed(result, schema)


def test_structured_json_schema_in_request(structured):
    """Structured Output / Method 2."""
    schema, server, messages = structured
    result = server.handle_chat_completions({"max_tokens": 64, "messages": messages, "json_schema": schema})
    _parsed(result, schema)


def test_structured_response_format(structured):
    """Structured Output / Method 3: both response_format forms."""
    schema, server, messages = structured
    result = server.handle_chat_completions({
        "messages": messages,
        "response_format": {"type": "json_object", "schema": schema},
    })
    _parsed(result, schema)
    result = server.handle_chat_completions({
        "messages": messages,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"schema": schema},
        },
    })
    _parsed(result, schema)


def test_json_schema_and_grammar_together_are_refused(structured):
    """Structured Output: "json_schema and grammar cannot be used simultaneously" - upstream raises."""
    schema, server, messages = structured
    with pytest.raises(Exception, match="json_schema and grammar"):
        server.handle_chat_completions({"max_tokens": 8, "messages": messages, "json_schema": schema,
                                        "grammar": xlc.json_schema_to_grammar(schema)})


def test_reasoning_support(gemma):
    """Reasoning Support (parameters only; the README loads no model)."""
    params = xlc.CommonParams()
    params.model.path = "models/my-reasoning-model.gguf"
    params.reasoning_format = xlc.common_reasoning_format.COMMON_REASONING_FORMAT_DEEPSEEK
    params.enable_reasoning = 1
    if UPSTREAM:
        with pytest.raises(AttributeError):
            params.reasoning_budget = 1024  # a name upstream's wheel dropped (its README still sets it)
    else:
        params.reasoning_budget = 1024
        assert params.reasoning_budget == 1024
    params.sampling.reasoning_budget_tokens = 500
    assert params.sampling.reasoning_budget_tokens == 500
    assert params.enable_reasoning == 1


def test_request_level_options(gemma):
    """Request-Level Options: every option of the README's list is accepted.

    The list is a catalogue, not a request that can run: it sets "grammar" to "..."
    together with "json_schema", which the README itself says cannot be combined,
    and a per-request LoRA while the example loads none. Those three are checked
    to be refused with a message; the rest run as one request.
    """
    params = _small(gemma, n_ctx=512)
    server = xlc.Server(params)
    options = {
        "messages": [{"role": "user", "content": "Hello!"}],
        "max_tokens": 128,
        "temperature": 0.7,
        "top_k": 40,
        "top_p": 0.95,
        "min_p": 0.05,
        "seed": 42,
        "stream": False,
        "stop": ["\n\n", "User:"],
        "cache_prompt": True,
        "n_probs": 5,
        "repeat_penalty": 1.1,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "grammar": "...",
        "json_schema": {"type": "object"},
        "response_format": {"type": "json_object"},
        "samplers": ["dry", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature"],
        "lora": [{"id": 0, "scale": 0.5}],
    }
    # upstream names the grammar clash; ours checks the LoRA ids first and names those. Upstream raises
    # RuntimeError; ours a BadRequestError, which is a RuntimeError too
    with pytest.raises(RuntimeError, match="json_schema and grammar|has no LoRA adapters"):
        server.handle_chat_completions(options)
    with pytest.raises(RuntimeError, match="json_schema and grammar"):
        server.handle_chat_completions({k: v for k, v in options.items() if k != "lora"})
    runnable = {k: v for k, v in options.items() if k not in ("grammar", "lora")}
    result = server.handle_chat_completions(runnable)
    choice = result["choices"][0]
    assert choice["message"]["content"].lstrip().startswith("{")  # json_schema / response_format hold
    if choice["finish_reason"] == "stop":
        assert isinstance(json.loads(choice["message"]["content"]), dict)
    assert result["usage"]["completion_tokens"] <= 128
    assert len(choice["logprobs"]["content"][0]["top_logprobs"]) == 5  # n_probs
    _closing(server)


def test_gpu_memory_estimation(gemma):
    """GPU Memory Estimation."""
    from xllamacpp import estimate_gpu_layers

    devices = [
        {"name": "cuda", "memory_free": 8 * 1024**3, "memory_min": 2048},
    ]
    estimate = estimate_gpu_layers(
        devices,
        gemma,
        [],
        context_length=2048,
        batch_size=512,
        num_parallel=1,
        kv_cache_type="",
    )
    assert estimate.layers == 18 + 1  # every block and the output layer
    assert 0 < estimate.vram_size <= estimate.total_size
    assert estimate.tensor_split == [1.0]


def test_system_and_device_info():
    """System Info & Device Info."""
    info = xlc.get_system_info()
    assert isinstance(info, str) and "CPU" in info
    devices = xlc.get_device_info()
    assert [dev["name"] for dev in devices] and all(isinstance(dev["name"], str) for dev in devices)


def test_parallel_slots(gemma):
    """Parallel Slots."""
    params = xlc.CommonParams()
    params.model.path = gemma
    params.n_parallel = 4
    params.n_ctx = 2048
    params.cont_batching = True
    server = xlc.Server(params)
    import requests

    slots = requests.get(server.listening_address + "/slots", timeout=60).json()
    assert len(slots) == 4
    _closing(server)


@pytest.mark.upstream_differs(OLDER, "re-processes the whole prompt of a sliding-window model (Gemma 3): its llama.cpp "
                               "keeps no context checkpoint to resume from")
def test_prompt_caching(gemma):
    """Prompt Caching: the parameters, then a request that reuses the cache."""
    params = xlc.CommonParams()
    params.cache_prompt = True
    params.n_cache_reuse = 256
    assert params.cache_prompt is True and params.n_cache_reuse == 256
    params.model.path = gemma
    params.n_ctx = 512
    server = xlc.Server(params)
    request = {"messages": [{"role": "user", "content": "Hello!"}], "cache_prompt": True, "max_tokens": 4}
    server.handle_chat_completions(request)
    result = server.handle_chat_completions(request)
    assert result["timings"]["cache_n"] > 0
    _closing(server)


def test_server_sleep_and_wake(gemma):
    """Server Sleep & Wake: /props says whether it sleeps."""
    import requests

    params = xlc.CommonParams()
    params.model.path = gemma
    params.sleep_idle_seconds = 60
    server = xlc.Server(params)
    props = requests.get(server.listening_address + "/props", timeout=60).json()
    assert props["is_sleeping"] is False
    _closing(server)


@pytest.mark.skipif(os.environ.get("XLLAMACPP_NO_NETWORK_CLIENTS") == "1", reason="no openai package")
def test_openai_client(gemma):
    """OpenAI API Compatible HTTP Server / Using the OpenAI Python Client."""
    openai = pytest.importorskip("openai")
    params = xlc.CommonParams()
    params.model.path = gemma
    server = xlc.Server(params)
    client = openai.OpenAI(base_url=server.listening_address + "/v1", api_key="not-required")
    response = client.chat.completions.create(
        model="local-model",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=10,
    )
    assert isinstance(response.choices[0].message.content, str)
    assert response.usage.completion_tokens <= 10
    _closing(server)


def test_requests_directly(gemma):
    """OpenAI API Compatible HTTP Server / Using requests Directly."""
    import requests

    params = xlc.CommonParams()
    params.model.path = gemma
    params.n_ctx = 256
    params.endpoint_metrics = True
    server = xlc.Server(params)
    base_url = server.listening_address

    assert requests.get(f"{base_url}/health").json() == {"status": "ok"}
    resp = requests.post(f"{base_url}/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "Hello!"}],
        "max_tokens": 32,
    })
    assert isinstance(resp.json()["choices"][0]["message"]["content"], str)
    resp = requests.post(f"{base_url}/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "Tell me a joke."}],
        "max_tokens": 64,
        "stream": True,
    }, stream=True)
    lines = [line.decode() for line in resp.iter_lines() if line]
    assert lines[0].startswith("data: ") and lines[-1] == "data: [DONE]"
    resp = requests.post(f"{base_url}/tokenize", json={
        "content": "Hello world, how are you?",
        "add_special": False,
        "with_pieces": True,
    })
    tokens = resp.json()["tokens"]
    assert "".join(t["piece"] for t in tokens) == "Hello world, how are you?"
    resp = requests.post(f"{base_url}/detokenize", json={"tokens": [t["id"] for t in tokens]})
    assert resp.json()["content"] == "Hello world, how are you?"
    resp = requests.post(f"{base_url}/detokenize", json={"tokens": [1, 2, 3, 4, 5]})
    assert isinstance(resp.json()["content"], str)
    resp = requests.post(f"{base_url}/apply-template", json={
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Hello!"},
        ]
    })
    assert "Hello!" in resp.json()["prompt"]
    resp = requests.get(f"{base_url}/metrics")
    assert "llamacpp:prompt_tokens_total" in resp.text
    _closing(server)


DRAFT_NAMES = "the wheel dropped speculative.mparams_dft, n_min and n_max, which this example sets"


@pytest.mark.upstream_differs(RELEASES, DRAFT_NAMES)
def test_draft_model_speculative_decoding(gemma):
    """Speculative Decoding / Draft-Model, then Per-Request Speculative Overrides.

    Gemma drafts for itself (the README pairs a Qwen3 4B with its 0.6B sibling); no
    speculative.type is set, and tokens are drafted."""
    params = xlc.CommonParams()
    params.model.path = gemma
    params.speculative.mparams_dft.path = gemma
    params.speculative.n_min = 4
    params.speculative.n_max = 8
    params.n_predict = 128
    params.n_ctx = 512
    params.cpuparams.n_threads = 4
    params.sampling.seed = 42
    params.sampling.temp = 0.0
    params.sampling.top_k = 1
    server = xlc.Server(params)
    result = server.handle_completions({
        "max_tokens": 128,
        "prompt": "I believe the meaning of life is",
        "temperature": 0.0,
    })
    assert result["timings"]["draft_n"] > 0  # the draft path alone turned drafting on
    result = server.handle_completions({
        "max_tokens": 64,
        "prompt": "Once upon a time,",
        "temperature": 0.0,
        "speculative.n_min": 1,
        "speculative.n_max": 4,
        "speculative.p_min": 0.0,
    })
    assert isinstance(result["choices"][0]["text"], str) and result["usage"]["completion_tokens"] <= 64
    _closing(server)


@pytest.mark.upstream_differs(RELEASES, "the wheel dropped speculative.n_max, n_min and ngram_size_*, which this example sets")
def test_ngram_speculative_decoding(gemma):
    """Speculative Decoding / N-gram Based (No Draft Model)."""
    params = xlc.CommonParams()
    params.model.path = gemma
    params.n_predict = 128
    params.n_ctx = 512
    params.speculative.type = xlc.common_speculative_type.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE
    params.speculative.n_max = 16
    params.speculative.n_min = 5
    params.speculative.ngram_size_n = 12
    params.speculative.ngram_size_m = 48
    params.speculative.ngram_min_hits = 1
    server = xlc.Server(params)
    result = server.handle_completions({
        "max_tokens": 128,
        "prompt": "The quick brown fox",
    })
    assert isinstance(result["choices"][0]["text"], str) and result["usage"]["completion_tokens"] <= 128
    _closing(server)


def _embedding_params(model):
    params = xlc.CommonParams()
    params.model.path = model
    params.embedding = True
    params.n_ctx = 512
    params.n_batch = 128
    params.n_ubatch = 128
    params.pooling_type = xlc.llama_pooling_type.LLAMA_POOLING_TYPE_LAST
    return params


def test_embeddings(gemma):
    """Usage / Embeddings (gemma, last-token pooling, stands in for Qwen3-Embedding)."""
    server = xlc.Server(_embedding_params(gemma))
    result = server.handle_embeddings({
        "input": [
            "I believe the meaning of life is",
            "This is a test",
        ],
        "model": "My Qwen3 Model",
    })
    assert [item["index"] for item in result["data"]] == [0, 1]
    assert {len(item["embedding"]) for item in result["data"]} == {640}  # gemma 270M's width
    assert result["data"][0]["embedding"] != result["data"][1]["embedding"]
    _closing(server)


def test_embedding_via_http(gemma):
    """OpenAI API Compatible HTTP Server / Embedding via HTTP."""
    import requests

    server = xlc.Server(_embedding_params(gemma))
    base_url = server.listening_address
    resp = requests.post(f"{base_url}/v1/embeddings", json={
        "input": ["I believe the meaning of life is", "This is a test"],
    })
    data = resp.json()
    assert [len(item["embedding"]) for item in data["data"]] == [640, 640]
    _closing(server)
