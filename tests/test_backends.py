"""Which library is loaded, and why: the choice among backends, in fresh processes.

These run with the CPU library alone (CI); tests/test_backends_vulkan.py and
tests/test_backends_cuda.py add the cases that need those libraries built.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import xllamacpp as xlc
from xllamacpp import _library

ROOT = Path(__file__).resolve().parents[1]
CPU_LIB = _library.LIB_DIR / "libxlc-cpu.so"

# Prints the choice as JSON and, given a job (JSON: model, prompt, n_predict, n_probs, embed, flash_attn), runs it on the model
# with every layer offloaded: a greedy completion's tokens, or mean-pooled embeddings.
REPORT = r"""
import json, logging, sys
import xllamacpp as xlc
c = xlc.library_choice
out = {"backend": xlc.BACKEND, "path": str(xlc.library_path), "reason": c.reason, "devices": list(c.devices),
       "cpu_variant": c.cpu_variant, "rejected": [[r.backend, str(r.path), r.reason] for r in c.rejected],
       "device_info": xlc.get_device_info()}
if len(sys.argv) > 1:
    job = json.loads(sys.argv[1])
    lines = []
    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())
    logging.getLogger("xllamacpp").addHandler(Keep())
    xlc.set_log_level(logging.INFO)
    p = xlc.CommonParams()
    p.model.path = job["model"]
    p.n_ctx = 512
    p.n_gpu_layers = 99
    p.warmup = False
    p.sampling.temp = 0.0
    p.sampling.top_k = 1
    if job.get("flash_attn") is False:
        p.flash_attn_type = xlc.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_DISABLED
    if "embed" in job:
        p.embedding = True
        p.pooling_type = xlc.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    with xlc.Server(p) as s:
        if "embed" in job:
            r = s.handle_embeddings({"input": job["embed"]})
            out["embeddings"] = [d["embedding"] for d in r["data"]]
        else:
            r = s.handle("POST", "/completion", {"prompt": job.get("prompt", "The capital of France is"),
                                                 "n_predict": job.get("n_predict", 8), "return_tokens": True,
                                                 "n_probs": job.get("n_probs", 0)})
            out["text"], out["tokens"] = r["content"], r["tokens"]
            out["probs"] = r.get("completion_probabilities", [])
    out["offload"] = [m for m in lines if "offloaded" in m]
print("CHOICE " + json.dumps(out))
"""


def clean_env(**env: str) -> dict:
    """The environment without any of the loader's variables, plus env."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("XLLAMACPP_") and k not in ("GGML_VK_VISIBLE_DEVICES", "VK_ICD_FILENAMES", "VK_DRIVER_FILES")}
    base.update(env)
    return base


def choose(job: dict | None = None, **env: str) -> dict:
    """Imports xllamacpp in a fresh process (and runs a job) and returns what it reports."""
    args = [json.dumps(job)] if job else []
    r = subprocess.run([sys.executable, "-c", REPORT, *args], capture_output=True, text=True,
                       env=clean_env(**env), cwd=str(ROOT), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    line = next(line for line in r.stdout.splitlines() if line.startswith("CHOICE "))
    return json.loads(line[len("CHOICE "):])


def import_error(**env: str) -> str:
    r = subprocess.run([sys.executable, "-c", "import xllamacpp"], capture_output=True, text=True,
                       env=clean_env(**env), cwd=str(ROOT), timeout=300)
    assert r.returncode != 0, r.stdout
    assert "ImportError" in r.stderr, r.stderr[-3000:]
    return r.stderr


def test_gpu_device_types_are_llamacpps():
    t = xlc.ggml_backend_dev_type
    assert set(_library.GPU_DEVICE_TYPES) == {t.GGML_BACKEND_DEVICE_TYPE_GPU, t.GGML_BACKEND_DEVICE_TYPE_IGPU}
    assert t.GGML_BACKEND_DEVICE_TYPE_CPU not in _library.GPU_DEVICE_TYPES


def test_this_process_records_its_choice():
    c = xlc.library_choice
    assert isinstance(c, xlc.LibraryChoice)
    assert c.backend == xlc.BACKEND and c.path == xlc.library_path
    assert str(c.path) in str(c) and c.reason in str(c)


def test_automatic_choice_without_gpu_libraries_takes_cpu_and_says_why(tmp_path):
    (tmp_path / "lib").mkdir()
    shutil.copy(CPU_LIB, tmp_path / "lib" / "libxlc-cpu.so")
    c = choose(XLLAMACPP_LIB_DIR=str(tmp_path / "lib"))
    assert c["backend"] == "cpu" and c["path"] == str(tmp_path / "lib" / "libxlc-cpu.so")
    # GPU libraries built into the package's own lib/ (make test-vulkan) are tried too
    installed = [p for b, p, why in c["rejected"] if why != "no such file"]
    assert c["reason"] == ("automatic: no GPU library usable" if installed else "automatic: no GPU library installed")
    assert all(p.startswith(str(_library.LIB_DIR)) for p in installed)
    rejected = {(b, p): why for b, p, why in c["rejected"]}
    for backend in ("cuda", "hip", "vulkan"):
        assert rejected[(backend, str(tmp_path / "lib" / f"libxlc-{backend}.so"))] == "no such file"


def test_named_cpu_backend_works_in_a_fresh_process(model_path):
    c = choose({"model": model_path}, XLLAMACPP_BACKEND="cpu")
    assert c["backend"] == "cpu" and c["reason"] == "XLLAMACPP_BACKEND=cpu"
    assert c["rejected"] == [] and c["devices"] == []
    assert len(c["tokens"]) == 8 and c["text"].strip()


def test_gpu_library_that_does_not_load_falls_back_to_cpu(tmp_path):
    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    shutil.copy(CPU_LIB, lib_dir / "libxlc-cpu.so")
    (lib_dir / "libxlc-hip.so").write_bytes(b"\x7fELF truncated")
    c = choose(XLLAMACPP_LIB_DIR=str(lib_dir))
    assert c["backend"] == "cpu" and c["reason"] == "automatic: no GPU library usable"
    why = {b: r for b, p, r in c["rejected"] if p.startswith(str(lib_dir))}
    assert why["hip"].startswith("cannot be loaded:"), why


@pytest.mark.skipif(Path("/usr/lib/x86_64-linux-gnu/libcuda.so.1").exists() or Path("/usr/lib64/libcuda.so.1").exists(),
                    reason="this machine has the NVIDIA driver")
def test_cuda_without_the_driver_names_the_driver_library(tmp_path):
    # the driver is probed before the library itself is opened, so any file stands for it here;
    # tests/test_backends_cuda.py does the same with the real CUDA library
    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    shutil.copy(CPU_LIB, lib_dir / "libxlc-cpu.so")
    shutil.copy(CPU_LIB, lib_dir / "libxlc-cuda.so")
    err = import_error(XLLAMACPP_LIB_DIR=str(lib_dir), XLLAMACPP_BACKEND="cuda")
    assert "libcuda.so.1" in err and "NVIDIA driver" in err
    c = choose(XLLAMACPP_LIB_DIR=str(lib_dir))
    assert c["backend"] == "cpu"
    assert any(b == "cuda" and "libcuda.so.1" in why for b, _, why in c["rejected"]), c["rejected"]


def test_cpu_variant_is_what_the_library_reports():
    info = json.loads(_library.take_string(_library.lib.xlc_cpu_variants()) or "null")
    assert xlc.library_choice.cpu_variant == info["chosen"]
    if info["chosen"] == "native":  # built for this machine's CPU: no variants inside
        assert info["variants"] == []
    else:
        assert info["chosen"] in [v["name"] for v in info["variants"] if v["score"] > 0]
