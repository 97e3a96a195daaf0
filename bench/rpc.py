"""`make bench-rpc`: one model, local and split across RPC servers on this machine, interleaved.

Loopback RPC measures the protocol's cost (every graph crosses a TCP socket,
every layer's output comes back), not a speed-up: the RPC servers compute on
the same CPU cores as the local model. Prints a Markdown table of prompt and
generation speed, median over BENCH_REPS rounds, local and RPC alternating.
"""
from __future__ import annotations

import os
import platform
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import xllamacpp as xlc  # noqa: E402

MODEL = os.environ.get("BENCH_MODEL", str(ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"))
REPS = int(os.environ.get("BENCH_REPS", "5"))
# one thread a process by default: on a shared machine, OpenMP teams of several threads in three
# processes take turns badly, and that, not the transport, would be measured
THREADS = int(os.environ.get("BENCH_THREADS", "1"))
PROMPT = " ".join(f"Item {i}: the quick brown fox jumps over the lazy dog." for i in range(10))
REQUEST = {"prompt": PROMPT, "n_predict": 64, "ignore_eos": True, "cache_prompt": False, "temperature": 0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def params(rpc_servers: str = ""):
    p = xlc.CommonParams()
    p.model.path = MODEL
    p.n_ctx = 1024
    p.port = -1
    p.warmup = False
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = THREADS
    # the RPC servers compute with plain CPU buffers; the local model does too, so that the
    # two differ only by the transport
    p.no_extra_bufts = True
    if rpc_servers:
        p.rpc_servers = rpc_servers
    return p


def measure(server) -> tuple:
    t = server.handle("POST", "/completion", REQUEST)["timings"]
    return t["prompt_per_second"], t["predicted_per_second"], t["prompt_n"]


def main() -> None:
    rows = {}
    with xlc.RpcServer(port=free_port(), threads=THREADS) as a:
        systems = {
            "local": xlc.Server(params()),
            "RPC, 1 server": xlc.Server(params(a.endpoint), isolated=False),
        }
        # a server serves one client at a time: the two-server model gets servers of its own
        with xlc.RpcServer(port=free_port(), threads=THREADS) as c, \
                xlc.RpcServer(port=free_port(), threads=THREADS) as d:
            systems["RPC, 2 servers"] = xlc.Server(params(f"{c.endpoint},{d.endpoint}"), isolated=False)
            for server in systems.values():
                measure(server)  # warm-up round, not counted
            results = {name: [] for name in systems}
            for _ in range(REPS):
                for name, server in systems.items():
                    time.sleep(0.2)  # the last system's threads stop spinning
                    results[name].append(measure(server))
            for server in systems.values():
                server.close()
        for name, runs in results.items():
            rows[name] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
        prompt_n = results["local"][0][2]

    local_gen = rows["local"][1]
    load = os.getloadavg()[0]
    print(f"{platform.machine()}, {os.cpu_count()} cores (load average {load:.1f} at the end); {Path(MODEL).name}; "
          f"{THREADS} thread(s) per process; {prompt_n} prompt tokens, 64 generated; median of {REPS}, interleaved\n")
    print("| system | prompt tok/s | generation tok/s | generation vs local |")
    print("| --- | ---: | ---: | ---: |")
    for name, (prompt, gen) in rows.items():
        print(f"| {name} | {prompt:.1f} | {gen:.1f} | {gen / local_gen:.2f}x |")


if __name__ == "__main__":
    main()
