"""`make bump-check`: the library built, with no source edit, against the llama.cpp of each
llama-cpp-python sdist named in vendor/bump_check.json, each tree in its own build directory
(build/bump-check/<version>, ccache shared; the lock's own release is `make build`'s build/cpu), then the drift tests and the model tests run on each
build against its own tree. Prints a table of what passed, failed and was skipped.

    python scripts/bump_check.py [--only VERSION ...] [--jobs N] [--tests "tests/a.py tests/b.py"]

A test of a feature the older tree lacks is skipped by tests/llama_features.py, which checks
that the field really is absent from that tree's common_params; tests/test_llama_features.py
checks that setting it raises AttributeError naming the tree's commit.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "vendor"))
import fetch  # noqa: E402

RELEASES = ROOT / "vendor" / "bump_check.json"
BUILD = ROOT / "build" / "bump-check"
TESTS = "tests/test_drift.py tests/test_params.py tests/test_llama_features.py tests/test_server.py tests/test_http.py"


def tree_for(version: str, entry: dict, package: str) -> Path:
    """build/bump-check/src/<version>/llama.cpp, unpacked once per sha256."""
    dest = BUILD / "src" / version / "llama.cpp"
    stamp = dest / fetch.STAMP
    if stamp.exists() and stamp.read_text().strip() == entry["sha256"]:
        return dest
    root = Path(entry["url"]).name[: -len(".tar.gz")]
    lock_like = {"version": version, "subdir": f"{root}/vendor/llama.cpp", **entry}
    archive = fetch.download(entry["url"], entry["sha256"])
    dest.parent.mkdir(parents=True, exist_ok=True)
    fetch.unpack(archive, lock_like["subdir"], dest)
    (dest / fetch.SOURCE_COMMIT).write_text(fetch.changelog_commit(archive, lock_like) + "\n")
    stamp.write_text(entry["sha256"] + "\n")
    print(f"bump-check: {package} {version} -> {dest}", file=sys.stderr)
    return dest


def build(version: str, tree: Path, jobs: int) -> tuple[bool, float, Path]:
    out = BUILD / version
    log = BUILD / f"{version}.build.log"
    cmd = ["cmake", "-S", str(ROOT / "cshim"), "-B", str(out), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
           "-DXLC_BACKEND=cpu", f"-DXLC_LLAMA_DIR={tree}"]
    if shutil.which("ccache"):
        cmd += ["-DCMAKE_C_COMPILER_LAUNCHER=ccache", "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"]
    start = time.monotonic()
    with open(log, "w") as f:
        ok = (out / "build.ninja").exists() or subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT) == 0
        ok = ok and subprocess.call(["cmake", "--build", str(out), "-j", str(jobs), "--target", "xlc"],
                                    stdout=f, stderr=subprocess.STDOUT) == 0
    if not ok:
        print(f"bump-check: {version} failed to build; the end of {log}:", file=sys.stderr)
        print("\n".join(log.read_text(errors="replace").splitlines()[-40:]), file=sys.stderr)
    return ok, time.monotonic() - start, out / "libxlc-cpu.so"


def run_tests(version: str, tree: Path, lib: Path, tests: str) -> dict:
    env = {**os.environ, "XLLAMACPP_LIB": str(lib), "XLLAMACPP_LLAMA_DIR": str(tree)}
    log = BUILD / f"{version}.tests.log"
    with open(log, "w") as f:
        rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *tests.split()],
                             cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
    text = log.read_text(errors="replace")
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|error|errors)", text.splitlines()[-1]
                                                if text.strip() else "")}
    return {"rc": rc, "log": log, **counts}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--tests", default=TESTS)
    args = ap.parse_args(argv)
    data = json.loads(RELEASES.read_text())
    lock = json.loads((ROOT / "vendor" / "lock.json").read_text())["llama.cpp"]
    BUILD.mkdir(parents=True, exist_ok=True)
    rows = []
    for version, entry in data["releases"].items():
        if args.only and version not in args.only:
            continue
        if entry["sha256"] == lock["sha256"]:
            # the lock's own release: `make build` (a prerequisite) built it in build/cpu from vendor/llama.cpp
            tree, ok, seconds, lib = ROOT / "vendor" / lock["dest"], True, 0.0, ROOT / "xllamacpp" / "lib" / "libxlc-cpu.so"
        else:
            tree = tree_for(version, entry, data["package"])
            ok, seconds, lib = build(version, tree, args.jobs)
        commit = (tree / fetch.SOURCE_COMMIT).read_text().strip()
        result = run_tests(version, tree, lib, args.tests) if ok else {"rc": None}
        rows.append((version, commit, ok, seconds, result))
        print(f"bump-check: {version} built={ok} tests={result}", file=sys.stderr)
    print("| llama-cpp-python | llama.cpp | build | tests passed | failed | skipped |")
    print("| --- | --- | --- | --- | --- | --- |")
    failed = False
    for version, commit, ok, seconds, r in rows:
        failed |= not ok or r["rc"] != 0
        print(f"| {version} | {commit} | {'ok' if ok else 'FAILED'} ({seconds / 60:.0f} min) | {r.get('passed', 0)} | "
              f"{r.get('failed', 0) + r.get('error', 0) + r.get('errors', 0)} | {r.get('skipped', 0)} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
