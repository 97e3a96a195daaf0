"""The one place that finds and loads libxlc-<backend>.so.

Order: $XLLAMACPP_LIB (a path) wins; else $XLLAMACPP_BACKEND (cpu, cuda, hip,
vulkan) picks the library; else the first GPU library (cuda, hip, vulkan) that
loads and finds a GPU device, CPU last. Libraries are looked for in
$XLLAMACPP_LIB_DIR, then in the package's lib/ folder. A library built for
another ABI version is refused, and so is a CUDA or Vulkan library whose
driver library is missing, by that library's name. ``choice`` records what
was taken and why every other candidate was not.

A GPU library that loaded but found no device stays loaded, unused: unloading
a library that has started llama.cpp's backends is not safe.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, List, NamedTuple, Optional, Tuple

from . import _json
from ._errors import BY_STATUS, XlcError, XlcRuntimeError
from ._xlc_ffi import ffi as ffi  # re-exported: the package's modules and tests take it from here

BACKENDS = ("cuda", "hip", "vulkan", "cpu")  # preference order when none is named
GPU_BACKENDS = BACKENDS[:-1]
LIB_DIR = Path(__file__).resolve().parent / "lib"
# The library that a GPU backend's runtime cannot start without, probed first so that
# its absence is named as such (a machine without the NVIDIA driver has no libcuda).
DRIVER_LIBRARIES = {"cuda": ("libcuda.so.1", "the NVIDIA driver"), "vulkan": ("libvulkan.so.1", "the Vulkan loader")}
# ggml_backend_dev_type values of GPU devices (GGML_BACKEND_DEVICE_TYPE_GPU, _IGPU);
# tests/test_backends.py checks them against llama.cpp's enum
GPU_DEVICE_TYPES = (1, 2)


class Rejected(NamedTuple):
    """A library that was not taken, and why."""

    backend: str
    path: Path
    reason: str


class LibraryChoice:
    """Which library was loaded, why, and why each other candidate was not.

    ``cpu_variant`` (the CPU kernels in use: "native", or a portable build's variant) is asked
    of the library at its first read, so that importing the package does not.
    """

    __slots__ = ("backend", "path", "reason", "devices", "rejected", "_lib", "_cpu_variant")
    backend: str
    path: Path
    reason: str
    devices: Tuple[str, ...]
    rejected: Tuple[Rejected, ...]
    _lib: Any
    _cpu_variant: Optional[str]

    def __init__(self, backend: str, path: Path, reason: str, devices: Tuple[str, ...],
                 rejected: Tuple[Rejected, ...], lib: Any, cpu_variant: Optional[str] = None):
        self.backend = backend
        self.path = path
        self.reason = reason
        self.devices = devices  # the GPU devices the library found
        self.rejected = rejected
        self._lib = lib
        self._cpu_variant = cpu_variant

    @property
    def cpu_variant(self) -> str:
        if self._cpu_variant is None:
            self._cpu_variant = _cpu_variant(self._lib, self.path)
        return self._cpu_variant

    def __repr__(self) -> str:
        return (f"LibraryChoice(backend={self.backend!r}, path={str(self.path)!r}, reason={self.reason!r}, "
                f"devices={self.devices!r}, rejected={self.rejected!r})")

    def __str__(self) -> str:
        lines = [f"{self.backend}: {self.path} ({self.reason}; CPU kernels: {self.cpu_variant})"]
        lines += [f"  not {r.backend}: {r.path} ({r.reason})" for r in self.rejected]
        return "\n".join(lines)


def _search_dirs() -> List[Path]:
    dirs = [LIB_DIR]
    extra = os.environ.get("XLLAMACPP_LIB_DIR")
    if extra:
        dirs.insert(0, Path(extra))
    return dirs


def _candidates() -> List[Tuple[str, Path]]:
    """(backend, path) pairs in the order they are tried."""
    explicit = os.environ.get("XLLAMACPP_LIB")
    if explicit:
        match = re.match(r"libxlc-(\w+)\.so", Path(explicit).name)
        return [(match.group(1) if match else "XLLAMACPP_LIB", Path(explicit))]
    wanted = os.environ.get("XLLAMACPP_BACKEND")
    if wanted:
        if wanted not in BACKENDS:
            raise ImportError(f"XLLAMACPP_BACKEND={wanted!r} is not one of {', '.join(BACKENDS)}")
        backends: Tuple[str, ...] = (wanted,)
    else:
        backends = BACKENDS
    return [(b, d / f"libxlc-{b}.so") for b in backends for d in _search_dirs()]


def _check_driver(backend: str) -> None:
    if backend not in DRIVER_LIBRARIES:
        return
    name, what = DRIVER_LIBRARIES[backend]
    try:
        ffi.dlopen(name)
    except OSError:
        raise OSError(f"needs {name} from {what}, which is not installed on this machine") from None


def _open(path: Path, backend: str = ""):
    if not path.is_file():
        raise OSError("no such file")
    _check_driver(backend)
    try:
        lib = ffi.dlopen(str(path))
    except OSError as e:
        raise OSError(f"cannot be loaded: {e}") from None
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


def _json_of(lib, fn_name: str) -> Any:
    ptr = getattr(lib, fn_name)()
    try:
        return _json.loads(ffi.string(ptr).decode()) if ptr != ffi.NULL else None
    finally:
        lib.xlc_free(ptr)


def _gpu_devices(lib) -> Tuple[str, ...]:
    """The GPU devices ggml finds through this library (this starts its backends)."""
    out = ffi.new("char **")
    status = lib.xlc_devices(out)
    devices = _json.loads(ffi.string(out[0]).decode()) if status == 0 and out[0] != ffi.NULL else []
    lib.xlc_free(out[0])
    return tuple(d.get("description") or d.get("name", "") for d in devices if d.get("type") in GPU_DEVICE_TYPES)


def _warn(message: str, *args: Any) -> None:
    import logging  # only when there is something to say: the import costs milliseconds

    logging.getLogger("xllamacpp").warning(message, *args)


def _cpu_variant(lib, path: Path) -> str:
    """The CPU kernels the library uses; honours and checks $XLLAMACPP_CPU_VARIANT."""
    info = _json_of(lib, "xlc_cpu_variants") or {}
    wanted = os.environ.get("XLLAMACPP_CPU_VARIANT")
    variants = {v["name"]: v["score"] for v in info.get("variants", [])}
    if wanted and variants:
        runnable = [name for name, score in variants.items() if score > 0]
        if wanted not in variants:
            raise ImportError(f"XLLAMACPP_CPU_VARIANT={wanted!r}: {path} has the CPU variants {', '.join(variants)}")
        if variants[wanted] <= 0:
            raise ImportError(f"XLLAMACPP_CPU_VARIANT={wanted!r}: this CPU lacks its instructions; "
                              f"it runs {', '.join(runnable)}")
    elif wanted:
        _warn("XLLAMACPP_CPU_VARIANT is ignored: %s is built for its build machine's CPU", path)
    return str(info.get("chosen", "native"))


def load() -> Tuple[Any, LibraryChoice]:
    """Loads the library as the module docstring says; returns (lib, LibraryChoice)."""
    candidates = _candidates()
    automatic = not (os.environ.get("XLLAMACPP_LIB") or os.environ.get("XLLAMACPP_BACKEND"))
    rejected: List[Rejected] = []
    for backend, path in candidates:
        try:
            lib = _open(path, backend)
        except OSError as e:
            rejected.append(Rejected(backend, path, str(e)))
            continue
        loaded = ffi.string(lib.xlc_backend()).decode()
        if automatic:
            if loaded in GPU_BACKENDS:
                devices = _gpu_devices(lib)
                if not devices:
                    reason = "loaded, but found no GPU device"
                    if loaded == "vulkan":
                        reason += " (a software Vulkan device counts only when GGML_VK_VISIBLE_DEVICES names it)"
                    rejected.append(Rejected(backend, path, reason))
                    continue
                reason = f"the first GPU library with a device: {', '.join(devices)}"
            else:
                devices = ()
                installed = [r for r in rejected if r.backend in GPU_BACKENDS and r.reason != "no such file"]
                reason = "automatic: no GPU library usable" if installed else "automatic: no GPU library installed"
        else:
            origin = "XLLAMACPP_LIB" if os.environ.get("XLLAMACPP_LIB") else f"XLLAMACPP_BACKEND={backend}"
            devices = _gpu_devices(lib) if loaded in GPU_BACKENDS else ()
            reason = origin
            if loaded in GPU_BACKENDS and not devices:
                reason += "; it found no GPU device, so llama.cpp runs on the CPU"
                _warn("%s: %s", path, reason)
        # a variant asked for is checked now (a bad one fails the import); else it is read when first needed
        variant = _cpu_variant(lib, path) if os.environ.get("XLLAMACPP_CPU_VARIANT") else None
        choice = LibraryChoice(loaded, path, reason, devices, tuple(rejected), lib, variant)
        return lib, choice
    tried = "\n".join(f"  {r.path} ({r.backend}): {r.reason}" for r in rejected)
    raise ImportError("could not load an xllamacpp library; tried:\n" + tried)


lib, choice = load()
path = choice.path
BACKEND = choice.backend

# The C types the package makes, parsed now on one thread: PyPy's cffi parses a type at its first use,
# and two threads doing that at once (a request and the log thread) have been seen to get each other's
# type ("cannot instantiate ctype 'struct xlc_server *'" for "int *"). A few microseconds.
for _type in ("char **", "int *", "size_t *", "xlc_server **", "xlc_request **", "xlc_stream_callback", "xlc_vocab **", "int[]",
              "xlc_status"):
    ffi.typeof(_type)
del _type


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
