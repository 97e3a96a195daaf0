"""The `xllamacpp` command, run for real in a child process."""
from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

import xllamacpp as xlc
from conftest import ROOT
from xllamacpp import _cli, _params

BIN = Path(sys.executable).parent
SCRIPT = BIN / "xllamacpp"
# `make test-pypy` runs the checkout from PYTHONPATH, not installed: no console script there
COMMAND = [str(SCRIPT)] if SCRIPT.is_file() else [sys.executable, "-m", "xllamacpp"]
MODULE = [sys.executable, "-m", "xllamacpp"]


def run(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*MODULE, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lines:
    """A child's stdout, line by line, read on a thread so that waiting can time out."""

    def __init__(self, proc: subprocess.Popen[str]):
        self.proc = proc
        self.seen: list[str] = []
        self._q: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if text in line:
                return line
        err = self.proc.stderr.read() if self.proc.stderr and self.proc.poll() is not None else ""
        raise AssertionError(f"no line with {text!r}; saw {self.seen}; stderr: {err}")


def test_console_script_and_module_are_one_command():
    if sys.implementation.name == "pypy" and not SCRIPT.is_file():
        pytest.skip("the PyPy suite runs the checkout uninstalled; the CPython suite checks the console script")
    assert SCRIPT.is_file(), "the console script is installed by `make build` (pip install -e .)"
    by_module = run("--version")
    by_script = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True, timeout=60)
    old_name = subprocess.run([str(BIN / "xllamacpp-server"), "--version"], capture_output=True, text=True, timeout=60)
    assert by_module.returncode == by_script.returncode == old_name.returncode == 0
    assert by_module.stdout == by_script.stdout == old_name.stdout
    first, second, third = by_module.stdout.splitlines()
    assert first.startswith("xllamacpp ") and first != "xllamacpp unknown"
    info = xlc.get_build_info()
    build = f"build {info['build_number']} " if info["build_number"] else ""
    assert second.startswith(f"llama.cpp {build}({info['commit']})")
    # the sdist has no git metadata: the commit is the one its changelog names (vendor/fetch.py)
    source_commit = ROOT / "vendor" / "llama.cpp" / "XLC_SOURCE_COMMIT"
    if source_commit.is_file() and source_commit.read_text().strip():
        assert info["commit"] == source_commit.read_text().strip()
    assert third == f"backend {xlc.BACKEND}, library {xlc.library_path}"


def test_help_lists_every_flag_of_llama_cpps_table_with_its_help():
    top = run("--help")
    serve = run("serve", "--help")
    assert top.returncode == serve.returncode == 0
    for command in ("serve", "rpc-server", "info", "estimate"):
        assert f"xllamacpp {command}" in top.stdout or f"[{command}]" in top.stdout
    shown = 0
    for opt in _params._SCHEMA["options"]:
        if set(opt["args"] + opt["args_neg"]) & _cli._OWN:
            continue
        head = ", ".join(opt["args"])
        assert f"  {head}" in serve.stdout, head
        first_help_line = opt["help"].splitlines()[0].split()[:4]
        assert " ".join(first_help_line) in " ".join(serve.stdout.split()), (head, first_help_line)
        shown += 1
    assert shown > 200
    assert "--rpc SERVERS" in serve.stdout and "comma-separated list of RPC servers" in serve.stdout
    # the flags of serve are the second half of the top-level help, word for word
    assert serve.stdout.split("wins.\n", 1)[1] == top.stdout.split("wins.\n", 1)[1]
    # a flag whose help names no default gets the field's default from the facade's table
    by_flag = {f["flag"]: f for f in _params.FIELDS.values() if f["flag"] and f["type"] in ("int", "float", "bool")}
    needs_default = [(o, by_flag[a]) for o in _params._SCHEMA["options"] for a in o["args"]
                     if a in by_flag and "default" not in o["help"].lower() and not set(o["args"]) & _cli._OWN]
    assert needs_default, "no flag needs its default added"
    for opt, field in needs_default:
        block = serve.stdout.split("\n  " + ", ".join(opt["args"]), 1)[1].split("\n  -", 1)[0]
        assert f"(default: {field['default']})" in block, (opt["args"], block)


@pytest.mark.parametrize("args, mentions", [
    (["--bogus-flag"], "--bogus-flag"),
    (["serve", "-m", "x.gguf", "-c", "many"], "'many' is not an integer"),
    (["serve", "--rpc", "127.0.0.1"], "is not HOST:PORT"),
    ([], "no model"),
    (["estimate"], "required: model"),
    (["estimate", "m.gguf", "--gpu-mem", "lots"], "'lots' is not a size"),
    (["rpc-server", "--port", "abc"], "invalid int value"),
    (["rpc-server", "--port", "70000"], "from 1 to 65535"),
    (["info", "--frobnicate"], "unrecognized arguments"),
])
def test_bad_flags_give_one_line_and_exit_code_2(args, mentions):
    r = run(*args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and "error:" in r.stderr and mentions in r.stderr, r.stderr
    assert r.stdout == ""


def test_info_names_the_backend_why_the_library_and_the_devices():
    r = run("info")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].startswith(f"backend  {xlc.BACKEND}: ") and len(lines[1]) > len(f"backend  {xlc.BACKEND}: ") + 10
    assert f"library  {xlc.library_path}" in lines
    assert any(line.startswith("system   CPU : ") for line in lines)
    cpu = next(line for line in lines if line.strip().startswith("CPU "))
    assert "GiB" in cpu

    as_json = json.loads(run("info", "--json", env={"XLLAMACPP_BACKEND": "cpu"}).stdout)
    assert as_json["backend"] == "cpu" and "XLLAMACPP_BACKEND" in as_json["why"]
    assert as_json["library"] == str(xlc.library_path)
    assert [d["name"] for d in as_json["devices"]] == [d["name"] for d in xlc.get_device_info() if "endpoint" not in d]


def test_estimate_prints_the_plan_of_estimate_gpu_layers(model_path):
    r = run("estimate", model_path, "--gpu-mem", "1GiB,64MiB", "--ctx", "2048")
    assert r.returncode == 0, r.stderr
    plan = xlc.estimate_gpu_layers([{"name": "GPU0", "memory_free": 1 << 30, "memory_min": 0},
                                    {"name": "GPU1", "memory_free": 64 << 20, "memory_min": 0}],
                                   model_path, [], 2048, 512, 1, "f16")
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines() if line.strip()}
    n_layer = xlc.memory.block_count(model_path)
    per_gpu = [round(share * plan.layers) for share in plan.tensor_split]
    assert rows["GPU0"][3] == str(per_gpu[0]) and rows["GPU1"][3] == str(per_gpu[1]) and sum(per_gpu) == plan.layers
    assert rows["total"][1] == f"{plan.layers}/{n_layer + 1}"  # the output layer counts as one

    as_json = json.loads(run("estimate", model_path, "--gpu-mem", "100M", "--json").stdout)
    small = xlc.estimate_gpu_layers([{"name": "GPU0", "memory_free": 100 << 20, "memory_min": 0}],
                                    model_path, [], 4096, 512, 1, "f16")
    assert as_json["layers"] == small.layers < n_layer and as_json["vram_size"] == small.vram_size

    cpu_only = run("estimate", model_path)
    assert cpu_only.returncode == 0 and "no GPU: everything runs on the CPU" in cpu_only.stdout

    missing = run("estimate", "no-such-model.gguf")
    assert missing.returncode == 1 and "no-such-model.gguf" in missing.stderr and missing.stderr.count("\n") == 1


def test_estimate_and_info_plan_for_rpc_servers(model_path):
    with xlc.RpcServer(port=free_port(), threads=1) as rpc:
        listed = run("info", "--rpc", rpc.endpoint)
        assert listed.returncode == 0, listed.stderr
        assert any(rpc.endpoint in line and line.strip().startswith("RPC") for line in listed.stdout.splitlines())
        r = run("estimate", model_path, "--rpc", rpc.endpoint)
        assert r.returncode == 0, r.stderr
        n_layer = xlc.memory.block_count(model_path)
        row = next(line.split() for line in r.stdout.splitlines() if line.startswith("RPC"))
        assert row[3] == str(n_layer + 1)  # every block and the output layer


@pytest.mark.parametrize("how", ["serve command, --port", "bare flags, LLAMA_ARG_PORT"])
def test_serve_answers_http_and_ctrl_c_stops_it_cleanly(model_path, how):
    port = free_port()
    if how.startswith("serve"):
        args, env = ["serve", "-m", model_path, "--port", str(port)], {}
    else:
        args, env = ["-m", model_path], {"LLAMA_ARG_PORT": str(port)}
    proc = subprocess.Popen([*COMMAND, *args, "-c", "512", "-t", "2", "--no-warmup"], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env})
    try:
        lines = Lines(proc)
        ready = lines.wait_for("serving")
        assert ready == f"xllamacpp: serving {model_path} on http://127.0.0.1:{port} (Ctrl-C stops)"
        reply = requests.post(f"http://127.0.0.1:{port}/completion",
                              json={"prompt": "The capital of France is", "n_predict": 4}, timeout=120)
        assert reply.status_code == 200 and reply.json()["tokens_predicted"] == 4
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        lines.wait_for("stopped", timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/health", timeout=5)


def test_serve_reports_a_model_that_does_not_load():
    r = run("serve", "-m", "no-such-model.gguf")
    assert r.returncode == 1 and "no-such-model.gguf" in r.stderr


def test_rpc_server_command_serves_and_ctrl_c_stops_it():
    port = free_port()
    proc = subprocess.Popen([*MODULE, "rpc-server", "--port", str(port), "--threads", "1"], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = xlc._rpc.probe(f"127.0.0.1:{port}", timeout=0.5)
                break
            except RuntimeError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr and proc.stderr.read()
                time.sleep(0.1)
        assert answer["devices"]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert f"endpoint       : 127.0.0.1:{port}" in out and "xllamacpp rpc-server: stopped" in out
        assert "WARNING" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_rpc_server_command_warns_when_binding_beyond_loopback():
    port = free_port()
    proc = subprocess.Popen([*MODULE, "rpc-server", "--host", "0.0.0.0", "--port", str(port), "--threads", "1"],
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                xlc._rpc.probe(f"127.0.0.1:{port}", timeout=0.5)
                break
            except RuntimeError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert "WARNING" in err and "0.0.0.0" in err and "no authentication" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
