"""CommonParams: the whole common_params tree from the facade's table."""
from __future__ import annotations

import copy
import json
import enum
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import xllamacpp as xlc
from xllamacpp import _params

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import common_params_fields  # type: ignore[import-not-found]  # noqa: E402
from llama_features import needs_field  # noqa: E402


def test_every_default_matches_the_vendored_llama_cpp():
    p = xlc.CommonParams()
    defaults = json.loads(_params.call_out(_params.lib.xlc_params_apply, b"{}"))
    assert set(defaults) == set(xlc.CommonParams.fields())
    for name, value in defaults.items():
        got = p
        for part in name.split("."):
            got = getattr(got, part)
        json_got = _params._to_json(name, _params.FIELDS[name]["type"], got)
        assert json_got == value, name


def test_some_well_known_defaults():
    p = xlc.CommonParams()
    assert p.n_ctx == 0 and p.n_batch == 2048 and p.n_ubatch == 512 and p.n_parallel == 1
    assert p.cpuparams.n_threads == -1 and p.cpuparams.poll == 50
    assert p.sampling.top_k == 40 and abs(p.sampling.temp - 0.8) < 1e-6
    assert p.hostname == "127.0.0.1" and p.port == 0  # xllamacpp's one own default: a free port
    assert p.cont_batching is True and p.endpoint_metrics is False and p.endpoint_slots is True
    assert p.reasoning_format == xlc.common_reasoning_format.COMMON_REASONING_FORMAT_DEEPSEEK
    assert p.flash_attn_type == xlc.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_AUTO
    assert p.cache_type_k == xlc.ggml_type.GGML_TYPE_F16
    assert p.tensor_split == [0.0] * 128
    assert p.model.path == "" and p.speculative.draft.mparams.path == ""


def test_table_matches_common_params_in_the_vendored_header():
    """The generated table (cshim/gen_params.py) holds every member of the vendored header, and no other."""
    header = set(common_params_fields.fields())
    # a view (rpc_servers) is no member: it reads and writes others
    table = {name for name, f in _params.FIELDS.items() if not f["view"]} | set(_params.EXCLUDED)
    assert not header - table, f"fields missing from the parameter table (a stale build?): {sorted(header - table)}"
    assert not table - header, f"fields the table names that common_params lacks: {sorted(table - header)}"


def test_help_comes_from_llama_server_flags():
    fields = xlc.CommonParams.fields()
    assert "context" in fields["n_ctx"]["help"].lower()
    assert fields["n_ctx"]["flag"] == "-c"
    assert "temperature" in fields["sampling.temp"]["help"].lower()


def test_setters_and_nested_views():
    p = xlc.CommonParams()
    p.n_ctx = 4096
    p.sampling.temp = 0.25
    p.model.path = "x.gguf"
    p.speculative.draft.n_max = 8
    sampling = p.sampling
    sampling.top_k = 5
    assert p.n_ctx == 4096 and p.sampling.top_k == 5 and p.model.path == "x.gguf"
    assert p.speculative.draft.n_max == 8
    assert abs(p.sampling.temp - 0.25) < 1e-7


@pytest.mark.parametrize(
    "name, value",
    [("n_ctx", "4096"), ("n_ctx", 1.5), ("n_ctx", True), ("warmup", "yes"), ("warmup", None), ("sampling.temp", "hot"),
     ("model.path", 3), ("antiprompt", "abc"), ("pooling_type", 2.0), ("default_template_kwargs", {"a": 1})],
)
def test_wrong_type_raises_type_error(name, value):
    p = xlc.CommonParams()
    *groups, leaf = name.split(".")
    target = p
    for g in groups:
        target = getattr(target, g)
    with pytest.raises(TypeError, match=leaf):
        setattr(target, leaf, value)


def test_out_of_range_and_bad_enum_raise_value_error():
    p = xlc.CommonParams()
    with pytest.raises(ValueError, match="out of range"):
        p.n_ctx = 2**40
    with pytest.raises(ValueError, match="llama_pooling_type"):
        p.pooling_type = 99  # type: ignore[assignment]


@needs_field("hostnames", "mmproj_device")
def test_list_of_hosts_and_an_unknown_projector_device():
    p = xlc.CommonParams()
    assert p.hostnames == ["127.0.0.1"]
    with pytest.raises(ValueError, match="unknown device"):
        p.mmproj_device = "NOPE0"


def test_unknown_attribute_suggests_nearest():
    p = xlc.CommonParams()
    with pytest.raises(AttributeError, match="n_ctx"):
        p.n_ctxx = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="temp"):
        p.sampling.tempp  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="callback"):
        p.cb_eval = None  # type: ignore[attr-defined]


def test_enums_accept_and_return_members():
    p = xlc.CommonParams()
    p.pooling_type = xlc.llama_pooling_type.LLAMA_POOLING_TYPE_LAST
    assert p.pooling_type is xlc.llama_pooling_type.LLAMA_POOLING_TYPE_LAST
    p.pooling_type = int(xlc.llama_pooling_type.LLAMA_POOLING_TYPE_RANK)  # type: ignore[assignment]
    assert p.pooling_type == xlc.llama_pooling_type.LLAMA_POOLING_TYPE_RANK
    p.speculative.types = [xlc.common_speculative_type.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
    assert p.speculative.types == [xlc.common_speculative_type.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
    assert xlc.ggml_type.GGML_TYPE_Q4_K == 12
    assert xlc.common_reasoning_format.COMMON_REASONING_FORMAT_DEEPSEEK == 3
    for name in ("ggml_type", "llama_split_mode", "ggml_numa_strategy", "ggml_sched_priority",
                 "llama_rope_scaling_type", "llama_attention_type", "llama_flash_attn_type", "common_sampler_type"):
        enum_type = getattr(xlc, name)
        assert issubclass(enum_type, enum.IntEnum) and len(enum_type) >= 2, name
        assert all(m.name.upper() == m.name for m in enum_type), name


def test_samplers_take_upstream_string_form():
    p = xlc.CommonParams()
    p.sampling.samplers = "top_k;temperature"
    assert p.sampling.samplers == "top_k;temperature"
    p.sampling.samplers = [xlc.common_sampler_type.COMMON_SAMPLER_TYPE_MIN_P]
    assert p.sampling.samplers == "min_p"
    with pytest.raises(ValueError):
        p.sampling.samplers = "top_k;nonsense"


def test_lora_adapter_info():
    a = xlc.CommonAdapterLoraInfo("a.gguf", 0.5)
    assert a.path == "a.gguf" and a.scale == 0.5
    assert "a.gguf" in repr(a) and "0.5" in repr(a)


def test_list_fields_copy_in_and_read_out_live():
    p = xlc.CommonParams()
    adapters = [xlc.CommonAdapterLoraInfo("a.gguf", 0.5), xlc.CommonAdapterLoraInfo("b.gguf", 1.0)]
    p.lora_adapters = adapters
    adapters.append(xlc.CommonAdapterLoraInfo("c.gguf"))  # the list given is copied in
    read = p.lora_adapters
    assert [a.path for a in read] == ["a.gguf", "b.gguf"]
    read[0].scale = 9.0  # the objects are views of the field
    assert p.lora_adapters[0].scale == 9.0
    read.clear()  # and the list read is too (tests/test_list_fields.py)
    assert len(p.lora_adapters) == 0
    keys = p.api_keys
    keys.append("secret")
    assert p.api_keys == ["secret"]
    p.api_keys = ["k1"]
    assert p.api_keys == ["k1"]
    p.lora_adapters = []
    assert p.lora_adapters == []


def test_from_args_uses_llama_server_flags():
    p = xlc.CommonParams.from_args(["-m", "m.gguf", "-c", "4096", "--temp", "0.5", "-np", "3",
                                    "--lora", "a.gguf", "--mmproj", "p.gguf", "-md", "d.gguf", "--port", "9000"])
    assert p.model.path == "m.gguf" and p.n_ctx == 4096 and p.n_parallel == 3
    assert abs(p.sampling.temp - 0.5) < 1e-6
    assert [a.path for a in p.lora_adapters] == ["a.gguf"]
    assert p.mmproj.path == "p.gguf" and p.speculative.draft.mparams.path == "d.gguf"
    assert p.port == 9000


@pytest.mark.parametrize("args, message", [(["--bogus"], "invalid argument"), (["-c"], "expected"),
                                           (["-c", "many"], "not an integer"), (["--version"], "not available")])
def test_from_args_bad_flags_raise_value_error(args, message):
    with pytest.raises(ValueError, match=message):
        xlc.CommonParams.from_args(args)


def test_bad_flag_does_not_exit_the_process():
    code = "import xllamacpp as x\ntry:\n x.CommonParams.from_args(['--list-devices'])\nexcept ValueError:\n print('alive')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "alive", r.stderr


def test_repr_eq_copy_pickle_to_dict():
    p = xlc.CommonParams()
    p.n_ctx = 1234
    p.sampling.top_k = 3
    p.lora_adapters = [xlc.CommonAdapterLoraInfo("a.gguf", 0.5)]
    assert "n_ctx=1234" in repr(p) and "sampling.top_k=3" in repr(p)
    q = copy.deepcopy(p)
    assert q == p and q is not p
    q.n_ctx = 1
    assert q != p
    r = pickle.loads(pickle.dumps(p))
    assert r == p and r.lora_adapters == p.lora_adapters
    d = p.to_dict()
    assert d["n_ctx"] == 1234 and d["sampling"]["top_k"] == 3 and d["model"]["path"] == ""
    assert xlc.CommonParams.from_dict(d) == p


def test_json_round_trip_python_c_python_is_equal_for_every_field():
    p = xlc.CommonParams()
    # a non-default value for every field type that can take one
    p.n_ctx = 777
    p.sampling.temp = 0.3
    p.sampling.dry_sequence_breakers = ["x", "y"]
    p.model_alias = ["a", "b"]
    p.default_template_kwargs = {"k": "v"}
    p.sampling.logit_bias = [(5, -1.0)]
    p.cpuparams.cpumask = [True, False, True]
    p.pooling_type = xlc.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    back = p.validate()
    assert back == p
    for name in xlc.CommonParams.fields():
        assert back._get(name) == p._get(name), name


def test_params_reference_doc_is_current():
    doc = (ROOT / "docs" / "params_reference.md").read_text()
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_params_reference.py")],
                       capture_output=True, text=True, check=True)
    assert doc == r.stdout, "docs/params_reference.md is stale: run `make docs`"


def test_tensor_buffer_overrides_take_the_flag_string():
    p = xlc.CommonParams()
    p.tensor_buft_overrides = "blk\\.0\\..*=CPU,token_embd=CPU"
    assert p.tensor_buft_overrides == "blk\\.0\\..*=CPU,token_embd=CPU"
    with pytest.raises(ValueError, match="unknown buffer type"):
        p.tensor_buft_overrides = "x=GPU0"
    with pytest.raises(ValueError, match="pattern=BUFFER_TYPE"):
        p.tensor_buft_overrides = "no-equals-sign"
    p.tensor_buft_overrides = ""
    assert p.tensor_buft_overrides == ""
    q = xlc.CommonParams.from_args(["-ot", "exps=CPU"])
    assert q.tensor_buft_overrides == "exps=CPU"


def test_kv_overrides():
    p = xlc.CommonParams()
    p.kv_overrides = ["general.name=str:renamed", "gemma3.context_length=int:4096"]
    assert p.kv_overrides == ["general.name=str:renamed", "gemma3.context_length=int:4096"]
    with pytest.raises(ValueError, match="KEY=TYPE:VALUE"):
        p.kv_overrides = ["nonsense"]
    assert xlc.CommonParams.from_args(["--override-kv", "a.b=bool:true"]).kv_overrides == ["a.b=bool:true"]
