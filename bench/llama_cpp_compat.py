"""llama-cpp-python 0.3.36 against llama_cpp on xllamacpp: the same `Llama` calls, one instance each.

    python bench/llama_cpp_compat.py [--write] [--tokens 64] [--rounds 2]

Both sides run the same worker script, each in its own interpreter: llama-cpp-python in the
bench/peers/llama-cpp-python environment (`make bench-peers` builds it from PyPI's sdist), ours
in this checkout's .venv. Figures: single-request decode tok/s (generated tokens after the first
over the time since the first arrived, streamed), and aggregate tok/s of 4 and 8 threads calling
one instance at once (all completion tokens over the wall time). llama-cpp-python's Llama is not
safe to call from two threads at once, so its threads take a lock, as its own server does: they
run one after another. Rounds alternate the two sides; the best of each figure is kept.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
DOC = ROOT / "docs" / "benchmarks.md"
PEER_PYTHON = ROOT / "bench" / "peers" / "llama-cpp-python" / "bin" / "python"
BEGIN, END = "<!-- bench/llama_cpp_compat.py -->", "<!-- /bench/llama_cpp_compat.py -->"

WORKER = r"""
import json, sys, threading, time
from llama_cpp import Llama
model, tokens, serialize, n_parallel = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
kwargs = {"n_parallel": n_parallel} if n_parallel else {}
llm = Llama(model, n_ctx=512, n_threads=2, n_threads_batch=2, verbose=False, **kwargs)
SUBJECTS = ["The history of Rome", "A recipe for bread", "How rivers form", "The life of bees",
            "Why the sky is blue", "A trip to the mountains", "The first computers", "Music in the city"]
lock = threading.Lock()

def complete(prompt):
    args = dict(max_tokens=tokens, temperature=0.0, top_k=1)
    if serialize:
        with lock:
            return llm(prompt, **args)["usage"]["completion_tokens"]
    return llm(prompt, **args)["usage"]["completion_tokens"]

complete("Warm up:")  # the first call pays one-time set-up on both sides
# single request, streamed: decode rate after the first token
first = last = None
n = 0
start = time.perf_counter()
for chunk in llm(SUBJECTS[0] + " is", max_tokens=tokens, temperature=0.0, top_k=1, stream=True):
    if chunk["choices"][0]["text"]:
        now = time.perf_counter()
        first = first or now
        last = now
        n += 1
out = {"single_decode_tps": (n - 1) / (last - first) if n > 1 and last > first else None,
       "single_chunks": n}
for threads in (4, 8):
    counts = [0] * threads
    def work(i):
        counts[i] = complete(SUBJECTS[i % len(SUBJECTS)] + " is")
    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for t in pool: t.start()
    for t in pool: t.join()
    wall = time.perf_counter() - start
    out[f"aggregate_tps_{threads}"] = sum(counts) / wall
    out[f"tokens_{threads}"] = sum(counts)
print("BENCH " + json.dumps(out))
"""


def measure(python: Path, tokens: int, serialize: bool, n_parallel: int, env: dict) -> dict:
    r = subprocess.run([str(python), "-c", WORKER, str(MODEL), str(tokens), "1" if serialize else "0",
                        str(n_parallel)], capture_output=True, text=True, timeout=1800, env=env, cwd="/tmp")
    if r.returncode != 0:
        raise SystemExit(f"{python} failed:\n{r.stderr[-3000:]}")
    return json.loads(next(line for line in r.stdout.splitlines() if line.startswith("BENCH "))[6:])


def best(runs: list, key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return max(values) if values else None


def version(python: Path, module: str) -> str:
    r = subprocess.run([str(python), "-c", f"import importlib.metadata as m; print(m.version('{module}'))"],
                       capture_output=True, text=True, cwd="/tmp")
    return r.stdout.strip() or "?"


def table(results: dict, tokens: int, rounds: int) -> str:
    theirs, ours = results["llama-cpp-python"], results["ours"]
    rows = [("single request, decode tok/s", "single_decode_tps"), ("4 threads, aggregate tok/s", "aggregate_tps_4"),
            ("8 threads, aggregate tok/s", "aggregate_tps_8")]
    lines = [BEGIN, "## llama_cpp API: llama-cpp-python against ours (issue #21)", "",
             f"The same `Llama(...)` calls on {MODEL.name}: one instance, `n_ctx=512`, 2 threads, greedy, "
             f"{tokens} tokens per request; best of {rounds} alternating rounds, measured in one run of "
             "`make bench-llama-cpp` (`bench/llama_cpp_compat.py`). llama-cpp-python "
             f"{results['versions']['llama-cpp-python']} is built from PyPI's sdist with `GGML_NATIVE=ON` "
             "(`make bench-peers`); its `Llama` cannot take two calls at once, so its threads share a lock. "
             "Ours runs with `n_parallel=8` slots: the threads' requests decode together.", "",
             "| figure | llama-cpp-python | ours (llama_cpp on xllamacpp) | ours / theirs |", "| --- | ---: | ---: | ---: |"]
    for label, key in rows:
        a, b = best(theirs, key), best(ours, key)
        ratio = f"{b / a:.2f}×" if a and b else "n/a"
        lines.append(f"| {label} | {a:.1f} | {b:.1f} | {ratio} |" if a and b else f"| {label} | {a} | {b} | n/a |")
    lines += ["", f"Machine: {platform.machine()}, {os.cpu_count()} cores, shared with other work while measured "
              "(a contended machine: compare the columns, not the absolute figures).", END]
    return "\n".join(lines)


def write(section: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="put the table into docs/benchmarks.md")
    args = ap.parse_args()
    if not PEER_PYTHON.exists():
        raise SystemExit(f"{PEER_PYTHON} is missing: run `make bench-peers`")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    ours_env = {**env, "PYTHONPATH": str(ROOT / "llama_cpp_compat")}
    results: dict = {"llama-cpp-python": [], "ours": [],
                     "versions": {"llama-cpp-python": version(PEER_PYTHON, "llama-cpp-python")}}
    for i in range(args.rounds):
        results["llama-cpp-python"].append(measure(PEER_PYTHON, args.tokens, True, 0, env))
        results["ours"].append(measure(Path(sys.executable), args.tokens, False, 8, ours_env))
        print(f"round {i + 1}: theirs {results['llama-cpp-python'][-1]}, ours {results['ours'][-1]}", flush=True)
    section = table(results, args.tokens, args.rounds)
    print(section)
    if args.write:
        write(section)


if __name__ == "__main__":
    main()
