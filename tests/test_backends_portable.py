"""The portable CPU library: every instruction-set level inside one file, the best one used.

Run when the portable library is built (`make test-portable` builds it into
build/cpu-portable and runs these; XLLAMACPP_TEST_PORTABLE_LIB names another).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_backends import ROOT, choose, clean_env

LIB = Path(os.environ.get("XLLAMACPP_TEST_PORTABLE_LIB", ROOT / "build" / "cpu-portable" / "libxlc-cpu.so")).resolve()
pytestmark = pytest.mark.skipif(not LIB.is_file(), reason=f"no portable CPU library at {LIB}: make test-portable")

VARIANTS = r"""
from xllamacpp import _library
print("VARIANTS " + _library.take_string(_library.lib.xlc_cpu_variants()))
"""


def variants(**env: str) -> dict:
    r = subprocess.run([sys.executable, "-c", VARIANTS], capture_output=True, text=True,
                       env=clean_env(XLLAMACPP_LIB=str(LIB), **env), cwd=str(ROOT), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(next(line for line in r.stdout.splitlines() if line.startswith("VARIANTS "))[9:])


def test_only_xlc_symbols_leave_the_library():
    out = subprocess.run(["nm", "-D", "--defined-only", str(LIB)], capture_output=True, text=True, check=True)
    names = [line.split()[-1] for line in out.stdout.splitlines() if line.strip()]
    assert names and all(n.startswith("xlc_") for n in names), [n for n in names if not n.startswith("xlc_")][:10]


def test_the_best_variant_this_cpu_runs_is_chosen():
    info = variants()
    scores = {v["name"]: v["score"] for v in info["variants"]}
    assert len(scores) >= 2 and scores["x64"] > 0  # the baseline runs anywhere
    assert info["chosen"] == max(scores, key=scores.__getitem__)
    # /proc/cpuinfo agrees with ggml's CPUID check on the levels it can tell apart
    flags = set(next(l for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("flags")).split())
    if "haswell" in scores:
        assert (scores["haswell"] > 0) == ({"avx2", "fma", "f16c", "bmi2"} <= flags)
    if "skylakex" in scores:
        assert (scores["skylakex"] > 0) == ({"avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"} <= flags)


def test_every_runnable_variant_gives_the_same_greedy_answer(model_path):
    info = variants()
    runnable = [v["name"] for v in info["variants"] if v["score"] > 0]
    # the baseline, the best, and one between when there is one
    picked = sorted({runnable[0], runnable[len(runnable) // 2], info["chosen"]}, key=runnable.index)
    answers = {}
    for name in picked:
        c = choose({"model": model_path, "n_predict": 16}, XLLAMACPP_LIB=str(LIB), XLLAMACPP_CPU_VARIANT=name)
        assert c["cpu_variant"] == name
        answers[name] = c["tokens"]
    assert all(len(t) == 16 for t in answers.values())
    first = answers[picked[0]]
    # kernels for different instruction sets round differently; the first tokens must agree
    assert all(t[:8] == first[:8] for t in answers.values()), answers


def test_a_variant_this_cpu_cannot_run_or_unknown_is_refused():
    info = variants()
    r = subprocess.run([sys.executable, "-c", "import xllamacpp"], capture_output=True, text=True, cwd=str(ROOT),
                       env=clean_env(XLLAMACPP_LIB=str(LIB), XLLAMACPP_CPU_VARIANT="pentium"), timeout=300)
    assert r.returncode != 0 and "XLLAMACPP_CPU_VARIANT='pentium'" in r.stderr and "x64" in r.stderr
    unsupported = [v["name"] for v in info["variants"] if v["score"] == 0]
    if unsupported:  # on a CPU that runs every level there is nothing to refuse
        r = subprocess.run([sys.executable, "-c", "import xllamacpp"], capture_output=True, text=True,
                           cwd=str(ROOT), env=clean_env(XLLAMACPP_LIB=str(LIB), XLLAMACPP_CPU_VARIANT=unsupported[0]),
                           timeout=300)
        assert r.returncode != 0 and "this CPU lacks its instructions" in r.stderr
