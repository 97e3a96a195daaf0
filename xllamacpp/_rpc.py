"""ggml's RPC backend: RpcServer serves this machine's devices to llama.cpp clients elsewhere.

A model is split across RPC servers by naming them in ``params.rpc_servers``
("HOST:PORT,HOST:PORT", the ``--rpc`` flag). ggml's server loop blocks for good
and has no stop call, so RpcServer runs it in a child process of its own
(``python -m xllamacpp rpc-server``) and ends it with that process.
"""
from __future__ import annotations

import collections
import ipaddress
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
import weakref
from typing import Any, Iterable, Optional, Union

from . import _json
from ._errors import InvalidArgumentError, InvalidTypeError, XlcRuntimeError
from ._library import call_out, lib
from ._library import path as _library_path

logger = logging.getLogger("xllamacpp.rpc")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50052


class RpcSecurityWarning(UserWarning):
    """An RPC server was asked to listen beyond this machine."""


def bind_warning(host: str) -> Optional[str]:
    """The warning for binding ``host``, or None for a loopback address."""
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        if host == "localhost":
            return None
    return (f"the RPC server listens on {host}, beyond this machine: ggml's RPC protocol has no "
            "authentication and no encryption, and any client that reaches the port can allocate memory "
            "and run computations on this machine and read what other clients sent. Use it only on a "
            "trusted, isolated network (or behind an SSH tunnel or VPN); 127.0.0.1 is the safe default.")


def probe(endpoint: str, timeout: float = 5.0) -> dict[str, Any]:
    """Asks the RPC server at "HOST:PORT" for its protocol version and devices' memory.

    Raises RuntimeError naming the address when nothing answers within ``timeout`` seconds.
    """
    text = call_out(lib.xlc_rpc_probe, endpoint.encode(), max(1, int(timeout * 1000)))
    answer: dict[str, Any] = _json.loads(text)
    return answer


def devices() -> list[dict[str, Any]]:
    """The devices of the RPC servers named so far in this process, with their memory and reachability."""
    found: list[dict[str, Any]] = _json.loads(call_out(lib.xlc_rpc_devices))
    return found


def _listening(endpoint: str) -> bool:
    host, port = endpoint.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class RpcServer:
    """ggml's RPC server for this machine's devices, on ``host:port``, in a child process.

    Ready when the constructor returns (the port answers the RPC handshake);
    ``close()`` (or leaving a ``with`` block) ends it. ``device`` names the
    devices to serve (``"CPU"``, ``"CUDA0"``, a list or a comma-separated str;
    default: the GPUs, else the CPU); ``threads`` the CPU threads (default: half
    the cores); ``cache_dir`` a directory where the server keeps large tensors
    it was sent, so that a client reloading the model sends only their hashes.

    The protocol has no authentication: the default host is 127.0.0.1, and any
    other address gives an RpcSecurityWarning.
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 device: Union[str, Iterable[str], None] = None, threads: Optional[int] = None,
                 cache_dir: Union[str, os.PathLike[str], None] = None, *, timeout: float = 60.0):
        if not isinstance(host, str) or not host:
            raise InvalidTypeError(f"host must be a non-empty str, not {host!r}")
        if host == "localhost":
            host = "127.0.0.1"  # ggml's server binds an IPv4 address, not a name
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise InvalidArgumentError(f"host {host!r} is not an IPv4 address (ggml's RPC server listens on IPv4 only)") from None
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise InvalidArgumentError(f"port must be an int from 1 to 65535, not {port!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise InvalidArgumentError(f"threads must be a positive int, not {threads!r}")
        if device is not None and not isinstance(device, str):
            device = ",".join(device)
        self.host: str = host
        self.port: int = port
        warning = bind_warning(host)
        if warning:
            warnings.warn(warning, RpcSecurityWarning, stacklevel=2)

        self._probe_target = f"{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"
        if _listening(self._probe_target):
            raise XlcRuntimeError(f"cannot start an RPC server on {self.endpoint}: something already listens there")

        cmd = [sys.executable, "-m", "xllamacpp", "rpc-server", "--host", host, "--port", str(port)]
        if device:
            cmd += ["--device", device]
        if threads is not None:
            cmd += ["--threads", str(threads)]
        if cache_dir is not None:
            cmd += ["--cache-dir", os.fspath(cache_dir)]
        env = dict(os.environ)
        env.setdefault("XLLAMACPP_LIB", str(_library_path))  # the same library as this process
        # the child leaves the bind warning to this process, and ends if this process does
        env["XLLAMACPP_RPC_PARENT"] = str(os.getpid())
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, env=env)
        self._finalizer = weakref.finalize(self, _stop, self._proc)
        self._lines: collections.deque[str] = collections.deque(maxlen=30)
        self._reader = threading.Thread(target=self._read_output, name=f"xllamacpp-rpc-{port}", daemon=True)
        self._reader.start()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.close()
            raise

    @property
    def endpoint(self) -> str:
        """"HOST:PORT", as ``params.rpc_servers`` and ``--rpc`` take it."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def output(self) -> list[str]:
        """The last lines the server printed."""
        return list(self._lines)

    def close(self) -> None:
        """Ends the server process (safe to call more than once)."""
        self._finalizer()
        self._reader.join(5)
        if self._proc.stdout is not None and not self._reader.is_alive():
            self._proc.stdout.close()

    def __enter__(self) -> "RpcServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self._proc.returncode}"
        return f"<RpcServer {self.endpoint} pid={self.pid} {state}>"

    def _read_output(self) -> None:
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self._lines.append(line)
                logger.debug("%s: %s", self.endpoint, line)

    def _wait_ready(self, timeout: float) -> None:
        target = self._probe_target
        deadline = time.monotonic() + timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                self._reader.join(2)
                said = " | ".join(self._lines) or "no output"
                raise XlcRuntimeError(f"the RPC server for {self.endpoint} exited with code {code} before it was ready: {said}")
            try:
                probe(target, timeout=0.5)
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise XlcRuntimeError(f"the RPC server for {self.endpoint} did not answer within {timeout:g} s") from None
                time.sleep(0.05)


__all__ = ["RpcServer", "RpcSecurityWarning", "bind_warning", "devices", "probe", "DEFAULT_HOST", "DEFAULT_PORT"]
