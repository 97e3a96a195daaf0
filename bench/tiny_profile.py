"""Where the tiny request's CPU time goes (n_predict = 1, a cached prompt), ours and llama-server's.

    .venv/bin/python bench/tiny_profile.py [--n 40] [--threads 1] [--systems ours,llama-server,llama-server--swa-full]

Each system serves the bench's tiny request (bench/run.py's TINY_REQ) with the bench's settings
(n_ctx 640, one slot, greedy, cache_ram 0) after three warm-up requests; `perf record` samples every
thread of the server's process at 999 Hz (CPU time: a sample is taken only while a thread runs, so
machine load does not inflate the figures) while it answers --n of them. Each sample is filed under
the innermost named part on its stack:

  decode    llama_decode: the model's graph, the one step the request cannot do without
  sampling  the sampler chain: set-up per request and the sampling over the vocabulary
  prompt    tokenizing and the prompt-cache logic (common prefix, checkpoints)
  format    llama-server's result and JSON work (to_json, the task's result, params from the body)
  http      llama-server's HTTP server (ours in-process has none)
  facade    our C facade
  python    the interpreter, cffi and JSON decoding
  kernel    thread wake-ups and system calls
  other     the rest (the loop's queue, allocator, libc)

and prints CPU ms per request per part, and the request's prompt_n. One thread (--threads 1) keeps
ggml's OpenMP team from spinning, so every sample is work.
"""
from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from run import LLAMA_SERVER, MODEL, TINY_REQ  # noqa: E402
from stream_profile import parse  # noqa: E402

PARTS = {  # the innermost frame naming one of these owns the sample
    "decode": ("llama_decode", "llama_context::decode", "ggml_graph_compute", "ggml_compute_forward"),
    "sampling": ("common_sampler", "llama_sampler", "llama_token_data_array"),
    "prompt": ("tokenize", "get_common_prefix", "server_tokens", "checkpoint", "llama_memory_seq"),
    "format": ("to_json", "server_task_result", "params_from_json", "format_", "safe_json_to_str",
               "nlohmann", "oaicompat", "completion_token_output", "tokens_to_str"),
    "http": ("httplib",),
    "facade": ("xlc_",),
    "python": ("libpython", "_PyEval", "_cffi_backend", "orjson"),
}
KERNEL = ("[kernel", "futex", "__schedule", "syscall", "entry_SYSCALL")
ORDER = ["decode", "sampling", "prompt", "format", "http", "facade", "python", "kernel", "other"]

OURS = r"""
import sys, time, xllamacpp as xlc, json
n, threads, model, req = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
p = xlc.CommonParams()
p.model.path = model; p.n_ctx = 640; p.n_parallel = 1; p.port = -1
p.cpuparams.n_threads = threads; p.cpuparams_batch.n_threads = threads
p.sampling.temp = 0.0; p.sampling.top_k = 1; p.cache_ram_mib = 0
s = xlc.Server(p)
for _ in range(3):
    s.handle_completions(req)
t0 = time.clock_gettime(time.CLOCK_MONOTONIC)
walls, prompt_n = [], []
for _ in range(n):
    t = time.perf_counter()
    r = s.handle_completions(req)
    walls.append(time.perf_counter() - t)
    prompt_n.append(r["timings"]["prompt_n"])
t1 = time.clock_gettime(time.CLOCK_MONOTONIC)
print(json.dumps({"window": [t0, t1], "walls": walls, "prompt_n": prompt_n}), flush=True)
s.close()
"""


def part(frames: list, dsos: list) -> str:
    leaf = (frames[0] + " " + dsos[0]) if frames else ""
    if any(k in leaf for k in KERNEL):
        return "kernel"
    for f, d in zip(frames, dsos):
        for name, keys in PARTS.items():
            if any(k in f or (name == "python" and k in d) for k in keys):
                return name
    return "other"


def tally(data: str, t0: float, t1: float) -> collections.Counter:
    script = subprocess.run(["perf", "script", "-i", data, "-F", "tid,time,ip,sym,dso"], capture_output=True,
                            text=True).stdout
    counts: collections.Counter = collections.Counter()
    for _tid, t, frames, dsos in parse(script):
        if t0 <= t <= t1:
            counts[part(frames, dsos)] += 1
    return counts


def perf_cmd(data: str) -> list:
    return ["perf", "record", "-q", "-k", "CLOCK_MONOTONIC", "-F", "999", "--call-graph", "dwarf,16384", "-o", data]


def profile_ours(n: int, threads: int, tmp: str):
    import json

    data = os.path.join(tmp, "ours.data")
    cmd = perf_cmd(data) + ["--", sys.executable, "-c", OURS, str(n), str(threads), MODEL, json.dumps(TINY_REQ)]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    line = next((ln for ln in run.stdout.splitlines() if ln.startswith("{")), None)
    if run.returncode != 0 or line is None:
        raise RuntimeError(run.stderr[-2000:])
    out = json.loads(line)
    return tally(data, *out["window"]), out["walls"], out["prompt_n"]


def profile_llama_server(n: int, threads: int, tmp: str, extra: tuple = ()):
    port = 18000 + os.getpid() % 1000
    argv = [str(LLAMA_SERVER), "-m", MODEL, "-c", "640", "-np", "1", "-t", str(threads), "-tb", str(threads),
            "--temp", "0", "--top-k", "1", "--cache-ram", "0", "--host", "127.0.0.1", "--port", str(port), *extra]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if requests.get(base + "/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        http = requests.Session()
        for _ in range(3):
            http.post(base + "/v1/completions", json=TINY_REQ).raise_for_status()
        data = os.path.join(tmp, "llama-server.data")
        rec = subprocess.Popen(perf_cmd(data) + ["-p", str(server.pid)], stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # perf attaches
        t0 = time.clock_gettime(time.CLOCK_MONOTONIC)
        walls, prompt_n = [], []
        for _ in range(n):
            t = time.perf_counter()
            r = http.post(base + "/v1/completions", json=TINY_REQ).json()
            walls.append(time.perf_counter() - t)
            prompt_n.append(r["timings"]["prompt_n"])
        t1 = time.clock_gettime(time.CLOCK_MONOTONIC)
        rec.send_signal(signal.SIGINT)
        rec.wait(timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=60)
    return tally(data, t0, t1), walls, prompt_n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--systems", default="ours,llama-server,llama-server--swa-full")
    args = ap.parse_args()
    runners = {"ours": profile_ours, "llama-server": profile_llama_server,
               "llama-server--swa-full": lambda n, t, tmp: profile_llama_server(n, t, tmp, ("--swa-full",))}
    print(f"tiny request {TINY_REQ}, {args.n} requests, {args.threads} thread(s), perf at 999 Hz, "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"{'system':<24}" + "".join(f"{k:>9}" for k in ORDER) + f"{'total':>9}  CPU ms per request; prompt_n; wall ms")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.systems.split(","):
            counts, walls, prompt_n = runners[name](args.n, args.threads, tmp)
            ms = {k: v * 1000 / 999 / args.n for k, v in counts.items()}
            walls.sort()
            print(f"{name:<24}" + "".join(f"{ms.get(k, 0):>9.2f}" for k in ORDER) + f"{sum(ms.values()):>9.2f}"
                  f"  {sorted(set(prompt_n))}; min {walls[0] * 1000:.1f} median {walls[len(walls) // 2] * 1000:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
