"""The cost of a model in a supervised child (IsolatedServer, a Router's model) against the in-process Server.

One run, the three interleaved round by round on the same model and flags:
tiny-request latency (POST /tokenize, and a one-token completion), the
per-token cost of streaming (a streamed generation against the same one
unstreamed), and decode speed (llama.cpp's own timings and the wall clock).

    .venv/bin/python bench/router_hop.py [--rounds 5] [--tokens 128]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import xllamacpp as xlc  # noqa: E402
from conftest import MODEL, make_params  # noqa: E402


def tiny(server, n: int) -> tuple:
    tok, one = [], []
    for _ in range(n):
        t = time.perf_counter()
        server.handle("POST", "/tokenize", {"content": "hello"})
        tok.append(time.perf_counter() - t)
        t = time.perf_counter()
        server.handle_completions({"prompt": "Hi", "max_tokens": 1})
        one.append(time.perf_counter() - t)
    return statistics.median(tok) * 1e3, statistics.median(one) * 1e3


def generation(server, tokens: int) -> tuple:
    body = {"prompt": "Once upon a time", "max_tokens": tokens, "ignore_eos": True, "temperature": 0}
    t = time.perf_counter()
    r = server.handle_completions(body)
    whole = time.perf_counter() - t
    t = time.perf_counter()
    n = sum(1 for _ in server.stream_completions(body))
    streamed = time.perf_counter() - t
    per_token_us = (streamed - whole) / max(n, 1) * 1e6
    return r["timings"]["predicted_per_second"], tokens / whole, per_token_us


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--tiny", type=int, default=50, help="tiny requests per round")
    a = ap.parse_args()
    params = make_params(str(MODEL), n_parallel=1, port=-1)
    kinds = {
        "in-process Server": lambda: xlc.Server(params),
        "IsolatedServer": lambda: xlc.Server(params, isolated=True),
    }
    router = xlc.Router({"gemma": params})
    router.load("gemma")
    servers = {name: make() for name, make in kinds.items()}
    servers["Router model"] = router.model("gemma")
    results: dict = {name: [] for name in servers}
    try:
        for s in servers.values():
            generation(s, 8)  # warm
        for _ in range(a.rounds):
            for name, s in servers.items():
                results[name].append(tiny(s, a.tiny) + generation(s, a.tokens))
    finally:
        for name, s in servers.items():
            if name != "Router model":
                s.close()
        router.close()
    print(f"{a.rounds} rounds, {a.tokens} tokens, {a.tiny} tiny requests a round; medians of the rounds")
    head = ("", "tokenize ms", "1-token ms", "decode tok/s (llama)", "tok/s (wall)", "stream cost us/token")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, rows in results.items():
        cols = [statistics.median(r[i] for r in rows) for i in range(5)]
        print(f"| {name} | {cols[0]:.2f} | {cols[1]:.1f} | {cols[2]:.1f} | {cols[3]:.1f} | {cols[4]:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
