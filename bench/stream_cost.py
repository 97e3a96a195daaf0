"""What streaming costs, per request and per token, in CPU time as well as wall time.

    .venv/bin/python bench/stream_cost.py [--pairs 20] [--tokens 128] [--modes unstreamed,callback,iterator,async]
    .venv/bin/python bench/stream_cost.py --only callback --n 20     # one mode, for `perf record -p`

One Server (one slot, 2 threads); the same greedy request (cached prompt, ignore_eos) is run in every mode, the
modes' order rotating from round to round so that machine noise hits all alike. For each request it records wall
time, the process's CPU time (every thread, those that ended included), and the CPU time of each long-lived
thread: the server loop (which also leads ggml's OpenMP team), the OpenMP workers, and the calling thread.
Differences to the unstreamed request are paired round by round; medians are printed per request and per token.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import xllamacpp as xlc  # noqa: E402

def thread_cpu() -> dict:
    """CPU seconds of each live thread of this process, by tid (the scheduler's ns counters)."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            out[int(tid)] = int(Path(f"/proc/self/task/{tid}/schedstat").read_text().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            continue
    return out


def process_cpu() -> float:
    return time.process_time()  # every thread, those that ended included


class Runner:
    def __init__(self, model: str, tokens: int, threads: int):
        before = set(thread_cpu())
        p = xlc.CommonParams()
        p.model.path = model
        p.n_ctx = 1024
        p.n_parallel = 1
        p.cpuparams.n_threads = threads
        p.cpuparams_batch.n_threads = threads
        p.sampling.temp = 0.0
        p.sampling.top_k = 1
        p.port = -1
        if os.environ.get("BENCH_NO_EXTRA_BUFTS") == "1":
            p.no_extra_bufts = True
        self.server = xlc.Server(p)
        self.aserver = xlc.AsyncServer(self.server)
        self.loop = asyncio.new_event_loop()
        self.req = {"prompt": "Write a long story about a dragon.", "max_tokens": tokens, "ignore_eos": True,
                    "cache_prompt": True, "temperature": 0}
        self.tokens = tokens
        for _ in range(2):
            self.server.handle_completions(self.req)
        self.run("callback")
        # threads the server started: the loop thread first, then OpenMP's workers (made by the loop thread)
        cpu = thread_cpu()
        self.server_threads = sorted(t for t in cpu if t not in before and cpu[t] > 0.05)
        self.caller = threading.get_native_id()
        print(f"pid {os.getpid()} caller {self.caller} loop {self.server_threads[:1]} "
              f"workers {self.server_threads[1:]}", file=sys.stderr, flush=True)

    def run(self, mode: str) -> int:
        req = self.req
        if mode == "unstreamed":
            r = self.server.handle_completions(req)
            return r["usage"]["completion_tokens"]
        if mode == "callback":
            n = [0]

            def on_event(event):
                n[0] += 1

            self.server.handle_completions(dict(req, stream=True), on_event)
            return n[0]
        if mode == "iterator":
            n = 0
            for _ in self.server.stream_completions(req):
                n += 1
            return n
        if mode == "async":
            async def consume():
                k = 0
                async for _ in self.aserver.stream_completions(req):
                    k += 1
                return k

            return self.loop.run_until_complete(consume())
        raise ValueError(mode)

    def measure(self, mode: str) -> dict:
        threads0 = thread_cpu()
        cpu0, own0, wall0 = process_cpu(), time.thread_time(), time.perf_counter()
        events = self.run(mode)
        wall, own, cpu = time.perf_counter() - wall0, time.thread_time() - own0, process_cpu() - cpu0
        threads1 = thread_cpu()
        per_thread = {t: threads1.get(t, 0.0) - threads0.get(t, 0.0) for t in self.server_threads}
        loop_tid = self.server_threads[0] if self.server_threads else None
        return {
            "wall": wall, "cpu": cpu, "caller": own, "events": events,
            "loop": per_thread.get(loop_tid, 0.0),
            "workers": sum(v for t, v in per_thread.items() if t != loop_tid),
            "other": cpu - own - sum(per_thread.values()),
        }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"))
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default="unstreamed,callback,iterator,async")
    ap.add_argument("--only", help="run one mode --n times (for perf record), print per-request figures")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--json", help="write the raw samples here")
    args = ap.parse_args()

    r = Runner(args.model, args.tokens, args.threads)
    if args.only:
        t0 = time.monotonic()
        samples = [r.measure(args.only) for _ in range(args.n)]
        print(f"window {t0:.6f} {time.monotonic():.6f}", file=sys.stderr, flush=True)
        print(json.dumps({k: statistics.median(s[k] for s in samples) for k in samples[0]}))
        return 0

    modes = args.modes.split(",")
    rounds = []
    for i in range(args.pairs):
        order = modes[i % len(modes):] + modes[:i % len(modes)]
        rounds.append({m: r.measure(m) for m in order})
        time.sleep(0.05)

    base = "unstreamed"
    keys = ("wall", "cpu", "caller", "loop", "workers", "other")
    print(f"{args.pairs} rounds, {args.tokens} tokens, load {os.getloadavg()[0]:.2f}")
    print(f"{'mode':<11}" + "".join(f"{k:>12}" for k in keys) + "   (median per request, ms)")
    for m in modes:
        print(f"{m:<11}" + "".join(f"{statistics.median(x[m][k] for x in rounds) * 1000:>12.1f}" for k in keys))
    print(f"\n{'vs ' + base:<11}" + "".join(f"{k:>12}" for k in keys) + "   (median paired difference per token, us)")
    for m in modes:
        if m == base:
            continue
        diffs = {k: statistics.median((x[m][k] - x[base][k]) for x in rounds) / args.tokens * 1e6 for k in keys}
        print(f"{m:<11}" + "".join(f"{diffs[k]:>12.1f}" for k in keys))
    print(f"\n{'vs ' + base:<11}{'wall %':>12}{'cpu %':>12}   (median paired ratio - 1)")
    for m in modes:
        if m == base:
            continue
        w = statistics.median(x[m]["wall"] / x[base]["wall"] - 1 for x in rounds) * 100
        c = statistics.median(x[m]["cpu"] / x[base]["cpu"] - 1 for x in rounds) * 100
        print(f"{m:<11}{w:>12.2f}{c:>12.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rounds))
    r.server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
