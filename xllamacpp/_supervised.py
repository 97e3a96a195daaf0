"""One model's supervision: its child process, its status, and what happens when the child dies.

States as llama-server's router has them: unloaded -> loading -> loaded
(<-> sleeping, which the child reports in /props) -> unloaded. A child that
ends without being asked is a crash: the status goes back to unloaded with
``failed`` and its exit code (or signal), and the next request starts a new
child, until ``crash_limit`` crashes have happened within ``crash_window``
seconds; then the model stays down, with the reason, until ``load()`` is
called explicitly.
"""
from __future__ import annotations

import collections
import http.client
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from . import _json
from ._child import ModelProcess, describe_exit, shell_exit_code
from ._errors import XlcError
from ._remote import Refused

UNLOADED, LOADING, LOADED, SLEEPING = "unloaded", "loading", "loaded", "sleeping"
CRASH_LIMIT = 3  # crashes within CRASH_WINDOW seconds before a model stays down
CRASH_WINDOW = 60.0
STOP_TIMEOUT = 10.0  # llama-server's stop-timeout default


class SupervisedModel:
    """A model that runs in a child process when needed; thread-safe."""

    def __init__(self, name: str, args: List[str], *, path: str = "", params_json: Optional[Dict[str, Any]] = None,
                 stop_timeout: float = STOP_TIMEOUT, crash_limit: int = CRASH_LIMIT,
                 crash_window: float = CRASH_WINDOW, on_change: Optional[Callable[["SupervisedModel"], None]] = None,
                 rpc_servers: str = "", listen: Tuple[str, int] = ("127.0.0.1", 0)):
        self.name = name
        self.args = list(args)
        self.path = path
        self.params_json = params_json
        self.stop_timeout = stop_timeout
        self.crash_limit = crash_limit
        self.crash_window = crash_window
        self.rpc_servers = rpc_servers
        self.listen = listen
        self.on_change = on_change
        self.process: Optional[ModelProcess] = None
        self.status = UNLOADED
        self.exit_code = 0  # of the last child that crashed; 0 when it did not
        self.exit_how = ""  # "signal SIGKILL", "exit code 1"
        self.down_reason = ""  # set past the crash limit: the model stays down until load()
        self.last_error: Optional[XlcError] = None  # the last start's failure
        self.last_used = 0.0
        self.in_flight = 0
        self._crashes: Deque[float] = collections.deque()
        self._cond = threading.Condition()

    # --- what /models shows ------------------------------------------------------

    @property
    def failed(self) -> bool:
        return self.status == UNLOADED and self.exit_code != 0

    @property
    def running(self) -> bool:
        return self.status in (LOADING, LOADED, SLEEPING)

    def status_json(self) -> Dict[str, Any]:
        status = self.status
        if status == LOADED and self._sleeping():
            status = SLEEPING
        out: Dict[str, Any] = {"value": status, "args": self.process.command() if self.process is not None else []}
        if self.failed:
            out["failed"] = True
            out["exit_code"] = self.exit_code
            out["exit"] = self.exit_how
            if self.down_reason:
                out["reason"] = self.down_reason
        return out

    def _sleeping(self) -> bool:
        """The child's /props says so (that route does not wake it)."""
        process = self.process
        if process is None or not process.alive or not process.port:
            return False
        try:
            conn = process.connect(timeout=2)
            conn.request("GET", "/props")
            props = _json.loads(conn.getresponse().read())
            conn.close()
            return bool(props.get("is_sleeping"))
        except (OSError, http.client.HTTPException, ValueError):
            return False

    # --- lifecycle -----------------------------------------------------------------

    def ensure(self, *, explicit: bool = False, before_start: Optional[Callable[[], None]] = None) -> ModelProcess:
        """The running child, started (and waited for) if need be; a model that is stopping is waited for first.

        Raises Refused (503) for a model held down past its crash limit, unless explicit (load()), and the
        start's error (ModelLoadError, ...) when the child could not start.
        """
        with self._cond:
            while True:
                if self.status == LOADED and self.process is not None and self.process.alive \
                        and not self.process.stopping:
                    self.last_used = time.monotonic()
                    return self.process
                if self.status == LOADING:
                    self._cond.wait(0.2)
                    continue
                if self.process is not None and self.process.alive:  # stopping: the next child serves it
                    self._cond.wait(0.2)
                    continue
                break
            if self.down_reason and not explicit:
                raise Refused(503, f"model '{self.name}' is down: {self.down_reason}; load it explicitly "
                                   "(POST /models/load) to try again", "unavailable_error")
            if explicit:
                self.down_reason = ""
                self._crashes.clear()
            self.status = LOADING
            self.last_used = time.monotonic()
        self._changed()
        try:
            if before_start is not None:
                before_start()
            self._probe_rpc()
            process = ModelProcess(self.name, self.args, params_json=self.params_json,
                                   stop_timeout=self.stop_timeout, on_exit=self._on_exit, listen=self.listen)
            with self._cond:
                self.process = process
            process.start()
        except BaseException as e:
            with self._cond:
                self.status = UNLOADED
                if isinstance(e, XlcError):
                    self.last_error = e
                returncode = self.process.returncode if self.process is not None else None
                if returncode is not None and returncode != 0:
                    self.exit_code = shell_exit_code(returncode)
                    self.exit_how = describe_exit(returncode)
                self._cond.notify_all()
            self._changed()
            raise
        with self._cond:
            if process.alive:
                self.status = LOADED
                self.exit_code = 0
                self.exit_how = ""
                self.last_error = None
            self._cond.notify_all()
        self._changed()
        if not process.alive:
            raise process.failure("ended as it started")
        return process

    def _probe_rpc(self) -> None:
        """The RPC servers the model names must answer (the facade's probe, with its deadline) before a start."""
        if not self.rpc_servers:
            return
        from ._errors import ModelLoadError
        from ._rpc import probe

        for endpoint in filter(None, (e.strip() for e in self.rpc_servers.split(","))):
            try:
                probe(endpoint, timeout=5.0)
            except (RuntimeError, ValueError) as e:
                raise ModelLoadError.make(f"model '{self.name}': RPC server {endpoint} is unreachable: {e}") from None

    def unload(self, timeout: Optional[float] = None) -> bool:
        """Stops the child (SIGTERM, SIGKILL after the stop timeout); False if it was not running."""
        with self._cond:
            process = self.process
            if process is None or not process.alive:
                return False
            loading = self.status == LOADING
        if loading:
            process.kill()  # as llama-server: unloading a model that is loading kills it
        process.stop(timeout)
        with self._cond:
            while process.alive:
                self._cond.wait(0.1)
        return True

    def _on_exit(self, process: ModelProcess) -> None:
        with self._cond:
            if process is not self.process:
                return
            code = process.returncode or 0
            crashed = not process.stopping
            self.status = UNLOADED
            if crashed:
                self.exit_code = shell_exit_code(code) if code else 1
                self.exit_how = describe_exit(code)
                now = time.monotonic()
                self._crashes.append(now)
                while self._crashes and now - self._crashes[0] > self.crash_window:
                    self._crashes.popleft()
                if len(self._crashes) >= self.crash_limit:
                    self.down_reason = (f"crashed {len(self._crashes)} times within {self.crash_window:g} s, "
                                        f"last with {self.exit_how}")
                process.logger.error("model '%s' crashed (%s); last lines: %s", self.name, self.exit_how,
                                     " | ".join(process.last_lines()[-8:]) or "none")
            else:
                self.exit_code = 0
                self.exit_how = ""
            self._cond.notify_all()
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    def __repr__(self) -> str:
        return f"<SupervisedModel {self.name} {self.status}>"
