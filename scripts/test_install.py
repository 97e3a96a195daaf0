"""`make test-install`: the base wheel from dist/simple into every Python we claim, tested there.

    python scripts/test_install.py --model models/gemma-3-270m-q4_k_m.gguf [--write] [ENV ...]

Each environment gets a fresh virtual environment outside the checkout, `pip install xllamacpp`
from the local index (PyPI as an extra index for cffi, orjson and llguidance), a greedy completion,
and the package's thread-safety tests (the threads and iterators tests of tests/test_server.py and
tests/test_stream.py, copied out with the model). Environments (all by default):

  cpython-3.9 ... cpython-3.13  pyenv's interpreters (~/.pyenv/versions)
  pypy                          pypy3 (Debian's)
  debian-11, debian-13          Debian roots made with debootstrap (bullseye: glibc 2.31, trixie: 2.41)
                                under ~/.cache/xllamacpp/roots, their own python3, run by chroot
  cpython-3.13t                 free-threaded CPython, built once from Debian's python3.13 source with
                                --disable-gil into ~/.cache/xllamacpp/python3.13t; run with PYTHON_GIL=0,
                                checking that importing the package leaves the GIL off

--write puts the table into docs/install.md between its "results" markers.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path.home() / ".cache" / "xllamacpp"
ROOTS = {"debian-11": "bullseye", "debian-13": "trixie"}
THREAD_TESTS = ["tests/test_server.py::test_threads_are_batched_together",
                "tests/test_stream.py::test_iterators_on_threads_batch_together",
                "tests/test_stream.py::test_cancel_from_another_thread_ends_the_iteration"]
FREE_THREADED = CACHE / "python3.13t"
PYPI = "https://pypi.org/simple"

PROBE = r"""
import json, os, platform, sys
import xllamacpp as xlc
p = xlc.CommonParams()
p.model.path = sys.argv[1]
p.n_ctx = 512
p.warmup = False
p.sampling.top_k = 1
with xlc.Server(p) as s:
    r = s.handle_completions({"prompt": "The capital of France is", "max_tokens": 8})
gil = getattr(sys, "_is_gil_enabled", lambda: True)()
print("PROBE " + json.dumps({"python": platform.python_implementation() + " " + platform.python_version(),
      "glibc": os.confstr("CS_GNU_LIBC_VERSION"), "version": xlc.__version__, "tokens": r["usage"]["completion_tokens"],
      "text": r["choices"][0]["text"], "gil": gil, "engine": xlc.structured_output_engine(),
      "module": xlc.__file__}))
"""


class Environment:
    """An interpreter, on this machine or inside a Debian root (then every path is the root's)."""

    def __init__(self, name: str, python: str, root: Optional[Path] = None, env: Optional[dict] = None):
        self.name, self.python, self.root, self.env = name, python, root, env or {}

    def workdir(self, scratch: Path) -> Path:
        """Where the files go, seen from this machine; inside() gives the same path as the interpreter sees it."""
        return self.root / "opt" / "xlc-test" if self.root else scratch / self.name

    def inside(self, path: Path) -> str:
        return "/" + str(path.relative_to(self.root)) if self.root else str(path)

    def run(self, args: List[str], cwd: Path, timeout: int = 1800) -> subprocess.CompletedProcess:
        """Runs args in cwd (a folder of no checkout, so that `-c` and `-m` import the installed package)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XLLAMACPP_", "PYTHON", "PIP_"))}
        env.update(self.env)
        if self.root:  # chroot starts in the root's /
            args = ["chroot", str(self.root), "/bin/sh", "-c", 'cd "$0" && exec "$@"', self.inside(cwd), *args]
        return subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout,
                              cwd=None if self.root else str(cwd))


def pyenv_python(version: str) -> Optional[str]:
    found = sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    return str(found[-1]) if found else None


def debian_root(suite: str) -> Path:
    """The root, made with debootstrap the first time (a few minutes: Debian's minimal base and python3)."""
    root = CACHE / "roots" / suite
    if not (root / "usr" / "bin" / "python3").exists():
        if not shutil.which("debootstrap"):
            subprocess.run(["apt-get", "install", "-y", "-qq", "debootstrap"], check=True)
        unmount(root)  # never remove through a bind mount of this machine's /dev
        shutil.rmtree(root, ignore_errors=True)
        root.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,python3-pip,ca-certificates",
                        suite, str(root)], check=True)
    # the network as this machine has it: its resolver, and its certificates (a proxy's CA may be among them)
    shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", root / "etc" / "ssl" / "certs" / "ca-certificates.crt")
    for fs, args in (("proc", ["-t", "proc", "proc"]), ("dev", ["--bind", "/dev"])):  # what processes expect
        if not os.path.ismount(root / fs):
            subprocess.run(["mount", *args, str(root / fs)], check=True)
    return root


def unmount(root: Path) -> None:
    for fs in ("dev", "proc"):
        if os.path.ismount(root / fs):
            subprocess.run(["umount", str(root / fs)], check=True)


def free_threaded_python() -> str:
    """CPython 3.13 with --disable-gil from Debian's source package, built once outside the checkout."""
    python = FREE_THREADED / "bin" / "python3.13t"
    if python.exists():
        return str(python)
    src = CACHE / "python3.13-src"
    if not list(src.glob("python3.13_*.orig.tar.xz")):
        src.mkdir(parents=True, exist_ok=True)
        sources = Path("/etc/apt/sources.list.d/xllamacpp-deb-src.sources")
        if not sources.exists():  # trixie's source index, from the mirror this machine's apt already uses
            uris = next(line for line in Path("/etc/apt/sources.list.d/debian.sources").read_text().splitlines()
                        if line.startswith("URIs:"))
            sources.write_text(f"Types: deb-src\n{uris}\nSuites: trixie\nComponents: main\n"
                               "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
            subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "source", "--download-only", "python3.13"], cwd=src, check=True)
    (tarball,) = src.glob("python3.13_*.orig.tar.xz")
    build = Path(tempfile.mkdtemp(prefix="py313t-"))
    subprocess.run(["tar", "xf", str(tarball), "-C", str(build), "--strip-components=1"], check=True)
    jobs = str(os.cpu_count() or 2)
    subprocess.run(["nice", "-n", "10", "./configure", "--disable-gil", "--without-ensurepip", f"--prefix={FREE_THREADED}",
                    "--quiet"], cwd=build, check=True)
    subprocess.run(["nice", "-n", "10", "make", "-s", "-j", jobs], cwd=build, check=True)
    subprocess.run(["make", "-s", "altinstall"], cwd=build, check=True)
    shutil.rmtree(build, ignore_errors=True)
    return str(python)


def environments(names: List[str]) -> List[Environment]:
    out = []
    for name in names:
        if name.startswith("cpython-3.") and not name.endswith("t"):
            python = pyenv_python(name.split("-")[1])
            if python is None:
                raise SystemExit(f"{name}: not under ~/.pyenv/versions (pyenv install {name.split('-')[1]})")
            out.append(Environment(name, python))
        elif name == "pypy":
            out.append(Environment(name, shutil.which("pypy3") or "pypy3"))
        elif name in ROOTS:
            out.append(Environment(name, "/usr/bin/python3", debian_root(ROOTS[name])))
        elif name == "cpython-3.13t":
            out.append(Environment(name, free_threaded_python(), env={"PYTHON_GIL": "0"}))
        else:
            raise SystemExit(f"unknown environment {name}")
    return out


def check(env: Environment, index: Path, model: Path, scratch: Path, tests: List[str]) -> dict:
    work = env.workdir(scratch)
    shutil.rmtree(work, ignore_errors=True)
    (work / "tests").mkdir(parents=True)
    shutil.copytree(index.parent, work / "dist", ignore=shutil.ignore_patterns("*.tmp"))
    for name in ("conftest.py", "test_server.py", "test_stream.py"):
        shutil.copy(ROOT / "tests" / name, work / "tests" / name)
    try:
        os.link(model, work / model.name)
    except OSError:
        shutil.copy(model, work / model.name)
    # pinned to the index's own version: where our wheel does not fit, pip would otherwise take upstream's
    # xllamacpp from PyPI (seen on Debian 11 with a manylinux_2_35 wheel: it built upstream's sdist)
    version = next(index.parent.glob("xllamacpp-*.whl")).name.split("-")[1]
    venv = env.inside(work / "venv")
    started = time.perf_counter()
    steps = [
        [env.python, "-m", "venv", venv],
        [f"{venv}/bin/python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--index-url", f"file://{env.inside(work / 'dist' / 'simple')}", "--extra-index-url", PYPI,
         f"xllamacpp=={version}", "pytest", "requests"],
    ]
    for step in steps:
        r = env.run(step, work)
        if r.returncode != 0:
            return {"env": env.name, "ok": False, "error": (r.stdout + r.stderr)[-1500:]}
    r = env.run([f"{venv}/bin/python", "-c", PROBE, env.inside(work / model.name)], work)
    if r.returncode != 0:
        return {"env": env.name, "ok": False, "error": r.stderr[-1500:]}
    probe = json.loads(next(line for line in r.stdout.splitlines() if line.startswith("PROBE "))[6:])
    env.env["XLLAMACPP_TEST_MODEL"] = env.inside(work / model.name)
    result = env.run([f"{venv}/bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=3",
                     *(env.inside(work / t) for t in tests)], work)
    summary = (result.stdout.strip().splitlines() or ["no output"])[-1].strip("= ")
    ok = (probe["tokens"] == 8 and result.returncode == 0 and probe["module"].startswith(venv)
          and (env.name != "cpython-3.13t" or probe["gil"] is False))
    return {"env": env.name, "ok": ok, **probe, "threads": summary, "seconds": round(time.perf_counter() - started),
            **({} if result.returncode == 0 else {"error": result.stdout[-1500:]})}


def table(results: List[dict]) -> str:
    lines = ["| environment | Python | glibc | installed | completion | thread-safety tests | GIL after import | JSON schemas |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        if "python" not in r:
            lines.append(f"| {r['env']} | | | **failed** | | {r.get('error', '').splitlines()[-1:] or ''} | | |")
            continue
        gil = "on" if r["gil"] else "**off**"
        lines.append(f"| {r['env']} | {r['python']} | {r['glibc'].replace('glibc ', '')} | {r['version']} | "
                     f"{r['tokens']} tokens | {r['threads']} | {gil} | {r['engine']} |")
    return "\n".join(lines)


def write_doc(results: List[dict]) -> None:
    doc = ROOT / "docs" / "install.md"
    text = doc.read_text()
    begin, end = "<!-- results: scripts/test_install.py --write -->", "<!-- /results -->"
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    doc.write_text(f"{head}{begin}\n{table(results)}\n{end}{tail}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("envs", nargs="*", default=[f"cpython-3.{m}" for m in range(9, 14)] + ["pypy", *ROOTS, "cpython-3.13t"])
    ap.add_argument("--index", type=Path, default=ROOT / "dist" / "simple")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "gemma-3-270m-q4_k_m.gguf")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--tests", nargs="+", default=THREAD_TESTS, help="the tests to run (default: the thread-safety ones)")
    args = ap.parse_args()
    if not (args.index / "xllamacpp" / "index.html").is_file():
        raise SystemExit(f"no xllamacpp in {args.index}: make wheels")
    results = []
    envs = environments(args.envs)
    try:
        with tempfile.TemporaryDirectory(prefix="xlc-install-") as scratch:
            for env in envs:
                result = check(env, args.index.resolve(), args.model.resolve(), Path(scratch), args.tests)
                print(json.dumps(result), flush=True)
                results.append(result)
    finally:
        for env in envs:
            if env.root:
                unmount(env.root)
    print(table(results))
    if args.write:
        write_doc(results)
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
