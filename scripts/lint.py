"""`make lint`: ruff, then mypy --strict and pyright (strict) on the package's own modules, xllamacpp/*.py.

mypy reads a module's stub instead of its source when both exist, so the modules with a generated
stub (__init__.py, _params.py: scripts/gen_stubs.py) are checked in a run of their own, where they
are given as files; in the other run the rest of the package sees them through their stubs, as a
user's code does. pyright's settings are pyproject.toml's [tool.pyright]; mypy's file is the one
tests/test_stubs.py uses. The cffi module is generated and left out; build_ffi.py writes its stub.
Exits 1 if any of them finds something.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "xllamacpp"
GENERATED = {"_xlc_ffi.py"}
MYPY = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "tests" / "typecheck" / "mypy.ini"), "--strict",
        "--python-version", "3.9", "--show-error-codes", "--no-error-summary"]


def modules() -> tuple[List[str], List[str]]:
    """(modules read through their own source, modules that have a stub beside them)."""
    sources = sorted(p for p in PACKAGE.glob("*.py") if p.name not in GENERATED)
    plain = [str(p.relative_to(ROOT)) for p in sources if not p.with_suffix(".pyi").exists()]
    stubbed = [str(p.relative_to(ROOT)) for p in sources if p.with_suffix(".pyi").exists()]
    return plain, stubbed


def run(what: str, cmd: List[str]) -> bool:
    print(f"--- {what}", flush=True)
    r = subprocess.run(cmd, cwd=ROOT)
    return r.returncode == 0


def main() -> int:
    plain, stubbed = modules()
    cache = ROOT / "build" / "mypy-cache-lint"
    results = [
        run("ruff check", [sys.executable, "-m", "ruff", "check", "--quiet", "."]),
        run("mypy --strict (the package, stubs of __init__ and _params)",
            [*MYPY, "--cache-dir", str(cache / "package"), *plain]),
        run("mypy --strict (the modules that have stubs, as sources)",
            [*MYPY, "--cache-dir", str(cache / "stubbed"), *stubbed]),
        run("pyright (strict, pyproject.toml)", [sys.executable, "-m", "pyright", "--pythonpath", sys.executable]),
    ]
    if not all(results):
        print("make lint: failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
