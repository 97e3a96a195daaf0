"""Prefill and decode speed of several libxlc builds, interleaved in one run.

    python bench/backends.py --name portable native=xllamacpp/lib/libxlc-cpu.so \
        portable=build/cpu-portable/libxlc-cpu.so
    python bench/backends.py --name cuda cpu=XLLAMACPP_BACKEND=cpu cuda=XLLAMACPP_BACKEND=cuda

Each system is a bench/worker.py process (the library picked by XLLAMACPP_LIB or
XLLAMACPP_BACKEND) holding the model; every repetition asks each of them in turn
for the same greedy request (~480-token prompt, 128 tokens), so machine noise
hits all alike. Figures are the server's own timings, medians over the
repetitions; ratios are to the first system. With --write, the table replaces
the section of that name in docs/benchmarks.md (bench/report.py keeps it).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = os.environ.get("BENCH_MODEL", str(ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"))
DOC = ROOT / "docs" / "benchmarks.md"
LONG_PROMPT = " ".join(f"Item {i}: the quick brown fox jumps over the lazy dog." for i in range(40))
REQUEST = {"prompt": LONG_PROMPT, "max_tokens": 128, "ignore_eos": True, "cache_prompt": False, "temperature": 0}
SETTLE_S = 0.2


class System:
    def __init__(self, name: str, spec: str, threads: int):
        self.name = name
        key, _, value = spec.partition("=")
        if key == "XLLAMACPP_BACKEND":
            env = {"XLLAMACPP_BACKEND": value}
        else:
            env = {"XLLAMACPP_LIB": str(Path(spec).resolve())}
        clean = {k: v for k, v in os.environ.items() if k not in ("XLLAMACPP_LIB", "XLLAMACPP_BACKEND")}
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "worker.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env={**clean, **env}, bufsize=1,
                                     cwd=str(ROOT / "bench"))
        self.ask(cmd="start", cfg={"model": MODEL, "n_ctx": 1024, "n_parallel": 1, "threads": threads})
        self.library = subprocess.run(
            [sys.executable, "-c", "import xllamacpp as x; c = x.library_choice; print(c.backend, c.cpu_variant)"],
            capture_output=True, text=True, env={**clean, **env}, check=True).stdout.strip()
        self.prefill: list = []
        self.decode: list = []

    def ask(self, **msg) -> dict:
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        out = json.loads(self.proc.stdout.readline())
        if "error" in out:
            raise RuntimeError(f"{self.name}: {out['error']}")
        return out

    def measure(self) -> None:
        t = self.ask(cmd="run", req=REQUEST)["timings"]
        self.prefill.append(t["prompt_per_second"])
        self.decode.append(t["predicted_per_second"])
        print(f"{self.name}: prefill {self.prefill[-1]:.1f} tok/s, decode {self.decode[-1]:.1f} tok/s", file=sys.stderr)

    def close(self) -> None:
        self.ask(cmd="stop")
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def table(name: str, systems: list, reps: int, seconds: float, threads: int, command: str) -> str:
    ref = systems[0]
    rows = []
    for label, attr in (("prefill (~480-token prompt), tok/s", "prefill"), ("decode (128 tokens), tok/s", "decode")):
        base = statistics.median(getattr(ref, attr))
        cells = []
        for s in systems:
            m = statistics.median(getattr(s, attr))
            cells.append(f"{m:.1f}" if s is ref else f"{m:.1f} ({m / base:.3f}×)")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    return "\n".join([
        f"<!-- bench/backends.py: {name} -->",
        f"### Backends: {name}",
        "",
        f"Measured {when} on {cpu_name()} ({os.cpu_count()} cores, load {load:.1f} at the end), "
        f"`{Path(MODEL).name}`, {threads} threads, greedy, `ignore_eos`; median of {reps} repetitions, "
        f"the systems interleaved. Command: `{command}` ({seconds:.0f} s).",
        "",
        "| metric | " + " | ".join(f"{s.name} ({s.library})" for s in systems) + " |",
        "| --- | " + " | ".join("---" for _ in systems) + " |",
        *rows,
        "",
        "Raw samples (prefill, decode tok/s): " + "; ".join(
            f"{s.name}: {[round(x, 1) for x in s.prefill]}, {[round(x, 1) for x in s.decode]}" for s in systems),
        f"<!-- /bench/backends.py: {name} -->",
    ])


def write_section(name: str, text: str) -> None:
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    begin, end = f"<!-- bench/backends.py: {name} -->", f"<!-- /bench/backends.py: {name} -->"
    if begin in doc and end in doc:
        doc = doc[:doc.index(begin)] + text + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    tmp = DOC.with_suffix(".md.tmp")
    tmp.write_text(doc)
    tmp.replace(DOC)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("systems", nargs="+", help="NAME=path/to/libxlc-x.so or NAME=XLLAMACPP_BACKEND=x; the first is the reference")
    ap.add_argument("--name", required=True, help="the comparison's name (its section in docs/benchmarks.md)")
    ap.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", "7")))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="put the table into docs/benchmarks.md")
    args = ap.parse_args()
    t0 = time.perf_counter()
    systems = [System(*spec.split("=", 1), threads=args.threads) for spec in args.systems]
    try:
        for s in systems:  # warm-up, not counted
            s.measure()
            s.prefill.clear()
            s.decode.clear()
        for _ in range(args.reps):
            for s in systems:
                time.sleep(SETTLE_S)
                s.measure()
    finally:
        for s in systems:
            s.close()
    command = "python bench/backends.py " + " ".join(sys.argv[1:])
    text = table(args.name, systems, args.reps, time.perf_counter() - t0, args.threads, command)
    print(text)
    if args.write:
        write_section(args.name, text)


if __name__ == "__main__":
    main()
