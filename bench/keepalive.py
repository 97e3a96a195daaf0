"""Keep-alive under load, no retries: xllamacpp beside llama-server from the same vendored tree.

32 threads on raw http.client connections, each reused across streamed and unstreamed
requests (OpenAI chat, /completion, /v1/embeddings on the model kit's embedder); a request
that fails is counted, never retried (tests/keepalive_load.py). Then what the facade's
`Connection: close` on streamed answers costs: GET /health on a new connection against a
reused one, on loopback.

    make bench-keepalive        # builds llama-server first
    .venv/bin/python bench/keepalive.py [--requests 1000] [--threads 32]
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import modelkit  # noqa: E402
import xllamacpp as xlc  # noqa: E402
from keepalive_load import reconnect_cost, run_load  # noqa: E402

LLAMA_SERVER = ROOT / "build" / "cpu" / "bin" / "llama-server"
MODEL = ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
CHAT = dict(n_parallel=8, n_ctx=4096)
EMBED = dict(n_parallel=4, n_ctx=512, n_batch=128, n_ubatch=128)


def params(model: str, embedding: bool, **fields) -> xlc.CommonParams:
    p = xlc.CommonParams()
    p.model.path = model
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = 2
    p.warmup = False
    p.embedding = embedding
    for k, v in fields.items():
        setattr(p, k, v)
    return p


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def llama_server(model: str, embedding: bool, fields: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    argv = [str(LLAMA_SERVER), "-m", model, "--host", "127.0.0.1", "--port", str(port), "-t", "2", "-tb", "2",
            "--no-warmup", "-np", str(fields["n_parallel"]), "-c", str(fields["n_ctx"]),
            # the facade's 64 fixed HTTP workers: with llama-server's default (n_parallel + 4), 32 keep-alive
            # clients queue behind idle connections (docs/reliability.md), and only the drops are compared here
            "--threads-http", "64"]
    if embedding:
        argv += ["--embeddings", "-b", str(fields["n_batch"]), "-ub", str(fields["n_ubatch"])]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.1)
        if proc.poll() is not None:
            raise RuntimeError(f"llama-server exited with {proc.returncode}")
    raise RuntimeError("llama-server did not start")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=60, help="seconds a request may wait for its answer")
    args = ap.parse_args()
    if not LLAMA_SERVER.exists():
        print(f"build llama-server first: {LLAMA_SERVER}", file=sys.stderr)
        return 2
    embedder = modelkit.path("embedding")
    rows = []
    with xlc.Server(params(str(MODEL), False, **CHAT)) as chat, xlc.Server(params(embedder, True, **EMBED)) as emb:
        r = run_load(chat.listening_address, emb.listening_address, args.requests, args.threads, args.timeout)
        rows.append(("xllamacpp", r, reconnect_cost(chat.listening_address)))
    procs = []
    try:
        chat_proc, chat_url = llama_server(str(MODEL), False, CHAT)
        procs.append(chat_proc)
        emb_proc, emb_url = llama_server(embedder, True, EMBED)
        procs.append(emb_proc)
        r = run_load(chat_url, emb_url, args.requests, args.threads, args.timeout)
        rows.append(("llama-server", r, reconnect_cost(chat_url)))
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=60)
    print(f"{args.requests} requests, {args.threads} threads, raw http.client, no retries, {args.timeout:g} s timeout "
          f"({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
    print(f"{'server':<14}{'errors':>8}{'connections':>13}{'wall s':>8}  "
          f"{'GET /health reused / new connection (us)':>42}  error kinds")
    for name, r, cost in rows:
        print(f"{name:<14}{r['errors']:>8}{r['connections_opened']:>13}{r['wall_s']:>8}  "
              f"{cost['reused_us']:>20} / {cost['fresh_us']:<19}  {r['error_kinds']}")
    return 0 if rows[0][1]["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
