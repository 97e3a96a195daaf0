"""A chat that resends its whole history each turn (as OpenAI clients do): per turn, the tokens
that are new, the tokens the server processed (timings.prompt_n) and the time to the first token.

    .venv/bin/python bench/multiturn.py [--systems ours,llama-server,llama-server--swa-full] [--turns 6]

ours: in-process with the package's defaults; llama-server: the binary from the same tree
(bench/run.py's LLAMA_SERVER), over HTTP, with its defaults and with --swa-full. All greedy, one
slot, n_ctx 2048, 2 threads, 16 tokens per answer. The time to first token is wall time: on a
loaded machine compare prompt_n, which load does not move.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import LLAMA_SERVER, MODEL  # noqa: E402

QUESTIONS = ["Hi, who are you?", "Tell me a fact about cats.", "And about dogs?", "Thanks. One more about birds.",
             "Which of them sleeps the most?", "Summarise what you said."]
N_CTX, THREADS, MAX_TOKENS = 2048, 2, 16
Streamer = Callable[[Dict[str, Any]], Iterator[Dict[str, Any]]]


def chat(stream: Streamer, turns: int) -> List[Dict[str, Any]]:
    messages: List[Dict[str, str]] = []
    seen = 0
    out = []
    for text in QUESTIONS[:turns]:
        messages.append({"role": "user", "content": text})
        req = {"messages": messages, "max_tokens": MAX_TOKENS, "temperature": 0, "stream": True,
               "stream_options": {"include_usage": True}}
        t0 = time.perf_counter()
        ttft = None
        answer, last = [], {}
        for event in stream(req):
            for choice in event.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    answer.append(piece)
                    if ttft is None:
                        ttft = time.perf_counter() - t0
            if event.get("timings"):
                last = event
        prompt_tokens = last["usage"]["prompt_tokens"]
        out.append({"new": prompt_tokens - seen, "prompt_n": last["timings"]["prompt_n"],
                    "ttft_ms": (ttft or 0) * 1000})
        messages.append({"role": "assistant", "content": "".join(answer)})
        seen = prompt_tokens + last["usage"]["completion_tokens"]
    return out


def run_ours(turns: int) -> List[Dict[str, Any]]:
    import xllamacpp as xlc

    p = xlc.CommonParams()
    p.model.path = MODEL
    p.n_ctx, p.n_parallel, p.port = N_CTX, 1, -1
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = THREADS
    p.sampling.temp, p.sampling.top_k = 0.0, 1
    with xlc.Server(p) as server:
        return chat(lambda req: iter(server.stream_chat_completions(req)), turns)


def run_llama_server(turns: int, extra: tuple = ()) -> List[Dict[str, Any]]:
    port = 19000 + os.getpid() % 1000
    argv = [str(LLAMA_SERVER), "-m", MODEL, "-c", str(N_CTX), "-np", "1", "-t", str(THREADS), "-tb", str(THREADS),
            "--temp", "0", "--top-k", "1", "--host", "127.0.0.1", "--port", str(port), *extra]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    def stream(req: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
        # a new connection each turn: an idle kept-alive one may have been closed by the server
        with requests.post(base + "/v1/chat/completions", json=req, stream=True) as r:
            for line in r.iter_lines():
                if line.startswith(b"data: ") and line != b"data: [DONE]":
                    yield json.loads(line[6:])

    try:
        for _ in range(600):
            try:
                if requests.get(base + "/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        return chat(stream, turns)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--systems", default="ours,llama-server,llama-server--swa-full")
    ap.add_argument("--turns", type=int, default=6)
    args = ap.parse_args()
    runners = {"ours": run_ours, "llama-server": run_llama_server,
               "llama-server--swa-full": lambda t: run_llama_server(t, ("--swa-full",))}
    print(f"{args.turns} turns, {MAX_TOKENS} tokens per answer, n_ctx {N_CTX}, {THREADS} threads, "
          f"load {os.getloadavg()[0]:.2f}; per turn: new tokens / prompt_n / TTFT ms")
    for name in args.systems.split(","):
        turns = runners[name](args.turns)
        print(f"{name:<24}" + "  ".join(f"{t['new']}/{t['prompt_n']}/{t['ttft_ms']:.0f}" for t in turns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
