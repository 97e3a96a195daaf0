"""`pip install .`: builds libxlc-<backend>.so with CMake and writes the cffi module.

Backends: CPU always; XLLAMACPP_BUILD_CUDA=1, XLLAMACPP_BUILD_HIP=1 and
XLLAMACPP_BUILD_VULKAN=1 add libxlc-cuda.so, libxlc-hip.so, libxlc-vulkan.so
beside it. XLLAMACPP_PORTABLE=1 builds them to run on any CPU of the
architecture (ggml's CPU kernels for every instruction-set level inside, the
best chosen at run time). XLLAMACPP_PREBUILT=1 (used by `make`, which builds
them itself) skips the native build; XLLAMACPP_WHEEL_LIBS="a.so b.so" then
names the libraries the package carries instead of those in xllamacpp/lib
(`make wheel`). CUDA: XLLAMACPP_CUDA_ARCHS (default 90) and, for a toolkit
without cuBLAS, XLLAMACPP_CUDA_LIBS_DIR (the nvidia/cu13 folder of PyPI's
nvidia-cublas wheel).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel

ROOT = Path(__file__).resolve().parent


def _backends() -> list[str]:
    out = ["cpu"]
    for name in ("cuda", "hip", "vulkan"):
        if os.environ.get(f"XLLAMACPP_BUILD_{name.upper()}") == "1":
            out.append(name)
    return out


def build_native(dest: Path) -> None:
    # ccache: hash paths relative to the checkout, so that any clone reuses the cache
    os.environ.setdefault("CCACHE_BASEDIR", str(ROOT))
    os.environ.setdefault("CCACHE_NOHASHDIR", "1")
    os.environ.setdefault("CCACHE_DIR", str(Path.home() / ".cache" / "xllamacpp" / "ccache"))
    subprocess.check_call([sys.executable, str(ROOT / "vendor" / "fetch.py")])
    dest.mkdir(parents=True, exist_ok=True)
    launcher = ["-DCMAKE_C_COMPILER_LAUNCHER=ccache", "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"] if shutil.which("ccache") else []
    portable = ["-DXLC_PORTABLE=ON"] if os.environ.get("XLLAMACPP_PORTABLE") == "1" else []
    for backend in _backends():
        build_dir = ROOT / "build" / (backend + ("-portable" if portable else ""))
        extra = []
        if backend == "cuda":  # as `make BACKEND=cuda` passes them (see the Makefile)
            extra.append("-DCMAKE_CUDA_ARCHITECTURES=" + os.environ.get("XLLAMACPP_CUDA_ARCHS", "90"))
            if os.environ.get("XLLAMACPP_CUDA_LIBS_DIR"):
                extra.append("-DXLC_CUDA_LIBS_DIR=" + os.environ["XLLAMACPP_CUDA_LIBS_DIR"])
        subprocess.check_call(["cmake", "-S", str(ROOT / "cshim"), "-B", str(build_dir), "-G", "Ninja",
                               "-DCMAKE_BUILD_TYPE=Release", f"-DXLC_BACKEND={backend}", *launcher, *portable,
                               *extra])
        subprocess.check_call(["cmake", "--build", str(build_dir), "--target", "xlc", "-j", str(os.cpu_count() or 2)])
        # a new file renamed over the old: a process that has the old one loaded keeps it
        tmp = dest / f".libxlc-{backend}.so.{os.getpid()}.tmp"
        shutil.copy2(build_dir / f"libxlc-{backend}.so", tmp)
        os.replace(tmp, dest / f"libxlc-{backend}.so")


class BuildPy(build_py):
    def run(self) -> None:
        sys.path.insert(0, str(ROOT))
        import build_ffi

        build_ffi.build()
        if os.environ.get("XLLAMACPP_PREBUILT") != "1":
            build_native(ROOT / "xllamacpp" / "lib")
        super().run()
        chosen = os.environ.get("XLLAMACPP_WHEEL_LIBS", "").split()
        libraries = [ROOT / name for name in chosen] or sorted((ROOT / "xllamacpp" / "lib").glob("libxlc-*.so"))
        lib_dir = Path(self.build_lib) / "xllamacpp" / "lib"
        shutil.rmtree(lib_dir, ignore_errors=True)
        lib_dir.mkdir(parents=True)
        for path in libraries:
            shutil.copy2(path, lib_dir / path.name)


class PlatformDistribution(Distribution):
    """Holds a platform library: the wheel's root is platlib, not purelib."""

    def has_ext_modules(self) -> bool:
        return True


class BdistWheel(bdist_wheel):
    """The wheel holds a platform library but no CPython extension: py3-none-<platform>."""

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(distclass=PlatformDistribution, cmdclass={"build_py": BuildPy, "bdist_wheel": BdistWheel})
