"""The one place that finds and loads libxlc-<backend>.so.

Order: $XLLAMACPP_LIB (a path) wins; else $XLLAMACPP_BACKEND (cpu, cuda, hip,
vulkan) picks the library; else the first GPU library (cuda, hip, vulkan) that
loads and finds a GPU device, CPU last. Each backend's library is looked for in
$XLLAMACPP_LIB_DIR, then in the installed backend plugins, then in the
package's lib/ folder. A plugin is a distribution (xllamacpp-vulkan,
xllamacpp-cuda13) with an entry point in the group ``xllamacpp.backends``: its
name is the backend, its object a module that names its library (LIBRARY) and
the ABI version it was built for (XLC_ABI_VERSION). A library built for
another ABI version is refused, and so is a CUDA or Vulkan library whose driver
library is missing, by that library's name. ``choice`` records what was taken
and why every other candidate was not; when nothing loads, the ImportError
says what to install.

A GPU library that loaded but found no device stays loaded, unused: unloading
a library that has started llama.cpp's backends is not safe.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, NamedTuple, Optional, Set, Tuple, cast

from . import _json
from ._errors import BY_STATUS, XlcError, XlcRuntimeError
from ._xlc_ffi import ffi as ffi  # re-exported: the package's modules and tests take it from here

if TYPE_CHECKING:  # the library handle's type, written by build_ffi.py beside the cffi module
    from ._xlc_ffi import CData as CData, XlcLib as XlcLib

BACKENDS = ("cuda", "hip", "vulkan", "cpu")  # preference order when none is named
GPU_BACKENDS = BACKENDS[:-1]
LIB_DIR = Path(__file__).resolve().parent / "lib"
# The library that a GPU backend's runtime cannot start without, probed first so that
# its absence is named as such (a machine without the NVIDIA driver has no libcuda).
DRIVER_LIBRARIES = {"cuda": ("libcuda.so.1", "the NVIDIA driver"), "vulkan": ("libvulkan.so.1", "the Vulkan loader")}
# The entry point group of backend plugins, and the plugin (and pyproject.toml extra) that brings each GPU
# backend: what an ImportError tells to install.
PLUGIN_GROUP = "xllamacpp.backends"
PLUGIN_DISTRIBUTIONS = {"cuda": ("xllamacpp-cuda13", "cuda13"), "vulkan": ("xllamacpp-vulkan", "vulkan")}
# ggml_backend_dev_type values of GPU devices (GGML_BACKEND_DEVICE_TYPE_GPU, _IGPU);
# tests/test_backends.py checks them against llama.cpp's enum
GPU_DEVICE_TYPES = (1, 2)


class Rejected(NamedTuple):
    """A library that was not taken, and why."""

    backend: str
    path: Path
    reason: str


class Candidate(NamedTuple):
    """A library to try: from a folder, or from a plugin ("xllamacpp-vulkan 2026.12.11312.1")."""

    backend: str
    path: Path
    plugin: str = ""
    abi: Optional[int] = None  # the ABI version a plugin declares


class LibraryChoice:
    """Which library was loaded, why, and why each other candidate was not.

    ``plugin`` names the plugin distribution and version the library came from ("" for the package's
    own lib/ and the environment's paths). ``cpu_variant`` (the CPU kernels in use: "native", or a
    portable build's variant) is asked of the library at its first read, so that importing the
    package does not.
    """

    __slots__ = ("backend", "path", "reason", "devices", "rejected", "plugin", "_lib", "_cpu_variant")
    backend: str
    path: Path
    reason: str
    devices: Tuple[str, ...]
    rejected: Tuple[Rejected, ...]
    plugin: str
    _lib: "XlcLib"
    _cpu_variant: Optional[str]

    def __init__(self, backend: str, path: Path, reason: str, devices: Tuple[str, ...],
                 rejected: Tuple[Rejected, ...], lib: "XlcLib", cpu_variant: Optional[str] = None, plugin: str = ""):
        self.backend = backend
        self.path = path
        self.reason = reason
        self.devices = devices  # the GPU devices the library found
        self.rejected = rejected
        self.plugin = plugin
        self._lib = lib
        self._cpu_variant = cpu_variant

    @property
    def cpu_variant(self) -> str:
        if self._cpu_variant is None:
            self._cpu_variant = _cpu_variant(self._lib, self.path)
        return self._cpu_variant

    def __repr__(self) -> str:
        return (f"LibraryChoice(backend={self.backend!r}, path={str(self.path)!r}, reason={self.reason!r}, "
                f"devices={self.devices!r}, rejected={self.rejected!r}, plugin={self.plugin!r})")

    def __str__(self) -> str:
        source = f"plugin {self.plugin}: " if self.plugin else ""
        lines = [f"{self.backend}: {source}{self.path} ({self.reason}; CPU kernels: {self.cpu_variant})"]
        lines += [f"  not {r.backend}: {r.path} ({r.reason})" for r in self.rejected]
        return "\n".join(lines)


def _search_dirs() -> List[Path]:
    dirs = [LIB_DIR]
    extra = os.environ.get("XLLAMACPP_LIB_DIR")
    if extra:
        dirs.insert(0, Path(extra))
    return dirs


def package_version() -> str:
    """The installed distribution's version (xlc.__version__), which the messages that say what to install name."""
    from importlib import metadata

    try:
        return metadata.version("xllamacpp")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def _plugins(rejected: List[Rejected]) -> Dict[str, List[Candidate]]:
    """The installed plugins' libraries by backend; a plugin that cannot say what it holds goes to rejected."""
    import importlib
    from importlib import metadata

    found: Dict[str, List[Candidate]] = {}
    seen: Set[Tuple[str, str]] = set()
    for dist in metadata.distributions():
        for ep in dist.entry_points:
            if ep.group != PLUGIN_GROUP:
                continue
            label = f"{dist.metadata['Name']} {dist.version}"
            if (label, ep.name) in seen:  # the same distribution on two sys.path entries
                continue
            seen.add((label, ep.name))
            try:
                module = importlib.import_module(ep.value.split(":")[0])
                library = Path(module.LIBRARY)
                abi = int(module.XLC_ABI_VERSION)
            except Exception as e:  # ImportError, or a module without the two names
                rejected.append(Rejected(ep.name, Path(ep.value), f"plugin {label} is broken ({type(e).__name__}: "
                                         f"{e}); reinstall it: pip install --force-reinstall {dist.metadata['Name']}"))
                continue
            found.setdefault(ep.name, []).append(Candidate(ep.name, library, label, abi))
    return found


def _candidates(rejected: List[Rejected]) -> List[Candidate]:
    """The candidates in the order they are tried."""
    explicit = os.environ.get("XLLAMACPP_LIB")
    if explicit:
        match = re.match(r"libxlc-(\w+)\.so", Path(explicit).name)
        return [Candidate(match.group(1) if match else "XLLAMACPP_LIB", Path(explicit))]
    wanted = os.environ.get("XLLAMACPP_BACKEND")
    if wanted:
        if wanted not in BACKENDS:
            raise ImportError(f"XLLAMACPP_BACKEND={wanted!r} is not one of {', '.join(BACKENDS)}")
        backends: Tuple[str, ...] = (wanted,)
    else:
        backends = BACKENDS
    plugins = _plugins(rejected)
    out: List[Candidate] = []
    for b in backends:
        dirs = _search_dirs()
        out += [Candidate(b, d / f"libxlc-{b}.so") for d in dirs[:-1]]
        out += plugins.get(b, [])
        out.append(Candidate(b, dirs[-1] / f"libxlc-{b}.so"))
    return out


def _how_to_install(backend: str) -> str:
    if backend in PLUGIN_DISTRIBUTIONS:
        dist, extra = PLUGIN_DISTRIBUTIONS[backend]
        return f"install its plugin: pip install \"xllamacpp[{extra}]=={package_version()}\" (the {dist} wheel)"
    if backend == "cpu":
        return f"the package's own CPU library is missing or damaged: pip install --force-reinstall xllamacpp=={package_version()}"
    return f"build it: make BACKEND={backend} lib (no {backend} plugin is published)"


def _check_driver(backend: str) -> None:
    if backend not in DRIVER_LIBRARIES:
        return
    name, what = DRIVER_LIBRARIES[backend]
    try:
        ffi.dlopen(name)
    except OSError:
        raise OSError(f"needs {name} from {what}, which is not installed on this machine") from None


def c_text(ptr: "CData") -> str:
    """A NUL-terminated C string the library owns, as str."""
    value = ffi.string(ptr)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def c_bytes(ptr: "CData", size: int) -> bytes:
    """``size`` bytes at a ``char *``."""
    data = ffi.unpack(ptr, size)
    return data if isinstance(data, bytes) else bytes(cast(str, data), "latin-1")


# ELF's e_machine of the architectures the wheels are built for, by platform.machine()
ELF_MACHINES = {"x86_64": 62, "aarch64": 183}


def _check_elf(path: Path) -> None:
    """Refuses what dlopen() would crash on or fail at vaguely: a file cut short (its mapped pages past the
    end raise SIGBUS), not ELF at all, or built for another architecture."""
    import platform
    import struct

    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(64)
        if len(header) < 64 or header[:4] != b"\x7fELF":
            raise OSError("cannot be loaded: not a shared library (no ELF header): the file is damaged")
        if header[4] != 2 or header[5] != 1:
            raise OSError("cannot be loaded: not a 64-bit little-endian library: it is for another platform")
        machine, = struct.unpack_from("<H", header, 18)
        phoff, shoff = struct.unpack_from("<QQ", header, 32)
        phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", header, 54)
        here = platform.machine()
        if ELF_MACHINES.get(here, machine) != machine:
            raise OSError(f"cannot be loaded: built for another architecture (ELF machine {machine}), not this "
                          f"machine's {here}: install the wheel for this platform")
        needed = shoff + shnum * shentsize
        f.seek(phoff)
        table = f.read(phnum * phentsize)
        for i in range(min(phnum, len(table) // max(phentsize, 1))):
            p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
            if p_type == 1:  # PT_LOAD
                needed = max(needed, p_offset + p_filesz)
    if needed > size:
        raise OSError(f"cannot be loaded: truncated ({size} bytes of the {needed} its headers describe)")


def _open(candidate: Candidate) -> "XlcLib":
    path, backend = candidate.path, candidate.backend
    expected = ffi.integer_const("XLC_ABI_VERSION")
    if candidate.plugin and candidate.abi != expected:
        raise OSError(f"plugin {candidate.plugin} is built for xlc ABI version {candidate.abi}, but xllamacpp "
                      f"{package_version()} expects ABI version {expected}; install the plugin of this version: "
                      f"pip install {candidate.plugin.split()[0]}=={package_version()}")
    if not path.is_file():
        raise OSError(f"no such file (plugin {candidate.plugin}: reinstall it)" if candidate.plugin else "no such file")
    _check_driver(backend)
    try:
        _check_elf(path)
        try:
            lib = cast("XlcLib", ffi.dlopen(str(path)))
        except OSError as e:
            raise OSError(f"cannot be loaded: {e}") from None
    except OSError as e:
        if not candidate.plugin:
            raise
        raise OSError(f"{e}; reinstall the plugin with its dependencies: "
                      f"pip install --force-reinstall {candidate.plugin.split()[0]}") from None
    try:
        version = lib.xlc_abi_version()
    except (AttributeError, ffi.error):
        raise OSError("not an xllamacpp library (no xlc_abi_version symbol)") from None
    if version != expected:
        raise OSError(
            f"built for xlc ABI version {version}, but this xllamacpp expects {expected}; "
            "rebuild the library or reinstall the package"
        )
    if candidate.plugin:
        loaded = c_text(lib.xlc_backend())
        if loaded != backend:
            raise OSError(f"plugin {candidate.plugin} names a {backend} library, but it holds a {loaded} one")
    return lib


def _json_of(lib: "XlcLib", fn: Callable[[], "CData"]) -> Any:
    ptr = fn()
    try:
        return _json.loads(c_text(ptr)) if ptr != ffi.NULL else None
    finally:
        lib.xlc_free(ptr)


def _gpu_devices(lib: "XlcLib") -> Tuple[str, ...]:
    """The GPU devices ggml finds through this library (this starts its backends)."""
    out = ffi.new("char **")
    status = lib.xlc_devices(out)
    text = cast("CData", out[0])
    devices: List[Any] = _json.loads(c_text(text)) if status == 0 and text != ffi.NULL else []
    lib.xlc_free(text)
    return tuple(str(d.get("description") or d.get("name", "")) for d in devices if d.get("type") in GPU_DEVICE_TYPES)


def _warn(message: str, *args: Any) -> None:
    import logging  # only when there is something to say: the import costs milliseconds

    logging.getLogger("xllamacpp").warning(message, *args)


def _cpu_variant(lib: "XlcLib", path: Path) -> str:
    """The CPU kernels the library uses; honours and checks $XLLAMACPP_CPU_VARIANT."""
    info: dict[str, Any] = _json_of(lib, lib.xlc_cpu_variants) or {}
    wanted = os.environ.get("XLLAMACPP_CPU_VARIANT")
    variants: dict[str, int] = {v["name"]: v["score"] for v in info.get("variants", [])}
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


def load() -> Tuple["XlcLib", LibraryChoice]:
    """Loads the library as the module docstring says; returns (lib, LibraryChoice)."""
    rejected: List[Rejected] = []
    candidates = _candidates(rejected)
    automatic = not (os.environ.get("XLLAMACPP_LIB") or os.environ.get("XLLAMACPP_BACKEND"))
    for candidate in candidates:
        backend, path = candidate.backend, candidate.path
        try:
            lib = _open(candidate)
        except OSError as e:
            rejected.append(Rejected(backend, path, str(e)))
            continue
        loaded = c_text(lib.xlc_backend())
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
        choice = LibraryChoice(loaded, path, reason, devices, tuple(rejected), lib, variant, candidate.plugin)
        return lib, choice
    tried = "\n".join(f"  {r.path} ({r.backend}): {r.reason}" for r in rejected)
    wanted = os.environ.get("XLLAMACPP_BACKEND")
    if os.environ.get("XLLAMACPP_LIB"):
        hint = "XLLAMACPP_LIB names a library that does not load"
    elif wanted and all(r.reason == "no such file" for r in rejected):
        hint = f"XLLAMACPP_BACKEND={wanted}, but no {wanted} library is installed: {_how_to_install(wanted)}"
    elif wanted:
        hint = f"XLLAMACPP_BACKEND={wanted}: its library does not load (see above); unset it to use the CPU library"
    else:
        hint = _how_to_install("cpu")
    raise ImportError(f"could not load an xllamacpp library: {hint}; tried:\n" + tried)


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
    return c_text(lib.xlc_last_error())


def status_name(status: int) -> str:
    """The xlc_status enum name of a status number ("XLC_ERR_INVALID_ARGUMENT")."""
    name = ffi.string(ffi.cast("xlc_status", status))
    return name if isinstance(name, str) else str(status)


def error_for(status: int, message: str | None = None) -> XlcError:
    """The exception for a failed call: the class for its status, the facade's message."""
    name = status_name(status)
    text = message or last_error() or c_text(lib.xlc_status_string(status))
    return BY_STATUS.get(name, XlcRuntimeError).make(text, status=name)


def check(status: int) -> None:
    """Raises the exception for a non-OK xlc_status, with the facade's message."""
    if status != lib.XLC_OK:
        raise error_for(status)


def take_string(ptr: "CData") -> str | None:
    """Copies a library-returned char* into a str and frees it."""
    if ptr == ffi.NULL:
        return None
    try:
        return c_text(ptr)
    finally:
        lib.xlc_free(ptr)


def call_out(fn: Callable[..., int], *args: Any) -> str:
    """Calls fn(*args, char **out), checks the status and returns *out."""
    out = ffi.new("char **")
    check(fn(*args, out))
    return take_string(cast("CData", out[0])) or ""
