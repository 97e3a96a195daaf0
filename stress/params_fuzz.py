"""Tries every numeric field of CommonParams at its edges, each in a child process.

This is how the ranges in cshim/src/xlc_params_check.cpp were found: a value that
aborts, hangs or crashes the process shows up as "crash" or "hang" here. After the
fix every case must end as "ok" (the server ran a request) or "refused" (a clear
exception before anything ran).

    .venv/bin/python stress/params_fuzz.py [--fields n_batch,n_ctx] [--out docs/params_fuzz.json]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = os.environ.get("XLLAMACPP_TEST_MODEL", str(ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"))

INT_VALUES = [0, -1, -7, 2**31 - 1]
FLOAT_VALUES = [float("nan"), -1.0, 1e30, float("inf")]
# fields that only name files or need hardware this fuzz cannot give; their values are not numeric edges
SKIP = {"port"}


def base_params():
    import xllamacpp as xlc

    p = xlc.CommonParams()
    p.model.path = MODEL
    p.n_ctx = 512
    p.n_batch = 128
    p.n_ubatch = 128
    p.cpuparams.n_threads = 2
    p.cpuparams_batch.n_threads = 2
    p.warmup = False
    p.port = -1
    p.sampling.temp = 0.0
    return p


def run_case(case: dict) -> dict:
    import xllamacpp as xlc

    value = case["value"]
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        value = float(value)
    p = base_params()
    target = p
    *groups, leaf = case["field"].split(".")
    for g in groups:
        target = getattr(target, g)
    try:
        setattr(target, leaf, value)
    except (xlc.XlcError, ValueError, TypeError) as e:
        return {"outcome": "refused", "detail": f"set: {type(e).__name__}: {e}"[:300]}
    try:
        server = xlc.Server(p)
    except xlc.XlcError as e:
        return {"outcome": "refused", "detail": f"create: {type(e).__name__}: {e}"[:300]}
    try:
        r = server.handle_completions({"prompt": "The capital of France is", "max_tokens": 4})
        if "error" in r:
            return {"outcome": "request-error", "detail": json.dumps(r["error"])[:300]}
        chunks = []
        server.handle_completions({"prompt": "Hello", "max_tokens": 3, "stream": True}, chunks.append)
        return {"outcome": "ok", "detail": repr(r["choices"][0]["text"])[:80]}
    finally:
        server.close()


def cases_for(fields: dict, only: set | None) -> list:
    out = []
    for name, info in sorted(fields.items()):
        if (only and name not in only) or name in SKIP:
            continue
        kind = info["type"]
        values = INT_VALUES if kind == "int" else FLOAT_VALUES if kind == "float" else None
        if kind == "list[float]":
            values = [[-1.0], ["nan"]]
        if values is None:
            continue
        for v in values:
            value = "nan" if isinstance(v, float) and math.isnan(v) else "inf" if v == float("inf") else v
            out.append({"id": f"{name}={value}", "field": name, "value": value})
    return out


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from supervise import run_cases

    ap = argparse.ArgumentParser()
    ap.add_argument("--fields", default="")
    ap.add_argument("--out", default="")
    ap.add_argument("--timeout", type=float, default=90)
    args = ap.parse_args()
    import xllamacpp as xlc

    only = set(args.fields.split(",")) if args.fields else None
    cases = cases_for(xlc.CommonParams.fields(), only)
    print(f"{len(cases)} cases", flush=True)

    def progress(r):
        if r["outcome"] not in ("ok", "refused"):
            print(f"  {r['id']:50} {r['outcome']:14} {r.get('detail', '')[:120]}", flush=True)

    results = run_cases("params_fuzz", "run_case", cases, timeout=args.timeout, memory_gib=8, progress=progress)
    counts = Counter(r["outcome"] for r in results)
    print(dict(counts))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    return 0 if set(counts) <= {"ok", "refused"} else 1


if __name__ == "__main__":
    sys.exit(main())
