"""LoRA adapters for a base GGUF (gemma3 270M by default), shapes read from the base file.

One pair ``blk.N.<t>.weight.lora_a/lora_b`` per targeted weight: ``lora_a`` is
``[n_in, rank]`` and ``lora_b`` is ``[rank, n_out]`` in ggml's order, for a base
weight ``[n_in, n_out]``. ``zero=True`` writes ``lora_b`` as zeros: an adapter
that loads, applies, and must change nothing.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._gguf import Metadata, Weights, read_metadata, tensor_shapes, write

RANK = 8
TARGETS = ("attn_q", "attn_v", "ffn_up")


def build(out: Path, base: Path, seed: int, zero: bool = False) -> Path:
    arch = read_metadata(base, "general.architecture")
    shapes = tensor_shapes(base)
    meta = Metadata()
    meta.add("general.type", "adapter")
    meta.add("general.name", "kit-lora-zero" if zero else "kit-lora")
    meta.add("adapter.type", "lora")
    meta.add("adapter.lora.alpha", float(RANK))  # scale = alpha / rank = 1
    w = Weights(seed)
    layer = 0
    while f"blk.{layer}.attn_q.weight" in shapes:
        for t in TARGETS:
            n_in, n_out = shapes[f"blk.{layer}.{t}.weight"]
            w.normal(f"blk.{layer}.{t}.weight.lora_a", (n_in, RANK), std=0.3)
            if zero:
                w.add(f"blk.{layer}.{t}.weight.lora_b", np.zeros((n_out, RANK), dtype=np.float32))
            else:
                w.normal(f"blk.{layer}.{t}.weight.lora_b", (RANK, n_out), std=0.3)
        layer += 1
    if not w.tensors:
        raise ValueError(f"{base}: no blk.N.attn_q.weight tensors to adapt")
    return write(out, arch, meta, w.tensors)
