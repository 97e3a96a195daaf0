"""The wheel, installed into fresh CPython and PyPy virtual environments outside the checkout.

The wheel tested is $XLLAMACPP_TEST_WHEEL (`make test-wheel` passes the one
`make wheel` built, with the portable CPU library); without it, one is built
here from this checkout's CPU library, the same way.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

COMPLETION = r"""
import json, sys
import xllamacpp as xlc
p = xlc.CommonParams()
p.model.path = sys.argv[1]
p.n_ctx = 512
p.warmup = False
p.sampling.temp = 0.0
p.sampling.top_k = 1
with xlc.Server(p) as s:
    r = s.handle_completions({"prompt": "The capital of France is", "max_tokens": 8})
print("WHEEL " + json.dumps({"module": xlc.__file__, "library": str(xlc.library_path), "backend": xlc.BACKEND,
                             "text": r["choices"][0]["text"], "tokens": r["usage"]["completion_tokens"],
                             "implementation": sys.implementation.name}))
"""


def run(cmd, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kw)
    assert r.returncode == 0, f"{cmd}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    given = os.environ.get("XLLAMACPP_TEST_WHEEL")
    if given:
        return Path(given).resolve()
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "XLLAMACPP_PREBUILT": "1", "XLLAMACPP_WHEEL_LIBS": "xllamacpp/lib/libxlc-cpu.so"}
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, ROOT],
        cwd=str(ROOT), env=env)
    (found,) = out.glob("xllamacpp-*.whl")
    return found


def test_wheel_tag_and_contents(wheel):
    name, version, python, abi, platform = wheel.name[:-4].split("-")
    assert (name, python, abi) == ("xllamacpp", "py3", "none") and platform.endswith("x86_64")
    with zipfile.ZipFile(wheel) as z:
        names = [n for n in z.namelist() if not n.endswith("/")]
    assert "xllamacpp/lib/libxlc-cpu.so" in names and "xllamacpp/_xlc_ffi.py" in names
    # libraries only under lib/ (and auditwheel's copy of libgomp), and no CPython extension anywhere
    assert sorted(n for n in names if n.endswith(".so")) == sorted(n for n in names if n.startswith("xllamacpp/lib/"))
    assert all(n.startswith("xllamacpp.libs/libgomp") for n in names if ".so." in n)
    assert not [n for n in names if "/tests/" in n or n.startswith("cshim/")]


def install_and_complete(interpreter: str, wheel: Path, model_path: str, tmp_path: Path) -> dict:
    venv = tmp_path / "venv"
    run([interpreter, "-m", "venv", venv], cwd=str(tmp_path))
    python = venv / "bin" / "python"
    run([python, "-m", "pip", "install", "-q", wheel], cwd=str(tmp_path))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XLLAMACPP_", "PYTHON"))}
    r = run([python, "-c", COMPLETION, model_path], cwd=str(tmp_path), env=env)
    out = json.loads(next(line for line in r.stdout.splitlines() if line.startswith("WHEEL "))[6:])
    # the installed package and its library, not the checkout's
    assert out["module"].startswith(str(venv)) and out["library"].startswith(str(venv)), out
    assert out["backend"] == "cpu" and out["tokens"] == 8 and out["text"].strip(), out
    return out


def test_cpython_venv_installs_the_wheel_and_completes(wheel, model_path, tmp_path):
    base = getattr(sys, "_base_executable", sys.executable)
    out = install_and_complete(base, wheel, model_path, tmp_path)
    assert out["implementation"] == "cpython"


def test_pypy_venv_installs_the_wheel_and_completes(wheel, model_path, tmp_path):
    pypy = shutil.which("pypy3")
    if pypy is None:
        pytest.fail("pypy3 is not installed (`make deps` installs it)")
    out = install_and_complete(pypy, wheel, model_path, tmp_path)
    assert out["implementation"] == "pypy"


def oldest_claimed_cpython() -> Path:
    """CPython 3.9, the oldest that pyproject.toml claims, from pyenv (as on CI's machine)."""
    found = sorted(Path.home().glob(".pyenv/versions/3.9.*/bin/python3.9"))
    if not found:
        pytest.fail("no CPython 3.9 under ~/.pyenv/versions: `pyenv install 3.9`")
    return found[-1]


def test_cpython_39_venv_installs_the_wheel_without_llguidance_and_completes(wheel, model_path, tmp_path):
    # llguidance has no wheel for 3.9: the requirement's marker leaves it out, and schemas go to GBNF
    out = install_and_complete(str(oldest_claimed_cpython()), wheel, model_path, tmp_path)
    assert out["implementation"] == "cpython"
    python = tmp_path / "venv" / "bin" / "python"
    r = run([python, "-c", "import sys, importlib.util, xllamacpp as x; "
             "print(sys.version_info[:2], importlib.util.find_spec('llguidance'), x.structured_output_engine())"],
            cwd=str(tmp_path))
    assert r.stdout.split("\n")[0] == "(3, 9) None gbnf", r.stdout
