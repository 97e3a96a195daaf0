"""xllamacpp: llama.cpp's own server, in-process, behind a plain-C facade.

    import xllamacpp as xlc
    params = xlc.CommonParams()
    params.model.path = "models/gemma-3-270m-q4_k_m.gguf"
    with xlc.Server(params) as server:
        print(server.handle_completions({"prompt": "Hello", "n_predict": 8}))

Importing loads the library and nothing more: the parameter schema (and with it
llama.cpp's backends and log thread), LLGuidance, asyncio and the rest load at
the first use of a name that needs them (PEP 562 module __getattr__).
"""
from __future__ import annotations

import importlib
from typing import Any

from . import _errors
from ._errors import BadRequestError as BadRequestError
from ._errors import InvalidArgumentError as InvalidArgumentError
from ._errors import InvalidTypeError as InvalidTypeError
from ._errors import ModelLoadError as ModelLoadError
from ._errors import NotFoundError as NotFoundError
from ._errors import RequestError as RequestError
from ._errors import ServerClosedError as ServerClosedError
from ._errors import ServerError as ServerError
from ._errors import XlcError as XlcError
from ._errors import XlcRuntimeError as XlcRuntimeError
from ._library import BACKEND as BACKEND
from ._library import LibraryChoice as LibraryChoice
from ._library import choice as library_choice  # noqa: F401  # pyright: ignore[reportUnusedImport]  # in __all__
from ._library import path as library_path  # noqa: F401  # pyright: ignore[reportUnusedImport]  # in __all__
from ._server import Server as Server
from ._stream import Stream as Stream
from ._stream import StreamOverflowError as StreamOverflowError

# name -> module that defines it, imported on first access
_LAZY = {
    "CommonParams": "_params",
    "CommonAdapterLoraInfo": "_params",
    "CommonGrammar": "_params",
    "LlamaLogitBias": "_params",
    "ENUMS": "_params",
    "CONSTANTS": "_params",
    "STRUCTS": "_params",
    "AsyncServer": "_async",
    "AsyncStream": "_async",
    "set_log_level": "_log",
    "set_structured_output_engine": "_structured",
    "structured_output_engine": "_structured",
    "MemoryEstimate": "memory",
    "estimate_gpu_layers": "memory",
    "get_build_info": "_system",
    "get_device_info": "_system",
    "get_system_info": "_system",
    "json_schema_to_grammar": "_system",
    "RpcServer": "_rpc",
    "RpcSecurityWarning": "_rpc",
    # several models, each in a supervised child process (docs/serving.md)
    "Router": "_router",
    "IsolatedServer": "_isolated",
}

_NAMES = [
    "BACKEND",
    "BUILD_INFO",
    "LLAMA_DEFAULT_SEED",
    "Server",
    "Stream",
    "StreamOverflowError",
    *_errors.__all__,
    "library_choice",
    "library_path",
    "LibraryChoice",
    *(name for name in _LAZY if name not in ("ENUMS", "CONSTANTS", "STRUCTS")),
]


def _generated() -> dict[str, Any]:
    """llama.cpp's enums and integer constants under their C names (xlc.llama_pooling_type,
    xlc.GGML_MAX_N_THREADS), and the nested structs under upstream's class names (xlc.CpuParams)."""
    params = importlib.import_module("._params", __name__)
    return {**params.ENUMS, **params.CONSTANTS, **params.STRUCTS}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = getattr(importlib.import_module("." + _LAZY[name], __name__), name)
    elif name == "BUILD_INFO":
        info = importlib.import_module("._system", __name__).get_build_info()
        value = {k: info[k] for k in ("build_number", "commit", "compiler")}
        value["build_target"] = info["target"]
    elif name == "__version__":
        value = importlib.import_module("._library", __name__).package_version()
    elif name == "__all__":
        value = [*_NAMES, *_generated()]
    elif not name.startswith("__") and name in _generated():
        value = _generated()[name]
    else:
        raise AttributeError(f"module 'xllamacpp' has no attribute '{name}'")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"BUILD_INFO", "__all__", "__version__"} | set(_generated()))
