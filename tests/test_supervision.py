"""Faults a child contains: real processes, real kills (SIGKILL, SIGABRT, an RPC server lost mid-request),
the crash limit, log lines, and shutdown with children busy, leaving no orphan."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import requests

import xllamacpp as xlc
from conftest import make_params
from routerkit import embedder_preset, Serve, alive, child_of_model, children, free_port, models_dir, wait_gone

LONG = {"prompt": "Once upon a time", "max_tokens": 2000, "ignore_eos": True}
BASE_FLAGS = ["-c", "1024", "-t", "2", "-tb", "2", "--no-warmup"]


@pytest.fixture(scope="module")
def mdir(tmp_path_factory, model_path, embedding_model):
    return models_dir(tmp_path_factory.mktemp("models"), {"gemma": model_path, "embedder": embedding_model})


@pytest.fixture(scope="module")
def preset(mdir):
    return str(embedder_preset(mdir.parent))


def test_sigkill_mid_stream_raises_server_error_and_the_next_request_restarts(model_path, caplog):
    s = xlc.Server(make_params(model_path), isolated=True)
    try:
        first = s.pid
        stream = s.stream_completions(LONG)
        next(stream)
        t = time.monotonic()
        os.kill(first, signal.SIGKILL)
        with pytest.raises(xlc.ServerError) as info:
            for _ in stream:
                pass
        assert time.monotonic() - t < 5
        assert info.value.http_status == 503 and "signal SIGKILL" in str(info.value)
        status = s.status()
        assert status["value"] == "unloaded" and status["failed"] is True and status["exit_code"] == 128 + 9
        # the callback form raises too
        pid = None
        seen: list = []

        def kill_on_third(chunk):
            seen.append(chunk)
            if len(seen) == 3:
                os.kill(s.pid, signal.SIGKILL)

        with pytest.raises(xlc.ServerError):
            s.handle_completions(dict(LONG, stream=True), kill_on_third)
        # this process goes on, and the next request starts a new child
        r = s.handle_completions({"prompt": "Hi", "max_tokens": 2})
        assert r["usage"]["completion_tokens"] == 2
        pid = s.pid
        assert pid and pid != first
    finally:
        s.close()


def test_an_abort_in_a_child_ends_its_requests_with_its_last_lines(model_path, caplog):
    with caplog.at_level(logging.INFO, logger="xllamacpp.model"):
        s = xlc.Server(make_params(model_path), isolated=True)
        try:
            s.handle_completions({"prompt": "Hi", "max_tokens": 2})
            name = s._model.name
            assert any(r.name == f"xllamacpp.model.{name}" for r in caplog.records)  # its log, under its name
            errors: list = []

            def long_request():
                try:
                    s.handle_completions({"prompt": "Once upon a time", "max_tokens": 2000, "ignore_eos": True})
                except xlc.ServerError as e:
                    errors.append(e)

            th = threading.Thread(target=long_request)
            th.start()
            time.sleep(1.0)
            os.kill(s.pid, signal.SIGABRT)  # what abort() raises in the process
            th.join(10)
            assert not th.is_alive() and errors, "the request in flight did not end"
            assert "signal SIGABRT" in str(errors[0]) and "last lines:" in str(errors[0])
            assert s.status()["exit_code"] == 128 + 6
        finally:
            s.close()


def test_the_crash_limit_keeps_a_model_down_until_loaded_explicitly(mdir, preset):
    with xlc.Router(models_dir=str(mdir), models_preset=preset, args=BASE_FLAGS, crash_limit=2, crash_window=60) as router:
        gemma = router.model("gemma")
        for _ in range(2):
            gemma.handle_completions({"prompt": "Hi", "max_tokens": 1})
            process = router._entries["gemma"].model.process
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)
        status = {m["id"]: m for m in router.models()}["gemma"]["status"]
        assert status["failed"] and "crashed 2 times" in status["reason"], status
        with pytest.raises(xlc.ServerError, match="is down: crashed 2 times"):
            gemma.handle_completions({"prompt": "Hi", "max_tokens": 1})
        # the other model is untouched, and an explicit load brings gemma back
        assert router.handle_embeddings({"model": "embedder", "input": "x"})["data"]
        router.load("gemma")
        assert gemma.handle_completions({"prompt": "Hi", "max_tokens": 1})["choices"]


def test_http_sigkill_mid_stream_ends_it_with_an_sse_error_and_others_go_on(mdir, preset):
    serve = Serve.ours("--models-dir", str(mdir), "--models-preset", preset, *BASE_FLAGS)
    try:
        assert serve.post("/v1/embeddings", {"model": "embedder", "input": "x"}).status_code == 200
        with requests.post(serve.base + "/v1/completions", json=dict(LONG, model="gemma", stream=True),
                           stream=True, timeout=120) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            while not next(lines).startswith(b"data: "):
                pass
            pid = child_of_model(serve.proc.pid, "gemma.gguf")
            t = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            rest = [line for line in lines if line.startswith(b"data: ")]
            assert time.monotonic() - t < 5
        error = json.loads(rest[-1][6:])
        assert error["error"]["code"] == 503 and "signal SIGKILL" in error["error"]["message"], rest[-3:]
        # a request whose answer had not begun gets a 503 JSON error
        pid = None
        reply: dict = {}

        def unstreamed():
            reply["r"] = serve.post("/v1/completions", dict(LONG, model="gemma"))

        th = threading.Thread(target=unstreamed)
        th.start()
        time.sleep(1.5)
        os.kill(child_of_model(serve.proc.pid, "gemma.gguf"), signal.SIGKILL)
        th.join(30)
        assert reply["r"].status_code == 503 and reply["r"].json()["error"]["type"] == "unavailable_error"
        status = serve.models()["gemma"]["status"]
        assert status["value"] == "unloaded" and status["failed"] and status["exit_code"] == 137
        # the router goes on, the other model was untouched
        assert serve.post("/v1/embeddings", {"model": "embedder", "input": "x"}).status_code == 200
        assert serve.proc.poll() is None
    finally:
        serve.stop()


KILL_RPC_MID_REQUEST = textwrap.dedent("""
    import os, signal, sys
    import xllamacpp as xlc
    model, port = sys.argv[1], int(sys.argv[2])
    rpc = xlc.RpcServer(port=port, threads=1)
    p = xlc.CommonParams()
    p.model.path = model
    p.n_ctx, p.warmup, p.no_extra_bufts = 512, False, True
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = 1
    p.rpc_servers = rpc.endpoint
    server = xlc.Server(p)  # a model with RPC servers runs in a child by default
    print("isolated", isinstance(server, xlc.IsolatedServer), flush=True)
    chunks = []
    def on_chunk(chunk):
        chunks.append(chunk)
        if len(chunks) == 3:
            os.kill(rpc.pid, signal.SIGKILL)
    try:
        server.handle_completions({"prompt": "Once upon a time", "max_tokens": 400, "stream": True,
                                   "ignore_eos": True}, on_chunk)
        print("request returned", flush=True)
    except xlc.ServerError as e:
        print("request raised", e.http_status, e, flush=True)
    try:
        server.handle_completions({"prompt": "Hi", "max_tokens": 1})
    except xlc.XlcError as e:
        print("restart refused", type(e).__name__, e, flush=True)
    server.close()
    print("process survived", flush=True)
""")


def test_an_rpc_server_killed_mid_request_is_a_503_and_the_host_lives(model_path):
    port = free_port()
    child = subprocess.run([sys.executable, "-c", KILL_RPC_MID_REQUEST, model_path, str(port)],
                           capture_output=True, text=True, timeout=300)
    out = child.stdout
    assert child.returncode == 0, out + child.stderr[-3000:]
    assert "isolated True" in out and "process survived" in out, out
    assert "request raised 503" in out and "signal SIGABRT" in out and "RPC" in out, out
    # before the restart, the probe names the RPC server that is gone
    assert "restart refused" in out and f"RPC server 127.0.0.1:{port} is unreachable" in out, out


def test_rpc_in_process_stays_possible_by_opt_in(model_path):
    with xlc.RpcServer(port=free_port(), threads=1) as rpc:
        p = make_params(model_path, port=-1, no_extra_bufts=True)
        p.rpc_servers = rpc.endpoint
        with xlc.Server(p, isolated=False) as s:
            assert type(s) is xlc.Server
            assert s.handle_completions({"prompt": "Hi", "max_tokens": 2})["choices"]


def test_close_with_children_busy_stops_them_all_and_kills_one_that_hangs(mdir, preset):
    router = xlc.Router(models_dir=str(mdir), models_preset=preset, args=BASE_FLAGS, stop_timeout=1.0)
    router.load("gemma")
    router.load("embedder")
    pids = [e.model.process.pid for e in router._entries.values()]
    errors: list = []

    def busy():
        try:
            router.handle_completions(dict(LONG, model="gemma"))
        except xlc.XlcError as e:
            errors.append(e)

    th = threading.Thread(target=busy)
    th.start()
    time.sleep(1.0)
    os.kill(pids[1], signal.SIGSTOP)  # a child that cannot answer SIGTERM: SIGKILL after the stop timeout
    t = time.monotonic()
    router.close()
    assert time.monotonic() - t < 8
    th.join(10)
    assert not th.is_alive() and errors
    assert wait_gone(pids, 5) == []


def test_sigterm_to_serve_with_children_busy_leaves_no_orphan(mdir, preset):
    serve = Serve.ours("--models-dir", str(mdir), "--models-preset", preset, *BASE_FLAGS)
    streams = []
    for model in ("gemma", "embedder"):
        body = dict(LONG, model="gemma", stream=True) if model == "gemma" else {"model": model, "input": "x"}
        path = "/v1/completions" if model == "gemma" else "/v1/embeddings"
        if model == "gemma":
            r = requests.post(serve.base + path, json=body, stream=True, timeout=120)
            next(r.iter_lines())
            streams.append(r)
        else:
            serve.post(path, body)
    pids = children(serve.proc.pid)
    assert len(pids) == 2
    t = time.monotonic()
    assert serve.stop(signal.SIGTERM, timeout=30) == 0
    assert time.monotonic() - t < 15
    assert wait_gone(pids, 5) == [], "a child outlived its router"
    for r in streams:
        r.close()


def test_a_router_killed_outright_leaves_no_orphan(mdir, preset):
    serve = Serve.ours("--models-dir", str(mdir), "--models-preset", preset, *BASE_FLAGS)
    assert serve.post("/v1/completions", {"model": "gemma", "prompt": "x", "max_tokens": 1}).status_code == 200
    pids = children(serve.proc.pid)
    assert pids and all(alive(p) for p in pids)
    serve.stop(signal.SIGKILL)
    assert wait_gone(pids, 15) == [], "a child outlived its router (SIGKILL)"
