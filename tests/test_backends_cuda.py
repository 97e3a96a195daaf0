"""The CUDA library: refused by name where the NVIDIA driver is missing, compared with the CPU where a GPU is.

Run when libxlc-cuda.so is built (`make test-cuda` builds it and runs these;
`make gpu-report` also runs the model tests on it and writes its figures).
"""
from __future__ import annotations

import math
import subprocess

import pytest

from test_backends import choose, import_error
from xllamacpp import _library

# the package's own lib/, or the xllamacpp-cuda13 plugin's library where that is installed (make gpu-report)
CUDA_LIB = next((c.path for c in _library._candidates([]) if c.backend == "cuda" and c.path.is_file()),
                _library.LIB_DIR / "libxlc-cuda.so")
pytestmark = pytest.mark.skipif(not CUDA_LIB.is_file(), reason="libxlc-cuda.so is not built: make test-cuda")


def has_driver() -> bool:
    try:
        _library.ffi.dlopen("libcuda.so.1")
        return True
    except OSError:
        return False


needs_gpu = pytest.mark.skipif(not has_driver(), reason="no NVIDIA driver on this machine")
needs_no_driver = pytest.mark.skipif(has_driver(), reason="this machine has the NVIDIA driver")


def test_only_xlc_symbols_leave_the_library_and_it_links_the_driver():
    out = subprocess.run(["nm", "-D", "--defined-only", str(CUDA_LIB)], capture_output=True, text=True, check=True)
    names = [line.split()[-1] for line in out.stdout.splitlines() if line.strip()]
    assert names and all(n.startswith("xlc_") for n in names), [n for n in names if not n.startswith("xlc_")][:10]
    needed = subprocess.run(["readelf", "-d", str(CUDA_LIB)], capture_output=True, text=True, check=True).stdout
    for lib in ("libcuda.so.1", "libcudart.so", "libcublas.so"):
        assert lib in needed, needed


@needs_no_driver
def test_named_cuda_without_the_driver_is_an_import_error_naming_it():
    err = import_error(XLLAMACPP_BACKEND="cuda")
    assert "libcuda.so.1" in err and "NVIDIA driver" in err and str(CUDA_LIB) in err


@needs_no_driver
def test_automatic_choice_without_the_driver_falls_back_to_cpu():
    c = choose()
    assert c["backend"] == "cpu"
    why = {b: r for b, p, r in c["rejected"] if p == str(CUDA_LIB)}
    assert "libcuda.so.1" in why["cuda"], c["rejected"]


@needs_gpu
def test_cuda_device_is_listed_and_chosen_automatically():
    c = choose()
    assert c["backend"] == "cuda" and c["reason"].startswith("the first GPU library with a device")
    cuda = [d for d in c["device_info"] if d["backend"] == "CUDA"]
    assert cuda and all(d["memory_total"] > 0 for d in cuda)


@needs_gpu
def test_all_layers_on_the_gpu_answer_as_the_cpu_does(model_path):
    job = {"model": model_path, "n_predict": 32}
    gpu = choose(job, XLLAMACPP_BACKEND="cuda")
    cpu = choose(job, XLLAMACPP_BACKEND="cpu")
    assert any("offloaded 19/19 layers to GPU" in m for m in gpu["offload"]), gpu["offload"]
    same = next((i for i, (a, b) in enumerate(zip(gpu["tokens"], cpu["tokens"])) if a != b), 32)
    assert same >= 16, (same, gpu["text"], cpu["text"])


@needs_gpu
def test_embeddings_agree_with_the_cpu(model_path):
    job = {"model": model_path, "embed": ["hello world", "The capital of France is Paris."]}
    gpu = choose(job, XLLAMACPP_BACKEND="cuda")["embeddings"]
    cpu = choose(job, XLLAMACPP_BACKEND="cpu")["embeddings"]
    for g, c in zip(gpu, cpu):
        cos = sum(x * y for x, y in zip(g, c)) / math.sqrt(sum(x * x for x in g) * sum(y * y for y in c))
        assert cos >= 0.999, cos
