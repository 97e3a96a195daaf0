"""llama_cpp: llama-cpp-python's Python API on xllamacpp (llama-server's engine, in this process).

    from llama_cpp import Llama
    llm = Llama("model.gguf", n_ctx=2048)          # n_parallel=4 slots: threads batch together
    print(llm("Q: Name the planets. A:", max_tokens=32)["choices"][0]["text"])

The high-level API (Llama, LlamaGrammar, llama_types) keeps llama-cpp-python 0.3's names and
answers; the low-level ``llama_cpp.llama_*`` C functions are not here (calling one raises
NotImplementedError naming the alternative). docs/llama_cpp_compat.md lists what maps.
"""
from __future__ import annotations

from ._shadow import warn_if_shadowing
from .llama_cpp import *  # noqa: F401,F403 - llama.cpp's enum constants, and the C functions' stand-ins
from .llama import *  # noqa: F401,F403
from .llama_grammar import LlamaGrammar as LlamaGrammar
from .llama_cache import BaseLlamaCache as BaseLlamaCache, LlamaCache as LlamaCache
from .llama_cache import LlamaDiskCache as LlamaDiskCache, LlamaRAMCache as LlamaRAMCache
from .llama_speculative import LlamaPromptLookupDecoding as LlamaPromptLookupDecoding
from . import llama_types as llama_types

# the llama-cpp-python release whose API this follows (frameworks compare against it)
__version__ = "0.3.36"
__engine__ = "xllamacpp"

warn_if_shadowing()


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    # llama_cpp.llama_backend_init & co: the C functions' stand-ins (llama_cpp.llama_cpp)
    from . import llama_cpp as _c

    return getattr(_c, name)
