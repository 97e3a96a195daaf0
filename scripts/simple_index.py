"""Writes DIST/simple/, a PEP 503 index of every wheel in DIST (`make wheels`).

    python scripts/simple_index.py dist

pip then installs from it with --index-url file://$PWD/dist/simple. Each project's page links
its wheels as ../../<file>#sha256=<digest>; the folder is written anew and renamed into place.
"""
from __future__ import annotations

import hashlib
import html
import re
import shutil
import sys
from pathlib import Path


def normalize(name: str) -> str:
    """PEP 503's normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def page(title: str, links: list) -> str:
    body = "\n".join(f'    <a href="{html.escape(href)}">{html.escape(text)}</a><br/>' for href, text in links)
    return (f"<!DOCTYPE html>\n<html>\n  <head><meta name=\"pypi:repository-version\" content=\"1.0\">"
            f"<title>{html.escape(title)}</title></head>\n  <body>\n{body}\n  </body>\n</html>\n")


def write_index(dist: Path) -> Path:
    wheels = sorted(dist.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"no wheels in {dist}")
    projects: dict = {}
    for wheel in wheels:
        projects.setdefault(normalize(wheel.name.split("-")[0]), []).append(wheel)
    tmp = dist / ".simple.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for project, files in projects.items():
        (tmp / project).mkdir()
        links = [(f"../../{f.name}#sha256={hashlib.sha256(f.read_bytes()).hexdigest()}", f.name) for f in files]
        (tmp / project / "index.html").write_text(page(f"Links for {project}", links))
    (tmp / "index.html").write_text(page("Simple index", [(f"{p}/", p) for p in sorted(projects)]))
    out = dist / "simple"
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


if __name__ == "__main__":
    out = write_index(Path(sys.argv[1] if len(sys.argv) > 1 else "dist"))
    print(f"{out}: {', '.join(sorted(p.name for p in out.iterdir() if p.is_dir()))}")
