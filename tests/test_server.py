"""Server in-process: completions, chat, streaming, errors, threads, lifecycle."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

import xllamacpp as xlc
from conftest import make_params

PROMPT = "The capital of France is"


def test_completion_dict_returns_dict(server):
    r = server.handle_completions({"prompt": PROMPT, "max_tokens": 8, "temperature": 0})
    assert isinstance(r, dict) and "error" not in r
    assert r["object"] == "text_completion"
    assert r["choices"][0]["text"].strip()
    assert r["usage"]["completion_tokens"] == 8


def test_completion_is_deterministic_when_greedy(server):
    req = {"prompt": PROMPT, "max_tokens": 8, "temperature": 0}
    assert server.handle_completions(req)["choices"][0]["text"] == server.handle_completions(req)["choices"][0]["text"]


def test_chat_completion(server):
    r = server.handle_chat_completions({"messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 8})
    assert r["object"] == "chat.completion"
    assert r["choices"][0]["message"]["role"] == "assistant"
    assert isinstance(r["choices"][0]["message"]["content"], str)


def test_text_requests_return_text(server):
    req = {"prompt": PROMPT, "max_tokens": 4}
    got: list = []
    assert server.handle_completions(json.dumps(req), got.append) is None
    assert len(got) == 1 and isinstance(got[0], str) and json.loads(got[0])["choices"]
    got.clear()
    server.handle_completions(json.dumps(req).encode(), got.append)
    assert isinstance(got[0], bytes)


def test_streaming_and_no_callback_raise(server):
    with pytest.raises(ValueError, match="requires a callback for streaming"):
        server.handle_completions({"prompt": PROMPT, "stream": True})
    with pytest.raises(ValueError, match="non dict prompt"):
        server.handle_chat_completions(json.dumps({"messages": []}))


def test_streaming_chat_delivers_dicts(server):
    chunks: list = []
    r = server.handle_chat_completions(
        {"messages": [{"role": "user", "content": "Count to ten"}], "max_tokens": 16, "stream": True}, chunks.append)
    assert r is None
    assert all(isinstance(c, dict) for c in chunks)
    assert chunks[0]["object"] == "chat.completion.chunk"
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text


def test_early_stop_gives_one_callback_and_frees_the_slot(model_path):
    with xlc.Server(make_params(model_path, n_parallel=1)) as s:
        seen: list = []
        s.handle_completions({"prompt": PROMPT, "max_tokens": 512, "stream": True}, lambda c: seen.append(c) or True)
        assert len(seen) == 1
        t = time.perf_counter()
        r = s.handle_completions({"prompt": "Hi", "max_tokens": 2})
        elapsed = time.perf_counter() - t
        assert r["choices"][0]["text"] is not None
        # the one slot was free at once: the next request did not wait for 512 tokens (~8 s here)
        assert elapsed < 2.0, elapsed
        slots = s.handle("GET", "/slots")
        assert all(not slot["is_processing"] for slot in slots)


def test_raising_callback_stops_and_reraises(server):
    class Boom(Exception):
        pass

    calls = []

    def cb(chunk):
        calls.append(chunk)
        raise Boom("stop here")

    with pytest.raises(Boom, match="stop here"):
        server.handle_completions({"prompt": PROMPT, "max_tokens": 256, "stream": True}, cb)
    assert len(calls) == 1
    # and the server goes on
    assert server.handle_completions({"prompt": "Hi", "max_tokens": 2})["choices"]


def test_errors_come_back_as_the_http_error_object(server):
    r = server.handle_completions({"prompt": PROMPT, "max_tokens": "many"})
    assert r["error"]["code"] == 400 and r["error"]["type"] == "invalid_request_error" and r["error"]["message"]
    # a request the route refuses outright raises, as in upstream xllamacpp (tests/compat/test_request_errors.py)
    with pytest.raises(ValueError, match="messages") as refused:
        server.handle_chat_completions({"messages": "not a list"})
    assert isinstance(refused.value, xlc.BadRequestError)
    assert refused.value.http_status == 400 and refused.value.error["type"] == "invalid_request_error"
    r = server.handle("POST", "/v1/chat/completions", b"{not json")
    assert r["error"]["code"] == 400
    r = server.handle("GET", "/no/such/route")
    assert r["error"]["code"] == 404
    # a stream that fails before its first event reports through the callback
    got: list = []
    server.handle_completions({"prompt": PROMPT, "max_tokens": "x", "stream": True}, got.append)
    assert got and got[0]["error"]["code"] == 400


def test_bad_request_types_raise(server):
    with pytest.raises(TypeError, match="takes a dict, str or bytes request, not int") as info:
        server.handle_completions(42)
    assert isinstance(info.value, xlc.InvalidTypeError)
    with pytest.raises(TypeError, match="callback must be callable"):
        server.handle_completions({"prompt": "x", "stream": True}, callback="not callable")
    with pytest.raises(TypeError, match="cannot be sent as JSON"):
        server.handle("POST", "/tokenize", {"content": object()})


def test_generic_handle_reaches_every_kind_of_route(server):
    tokens = server.handle("POST", "/tokenize", {"content": "hello world"})["tokens"]
    assert tokens
    assert server.handle("POST", "/detokenize", {"tokens": tokens})["content"].strip() == "hello world"
    assert server.handle("GET", "/health") == {"status": "ok"}
    props = server.handle("GET", "/props")
    assert props["total_slots"] == 2
    assert server.handle("GET", "/v1/models")["data"][0]["id"]
    assert "Quasar" in server.handle("POST", "/apply-template", {"messages": [{"role": "user", "content": "Quasar"}]})["prompt"]
    # a base model without FIM tokens: infill is refused, saying which tokens are missing
    infill = server.handle("POST", "/infill", {"input_prefix": "def f(", "input_suffix": "):", "n_predict": 2})
    assert infill["error"]["code"] == 501 and "prefix token is missing" in infill["error"]["message"]
    assert server.handle("POST", "/v1/messages/count_tokens",
                         {"model": "x", "messages": [{"role": "user", "content": "hi"}]})["input_tokens"] > 0
    assert server.handle("GET", "/lora-adapters") == []
    resp = server.handle("POST", "/v1/responses", {"input": "Say hi", "max_output_tokens": 4})
    assert resp["object"] == "response"


def test_slots_save_restore_erase(model_path, tmp_path):
    with xlc.Server(make_params(model_path, n_parallel=1, slot_save_path=str(tmp_path))) as s:
        s.handle_completions({"prompt": PROMPT, "max_tokens": 2})
        saved = s.handle("POST", "/slots/0?action=save", {"filename": "slot0.bin"})
        assert saved["n_saved"] > 0 and (tmp_path / "slot0.bin").exists()
        assert s.handle("POST", "/slots/0?action=erase")["n_erased"] > 0
        assert s.handle("POST", "/slots/0?action=restore", {"filename": "slot0.bin"})["n_restored"] > 0
        bad = s.handle("POST", "/slots/0?action=explode")
        assert bad["error"]["code"] == 400


def test_metrics_text(server):
    server.handle_completions({"prompt": PROMPT, "max_tokens": 2})
    text = server.handle_metrics()
    assert "llamacpp:prompt_seconds_total" in text


def test_metrics_disabled_answers_the_error(model_path):
    with xlc.Server(make_params(model_path, port=-1)) as s:
        assert s.listening_address == ""
        assert "not_supported_error" in s.handle_metrics()


def run_one(server, n_tokens: int, out: list, i: int) -> None:
    r = server.handle_completions({"prompt": f"Story number {i}:", "max_tokens": n_tokens, "ignore_eos": True})
    out[i] = r["usage"]["completion_tokens"]


def test_threads_are_batched_together(model_path):
    n, tokens = 4, 64
    with xlc.Server(make_params(model_path, n_parallel=n)) as s:
        s.handle_completions({"prompt": "warm up", "max_tokens": 2})
        out = [0] * n
        t = time.perf_counter()
        for i in range(n):
            run_one(s, tokens, out, i)
        sequential = time.perf_counter() - t
        assert out == [tokens] * n

        out = [0] * n
        threads = [threading.Thread(target=run_one, args=(s, tokens, out, i)) for i in range(n)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        concurrent = time.perf_counter() - t
        assert out == [tokens] * n
        # continuous batching: four streams in one batch beat four in a row
        # (about 0.6 of the time here; 0.9 leaves room for a noisy machine)
        assert concurrent < sequential * 0.9, (concurrent, sequential)


def test_close_with_a_request_in_flight_ends_it_with_an_error(model_path):
    s = xlc.Server(make_params(model_path))
    errors: list = []
    started = threading.Event()

    def long_request():
        try:
            s.handle_completions({"prompt": PROMPT, "max_tokens": 2000, "ignore_eos": True, "stream": True},
                                 lambda c: started.set())
        except Exception as e:  # noqa: BLE001 - the test inspects it
            errors.append(e)

    th = threading.Thread(target=long_request)
    th.start()
    assert started.wait(30)
    t = time.perf_counter()
    s.close()
    th.join(10)
    assert not th.is_alive()
    assert time.perf_counter() - t < 10
    assert errors and isinstance(errors[0], xlc.ServerClosedError)
    with pytest.raises(xlc.ServerClosedError):
        s.handle_completions({"prompt": "x", "max_tokens": 1})
    s.close()  # twice is fine


def test_sleep_and_wake(model_path):
    with xlc.Server(make_params(model_path, sleep_idle_seconds=1)) as s:
        s.handle_completions({"prompt": PROMPT, "max_tokens": 2})
        deadline = time.time() + 15
        while time.time() < deadline and not s.handle("GET", "/props").get("is_sleeping"):
            time.sleep(0.25)
        assert s.handle("GET", "/props")["is_sleeping"] is True
        # health and models answer without waking it
        assert s.handle("GET", "/health") == {"status": "ok"}
        assert s.handle("GET", "/v1/models")["data"]
        assert s.handle("GET", "/props")["is_sleeping"] is True
        r = s.handle_completions({"prompt": PROMPT, "max_tokens": 2})
        assert r["choices"][0]["text"] is not None
        assert s.handle("GET", "/props")["is_sleeping"] is False


@pytest.mark.parametrize("kind", ["missing", "truncated", "not_gguf"])
def test_bad_model_file_raises_naming_the_file(model_path, tmp_path, kind):
    bad = tmp_path / f"{kind}.gguf"
    if kind == "truncated":
        bad.write_bytes(open(model_path, "rb").read(1 << 20))
    elif kind == "not_gguf":
        bad.write_text("this is not a model\n" * 100)
    with pytest.raises(RuntimeError) as info:
        xlc.Server(make_params(str(bad)))
    assert str(bad) in str(info.value)
    # each names what is wrong: the truncated file ends inside its metadata (1 MiB of 250)
    reason = {"missing": "no such file", "truncated": "failed to read key-value pairs", "not_gguf": "not a GGUF"}[kind]
    assert reason in str(info.value)
    assert isinstance(info.value, xlc.ModelLoadError)
    # the process is fine and a good model still loads
    with xlc.Server(make_params(model_path)) as s:
        assert s.handle_completions({"prompt": "Hi", "max_tokens": 1})["choices"]


def test_two_servers_in_one_process(model_path):
    with xlc.Server(make_params(model_path)) as a, xlc.Server(make_params(model_path, n_ctx=1024)) as b:
        assert a.listening_address != b.listening_address
        assert a.handle("GET", "/props")["default_generation_settings"]["n_ctx"] == 2048
        assert b.handle("GET", "/props")["default_generation_settings"]["n_ctx"] == 1024
        assert a.handle_completions({"prompt": "A", "max_tokens": 2})["choices"]
        assert b.handle_completions({"prompt": "B", "max_tokens": 2})["choices"]


def test_interpreter_exit_with_a_live_server(model_path):
    code = (
        "import xllamacpp as xlc\n"
        "p = xlc.CommonParams(); p.model.path = %r; p.n_ctx = 512; p.cpuparams.n_threads = 2\n"
        "s = xlc.Server(p)\n"
        "print(s.handle_completions({'prompt': 'Hi', 'max_tokens': 2})['object'])\n" % model_path
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "text_completion"


def test_garbage_collection_frees_the_server(model_path):
    import gc
    import weakref

    s = xlc.Server(make_params(model_path))
    finalizer = s._finalizer
    ref = weakref.ref(s)
    del s
    gc.collect()
    assert ref() is None and not finalizer.alive


def test_log_lines_reach_python_logging(model_path, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="xllamacpp"):
        xlc.set_log_level(logging.INFO)
        try:
            with xlc.Server(make_params(model_path)) as s:
                s.handle_completions({"prompt": "Hi", "max_tokens": 2})
                deadline = time.time() + 5
                while time.time() < deadline and not any("slot" in r.getMessage() for r in caplog.records):
                    time.sleep(0.1)
        finally:
            xlc.set_log_level(logging.WARNING)
    messages = [r.getMessage() for r in caplog.records if r.name == "xllamacpp"]
    assert any("slot" in m for m in messages), messages[-20:]


def test_embeddings_dict_text_bytes(model_path):
    pooling = xlc.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    with xlc.Server(make_params(model_path, embedding=True, pooling_type=pooling, n_batch=512, n_ubatch=512)) as s:
        r = s.handle_embeddings({"input": ["hello world", "goodbye"]})
        assert [d["index"] for d in r["data"]] == [0, 1]
        vec = r["data"][0]["embedding"]
        assert len(vec) == 640 and abs(sum(v * v for v in vec) - 1.0) < 1e-3  # normalised
        text = s.handle_embeddings(json.dumps({"input": "hello world"}))
        assert isinstance(text, str) and json.loads(text)["data"][0]["embedding"] == vec
        raw = s.handle_embeddings(json.dumps({"input": "hello world"}).encode())
        assert isinstance(raw, bytes)
        # a generation on an embedding server is refused, not crashed
        bad = s.handle_rerank({"query": "a", "documents": ["b"]})
        assert bad["error"]["message"]


def test_rerank_needs_a_reranker(server):
    r = server.handle_rerank({"query": "capital of France", "documents": ["Paris", "Berlin"]})
    assert r["error"]["code"] == 501 and "--reranking" in r["error"]["message"]


def test_overrides_reach_the_model(model_path):
    params = make_params(model_path, tensor_buft_overrides="token_embd\\.weight=CPU",
                         kv_overrides=["gemma3.attention.sliding_window=int:256"])
    with xlc.Server(params) as s:
        assert s.handle_completions({"prompt": "Hi", "max_tokens": 2})["choices"]


def test_no_model_or_unknown_parameter_raise_value_error(model_path):
    with pytest.raises(ValueError, match="params.model.path is required: .*router feature"):
        xlc.Server(xlc.CommonParams())
    with pytest.raises(TypeError, match="Server takes a CommonParams, not dict"):
        xlc.Server({"model": model_path})  # type: ignore[arg-type]
