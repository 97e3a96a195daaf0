"""JSON for the facade's text: orjson where it exists (CPython), the standard library elsewhere (PyPy)."""
from __future__ import annotations

from typing import Any

try:
    import orjson as _orjson
except ImportError:  # PyPy: orjson ships no wheels for it
    _orjson = None
    import json as _stdjson


def dumps(value: Any) -> bytes:
    """Compact JSON as UTF-8 bytes; TypeError for what JSON cannot hold."""
    if _orjson is not None:
        return _orjson.dumps(value)
    return _stdjson.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def loads(text: "str | bytes") -> Any:
    if _orjson is not None:
        return _orjson.loads(text)
    return _stdjson.loads(text)
