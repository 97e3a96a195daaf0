"""Older parameter and enum names, onto today's llama.cpp fields.

Upstream xllamacpp's users write names that llama.cpp has since moved or
replaced (``params.speculative.n_max``, ``params.use_mmap``,
``COMMON_SPECULATIVE_TYPE_DRAFT``). Today's names stay the truth; each older
one is listed here once, as data, and CommonParams resolves it on the way in
and out. Nothing here knows how fields are stored: the computed aliases read
and write through ``get(name)`` / ``set(name, value)``.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Tuple, Union

from ._errors import InvalidTypeError

Get = Callable[[str], Any]
Set = Callable[[str, Any], None]

# old dotted name -> today's field or struct, or several fields written together (read from the first)
RENAMED: Dict[str, Union[str, Tuple[str, ...]]] = {
    # llama.cpp moved the draft model's settings into speculative.draft
    "speculative.n_max": "speculative.draft.n_max",
    "speculative.n_min": "speculative.draft.n_min",
    "speculative.p_min": "speculative.draft.p_min",
    "speculative.p_split": "speculative.draft.p_split",
    "speculative.mparams_dft": "speculative.draft.mparams",
    "speculative.cpuparams": "speculative.draft.cpuparams",
    "speculative.cpuparams_batch": "speculative.draft.cpuparams_batch",
    "speculative.devices": "speculative.draft.devices",
    "speculative.n_gpu_layers": "speculative.draft.n_gpu_layers",
    "speculative.cache_type_k": "speculative.draft.cache_type_k",
    "speculative.cache_type_v": "speculative.draft.cache_type_v",
    # one n-gram setting, shared by every n-gram method, became one per method
    "speculative.ngram_size_n": ("speculative.ngram_simple.size_n", "speculative.ngram_map_k.size_n",
                                 "speculative.ngram_map_k4v.size_n"),
    "speculative.ngram_size_m": ("speculative.ngram_simple.size_m", "speculative.ngram_map_k.size_m",
                                 "speculative.ngram_map_k4v.size_m"),
    "speculative.ngram_min_hits": ("speculative.ngram_simple.min_hits", "speculative.ngram_map_k.min_hits",
                                   "speculative.ngram_map_k4v.min_hits"),
    "speculative.lookup_cache_static": "speculative.ngram_cache.lookup_cache_static",
    "speculative.lookup_cache_dynamic": "speculative.ngram_cache.lookup_cache_dynamic",
    # the web UI became "ui"
    "webui": "ui",
    "webui_mcp_proxy": "ui_mcp_proxy",
    "webui_config_json": "ui_config_json",
    # moved into the sampler, renamed
    "reasoning_budget": "sampling.reasoning_budget_tokens",
    "checkpoint_every_nt": "checkpoint_min_step",
}

# llama_load_mode members by their value in llama.h (the names are checked against the enum at import)
_AUTO, _NONE, _MMAP, _MLOCK, _MMAP_MLOCK, _DIRECT_IO = -1, 0, 1, 2, 3, 4
LOAD_MODE_NAMES = {_AUTO: "LLAMA_LOAD_MODE_AUTO", _NONE: "LLAMA_LOAD_MODE_NONE", _MMAP: "LLAMA_LOAD_MODE_MMAP",
                   _MLOCK: "LLAMA_LOAD_MODE_MLOCK", _MMAP_MLOCK: "LLAMA_LOAD_MODE_MMAP_MLOCK",
                   _DIRECT_IO: "LLAMA_LOAD_MODE_DIRECT_IO"}
_MAPS = (_AUTO, _MMAP, _MMAP_MLOCK)  # what llama.cpp's loader memory-maps
_LOCKS = (_MLOCK, _MMAP_MLOCK)


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool) or (isinstance(value, int)):
        return bool(value)
    if hasattr(value, "__index__"):
        return bool(value.__index__())
    raise InvalidTypeError(f"{name}: expected bool, got {type(value).__name__} {value!r}")


def _use_mmap(get: Get, set: Set, value: Any = None, write: bool = False) -> Any:
    mode = int(get("load_mode"))
    if not write:
        return mode in _MAPS
    if _flag(value, "use_mmap"):
        new = {_NONE: _MMAP, _MLOCK: _MMAP_MLOCK, _DIRECT_IO: _MMAP}.get(mode, mode)
    else:
        new = {_AUTO: _NONE, _MMAP: _NONE, _MMAP_MLOCK: _MLOCK}.get(mode, mode)
    set("load_mode", new)
    return None


def _use_mlock(get: Get, set: Set, value: Any = None, write: bool = False) -> Any:
    mode = int(get("load_mode"))
    if not write:
        return mode in _LOCKS
    if _flag(value, "use_mlock"):
        new = {_AUTO: _MMAP_MLOCK, _MMAP: _MMAP_MLOCK, _NONE: _MLOCK, _DIRECT_IO: _MLOCK}.get(mode, mode)
    else:
        new = {_MLOCK: _NONE, _MMAP_MLOCK: _MMAP}.get(mode, mode)
    set("load_mode", new)
    return None


def _use_direct_io(get: Get, set: Set, value: Any = None, write: bool = False) -> Any:
    mode = int(get("load_mode"))
    if not write:
        return mode == _DIRECT_IO
    if _flag(value, "use_direct_io"):
        set("load_mode", _DIRECT_IO)
    elif mode == _DIRECT_IO:
        set("load_mode", _AUTO)
    return None


def _hostname(get: Get, set: Set, value: Any = None, write: bool = False) -> Any:
    if not write:
        hosts = get("hostnames")
        return hosts[0] if hosts else ""
    if not isinstance(value, str):
        raise InvalidTypeError(f"hostname: expected str, got {type(value).__name__} {value!r}")
    set("hostnames", [value] if value else [])
    return None


_POOLING_RANK, _POOLING_UNSPECIFIED = 4, -1  # llama_pooling_type values (checked at import)


def _reranking(get: Get, set: Set, value: Any = None, write: bool = False) -> Any:
    # as llama-server's --reranking: embeddings on, pooling RANK
    if not write:
        return bool(get("embedding")) and int(get("pooling_type")) == _POOLING_RANK
    if _flag(value, "reranking"):
        set("embedding", True)
        set("pooling_type", _POOLING_RANK)
    elif int(get("pooling_type")) == _POOLING_RANK:
        set("pooling_type", _POOLING_UNSPECIFIED)
    return None


def _speculative_type(get: Get, set: Set, value: Any = None, write: bool = False) -> Any:
    # one type then, a list of types now
    if not write:
        types = get("speculative.types")
        return types[0] if types else 0
    set("speculative.types", [value])
    return None


# old name -> (what it stands for, in words; the accessor; the type it reads as, in the facade's
# words, for the type stubs)
COMPUTED: Dict[str, Tuple[str, Callable[..., Any], str]] = {
    "hostname": ("`hostnames[0]`; setting it sets `hostnames = [value]`", _hostname, "str"),
    "use_mmap": ("`load_mode` maps the model (AUTO, MMAP, MMAP_MLOCK)", _use_mmap, "bool"),
    "use_mlock": ("`load_mode` locks the model in RAM (MLOCK, MMAP_MLOCK)", _use_mlock, "bool"),
    "use_direct_io": ("`load_mode` is DIRECT_IO", _use_direct_io, "bool"),
    "reranking": ("`embedding` on and `pooling_type` RANK, as llama-server's `--reranking`", _reranking, "bool"),
    "speculative.type": ("`speculative.types[0]`; setting it sets `speculative.types = [value]`", _speculative_type,
                         "enum:common_speculative_type"),
}

def _mmproj_device(get: Get, set: Set, value: Any = None, write: bool = False) -> Any:
    # llama-server's `--mmproj-device none`, upstream's `mmproj_device = "none"`: the projector stays
    # off the GPU (mmproj_use_gpu False, no device); any other name, "" included, turns it back on
    if not write:
        device = get("mmproj_device")
        return "none" if not device and not get("mmproj_use_gpu") else device
    if value == "none":
        set("mmproj_device", "")
        set("mmproj_use_gpu", False)
    else:
        set("mmproj_device", value)  # a name the facade does not know raises, and changes nothing
        set("mmproj_use_gpu", True)
    return None


# a field that also takes a spelling of upstream's that is not a value of its type -> the accessor
# that reads and writes it (the field keeps its name and type; these are not older names)
SPELLINGS: Dict[str, Callable[..., Any]] = {
    "mmproj_device": _mmproj_device,
}

# enum -> {old member name: today's member name}
ENUM_ALIASES: Dict[str, Dict[str, str]] = {
    "common_speculative_type": {
        "COMMON_SPECULATIVE_TYPE_DRAFT": "COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE",
        "COMMON_SPECULATIVE_TYPE_EAGLE3": "COMMON_SPECULATIVE_TYPE_DRAFT_EAGLE3",
    },
}

# the class names upstream xllamacpp gives the nested structs, by the struct's member name
STRUCT_CLASSES: Dict[str, str] = {
    "sampling": "CommonParamsSampling",
    "speculative": "CommonParamsSpeculative",
    "speculative.draft": "CommonParamsSpeculativeDraft",
    "speculative.ngram_simple": "CommonParamsSpeculativeNgramMap",
    "speculative.ngram_map_k": "CommonParamsSpeculativeNgramMap",
    "speculative.ngram_map_k4v": "CommonParamsSpeculativeNgramMap",
    "speculative.ngram_mod": "CommonParamsSpeculativeNgramMod",
    "speculative.ngram_cache": "CommonParamsSpeculativeNgramCache",
    "model": "CommonParamsModel",
    "mmproj": "CommonParamsModel",
    "speculative.draft.mparams": "CommonParamsModel",
    "cpuparams": "CpuParams",
    "cpuparams_batch": "CpuParams",
    "speculative.draft.cpuparams": "CpuParams",
    "speculative.draft.cpuparams_batch": "CpuParams",
    "diffusion": "CommonParamsDiffusion",
    "lr": "CommonParamsLr",
}


def described() -> Dict[str, str]:
    """Every alias -> what it stands for, for the reference and for error messages."""
    out: Dict[str, str] = {}
    for old, new in RENAMED.items():
        targets = (new,) if isinstance(new, str) else new
        out[old] = "alias of " + ", ".join(f"`{t}`" for t in targets)
    for old, (what, *_) in COMPUTED.items():
        out[old] = "alias: " + what
    return out
