"""System facts and JSON-schema conversion."""
from __future__ import annotations

from typing import Any

from . import _json

from ._errors import InvalidTypeError
from ._library import call_out, ffi, lib


def get_system_info() -> str:
    """llama.cpp's system info line ("CPU : SSE3 = 1 | ...")."""
    return call_out(lib.xlc_system_info)


def get_device_info() -> list[dict[str, Any]]:
    """The devices ggml sees (CPU included): name, description, type, memory_free, memory_total.

    Then the devices of the RPC servers named in this process (``params.rpc_servers``), with their
    ``endpoint`` and whether they are ``reachable`` now.
    """
    from ._rpc import devices as rpc_devices

    found: list[dict[str, Any]] = _json.loads(call_out(lib.xlc_devices))
    return found + rpc_devices()


def get_build_info() -> dict[str, Any]:
    """The vendored llama.cpp's build number and commit, the compiler and the backend."""
    info: dict[str, Any] = _json.loads(call_out(lib.xlc_build_info))
    return info


def _json_text(value: Any, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    try:
        return _json.dumps(value)
    except TypeError as e:
        raise InvalidTypeError(f"{what} must be a dict or a JSON string: {e}") from None


def json_schema_to_grammar(schema: dict[str, Any] | str | bytes) -> str:
    """Converts a JSON schema (dict or JSON text) to a grammar llama.cpp's sampler accepts.

    Raises ValueError with llama.cpp's message for a schema it cannot convert.
    """
    from . import _structured  # noqa: F401  # pyright: ignore[reportUnusedImport]  # its engine decides the grammar's form

    return call_out(lib.xlc_json_schema_to_grammar, _json_text(schema, "schema"))


__all__ = ["get_system_info", "get_device_info", "get_build_info", "json_schema_to_grammar", "ffi"]
