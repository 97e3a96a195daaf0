"""Where a streamed token's CPU time goes, layer by layer, from `perf record` call graphs.

    .venv/bin/python bench/stream_profile.py [--n 12] [--tokens 128] [--modes unstreamed,callback,iterator,async]

Runs bench/stream_cost.py --only MODE under `perf record --call-graph dwarf` (one thread, so that no
OpenMP team spins and every sample is work), then files each sample of the request phase under a layer
by the frames on its stack:

  loop      the server loop thread making and queueing each token's result (send_partial_response, ...)
  handler   llama-server's route code reading and formatting results (server_response_reader::next,
            to_json, format_oai_sse, the chat-message diff it computes for every token)
  facade    our C: splitting server-sent events, the callback call, xlc_request's queue
  python    the interpreter: cffi's callback or call, JSON decoding, the iterator or the event loop
  kernel    waking and switching threads (futex, scheduler, the asyncio descriptor)

and prints CPU microseconds per token for each layer and mode, and the difference to unstreamed.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HANDLER = ("server_response_reader::next", "server_task_result", "format_oai_sse", "format_anthropic_sse",
           "update_chat_msg", "common_chat_parse", "safe_json_to_str", "server_res_generator",
           "std::_Function_handler<bool (std::__cxx11::basic_string", "handle_completions_impl",
           "server_response::recv")
LOOP = ("send_partial_response", "send_final_response", "server_response::send", "process_token",
        "completion_token_output", "populate_token_probs")
FACADE = ("sse_splitter", "xlc_request", "on_event", "(anonymous namespace)::run", "xlc_server_handle")
PYTHON = ("libpython", "_PyEval", "invoke_callback", "orjson", "_cffi_backend", "cdata_call", "b_unpack",
          "PyObject", "python3")
KERNEL = ("[kernel", "futex", "__schedule", "schedule", "syscall", "entry_SYSCALL", "do_epoll", "pipe_")


def parse(script: str):
    """(tid, time, frames leaf first, dsos) of each sample in `perf script -F tid,time,ip,sym,dso` text."""
    head, frames, dsos = None, [], []
    for line in script.splitlines():
        if not line.strip():
            if head is not None:
                yield head[0], head[1], frames, dsos
            head, frames, dsos = None, [], []
            continue
        if not line.startswith("\t"):  # a sample's header: "  TID  TIME:"; its frames follow, tab-indented
            m = re.match(r"\s*(\d+)\s+([\d.]+):", line)
            head = (int(m.group(1)), float(m.group(2))) if m else None
            continue
        m = re.match(r"\s*[0-9a-f]+ (.+?) \((.*)\)$", line.rstrip())
        if m:
            frames.append(re.sub(r"\+0x[0-9a-f]+$", "", m.group(1)))
            dsos.append(m.group(2))
    if head is not None:
        yield head[0], head[1], frames, dsos


def layer(frames: list, dsos: list, is_loop: bool):
    """The layer a sample's work belongs to; None for the loop thread's decoding."""
    stack = " | ".join(frames)
    if is_loop:
        return "loop" if any(k in stack for k in LOOP) else None
    leaf = frames[0] + " " + (dsos[0] if dsos else "") if frames else ""
    if any(k in leaf for k in KERNEL):
        return "kernel"
    # the innermost named layer on the stack owns the sample
    for f, d in zip(frames, dsos):
        if any(k in f for k in HANDLER):
            return "handler"
        if any(k in f for k in FACADE):
            return "facade"
        if any(k in f or k in d for k in PYTHON):
            return "python"
    return "facade" if "xlc_" in stack else "python"


def profile(mode: str, n: int, tokens: int, freq: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "perf.data")
        cmd = ["perf", "record", "-q", "-k", "CLOCK_MONOTONIC", "-F", str(freq), "--call-graph", "dwarf,16384",
               "-o", data, "--",
               sys.executable, str(ROOT / "bench" / "stream_cost.py"), "--only", mode, "--n", str(n),
               "--tokens", str(tokens), "--threads", "1"]
        run = subprocess.run(cmd, capture_output=True, text=True)
        ids = re.search(r"pid (\d+) caller (\d+) loop \[(\d+)\]", run.stderr)
        window = re.search(r"window ([\d.]+) ([\d.]+)", run.stderr)
        if run.returncode != 0 or not ids or not window:
            raise RuntimeError(f"{mode}: {run.stderr[-2000:]}")
        loop_tid = int(ids.group(3))
        t0, t1 = float(window.group(1)), float(window.group(2))
        script = subprocess.run(["perf", "script", "-i", data, "-F", "tid,time,ip,sym,dso"], capture_output=True,
                                text=True).stdout
    counts: collections.Counter = collections.Counter()
    for tid, t, frames, dsos in parse(script):
        if not t0 <= t <= t1:
            continue
        name = layer(frames, dsos, tid == loop_tid)
        if name:
            counts[name] += 1
    per_token = 1e6 / freq / (n * tokens)  # us of CPU per sample per token
    return {k: v * per_token for k, v in counts.items()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--freq", type=int, default=999)
    ap.add_argument("--modes", default="unstreamed,callback,iterator,async")
    args = ap.parse_args()
    layers = ["loop", "handler", "facade", "python", "kernel"]
    results = {m: profile(m, args.n, args.tokens, args.freq) for m in args.modes.split(",")}
    print(f"CPU us per token, {args.n} requests x {args.tokens} tokens each, 1 thread, perf at {args.freq} Hz, "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"{'mode':<12}" + "".join(f"{k:>10}" for k in layers) + f"{'total':>10}")
    base = results.get("unstreamed", {})
    for m, r in results.items():
        print(f"{m:<12}" + "".join(f"{r.get(k, 0):>10.1f}" for k in layers) + f"{sum(r.values()):>10.1f}")
    if base:
        print("minus unstreamed")
        for m, r in results.items():
            if m == "unstreamed":
                continue
            d = {k: r.get(k, 0) - base.get(k, 0) for k in layers}
            print(f"{m:<12}" + "".join(f"{d[k]:>10.1f}" for k in layers) + f"{sum(d.values()):>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
