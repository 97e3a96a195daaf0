"""LoRA adapters on gemma3 270M: loaded at start, listed, rescaled at run time and per request."""
from __future__ import annotations

import pytest
import requests

import xllamacpp as xlc
from conftest import make_params

REQ = {"prompt": "The capital of France is", "max_tokens": 10}


def _text(server: xlc.Server, **extra) -> str:
    r = server.handle_completions({**REQ, **extra})
    assert "error" not in r, r
    return r["choices"][0]["text"]


@pytest.fixture(scope="module")
def base_text(model_path):
    with xlc.Server(make_params(model_path, n_parallel=1)) as s:
        return _text(s)


@pytest.fixture(scope="module")
def adapted(model_path, lora_adapter, lora_zero_adapter):
    """Adapter 0 changes the model, adapter 1 (lora_b = 0) does not; both at scale 1."""
    params = make_params(model_path, n_parallel=1)
    params.lora_adapters = [xlc.CommonAdapterLoraInfo(lora_adapter, 1.0),
                            xlc.CommonAdapterLoraInfo(lora_zero_adapter, 1.0)]
    with xlc.Server(params) as s:
        yield s


def _set_scales(server: xlc.Server, *scales: float) -> None:
    r = server.handle("POST", "/lora-adapters", [{"id": i, "scale": s} for i, s in enumerate(scales)])
    assert r == {"success": True}, r


def test_adapters_loaded_at_start_are_listed(adapted, lora_adapter, lora_zero_adapter):
    listed = adapted.handle("GET", "/lora-adapters")
    assert [(a["id"], a["path"], a["scale"]) for a in listed] == [(0, lora_adapter, 1.0), (1, lora_zero_adapter, 1.0)]


def test_scale_one_changes_greedy_output_and_scale_zero_restores_it(adapted, base_text):
    _set_scales(adapted, 1.0, 1.0)
    with_lora = _text(adapted)
    assert with_lora != base_text
    _set_scales(adapted, 0.0, 1.0)
    assert [a["scale"] for a in adapted.handle("GET", "/lora-adapters")] == [0.0, 1.0]
    # the slot's cached prompt was computed with the adapter: it must not leak into this answer
    assert _text(adapted) == base_text
    _set_scales(adapted, 1.0, 1.0)
    assert _text(adapted) == with_lora


def test_the_zero_adapter_changes_nothing(adapted, base_text):
    _set_scales(adapted, 1.0, 1.0)
    assert _text(adapted, lora=[{"id": 1, "scale": 1.0}]) == base_text  # adapter 0 unlisted: scale 0


def test_per_request_scales_override_and_do_not_stick(adapted, base_text):
    _set_scales(adapted, 1.0, 1.0)
    with_lora = _text(adapted)
    assert _text(adapted, lora=[{"id": 0, "scale": 0.0}, {"id": 1, "scale": 1.0}]) == base_text
    assert _text(adapted) == with_lora  # the next request runs with the server's scales again
    half = _text(adapted, lora=[{"id": 0, "scale": 0.5}])
    assert half not in (base_text, with_lora)
    chat = adapted.handle_chat_completions({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4,
                                            "lora": [{"id": 0, "scale": 0.0}]})
    assert chat["choices"][0]["message"]["content"] is not None


def test_lora_routes_over_http(adapted):
    base = adapted.listening_address
    r = requests.post(base + "/lora-adapters", json=[{"id": 0, "scale": 0.25}], timeout=30)
    assert r.status_code == 200 and r.json() == {"success": True}
    listed = requests.get(base + "/lora-adapters", timeout=30).json()
    assert [a["scale"] for a in listed] == [0.25, 0.0]  # unlisted adapters go to 0, as in llama-server
    r = requests.post(base + "/completion", json={"prompt": "Hi", "n_predict": 2, "lora": [{"id": 0, "scale": 1.0}]},
                      timeout=60)
    assert r.status_code == 200 and r.json()["generation_settings"]["lora"] == [{"id": 0, "scale": 1.0}]


@pytest.mark.parametrize("body, message", [
    ([{"id": 7, "scale": 1.0}], "[0].id is 7, but adapters are numbered 0 to 1"),
    ([{"id": "0", "scale": 1.0}], "[0].id must be an integer"),
    ({"id": 0, "scale": 1.0}, "must be a list"),
    ([{"id": 0, "scale": "big"}], "must be a number"),
])
def test_bad_scales_are_400(adapted, body, message):
    r = adapted.handle("POST", "/lora-adapters", body)
    assert r["error"]["code"] == 400 and message in r["error"]["message"]
    with pytest.raises(xlc.BadRequestError) as refused:  # handle_* raise a refusal, as upstream's do
        adapted.handle_completions({**REQ, "lora": body})
    assert refused.value.http_status == 400 and message in refused.value.error["message"]


def test_a_request_naming_an_adapter_on_a_server_without_any_is_400(server):
    with pytest.raises(xlc.BadRequestError, match="this server has no LoRA adapters") as refused:
        server.handle_completions({**REQ, "lora": [{"id": 0, "scale": 1.0}]})
    assert refused.value.http_status == 400


@pytest.mark.parametrize("which", ["missing", "not_gguf", "not_an_adapter"])
def test_a_bad_adapter_file_is_an_error_naming_it(model_path, embedding_model, tmp_path, which):
    bad = {"missing": str(tmp_path / "nope.gguf"), "not_gguf": str(tmp_path / "text.gguf"),
           "not_an_adapter": embedding_model}[which]
    (tmp_path / "text.gguf").write_text("not a model")
    params = make_params(model_path)
    params.lora_adapters = [xlc.CommonAdapterLoraInfo(bad, 1.0)]
    with pytest.raises(RuntimeError) as info:
        xlc.Server(params)
    assert bad in str(info.value)


def test_an_adapter_loaded_at_scale_zero_is_off_until_raised(model_path, lora_adapter, base_text):
    params = make_params(model_path, n_parallel=1)
    params.lora_adapters = [xlc.CommonAdapterLoraInfo(lora_adapter, 0.0)]
    with xlc.Server(params) as s:
        assert _text(s) == base_text
        _set_scales(s, 1.0)
        assert _text(s) != base_text
