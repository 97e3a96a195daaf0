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

MODEL_FIXTURES = {"model_path", "server"}


def pytest_configure(config):
    config.addinivalue_line("markers", "model: needs the test model (set automatically from the fixtures it uses)")
    config.addinivalue_line("markers", "slow: takes more than about ten seconds")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)
