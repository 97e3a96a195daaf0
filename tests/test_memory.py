"""estimate_gpu_layers on the real model file."""
from __future__ import annotations

import os

import xllamacpp as xlc

GIB = 1024**3


def test_cpu_only_fits_no_layers(model_path):
    e = xlc.estimate_gpu_layers([{"name": "CPU", "memory_free": 0}], model_path, [], context_length=2048,
                                batch_size=512, num_parallel=1, kv_cache_type="")
    assert e.layers == 0 and e.graph == 0 and e.gpu_sizes == []
    assert e.total_size > os.path.getsize(model_path) * 0.9


def test_a_large_gpu_takes_every_layer(model_path):
    e = xlc.estimate_gpu_layers([{"name": "CUDA0", "memory_free": 8 * GIB}], model_path, [], context_length=2048,
                                batch_size=512, num_parallel=1, kv_cache_type="f16")
    assert e.layers == 18  # gemma3 270M has 18 blocks
    assert 0 < e.vram_size <= e.total_size and e.tensor_split == [18.0]


def test_small_gpus_split_or_refuse(model_path):
    two = xlc.estimate_gpu_layers([{"name": "A", "memory_free": 600 * 1024**2, "memory_min": 0},
                                   {"name": "B", "memory_free": 600 * 1024**2, "memory_min": 0}],
                                  model_path, [], context_length=32768, batch_size=512, num_parallel=4,
                                  kv_cache_type="f16")
    assert 0 < two.layers <= 18 and len(two.tensor_split) == 2
    tiny = xlc.estimate_gpu_layers([{"name": "A", "memory_free": 64 * 1024**2}], model_path, [],
                                   context_length=2048, batch_size=512, num_parallel=1, kv_cache_type="q8_0")
    assert tiny.layers == 0 and tiny.vram_size == 0


def test_quantized_kv_cache_needs_less(model_path):
    args = dict(context_length=8192, batch_size=512, num_parallel=1)
    f16 = xlc.estimate_gpu_layers([{"name": "CPU"}], model_path, [], kv_cache_type="f16", **args)
    q4 = xlc.estimate_gpu_layers([{"name": "CPU"}], model_path, [], kv_cache_type="q4_0", **args)
    assert q4.total_size < f16.total_size
