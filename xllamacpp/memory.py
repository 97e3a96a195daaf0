"""estimate_gpu_layers: how many of a GGUF model's layers fit in the given GPUs' memory.

A planning estimate made from the file's tensor sizes and attention shape,
read by ggml's own GGUF parser through the facade before anything is loaded;
llama.cpp's own fitting (``params.fit_params``) decides at load time.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

MIB = 1024 * 1024
_BLOCK = re.compile(r"^blk\.(\d+)\.")
# bytes per KV element by cache type
_KV_BYTES = {"q8_0": 34 / 32, "q4_0": 18 / 32}


@dataclass
class MemoryEstimate:
    layers: int = 0  # layers that fit on the GPUs
    graph: int = 0  # compute buffer estimate, bytes
    vram_size: int = 0  # bytes on the GPUs with that many layers
    total_size: int = 0  # bytes for the whole model on one device
    tensor_split: list = field(default_factory=list)  # layers per GPU
    gpu_sizes: list = field(default_factory=list)  # bytes per GPU


def _model_shape(model_path: str):
    from . import _json
    from ._library import call_out, lib

    info = _json.loads(call_out(lib.xlc_gguf_info, str(model_path).encode()))
    kv = info["kv"]
    arch = kv.get("general.architecture", "llama")

    def get(key, default):
        value = kv.get(f"{arch}.{key}", default)
        return max(value) if isinstance(value, list) else value

    n_layer = int(get("block_count", 0))
    n_embd = int(get("embedding_length", 0))
    n_head = int(get("attention.head_count", 1))
    n_head_kv = int(get("attention.head_count_kv", n_head))
    head_k = int(get("attention.key_length", n_embd // max(n_head, 1)))
    head_v = int(get("attention.value_length", head_k))
    vocab = int((kv.get("tokenizer.ggml.tokens") or {}).get("array_length", 0))
    layer_bytes = [0] * n_layer
    other = 0
    for name, size in info["tensors"].items():
        m = _BLOCK.match(name)
        if m and int(m.group(1)) < n_layer:
            layer_bytes[int(m.group(1))] += int(size)
        else:
            other += int(size)
    return n_layer, n_embd, n_head_kv, head_k, head_v, vocab, layer_bytes, other


def _file_size(path: str) -> int:
    import os

    return os.path.getsize(path)


def estimate_gpu_layers(gpus: list, model_path: str, projectors: list, context_length: int, batch_size: int,
                        num_parallel: int, kv_cache_type: str) -> MemoryEstimate:
    """Layers of ``model_path`` that fit in ``gpus`` (dicts with ``name``, ``memory_free`` and optionally
    ``memory_min``, bytes) at ``context_length`` per sequence for ``num_parallel`` sequences."""
    n_layer, n_embd, n_head_kv, head_k, head_v, vocab, layer_bytes, other = _model_shape(model_path)
    kv_elem = _KV_BYTES.get(kv_cache_type, 2.0)
    n_ctx = context_length * max(num_parallel, 1)
    kv_per_layer = int(n_ctx * n_head_kv * (head_k + head_v) * kv_elem)
    # compute buffer: f32 activations of one batch (with headroom for the attention and FFN
    # intermediates), the logits of one output per sequence, and the attention scores
    graph = int(batch_size * n_embd * 4 * 16 + vocab * 4 * max(num_parallel, 1) + batch_size * 4 * min(n_ctx, 4096))
    projector_bytes = sum(_file_size(p) for p in projectors)
    total = other + sum(layer_bytes) + kv_per_layer * n_layer + graph + projector_bytes
    estimate = MemoryEstimate(graph=graph, total_size=total)
    if not gpus or gpus[0].get("name") == "CPU":
        estimate.graph = 0
        return estimate

    fixed = graph + projector_bytes + other  # output layer and embeddings go with the first GPU
    split, sizes, layer = [], [], 0
    for i, gpu in enumerate(gpus):
        free = int(gpu.get("memory_free", 0)) - int(gpu.get("memory_min", 512 * MIB))
        used = fixed if i == 0 else graph
        count = 0
        while layer < n_layer and used + layer_bytes[layer] + kv_per_layer <= free:
            used += layer_bytes[layer] + kv_per_layer
            layer += 1
            count += 1
        split.append(count)
        sizes.append(used if count else 0)
    if layer == 0:
        return MemoryEstimate(total_size=total)
    estimate.layers = layer
    estimate.tensor_split = [float(c) for c in split]
    estimate.gpu_sizes = sizes
    estimate.vram_size = sum(sizes)
    return estimate


__all__ = ["MemoryEstimate", "estimate_gpu_layers"]
