"""The one place that finds and loads libxlc-<backend>.so.

Order: $XLLAMACPP_LIB (a path) wins; else $XLLAMACPP_BACKEND (cpu, cuda, hip,
vulkan) picks the library; else the best installed backend whose library
loads, CPU last. A library built for another ABI version is refused.
"""
from __future__ import annotations

import os
from pathlib import Path

from ._errors import BY_STATUS, XlcError, XlcRuntimeError
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


def last_error() -> str:
    return ffi.string(lib.xlc_last_error()).decode("utf-8", "replace")


def status_name(status: int) -> str:
    """The xlc_status enum name of a status number ("XLC_ERR_INVALID_ARGUMENT")."""
    name = ffi.string(ffi.cast("xlc_status", status))
    return name if isinstance(name, str) else str(status)


def error_for(status: int, message: str | None = None) -> XlcError:
    """The exception for a failed call: the class for its status, the facade's message."""
    name = status_name(status)
    text = message or last_error() or ffi.string(lib.xlc_status_string(status)).decode()
    return BY_STATUS.get(name, XlcRuntimeError).make(text, status=name)


def check(status: int) -> None:
    """Raises the exception for a non-OK xlc_status, with the facade's message."""
    if status != lib.XLC_OK:
        raise error_for(status)


def take_string(ptr) -> str | None:
    """Copies a library-returned char* into a str and frees it."""
    if ptr == ffi.NULL:
        return None
    try:
        return ffi.string(ptr).decode("utf-8", "replace")
    finally:
        lib.xlc_free(ptr)


def call_out(fn, *args) -> str:
    """Calls fn(*args, char **out), checks the status and returns *out."""
    out = ffi.new("char **")
    check(fn(*args, out))
    return take_string(out[0]) or ""
