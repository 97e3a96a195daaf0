"""xllamacpp: llama.cpp's own server, in-process, behind a plain-C facade.

    import xllamacpp as xlc
    params = xlc.CommonParams()
    params.model.path = "models/gemma-3-270m-q4_k_m.gguf"
    with xlc.Server(params) as server:
        print(server.handle_completions({"prompt": "Hello", "n_predict": 8}))
"""
from __future__ import annotations

from ._library import BACKEND, XlcError
from ._library import path as library_path
from ._log import set_log_level
from ._params import ENUMS, CommonAdapterLoraInfo, CommonParams
from ._async import AsyncServer, AsyncStream
from ._server import Server, ServerClosedError
from ._stream import RequestError, Stream, StreamOverflowError
from ._structured import set_structured_output_engine, structured_output_engine
from .memory import MemoryEstimate, estimate_gpu_layers
from ._system import get_build_info, get_device_info, get_system_info, json_schema_to_grammar

# llama.cpp's enums under their C names: xlc.llama_pooling_type.LLAMA_POOLING_TYPE_LAST
globals().update(ENUMS)

LLAMA_DEFAULT_SEED = 0xFFFFFFFF
BUILD_INFO = {k: get_build_info()[k] for k in ("build_number", "commit", "compiler")}
BUILD_INFO["build_target"] = get_build_info()["target"]

__all__ = [
    "AsyncServer",
    "AsyncStream",
    "BACKEND",
    "BUILD_INFO",
    "LLAMA_DEFAULT_SEED",
    "CommonAdapterLoraInfo",
    "CommonParams",
    "RequestError",
    "Server",
    "ServerClosedError",
    "Stream",
    "StreamOverflowError",
    "XlcError",
    "MemoryEstimate",
    "estimate_gpu_layers",
    "get_build_info",
    "get_device_info",
    "get_system_info",
    "json_schema_to_grammar",
    "library_path",
    "set_log_level",
    "set_structured_output_engine",
    "structured_output_engine",
    *ENUMS,
]
