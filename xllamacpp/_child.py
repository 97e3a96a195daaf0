"""One model in a supervised child process: ``python -m xllamacpp serve ...`` on a loopback port.

The child is this package's own command. It knows it is supervised from
``XLLAMACPP_SUPERVISED`` and then (see ``_cli.serve``): prints one
``XLLAMACPP_READY <address>`` line once its model is up, or one
``XLLAMACPP_ERROR <json>`` line with the exception that stopped it; prefixes
its log lines with their level; and stops when its stdin reaches EOF, which
is how it learns that this process died (no orphan, even after a SIGKILL here).

Its output is read by one thread: each line goes to the logger
``xllamacpp.model.<name>`` at its own level, and the last lines are kept for
the error of a crash.
"""
from __future__ import annotations

import collections
import http.client
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _json
from ._errors import BY_STATUS, ModelLoadError, XlcError, XlcRuntimeError

READY = "XLLAMACPP_READY "
ERROR = "XLLAMACPP_ERROR "
LAST_LINES = 40  # kept per child for the error of a crash
_LEVELS = {name: getattr(logging, name) for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")}
_ERRORS = {cls.__name__: cls for cls in BY_STATUS.values()}


def describe_exit(code: Optional[int]) -> str:
    """ "exit code 1", "signal SIGKILL", "running"."""
    if code is None:
        return "running"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def shell_exit_code(code: int) -> int:
    """The exit status as a shell reports it: 128 + N for a signal N."""
    return 128 - code if code < 0 else code


class ChildGone(XlcRuntimeError):
    """The child process of a model ended (or could not be reached) while a request needed it."""


class ModelProcess:
    """A model's child process: started by ``start()``, ready when it returns, ended by ``stop()``.

    ``args`` are llama-server flags; ``params_json`` (CommonParams' facade values) is the base the flags
    apply onto. ``on_exit(process)`` is called on the watcher thread when the child ends, however.
    """

    def __init__(self, name: str, args: List[str], *, params_json: Optional[Dict[str, Any]] = None, stop_timeout: float = 10.0,
                 on_exit: Optional[Callable[["ModelProcess"], None]] = None, env: Optional[Dict[str, str]] = None,
                 listen: Tuple[str, int] = ("127.0.0.1", 0)):
        self.name = name
        self.args = list(args)
        self.params_json = params_json
        self.stop_timeout = stop_timeout
        self.on_exit = on_exit
        self.extra_env = dict(env or {})
        self.listen = listen  # (host, port) of the child's HTTP listener; port 0 picks a free one
        self.logger = logging.getLogger(f"xllamacpp.model.{name}")
        self.port = 0
        self.address = ""
        self.error: Optional[XlcError] = None  # what the child reported before it ended
        self._lines: collections.deque[str] = collections.deque(maxlen=LAST_LINES)
        self._ready = threading.Event()
        self._ended = threading.Event()
        self._stopping = False
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._last_level = logging.INFO

    # --- state ---------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc is not None else 0

    @property
    def returncode(self) -> Optional[int]:
        return self._proc.returncode if self._proc is not None and self._ended.is_set() else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and not self._ended.is_set()

    @property
    def stopping(self) -> bool:
        """stop() was called: its end is not a crash."""
        return self._stopping

    def last_lines(self) -> List[str]:
        return list(self._lines)

    def command(self) -> List[str]:
        host, port = self.listen
        return [sys.executable, "-m", "xllamacpp", "serve", *self.args, "--host", host, "--port", str(port)]

    # --- lifecycle -------------------------------------------------------------

    def start(self, timeout: float = 600.0) -> None:
        """Starts the child and waits until its model is loaded; raises the child's error if it ends first."""
        from ._library import path as library_path
        from ._log import logger as package_logger

        env = dict(os.environ)
        env.update(self.extra_env)
        env["XLLAMACPP_SUPERVISED"] = "1"
        env.setdefault("XLLAMACPP_LIB", str(library_path))  # the same library as this process
        # the child keeps what the model's logger would show, and INFO at least: its last lines explain a crash
        level = min(logging.INFO, self.logger.getEffectiveLevel(), package_logger.getEffectiveLevel())
        env["XLLAMACPP_LOG_LEVEL"] = str(level)
        if self.params_json is not None:
            env["XLLAMACPP_PARAMS"] = _json.dumps(self.params_json).decode()
        self._proc = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, env=env, start_new_session=True)
        threading.Thread(target=self._read_output, name=f"xllamacpp-model-{self.name}", daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self._ended.is_set():
                raise self.failure("could not start")
            if time.monotonic() > deadline:
                self.kill()
                raise ModelLoadError.make(f"model '{self.name}': not ready within {timeout:g} s")

    def stop(self, timeout: Optional[float] = None) -> None:
        """SIGTERM (the child closes its server), then SIGKILL after ``timeout`` (its stop-timeout)."""
        self._stopping = True
        proc = self._proc
        if proc is None or self._ended.is_set():
            return
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        if not self._ended.wait(self.stop_timeout if timeout is None else timeout):
            self.logger.warning("model '%s' did not stop within %g s: killing it", self.name,
                                self.stop_timeout if timeout is None else timeout)
            self.kill()
            self._ended.wait(5)

    def kill(self) -> None:
        self._stopping = True
        if self._proc is not None and not self._ended.is_set():
            try:
                self._proc.kill()
            except ProcessLookupError:
                pass

    def wait(self, timeout: Optional[float] = None) -> bool:
        """True once the child has ended and been reaped."""
        return self._ended.wait(timeout)

    def failure(self, what: str = "ended") -> XlcError:
        """The error for the child's end: its own error when it reported one, else how it ended and its last lines."""
        if self.error is not None:
            return self.error
        lines = " | ".join(self.last_lines()[-8:]) or "no output"
        return ChildGone.make(f"model '{self.name}' {what}: its process ended with {describe_exit(self.returncode)}; "
                              f"last lines: {lines}", status="XLC_ERR_IO")

    # --- output ------------------------------------------------------------------

    def _read_output(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        try:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                try:
                    self._line(line)
                except Exception:  # noqa: BLE001 - the reading must go on, or start() waits for ever
                    self.logger.exception("model '%s': cannot read its output line %r", self.name, line)
        finally:
            proc.wait()
            proc.stdout.close()
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
            self._ended.set()
            if self.on_exit is not None:
                try:
                    self.on_exit(self)
                except Exception:  # noqa: BLE001 - a supervisor's bug must not kill the reader
                    self.logger.exception("on_exit of model '%s' failed", self.name)

    def _line(self, line: str) -> None:
        # stdout and stderr share the pipe: llama.cpp may have left a line unfinished before these
        at = line.find(READY)
        if at >= 0:
            self._line(line[:at])
            # the address alone: anything written into the same pipe after it is not part of it
            found = re.match(r"\s*(\S*?:(\d+))", line[at + len(READY):])
            if found is None:
                raise ValueError(f"no address in the ready line {line!r}")
            self.address, self.port = found.group(1), int(found.group(2))
            self._ready.set()
            return
        at = line.find(ERROR)
        if at >= 0:
            self._line(line[:at])
            info = _json.loads(line[at + len(ERROR):])
            cls = _ERRORS.get(info.get("class"), ModelLoadError)
            self.error = cls.make(str(info.get("message")))
            return
        if not line:
            return
        level_name, _, text = line.partition(" ")
        level = _LEVELS.get(level_name)
        if level is None:
            if line[0] in " \t":  # the next line of a record of several lines
                level, text = self._last_level, line
            elif line.startswith("xllamacpp: "):  # what `xllamacpp serve` prints
                level, text = logging.INFO, line
            else:  # written to stderr by llama.cpp or ggml directly (an abort's message)
                level, text = logging.WARNING, line
        self._last_level = level
        self._lines.append(text)
        self.logger.log(level, "%s", text)

    # --- requests ------------------------------------------------------------------

    def connect(self, timeout: Optional[float] = None) -> http.client.HTTPConnection:
        if not self._ready.is_set() or self._ended.is_set():
            raise self.failure("is not running")
        host = self.listen[0] if self.listen[0] not in ("0.0.0.0", "") else "127.0.0.1"
        return http.client.HTTPConnection(host, self.port, timeout=timeout)

    def gone_error(self, exc: BaseException) -> XlcError:
        """The error for a request whose connection to the child broke: the child's end, once it is reaped."""
        if self._ended.wait(2.0):
            return self.failure("died during the request")
        return ChildGone.make(f"model '{self.name}': connection to its process lost: {exc}", status="XLC_ERR_IO")

    def __repr__(self) -> str:
        return f"<ModelProcess {self.name} pid={self.pid} {describe_exit(self.returncode)}>"
