"""Bench worker: runs one in-process xllamacpp (ours or upstream's wheel) and
answers the orchestrator's commands, one JSON object a line on stdin/stdout.
Kept to the API both packages share, so the same script drives either; the
iterator and asyncio forms are used where the package has them ("modes").
"""
from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

from concurrent_clients import timed_in_threads

t0 = time.perf_counter()
import xllamacpp as xlc  # noqa: E402

IMPORT_S = time.perf_counter() - t0
server = None
aserver = None
loop = asyncio.new_event_loop()


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


def modes() -> list:
    """The ways this package can run a completion: unstreamed, streamed (to a callback), and where it has
    them, streamed through an iterator and through asyncio."""
    out = ["unstreamed", "streamed"]
    if hasattr(xlc.Server, "stream_completions"):
        out.append("iterator")
    if hasattr(xlc, "AsyncServer"):
        out.append("async")
    return out


def stream_events(req: dict, mode: str) -> list:
    if mode == "streamed":
        events: list = []
        server.handle_completions(req, lambda chunk: events.append(chunk) and None)
        return events
    if mode == "iterator":
        return list(server.stream_completions(req))

    async def consume():
        return [e async for e in aserver.stream_completions(req)]

    return loop.run_until_complete(consume())


def run_one(req: dict, mode: str) -> dict:
    """One request; wall time and this process's CPU time (all threads, ns resolution)."""
    req = dict(req, stream=mode != "unstreamed")
    cpu, t = time.process_time(), time.perf_counter()
    if mode != "unstreamed":
        events = stream_events(req, mode)
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        timings = next((c.get("timings") for c in reversed(events) if isinstance(c, dict) and c.get("timings")), {})
        return {"wall": wall, "cpu": cpu, "timings": timings, "chunks": len(events)}
    r = server.handle_completions(req)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    if "error" in r:
        raise RuntimeError(r["error"])
    return {"wall": wall, "cpu": cpu, "timings": r.get("timings", {}), "tokens": r["usage"]["completion_tokens"]}


def concurrent_streams(reqs: list) -> dict:
    """All requests streamed at once: on one asyncio loop where the package has AsyncServer, else one
    thread each with a callback. Counts the events that carry text."""
    counts = [0] * len(reqs)

    def on(i):
        def count(chunk):
            if chunk["choices"][0].get("text"):
                counts[i] += 1
        return count

    if aserver is not None:
        async def one(i):
            async for chunk in aserver.stream_completions(reqs[i]):
                on(i)(chunk)

        async def all_of():
            await asyncio.gather(*(one(i) for i in range(len(reqs))))

        t = time.perf_counter()
        loop.run_until_complete(all_of())
        wall = time.perf_counter() - t
    else:
        wall = timed_in_threads(lambda i: server.handle_completions(dict(reqs[i], stream=True), on(i)), len(reqs))
    return {"wall": wall, "tokens": sum(counts), "form": "async" if aserver is not None else "threads"}


def concurrent(reqs: list) -> dict:
    results: list = [None] * len(reqs)

    def go(i):
        results[i] = server.handle_completions(dict(reqs[i], stream=False))

    wall = timed_in_threads(go, len(reqs))
    return {"wall": wall, "tokens": sum(r["usage"]["completion_tokens"] for r in results)}


def main() -> None:
    global server, aserver
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg["cmd"]
        try:
            if cmd == "start":
                t = time.perf_counter()
                server = xlc.Server(make_params(msg["cfg"]))
                aserver = xlc.AsyncServer(server) if "async" in modes() else None
                out = {"load_s": time.perf_counter() - t, "import_s": IMPORT_S, "address": server.listening_address,
                       "modes": modes()}
            elif cmd == "run":
                out = run_one(msg["req"], msg.get("mode") or ("streamed" if msg.get("stream") else "unstreamed"))
            elif cmd == "concurrent_streams":
                out = concurrent_streams(msg["reqs"])
            elif cmd == "concurrent":
                out = concurrent(msg["reqs"])
            elif cmd == "rss":
                out = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
            elif cmd == "stop":
                server.close() if hasattr(server, "close") else None
                server = aserver = None
                out = {}
            else:
                out = {"error": f"unknown command {cmd}"}
        except Exception as e:  # reported to the orchestrator
            out = {"error": repr(e)}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
