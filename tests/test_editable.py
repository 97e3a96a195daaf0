"""Type checkers see the package of the checkout through `make build`'s editable install.

setuptools' default editable install puts an import hook in site-packages, which mypy and pyright
cannot follow: `xllamacpp` resolved to Any and a user's mistakes checked clean. `make build`
installs with ``editable_mode=strict`` instead: a path entry in a .pth file, onto a tree of links
to the checkout's files (build/__editable__.*). Here a user's file
with planted mistakes, outside the checkout, is checked with this environment's python as a new
user would run the checkers, and every mistake must be reported at its line.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
USER_FILE = '''import xllamacpp as xlc

params = xlc.CommonParams()
params.n_ctx = "large"  # mistake
params.sampling.temp = "hot"  # mistake
threads: str = params.cpuparams.n_threads  # mistake
server = xlc.Server({"model": "m.gguf"})  # mistake
params.no_such_field = 1  # mistake
params.model.path = "models/m.gguf"
'''
MISTAKES = {n for n, line in enumerate(USER_FILE.splitlines(), 1) if line.endswith("# mistake")}


@pytest.fixture(scope="module")
def user_file(tmp_path_factory) -> Path:
    if sys.implementation.name != "cpython":
        pytest.skip("mypy and pyright run in the CPython suite (make test); the PyPy environment has neither")
    dist = importlib.metadata.distribution("xllamacpp")
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    if not direct_url.get("dir_info", {}).get("editable"):
        pytest.fail(f"xllamacpp in {sys.prefix} is not the checkout's editable install: run `make build`")
    for tool in ("mypy", "pyright"):
        if importlib.util.find_spec(tool) is None:
            pytest.fail(f"{tool} not installed: `make venv` installs requirements-dev.txt")
    folder = tmp_path_factory.mktemp("user")
    path = folder / "myapp.py"
    path.write_text(USER_FILE)
    return path


def _lines(pattern: str, output: str) -> set:
    return {int(m.group(1)) for m in re.finditer(pattern, output, re.M)}


def test_the_package_resolves_to_the_checkout(user_file):
    r = subprocess.run([sys.executable, "-c", "import xllamacpp, sys; sys.stdout.write(xllamacpp.__file__)"],
                       capture_output=True, text=True, cwd=user_file.parent, timeout=120)
    assert Path(r.stdout).resolve() == ROOT / "xllamacpp" / "__init__.py", r.stderr


def test_mypy_outside_the_checkout_reports_every_mistake(user_file):
    r = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--python-executable", sys.executable,
                        user_file.name], capture_output=True, text=True, cwd=user_file.parent, timeout=600)
    assert _lines(r"^myapp\.py:(\d+): error", r.stdout) == MISTAKES, r.stdout + r.stderr


def test_pyright_outside_the_checkout_reports_every_mistake(user_file):
    r = subprocess.run([sys.executable, "-m", "pyright", "--outputjson", "--pythonpath", sys.executable,
                        user_file.name], capture_output=True, text=True, cwd=user_file.parent, timeout=600)
    report = json.loads(r.stdout)
    found = {d["range"]["start"]["line"] + 1 for d in report["generalDiagnostics"] if d["severity"] == "error"}
    assert found == MISTAKES, r.stdout[-3000:]
