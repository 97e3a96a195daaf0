"""Older names onto today's fields: each alias reads and writes the field it stands for.

tests/compat checks the older names behave as upstream documents them (on ours
and on upstream's wheel); this checks where they land in today's common_params.
"""
from __future__ import annotations

import copy
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import xllamacpp as xlc
from xllamacpp import _aliases, _params

ROOT = Path(__file__).resolve().parents[1]
MODE = xlc.llama_load_mode


def _path(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _set_path(obj, dotted, value):
    *parents, leaf = dotted.split(".")
    setattr(_path(obj, ".".join(parents)) if parents else obj, leaf, value)


def _sample(kind):
    return {"int": 7, "float": 0.25, "str": "x", "bool": True, "list[device]": ["CPU"],
            "enum:ggml_type": xlc.ggml_type.GGML_TYPE_Q8_0}[kind]


@pytest.mark.parametrize("old", sorted(_aliases.RENAMED))
def test_every_renamed_field_reads_and_writes_its_target(old):
    target = _aliases.RENAMED[old]
    targets = (target,) if isinstance(target, str) else target
    p = xlc.CommonParams()
    if targets[0] in _params.GROUPS:  # a struct: its fields come along
        leaf = next(k[len(targets[0]) + 1:] for k in sorted(_params.FIELDS)
                    if k.startswith(targets[0] + ".") and _params.FIELDS[k]["type"] in ("int", "str"))
        kind = _params.FIELDS[f"{targets[0]}.{leaf}"]["type"]
        _set_path(p, f"{old}.{leaf}", _sample(kind))
        assert _path(p, f"{targets[0]}.{leaf}") == _sample(kind)
        assert type(_path(p, old)) is type(_path(p, targets[0]))
        return
    kind = _params.FIELDS[targets[0]]["type"]
    assert _path(p, old) == _path(p, targets[0])  # defaults agree

    def read(name):  # device lists carry llama.cpp's "" end marker
        value = _path(p, name)
        return [d for d in value if d] if kind == "list[device]" else value

    _set_path(p, old, _sample(kind))
    for t in targets:
        assert read(t) == _sample(kind), t
    assert read(old) == _sample(kind)


@pytest.mark.parametrize("start, flag, value, expected", [
    (MODE.LLAMA_LOAD_MODE_AUTO, "use_mmap", False, MODE.LLAMA_LOAD_MODE_NONE),
    (MODE.LLAMA_LOAD_MODE_AUTO, "use_mmap", True, MODE.LLAMA_LOAD_MODE_AUTO),
    (MODE.LLAMA_LOAD_MODE_NONE, "use_mmap", True, MODE.LLAMA_LOAD_MODE_MMAP),
    (MODE.LLAMA_LOAD_MODE_MMAP_MLOCK, "use_mmap", False, MODE.LLAMA_LOAD_MODE_MLOCK),
    (MODE.LLAMA_LOAD_MODE_AUTO, "use_mlock", True, MODE.LLAMA_LOAD_MODE_MMAP_MLOCK),
    (MODE.LLAMA_LOAD_MODE_NONE, "use_mlock", True, MODE.LLAMA_LOAD_MODE_MLOCK),
    (MODE.LLAMA_LOAD_MODE_MMAP_MLOCK, "use_mlock", False, MODE.LLAMA_LOAD_MODE_MMAP),
    (MODE.LLAMA_LOAD_MODE_AUTO, "use_direct_io", True, MODE.LLAMA_LOAD_MODE_DIRECT_IO),
    (MODE.LLAMA_LOAD_MODE_DIRECT_IO, "use_direct_io", False, MODE.LLAMA_LOAD_MODE_AUTO),
    (MODE.LLAMA_LOAD_MODE_DIRECT_IO, "use_mmap", True, MODE.LLAMA_LOAD_MODE_MMAP),
])
def test_load_flags_map_onto_load_mode(start, flag, value, expected):
    p = xlc.CommonParams()
    p.load_mode = start
    setattr(p, flag, value)
    assert p.load_mode == expected
    assert getattr(p, flag) is bool(value)


def test_load_flags_read_load_mode():
    p = xlc.CommonParams()
    p.load_mode = MODE.LLAMA_LOAD_MODE_MMAP_MLOCK
    assert (p.use_mmap, p.use_mlock, p.use_direct_io) == (True, True, False)
    p.load_mode = MODE.LLAMA_LOAD_MODE_DIRECT_IO
    assert (p.use_mmap, p.use_mlock, p.use_direct_io) == (False, False, True)
    with pytest.raises(TypeError, match="use_mmap"):
        p.use_mmap = "yes"  # type: ignore[assignment]


def test_hostname_is_the_first_hostname():
    p = xlc.CommonParams()
    p.hostname = "0.0.0.0"
    assert p.hostnames == ["0.0.0.0"]
    p.hostnames = ["::1", "127.0.0.1"]
    assert p.hostname == "::1"
    with pytest.raises(TypeError):
        p.hostname = 5  # type: ignore[assignment]


def test_reranking_as_llama_servers_flag():
    p = xlc.CommonParams.from_args(["--reranking"])
    assert p.reranking is True and p.embedding is True
    p.reranking = False
    assert p.pooling_type == xlc.llama_pooling_type.LLAMA_POOLING_TYPE_UNSPECIFIED and p.embedding is True


def test_speculative_type_is_a_one_item_types():
    p = xlc.CommonParams()
    p.speculative.type = xlc.common_speculative_type.COMMON_SPECULATIVE_TYPE_DRAFT
    assert p.speculative.types == [xlc.common_speculative_type.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
    p.speculative.type = "COMMON_SPECULATIVE_TYPE_NGRAM_MOD"
    assert p.speculative.types == [xlc.common_speculative_type.COMMON_SPECULATIVE_TYPE_NGRAM_MOD]


def test_enum_aliases_are_members_with_the_same_value():
    t = xlc.common_speculative_type
    assert t.COMMON_SPECULATIVE_TYPE_DRAFT is t.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE
    assert t["COMMON_SPECULATIVE_TYPE_EAGLE3"] is t.COMMON_SPECULATIVE_TYPE_DRAFT_EAGLE3
    assert [m.name for m in t][:2] == ["COMMON_SPECULATIVE_TYPE_NONE", "COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE"]


def test_unknown_names_suggest_older_and_newer_ones():
    p = xlc.CommonParams()
    with pytest.raises(AttributeError, match="speculative.n_max"):
        p.speculative.n_maxx = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="use_mmap"):
        p.use_mmapp  # type: ignore[attr-defined]  # noqa: B018


def test_from_dict_takes_older_names_nested_and_dotted():
    p = xlc.CommonParams.from_dict({"speculative": {"n_max": 5, "mparams_dft": {"path": "d.gguf"}},
                                    "use_mmap": False, "webui": False, "speculative.ngram_size_n": 9})
    assert p.speculative.draft.n_max == 5 and p.speculative.draft.mparams.path == "d.gguf"
    assert p.load_mode == MODE.LLAMA_LOAD_MODE_NONE and p.ui is False
    assert p.speculative.ngram_map_k4v.size_n == 9
    assert "speculative.n_max" not in p.to_dict()["speculative"]  # today's names only


def test_reference_lists_every_alias():
    doc = (ROOT / "docs" / "params_reference.md").read_text()
    for name, what in xlc.CommonParams.aliases().items():
        assert f"| `{name}` |" in doc and ("alias of" in what or "alias:" in what), name


def test_struct_views_are_not_constructible_but_pickle_with_their_params():
    with pytest.raises(TypeError, match="construct"):
        xlc.CommonParamsSampling()
    p = xlc.CommonParams()
    p.sampling.top_k = 3
    q = pickle.loads(pickle.dumps(p))
    assert type(q.sampling) is xlc.CommonParamsSampling and q.sampling.top_k == 3


# --- objects inside fields ------------------------------------------------------------------


def test_element_views_follow_their_field_until_it_is_assigned():
    p = xlc.CommonParams()
    p.lora_adapters = [("a.gguf", 0.5)]
    view = p.lora_adapters[0]
    p.lora_adapters[0].scale = 0.75
    assert view.scale == 0.75  # two views of one item
    p.lora_adapters = [("b.gguf", 1.0)]
    assert view.path == "a.gguf" and view.scale == 0.75  # kept what it had
    view.scale = 2.0
    assert p.lora_adapters[0].scale == 1.0


def test_element_assigned_to_a_second_params_moves_there():
    p, q = xlc.CommonParams(), xlc.CommonParams()
    a = xlc.CommonAdapterLoraInfo("a.gguf", 0.5)
    p.lora_adapters = [a]
    q.lora_adapters = [a]
    a.scale = 0.125
    assert q.lora_adapters[0].scale == 0.125 and p.lora_adapters[0].scale == 0.5
    p.lora_adapters = []  # p letting go does not detach a from q
    a.scale = 0.25
    assert q.lora_adapters[0].scale == 0.25


def test_element_values_are_checked():
    p = xlc.CommonParams()
    p.lora_adapters = [xlc.CommonAdapterLoraInfo("a.gguf")]
    with pytest.raises(TypeError, match="scale"):
        p.lora_adapters[0].scale = "big"  # type: ignore[assignment]
    with pytest.raises(AttributeError):
        p.lora_adapters[0].nonsense = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="token"):
        xlc.LlamaLogitBias("five", 1.0)  # type: ignore[arg-type]
    assert p.lora_adapters[0].scale == 1.0


def test_elements_copy_pickle_and_compare():
    p = xlc.CommonParams()
    p.sampling.logit_bias = [xlc.LlamaLogitBias(5, -1.0)]
    bias = p.sampling.logit_bias[0]
    token, value = bias
    assert (token, value) == (5, -1.0) and bias == (5, -1.0) and bias == xlc.LlamaLogitBias(5, -1.0)
    clone = copy.deepcopy(bias)
    clone.bias = 3.0
    assert p.sampling.logit_bias[0].bias == -1.0
    back = pickle.loads(pickle.dumps(bias))
    assert back == bias and back._root is None


def test_grammar_text_and_type_round_trip_through_the_facade():
    p = xlc.CommonParams()
    p.sampling.grammar = 'root ::= "a"'
    assert p.sampling.grammar == 'root ::= "a"'
    assert p.sampling.grammar.type == xlc.common_grammar_type.COMMON_GRAMMAR_TYPE_USER
    p.sampling.grammar.type = xlc.common_grammar_type.COMMON_GRAMMAR_TYPE_TOOL_CALLS
    assert p.validate().sampling.grammar.type == xlc.common_grammar_type.COMMON_GRAMMAR_TYPE_TOOL_CALLS
    p.sampling.grammar = ""
    assert p.sampling.grammar.empty() and not p._is_set("sampling.grammar")
    q = xlc.CommonParams.from_args(["--grammar", 'root ::= "b"'])
    assert q.sampling.grammar.grammar == 'root ::= "b"'


def test_split_mode_tensor_is_accepted_by_the_facade():
    p = xlc.CommonParams.from_args(["-sm", "tensor"])
    assert p.split_mode == xlc.llama_split_mode.LLAMA_SPLIT_MODE_TENSOR
    assert p.validate().split_mode == xlc.llama_split_mode.LLAMA_SPLIT_MODE_TENSOR


def test_count_members_are_not_values_of_a_field():
    p = xlc.CommonParams()
    with pytest.raises(ValueError, match="ggml_type"):
        p.cache_type_k = xlc.ggml_type.GGML_TYPE_COUNT


def test_version_is_the_installed_distributions():
    code = "import xllamacpp, importlib.metadata as m; print(xllamacpp.__version__ == m.version('xllamacpp'))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "True", r.stderr
