"""xllamacpp.memory: upstream's functions, and the same estimates as upstream's wheel on the same file.

The expected figures were measured with upstream's xllamacpp 2026.5.9093 (its
memory module reads the file with the gguf package) on the Gemma 3 270M file the
suite uses; the same test passing on both sides shows the numbers agree.
"""
from __future__ import annotations

import pytest

from xllamacpp import estimate_gpu_layers, memory

from ._side import UPSTREAM

GIB, MIB = 1024**3, 1024**2

# case -> (gpus, context_length, batch_size, num_parallel, kv_cache_type,
#          (layers, graph, vram_size, total_size, tensor_split, gpu_sizes) from upstream's wheel)
CASES = {
    "readme": ([{"name": "cuda", "memory_free": 8 * GIB, "memory_min": 2048}], 2048, 512, 1, "",
               (19, 538181632, 811835904, 811835904, [1.0], [811835904])),
    "cpu": ([{"name": "CPU", "memory_free": 0}], 2048, 512, 1, "",
            (0, 0, 0, 268608000, [0], [])),
    "too_small_for_the_graph": ([{"name": "A", "memory_free": 600 * MIB, "memory_min": 0},
                                 {"name": "B", "memory_free": 600 * MIB, "memory_min": 0}], 32768, 512, 4, "f16",
                                (0, 0, 0, 386572800, [0, 0], [])),
    "tiny_q8_0_cache": ([{"name": "A", "memory_free": 64 * MIB}], 2048, 512, 1, "q8_0",
                        (0, 0, 0, 257597952, [0], [])),
    "long_q4_0_cache": ([{"name": "A", "memory_free": 700 * MIB, "memory_min": 0}], 65536, 512, 2, "q4_0",
                        (0, 0, 0, 302817792, [0], [])),
    "metal": ([{"name": "Metal", "memory_free": 4 * GIB}], 4096, 256, 1, "q8_0",
              (19, 269090816, 1069128192, 1069128192, [1.0], [1069128192])),
    "split_partial": ([{"name": "A", "memory_free": 700 * MIB, "memory_min": 0},
                       {"name": "B", "memory_free": 700 * MIB, "memory_min": 0}], 8192, 512, 2, "",
                      (14, 675807232, 1458362368, 1658098176, [8 / 14, 6 / 14], [730742784, 727619584])),
    "split_without_output": ([{"name": "A", "memory_free": 720 * MIB, "memory_min": 0},
                              {"name": "B", "memory_free": 720 * MIB, "memory_min": 0}], 8192, 512, 2, "",
                             (18, 675807232, 1479837696, 1658098176, [0.5, 0.5], [729495552, 750342144])),
    "three_gpus": ([{"name": "A", "memory_free": 900 * MIB}, {"name": "B", "memory_free": 1200 * MIB},
                    {"name": "C", "memory_free": 700 * MIB}], 8192, 512, 2, "",
                   (6, 675807232, 1257674752, 1513593344, [0.0, 1.0, 0.0], [0, 1257674752, 0])),
}


def _reader(path: str):
    """What upstream's dump_metadata_json reads from: a gguf.GGUFReader (ours takes the path, reader or not)."""
    if not UPSTREAM:
        return None
    from gguf import GGUFReader

    return GGUFReader(path, "r")


@pytest.mark.parametrize("case", sorted(CASES))
def test_estimates_match_upstreams_wheel(gemma, case):
    gpus, context_length, batch_size, num_parallel, kv_cache_type, expected = CASES[case]
    e = estimate_gpu_layers(gpus, gemma, [], context_length=context_length, batch_size=batch_size,
                            num_parallel=num_parallel, kv_cache_type=kv_cache_type)
    layers, graph, vram_size, total_size, tensor_split, gpu_sizes = expected
    assert (e.layers, e.graph, e.vram_size, e.total_size) == (layers, graph, vram_size, total_size)
    assert e.tensor_split == pytest.approx(tensor_split) and e.gpu_sizes == gpu_sizes
    if e.layers:
        assert sum(e.tensor_split) == pytest.approx(1.0)  # shares of the layers, not counts


def test_graph_size_matches_upstreams_wheel(gemma):
    reader = _reader(gemma)
    metadata = memory.dump_metadata_json(reader, gemma)["metadata"]
    kv, partial, full = memory.graph_size(metadata, context_length=2048, batch_size=512, num_parallel=1,
                                          kv_cache_type="")
    assert (sum(kv), partial, full) == (22020096, 675807232.0, 538181632)
    # gemma3: one full-attention layer in six, the others a sliding window
    assert kv[:7] == [1048576] * 5 + [2097152, 1048576]


def test_metadata_and_projector_helpers(gemma):
    reader = _reader(gemma)
    data = memory.dump_metadata_json(reader, gemma)
    assert data["metadata"]["general.architecture"]["value"] == "gemma3"
    assert data["metadata"]["gemma3.block_count"]["value"] == 18
    assert len(data["metadata"]["tokenizer.ggml.tokens"]["value"]) == 262144
    embd = data["tensors"]["token_embd.weight"]
    assert embd["shape"] == [640, 262144] and embd["n_bytes"] > 0
    assert memory.projector_memory_requirements(gemma) == sum(t["n_bytes"] for t in data["tensors"].values())
    assert memory.get_file_host_endian(reader) == ("LITTLE", "LITTLE")
    fields = ("layers", "graph", "vram_size", "total_size", "tensor_split", "gpu_sizes")
    assert tuple(memory.MemoryEstimate.__dataclass_fields__) == fields
