"""Which engine constrains structured output: LLGuidance or llama.cpp's GBNF.

LLGuidance comes from the ``llguidance`` wheel: the facade dlopen()s its
library, which exports the llg_* C API, without importing the Python module.
Where that cannot work (no wheel, or PyPy, whose process lacks the CPython
symbols the library needs) JSON schemas use GBNF, with one warning.
"""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from ._errors import InvalidArgumentError, NotFoundError, XlcError, XlcRuntimeError
from ._library import check, lib

_ENGINES = ("llguidance", "gbnf")
_load_error: str | None = None


def _llguidance_library() -> Path:
    spec = importlib.util.find_spec("llguidance")
    if spec is None or not spec.submodule_search_locations:
        raise NotFoundError("the llguidance package is not installed")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("_lib*.so"))
        if found:
            return found[0]
    raise NotFoundError("the llguidance package has no _lib*.so")


def _load() -> None:
    global _load_error
    try:
        check(lib.xlc_llguidance_load(str(_llguidance_library()).encode()))
    except (OSError, XlcError) as e:
        _load_error = str(e)
        logging.getLogger("xllamacpp").warning(
            "LLGuidance is not available (%s); JSON schemas use llama.cpp's GBNF engine", e)


def structured_output_engine() -> str:
    """"llguidance" when JSON schemas go to LLGuidance, "gbnf" when they go to llama.cpp's grammar engine."""
    return "llguidance" if lib.xlc_llguidance_active() else "gbnf"


def set_structured_output_engine(engine: str) -> None:
    """Chooses the engine for JSON schemas; "llguidance" needs the llguidance library to have loaded."""
    if engine not in _ENGINES:
        raise InvalidArgumentError(f"engine must be one of {_ENGINES}, not {engine!r}")
    if engine == "llguidance" and _load_error is not None:
        raise XlcRuntimeError(f"LLGuidance is not available: {_load_error}")
    lib.xlc_llguidance_enable(1 if engine == "llguidance" else 0)


_load()
