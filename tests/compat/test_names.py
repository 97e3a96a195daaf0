"""Every name upstream's newest release exports exists in ours, with the same meaning.

tests/compat/upstream_names.json is 2026.10.11549's public surface as scripts/upstream_names.py
records it from the wheel: its exported names (the kind of each: class, function, module, an int's
value, an enum's members), Server's methods and CommonParams' dotted fields. On that wheel the
recording is checked against the wheel itself; on every side, the package under test must have it all.
Where ours cannot (a field or member the vendored llama.cpp does not have), the name is listed here
with why, and the reason is checked too.
"""
from __future__ import annotations

import enum
import json
import re
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

import xllamacpp as xlc

from ._side import NEWEST, OLDER, ROOT, UPSTREAM, VERSION

RECORDED: Dict[str, Any] = json.loads((Path(__file__).parent / "upstream_names.json").read_text())
sys.path.insert(0, str(ROOT / "scripts"))
import upstream_names  # type: ignore[import-not-found]  # noqa: E402

# the modules the wheel's extension leaks into the package: its own module object and the json it imports
LEAKED_MODULES = {"xllamacpp": "the compiled extension module itself", "json": "the standard library's json"}
VENDORED = ROOT / "vendor" / "llama.cpp"
COMMON_H = [VENDORED / "common" / "common.h"]  # common_params and its structs
HEADERS = [*COMMON_H, VENDORED / "include" / "llama.h", VENDORED / "ggml" / "include" / "ggml.h"]
OLDER_LACKS = "an older release: names the newest added (llama_load_mode, mmproj_device, handle_systemone, ...)"


def _vendored(word: str, headers: List[Path] = HEADERS) -> bool:
    """Whether the vendored llama.cpp's headers name this member or field (as a whole word)."""
    texts = [p.read_text() for p in headers if p.is_file()]
    if not texts:
        pytest.fail("vendor/llama.cpp is missing: run `make vendor`")
    return any(re.search(rf"\b{re.escape(word)}\b", t) for t in texts)


def test_the_recording_is_the_newest_wheels():
    if not (UPSTREAM and VERSION == NEWEST):
        pytest.skip(f"checked on upstream {NEWEST}'s side of `make compat`")
    assert RECORDED["version"] == NEWEST
    assert upstream_names.surface(xlc) == RECORDED, "rerun scripts/upstream_names.py with upstream's newest wheel"


@pytest.mark.upstream_differs(OLDER, OLDER_LACKS)
def test_every_exported_name_exists_with_its_kind():
    wrong = {}
    for name, kind in RECORDED["names"].items():
        if name in LEAKED_MODULES:
            continue
        if not hasattr(xlc, name):
            wrong[name] = "missing"
            continue
        ours = upstream_names.kind_of(getattr(xlc, name))
        if isinstance(kind, dict) and "enum" in kind:
            assert isinstance(ours, dict) and "enum" in ours, name
            absent = {m: v for m, v in kind["enum"].items() if ours["enum"].get(m) != v}
            # a member the vendored llama.cpp lacks cannot be ours; one it has must be
            unexplained = [m for m in absent if m in ours["enum"] or _vendored(m)]
            if unexplained:
                wrong[name] = f"members {unexplained}"
        elif ours != kind:
            wrong[name] = f"a {ours}, not a {kind}"
    assert not wrong, wrong


@pytest.mark.upstream_differs(OLDER, OLDER_LACKS)
def test_every_server_method_exists():
    missing = [m for m in RECORDED["server"] if not hasattr(xlc.Server, m)]
    assert not missing


@pytest.mark.upstream_differs(OLDER, OLDER_LACKS)
def test_every_field_exists_or_the_vendored_llama_cpp_lacks_it():
    p = xlc.CommonParams()
    missing = []
    for name in RECORDED["fields"]:
        value: Any = p
        try:
            for part in name.split("."):
                value = getattr(value, part)
        except AttributeError:
            missing.append(name)
    unexplained = [name for name in missing if _vendored(name.rsplit(".", 1)[-1], COMMON_H)]
    assert not unexplained, f"fields the vendored llama.cpp has but CommonParams lacks: {unexplained}"


@pytest.mark.upstream_differs(OLDER, "its enums are IntFlag (ints too, but `|` combines members into a flag)")
def test_enums_are_int_enums():
    for name, kind in RECORDED["names"].items():
        if isinstance(kind, dict) and "enum" in kind and hasattr(xlc, name):
            assert issubclass(getattr(xlc, name), enum.IntEnum), name
