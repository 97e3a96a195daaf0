"""JSON for the facade's text: orjson where it exists (CPython), the standard library elsewhere (PyPy).

``dumps(value) -> bytes`` (compact, UTF-8; TypeError for what JSON cannot hold) and
``loads(text)`` are bound at their first use (module __getattr__), so that importing
the package does not import a JSON library, and each call then goes straight to it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

Text = Union[str, bytes, bytearray, memoryview]

if TYPE_CHECKING:  # what _bind() puts here
    def dumps(value: Any, /) -> bytes: ...

    def loads(text: Text, /) -> Any: ...


def _bind() -> None:
    try:
        import orjson
    except ImportError:  # PyPy: orjson ships no wheels for it
        import json

        encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

        def std_dumps(value: Any, /) -> bytes:
            return encoder.encode(value).encode()

        globals().update(dumps=std_dumps, loads=json.loads)
    else:
        globals().update(dumps=orjson.dumps, loads=orjson.loads)


def __getattr__(name: str) -> Any:
    if name in ("dumps", "loads"):
        _bind()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
