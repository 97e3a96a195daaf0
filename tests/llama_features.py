"""Tests of a feature that an older llama.cpp lacks (`make bump-check` builds against older trees).

`needs_field("kv_unified_per_slot")` skips a test where this build's parameter table has no such
field, after checking that the field really is absent from the common_params of the tree the
library was built from ($XLLAMACPP_LLAMA_DIR, else vendor/llama.cpp): a field the tree has but
the table lacks is a broken build, never a skip.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import common_params_fields  # type: ignore[import-not-found]  # noqa: E402


def absent_fields(*names: str) -> list[str]:
    """Those of `names` that this build's llama.cpp lacks, each checked against the tree's header."""
    from xllamacpp import _params

    missing = [n for n in names if n not in _params.FIELDS]
    if missing:
        header = common_params_fields.fields()
        present = [n for n in missing if n in header]
        assert not present, f"{common_params_fields.HEADER} has {present}, which the parameter table lacks"
    return missing


def needs_field(*names: str) -> pytest.MarkDecorator:
    missing = absent_fields(*names)
    return pytest.mark.skipif(bool(missing), reason=f"this build's llama.cpp has no field {', '.join(missing)}")
