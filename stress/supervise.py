"""Runs cases in child processes (stress/child.py): a crash or a hang costs one case, not the run."""
from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _signal_name(returncode: int) -> str:
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit {returncode}"


def run_cases(module: str, runner: str, cases: list, timeout: float, memory_gib: float = 0,
              python: str = sys.executable, progress=None) -> list:
    """Runs every case; returns one outcome dict per case, in order.

    An outcome is what the runner returned, or {"outcome": "crash", "detail": "SIGABRT"}
    when the child died in the case, or {"outcome": "hang"} when it ran past `timeout`.
    """
    results: dict = {}
    pending = list(cases)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HERE) + os.pathsep + env.get("PYTHONPATH", "")
    while pending:
        spec = {"module": module, "runner": runner, "cases": pending, "memory_gib": memory_gib}
        proc = subprocess.Popen([python, str(HERE / "child.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=env)
        proc.stdin.write(json.dumps(spec).encode())
        proc.stdin.close()
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        buffer = b""
        current = None
        started = time.monotonic()  # of the current case, or of the last sign of life between cases
        while True:
            deadline = started + (timeout if current is not None else max(timeout, 120))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                proc.kill()
                proc.wait()
                if current is not None:
                    results[current] = {"id": current, "outcome": "hang", "seconds": round(time.monotonic() - started, 1)}
                    if progress:
                        progress(results[current])
                else:
                    raise RuntimeError("the stress child did not start")
                break
            events = sel.select(min(remaining, 1.0))
            if not events:
                if proc.poll() is not None:
                    chunk = proc.stdout.read()
                    buffer += chunk or b""
                else:
                    continue
            else:
                chunk = os.read(proc.stdout.fileno(), 1 << 16)
                if chunk:
                    buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                record = json.loads(line)
                if "start" in record:
                    current = record["start"]
                    started = time.monotonic()
                elif "id" in record:
                    results[record["id"]] = record
                    current = None
                    started = time.monotonic()
                    if progress:
                        progress(record)
                    if len(results) % 50 == 0:
                        print(f"  ... {len(results)}/{len(cases)}", flush=True)
            if (not events or not chunk) and proc.poll() is not None:
                if current is not None:
                    results[current] = {"id": current, "outcome": "crash", "detail": _signal_name(proc.returncode),
                                        "seconds": round(time.monotonic() - started, 1)}
                    if progress:
                        progress(results[current])
                break
        sel.close()
        pending = [c for c in pending if c["id"] not in results]
    return [results[c["id"]] for c in cases]
