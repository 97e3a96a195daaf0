"""Which xllamacpp the compatibility suite runs against, and the models it maps upstream's names to."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import xllamacpp as xlc

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM = importlib.util.find_spec("xllamacpp._library") is None  # ours has the facade loader
# upstream's releases the suite holds ours against (`make compat`); NEWEST is the one ours follows
# where the two differ, keeping the older spelling working where both can
OLDER, NEWEST = "2026.5.9093", "2026.10.11549"
RELEASES = (OLDER, NEWEST)
VERSION = str(getattr(xlc, "__version__", "?"))
GEMMA = Path(os.environ.get("XLLAMACPP_TEST_MODEL", ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"))


def describe() -> str:
    side = "upstream" if UPSTREAM else "ours"
    return f"xllamacpp under test: {side}, {getattr(xlc, '__version__', '?')} from {Path(xlc.__file__).parent}"


def close(server) -> None:
    """Frees a server's model now. Upstream's Server has no close(): it goes with the object, and
    its destructor can hang when the server loop has not started yet (a terminate() that the loop
    never sees), so it is given a request that goes through the loop first."""
    if hasattr(server, "close"):
        server.close()
        return
    import requests

    requests.get(server.listening_address + "/slots", timeout=600)


def small_params(model: str) -> "xlc.CommonParams":
    """Upstream-style parameters for a quick server on ``model``: 512 tokens of context, 2 threads, no warm-up."""
    params = xlc.CommonParams()
    params.model.path = model
    params.n_ctx = 512
    params.cpuparams.n_threads = 2
    params.cpuparams_batch.n_threads = 2
    params.warmup = False
    return params
