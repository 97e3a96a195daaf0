"""ggml's RPC backend on loopback: RpcServer children, a model split across them, and failures.

The RPC servers run on this machine's CPU, so nothing here is faster than a
local model; what is tested is that the split happens, that it changes no
token, and what each failure does.
"""
from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import pytest

import xllamacpp as xlc
from conftest import make_params

GPU = xlc.ggml_backend_dev_type.GGML_BACKEND_DEVICE_TYPE_GPU


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port() -> int:
    return free_port()  # nothing listens there once the probe socket is closed


def rpc_params(model_path: str, **fields):
    # no weight repacking: the RPC servers compute with plain CPU buffers, and the
    # local baseline must run the same kernels for its tokens to be comparable
    return make_params(model_path, port=-1, no_extra_bufts=True, **fields)


@pytest.fixture(scope="module")
def rpc_pair():
    with xlc.RpcServer(port=free_port(), threads=1) as a, xlc.RpcServer(port=free_port(), threads=1) as b:
        yield a, b


class LogRecords(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def greedy_tokens(server) -> list:
    body = {"prompt": "The capital of France is", "n_predict": 16, "temperature": 0.0,
            "ignore_eos": True, "return_tokens": True}
    reply = server.handle("POST", "/completion", body)
    assert len(reply["tokens"]) == 16, reply
    return reply["tokens"]


def test_rpc_server_is_ready_when_constructed_and_gone_when_closed():
    port = free_port()
    with xlc.RpcServer(port=port, threads=1) as rpc:
        assert rpc.endpoint == f"127.0.0.1:{port}" and rpc.running
        answer = xlc._rpc.probe(rpc.endpoint, timeout=2.0)  # no retry: ready means answering now
        assert answer["protocol"].startswith("7.")
        assert answer["devices"] and answer["devices"][0]["memory_total"] > 0
    assert not rpc.running and rpc._proc.returncode == 0
    with pytest.raises(RuntimeError, match=rf"127\.0\.0\.1:{port}.*refused"):
        xlc._rpc.probe(f"127.0.0.1:{port}", timeout=2.0)
    rpc.close()  # twice is fine


def test_model_split_across_two_rpc_servers_gives_the_same_tokens(model_path, rpc_pair):
    a, b = rpc_pair
    with xlc.Server(rpc_params(model_path)) as local:
        expected = greedy_tokens(local)

    params = rpc_params(model_path)
    params.rpc_servers = f"{a.endpoint},{b.endpoint}"
    assert params.rpc_servers == f"{a.endpoint},{b.endpoint}"
    records = LogRecords()
    logger = logging.getLogger("xllamacpp")
    logger.addHandler(records)
    xlc.set_log_level(logging.INFO)
    try:
        server = xlc.Server(params, isolated=False)  # in-process RPC, by opt-in (test_supervision.py: the default)
    finally:
        xlc.set_log_level(logging.WARNING)
        logger.removeHandler(records)
    with server:
        # the weights went to both servers (llama.cpp names each buffer after its endpoint)
        weights = [line for line in records.lines if "model buffer size" in line]
        assert any(f"[{a.endpoint}]" in line for line in weights), weights
        assert any(f"[{b.endpoint}]" in line for line in weights), weights
        assert any("offloaded" in line and "layers to GPU" in line for line in records.lines)
        assert greedy_tokens(server) == expected

        # while the model holds both servers (each serves one client), their devices still
        # report through this process's own connections
        rpc = [d for d in xlc.get_device_info() if d.get("endpoint") in (a.endpoint, b.endpoint)]
        assert {d["endpoint"] for d in rpc} == {a.endpoint, b.endpoint}
        assert all(d["reachable"] and d["memory_total"] > 0 and d["type"] == GPU for d in rpc), rpc


def test_rpc_devices_show_in_device_info_and_estimate_plans_for_them(model_path, rpc_pair):
    a, b = rpc_pair
    xlc.CommonParams().rpc_servers = f"{a.endpoint},{b.endpoint}"
    rpc = [d for d in xlc.get_device_info() if d.get("endpoint") in (a.endpoint, b.endpoint)]
    assert [d["endpoint"] for d in rpc] == [a.endpoint, b.endpoint]
    for d in rpc:
        assert d["name"].startswith("RPC") and d["backend"] == "RPC" and d["reachable"] and d["error"] == ""
        assert 0 < d["memory_free"] <= d["memory_total"]

    plan = xlc.estimate_gpu_layers(rpc, model_path, [], 2048, 512, 1, "f16")
    n_layer = xlc.memory.block_count(model_path)
    assert plan.layers == n_layer + 1  # a 270M model, output layer included, fits in two servers' worth of RAM
    assert len(plan.tensor_split) == 2 and sum(plan.tensor_split) == pytest.approx(1.0) and plan.tensor_split[0] > 0

    # a device list may name them too, once their server is named
    p = xlc.CommonParams()
    p.devices = [rpc[1]["name"]]
    assert p.devices == [rpc[1]["name"], ""]  # llama.cpp's end marker, added when missing


def test_rpc_flag_sets_the_devices(rpc_pair):
    a, b = rpc_pair
    p = xlc.CommonParams.from_args(["--rpc", f"{b.endpoint},{a.endpoint}", "-c", "512"])
    assert p.rpc_servers == f"{b.endpoint},{a.endpoint}"
    names = {d["endpoint"]: d["name"] for d in xlc.get_device_info() if "endpoint" in d}
    assert p.devices == [names[b.endpoint], names[a.endpoint], ""]
    p.rpc_servers = ""
    assert p.devices == [] and p.rpc_servers == ""
    # -dev chooses among them, as in llama-server (whose -dev handler would not see them here)
    p = xlc.CommonParams.from_args(["--rpc", f"{a.endpoint},{b.endpoint}", "-dev", names[b.endpoint]])
    assert p.devices == [names[b.endpoint], ""]
    with pytest.raises(ValueError, match="invalid device: CPU"):
        xlc.CommonParams.from_args(["--rpc", a.endpoint, "-dev", f"{names[a.endpoint]},CPU"])


@pytest.mark.parametrize("value, message", [
    ("127.0.0.1:{closed}", r"RPC server 127\.0\.0\.1:\d+: connection refused"),
    ("127.0.0.1", r"'127\.0\.0\.1' is not HOST:PORT"),
    ("127.0.0.1:70000", r"port must be a number from 1 to 65535"),
    ("no-such-host.invalid:50052", r"cannot resolve 'no-such-host\.invalid'"),
])
def test_a_wrong_address_is_a_clear_error_naming_it(value, message):
    value = value.format(closed=closed_port())
    p = xlc.CommonParams()
    with pytest.raises(ValueError, match=message):
        p.rpc_servers = value
    assert p.rpc_servers == "" and p.devices == []
    with pytest.raises(ValueError, match=r'argument "--rpc".*' + message):
        xlc.CommonParams.from_args(["--rpc", value])


def test_something_else_at_the_address_is_named_too():
    """A listener that is no RPC server: one that hangs up, and one that never answers."""
    with socket.socket() as hangs_up, socket.socket() as silent:
        for s in (hangs_up, silent):
            s.bind(("127.0.0.1", 0))
            s.listen(4)

        def accept_and_close():
            conn, _ = hangs_up.accept()
            conn.recv(64)
            conn.close()

        t = threading.Thread(target=accept_and_close)
        t.start()
        port = hangs_up.getsockname()[1]
        with pytest.raises(ValueError, match=rf"RPC server 127\.0\.0\.1:{port}: closed the connection"):
            xlc.CommonParams().rpc_servers = f"127.0.0.1:{port}"
        t.join()
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(RuntimeError, match=rf"127\.0\.0\.1:{port}: accepted the connection but did not answer within 0\.5 s"):
            xlc._rpc.probe(f"127.0.0.1:{port}", timeout=0.5)
        assert time.monotonic() - started < 3


def test_a_server_gone_before_the_model_loads_is_an_error_not_an_abort(model_path):
    rpc = xlc.RpcServer(port=free_port(), threads=1)
    p = rpc_params(model_path)
    p.rpc_servers = rpc.endpoint
    name = p.devices[0]
    rpc.close()

    with pytest.raises(ValueError, match=rf"{rpc.endpoint}: connection refused"):
        p.validate()  # naming the server again checks it again
    # naming only its device skips that check: ggml's client then fails to connect while the
    # model loads, on the Server's thread, and its abort becomes this error (xlc_abort.cpp)
    q = rpc_params(model_path)
    q.devices = [name]
    with pytest.raises(RuntimeError, match=rf"failed to load model.*RPC: Failed to connect to {rpc.endpoint}"):
        xlc.Server(q)
    gone = [d for d in xlc.get_device_info() if d.get("endpoint") == rpc.endpoint]
    assert gone and not gone[0]["reachable"] and "refused" in gone[0]["error"] and gone[0]["memory_total"] == 0
    # the process carries on, and so does ggml's RPC client, which the failure unwound through
    with xlc.Server(rpc_params(model_path)) as local:
        expected = greedy_tokens(local)
    with xlc.RpcServer(port=free_port(), threads=1) as other:
        r = rpc_params(model_path)
        r.rpc_servers = other.endpoint
        with xlc.Server(r, isolated=False) as split:
            assert greedy_tokens(split) == expected


KILLED_MID_REQUEST = textwrap.dedent("""
    import os, resource, signal, sys, threading
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the abort below is expected: no core file
    import xllamacpp as xlc
    model, port = sys.argv[1], int(sys.argv[2])
    rpc = xlc.RpcServer(port=port, threads=1)
    p = xlc.CommonParams()
    p.model.path = model
    p.n_ctx, p.port, p.warmup, p.no_extra_bufts = 512, -1, False, True
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = 1
    p.rpc_servers = rpc.endpoint
    server = xlc.Server(p, isolated=False)  # in-process RPC, by opt-in: the abort below ends this process
    chunks = []
    def on_chunk(chunk):
        chunks.append(chunk)
        if len(chunks) == 3:
            os.kill(rpc.pid, signal.SIGKILL)
            print("killed the RPC server", flush=True)
    try:
        server.handle_completions({"prompt": "Once upon a time", "max_tokens": 400, "stream": True,
                                   "ignore_eos": True}, on_chunk)
        print("request returned", flush=True)
    except Exception as e:
        print("request raised", type(e).__name__, e, flush=True)
    print("process survived", flush=True)
""")


def test_an_rpc_server_killed_mid_request_ends_the_process_as_documented(model_path):
    """ggml's RPC client cannot recover from a lost connection mid-computation: its I/O thread
    aborts, and no caller is there to catch it (docs/distributed.md). Run in a child process."""
    child = subprocess.run([sys.executable, "-c", KILLED_MID_REQUEST, model_path, str(free_port())],
                           capture_output=True, text=True, timeout=300)
    assert "killed the RPC server" in child.stdout, child.stdout + child.stderr
    assert child.returncode == -signal.SIGABRT, (child.returncode, child.stdout, child.stderr)
    assert "process survived" not in child.stdout
    assert "RPC: Remote RPC server crashed or returned malformed response" in child.stderr, child.stderr


ORPHANED = textwrap.dedent("""
    import os, signal, sys
    import xllamacpp as xlc
    rpc = xlc.RpcServer(port=int(sys.argv[1]), threads=1)
    print(rpc.pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no close(), no finalizer
""")


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_an_rpc_server_ends_when_the_process_that_started_it_dies():
    child = subprocess.run([sys.executable, "-c", ORPHANED, str(free_port())], capture_output=True, text=True,
                           timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    pid = int(child.stdout.split()[0])
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(pid), f"the RPC server {pid} outlived the process that started it"


def test_rpc_server_binds_loopback_by_default_and_warns_otherwise():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with xlc.RpcServer(port=free_port(), threads=1) as rpc:
            assert rpc.host == "127.0.0.1"
    with pytest.warns(xlc.RpcSecurityWarning, match="no authentication"):
        with xlc.RpcServer(host="0.0.0.0", port=free_port(), threads=1) as rpc:
            xlc._rpc.probe(f"127.0.0.1:{rpc.port}", timeout=2.0)


def test_rpc_server_bad_arguments_are_clear_errors():
    # the package's hierarchy (xlc.XlcError), each class also the builtin it stands for
    with pytest.raises(xlc.InvalidArgumentError, match="port must be an int from 1 to 65535"):
        xlc.RpcServer(port=0)
    with pytest.raises(xlc.InvalidArgumentError, match="threads must be a positive int"):
        xlc.RpcServer(port=free_port(), threads=0)
    with pytest.raises(xlc.XlcRuntimeError, match=r"exited with code 2 .*unknown device 'NOPE' \(available: CPU"):
        xlc.RpcServer(port=free_port(), device="NOPE")
    with pytest.raises(ValueError, match=r"host 'not-an-address' is not an IPv4 address"):
        xlc.RpcServer(host="not-an-address", port=free_port())
    with xlc.RpcServer(port=free_port(), threads=1) as rpc:
        with pytest.raises(RuntimeError, match=rf"cannot start an RPC server on {rpc.endpoint}: something already listens"):
            xlc.RpcServer(port=rpc.port)
