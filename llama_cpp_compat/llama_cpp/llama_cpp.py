"""What ``llama_cpp.llama_cpp`` (llama-cpp-python's ctypes binding of llama.h) offers here.

The enum constants are llama.cpp's own, read from the vendored headers through xllamacpp
(``LLAMA_POOLING_TYPE_MEAN``, ``GGML_TYPE_Q8_0``, ...). The C functions are not bound: llama-server
owns the model and its context, so ``llama_cpp.llama_decode(...)`` and the rest raise
NotImplementedError naming the alternative.
"""
from __future__ import annotations

import enum
from typing import Any, Callable, Dict

import xllamacpp as _xlc

# the prefixes of llama.h's, ggml's and the multimodal libraries' C functions
_C_PREFIXES = ("llama_", "ggml_", "llava_", "clip_", "mtmd_", "gguf_")


def _constants() -> Dict[str, int]:
    values: Dict[str, int] = {}
    for name, value in _xlc._generated().items():
        if isinstance(value, type) and issubclass(value, enum.Enum):
            values.update({member.name: int(member.value) for member in value})
        elif isinstance(value, int) and name.isupper():
            values[name] = value
    return values


globals().update(_constants())
LLAMA_DEFAULT_SEED = 0xFFFFFFFF
__all__ = sorted(n for n in globals() if n.isupper())


def _unsupported(name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"llama_cpp.{name}: the C functions of llama.h are not bound by llama_cpp on xllamacpp, where "
            "llama-server owns the model and its context; use Llama's methods, or xllamacpp.Server for any "
            "llama-server route (see docs/llama_cpp_compat.md)")

    call.__name__ = call.__qualname__ = name
    return call


def __getattr__(name: str) -> Any:
    if name.startswith(_C_PREFIXES):
        return _unsupported(name)
    raise AttributeError(f"module 'llama_cpp.llama_cpp' has no attribute '{name}'")
