"""A field that the vendored llama.cpp lacks is simply absent: setting or reading it raises
AttributeError naming this build's llama.cpp commit (see tests/llama_features.py for the tests
that such a build skips)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

import xllamacpp as xlc
from xllamacpp import _params

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import common_params_fields  # type: ignore[import-not-found]  # noqa: E402


def _commit() -> str:
    return xlc.get_build_info()["commit"] or "unknown commit"


def test_a_field_no_llama_cpp_has_names_the_commit():
    p = xlc.CommonParams()
    for name, where in (("n_ctx_typo_xyz", "CommonParams"), ("sampling.no_such_sampler", "sampling")):
        with pytest.raises(AttributeError) as e:
            *groups, leaf = name.split(".")
            setattr(getattr(p, groups[0]) if groups else p, leaf, 1)
        assert f"this build's llama.cpp ({_commit()}) has no field '{name}'" in str(e.value)
        assert str(e.value).startswith(f"{where} has no field '{name.rsplit('.', 1)[-1]}'")
    with pytest.raises(AttributeError, match=_commit()):
        p.n_ctx_typo_xyz


def _lock_tree_fields() -> set[str]:
    """The fields of the lock's tree (vendor/llama.cpp), which a build of an older tree may lack."""
    header = ROOT / "vendor" / "llama.cpp" / "common" / "common.h"
    if not header.exists():
        pytest.fail("vendor/llama.cpp is missing: run `make vendor`")
    return set(common_params_fields.fields(header))


def test_fields_of_the_lock_tree_that_this_build_lacks_are_absent():
    """Every field the lock's llama.cpp has and this build's lacks (none, unless the library was built
    from another tree) is absent from that tree's header, and setting it raises AttributeError."""
    absent = sorted(_lock_tree_fields() - set(_params.FIELDS) - set(_params.EXCLUDED) - set(_params.ALIASES))
    this_tree = set(common_params_fields.fields())
    assert not set(absent) & this_tree, "the table lacks fields this build's tree has: a stale build"
    p = xlc.CommonParams()
    for name in absent:
        *groups, leaf = name.split(".")
        target = p
        for g in groups:
            target = getattr(target, g)
        with pytest.raises(AttributeError, match=f"this build's llama.cpp \\({_commit()}\\) has no field"):
            setattr(target, leaf, 1)
    # and the facade refuses it too, in plain JSON
    for name in absent:
        with pytest.raises(ValueError, match="unknown parameter"):
            _params.call_out(_params.lib.xlc_params_apply, _params._json.dumps({name: 1}))
