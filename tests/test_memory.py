"""estimate_gpu_layers on the real model file (tests/compat/test_memory_compat.py has upstream's figures)."""
from __future__ import annotations

import os

import pytest

import xllamacpp as xlc
from xllamacpp import memory

GIB, MIB = 1024**3, 1024**2


def test_cpu_only_fits_no_layers(model_path):
    e = xlc.estimate_gpu_layers([{"name": "CPU", "memory_free": 0}], model_path, [], context_length=2048,
                                batch_size=512, num_parallel=1, kv_cache_type="")
    assert e.layers == 0 and e.graph == 0 and e.gpu_sizes == [] and e.vram_size == 0
    assert e.total_size > os.path.getsize(model_path) * 0.9


def test_a_large_gpu_takes_every_layer_and_the_output(model_path):
    e = xlc.estimate_gpu_layers([{"name": "CUDA0", "memory_free": 8 * GIB}], model_path, [], context_length=2048,
                                batch_size=512, num_parallel=1, kv_cache_type="f16")
    assert e.layers == 18 + 1  # gemma3 270M has 18 blocks; the output layer counts as one more
    assert 0 < e.vram_size == e.total_size and e.tensor_split == [1.0] and e.gpu_sizes == [e.vram_size]


def test_two_gpus_share_the_layers(model_path):
    gpus = [{"name": "A", "memory_free": 700 * MIB, "memory_min": 0}, {"name": "B", "memory_free": 700 * MIB, "memory_min": 0}]
    e = xlc.estimate_gpu_layers(gpus, model_path, [], context_length=8192, batch_size=512, num_parallel=2,
                                kv_cache_type="")
    assert 0 < e.layers < 18 and len(e.tensor_split) == 2 and all(s > 0 for s in e.tensor_split)
    assert sum(e.tensor_split) == pytest.approx(1.0)
    assert e.vram_size == sum(e.gpu_sizes) < e.total_size
    assert all(size <= 700 * MIB for size in e.gpu_sizes)


def test_a_gpu_too_small_takes_nothing(model_path):
    tiny = xlc.estimate_gpu_layers([{"name": "A", "memory_free": 64 * MIB}], model_path, [],
                                   context_length=2048, batch_size=512, num_parallel=1, kv_cache_type="q8_0")
    assert tiny.layers == 0 and tiny.vram_size == 0 and tiny.gpu_sizes == []


def test_quantized_kv_cache_needs_less(model_path):
    args = dict(context_length=8192, batch_size=512, num_parallel=1)
    f16 = xlc.estimate_gpu_layers([{"name": "CPU"}], model_path, [], kv_cache_type="f16", **args)
    q8 = xlc.estimate_gpu_layers([{"name": "CPU"}], model_path, [], kv_cache_type="q8_0", **args)
    q4 = xlc.estimate_gpu_layers([{"name": "CPU"}], model_path, [], kv_cache_type="q4_0", **args)
    assert q4.total_size < q8.total_size < f16.total_size


def test_a_projector_goes_on_the_first_gpu(model_path):
    # the model file itself stands in for a projector: its bytes are what counts
    one = xlc.estimate_gpu_layers([{"name": "A", "memory_free": 8 * GIB}], model_path, [model_path],
                                  context_length=512, batch_size=512, num_parallel=1, kv_cache_type="")
    none = xlc.estimate_gpu_layers([{"name": "A", "memory_free": 8 * GIB}], model_path, [],
                                   context_length=2048, batch_size=512, num_parallel=1, kv_cache_type="")
    # a projector raises the context to at least 2048 and adds its bytes to the first GPU
    assert one.gpu_sizes[0] - none.gpu_sizes[0] == memory.projector_memory_requirements(model_path)


def test_missing_or_bad_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        xlc.estimate_gpu_layers([{"name": "A", "memory_free": GIB}], str(tmp_path / "none.gguf"), [], 512, 512, 1, "")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file")
    with pytest.raises(FileNotFoundError):
        memory.dump_metadata_json(None, str(bad))


def test_long_arrays_are_not_read(model_path):
    tokens = memory.dump_metadata_json(None, model_path)["metadata"]["tokenizer.ggml.tokens"]
    assert tokens["type"] == "ARRAY" and tokens["array_types"] == ["STRING"]
    assert len(tokens["value"]) == 262144
    with pytest.raises(LookupError, match="not read"):
        tokens["value"][0]
