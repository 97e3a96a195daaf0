"""Write xllamacpp/_xlc_ffi.py, the cffi out-of-line ABI module of cshim/include/xlc.h, and its stub.

ABI mode: the module is pure Python and only dlopen()s libxlc-<backend>.so at
run time, so nothing is compiled for Python and nothing links libpython
(the same module serves CPython and PyPy, and every backend library).

    python build_ffi.py            # writes xllamacpp/_xlc_ffi.py and _xlc_ffi.pyi

The stub types the library handle once, from the same declarations: ``XlcLib`` is a
Protocol with each xlc_* function and constant, so that the package's calls into the
library type-check (a ``const char *`` takes bytes or a cdata, a pointer is a cdata).
"""
from __future__ import annotations

import re
from pathlib import Path

import cffi

ROOT = Path(__file__).resolve().parent
HEADER = ROOT / "cshim" / "include" / "xlc.h"
TARGET = ROOT / "xllamacpp" / "_xlc_ffi.py"
STUB = TARGET.with_suffix(".pyi")


def cdef_source(header: Path = HEADER) -> str:
    """The declarations between the XLC_CDEF markers, in the C subset cffi reads."""
    lines = header.read_text().splitlines()
    begin = next(i for i, line in enumerate(lines) if "XLC_CDEF_BEGIN" in line)
    end = next(i for i, line in enumerate(lines) if line.strip() == "/* XLC_CDEF_END */")
    body = "\n".join(lines[begin + 1:end])
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    body = re.sub(r"\bXLC_API\s+", "", body)
    return body


_INTEGERS = {"int", "size_t", "xlc_status", "xlc_log_level"}


def _python_type(c_type: str, argument: bool) -> str:
    """The Python type cffi takes (argument) or gives back for a C type of the header."""
    c_type = " ".join(c_type.replace("*", " * ").split())
    if c_type == "void":
        return "None"
    if c_type.replace("const ", "") in _INTEGERS:
        return "int"
    if argument and c_type == "const char *":
        return "bytes | CData"
    if "*" in c_type or c_type == "xlc_stream_callback":
        return "CData"
    raise ValueError(f"build_ffi.py cannot spell the C type {c_type!r} in Python: teach _python_type")


def stub_source(header: Path = HEADER) -> str:
    """_xlc_ffi.pyi: ``ffi`` and the XlcLib Protocol of every function, enum member and #define."""
    body = cdef_source(header)
    lines = ['"""Written by build_ffi.py from cshim/include/xlc.h: the types of the cffi module and of its library."""',
             "from typing import Protocol", "", "from _cffi_backend import FFI",
             "from typing_extensions import TypeAlias", "", "CData: TypeAlias = FFI.CData", "ffi: FFI", "", "", "class XlcLib(Protocol):",
             '    """The handle ffi.dlopen() gives for libxlc-<backend>.so."""', ""]
    constants = re.findall(r"^\s*(XLC_[A-Z_]+)\s*=\s*\d+", body, re.M)
    constants += [c for c in re.findall(r"^#define\s+(XLC_[A-Z_]+)\s+\d+", header.read_text(), re.M)
                  if c != "XLC_ABI_VERSION"]  # read with ffi.integer_const, not from the library
    lines += [f"    {name}: int" for name in dict.fromkeys(constants)]
    declarations = re.findall(r"([A-Za-z_][\w \t*]*?)\b(xlc_\w+)\s*\(([^()]*)\)\s*;", body)
    for ret, name, args in declarations:
        params = []
        for arg in (a.strip() for a in args.split(",")):
            if arg in ("", "void"):
                continue
            m = re.match(r"(.*?)(\w+)$", arg)
            assert m and m.group(1).strip(), f"{name}: cannot read the parameter {arg!r}"
            params.append(f"{m.group(2)}: {_python_type(m.group(1), True)}")
        signature = ", ".join(["self", *params, "/"]) if params else "self"
        lines.append(f"    def {name}({signature}) -> {_python_type(ret, False)}: ...")
    if not declarations:
        raise ValueError("no xlc_* declaration found")
    return "\n".join(lines) + "\n"


def build(target: Path = TARGET) -> Path:
    ffi = cffi.FFI()
    ffi.cdef(cdef_source())
    ffi.set_source("xllamacpp._xlc_ffi", None)  # None: out-of-line ABI mode
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".py.tmp")
    ffi.emit_python_code(str(tmp))
    tmp.replace(target)
    stub = target.with_suffix(".pyi")
    stub_tmp = target.with_suffix(".pyi.tmp")
    stub_tmp.write_text(stub_source())
    stub_tmp.replace(stub)
    return target


if __name__ == "__main__":
    print(build())
