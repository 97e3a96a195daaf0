"""Records the public surface of the xllamacpp that imports here (run it with upstream's wheel).

    ~/.cache/xllamacpp/upstream-2026.10.11549/bin/python scripts/upstream_names.py > tests/compat/upstream_names.json

Writes, as JSON: the version; each public name the package exports, with its kind (class, enum
with its members, function, int constant with its value, module); the methods of Server; and every
dotted field of CommonParams. tests/compat/test_names.py holds ours against it, and checks on
upstream's side that the recording is still the wheel's.
"""
from __future__ import annotations

import enum
import inspect
import json
import sys
import types
from typing import Any, Dict


def kind_of(value: Any) -> Any:
    if isinstance(value, type) and issubclass(value, enum.Enum):
        return {"enum": {name: int(member.value) for name, member in value.__members__.items()}}
    if isinstance(value, type):
        return "class"
    if isinstance(value, types.ModuleType):
        return "module"
    if isinstance(value, int) and not isinstance(value, bool):
        return {"int": value}
    if callable(value):
        return "function"
    return type(value).__name__


def fields(obj: Any, prefix: str = "") -> Dict[str, str]:
    """Dotted field -> the Python type of its default, through the nested structs."""
    out: Dict[str, str] = {}
    for name in dir(obj):
        if name.startswith("_"):
            continue
        try:
            value = getattr(obj, name)
        except Exception as e:  # a field the wheel itself cannot read
            out[prefix + name] = f"unreadable ({type(e).__name__})"
            continue
        if inspect.ismethod(value) or inspect.isbuiltin(value):
            continue
        cls = type(value).__name__
        if cls.startswith(("CommonParams", "CpuParams")):
            out.update(fields(value, prefix + name + "."))
        else:
            out[prefix + name] = cls
    return out


def surface(xlc: Any) -> Dict[str, Any]:
    names = {n: kind_of(getattr(xlc, n)) for n in dir(xlc) if not n.startswith("_")}
    server = sorted(n for n in dir(xlc.Server) if not n.startswith("_"))
    return {"version": xlc.__version__, "names": names, "server": server, "fields": fields(xlc.CommonParams())}


if __name__ == "__main__":
    import xllamacpp

    json.dump(surface(xllamacpp), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
