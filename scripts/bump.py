"""Move llama.cpp: point vendor/lock.json at another llama-cpp-python sdist, fetch it, and report
what changed between the two trees, for the changelog.

    python scripts/bump.py VERSION [--report FILE]   rewrite the lock (url and sha256 from PyPI's
                                                     JSON API), fetch, write the report
    python scripts/bump.py --diff OLD_TREE NEW_TREE  the report alone, for two llama.cpp trees
    python scripts/bump.py --lock-entry VERSION      the lock's entry for that version, as JSON

`make bump VERSION=x.y.z` runs the first, then builds, runs the drift tests and the suite, and
prints the report. The report lists common_params fields, llama-server routes, flags of the
argument table and enums (by member) that were added or removed.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "cshim"))
sys.path.insert(0, str(ROOT / "vendor"))
import arg_options  # noqa: E402
import common_params_fields  # noqa: E402
import fetch  # noqa: E402
import gen_enums  # noqa: E402

LOCK = ROOT / "vendor" / "lock.json"
INDEX = "https://pypi.org/pypi/{package}/json"
ENUM_HEADERS = ["include/llama.h", "ggml/include/ggml.h", "ggml/include/ggml-backend.h", "ggml/include/ggml-cpu.h",
                "ggml/include/ggml-opt.h", "common/common.h"]


def lock_entry(package: str, version: str, current: dict) -> dict:
    """The lock's entry for `version` of `package`: its sdist's url and sha256 from PyPI's JSON API."""
    api = INDEX.format(package=package)
    with urllib.request.urlopen(api) as response:
        releases = json.load(response)["releases"]
    if version not in releases:
        raise SystemExit(f"bump: {package} has no release {version} on PyPI")
    sdists = [f for f in releases[version] if f["packagetype"] == "sdist"]
    if not sdists:
        raise SystemExit(f"bump: {package} {version} has no sdist")
    url = urllib.parse.urljoin(api, sdists[0]["url"])  # an index mirror may answer relative URLs
    root = sdists[0]["filename"][: -len(".tar.gz")]
    subdir = current["subdir"].split("/", 1)[1]  # vendor/llama.cpp inside the sdist
    return {**current, "version": version, "url": url, "sha256": sdists[0]["digests"]["sha256"],
            "subdir": f"{root}/{subdir}"}


# --- what a tree has -----------------------------------------------------------------------


def facts(tree: Path) -> dict[str, set[str]]:
    """The names a llama.cpp tree offers that the facade follows."""
    server = arg_options.strip_comments((tree / "tools" / "server" / "server.cpp").read_text(encoding="utf-8"))
    verbs = {"get": "GET", "post": "POST", "del": "DELETE"}
    routes = {f"{verbs[m]} {p}" for m, p in re.findall(r"ctx_http\.(get|post|del)\s*\(\s*\"(/[^\"]*)\"", server)}
    flags: set[str] = set()
    for opt in arg_options.options(tree / "common" / "arg.cpp"):
        flags |= set(opt.args) | set(opt.args_neg)
    enums: set[str] = set()
    for header in ENUM_HEADERS:
        for name, members in gen_enums.enums((tree / header).read_text(encoding="utf-8")):
            enums |= {f"{name}.{m}" for m in members} | {name}
    return {"fields": set(common_params_fields.fields(tree / "common" / "common.h")), "routes": routes,
            "flags": flags, "enums": enums}


def commit_of(tree: Path) -> str:
    path = tree / fetch.SOURCE_COMMIT
    return (path.read_text().strip() if path.exists() else "") or "unknown commit"


def report(old: Path, new: Path, title: str) -> str:
    before, after = facts(old), facts(new)
    lines = [f"# {title}", "", f"llama.cpp {commit_of(old)} -> {commit_of(new)}", ""]
    for kind in ("fields", "routes", "flags"):
        added, removed = sorted(after[kind] - before[kind]), sorted(before[kind] - after[kind])
        lines.append(f"## {kind}: {len(added)} added, {len(removed)} removed")
        lines += [f"+ {x}" for x in added] + [f"- {x}" for x in removed] + [""]
    # enums: whole enums added or removed, and members of the others
    b_names = {e for e in before["enums"] if "." not in e}
    a_names = {e for e in after["enums"] if "." not in e}
    changed = sorted({e.split(".")[0] for e in after["enums"] ^ before["enums"] if "." in e} & b_names & a_names)
    lines.append(f"## enums: {len(a_names - b_names)} added, {len(b_names - a_names)} removed, {len(changed)} changed")
    lines += [f"+ {e}" for e in sorted(a_names - b_names)] + [f"- {e}" for e in sorted(b_names - a_names)]
    for e in changed:
        plus = sorted(m.split(".", 1)[1] for m in after["enums"] - before["enums"] if m.startswith(e + "."))
        minus = sorted(m.split(".", 1)[1] for m in before["enums"] - after["enums"] if m.startswith(e + "."))
        lines.append(f"~ {e}: " + ", ".join([f"+{m}" for m in plus] + [f"-{m}" for m in minus]))
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("version", nargs="?")
    ap.add_argument("--report", type=Path, help="also write the report here")
    ap.add_argument("--diff", nargs=2, type=Path, metavar=("OLD_TREE", "NEW_TREE"))
    ap.add_argument("--lock-entry", metavar="VERSION")
    args = ap.parse_args(argv)
    lock = json.loads(LOCK.read_text())
    entry = lock["llama.cpp"]
    if args.lock_entry:
        print(json.dumps(lock_entry(entry["package"], args.lock_entry, entry), indent=2))
        return 0
    if args.diff:
        text = report(*args.diff, f"llama.cpp {args.diff[0]} -> {args.diff[1]}")
    elif args.version:
        tree = fetch.VENDOR / entry["dest"]
        # the tree as it is now: the report's "before" (a copy of the facts, not of the tree)
        if not (tree / "common" / "common.h").exists():
            fetch.fetch("llama.cpp", entry)
        old_version = entry["version"]
        staging = ROOT / "build" / "bump" / f"llama.cpp-{old_version}"
        if staging.exists():
            import shutil
            shutil.rmtree(staging)
        staging.parent.mkdir(parents=True, exist_ok=True)
        fetch.unpack(fetch.download(entry["url"], entry["sha256"]), entry["subdir"], staging)
        (staging / fetch.SOURCE_COMMIT).write_text(commit_of(tree) + "\n")
        new = lock_entry(entry["package"], args.version, entry)
        lock["llama.cpp"] = new
        LOCK.write_text(json.dumps(lock, indent=2) + "\n")
        print(f"bump: vendor/lock.json -> {entry['package']} {args.version}", file=sys.stderr)
        fetch.fetch("llama.cpp", new)
        text = report(staging, tree, f"{entry['package']} {old_version} -> {args.version}")
    else:
        ap.error("give a VERSION, --diff or --lock-entry")
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
