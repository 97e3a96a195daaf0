"""xllamacpp: llama.cpp's own server, in-process, behind a plain-C facade.

    import xllamacpp as xlc
    params = xlc.CommonParams()
    params.model.path = "models/gemma-3-270m-q4_k_m.gguf"
    with xlc.Server(params) as server:
        print(server.handle_completions({"prompt": "Hello", "n_predict": 8}))
"""
from __future__ import annotations

from ._errors import (BadRequestError, InvalidArgumentError, InvalidTypeError, ModelLoadError, NotFoundError,
                      RequestError, ServerClosedError, ServerError, XlcError, XlcRuntimeError)
from ._library import BACKEND
from ._library import path as library_path
from ._library import choice as library_choice
from ._library import LibraryChoice
from ._log import set_log_level
from ._params import CONSTANTS, ENUMS, STRUCTS, CommonAdapterLoraInfo, CommonGrammar, CommonParams, LlamaLogitBias
from ._rpc import RpcSecurityWarning, RpcServer
from ._server import Server
from ._structured import set_structured_output_engine, structured_output_engine
from .memory import MemoryEstimate, estimate_gpu_layers
from ._system import get_build_info, get_device_info, get_system_info, json_schema_to_grammar


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("xllamacpp")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


# llama.cpp's enums and integer constants under their C names (xlc.llama_pooling_type.LLAMA_POOLING_TYPE_LAST,
# xlc.GGML_MAX_N_THREADS), and the nested structs under upstream xllamacpp's class names (xlc.CommonParamsSampling)
globals().update(ENUMS)
globals().update(CONSTANTS)
globals().update(STRUCTS)

__version__ = _package_version()
BUILD_INFO = {k: get_build_info()[k] for k in ("build_number", "commit", "compiler")}
BUILD_INFO["build_target"] = get_build_info()["target"]

__all__ = [
    "BACKEND",
    "BUILD_INFO",
    "LLAMA_DEFAULT_SEED",
    "CommonAdapterLoraInfo",
    "CommonGrammar",
    "CommonParams",
    "LlamaLogitBias",
    "Server",
    "XlcError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "NotFoundError",
    "XlcRuntimeError",
    "ModelLoadError",
    "ServerClosedError",
    "RequestError",
    "BadRequestError",
    "ServerError",
    "MemoryEstimate",
    "RpcSecurityWarning",
    "RpcServer",
    "estimate_gpu_layers",
    "get_build_info",
    "get_device_info",
    "get_system_info",
    "json_schema_to_grammar",
    "library_choice",
    "library_path",
    "LibraryChoice",
    "set_log_level",
    "set_structured_output_engine",
    "structured_output_engine",
    *ENUMS,
    *CONSTANTS,
    *STRUCTS,
]
