"""The Vulkan library on lavapipe, Mesa's software Vulkan device, beside the CPU library.

Run when libxlc-vulkan.so is built (`make test-vulkan` builds it and runs these).
Lavapipe reports itself as a CPU-type device, which ggml uses only when
GGML_VK_VISIBLE_DEVICES names it: so the same machine shows both a Vulkan
library that has a device and one that has none.
"""
from __future__ import annotations

import math

import pytest

from test_backends import choose
from xllamacpp import _library

VULKAN_LIB = _library.LIB_DIR / "libxlc-vulkan.so"
pytestmark = pytest.mark.skipif(not VULKAN_LIB.is_file(), reason="libxlc-vulkan.so is not built: make test-vulkan")

LAVAPIPE = {"GGML_VK_VISIBLE_DEVICES": "0"}
NO_DRIVERS = {"GGML_VK_VISIBLE_DEVICES": "0", "VK_ICD_FILENAMES": "/nonexistent/icd.json",
              "VK_DRIVER_FILES": "/nonexistent/icd.json"}
# Mesa 22.3's lavapipe (Debian 12) crashes inside libvulkan_lvp.so running ggml's flash-attention
# shader once the context passes a few tokens: a driver bug, so attention runs unfused here, on
# the CPU library too, to compare like with like.
UNFUSED = {"flash_attn": False}
# Measured on lavapipe: embeddings' cosine to the CPU's 0.9984-0.9995 (max |diff| 1.2e-2)
EMBEDDING_COSINE = 0.995


def cosine(a, b) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_device_info_lists_the_vulkan_device():
    c = choose(None, XLLAMACPP_BACKEND="vulkan", **LAVAPIPE)
    assert c["backend"] == "vulkan" and c["path"] == str(VULKAN_LIB)
    vulkan = [d for d in c["device_info"] if d["backend"] == "Vulkan"]
    assert len(vulkan) == 1, c["device_info"]
    assert "llvmpipe" in vulkan[0]["description"] and vulkan[0]["memory_total"] > 0
    assert c["devices"] == [vulkan[0]["description"]]


def first_difference(a: list, b: list) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def test_all_layers_offloaded_answer_as_the_cpu_does(model_path):
    # a prompt whose continuation the model is sure of: every greedy token agrees
    code = {"model": model_path, "prompt": "def fibonacci(n):", "n_predict": 32, **UNFUSED}
    gpu = choose(code, XLLAMACPP_BACKEND="vulkan", **LAVAPIPE)
    cpu = choose(code, XLLAMACPP_BACKEND="cpu")
    assert any("offloaded 19/19 layers to GPU" in m for m in gpu["offload"]), gpu["offload"]
    assert len(gpu["tokens"]) == 32 and gpu["tokens"] == cpu["tokens"], (gpu["text"], cpu["text"])


def test_where_greedy_answers_part_they_part_at_a_near_tie(model_path):
    # prose from a 270M base model: the Vulkan kernels round differently from the CPU's (f16/f32
    # dequantised products against Q8_K integer dot products), which decides near-ties
    prose = {"model": model_path, "prompt": "The capital of France is", "n_predict": 32, "n_probs": 2, **UNFUSED}
    gpu = choose(prose, XLLAMACPP_BACKEND="vulkan", **LAVAPIPE)
    cpu = choose(prose, XLLAMACPP_BACKEND="cpu")
    same = first_difference(gpu["tokens"], cpu["tokens"])
    assert same >= 8, (gpu["text"], cpu["text"])  # measured: 11 of 32
    if same < 32:
        top = cpu["probs"][same]["top_logprobs"]
        assert gpu["tokens"][same] == top[1]["id"], top  # the GPU took the CPU's second choice...
        assert math.exp(top[0]["logprob"]) - math.exp(top[1]["logprob"]) < 0.15, top  # ...a close one


def test_embeddings_agree_with_the_cpu(model_path):
    job = {"model": model_path, "embed": ["hello world", "The capital of France is Paris."], **UNFUSED}
    gpu = choose(job, XLLAMACPP_BACKEND="vulkan", **LAVAPIPE)["embeddings"]
    cpu = choose(job, XLLAMACPP_BACKEND="cpu")["embeddings"]
    assert len(gpu) == len(cpu) == 2 and len(gpu[0]) == len(cpu[0]) == 640
    for g, c in zip(gpu, cpu):
        assert cosine(g, c) >= EMBEDDING_COSINE, cosine(g, c)
    # and the two inputs stay told apart
    assert cosine(gpu[0], gpu[1]) < 0.99


def test_automatic_choice_takes_vulkan_when_it_has_a_device(model_path):
    c = choose({"model": model_path, **UNFUSED}, **LAVAPIPE)
    assert c["backend"] == "vulkan"
    assert c["reason"].startswith("the first GPU library with a device: llvmpipe")
    assert [b for b, _, why in c["rejected"] if why == "no such file"] == ["cuda", "hip"]
    assert len(c["tokens"]) == 8


@pytest.mark.parametrize("env", [{}, NO_DRIVERS], ids=["lavapipe-not-named", "no-vulkan-driver"])
def test_vulkan_library_without_a_device_falls_back_to_cpu(env):
    c = choose(**env)
    assert c["backend"] == "cpu" and c["reason"] == "automatic: no GPU library usable"
    why = {b: r for b, _, r in c["rejected"]}
    assert why["vulkan"].startswith("loaded, but found no GPU device"), why


def test_named_vulkan_without_a_device_still_runs(model_path):
    c = choose({"model": model_path}, XLLAMACPP_BACKEND="vulkan", **NO_DRIVERS)
    assert c["backend"] == "vulkan" and "found no GPU device" in c["reason"]
    assert [d for d in c["device_info"] if d["backend"] == "Vulkan"] == []
    assert len(c["tokens"]) == 8 and c["text"].strip()
