"""Runs stress cases in a child process, so that an abort is counted, not fatal.

The parent (stress/run.py or stress/params_fuzz.py) starts this with a JSON list of
cases on stdin; each case's outcome is one JSON line on stdout, written before the
next case starts. If the process dies, the parent knows which case killed it and
starts a new child at the next case.
"""
from __future__ import annotations

import json
import resource
import sys
import time
import traceback


def limit_memory(gib: float) -> None:
    """Address-space limit: a huge allocation fails (and is reported) instead of taking the machine."""
    limit = int(gib * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def main() -> None:
    spec = json.loads(sys.stdin.read())
    if spec.get("memory_gib"):
        limit_memory(spec["memory_gib"])
    import importlib

    module = importlib.import_module(spec["module"])
    runner = getattr(module, spec["runner"])
    emit({"ready": True})
    for case in spec["cases"]:
        emit({"start": case["id"]})
        t0 = time.perf_counter()
        try:
            outcome = runner(case)
        except BaseException as e:  # noqa: BLE001 - every outcome is data here
            outcome = {"outcome": "harness-error", "detail": f"{type(e).__name__}: {e}",
                       "trace": traceback.format_exc()[-800:]}
        outcome["id"] = case["id"]
        outcome.setdefault("seconds", round(time.perf_counter() - t0, 3))
        emit(outcome)


if __name__ == "__main__":
    main()
