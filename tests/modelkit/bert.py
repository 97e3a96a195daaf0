"""BERT (``bert`` arch) on the bge WordPiece vocabulary: an embedding model and a reranker.

Non-causal, mean pooling for the embedder; the reranker adds the classification
head (``cls.*``, ``cls.output.*``) that pooling RANK reads, with one output label.
"""
from __future__ import annotations

from pathlib import Path

from ._gguf import Metadata, Weights, write

N_EMBD, N_HEAD, N_LAYER, N_FF, N_CTX = 32, 2, 2, 64, 512
POOLING_MEAN, POOLING_RANK = 1, 4


def build(out: Path, vocab: Path, seed: int, reranker: bool = False) -> Path:
    meta = Metadata()
    meta.add("general.name", "kit-bert-reranker" if reranker else "kit-bert-embedding")
    meta.add("bert.context_length", N_CTX)
    meta.add("bert.embedding_length", N_EMBD)
    meta.add("bert.feed_forward_length", N_FF)
    meta.add("bert.block_count", N_LAYER)
    meta.add("bert.attention.head_count", N_HEAD)
    meta.add("bert.attention.layer_norm_epsilon", 1e-12)
    meta.add("bert.attention.causal", False)
    meta.add("bert.pooling_type", POOLING_RANK if reranker else POOLING_MEAN)
    if reranker:
        meta.add("bert.classifier.output_labels", ["relevance"])
    meta.copy_from(vocab, "tokenizer.")
    # llama.cpp reads BERT's [CLS] as the BOS token (and [SEP] as the separator it appends)
    meta.add("tokenizer.ggml.bos_token_id", meta.value("tokenizer.ggml.cls_token_id"))
    n_vocab = len(meta.value("tokenizer.ggml.tokens"))
    n_types = meta.value("tokenizer.ggml.token_type_count")

    w = Weights(seed)
    w.normal("token_embd.weight", (N_EMBD, n_vocab))
    w.normal("token_types.weight", (N_EMBD, n_types))
    w.normal("position_embd.weight", (N_EMBD, N_CTX))
    w.const("token_embd_norm.weight", (N_EMBD,), 1.0)
    w.const("token_embd_norm.bias", (N_EMBD,), 0.0)
    for i in range(N_LAYER):
        for t in ("attn_q", "attn_k", "attn_v", "attn_output"):
            w.normal(f"blk.{i}.{t}.weight", (N_EMBD, N_EMBD), std=0.2)
            w.normal(f"blk.{i}.{t}.bias", (N_EMBD,))
        w.const(f"blk.{i}.attn_output_norm.weight", (N_EMBD,), 1.0)
        w.const(f"blk.{i}.attn_output_norm.bias", (N_EMBD,), 0.0)
        w.normal(f"blk.{i}.ffn_up.weight", (N_EMBD, N_FF), std=0.2)
        w.normal(f"blk.{i}.ffn_up.bias", (N_FF,))
        w.normal(f"blk.{i}.ffn_down.weight", (N_FF, N_EMBD), std=0.2)
        w.normal(f"blk.{i}.ffn_down.bias", (N_EMBD,))
        w.const(f"blk.{i}.layer_output_norm.weight", (N_EMBD,), 1.0)
        w.const(f"blk.{i}.layer_output_norm.bias", (N_EMBD,), 0.0)
    if reranker:
        w.normal("cls.weight", (N_EMBD, N_EMBD), std=0.2)
        w.normal("cls.bias", (N_EMBD,))
        w.normal("cls.output.weight", (N_EMBD, 1), std=0.5)
        w.normal("cls.output.bias", (1,))
    return write(out, "bert", meta, w.tensors)
