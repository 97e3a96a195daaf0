"""Fetch the pinned third-party sources named in vendor/lock.json.

Each entry is downloaded once into a cache outside the checkout
(``$XDG_CACHE_HOME/xllamacpp`` or ``~/.cache/xllamacpp``), checked against
its sha256 and only the named sub-tree is unpacked under ``vendor/``.
A stamp file holding the sha256 makes re-runs free until the lock changes.

Standard library only: it runs inside pip's isolated build environment too.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

VENDOR = Path(__file__).resolve().parent
STAMP = ".xlc-sha256"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    path = Path(base) / "xllamacpp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, sha256: str) -> Path:
    target = cache_dir() / url.rsplit("/", 1)[-1].split("#", 1)[0]
    if target.exists() and sha256_of(target) == sha256:
        return target
    print(f"fetch: downloading {url}", file=sys.stderr)
    tmp = target.with_suffix(target.suffix + ".part")
    with urllib.request.urlopen(url) as response, open(tmp, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)
    got = sha256_of(tmp)
    if got != sha256:
        tmp.unlink()
        raise SystemExit(f"fetch: sha256 mismatch for {url}: expected {sha256}, got {got}")
    tmp.replace(target)
    return target


def unpack(archive: Path, subdir: str, dest: Path, files: "list[str] | None" = None) -> None:
    prefix = subdir.rstrip("/") + "/"
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".unpack-"))
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix) and (m.isfile() or m.isdir())]
            for m in members:
                m.name = m.name[len(prefix):]
                if not m.name or m.name.startswith("/") or ".." in Path(m.name).parts:
                    continue
                if files is not None and m.name not in files:
                    continue
                tar.extract(m, staging)
        if dest.exists():
            shutil.rmtree(dest)
        staging.replace(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


SOURCE_COMMIT = "XLC_SOURCE_COMMIT"  # the upstream commit the package's changelog names, for build info


def changelog_commit(archive: Path, entry: dict) -> str:
    """The llama.cpp commit that the sdist's CHANGELOG.md names under its own version ("" if none):
    the sdist carries no git metadata, so this is the only record of which llama.cpp it holds."""
    root = entry["subdir"].split("/")[0]
    with tarfile.open(archive) as tar:
        try:
            member = tar.extractfile(f"{root}/CHANGELOG.md")
        except KeyError:
            return ""
        text = member.read().decode("utf-8", "replace") if member else ""
    section = text.split(f"## [{entry['version']}]", 1)[1].split("\n## [", 1)[0] if f"## [{entry['version']}]" in text else ""
    found = re.search(r"llama\.cpp@([0-9a-f]{7,40})", section)
    return found.group(1) if found else ""


def fetch(name: str, entry: dict) -> Path:
    dest = VENDOR / entry["dest"]
    stamp = dest / STAMP
    fresh = not (stamp.exists() and stamp.read_text().strip() == entry["sha256"])
    if fresh:
        archive = download(entry["url"], entry["sha256"])
        unpack(archive, entry["subdir"], dest, entry.get("files"))
        stamp.write_text(entry["sha256"] + "\n")
        print(f"fetch: {name} {entry['version']} -> {dest}", file=sys.stderr)
    if entry.get("changelog_commit") and (fresh or not (dest / SOURCE_COMMIT).exists()):
        commit = changelog_commit(download(entry["url"], entry["sha256"]), entry)
        (dest / SOURCE_COMMIT).write_text(commit + "\n")
    return dest


def main(argv: list[str]) -> int:
    lock = json.loads((VENDOR / "lock.json").read_text())
    names = argv or [n for n in lock if not lock[n].get("optional")]
    for name in names:
        fetch(name, lock[name])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
