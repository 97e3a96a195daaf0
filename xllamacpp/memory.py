"""How much of a GGUF model fits in the given GPUs' memory, planned before anything is loaded.

The same module and functions as upstream xllamacpp's ``xllamacpp.memory``, and
the same estimate: the one ollama publishes (a compute-graph size per
architecture, the KV cache per layer, layers placed from the last one down onto
the GPUs that have room, the output layer last). The file is read by ggml's own
GGUF parser through the facade, so the ``gguf`` package is not needed; a
``gguf.GGUFReader`` is still accepted where upstream takes one. llama.cpp's own
fitting (``params.fit_params``) decides at load time.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Tuple, Union, cast

MIB = 1024 * 1024
DEFAULT_MEMORY_MIN = 512 * MIB  # kept free on each GPU unless a device says otherwise
# the GGUF value types by number (gguf.h, and gguf-py's GGUFValueType)
GGUF_TYPES = ("UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY",
              "UINT64", "INT64", "FLOAT64")
_OUTPUT_PREFIXES = ("output_norm", "output", "token_embd")


@dataclass
class MemoryEstimate:
    layers: int = 0  # layers (the output layer counts as one) that fit on the GPUs
    graph: int = 0  # compute graph size on the main GPU, bytes
    vram_size: int = 0  # bytes on the GPUs with that many layers
    total_size: int = 0  # bytes for the whole model; equals vram_size when every layer fits
    tensor_split: list[float] = field(default_factory=lambda: list[float]())  # share of the layers on each GPU (sums to 1)
    gpu_sizes: list[int] = field(default_factory=lambda: list[int]())  # bytes on each GPU


class UnreadArray(Sequence[Any]):
    """A long GGUF array (a vocabulary) whose items were not read: its length and item type only."""

    def __init__(self, length: int, item_type: str):
        self._length = length
        self.item_type = item_type

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, i: Union[int, slice]) -> Any:
        raise LookupError("the items of long GGUF arrays are not read; use gguf.GGUFReader for them")

    def __repr__(self) -> str:
        return f"<{self._length} {self.item_type} items, not read>"


# --- reading the file -------------------------------------------------------------------


def _read(model_path: str) -> dict[str, Any]:
    from . import _json
    from ._library import call_out, lib

    path = os.fspath(model_path)
    info: dict[str, Any] = _json.loads(call_out(lib.xlc_gguf_info, path.encode()))
    return info


def get_file_host_endian(reader: Any = None) -> tuple[str, str]:
    """(host endianness, file endianness). ggml reads little-endian GGUF files only; a
    ``gguf.GGUFReader`` is asked for its own."""
    if reader is not None and hasattr(reader, "endianess"):
        file_endian = reader.endianess.name  # codespell:ignore
        swapped = getattr(reader, "byte_order", "I") == "S"
        return ("BIG" if file_endian == "LITTLE" else "LITTLE") if swapped else file_endian, file_endian
    return "LITTLE", "LITTLE"


def dump_metadata_json(reader: Any, model_path: str) -> dict[str, Any]:
    """The file's metadata and tensor table in upstream's form:
    ``{"filename", "endian", "metadata": {key: {"index", "type", "offset", "value"}},
    "tensors": {name: {"index", "shape", "type", "offset", "n_bytes"}}}``.

    ``reader`` is accepted for upstream's signature; the file at ``model_path`` is read
    with ggml's parser. Offsets are where each tensor's data starts (no field offsets:
    ggml's parser does not keep them); arrays of more than 1024 items are ``UnreadArray``.
    """
    info = _read(model_path)
    metadata: dict[str, Any] = {}
    kv: dict[str, dict[str, Any]] = info["kv"]
    for index, (key, item) in enumerate(kv.items()):
        entry: dict[str, Any] = {"index": index, "type": GGUF_TYPES[item["type"]], "offset": None}
        if item["type"] == GGUF_TYPES.index("ARRAY"):
            elem = GGUF_TYPES[int(item["elem"])]
            entry["array_types"] = [elem]
            entry["value"] = item["value"] if "value" in item else UnreadArray(item["length"], elem)
        else:
            entry["value"] = item["value"]
        metadata[key] = entry
    tensors = {
        name: {"index": i, "shape": t["shape"], "type": t["type"].upper(), "offset": t["offset"], "n_bytes": t["n_bytes"]}
        for i, (name, t) in enumerate(info["tensors"].items())
    }
    return {"filename": os.fspath(model_path), "endian": get_file_host_endian(reader)[1], "metadata": metadata,
            "tensors": tensors}


def block_count(model_path: str) -> int:
    """The number of repeating layers (blocks) of a GGUF model."""
    kv = _read(model_path)["kv"]
    return int(kv[kv["general.architecture"]["value"] + ".block_count"]["value"])


def projector_memory_requirements(projector: str) -> int:
    """Bytes of a multimodal projector's tensors."""
    return sum(t["n_bytes"] for t in _read(projector)["tensors"].values())


# --- the compute graph ------------------------------------------------------------------


def _extremes(value: Any) -> tuple[Any, Any]:
    """(max, min) of a per-layer array, or of a single value."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        values: Sequence[Any] = cast(Any, value)  # what pyright narrows to is Sequence[Unknown]
        return max(values), min(values)
    return value, value


# Compute-graph bytes by architecture, (full offload, partial offload), from the batch B,
# the context C, the embedding width E, the vocabulary V, the head counts and key width.
def _graph_llama(B: int, C: int, E: int, V: int, heads: int, heads_kv: int, head_k: int,
               head_max: int) -> tuple[float, float]:
    full = max(4 * B * (1 + 4 * E + C * (1 + heads)), 4 * B * (E + V))
    attention = 4 * B * (1 + E + max(C, E)) + E * E * 9 / 16 + 4 * C * (B * heads + head_max * heads_kv)
    partial = 4 * B * E + max(attention, 4 * B * (E + V) + E * V * 105 / 128)
    return full, partial


def _graph_gemma(B: int, C: int, E: int, V: int, heads: int, heads_kv: int, head_k: int,
               head_max: int) -> tuple[float, float]:
    per_token = 2 * E + 2 * head_k * heads + C + C * heads
    full = max(4 * B * (E + V), 4 * B * (2 + per_token))
    partial = max(4 * E * B + E * V * 105 / 128 + 4 * V * B,
                  4 * B * (1 + per_token) + 4 * head_k * C * 8 + E * head_k * heads * 9 / 16)
    return full, partial


def _graph_qwen2(B: int, C: int, E: int, V: int, heads: int, heads_kv: int, head_k: int,
               head_max: int) -> tuple[float, float]:
    full = max(4 * B * (E + V), 4 * B * (1 + 2 * E + C + C * heads))
    partial = max(4 * B * (E + V) + E * V * 105 / 128, 4 * (B * (1 + 2 * E + C * (1 + heads)) + E * (1 + C)))
    return full, partial


def _graph_stablelm(B: int, C: int, E: int, V: int, heads: int, heads_kv: int, head_k: int,
               head_max: int) -> tuple[float, float]:
    full = 4 * B * (C * (1 + heads) + 3 * E + 2)
    return full, max(4 * B * (V + 2 * E), full)


def _graph_deepseek2(B: int, C: int, E: int, V: int, heads: int, heads_kv: int, head_k: int,
               head_max: int) -> tuple[float, float]:
    full = max(4 * B * (3 * E + V), 4 * B * (3 * E + 2 + C * (1 + heads_kv) + 2 * head_k * heads_kv))
    partial = max(4 * B * (3 * E + V) + E * V * 105 / 128,
                  4 * B * (2 * E + 1 + 2 * head_k * heads_kv + C + C * heads_kv)
                  + 4 * head_k * C * heads_kv + E * head_k * heads_kv * 9 / 16)
    return full, partial


_Graph = Callable[[int, int, int, int, int, int, int, int], Tuple[float, float]]
_GRAPHS: Dict[str, _Graph] = {
    "llama": _graph_llama, "llama4": _graph_llama,
    "gemma": _graph_gemma, "gemma2": _graph_gemma, "gemma3": _graph_gemma,
    "qwen2": _graph_qwen2,
    "stablelm": _graph_stablelm,
    "deepseek2": _graph_deepseek2,
}
def _no_graph(*sizes: int) -> Tuple[float, float]:
    return 0.0, 0.0


_KV_BYTES = {"q8_0": 1, "q4_0": 0.5}  # per element; f16 (2) otherwise
_GEMMA3_GLOBAL_EVERY = 6  # gemma3: one full-attention layer in six, the others slide


def graph_size(metadata: dict[str, Any], context_length: int, batch_size: int, num_parallel: int,
               kv_cache_type: str) -> tuple[list[float], float, float]:
    """(KV cache bytes per layer, partial-offload graph bytes, full-offload graph bytes) for
    ``metadata`` in dump_metadata_json's form."""

    def value(key: str, default: Any = None) -> Any:
        entry = metadata.get(key)
        return default if entry is None else entry["value"]

    arch = value("general.architecture")
    batch = min(batch_size, context_length)
    E = value(f"{arch}.embedding_length")
    n_layer = value(f"{arch}.block_count")
    heads, heads_min = _extremes(value(f"{arch}.attention.head_count", 1))
    heads_kv, heads_kv_min = _extremes(value(f"{arch}.attention.head_count_kv", 1))
    V = len(value("tokenizer.ggml.tokens"))
    head_max = E // heads_min if heads_min > 0 else 0
    head_k = value(f"{arch}.attention.key_length", head_max)
    head_v = value(f"{arch}.attention.value_length", head_max)
    per_element = _KV_BYTES.get(kv_cache_type, 2)

    def kv_bytes(cells: int) -> float:
        return float(cells * (head_k + head_v) * heads_kv * per_element)

    kv = [kv_bytes(context_length)] * n_layer
    if arch == "gemma3":
        window = num_parallel * value(f"{arch}.attention.sliding_window") + batch
        kv = [kv[i] if (i + 1) % _GEMMA3_GLOBAL_EVERY == 0 else kv_bytes(window) for i in range(n_layer)]
    full, partial = _GRAPHS.get(arch, _no_graph)(batch, context_length, E, V, heads, heads_kv, head_k, head_max)
    if partial == 0:  # an architecture without its own figures: a share of the KV cache
        partial = heads / (heads_kv_min if heads_kv_min > 0 else 1) * sum(kv) / 6
    if full == 0:
        full = partial
    return kv, partial, full


# --- placing the layers -----------------------------------------------------------------


def estimate_gpu_layers(gpus: list[dict[str, Any]], model_path: str, projectors: list[str], context_length: int,
                        batch_size: int, num_parallel: int, kv_cache_type: str) -> MemoryEstimate:
    """Layers of ``model_path`` that fit in ``gpus`` (dicts with ``name``, ``memory_free`` and
    optionally ``memory_min``, bytes), for ``context_length`` tokens of KV cache in all.

    ``tensor_split`` is each GPU's share of the layers placed; a first GPU named "CPU"
    places nothing.
    """
    projector_bytes = sum(projector_memory_requirements(p) for p in projectors)
    if projector_bytes > 0:
        context_length = max(context_length, 2048)  # multimodal models need at least this much
    data = dump_metadata_json(None, model_path)
    metadata, tensors = data["metadata"], data["tensors"]
    kv, graph_partial, graph_full = graph_size(metadata, context_length, batch_size, num_parallel, kv_cache_type)
    n_layer = metadata[f"{metadata['general.architecture']['value']}.block_count"]["value"]

    layer_bytes = [0] * int(n_layer)
    for name, t in tensors.items():
        if name.startswith("blk.") and int(name.split(".")[1]) < n_layer:
            layer_bytes[int(name.split(".")[1])] += t["n_bytes"]
    output_bytes = sum(t["n_bytes"] for name, t in tensors.items() if name.startswith(_OUTPUT_PREFIXES))
    first_layer = (layer_bytes[0] if layer_bytes else 0) + (kv[0] if kv else 0)

    if gpus and gpus[0].get("name") == "Metal":
        graph_partial = graph_full  # unified memory: no partial-offload overhead
    elif len(gpus) > 1:
        graph_full = graph_partial  # several GPUs always use the partial graph
    graph = max(graph_partial, graph_full)

    def free(i: int) -> int:
        return int(gpus[i].get("memory_free", 0))

    # the GPUs with room for their overhead and two layers; the first of them also takes the projectors
    used = [0.0] * len(gpus)
    room: list[int] = []
    for i, gpu in enumerate(gpus):
        overhead = projector_bytes if not room else 0
        reserve = gpu.get("memory_min", DEFAULT_MEMORY_MIN)
        if free(i) >= overhead + graph + reserve + 2 * first_layer:
            room.append(i)
            used[i] += overhead + reserve + first_layer
    overflow = 0.0 if room else float(projector_bytes)

    def place(size: float, turn: int) -> bool:
        # round-robin by turn over the GPUs with room; a GPU that cannot take it leaves the rotation
        for n in range(len(room), 0, -1):
            g = room[turn % n]
            if free(g) > used[g] + graph + size:
                used[g] += size
                counts[g] += 1
                return True
            del room[turn % n]
        return False

    counts = [0] * len(gpus)
    placed = 0
    for i in reversed(range(n_layer)):
        if place(layer_bytes[i] + kv[i], i):
            placed += 1
        elif not room:
            overflow += layer_bytes[i] + kv[i]
    everything = placed >= n_layer
    if output_bytes > 0:
        if place(output_bytes, placed):
            placed += 1
        if placed < n_layer + 1:
            everything = False
            overflow += output_bytes

    graph = graph_full if everything else graph_partial
    for i in range(len(gpus)):
        if counts[i] > 0:
            used[i] += graph
    split = [c / placed for c in counts] if placed else [float(c) for c in counts]
    on_gpus = sum(used)
    estimate = MemoryEstimate(total_size=int(on_gpus + overflow), tensor_split=split)
    if not gpus or gpus[0].get("name") == "CPU" or placed == 0:
        return estimate
    estimate.layers = placed
    estimate.graph = int(graph)
    estimate.vram_size = int(on_gpus)
    estimate.gpu_sizes = [int(u) for u in used]
    return estimate


__all__ = ["MemoryEstimate", "UnreadArray", "block_count", "dump_metadata_json", "estimate_gpu_layers", "get_file_host_endian",
           "graph_size", "projector_memory_requirements"]
