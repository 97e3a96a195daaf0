"""Reliability: no input aborts the process, no call hangs, one error model from C to Python.

Each case here was found aborting, hanging or answering 5xx before the facade
checked it (issue #12); a regression shows up as a failed assertion, or as a
child process that died, never as a dead test run.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any
from pathlib import Path

import pytest
import requests

import xllamacpp as xlc
from conftest import make_params

ROOT = Path(__file__).resolve().parents[1]

# --- the error model ------------------------------------------------------------------


def test_every_error_is_an_xlc_error_and_the_builtin_it_replaces():
    assert issubclass(xlc.InvalidArgumentError, xlc.XlcError) and issubclass(xlc.InvalidArgumentError, ValueError)
    assert issubclass(xlc.InvalidTypeError, xlc.XlcError) and issubclass(xlc.InvalidTypeError, TypeError)
    assert issubclass(xlc.NotFoundError, xlc.XlcError) and issubclass(xlc.NotFoundError, FileNotFoundError)
    for cls in (xlc.XlcRuntimeError, xlc.ModelLoadError, xlc.ServerClosedError, xlc.ServerError):
        assert issubclass(cls, xlc.XlcError) and issubclass(cls, RuntimeError), cls
    assert issubclass(xlc.BadRequestError, xlc.RequestError) and issubclass(xlc.BadRequestError, ValueError)
    assert issubclass(xlc.ServerError, xlc.RequestError) and not issubclass(xlc.ServerError, ValueError)


def test_errors_carry_the_facade_status():
    with pytest.raises(xlc.InvalidArgumentError) as bad_json:
        xlc.json_schema_to_grammar('{"type": "object",')
    assert bad_json.value.status == "XLC_ERR_INVALID_ARGUMENT" and bad_json.value.http_status is None
    with pytest.raises(FileNotFoundError) as missing:
        xlc.estimate_gpu_layers([], "/nonexistent/model.gguf", [], 512, 512, 1, "f16")
    assert isinstance(missing.value, xlc.NotFoundError) and missing.value.status == "XLC_ERR_NOT_FOUND"
    with pytest.raises(TypeError) as wrong_type:
        xlc.CommonParams().n_ctx = "big"  # type: ignore[assignment]
    assert isinstance(wrong_type.value, xlc.InvalidTypeError)


def test_request_error_from_an_error_answer():
    bad = xlc.RequestError.from_response({"error": {"code": 400, "message": "no", "type": "invalid_request_error"}})
    assert isinstance(bad, xlc.BadRequestError) and isinstance(bad, ValueError)
    assert bad.http_status == 400 and bad.error["type"] == "invalid_request_error" and str(bad) == "no"
    failed = xlc.RequestError.from_response({"error": {"code": 501, "message": "not here"}})
    assert isinstance(failed, xlc.ServerError) and isinstance(failed, RuntimeError) and failed.http_status == 501


def test_bad_model_file_is_a_model_load_error(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_text("not a model")
    params = xlc.CommonParams()
    params.model.path = str(bad)
    with pytest.raises(RuntimeError) as info:
        xlc.Server(params)
    assert isinstance(info.value, xlc.ModelLoadError) and info.value.status == "XLC_ERR_MODEL_LOAD"
    assert str(bad) in str(info.value) and "not a GGUF file" in str(info.value)


# --- parameters that llama.cpp asserts on ---------------------------------------------

REFUSED_PARAMS = [
    ("n_batch", 0, "at least 1"),
    ("n_ubatch", 0, "at least 1"),
    ("n_parallel", 0, "-1 or between 1 and 256"),
    ("n_parallel", 1000, "-1 or between 1 and 256"),
    ("cpuparams.n_threads", 0, "-1 or between 1 and 512"),
    ("cpuparams_batch.n_threads", 0, "-1 or between 1 and 512"),
    ("speculative.draft.cpuparams.n_threads", 0, "-1 or between 1 and 512"),
    ("n_ctx", -5, "at least 0"),
    ("port", 70000, "at most 65535"),
    ("timeout_read", 0, "at least 1"),
]


@pytest.mark.parametrize("name, value, allowed", REFUSED_PARAMS)
def test_a_value_llama_cpp_asserts_on_is_refused_when_set(name, value, allowed):
    p = xlc.CommonParams()
    *groups, leaf = name.split(".")
    target = p
    for g in groups:
        target = getattr(target, g)
    with pytest.raises(ValueError) as info:
        setattr(target, leaf, value)
    assert isinstance(info.value, xlc.InvalidArgumentError)
    assert f"{name} must be {allowed}" in str(info.value) and f"not {value}" in str(info.value)


def test_allowed_edges_are_accepted():
    p = xlc.CommonParams()
    p.n_batch = 1
    p.n_parallel = -1
    p.cpuparams.n_threads = -1
    p.port = 65535
    p.port = -1
    assert (p.n_batch, p.n_parallel, p.port) == (1, -1, -1)


def test_flags_are_checked_too():
    with pytest.raises(ValueError, match="n_batch must be at least 1"):
        xlc.CommonParams.from_args(["-b", "0"])
    with pytest.raises(ValueError, match="n_parallel"):  # llama.cpp's own handler refuses this one
        xlc.CommonParams.from_args(["-np", "0"])
    # llama.cpp's own -t handler turns 0 into the core count: nothing to refuse there
    assert xlc.CommonParams.from_args(["-t", "0"]).cpuparams.n_threads >= 1


CHILD_CREATE = """
import sys, xllamacpp as xlc
p = xlc.CommonParams()
p.model.path = sys.argv[1]
p._values[sys.argv[2]] = int(sys.argv[3])   # past the setter's check, as a JSON caller could
try:
    xlc.Server(p)
except ValueError as e:
    print("refused:", e)
"""


@pytest.mark.parametrize("name, value", [("n_batch", 0), ("cpuparams.n_threads", 0), ("n_parallel", 0)])
def test_server_create_refuses_them_before_anything_loads(model_path, name, value):
    # a child process: before the check, n_batch 0 aborted (SIGABRT) and n_parallel 0 hung
    r = subprocess.run([sys.executable, "-c", CHILD_CREATE, model_path, name, str(value)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr[-1500:])
    assert r.stdout.startswith("refused: " + name + " must be"), r.stdout


def test_port_out_of_range_never_listens_elsewhere(model_path):
    with pytest.raises(ValueError, match="port must be at most 65535"):
        make_params(model_path, port=70000)


# --- requests: the same 4xx in-process and over HTTP ------------------------------------

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
AUDIO = {"type": "input_audio", "input_audio": {"data": "UklGRiQAAABXQVZF", "format": "wav"}}


def user(content):
    return [{"role": "user", "content": content}]


BAD_REQUESTS = [
    ("/detokenize", {"tokens": [-1]}, "tokens[0] is -1, not a token id"),
    ("/detokenize", {"tokens": [10**9]}, "tokens[0] is 1000000000, not a token id"),
    ("/detokenize", {"tokens": [2**40]}, "tokens[0] is 1099511627776, not a token id"),
    ("/detokenize", {"tokens": ["a"]}, "tokens[0] must be an integer token id"),
    ("/completion", {"prompt": [5, 2**40], "n_predict": 1}, "prompt[1] is 1099511627776"),
    ("/v1/embeddings", {"input": [[1, -3]]}, "input[0][1] is -3"),
    ("/v1/chat/completions", {"messages": [{"role": 5, "content": "x"}]}, "messages[0].role must be a string"),
    ("/v1/chat/completions", {"messages": [{"content": "x"}]}, "messages[0].role is required"),
    ("/v1/chat/completions", {"messages": user([{"type": "text"}])}, "messages[0].content[0].text is required"),
    ("/v1/chat/completions", {"messages": user([{"type": "video"}])}, "messages[0].content[0].type is \"video\""),
    ("/v1/chat/completions", {"messages": [{"role": "assistant", "content": "", "tool_calls": "x"}]},
     "messages[0].tool_calls must be a list"),
    ("/v1/chat/completions", {"messages": [{"role": "assistant", "tool_calls": [{"type": "function"}]}]},
     "messages[0].tool_calls[0].function is required"),
    ("/v1/chat/completions", {"messages": user("x"), "tools": "x"}, "tools must be a list"),
    ("/v1/chat/completions", {"messages": user("x"), "tools": [{"type": "function"}]}, "tools[0].function is required"),
    ("/v1/chat/completions", {"messages": user("x"), "tools": [{"type": "function", "function": {"name": 3}}]},
     "tools[0].function.name must be a string"),
    ("/v1/chat/completions", {"messages": user([IMAGE])}, "is image input, which this model cannot take"),
    ("/v1/chat/completions", {"messages": user([AUDIO])}, "is audio input, which this model cannot take"),
    ("/v1/chat/completions", {"messages": user("x"), "json_schema": {}, "grammar": "root ::= \"a\""},
     "json_schema and grammar cannot be used together"),
    ("/apply-template", {"messages": "hi"}, "messages must be a list"),
    ("/v1/messages", {"model": "x", "max_tokens": 1, "messages": [
        {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                   "data": "AAAA"}}]}]},
     "messages[0].content[0] is image input"),
    ("/v1/messages", {"model": "x", "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "text"}]}]},
     "messages[0].content[0].text is required"),
    ("/lora-adapters", [{"id": 5, "scale": 1.0}], "body[0].id is 5, but this server has no LoRA adapters"),
    ("/lora-adapters", {"id": 0}, "body must be a list"),
    ("/completion", {"prompt": "x", "n_predict": 1, "lora": [{"id": 0, "scale": 1}]}, "lora[0].id is 0"),
    ("/completion", '{"prompt": ' + "[" * 5000 + "]" * 5000 + "}", "nests arrays and objects more than 256 deep"),
]


@pytest.mark.parametrize("path, body, message", BAD_REQUESTS, ids=[f"{p}:{m[:30]}" for p, _, m in BAD_REQUESTS])
def test_client_mistakes_are_400_in_process_and_over_http_alike(server, path, body, message):
    text = body if isinstance(body, str) else json.dumps(body)
    in_process = server.handle("POST", path, text)
    http = requests.post(server.listening_address + path, data=text, timeout=60,
                         headers={"Content-Type": "application/json"})
    assert in_process["error"]["code"] == 400, in_process
    assert message in in_process["error"]["message"], in_process["error"]["message"]
    assert http.status_code == 400 and http.json() == in_process
    # and the server still answers
    assert server.handle("GET", "/health") == {"status": "ok"}


def test_valid_requests_next_to_them_still_work(server):
    tokens = server.handle("POST", "/tokenize", {"content": "hello"})["tokens"]
    assert server.handle("POST", "/detokenize", {"tokens": tokens})["content"].strip() == "hello"
    r = server.handle_chat_completions({"messages": user([{"type": "text", "text": "Hi"}]), "max_tokens": 2})
    assert r["choices"][0]["message"]["role"] == "assistant"
    r = server.handle_chat_completions({
        "messages": user("What is the weather?"), "max_tokens": 2,
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]})
    assert "error" not in r, r
    assert server.handle("POST", "/lora-adapters", []) == {"success": True}  # a list body goes through handle()


# --- callbacks -------------------------------------------------------------------------


def test_callback_may_reenter_the_server(server):
    seen: list = []

    def callback(chunk):
        # another request from inside a stream callback, on the same thread
        seen.append(server.handle("POST", "/tokenize", {"content": "hi"})["tokens"])

    server.handle_completions({"prompt": "Once", "max_tokens": 3, "stream": True}, callback)
    assert len(seen) >= 3 and all(seen)


def test_close_from_inside_a_stream_callback_does_not_deadlock(model_path):
    s = xlc.Server(make_params(model_path))
    calls: list = []
    closed_at: list = []

    def callback(chunk):
        calls.append(chunk)
        if len(calls) == 1:
            closed_at.append(time.perf_counter())
            s.close()

    result: list = []

    def run():
        try:
            s.handle_completions({"prompt": "Once", "max_tokens": 500, "ignore_eos": True, "stream": True}, callback)
            result.append("returned")
        except xlc.ServerClosedError as e:
            result.append(e)

    th = threading.Thread(target=run)
    th.start()
    th.join(60)
    assert not th.is_alive(), "close() from a stream callback deadlocked"
    assert len(calls) == 1 and isinstance(result[0], xlc.ServerClosedError)
    assert result[0].status == "XLC_ERR_CLOSED"
    with pytest.raises(xlc.ServerClosedError):
        s.handle("GET", "/health")


# --- close() ends everything in flight --------------------------------------------------


def _ended_by_server(sock: socket.socket) -> bool:
    """True when the server closed or reset the connection (within 5 s)."""
    sock.settimeout(5)
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def _start(target) -> threading.Thread:
    th = threading.Thread(target=target, daemon=True)
    th.start()
    return th


@pytest.mark.slow
def test_close_ends_every_kind_of_request_in_flight_within_two_seconds(model_path):
    s = xlc.Server(make_params(model_path, n_parallel=4))
    base = s.listening_address
    host, port = base[len("http://"):].rsplit(":", 1)
    long: dict[str, Any] = {"prompt": "Tell a long story", "max_tokens": 4000, "ignore_eos": True}
    ended: dict = {}
    streaming = threading.Event()

    def in_process_stream():
        try:
            s.handle_completions({**long, "stream": True}, lambda c: streaming.set())
        except xlc.ServerClosedError:
            ended["in-process stream"] = time.perf_counter()

    def in_process_blocking():
        try:
            s.handle_completions(long)
        except xlc.ServerClosedError:
            ended["in-process"] = time.perf_counter()

    def http_blocking():
        try:
            r = requests.post(base + "/completion", json={**long, "n_predict": 4000}, timeout=60)
            ended["http"] = (time.perf_counter(), r.status_code)
        except requests.RequestException as e:
            ended["http"] = (time.perf_counter(), type(e).__name__)

    def http_stream():
        try:
            with requests.post(base + "/v1/completions", json={**long, "stream": True}, stream=True, timeout=60) as r:
                for _ in r.iter_lines():
                    pass
            ended["http stream"] = time.perf_counter()
        except requests.RequestException:
            ended["http stream"] = time.perf_counter()

    threads = [_start(f) for f in (in_process_stream, in_process_blocking, http_blocking, http_stream)]
    assert streaming.wait(60)
    time.sleep(1.0)  # every request is running by now
    partial = socket.create_connection((host, int(port)))
    partial.sendall(b"POST /completion HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"pro")
    idle = socket.create_connection((host, int(port)))

    t0 = time.perf_counter()
    s.close()
    closed_in = time.perf_counter() - t0
    for th in threads:
        th.join(30)
    assert not any(th.is_alive() for th in threads)
    assert set(ended) == {"in-process stream", "in-process", "http", "http stream"}, ended
    for kind, value in ended.items():
        when = value[0] if isinstance(value, tuple) else value
        assert when - t0 < 2.0, (kind, when - t0)
    # a blocked HTTP client gets a 503 with a message, or its connection closed
    assert ended["http"][1] in (503, "ConnectionError", "ChunkedEncodingError"), ended["http"]
    # the half-sent request and the idle connection were ended, not waited for
    assert _ended_by_server(partial) and _ended_by_server(idle)
    # close() also waits for the decode step under way and frees the model: a little
    # longer on a busy machine; well under the 600 s llama-server's read timeout gave
    assert closed_in < 10.0, closed_in


@pytest.mark.slow
def test_partial_requests_do_not_starve_the_server(server):
    host, port = server.listening_address[len("http://"):].rsplit(":", 1)
    holders = []
    try:
        for _ in range(48):
            c = socket.create_connection((host, int(port)))
            c.sendall(b"POST /completion HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"pro")
            holders.append(c)
        holders.extend(socket.create_connection((host, int(port))) for _ in range(16))  # idle ones too
        time.sleep(0.5)
        for _ in range(5):
            t = time.perf_counter()
            r = requests.get(server.listening_address + "/health", timeout=30)
            assert r.status_code == 200
            assert time.perf_counter() - t < 1.0
    finally:
        for c in holders:
            c.close()


def test_http_timeouts_default_to_half_a_minute():
    # llama-server waits an hour on a silent client; xllamacpp half a minute
    p = xlc.CommonParams()
    assert (p.timeout_read, p.timeout_write) == (30, 30)
    assert "(default: 30)" in xlc.CommonParams.fields()["timeout_read"]["help"]


# --- the installed library --------------------------------------------------------------


@pytest.mark.slow
def test_make_lib_installs_a_new_file_instead_of_rewriting_the_loaded_one():
    lib = ROOT / "xllamacpp" / "lib" / "libxlc-cpu.so"
    before = os.stat(lib).st_ino
    r = subprocess.run(["make", "-s", "lib"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    # a rename gives a new inode; cp over the old file kept it and changed the pages that
    # running processes (this one) had mapped, which killed them with SIGBUS
    assert os.stat(lib).st_ino != before
    assert xlc.get_system_info().startswith("CPU")
