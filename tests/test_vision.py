"""Vision: gemma3 270M with the kit's gemma3 projector; images as data URIs made here."""
from __future__ import annotations

import base64
import io

import pytest
import requests

import xllamacpp as xlc
from conftest import make_params

IMAGE_TOKENS = 16  # tests/modelkit/mmproj.py: (224 / 14 / 4)^2


def _data_uri(fmt: str, color: tuple[int, int, int], size=(64, 48)) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


PNG = _data_uri("PNG", (200, 30, 30))
JPEG = _data_uri("JPEG", (30, 30, 200), size=(40, 90))


def _chat(*images: str, text: str = "Describe:") -> dict:
    content = [{"type": "text", "text": text}] + [{"type": "image_url", "image_url": {"url": u}} for u in images]
    return {"messages": [{"role": "user", "content": content}], "max_tokens": 3}


@pytest.fixture(scope="module")
def vision(model_path, mmproj):
    with xlc.Server(make_params(model_path, mmproj__path=mmproj, n_parallel=1)) as s:
        yield s


def test_props_report_vision(vision, server):
    assert vision.handle("GET", "/props")["modalities"]["vision"] is True
    assert requests.get(vision.listening_address + "/props", timeout=30).json()["modalities"]["vision"] is True
    assert server.handle("GET", "/props")["modalities"]["vision"] is False


def test_each_image_costs_its_tokens(vision):
    def prompt_tokens(*images):
        r = vision.handle_chat_completions(_chat(*images))
        assert "error" not in r, r
        return r["usage"]["prompt_tokens"]

    none, one, two = prompt_tokens(), prompt_tokens(PNG), prompt_tokens(PNG, JPEG)
    assert one - none >= IMAGE_TOKENS
    assert two - one >= IMAGE_TOKENS
    assert prompt_tokens(JPEG) == one  # the same count whatever the image's format and size


def test_different_images_give_different_answers_to_the_same_prompt(vision):
    # random weights, greedy: the image is what changes the first generated tokens' distribution
    a = vision.handle_chat_completions({**_chat(PNG), "n_probs": 3})
    b = vision.handle_chat_completions({**_chat(_data_uri("PNG", (0, 255, 0))), "n_probs": 3})
    assert a["choices"][0]["logprobs"] != b["choices"][0]["logprobs"]


def test_vision_over_http_with_the_openai_client(vision):
    from openai import OpenAI

    client = OpenAI(base_url=vision.listening_address + "/v1", api_key="unused")
    reply = client.chat.completions.create(model="kit", max_tokens=3, messages=_chat(PNG, JPEG)["messages"])
    assert reply.choices[0].message.content is not None
    assert reply.usage is not None and reply.usage.prompt_tokens >= 2 * IMAGE_TOKENS


@pytest.mark.parametrize("url", [
    "data:image/png;base64," + base64.b64encode(b"this is not an image").decode(),
    "data:image/png;base64,!!!not base64!!!",
])
def test_a_corrupt_image_is_a_400_and_the_server_goes_on(vision, url):
    r = vision.handle_chat_completions(_chat(url))
    assert r["error"]["code"] == 400 and "image" in r["error"]["message"]
    r = requests.post(vision.listening_address + "/v1/chat/completions", json=_chat(url), timeout=60)
    assert r.status_code == 400 and r.json()["error"]["message"]
    assert "error" not in vision.handle_chat_completions(_chat(PNG))


def test_an_image_to_a_text_only_server_is_refused(server):
    with pytest.raises(xlc.BadRequestError, match="image input, which this model cannot take") as refused:
        server.handle_chat_completions(_chat(PNG))
    assert refused.value.http_status == 400 and "params.mmproj.path" in refused.value.error["message"]


def test_a_projector_for_another_model_is_refused_at_load(moe_model, mmproj):
    """The projector's output (640, gemma3 270M's embedding size) must be the text model's (64 here)."""
    with pytest.raises(RuntimeError, match="mismatch between text model"):
        xlc.Server(make_params(moe_model, mmproj__path=mmproj))
