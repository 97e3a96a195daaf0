"""JSON for the facade's text: orjson where it exists (CPython), the standard library elsewhere (PyPy).

``dumps(value) -> bytes`` (compact, UTF-8; TypeError for what JSON cannot hold) and
``loads(text)`` are bound at their first use (module __getattr__), so that importing
the package does not import a JSON library, and each call then goes straight to it.
"""
from __future__ import annotations


def _bind() -> None:
    global dumps, loads
    try:
        import orjson
    except ImportError:  # PyPy: orjson ships no wheels for it
        import json

        encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

        def dumps(value):  # type: ignore[misc]
            return encoder.encode(value).encode()

        loads = json.loads
    else:
        dumps, loads = orjson.dumps, orjson.loads


def __getattr__(name: str):
    if name in ("dumps", "loads"):
        _bind()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
