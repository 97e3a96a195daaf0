"""List every data member of llama.cpp's `common_params`, nested structs
flattened to dotted names, read from the vendored common/common.h.

Used at build time by cshim/gen_params.py, which writes the facade's parameter
table from it, by the test that checks that table against the header, and by
`make bump`'s report; `python scripts/common_params_fields.py [common.h]` prints
`name<TAB>C type` lines.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# $XLLAMACPP_LLAMA_DIR: the tree a library under test was built from (make bump-check)
LLAMA_DIR = Path(os.environ.get("XLLAMACPP_LLAMA_DIR") or ROOT / "vendor" / "llama.cpp")
HEADER = LLAMA_DIR / "common" / "common.h"

_MEMBER = re.compile(
    r"^\s*(?:struct\s+|enum\s+)?(?P<type>[A-Za-z_][\w:]*(?:\s*<.*>)?\s*\**)\s+"
    r"(?P<name>[A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*(?:=[^;]*|\{[^;]*\})?;"
)


def _structs(text: str) -> dict[str, list[str]]:
    """Map struct name -> the lines of its body at depth one."""
    out: dict[str, list[str]] = {}
    for m in re.finditer(r"^struct\s+(\w+)\s*\{", text, re.M):
        depth, i, lines, line = 1, m.end(), [], ""
        while depth and i < len(text):
            c = text[i]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            if depth == 1 and c not in "{}":
                line += c
                if c == "\n":
                    lines.append(line)
                    line = ""
            elif depth == 1 and c == "}" and "(" in line.split("=")[0]:
                line = ""  # end of a method body; an initialiser list stays part of its member
            i += 1
        out[m.group(1)] = lines
    return out


def _members(lines: list[str]) -> list[tuple[str, str, str]]:
    members = []
    for raw in lines:
        line, _, comment = raw.partition("//")
        line = line.strip()
        if not line or "(" in line.split("=")[0] or line.startswith(("using", "static", "const ", "friend")):
            continue
        m = _MEMBER.match(line)
        if m:
            comment = comment.strip().replace("NOLINT", "").strip()
            members.append((m.group("name"), " ".join(m.group("type").split()), comment))
    return members


def fields(header: Path = HEADER, comments: bool = False) -> dict:
    """Dotted name -> C type (or (C type, trailing comment) with comments=True)."""
    structs = _structs(header.read_text())
    result: dict = {}

    def walk(struct: str, prefix: str) -> None:
        for name, ctype, comment in _members(structs[struct]):
            inner = ctype.replace("struct ", "")
            if inner in structs and inner not in ("common_grammar",):
                walk(inner, prefix + name + ".")
            else:
                result[prefix + name] = (ctype, comment) if comments else ctype

    walk("common_params", "")
    return result


if __name__ == "__main__":
    for name, ctype in fields(Path(sys.argv[1]) if len(sys.argv) > 1 else HEADER).items():
        print(f"{name}\t{ctype}")
