"""xllamacpp's router and llama-server's, side by side on the same models directory, answer for answer.

Every difference allowed here is a choice, listed in docs/compatibility.md ("The router").
"""
from __future__ import annotations

from pathlib import Path

import pytest
import requests

from routerkit import Serve, free_port, models_dir

ROOT = Path(__file__).resolve().parents[2]
LLAMA_SERVER = ROOT / "build" / "cpu" / "bin" / "llama-server"
FLAGS = ["-c", "1024", "-t", "2", "-tb", "2", "--no-warmup", "--temp", "0"]
# entry fields both give with the same value (created is a clock; status.args is each one's command line)
SAME_FIELDS = ("id", "object", "owned_by", "aliases", "tags", "architecture", "source", "can_remove")


@pytest.fixture(scope="module")
def pair(tmp_path_factory, model_path, embedding_model):
    if not LLAMA_SERVER.is_file():
        pytest.fail(f"{LLAMA_SERVER} is missing: `make test-router-compat` builds it")
    root = tmp_path_factory.mktemp("side")
    d = models_dir(root / "models", {"gemma": model_path, "embedder": embedding_model})
    (d / "broken.gguf").write_text("this is not a model\n" * 100)
    cache = root / "empty-cache"  # llama-server also lists its download cache: keep it empty
    cache.mkdir()
    env = {"LLAMA_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    theirs = Serve([str(LLAMA_SERVER), "--models-dir", str(d), *FLAGS], free_port(), env)
    try:
        ours = Serve.ours("--models-dir", str(d), *FLAGS, env=env)
    except BaseException:
        theirs.stop()
        raise
    yield ours, theirs
    ours.stop()
    theirs.stop()


def both(pair, method: str, path: str, body=None, params=None):
    out = []
    for side in pair:
        r = requests.request(method, side.base + path, json=body, params=params, timeout=300)
        try:
            out.append((r.status_code, r.json()))
        except ValueError:
            out.append((r.status_code, r.text))
    return out


def test_the_model_lists_agree_field_by_field(pair):
    ours, theirs = (side.models() for side in pair)
    assert set(ours) == set(theirs) == {"gemma", "embedder", "broken"}
    for name in ours:
        for key in SAME_FIELDS:
            assert ours[name][key] == theirs[name][key], (name, key)
        assert ours[name]["status"]["value"] == theirs[name]["status"]["value"] == "unloaded"
        assert set(theirs[name]) - set(ours[name]) == set(), name  # ours adds "path", theirs nothing we lack
        assert set(ours[name]) - set(theirs[name]) == {"path"}
    (a, ours_v1), (b, theirs_v1) = both(pair, "GET", "/v1/models")
    assert a == b == 200 and {m["id"] for m in ours_v1["data"]} == {m["id"] for m in theirs_v1["data"]}


def test_the_router_props_agree(pair):
    (a, ours), (b, theirs) = both(pair, "GET", "/props")
    assert a == b == 200
    assert set(ours) == set(theirs)
    for key in ("role", "max_instances", "models_autoload", "model_alias", "model_path",
                "default_generation_settings"):
        assert ours[key] == theirs[key], key


@pytest.mark.parametrize("method, path, body, params", [
    ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}, None),
    ("POST", "/v1/chat/completions", {"model": "nope", "messages": []}, None),
    ("POST", "/v1/completions", {"model": "../gemma", "prompt": "x"}, None),
    ("GET", "/props", None, {"model": "nope"}),
    ("GET", "/slots", None, None),
    ("POST", "/models/load", {"model": "nope"}, None),
    ("POST", "/models/unload", {"model": "nope"}, None),
    ("POST", "/models/unload", {"model": "embedder"}, None),
    ("DELETE", "/models", None, None),
])
def test_refusals_agree(pair, method, path, body, params):
    (a, ours), (b, theirs) = both(pair, method, path, body, params)
    assert a == b, (ours, theirs)
    if (method, path, a) == ("POST", "/models/load", 404):  # chosen: theirs says "File Not Found" (compatibility.md)
        assert ours["error"]["message"] == "model is not found" and theirs["error"]["message"] == "File Not Found"
    else:
        assert ours["error"]["message"] == theirs["error"]["message"]
    assert ours["error"]["type"] == theirs["error"]["type"]


def test_load_route_and_unload_agree(pair):
    assert both(pair, "POST", "/models/load", {"model": "gemma"}) == [(200, {"success": True})] * 2
    for side in pair:
        side.wait_status("gemma", "loaded")
    (a, ours), (b, theirs) = both(pair, "POST", "/models/load", {"model": "gemma"})
    assert a == b == 400 and ours["error"]["message"] == theirs["error"]["message"] == "model is already running"
    body = {"model": "gemma", "prompt": "The capital of France is", "max_tokens": 6, "temperature": 0}
    (a, ours), (b, theirs) = both(pair, "POST", "/v1/completions", body)
    assert a == b == 200 and ours["choices"][0]["text"] == theirs["choices"][0]["text"]
    (a, ours), (b, theirs) = both(pair, "GET", "/props", params={"model": "gemma"})
    assert a == b == 200 and ours["default_generation_settings"]["n_ctx"] == theirs["default_generation_settings"]["n_ctx"]
    assert both(pair, "POST", "/models/unload", {"model": "gemma"}) == [(200, {"success": True})] * 2
    for side in pair:
        side.wait_status("gemma", "unloaded")


def test_a_failed_load_shows_the_same_status(pair):
    (a, ours), (b, theirs) = both(pair, "POST", "/v1/completions", {"model": "broken", "prompt": "x"})
    assert (a, b) == (503, 500)  # chosen: ours answers the load's error as unavailable (docs/compatibility.md)
    assert "not a GGUF" in ours["error"]["message"] and "failed to load" in theirs["error"]["message"]
    ours_status, theirs_status = (side.models()["broken"]["status"] for side in pair)
    for key in ("value", "failed", "exit_code"):
        assert ours_status[key] == theirs_status[key], key
