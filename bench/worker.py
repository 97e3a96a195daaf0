"""Bench worker: runs one in-process xllamacpp (ours or upstream's wheel) and
answers the orchestrator's commands, one JSON object a line on stdin/stdout.
Kept to the API both packages share, so the same script drives either.
"""
from __future__ import annotations

import json
import resource
import sys
import time

from concurrent_clients import timed_in_threads

t0 = time.perf_counter()
import xllamacpp as xlc  # noqa: E402

IMPORT_S = time.perf_counter() - t0
server = None


def make_params(cfg: dict):
    p = xlc.CommonParams()
    p.model.path = cfg["model"]
    p.n_ctx = cfg["n_ctx"]
    p.n_parallel = cfg["n_parallel"]
    p.cpuparams.n_threads = cfg["threads"]
    p.cpuparams_batch.n_threads = cfg["threads"]
    p.sampling.temp = 0.0
    p.sampling.top_k = 1
    p.cache_ram_mib = 0
    p.endpoint_metrics = True
    return p


def run_one(req: dict, stream: bool) -> dict:
    req = dict(req, stream=stream)
    last: list = []
    t = time.perf_counter()
    if stream:
        server.handle_completions(req, lambda chunk: last.append(chunk) and None)
        wall = time.perf_counter() - t
        timings = next((c.get("timings") for c in reversed(last) if isinstance(c, dict) and c.get("timings")), {})
        return {"wall": wall, "timings": timings, "chunks": len(last)}
    r = server.handle_completions(req)
    wall = time.perf_counter() - t
    if "error" in r:
        raise RuntimeError(r["error"])
    return {"wall": wall, "timings": r.get("timings", {}), "tokens": r["usage"]["completion_tokens"]}


def concurrent(reqs: list) -> dict:
    results: list = [None] * len(reqs)

    def go(i):
        results[i] = server.handle_completions(dict(reqs[i], stream=False))

    wall = timed_in_threads(go, len(reqs))
    return {"wall": wall, "tokens": sum(r["usage"]["completion_tokens"] for r in results)}


def main() -> None:
    global server
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg["cmd"]
        try:
            if cmd == "start":
                t = time.perf_counter()
                server = xlc.Server(make_params(msg["cfg"]))
                out = {"load_s": time.perf_counter() - t, "import_s": IMPORT_S, "address": server.listening_address}
            elif cmd == "run":
                out = run_one(msg["req"], msg.get("stream", False))
            elif cmd == "concurrent":
                out = concurrent(msg["reqs"])
            elif cmd == "rss":
                out = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
            elif cmd == "stop":
                server.close() if hasattr(server, "close") else None
                server = None
                out = {}
            else:
                out = {"error": f"unknown command {cmd}"}
        except Exception as e:  # reported to the orchestrator
            out = {"error": repr(e)}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
