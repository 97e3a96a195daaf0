"""Build llama.cpp's web UI (tools/ui) from the vendored source into tools/ui/dist.

llama.cpp's own scripts/ui-assets.cmake embeds the assets it finds in
``tools/ui/dist`` (its "pre-built assets" path), so llama-server's routes serve
them at ``/`` in the facade as they do in llama-server. This script only
provides that directory:

- ``npm ci`` runs once per package-lock.json, into
  ``<cache>/ui/node_modules-<lock sha256>``; ``npm run build`` runs once per
  source tree, into ``<cache>/ui/dist-<source sha256>``. Both live outside the
  checkout, so warm builds (and other clones) copy a directory and run no npm.
- Without node or npm, and with nothing cached, it prints one line and leaves
  no dist: the library builds without the UI.

Standard library only; run by cshim/CMakeLists.txt before llama.cpp's UI step.
Usage: build_ui.py <tools/ui directory> [--off]   (--off: remove dist, build without the UI)
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SKIP_PARTS = {"node_modules", "dist", ".svelte-kit", "build", "test-results", "dev-dist"}
STAMP = ".xlc-dist-source"  # beside dist/, not in it: llama.cpp embeds every file of dist/


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "xllamacpp" / "ui"


def source_files(ui: Path) -> list[Path]:
    out = []
    for root, dirs, files in os.walk(ui):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_PARTS and not d.startswith(".dist-"))
        out += [Path(root) / f for f in sorted(files) if f != STAMP]
    return out


def source_digest(ui: Path) -> str:
    h = hashlib.sha256()
    for f in source_files(ui):
        h.update(str(f.relative_to(ui)).encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:16]


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> None:
    # npm's progress and audit chatter stays out of the build log; its errors do not
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:])
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}) in {cwd}")


def node_modules(ui: Path, npm: str) -> Path:
    """node_modules for this package-lock.json, installed once."""
    lock = hashlib.sha256((ui / "package-lock.json").read_bytes()).hexdigest()[:16]
    final = cache_dir() / f"node_modules-{lock}"
    if (final / "node_modules" / ".package-lock.json").exists():
        return final / "node_modules"
    tmp = Path(tempfile.mkdtemp(dir=cache_dir(), prefix=f".node_modules-{lock}-"))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(ui / name, tmp / name)
        t = time.monotonic()
        run([npm, "ci", "--no-audit", "--no-fund"], tmp)
        print(f"xllamacpp: web UI: npm ci in {time.monotonic() - t:.0f} s -> {final}", flush=True)
        shutil.rmtree(final, ignore_errors=True)
        tmp.replace(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / "node_modules"


def build_dist(ui: Path, digest: str, npm: str) -> Path:
    """npm run build on a copy of the source: nothing is built inside the vendored tree."""
    final = cache_dir() / f"dist-{digest}"
    modules = node_modules(ui, npm)
    work = Path(tempfile.mkdtemp(dir=cache_dir(), prefix=f".work-{digest}-"))
    out = Path(str(work) + ".dist")
    try:
        for f in source_files(ui):
            dest = work / f.relative_to(ui)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
        (work / "node_modules").symlink_to(modules, target_is_directory=True)
        env = dict(os.environ, LLAMA_UI_OUT_DIR=str(out))
        t = time.monotonic()
        run([npm, "run", "build"], work, env)
        if not (out / "index.html").exists():
            raise RuntimeError(f"npm run build left no index.html in {out}")
        print(f"xllamacpp: web UI: npm run build in {time.monotonic() - t:.0f} s -> {final}", flush=True)
        shutil.rmtree(final, ignore_errors=True)
        out.replace(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    return final


def main(argv: list[str]) -> int:
    ui = Path(argv[1]).resolve()
    dist = ui / "dist"
    stamp = ui / STAMP
    if "--off" in argv[2:]:
        shutil.rmtree(dist, ignore_errors=True)
        stamp.unlink(missing_ok=True)
        print("xllamacpp: XLC_UI=OFF: building without the web UI", flush=True)
        return 0
    digest = source_digest(ui)
    if stamp.exists() and stamp.read_text().strip() == digest and (dist / "index.html").exists():
        return 0
    cache_dir().mkdir(parents=True, exist_ok=True)
    cached = cache_dir() / f"dist-{digest}"
    if not (cached / "index.html").exists():
        npm = shutil.which("npm")
        if not npm or not shutil.which("node"):
            shutil.rmtree(dist, ignore_errors=True)
            stamp.unlink(missing_ok=True)
            print("xllamacpp: no node/npm: building without the web UI (install nodejs and npm for `/`)", flush=True)
            return 0
        try:
            cached = build_dist(ui, digest, npm)
        except (OSError, RuntimeError) as e:
            shutil.rmtree(dist, ignore_errors=True)
            stamp.unlink(missing_ok=True)
            print(f"xllamacpp: the web UI did not build ({e}): building without it", flush=True)
            return 0
    tmp = Path(tempfile.mkdtemp(dir=ui, prefix=".dist-"))
    shutil.rmtree(tmp)
    shutil.copytree(cached, tmp)
    shutil.rmtree(dist, ignore_errors=True)
    tmp.replace(dist)
    stamp.write_text(digest + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
