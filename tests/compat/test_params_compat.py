"""CommonParams as upstream xllamacpp's users write it: older names, Python semantics, exported names.

No model is loaded here; every test runs on ours and on upstream's wheel.
"""
from __future__ import annotations

import pytest
from pytest import approx

import xllamacpp as xlc

from ._side import NEWEST, OLDER, RELEASES

DROPPED_DRAFT_NAMES = "the wheel moved these under speculative.draft and dropped the flat names its README uses"


# --- the flat speculative names of upstream's README ------------------------------------------


@pytest.mark.upstream_differs(RELEASES, DROPPED_DRAFT_NAMES)
@pytest.mark.parametrize("name, value", [("n_max", 8), ("n_min", 4), ("n_gpu_layers", 7)])
def test_flat_speculative_ints(name, value):
    p = xlc.CommonParams()
    setattr(p.speculative, name, value)
    assert getattr(p.speculative, name) == value
    assert getattr(p.speculative.draft, name) == value  # the same field, under today's name


@pytest.mark.upstream_differs(RELEASES, DROPPED_DRAFT_NAMES)
@pytest.mark.parametrize("name, value", [("p_min", 0.5), ("p_split", 0.25)])
def test_flat_speculative_floats(name, value):
    p = xlc.CommonParams()
    setattr(p.speculative, name, value)
    assert getattr(p.speculative, name) == approx(value)
    assert getattr(p.speculative.draft, name) == approx(value)


@pytest.mark.upstream_differs(RELEASES, DROPPED_DRAFT_NAMES)
def test_draft_model_params_under_mparams_dft():
    p = xlc.CommonParams()
    assert p.speculative.mparams_dft.path == ""
    p.speculative.mparams_dft.path = "draft.gguf"
    assert p.speculative.mparams_dft.path == "draft.gguf"
    assert p.speculative.draft.mparams.path == "draft.gguf"


@pytest.mark.upstream_differs(RELEASES, DROPPED_DRAFT_NAMES)
def test_draft_cpu_params_and_cache_types():
    p = xlc.CommonParams()
    p.speculative.cpuparams.n_threads = 3
    p.speculative.cpuparams_batch.n_threads = 5
    p.speculative.cache_type_k = xlc.ggml_type.GGML_TYPE_Q8_0
    p.speculative.cache_type_v = xlc.ggml_type.GGML_TYPE_Q4_0
    assert p.speculative.cpuparams.n_threads == 3 and p.speculative.draft.cpuparams.n_threads == 3
    assert p.speculative.cpuparams_batch.n_threads == 5
    assert p.speculative.cache_type_k == xlc.ggml_type.GGML_TYPE_Q8_0
    assert p.speculative.draft.cache_type_v == xlc.ggml_type.GGML_TYPE_Q4_0
    assert isinstance(p.speculative.cpuparams, xlc.CpuParams)


@pytest.mark.upstream_differs(RELEASES, DROPPED_DRAFT_NAMES)
def test_draft_devices():
    p = xlc.CommonParams()
    assert [d for d in p.speculative.devices if d] == []
    p.speculative.devices = ["CPU"]
    assert [d for d in p.speculative.devices if d] == ["CPU"]  # ours ends the list with llama.cpp's "" marker


@pytest.mark.upstream_differs(RELEASES, "the wheel split the shared n-gram sizes per method and dropped these names")
def test_flat_ngram_sizes():
    p = xlc.CommonParams()
    assert (p.speculative.ngram_size_n, p.speculative.ngram_size_m, p.speculative.ngram_min_hits) == (12, 48, 1)
    p.speculative.ngram_size_n = 8
    p.speculative.ngram_size_m = 32
    p.speculative.ngram_min_hits = 3
    assert (p.speculative.ngram_size_n, p.speculative.ngram_size_m, p.speculative.ngram_min_hits) == (8, 32, 3)
    assert p.speculative.ngram_simple.size_n == 8 and p.speculative.ngram_map_k.size_m == 32


@pytest.mark.upstream_differs(RELEASES, "the wheel moved the lookup caches to speculative.ngram_cache")
def test_flat_lookup_caches():
    p = xlc.CommonParams()
    assert p.speculative.lookup_cache_static == "" and p.speculative.lookup_cache_dynamic == ""
    p.speculative.lookup_cache_static = "static.bin"
    assert p.speculative.lookup_cache_static == "static.bin"
    assert p.speculative.ngram_cache.lookup_cache_static == "static.bin"


@pytest.mark.upstream_differs(NEWEST, "the wheel dropped the older name speculative.type (today: speculative.types)")
def test_speculative_type_single_value():
    p = xlc.CommonParams()
    assert p.speculative.type == xlc.common_speculative_type.COMMON_SPECULATIVE_TYPE_NONE
    p.speculative.type = xlc.common_speculative_type.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE
    assert p.speculative.type == xlc.common_speculative_type.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE


@pytest.mark.parametrize("old", ["COMMON_SPECULATIVE_TYPE_DRAFT", "COMMON_SPECULATIVE_TYPE_EAGLE3"])
@pytest.mark.upstream_differs(NEWEST, "the wheel dropped the older name COMMON_SPECULATIVE_TYPE_DRAFT and _EAGLE3 (today: DRAFT_SIMPLE, DRAFT_EAGLE3)")
def test_older_speculative_type_members(old):
    member = getattr(xlc.common_speculative_type, old)
    p = xlc.CommonParams()
    p.speculative.type = member
    assert p.speculative.type == member


# --- other older names -------------------------------------------------------------------------


@pytest.mark.upstream_differs(NEWEST, "the wheel dropped the older name hostname (today: hostnames)")
def test_hostname():
    p = xlc.CommonParams()
    assert p.hostname == "127.0.0.1"
    p.hostname = "0.0.0.0"
    assert p.hostname == "0.0.0.0"


@pytest.mark.upstream_differs(NEWEST, "the wheel dropped the older name use_mmap, use_mlock and use_direct_io (today: load_mode)")
def test_mmap_mlock_direct_io_flags():
    p = xlc.CommonParams()
    assert (p.use_mmap, p.use_mlock, p.use_direct_io) == (True, False, False)
    p.use_mmap = False
    p.use_mlock = True
    assert (p.use_mmap, p.use_mlock) == (False, True)
    p.use_mlock = False
    p.use_mmap = True
    p.use_direct_io = True
    assert p.use_direct_io is True
    p.use_direct_io = False
    assert p.use_direct_io is False


@pytest.mark.upstream_differs(NEWEST, "the wheel dropped the older name webui, webui_mcp_proxy and webui_config_json (today: ui, ...; its README still calls webui an alias)")
def test_webui_names():
    p = xlc.CommonParams()
    assert p.webui is True and p.webui_mcp_proxy is False and p.webui_config_json == ""
    p.webui = False
    p.webui_mcp_proxy = True
    p.webui_config_json = '{"theme": "dark"}'
    assert (p.webui, p.webui_mcp_proxy, p.webui_config_json) == (False, True, '{"theme": "dark"}')


@pytest.mark.upstream_differs(NEWEST, "the wheel dropped the older name checkpoint_every_nt (today: checkpoint_min_step)")
def test_checkpoint_every_nt():
    p = xlc.CommonParams()
    assert p.checkpoint_every_nt == 8192
    p.checkpoint_every_nt = 100
    assert p.checkpoint_every_nt == 100


@pytest.mark.upstream_differs(RELEASES, "the wheel dropped params.reasoning_budget, which its README sets")
def test_reasoning_budget():
    p = xlc.CommonParams()
    p.reasoning_budget = 1024
    assert p.reasoning_budget == 1024
    assert p.sampling.reasoning_budget_tokens == 1024


@pytest.mark.upstream_differs(RELEASES, "the wheel has no params.reranking, which its README sets")
def test_reranking_turns_on_embeddings_and_rank_pooling():
    p = xlc.CommonParams()
    assert p.reranking is False
    p.reranking = True
    assert p.reranking is True and p.embedding is True
    assert p.pooling_type == xlc.llama_pooling_type.LLAMA_POOLING_TYPE_RANK


def test_unknown_name_is_an_attribute_error():
    p = xlc.CommonParams()
    with pytest.raises(AttributeError):
        p.speculative.n_maxx = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        p.no_such_field  # type: ignore[attr-defined]  # noqa: B018


# --- Python semantics ------------------------------------------------------------------------------


def test_lora_adapter_objects_are_live():
    p = xlc.CommonParams()
    first = xlc.CommonAdapterLoraInfo("/path/a.gguf", 1.0)
    second = xlc.CommonAdapterLoraInfo("/path/b.gguf", 0.5)
    p.lora_adapters = [first, second]
    p.lora_adapters[0].scale = 0.5
    assert p.lora_adapters[0].scale == approx(0.5)
    second.scale = 0.25  # the objects assigned are bound to the parameter too
    assert p.lora_adapters[1].scale == approx(0.25)
    read = p.lora_adapters
    p.lora_adapters = [xlc.CommonAdapterLoraInfo("/new.gguf", 2.0)]
    read[0].path = "/elsewhere.gguf"  # a view of a replaced list is on its own now
    assert p.lora_adapters[0].path == "/new.gguf" and read[0].path == "/elsewhere.gguf"
    assert repr(read[0]).startswith("CommonAdapterLoraInfo(") and "elsewhere" in repr(read[0])


def test_lora_adapter_defaults():
    a = xlc.CommonAdapterLoraInfo()
    assert a.path == "" and a.scale == 1.0


@pytest.mark.parametrize("value, expected", [(0, False), (1, True), (2, True), (True, True), (False, False)])
def test_bool_fields_take_ints(value, expected):
    p = xlc.CommonParams()
    p.warmup = value
    assert p.warmup is expected
    p.sampling.ignore_eos = value
    assert p.sampling.ignore_eos is expected


def test_model_alias_and_tags_are_sets():
    p = xlc.CommonParams()
    assert p.model_alias == set() and p.model_tags == set()
    p.model_alias = {"alias1", "alias2"}
    p.model_tags = {"tag1"}
    assert p.model_alias == {"alias1", "alias2"} and p.model_tags == {"tag1"}
    assert isinstance(p.model_alias, set)


def test_grammar_is_a_common_grammar():
    p = xlc.CommonParams()
    assert p.sampling.grammar.empty() is True
    g = xlc.CommonGrammar(type=xlc.common_grammar_type.COMMON_GRAMMAR_TYPE_USER, grammar="root ::= [a-z]+")
    assert g.type == xlc.common_grammar_type.COMMON_GRAMMAR_TYPE_USER and g.empty() is False
    p.sampling.grammar = g
    assert p.sampling.grammar.grammar == "root ::= [a-z]+"
    p.sampling.grammar.type = xlc.common_grammar_type.COMMON_GRAMMAR_TYPE_OUTPUT_FORMAT  # live
    assert p.sampling.grammar.type == xlc.common_grammar_type.COMMON_GRAMMAR_TYPE_OUTPUT_FORMAT
    assert "CommonGrammar" in repr(g) and "type=" in repr(g)


def test_logit_bias_is_a_list_of_llama_logit_bias():
    p = xlc.CommonParams()
    assert p.sampling.logit_bias == [] and p.sampling.logit_bias_eog == []


@pytest.mark.upstream_differs(OLDER, "the wheel's logit_bias setter fails on every value ('no attribute ptr')")
@pytest.mark.upstream_differs(NEWEST, "the wheel's setter takes only LlamaLogitBias objects, which cannot be constructed")
def test_logit_bias_can_be_set_and_edited():
    p = xlc.CommonParams()
    p.sampling.logit_bias = [(5, -1.0), (7, 2.0)]
    bias = p.sampling.logit_bias
    assert isinstance(bias[0], xlc.LlamaLogitBias) and (bias[0].token, bias[0].bias) == (5, -1.0)
    bias[1].bias = 0.5
    assert p.sampling.logit_bias[1].bias == approx(0.5)


@pytest.mark.parametrize("name", ["CommonParamsSampling", "CommonParamsSpeculative", "CpuParams", "CommonParamsModel",
                                  "CommonParamsDiffusion", "CommonParamsSpeculativeDraft"])
def test_struct_classes_are_exported_and_not_constructible(name):
    cls = getattr(xlc, name)
    with pytest.raises(Exception, match="construct"):
        cls()


def test_nested_structs_have_upstream_class_names():
    p = xlc.CommonParams()
    assert isinstance(p.sampling, xlc.CommonParamsSampling)
    assert isinstance(p.speculative, xlc.CommonParamsSpeculative)
    assert isinstance(p.speculative.draft, xlc.CommonParamsSpeculativeDraft)
    assert isinstance(p.model, xlc.CommonParamsModel) and isinstance(p.mmproj, xlc.CommonParamsModel)
    assert isinstance(p.cpuparams, xlc.CpuParams) and isinstance(p.cpuparams_batch, xlc.CpuParams)


def test_limits_enums_and_version():
    assert xlc.GGML_MAX_N_THREADS == 512 and xlc.GGML_MAX_DIMS == 4
    assert xlc.GGML_ROPE_TYPE_NEOX == 2 and xlc.GGML_ROPE_TYPE_VISION == 24
    assert xlc.LLAMA_DEFAULT_SEED == 0xFFFFFFFF
    assert xlc.llama_split_mode.LLAMA_SPLIT_MODE_TENSOR == 3
    assert xlc.llama_pooling_type.LLAMA_POOLING_TYPE_RANK == 4
    assert xlc.ggml_sched_priority.GGML_SCHED_PRIO_REALTIME == 3
    assert xlc.common_reasoning_format.COMMON_REASONING_FORMAT_DEEPSEEK == 3
    assert xlc.common_params_sampling_config.COMMON_PARAMS_SAMPLING_CONFIG_TEMP == 64
    assert xlc.llama_model_kv_override_type.LLAMA_KV_OVERRIDE_TYPE_STR == 3
    assert isinstance(xlc.__version__, str) and xlc.__version__
    params = xlc.CommonParams()
    assert params.cpuparams.cpumask == [False] * xlc.GGML_MAX_N_THREADS
    assert params.tensor_split == [0] * 128


def test_json_schema_to_grammar():
    grammar = xlc.json_schema_to_grammar({"type": "object", "properties": {"a": {"type": "string"}}})
    assert isinstance(grammar, str) and grammar.strip()
    with pytest.raises(ValueError):
        xlc.json_schema_to_grammar("{not json}")
