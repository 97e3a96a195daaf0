"""Tiny text models: a gemma3 sharing a base file's vocabulary (a draft model) and
llama models on a vendored vocabulary, dense or Mixtral-style MoE.

Random weights produce random text; what the tests need is that llama.cpp loads
them, that the draft model's vocabulary matches its target's token for token,
and that the MoE routes through ``*_exps`` tensors.
"""
from __future__ import annotations

from pathlib import Path

from ._gguf import Metadata, Weights, write

EPS = 1e-6


def build_gemma3(out: Path, base: Path, seed: int, n_embd: int = 64, n_layer: int = 2) -> Path:
    """gemma3 with every ``tokenizer.*`` key of ``base``: a draft model llama.cpp accepts for it."""
    n_head, n_head_kv, head_dim, n_ff = 2, 1, 32, 128
    meta = Metadata()
    meta.add("general.name", "kit-draft-gemma3")
    meta.add("gemma3.context_length", 32768)
    meta.add("gemma3.embedding_length", n_embd)
    meta.add("gemma3.block_count", n_layer)
    meta.add("gemma3.feed_forward_length", n_ff)
    meta.add("gemma3.attention.head_count", n_head)
    meta.add("gemma3.attention.head_count_kv", n_head_kv)
    meta.add("gemma3.attention.key_length", head_dim)
    meta.add("gemma3.attention.value_length", head_dim)
    meta.add("gemma3.attention.layer_norm_rms_epsilon", EPS)
    meta.add("gemma3.rope.freq_base", 1000000.0)
    meta.copy_from(base, "tokenizer.")
    n_vocab = len(meta.value("tokenizer.ggml.tokens"))

    w = Weights(seed)
    # Q8_0: the embedding is most of the file (262k rows); 64 values per row quantise evenly
    w.q8_0("token_embd.weight", (n_embd, n_vocab), std=1.0)
    w.const("output_norm.weight", (n_embd,), 1.0)
    for i in range(n_layer):
        w.const(f"blk.{i}.attn_norm.weight", (n_embd,), 1.0)
        w.normal(f"blk.{i}.attn_q.weight", (n_embd, n_head * head_dim))
        w.normal(f"blk.{i}.attn_k.weight", (n_embd, n_head_kv * head_dim))
        w.normal(f"blk.{i}.attn_v.weight", (n_embd, n_head_kv * head_dim))
        w.normal(f"blk.{i}.attn_output.weight", (n_head * head_dim, n_embd))
        w.const(f"blk.{i}.attn_q_norm.weight", (head_dim,), 1.0)
        w.const(f"blk.{i}.attn_k_norm.weight", (head_dim,), 1.0)
        w.const(f"blk.{i}.post_attention_norm.weight", (n_embd,), 1.0)
        w.const(f"blk.{i}.ffn_norm.weight", (n_embd,), 1.0)
        w.normal(f"blk.{i}.ffn_gate.weight", (n_embd, n_ff))
        w.normal(f"blk.{i}.ffn_up.weight", (n_embd, n_ff))
        w.normal(f"blk.{i}.ffn_down.weight", (n_ff, n_embd))
        w.const(f"blk.{i}.post_ffw_norm.weight", (n_embd,), 1.0)
    return write(out, "gemma3", meta, w.tensors)


def build_llama(out: Path, vocab: Path, seed: int, name: str, n_expert: int = 0,
                n_embd: int = 64, n_layer: int = 2) -> Path:
    """llama on ``vocab``'s tokenizer; ``n_expert`` > 0 makes each FFN a mixture of experts (2 used)."""
    n_head, n_head_kv, n_ff = 4, 2, 128
    head_dim = n_embd // n_head
    meta = Metadata()
    meta.add("general.name", name)
    meta.add("llama.context_length", 4096)
    meta.add("llama.embedding_length", n_embd)
    meta.add("llama.block_count", n_layer)
    meta.add("llama.feed_forward_length", n_ff)
    meta.add("llama.attention.head_count", n_head)
    meta.add("llama.attention.head_count_kv", n_head_kv)
    meta.add("llama.attention.layer_norm_rms_epsilon", EPS)
    meta.add("llama.rope.dimension_count", head_dim)
    meta.add("llama.rope.freq_base", 10000.0)
    if n_expert:
        meta.add("llama.expert_count", n_expert)
        meta.add("llama.expert_used_count", 2)
    meta.copy_from(vocab, "tokenizer.")
    n_vocab = len(meta.value("tokenizer.ggml.tokens"))
    meta.add("llama.vocab_size", n_vocab)

    w = Weights(seed)
    w.normal("token_embd.weight", (n_embd, n_vocab), std=1.0, dtype="float16")
    w.const("output_norm.weight", (n_embd,), 1.0)
    w.normal("output.weight", (n_embd, n_vocab), std=0.5, dtype="float16")
    for i in range(n_layer):
        w.const(f"blk.{i}.attn_norm.weight", (n_embd,), 1.0)
        w.normal(f"blk.{i}.attn_q.weight", (n_embd, n_embd))
        w.normal(f"blk.{i}.attn_k.weight", (n_embd, n_head_kv * head_dim))
        w.normal(f"blk.{i}.attn_v.weight", (n_embd, n_head_kv * head_dim))
        w.normal(f"blk.{i}.attn_output.weight", (n_embd, n_embd))
        w.const(f"blk.{i}.ffn_norm.weight", (n_embd,), 1.0)
        if n_expert:
            w.normal(f"blk.{i}.ffn_gate_inp.weight", (n_embd, n_expert), std=0.5)
            w.normal(f"blk.{i}.ffn_gate_exps.weight", (n_embd, n_ff, n_expert))
            w.normal(f"blk.{i}.ffn_up_exps.weight", (n_embd, n_ff, n_expert))
            w.normal(f"blk.{i}.ffn_down_exps.weight", (n_ff, n_embd, n_expert))
        else:
            w.normal(f"blk.{i}.ffn_gate.weight", (n_embd, n_ff))
            w.normal(f"blk.{i}.ffn_up.weight", (n_embd, n_ff))
            w.normal(f"blk.{i}.ffn_down.weight", (n_ff, n_embd))
    return write(out, "llama", meta, w.tensors)
