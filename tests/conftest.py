from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = Path(os.environ.get("XLLAMACPP_TEST_MODEL", ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"))


@pytest.fixture(scope="session")
def model_path() -> str:
    if not MODEL.is_file():
        pytest.fail(f"test model missing: {MODEL} (run `make download`)")
    return str(MODEL)


def make_params(model_path: str, **fields):
    """Params for the small test model: greedy, 2 threads, small context."""
    import xllamacpp as xlc

    p = xlc.CommonParams()
    p.model.path = model_path
    p.n_ctx = 2048
    p.cpuparams.n_threads = 2
    p.cpuparams_batch.n_threads = 2
    p.warmup = False
    p.sampling.temp = 0.0
    p.sampling.top_k = 1
    for name, value in fields.items():
        target = p
        *groups, leaf = name.split("__")
        for g in groups:
            target = getattr(target, g)
        setattr(target, leaf, value)
    return p


@pytest.fixture(scope="module")
def server(model_path):
    import xllamacpp as xlc

    with xlc.Server(make_params(model_path, n_parallel=2, endpoint_metrics=True)) as s:
        yield s


# --- markers: run model-free, model and slow tests apart -----------------------------
#   pytest -m "not model"          no model file needed (library, parameters, errors)
#   pytest -m "model and not slow" the model, quick tests
#   pytest -m slow                 the long ones (batching, close races, starvation)

MODEL_FIXTURES = {"model_path", "server", "embedding_model", "reranker_model", "lora_adapter", "lora_zero_adapter",
                  "mmproj", "draft_model", "moe_model", "fim_model"}


def pytest_configure(config):
    config.addinivalue_line("markers", "model: needs the test model (set automatically from the fixtures it uses)")
    config.addinivalue_line("markers", "slow: takes more than about ten seconds")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)
# --- the model kit: tiny generated models for the features gemma alone cannot show -------------
# Generated on first use (tests/modelkit) into ~/.cache/xllamacpp/models/<version>/, or
# $XLLAMACPP_MODEL_KIT; `make models` builds them all. Each fixture returns a file path.

GEMMA_CHAT_TEMPLATE = ROOT / "tests" / "templates" / "gemma-chat.jinja"


def kit_model(name: str) -> str:
    import modelkit

    vocabs = modelkit.VOCABS
    if not vocabs.is_dir():
        pytest.fail(f"the model kit needs llama.cpp's vocab files in {vocabs} (run `make vendor`)")
    if not modelkit.base_model().is_file():
        pytest.fail(f"the model kit needs the test model {modelkit.base_model()} (run `make download`)")
    return modelkit.path(name)


@pytest.fixture(scope="session")
def embedding_model() -> str:
    """BERT on the bge WordPiece vocabulary, non-causal, mean pooling, 32-dim."""
    return kit_model("embedding")


@pytest.fixture(scope="session")
def reranker_model() -> str:
    """The BERT embedder with a classification head: pooling rank, one score."""
    return kit_model("reranker")


@pytest.fixture(scope="session")
def lora_adapter() -> str:
    """A LoRA adapter for gemma3 270M (attn_q, attn_v, ffn_up) that changes its output."""
    return kit_model("lora")


@pytest.fixture(scope="session")
def lora_zero_adapter() -> str:
    """The same adapter with lora_b = 0: it loads and applies, and changes nothing."""
    return kit_model("lora_zero")


@pytest.fixture(scope="session")
def mmproj() -> str:
    """A gemma3 vision projector for gemma3 270M: 16 image tokens per image."""
    return kit_model("mmproj")


@pytest.fixture(scope="session")
def draft_model() -> str:
    """A 2-layer gemma3 with gemma's vocabulary: a compatible draft model for gemma3 270M."""
    return kit_model("draft")


@pytest.fixture(scope="session")
def moe_model() -> str:
    """A llama MoE (4 experts, 2 used) on the llama SPM vocabulary."""
    return kit_model("moe")


@pytest.fixture(scope="session")
def fim_model() -> str:
    """A llama on the StarCoder vocabulary, whose FIM tokens /infill needs."""
    return kit_model("fim")


@pytest.fixture(scope="session")
def gemma_chat_template() -> str:
    """A jinja chat template for gemma with tool calls and <think> reasoning (tests/templates)."""
    return GEMMA_CHAT_TEMPLATE.read_text()


def wait_for_log(caplog, text: str, timeout: float = 10.0) -> bool:
    """True once a record holding ``text`` has reached ``caplog`` (llama.cpp's lines
    arrive through the xllamacpp log thread, a moment after they are written)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in r.getMessage() for r in caplog.records):
            return True
        time.sleep(0.05)
    return False
