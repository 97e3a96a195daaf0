"""The one place that finds and loads libxlc-<backend>.so.

Order: $XLLAMACPP_LIB (a path) wins; else $XLLAMACPP_BACKEND (cpu, cuda, hip,
vulkan) picks the library; else the best installed backend whose library
loads, CPU last. A library built for another ABI version is refused.
"""
from __future__ import annotations

import os
from pathlib import Path

from ._xlc_ffi import ffi

BACKENDS = ("cuda", "hip", "vulkan", "cpu")  # preference order when none is named
LIB_DIR = Path(__file__).resolve().parent / "lib"


def _candidates() -> list[tuple[str, Path]]:
    explicit = os.environ.get("XLLAMACPP_LIB")
    if explicit:
        return [("XLLAMACPP_LIB", Path(explicit))]
    dirs = [LIB_DIR]
    extra = os.environ.get("XLLAMACPP_LIB_DIR")
    if extra:
        dirs.insert(0, Path(extra))
    wanted = os.environ.get("XLLAMACPP_BACKEND")
    if wanted:
        if wanted not in BACKENDS:
            raise ImportError(f"XLLAMACPP_BACKEND={wanted!r} is not one of {', '.join(BACKENDS)}")
        backends: tuple[str, ...] = (wanted,)
    else:
        backends = BACKENDS
    return [(b, d / f"libxlc-{b}.so") for b in backends for d in dirs]


def _open(path: Path):
    if not path.is_file():
        raise OSError("no such file")
    lib = ffi.dlopen(str(path))
    try:
        version = lib.xlc_abi_version()
    except (AttributeError, ffi.error):
        raise OSError("not an xllamacpp library (no xlc_abi_version symbol)") from None
    expected = ffi.integer_const("XLC_ABI_VERSION")
    if version != expected:
        raise OSError(
            f"built for xlc ABI version {version}, but this xllamacpp expects {expected}; "
            "rebuild the library or reinstall the package"
        )
    return lib


def load():
    tried = []
    for origin, path in _candidates():
        try:
            return _open(path), path
        except OSError as e:
            tried.append(f"  {path} ({origin}): {e}")
    raise ImportError("could not load an xllamacpp library; tried:\n" + "\n".join(tried))


lib, path = load()
BACKEND = ffi.string(lib.xlc_backend()).decode()


class XlcError(RuntimeError):
    """A failure reported by the facade that has no more specific Python type."""


def last_error() -> str:
    return ffi.string(lib.xlc_last_error()).decode("utf-8", "replace")


def take_string(ptr) -> str | None:
    """Copies a library-returned char* into a str and frees it."""
    if ptr == ffi.NULL:
        return None
    try:
        return ffi.string(ptr).decode("utf-8", "replace")
    finally:
        lib.xlc_free(ptr)


def check(status: int, exc_type: type = ValueError) -> None:
    """Raises for a non-OK xlc_status, with the facade's message."""
    if status == lib.XLC_OK:
        return
    message = last_error() or f"xlc status {status}"
    if status == lib.XLC_ERR_INVALID_ARGUMENT:
        raise exc_type(message)
    if status == lib.XLC_ERR_NOT_FOUND:
        raise FileNotFoundError(message)
    if status in (lib.XLC_ERR_MODEL_LOAD, lib.XLC_ERR_IO):
        raise RuntimeError(message)
    raise XlcError(message)


def call_out(fn, *args, exc_type: type = ValueError) -> str:
    """Calls fn(*args, char **out), checks the status and returns *out."""
    out = ffi.new("char **")
    check(fn(*args, out), exc_type)
    return take_string(out[0]) or ""
