"""The model kit: same seed, same bytes; each file carries what llama.cpp reads from it."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import modelkit
from modelkit import lora, mmproj
from modelkit._gguf import read_header


def _digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def kit(model_path):
    return {name: modelkit.path(name) for name in modelkit.MODELS}


def test_same_seed_gives_the_same_bytes(kit, tmp_path):
    again = modelkit.build_all(tmp_path)
    assert {name: _digest(p) for name, p in again.items()} == {name: _digest(p) for name, p in kit.items()}


def test_another_seed_gives_other_weights(tmp_path):
    model = modelkit.MODELS["embedding"]
    a = model.build(tmp_path / "a.gguf", model.seed)
    b = model.build(tmp_path / "b.gguf", model.seed + 1)
    assert _digest(a) != _digest(b)
    assert a.stat().st_size == b.stat().st_size


def test_cache_folder_is_keyed_by_the_generator_version(kit, monkeypatch, tmp_path):
    assert Path(kit["moe"]).parent.name == modelkit.version()
    assert str(Path.home() / ".cache" / "xllamacpp" / "models") in kit["moe"]
    monkeypatch.setenv("XLLAMACPP_MODEL_KIT", str(tmp_path))
    moved = modelkit.path("moe")
    assert Path(moved).parent == tmp_path and _digest(moved) == _digest(kit["moe"])


def test_unknown_model_names_the_known_ones():
    with pytest.raises(KeyError, match="embedding"):
        modelkit.path("nonesuch")


def test_files_pair_with_the_base_model(kit, model_path):
    base_kv, base_tensors = read_header(Path(model_path))
    n_embd = base_kv["gemma3.embedding_length"][0]

    lora_kv, lora_tensors = read_header(Path(kit["lora"]))
    assert lora_kv["general.type"][0] == b"adapter" and lora_kv["adapter.type"][0] == b"lora"
    assert lora_kv["general.architecture"][0] == b"gemma3"
    n_in, n_out = base_tensors["blk.0.attn_q.weight"]
    assert lora_tensors["blk.0.attn_q.weight.lora_a"] == (n_in, lora.RANK)
    assert lora_tensors["blk.0.attn_q.weight.lora_b"] == (lora.RANK, n_out)

    mm_kv, mm_tensors = read_header(Path(kit["mmproj"]))
    assert mm_kv["clip.projector_type"][0] == b"gemma3"
    assert mm_kv["clip.vision.projection_dim"][0] == n_embd
    assert mm_tensors["mm.input_projection.weight"] == (n_embd, mmproj.N_EMBD)
    assert mm_kv["clip.vision.feed_forward_length"][0] != mm_kv["clip.vision.embedding_length"][0]

    draft_kv, _ = read_header(Path(kit["draft"]))
    for key in [k for k in base_kv if k.startswith("tokenizer.")]:
        assert draft_kv[key] == base_kv[key], key


def test_bert_reads_cls_as_bos_and_the_reranker_has_a_head(kit):
    kv, tensors = read_header(Path(kit["embedding"]))
    assert kv["tokenizer.ggml.bos_token_id"][0] == kv["tokenizer.ggml.cls_token_id"][0] == 101
    assert kv["bert.attention.causal"][0] is False and kv["bert.pooling_type"][0] == 1
    assert "cls.output.weight" not in tensors
    kv, tensors = read_header(Path(kit["reranker"]))
    assert kv["bert.pooling_type"][0] == 4 and kv["bert.classifier.output_labels"][0] == [b"relevance"]
    assert {"cls.weight", "cls.bias", "cls.output.weight", "cls.output.bias"} <= set(tensors)


def test_moe_has_experts(kit):
    kv, tensors = read_header(Path(kit["moe"]))
    assert kv["llama.expert_count"][0] == 4 and kv["llama.expert_used_count"][0] == 2
    assert tensors["blk.0.ffn_up_exps.weight"][2] == 4
