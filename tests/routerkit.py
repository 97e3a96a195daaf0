"""Helpers for the router tests: a models directory of real models, `xllamacpp serve` routers, processes."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def models_dir(root: Path, files: dict) -> Path:
    """A --models-dir of symlinks: name -> GGUF path (the files stay where they are)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, target in files.items():
        (root / f"{name}.gguf").symlink_to(target)
    return root


EMBEDDER_PRESET = "[embedder]\nembedding = true\n"  # llama-server serves embeddings only when told to


def embedder_preset(root: Path) -> Path:
    """A preset that makes the model "embedder" of a models directory serve embeddings."""
    path = root / "embedder.ini"
    path.write_text(EMBEDDER_PRESET)
    return path


def children(pid: int) -> list:
    """The live processes whose parent is pid."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(") ", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry))
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def child_of_model(router_pid: int, model_file: str, timeout: float = 60) -> int:
    """The pid of the child serving model_file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in children(router_pid):
            if model_file in cmdline(pid):
                return pid
        time.sleep(0.05)
    raise AssertionError(f"no child of {router_pid} serves {model_file}")


def wait_gone(pids, timeout: float) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


class Serve:
    """`<command> --models-dir DIR ...` as a process: xllamacpp serve, or llama-server."""

    def __init__(self, argv: list, port: int, env: Optional[dict] = None, timeout: float = 120):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        full_env = dict(os.environ, **(env or {}))
        self.proc = subprocess.Popen(argv + ["--host", "127.0.0.1", "--port", str(port)], env=full_env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"{argv[0]} exited {self.proc.returncode}: {self.output()}")
            try:
                if requests.get(self.base + "/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{argv[0]} did not answer: {self.output()}")
            time.sleep(0.1)

    @classmethod
    def ours(cls, *args: str, env: Optional[dict] = None) -> "Serve":
        return cls([sys.executable, "-m", "xllamacpp", "serve", *args], free_port(), env)

    def get(self, path: str, **kw):
        return requests.get(self.base + path, timeout=kw.pop("timeout", 300), **kw)

    def post(self, path: str, body: Optional[dict] = None, **kw):
        return requests.post(self.base + path, json=body, timeout=kw.pop("timeout", 300), **kw)

    def models(self) -> dict:
        return {m["id"]: m for m in self.get("/models").json()["data"]}

    def wait_status(self, name: str, value: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            model = self.models()[name]
            if model["status"]["value"] == value:
                return model
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} is {model['status']}, not {value}")
            time.sleep(0.1)

    def output(self) -> str:
        if self.proc.poll() is None:
            return ""
        return self.proc.stdout.read().decode("utf-8", "replace")[-4000:] if self.proc.stdout else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def sse_events(response) -> list:
    """The data payloads of a streamed HTTP answer, decoded ("[DONE]" left out)."""
    out = []
    for line in response.iter_lines():
        if line.startswith(b"data: ") and line[6:] != b"[DONE]":
            out.append(json.loads(line[6:]))
    return out
