"""Writes a backend plugin wheel: one libxlc-<backend>.so and the module that names it.

    python scripts/plugin_wheel.py vulkan build/vulkan-portable/libxlc-vulkan.so -o build/wheel-plugins

The wheel (xllamacpp_vulkan-<version>-py3-none-linux_x86_64.whl) holds the
package xllamacpp_vulkan: lib/libxlc-vulkan.so and an __init__.py with BACKEND,
XLC_ABI_VERSION and LIBRARY. Its entry point in the group xllamacpp.backends
(name: the backend) is how xllamacpp finds it (xllamacpp/_library.py). It
requires xllamacpp of the same version and, for CUDA, PyPI's CUDA runtime and
cuBLAS wheels, which put their libraries where the library's RPATH looks
(site-packages/nvidia/cu13/lib). `make wheels` then gives it its manylinux tag
with auditwheel. --dist, --backend and --abi make other plugins (the tests
package a CPU library as one, and one with a wrong ABI version).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import re
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# plugin name -> (backend, pip requirements of its library, what only the system can give)
PLUGINS = {
    "vulkan": ("vulkan", [], "the Vulkan loader (libvulkan.so.1) and a Vulkan driver"),
    "cuda13": ("cuda", ["nvidia-cuda-runtime>=13,<14", "nvidia-cublas>=13,<14"],
               "the NVIDIA driver (libcuda.so.1)"),
}

MODULE = '''"""xllamacpp's {backend} backend: {library}, which xllamacpp finds through this
package's entry point in the group xllamacpp.backends. From the system it needs {system}."""
import importlib.util
from pathlib import Path

BACKEND = "{backend}"
XLC_ABI_VERSION = {abi}
LIBRARY = Path(__file__).resolve().parent / "lib" / "{library}"

if importlib.util.find_spec("xllamacpp") is None:
    raise ImportError("{dist} is a backend plugin of xllamacpp, which is not installed: "
                      "pip install xllamacpp=={version}")
'''


def project_version() -> str:
    match = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    if not match:
        raise SystemExit("no version in pyproject.toml")
    return match.group(1)


def header_abi_version() -> int:
    match = re.search(r"^#define XLC_ABI_VERSION (\d+)", (ROOT / "cshim" / "include" / "xlc.h").read_text(), re.M)
    if not match:
        raise SystemExit("no XLC_ABI_VERSION in cshim/include/xlc.h")
    return int(match.group(1))


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def write_wheel(out_dir: Path, dist: str, backend: str, library: Path, requires: list, system: str,
                abi: int, version: str) -> Path:
    module = dist.replace("-", "_")
    name = f"libxlc-{backend}.so"
    info = f"{module}-{version}.dist-info"
    metadata = "\n".join([
        "Metadata-Version: 2.4", f"Name: {dist}", f"Version: {version}",
        f"Summary: xllamacpp's {backend} backend as a plugin: {name} alone",
        "License-Expression: MIT", "Requires-Python: >=3.9",
        f"Requires-Dist: xllamacpp=={version}", *(f"Requires-Dist: {r}" for r in requires), "", ""])
    files = {
        f"{module}/__init__.py": MODULE.format(backend=backend, library=name, system=system, abi=abi, dist=dist,
                                               version=version).encode(),
        f"{module}/lib/{name}": library.read_bytes(),
        f"{info}/METADATA": metadata.encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: xllamacpp scripts/plugin_wheel.py\n"
                         b"Root-Is-Purelib: false\nTag: py3-none-linux_x86_64\n",
        f"{info}/entry_points.txt": f"[xllamacpp.backends]\n{backend} = {module}\n".encode(),
    }
    records = [record_line(n, data) for n, data in files.items()] + [f"{info}/RECORD,,"]
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{module}-{version}-py3-none-linux_x86_64.whl"
    tmp = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in files.items():
            entry = zipfile.ZipInfo(n, date_time=(2026, 1, 1, 0, 0, 0))
            entry.external_attr = (0o755 if n.endswith(".so") else 0o644) << 16
            z.writestr(entry, data, zipfile.ZIP_DEFLATED)
        z.writestr(f"{info}/RECORD", "\n".join(records) + "\n")
    tmp.replace(wheel)
    return wheel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("plugin", help=f"one of {', '.join(PLUGINS)}, or any name with --backend")
    ap.add_argument("library", type=Path)
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "build" / "wheel-plugins")
    ap.add_argument("--dist", help="distribution name (default: xllamacpp-<plugin>)")
    ap.add_argument("--backend", help="the backend it provides (default: the plugin's)")
    ap.add_argument("--abi", type=int, help="the XLC_ABI_VERSION it declares (default: cshim/include/xlc.h's)")
    args = ap.parse_args()
    backend, requires, system = PLUGINS.get(args.plugin, (args.backend, [], "nothing beyond the C library"))
    if not backend:
        raise SystemExit(f"{args.plugin}: not one of {', '.join(PLUGINS)}; name its --backend")
    wheel = write_wheel(args.out, args.dist or f"xllamacpp-{args.plugin}", args.backend or backend, args.library,
                        requires, system, args.abi if args.abi is not None else header_abi_version(),
                        project_version())
    print(wheel)


if __name__ == "__main__":
    main()
