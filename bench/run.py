"""`make bench`: the same workload through xllamacpp in-process, xllamacpp over
HTTP and llama-server built from the same vendored tree, interleaved in one run;
with BENCH_PEERS=1 also upstream's xllamacpp wheel and llama-cpp-python's server.

Streaming is measured in wall time and in the CPU time of the serving process
(all its threads, ns resolution), each streamed form paired with an unstreamed
request in alternating order: the callback, and for xllamacpp the iterator and
asyncio forms; over HTTP, a streaming client.

Writes docs/benchmarks.json, docs/benchmarks.md and the charts beside them.
"""
from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

from concurrent_clients import timed_in_threads

ROOT = Path(__file__).resolve().parents[1]
MODEL = os.environ.get("BENCH_MODEL", str(ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"))
LLAMA_SERVER = ROOT / "build" / "cpu" / "bin" / "llama-server"
PEERS = ROOT / "bench" / "peers"
# upstream's wheel: `make bench-peers` installs it under bench/peers; a venv already made elsewhere serves too
UPSTREAM_PYTHONS = [PEERS / "xllamacpp-upstream" / "bin" / "python",
                    Path.home() / ".cache" / "xllamacpp" / "upstream-2026.10.11549" / "bin" / "python",
                    Path.home() / ".cache" / "xllamacpp" / "upstream-venv" / "bin" / "python"]
THREADS = 2
REPS = int(os.environ.get("BENCH_REPS", "5"))
SETTLE_S = 0.2  # between systems: the last one's threads stop spinning before the next is timed
PAIRS = int(os.environ.get("BENCH_PAIRS", "20"))
CONCURRENCY = [1, 2, 4, 8]
STREAMS = 16  # concurrent streams: asyncio on one loop where the package has it, else a thread each

# ~480 tokens of prompt for prefill; greedy, fixed length generations
LONG_PROMPT = " ".join(f"Item {i}: the quick brown fox jumps over the lazy dog." for i in range(40))
PREFILL_REQ = {"prompt": LONG_PROMPT, "max_tokens": 128, "ignore_eos": True, "cache_prompt": False, "temperature": 0}
TINY_REQ = {"prompt": "Hello there, how are", "max_tokens": 1, "cache_prompt": True, "temperature": 0}
STREAM_REQ = {"prompt": "Write a long story about a dragon.", "max_tokens": 128, "ignore_eos": True,
              "cache_prompt": True, "temperature": 0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def median(xs):
    return statistics.median(xs) if xs else None


def process_cpu(pid: int) -> float:
    """CPU seconds of every live thread of a process, from the scheduler's ns counters."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


# --- systems -------------------------------------------------------------------


class Worker:
    """An in-process xllamacpp in its own Python process (bench/worker.py)."""

    def __init__(self, python: str, env: dict):
        self.proc = subprocess.Popen([python, str(ROOT / "bench" / "worker.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env={**os.environ, **env}, bufsize=1)

    def ask(self, **msg) -> dict:
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        out = json.loads(self.proc.stdout.readline())
        if "error" in out:
            raise RuntimeError(out["error"])
        return out

    def close(self) -> None:
        try:
            self.ask(cmd="stop")
        finally:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


class InProcess:
    kind = "in-process"

    def __init__(self, name: str, python: str, env: dict):
        self.name, self.python, self.env = name, python, env
        self.worker = None
        self.address = ""
        self.modes = ["unstreamed", "streamed"]

    def start(self, n_parallel: int) -> dict:
        self.worker = Worker(self.python, self.env)
        cfg = {"model": MODEL, "n_ctx": 640 * n_parallel, "n_parallel": n_parallel, "threads": THREADS}
        info = self.worker.ask(cmd="start", cfg=cfg)
        self.address = info["address"]
        self.modes = info.get("modes", self.modes)
        return info

    def run(self, req: dict, mode: str = "unstreamed") -> dict:
        return self.worker.ask(cmd="run", req=req, mode=mode)

    def concurrent(self, reqs: list) -> dict:
        return self.worker.ask(cmd="concurrent", reqs=reqs)

    def concurrent_streams(self, reqs: list) -> dict:
        return self.worker.ask(cmd="concurrent_streams", reqs=reqs)

    def peak_rss(self) -> float:
        return self.worker.ask(cmd="rss")["peak_rss_mib"]

    def stop(self) -> None:
        self.worker.close()


class Http:
    kind = "http"
    path = "/v1/completions"
    modes = ["unstreamed", "streamed"]

    def __init__(self, name: str):
        self.name = name
        self.base = ""
        self.session = requests.Session()

    def pid(self) -> int:
        raise NotImplementedError

    def run(self, req: dict, mode: str = "unstreamed") -> dict:
        stream = mode != "unstreamed"
        cpu = process_cpu(self.pid())
        try:
            out = self._run(req, stream)
        except requests.ConnectionError:  # a keep-alive connection the server timed out; once more, fresh
            self.session = requests.Session()
            cpu = process_cpu(self.pid())
            out = self._run(req, stream)
        out["cpu"] = process_cpu(self.pid()) - cpu
        return out

    def _run(self, req: dict, stream: bool) -> dict:
        body = dict(req, stream=stream)
        t = time.perf_counter()
        if not stream:
            r = self.session.post(self.base + self.path, json=body, timeout=600)
            wall = time.perf_counter() - t
            data = r.json()
            if r.status_code != 200:
                raise RuntimeError(data)
            return {"wall": wall, "timings": data.get("timings", {}), "tokens": data["usage"]["completion_tokens"]}
        timings, chunks = {}, 0
        with self.session.post(self.base + self.path, json=body, stream=True, timeout=600) as r:
            for line in r.iter_lines():
                if line.startswith(b"data: ") and line != b"data: [DONE]":
                    chunks += 1
                    event = json.loads(line[6:])
                    timings = event.get("timings") or timings
        return {"wall": time.perf_counter() - t, "timings": timings, "chunks": chunks}

    def concurrent(self, reqs: list) -> dict:
        tokens = [0] * len(reqs)

        def go(i):
            with requests.Session() as s:
                r = s.post(self.base + self.path, json=dict(reqs[i], stream=False), timeout=600)
                tokens[i] = r.json()["usage"]["completion_tokens"]

        return {"wall": timed_in_threads(go, len(reqs)), "tokens": sum(tokens)}

    def concurrent_streams(self, reqs: list) -> dict:
        counts = [0] * len(reqs)

        def go(i):
            with requests.Session() as s:
                with s.post(self.base + self.path, json=dict(reqs[i], stream=True), stream=True, timeout=600) as r:
                    for line in r.iter_lines():
                        if line.startswith(b"data: ") and line != b"data: [DONE]":
                            if json.loads(line[6:])["choices"][0].get("text"):
                                counts[i] += 1

        return {"wall": timed_in_threads(go, len(reqs)), "tokens": sum(counts), "form": "http"}


class OverHttp(Http):
    """xllamacpp's own HTTP port, served by an InProcess system's worker."""

    def __init__(self, name: str, host: InProcess):
        super().__init__(name)
        self.host = host

    def start(self, n_parallel: int) -> dict:
        self.base = self.host.address
        return {}

    def pid(self) -> int:
        return self.host.worker.proc.pid

    def peak_rss(self) -> float:
        return self.host.peak_rss()

    def stop(self) -> None:
        pass


class Subprocess(Http):
    """A server binary or module on its own port."""

    def __init__(self, name: str, argv_for, ready_path: str = "/health"):
        super().__init__(name)
        self.argv_for = argv_for
        self.ready_path = ready_path  # answers 200 once the model is loaded
        self.proc = None

    def start(self, n_parallel: int) -> dict:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        t = time.perf_counter()
        self.proc = subprocess.Popen(self.argv_for(n_parallel, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            try:
                if requests.get(self.base + self.ready_path, timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            if time.perf_counter() - t > 300:
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.05)
        return {"load_s": time.perf_counter() - t}

    def pid(self) -> int:
        return self.proc.pid

    def peak_rss(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def llama_server_argv(n_parallel: int, port: int) -> list:
    return [str(LLAMA_SERVER), "-m", MODEL, "-c", str(640 * n_parallel), "-np", str(n_parallel), "-t", str(THREADS),
            "-tb", str(THREADS), "--temp", "0", "--top-k", "1", "--cache-ram", "0", "--metrics",
            "--host", "127.0.0.1", "--port", str(port)]


def lcp_argv(n_parallel: int, port: int) -> list:
    py = PEERS / "llama-cpp-python" / "bin" / "python"
    return [str(py), "-m", "llama_cpp.server", "--model", MODEL, "--n_ctx", str(640 * n_parallel),
            "--n_threads", str(THREADS), "--n_threads_batch", str(THREADS), "--host", "127.0.0.1", "--port", str(port)]


def upstream_python():
    return next((py for py in UPSTREAM_PYTHONS if py.exists()), None)


def systems() -> list:
    ours = InProcess("xllamacpp in-process", sys.executable, {"PYTHONPATH": str(ROOT)})
    out = [ours, OverHttp("xllamacpp HTTP", ours), Subprocess("llama-server", llama_server_argv)]
    if os.environ.get("BENCH_PEERS") == "1":
        up = upstream_python()
        lcp = PEERS / "llama-cpp-python" / "bin" / "python"
        if up is not None:
            out.append(InProcess("upstream xllamacpp in-process", str(up), {"PYTHONPATH": ""}))
        if lcp.exists():
            out.append(Subprocess("llama-cpp-python server", lcp_argv, ready_path="/v1/models"))
    return out


# --- workload ------------------------------------------------------------------


def started(system_list, n_parallel: int, record: dict):
    for s in system_list:
        info = s.start(n_parallel)
        for key in ("load_s", "import_s"):
            if key in info:
                record.setdefault(s.name, {}).setdefault(key, []).append(info[key])


def stopped(system_list, record: dict):
    for s in system_list:
        record.setdefault(s.name, {}).setdefault("peak_rss_mib", []).append(s.peak_rss())
    for s in system_list:
        s.stop()


def attempt(results: dict, system, workload: str, fn):
    """Runs one measurement; a system that fails a workload is noted and left out of the rest of it."""
    failed = results.setdefault(system.name, {}).setdefault("errors", {})
    if workload in failed:
        return None
    time.sleep(SETTLE_S)
    try:
        return fn()
    except Exception as e:  # a peer's bug must not end the whole run
        failed[workload] = str(e)[:300]
        print(f"{system.name}: {workload} failed: {failed[workload]}", file=sys.stderr)
        return None


def single_stream(system_list, results: dict) -> None:
    for s in system_list:  # warm-up
        attempt(results, s, "prefill", lambda: s.run(dict(PREFILL_REQ, max_tokens=8)))
    for _ in range(REPS):
        for s in system_list:
            r = attempt(results, s, "prefill", lambda: s.run(PREFILL_REQ))
            if r is None:
                continue
            t = r["timings"]
            rec = results[s.name]
            if t:
                rec.setdefault("prefill_tps", []).append(t["prompt_per_second"])
                rec.setdefault("decode_tps", []).append(t["predicted_per_second"])
                rec.setdefault("prompt_tokens", []).append(t["prompt_n"])
            rec.setdefault("request_tps", []).append(r.get("tokens", 128) / r["wall"])
    for s in system_list:
        attempt(results, s, "tiny", lambda: s.run(TINY_REQ))
    for _ in range(30):
        for s in system_list:
            r = attempt(results, s, "tiny", lambda: s.run(TINY_REQ))
            if r is not None:
                results[s.name].setdefault("tiny_ms", []).append(r["wall"] * 1000)
    for s in system_list:
        attempt(results, s, "stream", lambda: [s.run(STREAM_REQ, mode=m) for m in s.modes])
    for i in range(PAIRS):
        for s in system_list:
            modes = s.modes  # "unstreamed" first; the order rotates from round to round
            order = modes[i % len(modes):] + modes[:i % len(modes)]
            runs = attempt(results, s, "stream", lambda: {m: s.run(STREAM_REQ, mode=m) for m in order})
            if runs is None:
                continue
            rec, base = results[s.name], runs["unstreamed"]
            for m in modes[1:]:
                key = "stream" if m == "streamed" else m
                rec.setdefault(f"{key}_overhead_pct", []).append((runs[m]["wall"] / base["wall"] - 1) * 100)
                rec.setdefault(f"{key}_overhead_cpu_pct", []).append((runs[m]["cpu"] / base["cpu"] - 1) * 100)
            one = runs.get("async") or runs["streamed"]  # the asyncio form where there is one
            rec.setdefault("stream_tps_1", []).append(STREAM_REQ["max_tokens"] / one["wall"])


def concurrency(system_list, n: int, results: dict) -> None:
    reqs = [{"prompt": f"Tell story number {i} about a cat named {chr(65 + i)}.", "max_tokens": 64,
             "ignore_eos": True, "temperature": 0} for i in range(n)]
    key = f"concurrency_{n}"
    for s in system_list:
        attempt(results, s, key, lambda: s.concurrent(reqs))  # warm-up
    for _ in range(REPS):
        for s in system_list:
            r = attempt(results, s, key, lambda: s.concurrent(reqs))
            if r is not None:
                results[s.name].setdefault(f"aggregate_tps_{n}", []).append(r["tokens"] / r["wall"])


def streams(system_list, results: dict) -> None:
    """STREAMS concurrent streamed requests of 64 tokens, n_parallel = STREAMS."""
    reqs = [{"prompt": f"Tell story number {i} about a cat named {chr(65 + i)}.", "max_tokens": 64,
             "ignore_eos": True, "temperature": 0} for i in range(STREAMS)]
    key = f"streams_{STREAMS}"
    for s in system_list:
        attempt(results, s, key, lambda: s.concurrent_streams(reqs))  # warm-up
    for _ in range(REPS):
        for s in system_list:
            r = attempt(results, s, key, lambda: s.concurrent_streams(reqs))
            if r is not None:
                results[s.name].setdefault(f"stream_tps_{STREAMS}", []).append(r["tokens"] / r["wall"])
                results[s.name]["streams_form"] = r.get("form", "")


def import_time(python: str = sys.executable, pythonpath: str = str(ROOT)) -> list:
    out = []
    for _ in range(9):
        # from / so that the working directory (a checkout) cannot shadow the package asked for
        r = subprocess.run([python, "-X", "importtime", "-c", "import xllamacpp"], capture_output=True,
                           text=True, env={**os.environ, "PYTHONPATH": pythonpath}, check=True, cwd="/")
        last = [line for line in r.stderr.splitlines() if line.rstrip().endswith("| xllamacpp")]
        out.append(int(last[-1].split("|")[1]) / 1e6)
    return out


def main() -> int:
    if not LLAMA_SERVER.exists():
        print(f"build llama-server first: {LLAMA_SERVER}", file=sys.stderr)
        return 2
    t_start = time.time()
    load_at_start = os.getloadavg()
    raw: dict = {}
    sys_list = systems()
    started(sys_list, 1, raw)
    single_stream(sys_list, raw)
    concurrency(sys_list, 1, raw)
    stopped(sys_list, raw)
    for n in CONCURRENCY[1:]:
        started(sys_list, n, raw)
        concurrency(sys_list, n, raw)
        stopped(sys_list, raw)
    started(sys_list, STREAMS, raw)
    streams(sys_list, raw)
    stopped(sys_list, raw)
    raw["xllamacpp in-process"]["cumulative_import_s"] = import_time()
    raw["xllamacpp in-process"]["import_ms"] = [t * 1000 for t in raw["xllamacpp in-process"]["cumulative_import_s"]]
    up = upstream_python()
    if "upstream xllamacpp in-process" in raw and up is not None:
        raw["upstream xllamacpp in-process"]["import_ms"] = [t * 1000 for t in import_time(str(up), "")]

    summary = {name: {k: median(v) if isinstance(v, list) else v for k, v in rec.items() if k != "errors"}
               for name, rec in raw.items()}
    load = os.getloadavg()
    errors = {name: rec["errors"] for name, rec in raw.items() if rec.get("errors")}
    doc = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "command": "make bench" + (" (BENCH_PEERS=1)" if os.environ.get("BENCH_PEERS") == "1" else ""),
        "model": Path(MODEL).name, "threads": THREADS, "reps": REPS, "pairs": PAIRS, "streams": STREAMS,
        "load_at_start": list(load_at_start), "load_at_end": list(load),
        "duration_s": round(time.time() - t_start, 1),
        "median": summary, "errors": errors, "raw": raw,
    }
    out = ROOT / "docs" / "benchmarks.json"
    out.write_text(json.dumps(doc, indent=1) + "\n")
    from report import write_report

    write_report(doc, ROOT / "docs")
    print(json.dumps(summary, indent=1))
    print(f"bench took {doc['duration_s']} s")
    return 0


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
