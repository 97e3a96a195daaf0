"""The model kit: tiny random-weight GGUF files that llama.cpp loads, one per feature.

Each model is generated on first use into a cache outside the checkout,
``$XLLAMACPP_MODEL_KIT`` or ``~/.cache/xllamacpp/models/<version>/``, where the
version names this generator's code and its inputs, so editing a generator or
moving llama.cpp starts a fresh folder. The same seed gives the same bytes.

Inputs: the vocab-only GGUFs of the vendored llama.cpp tree (real tokenizers)
and the gemma3 270M test model (shapes and vocabulary for what pairs with it).

    from modelkit import path
    path("embedding")            # -> '/root/.cache/xllamacpp/models/1-.../embedding.gguf'

``python -m modelkit`` (``make models``) builds them all.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
VOCABS = ROOT / "vendor" / "llama.cpp" / "models"
KIT_VERSION = 1


def base_model() -> Path:
    """The gemma3 270M file the LoRA adapters, projector and draft model pair with."""
    return Path(os.environ.get("XLLAMACPP_TEST_MODEL", ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"))


@dataclass(frozen=True)
class Model:
    name: str
    seed: int
    build: Callable[[Path, int], Path]
    what: str


def _bert(reranker: bool) -> Callable[[Path, int], Path]:
    def build(out: Path, seed: int) -> Path:
        from . import bert
        return bert.build(out, VOCABS / "ggml-vocab-bert-bge.gguf", seed, reranker=reranker)
    return build


def _lora(zero: bool) -> Callable[[Path, int], Path]:
    def build(out: Path, seed: int) -> Path:
        from . import lora
        return lora.build(out, base_model(), seed, zero=zero)
    return build


def _mmproj(out: Path, seed: int) -> Path:
    from . import mmproj
    return mmproj.build(out, base_model(), seed)


def _draft(out: Path, seed: int) -> Path:
    from . import text
    return text.build_gemma3(out, base_model(), seed)


def _moe(out: Path, seed: int) -> Path:
    from . import text
    return text.build_llama(out, VOCABS / "ggml-vocab-llama-spm.gguf", seed, n_expert=4, name="kit-moe")


def _fim(out: Path, seed: int) -> Path:
    from . import text
    return text.build_llama(out, VOCABS / "ggml-vocab-starcoder.gguf", seed, name="kit-fim")


MODELS = {m.name: m for m in (
    Model("embedding", 1, _bert(False), "BERT, mean pooling, bge WordPiece vocab"),
    Model("reranker", 2, _bert(True), "BERT with a classification head, pooling rank"),
    Model("lora", 3, _lora(False), "LoRA adapter for gemma3 270M (attn_q, attn_v, ffn_up)"),
    Model("lora_zero", 4, _lora(True), "the same adapter with lora_b = 0: changes nothing"),
    Model("mmproj", 5, _mmproj, "gemma3 vision projector (clip) for gemma3 270M"),
    Model("draft", 6, _draft, "2-layer gemma3 on gemma's vocabulary, a draft model"),
    Model("moe", 7, _moe, "Mixtral-style llama MoE, 4 experts, 2 used, llama SPM vocab"),
    Model("fim", 8, _fim, "llama on the StarCoder vocab, which has FIM tokens"),
)}


def version() -> str:
    """KIT_VERSION plus a digest of the generators' code and the pinned llama.cpp (its vocabularies)."""
    h = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        h.update(source.name.encode() + b"\0" + source.read_bytes())
    lock = ROOT / "vendor" / "lock.json"
    if lock.is_file():
        h.update(lock.read_bytes())
    base = base_model()
    if base.is_file():
        h.update(str(base.stat().st_size).encode())
    return f"{KIT_VERSION}-{h.hexdigest()[:12]}"


def cache_dir() -> Path:
    root = os.environ.get("XLLAMACPP_MODEL_KIT")
    return Path(root) if root else Path.home() / ".cache" / "xllamacpp" / "models" / version()


def path(name: str, directory: Path | None = None) -> str:
    """The named model's file, generated on a miss (a concurrent generator's rename is atomic)."""
    try:
        model = MODELS[name]
    except KeyError:
        raise KeyError(f"no kit model {name!r}; there are {', '.join(MODELS)}") from None
    out = (directory or cache_dir()) / f"{name}.gguf"
    if not out.is_file():
        model.build(out, model.seed)
    return str(out)


def build_all(directory: Path | None = None) -> dict[str, str]:
    return {name: path(name, directory) for name in MODELS}
