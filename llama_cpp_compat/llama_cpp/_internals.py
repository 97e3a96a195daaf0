"""llama-cpp-python's ctypes wrappers (LlamaModel, LlamaContext, LlamaBatch, LlamaSampler, ...), which
drive llama.h directly. llama-server owns the model and the context here: each raises NotImplementedError."""
from __future__ import annotations

from typing import Any, List


def _unsupported(name: str) -> type:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(
            f"llama_cpp._internals.{name} drives llama.h directly, which llama_cpp on xllamacpp does not: "
            "llama-server owns the model and its context. Use Llama, or xllamacpp.Server "
            "(see docs/llama_cpp_compat.md)")

    return type(name, (), {"__init__": __init__, "__doc__": f"Not supported: {name}."})


LlamaModel = _unsupported("LlamaModel")
LlamaContext = _unsupported("LlamaContext")
LlamaBatch = _unsupported("LlamaBatch")
LlamaTokenDataArray = _unsupported("LlamaTokenDataArray")
LlamaSampler = _unsupported("LlamaSampler")
LlamaSamplingContext = _unsupported("LlamaSamplingContext")
LlamaSamplingParams = _unsupported("LlamaSamplingParams")
CustomSampler = _unsupported("CustomSampler")


def normalize_embedding(embedding: List[float]) -> List[float]:
    norm = sum(x * x for x in embedding) ** 0.5
    return [x / norm if norm > 0 else 0.0 for x in embedding]
