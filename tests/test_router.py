"""The router: `xllamacpp serve --models-dir DIR` (llama-server's router API) and xlc.Router in Python.

Real models (gemma and the model kit's embedder) in a models directory of
symlinks; every model runs in a child process of the router.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
import requests

import xllamacpp as xlc
from routerkit import embedder_preset, Serve, children, models_dir, sse_events

CHAT = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
BASE_FLAGS = ["-c", "1024", "-t", "2", "-tb", "2", "--no-warmup"]


@pytest.fixture(scope="module")
def mdir(tmp_path_factory, model_path, embedding_model):
    return models_dir(tmp_path_factory.mktemp("models"), {"gemma": model_path, "embedder": embedding_model})


@pytest.fixture(scope="module")
def preset(mdir):
    return str(embedder_preset(mdir.parent))


@pytest.fixture(scope="module")
def router(mdir, preset):
    serve = Serve.ours("--models-dir", str(mdir), "--models-preset", preset, *BASE_FLAGS)
    yield serve
    serve.stop()


def test_models_lists_every_model_with_llama_servers_fields(router, mdir):
    listed = router.get("/models").json()
    assert listed["object"] == "list"
    by_id = {m["id"]: m for m in listed["data"]}
    assert set(by_id) == {"gemma", "embedder"}
    gemma = by_id["gemma"]
    assert gemma["path"] == str(mdir / "gemma.gguf")  # README's field, which llama-server's router omits
    assert gemma["status"]["value"] in ("unloaded", "loaded")
    assert gemma["object"] == "model" and gemma["owned_by"] == "llamacpp" and gemma["source"] == "models_dir"
    assert {m["id"] for m in router.get("/v1/models").json()["data"]} == set(by_id)
    props = router.get("/props").json()
    assert props["role"] == "router" and props["max_instances"] == 4 and props["models_autoload"] is True


def test_requests_route_by_the_body_and_the_query(router):
    r = router.post("/v1/chat/completions", dict(CHAT, model="gemma"))
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "chat.completion"
    assert router.models()["gemma"]["status"]["value"] == "loaded"
    props = router.get("/props", params={"model": "gemma"}).json()
    assert props["total_slots"] >= 1 and "router" not in json.dumps(props.get("role", ""))
    emb = router.post("/v1/embeddings", {"model": "embedder", "input": "hello"})
    assert emb.status_code == 200 and len(emb.json()["data"][0]["embedding"]) == 32
    # a stream, relayed as it comes
    with requests.post(router.base + "/v1/completions", json={"model": "gemma", "prompt": "Hi", "max_tokens": 5,
                                                              "stream": True}, stream=True, timeout=120) as s:
        assert s.headers["Content-Type"].startswith("text/event-stream")
        events = sse_events(s)
    assert len(events) >= 5 and events[-1]["choices"][0]["finish_reason"] == "length"


def test_refusals_have_llama_servers_status_codes(router):
    missing = router.post("/v1/chat/completions", CHAT)
    assert missing.status_code == 400 and missing.json()["error"]["message"] == "model name is missing from the request"
    unknown = router.post("/v1/chat/completions", dict(CHAT, model="nope"))
    assert unknown.status_code == 400 and unknown.json()["error"]["message"] == "model 'nope' not found"
    assert router.get("/props", params={"model": "nope"}).status_code == 400
    assert router.get("/slots").status_code == 400  # a GET route with no ?model=
    assert router.post("/models/load", {"model": "nope"}).status_code == 404
    router.post("/v1/completions", {"model": "gemma", "prompt": "x", "max_tokens": 1})
    again = router.post("/models/load", {"model": "gemma"})
    assert again.status_code == 400 and again.json()["error"]["message"] == "model is already running"
    assert router.post("/models/unload", {"model": "nope"}).status_code == 400
    assert router.post("/v1/completions", data=b"{not json", headers={"Content-Type": "application/json"}) \
        .status_code == 400


@pytest.mark.parametrize("name", ["../gemma", "/etc/passwd", "gemma/../../etc/passwd", "..", "./gemma",
                                  "%2e%2e%2fgemma", "embedder/../gemma"])
def test_a_model_name_never_reaches_a_file(router, name):
    r = router.post("/v1/completions", {"model": name, "prompt": "x", "max_tokens": 1})
    assert r.status_code == 400 and r.json()["error"]["message"] == f"model '{name}' not found"
    assert router.post("/models/load", {"model": name}).status_code == 404
    assert name not in router.models()


def test_load_unload_and_events(router):
    events: list = []
    got_unloaded = threading.Event()

    def listen():
        with requests.get(router.base + "/models/sse", stream=True, timeout=120) as r:
            for line in r.iter_lines():
                if line.startswith(b"data: "):
                    events.append(json.loads(line[6:]))
                    mine = [e["data"]["status"] for e in events if e["model"] == "embedder"]
                    if mine[-3:] == ["loading", "loaded", "unloaded"]:
                        got_unloaded.set()
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(0.5)
    if router.models()["embedder"]["status"]["value"] != "unloaded":
        assert router.post("/models/unload", {"model": "embedder"}).json() == {"success": True}
        router.wait_status("embedder", "unloaded")
    assert router.post("/models/load", {"model": "embedder"}).json() == {"success": True}
    router.wait_status("embedder", "loaded")
    assert router.post("/models/unload", {"model": "embedder"}).json() == {"success": True}
    router.wait_status("embedder", "unloaded")
    assert got_unloaded.wait(30), events
    statuses = [e["data"]["status"] for e in events if e["model"] == "embedder"]
    assert statuses[-3:] == ["loading", "loaded", "unloaded"], statuses
    not_running = router.post("/models/unload", {"model": "embedder"})
    assert not_running.status_code == 400 and not_running.json()["error"]["message"] == "model is not running"


def test_delete_and_download_are_refused_with_a_reason(router):
    r = requests.delete(router.base + "/models", timeout=30)
    assert r.status_code == 400 and "non-empty" in r.json()["error"]["message"]
    r = requests.delete(router.base + "/models", params={"model": "gemma"}, timeout=30)
    assert r.status_code == 400 and "not removable" in r.json()["error"]["message"]
    r = router.post("/models", {"model": "ggml-org/x"})
    assert r.status_code == 400 and "--models-dir" in r.json()["error"]["message"]


def test_a_request_for_a_model_that_is_unloading_waits_and_is_served(router):
    router.post("/v1/completions", {"model": "gemma", "prompt": "x", "max_tokens": 1})
    assert router.post("/models/unload", {"model": "gemma"}).status_code == 200
    r = router.post("/v1/completions", {"model": "gemma", "prompt": "Hi", "max_tokens": 2})
    assert r.status_code == 200, r.text
    assert router.models()["gemma"]["status"]["value"] == "loaded"


# --- the Python router ------------------------------------------------------------------------


def test_python_router_routes_by_model_and_loads_lru(mdir, model_path, preset):
    router = xlc.Router(models_dir=str(mdir), models_preset=preset, models_max=1, args=BASE_FLAGS)
    try:
        assert {m["id"] for m in router.models()} == {"gemma", "embedder"}
        r = router.handle_completions({"model": "gemma", "prompt": "Hi", "max_tokens": 2})
        assert r["usage"]["completion_tokens"] == 2
        chunks: list = []
        router.handle_chat_completions(dict(CHAT, model="gemma", stream=True), chunks.append)
        assert chunks[-1]["choices"][0]["finish_reason"] is not None
        assert [c["choices"][0]["text"] for c in router.stream_completions({"model": "gemma", "prompt": "Hi",
                                                                             "max_tokens": 3})]
        # models_max 1: the embedder's start stops gemma, the least recently used
        router.handle_embeddings({"model": "embedder", "input": "hi"})
        status = {m["id"]: m["status"]["value"] for m in router.models()}
        assert status == {"gemma": "unloaded", "embedder": "loaded"}
        with pytest.raises(xlc.BadRequestError, match="model name is missing"):
            router.handle_completions({"prompt": "Hi", "max_tokens": 2})
        with pytest.raises(xlc.BadRequestError, match="model 'nope' not found"):
            router.handle_completions({"model": "nope", "prompt": "Hi"})
        assert router.handle("POST", "/v1/completions", {"model": "nope"})["error"]["code"] == 400
        assert router.handle("GET", "/props?model=embedder")["total_slots"] >= 1
        with pytest.raises(xlc.BadRequestError, match="already running"):
            router.load("embedder")
        router.unload("embedder")
        with pytest.raises(xlc.BadRequestError, match="not running"):
            router.unload("embedder")
        router.load("gemma")
        assert router.model("gemma").handle_completions({"prompt": "Hi", "max_tokens": 1})["choices"]
    finally:
        router.close()


def test_async_forms_of_the_router(mdir, preset):
    import asyncio

    async def main(aroute):
        r = await aroute.handle_completions({"model": "gemma", "prompt": "Hi", "max_tokens": 2})
        events = [e async for e in aroute.stream_completions({"model": "gemma", "prompt": "Hi", "max_tokens": 3})]
        return r, events

    with xlc.Router(models_dir=str(mdir), models_preset=preset, args=BASE_FLAGS) as router:
        r, events = asyncio.run(main(xlc.AsyncServer(router)))
    assert r["usage"]["completion_tokens"] == 2 and len(events) >= 3


def test_models_max_zero_and_negative_mean_no_limit(mdir, preset):
    for limit in (0, -1):
        with xlc.Router(models_dir=str(mdir), models_preset=preset, models_max=limit, args=BASE_FLAGS) as router:
            router.load("gemma")
            router.load("embedder")
            assert {m["status"]["value"] for m in router.models()} == {"loaded"}


def test_no_autoload_refuses_a_stopped_model(mdir, preset):
    serve = Serve.ours("--models-dir", str(mdir), "--models-preset", preset, "--no-models-autoload", *BASE_FLAGS)
    try:
        r = serve.post("/v1/completions", {"model": "gemma", "prompt": "x", "max_tokens": 1})
        assert r.status_code == 400 and r.json()["error"]["message"] == "model is not loaded"
        ok = serve.post("/v1/completions?autoload=true", {"model": "gemma", "prompt": "x", "max_tokens": 1})
        assert ok.status_code == 200, ok.text
    finally:
        serve.stop()


def test_a_model_that_fails_to_load_answers_the_loads_error(tmp_path, model_path):
    d = models_dir(tmp_path / "models", {"gemma": model_path})
    (d / "broken.gguf").write_text("this is not a model\n" * 100)
    serve = Serve.ours("--models-dir", str(d), *BASE_FLAGS)
    try:
        t = time.monotonic()
        r = serve.post("/v1/completions", {"model": "broken", "prompt": "x", "max_tokens": 1})
        assert time.monotonic() - t < 60
        assert r.status_code == 503 and "not a GGUF" in r.json()["error"]["message"], r.text
        status = serve.models()["broken"]["status"]
        assert status["value"] == "unloaded" and status["failed"] is True and status["exit_code"] == 1
        assert serve.post("/v1/completions", {"model": "gemma", "prompt": "x", "max_tokens": 1}).status_code == 200
    finally:
        serve.stop()


# --- presets ------------------------------------------------------------------------------------

PRESET = """\
version = 1
; every model
[*]
c = 1024
threads = 2

[gemma]
n-predict = 3
no-warmup = true
stop-timeout = 2

[custom]
model = {model}
ctx-size = 512   ; a comment after a value
LLAMA_ARG_UBATCH = 256
"""


def test_a_preset_file_gives_each_model_its_flags(mdir, model_path, tmp_path):
    preset = tmp_path / "models.ini"
    preset.write_text(PRESET.format(model=model_path))
    with xlc.Router(models_dir=str(mdir), models_preset=str(preset)) as router:
        listed = {m["id"]: m for m in router.models()}
        assert set(listed) == {"gemma", "embedder", "custom"}
        assert listed["custom"]["source"] == "preset" and "ctx-size = 512" in listed["custom"]["status"]["preset"]
        props = router.handle("GET", "/props?model=custom")
        assert props["default_generation_settings"]["n_ctx"] == 512
        r = router.handle_completions({"model": "gemma", "prompt": "Hi"})  # n-predict 3 from its section
        assert r["usage"]["completion_tokens"] == 3
        assert router.handle("GET", "/props?model=gemma")["default_generation_settings"]["n_ctx"] == 1024


@pytest.mark.parametrize("text, line, what", [
    ("[gemma]\nc = 1024\nno-such-flag = 1\n", 3, "option 'no-such-flag' not recognized in preset 'gemma'"),
    ("[gemma]\n\nctx-size = lots\n", 3, "option 'ctx-size' = 'lots'"),
    ("[gemma]\nwarmup = maybe\n", 2, "is a flag"),
    ("[gemma]\nstop-timeout = -3\n", 2, "stop-timeout takes seconds"),
    ("c = 1\nthis is not ini\n", 2, "not a section"),
    ("[lonely]\nc = 512\n", 1, "names no model"),
    ("[gemma]\nport = 9000\n", 2, "set by the router"),
])
def test_a_bad_preset_is_refused_at_start_with_its_line(mdir, tmp_path, text, line, what):
    preset = tmp_path / "bad.ini"
    preset.write_text(text)
    with pytest.raises(ValueError) as info:
        xlc.Router(models_dir=str(mdir), models_preset=str(preset))
    assert f"{preset}:{line}:" in str(info.value) and what in str(info.value)
    # and `xllamacpp serve` stops at once, with the same message
    r = subprocess.run([sys.executable, "-m", "xllamacpp", "serve", "--models-dir", str(mdir), "--models-preset",
                        str(preset), "--port", "0"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and f"{preset}:{line}:" in r.stderr, r.stderr


def test_serve_with_a_missing_models_dir_is_a_clear_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "xllamacpp", "serve", "--models-dir", str(tmp_path / "none")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "does not exist" in r.stderr


def test_the_router_process_loads_no_model(router):
    """The router's own process has the library but no model: its memory stays far below a model's."""
    with open(f"/proc/{router.proc.pid}/maps") as f:
        assert ".gguf" not in f.read()
    assert children(router.proc.pid)  # the models run in its children
    for pid in children(router.proc.pid):
        assert os.path.basename(open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0]).startswith(b"python")


def test_a_model_sleeps_on_idle_and_wakes_on_a_request(mdir, tmp_path):
    preset = tmp_path / "sleepy.ini"
    preset.write_text("[gemma]\nsleep-idle-seconds = 1\n")
    with xlc.Router(models_dir=str(mdir), models_preset=str(preset), args=BASE_FLAGS) as router:
        assert router.handle_completions({"model": "gemma", "prompt": "Hi", "max_tokens": 2})["choices"]
        deadline = time.monotonic() + 20
        status = ""
        while time.monotonic() < deadline:
            status = {m["id"]: m for m in router.models()}["gemma"]["status"]["value"]
            if status == "sleeping":
                break
            time.sleep(0.2)
        assert status == "sleeping"
        assert router.handle_completions({"model": "gemma", "prompt": "Hi", "max_tokens": 2})["choices"]
        assert {m["id"]: m for m in router.models()}["gemma"]["status"]["value"] == "loaded"
