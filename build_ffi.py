"""Write xllamacpp/_xlc_ffi.py, the cffi out-of-line ABI module of cshim/include/xlc.h.

ABI mode: the module is pure Python and only dlopen()s libxlc-<backend>.so at
run time, so nothing is compiled for Python and nothing links libpython
(the same module serves CPython and PyPy, and every backend library).

    python build_ffi.py            # writes xllamacpp/_xlc_ffi.py
"""
from __future__ import annotations

import re
from pathlib import Path

import cffi

ROOT = Path(__file__).resolve().parent
HEADER = ROOT / "cshim" / "include" / "xlc.h"
TARGET = ROOT / "xllamacpp" / "_xlc_ffi.py"


def cdef_source(header: Path = HEADER) -> str:
    """The declarations between the XLC_CDEF markers, in the C subset cffi reads."""
    lines = header.read_text().splitlines()
    begin = next(i for i, line in enumerate(lines) if "XLC_CDEF_BEGIN" in line)
    end = next(i for i, line in enumerate(lines) if line.strip() == "/* XLC_CDEF_END */")
    body = "\n".join(lines[begin + 1:end])
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    body = re.sub(r"\bXLC_API\s+", "", body)
    return body


def build(target: Path = TARGET) -> Path:
    ffi = cffi.FFI()
    ffi.cdef(cdef_source())
    ffi.set_source("xllamacpp._xlc_ffi", None)  # None: out-of-line ABI mode
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".py.tmp")
    ffi.emit_python_code(str(tmp))
    tmp.replace(target)
    return target


if __name__ == "__main__":
    print(build())
