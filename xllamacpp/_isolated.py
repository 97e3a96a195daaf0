"""IsolatedServer: one model in a supervised child process, behind exactly Server's methods.

``xlc.Server(params, isolated=True)`` returns one. The model loads in
``python -m xllamacpp serve`` (a child of this process) and every request is
proxied to it over loopback HTTP, so what can end a process (ggml's RPC client
losing its server mid-request, a CUDA error, the OOM killer) ends only the
child: the requests in flight raise ServerError, and the next request starts a
new child (see _supervised.py for the crash limit).
"""
from __future__ import annotations

import os
import threading
import weakref
from typing import TYPE_CHECKING, Any, Dict, Optional

from ._errors import InvalidArgumentError, InvalidTypeError
from ._remote import Exchange, RemoteMethods, unavailable
from ._server import Server
from ._supervised import CRASH_LIMIT, CRASH_WINDOW, STOP_TIMEOUT, SupervisedModel

if TYPE_CHECKING:
    from ._params import CommonParams


def wants_child(params: Any, isolated: Optional[bool]) -> bool:
    """isolated as given; by default, a model that names RPC servers (whose loss ggml turns into an abort)."""
    if isolated is not None:
        return bool(isolated)
    from ._params import CommonParams

    return isinstance(params, CommonParams) and bool(params.rpc_servers)


# RemoteMethods's stream methods return a RemoteStream, Stream's duck-typed equivalent over a child
class IsolatedServer(RemoteMethods, Server):  # type: ignore[misc]  # pyright: ignore[reportIncompatibleMethodOverride]
    """Server's interface over a model in a child process (``xlc.Server(params, isolated=True)``).

    ``stop_timeout``: seconds close() waits for the child before SIGKILL; ``crash_limit`` crashes within
    ``crash_window`` seconds keep the model down until ``restart()``.
    """

    def __init__(self, common_params: "CommonParams", isolated: Optional[bool] = True, *,  # pyright: ignore[reportInconsistentConstructor]  # Server.__new__ returns this class
                 stop_timeout: float = STOP_TIMEOUT, crash_limit: int = CRASH_LIMIT,
                 crash_window: float = CRASH_WINDOW):
        from ._params import CommonParams

        if not isinstance(common_params, CommonParams):
            raise InvalidTypeError(f"Server takes a CommonParams, not {type(common_params).__name__}")
        if not common_params.model.path:
            # Server's words (xlc_server.cpp), which upstream's own follow
            raise InvalidArgumentError("params.model.path is required: a Server loads one model (llama-server's "
                                       "router feature, which starts with none, is not part of Server)")
        self._closed = False
        self._lock = threading.Lock()
        values = dict(common_params._json())
        port = common_params.port
        self._show_address = port != -1
        if port == -1:
            values.pop("port", None)  # the child needs its port; this object shows none
        values.pop("hostnames", None)
        name = os.path.splitext(os.path.basename(common_params.model.path))[0]
        hosts = common_params.hostnames
        host = hosts[0] if isinstance(hosts, (list, tuple)) and hosts and port not in (0, -1) else "127.0.0.1"
        rpc = common_params.rpc_servers or ""
        # the RPC servers are named again in the child, whose process must attach their devices itself
        self._model = SupervisedModel(name, ["--rpc", rpc] if rpc else [], path=common_params.model.path, params_json=values,
                                      stop_timeout=stop_timeout, crash_limit=crash_limit, crash_window=crash_window,
                                      rpc_servers=common_params.rpc_servers or "",
                                      listen=(host, port if port > 0 else 0))
        self._model.ensure(explicit=True)
        # here the finalizer stops the child, where Server's frees the C server
        self._finalizer = weakref.finalize(self, self._model.unload)

    @property
    def listening_address(self) -> str:
        process = self._model.process
        return process.address if self._show_address and process is not None else ""

    @property
    def pid(self) -> int:
        """The child's process id (0 when none runs)."""
        process = self._model.process
        return process.pid if process is not None and process.alive else 0

    def status(self) -> Dict[str, Any]:
        """The model's status, as a router's GET /models shows it."""
        return self._model.status_json()

    def restart(self) -> None:
        """Starts the child again now, also past the crash limit."""
        self._check_open()
        self._model.ensure(explicit=True)

    def close(self) -> None:
        """Stops the child (SIGTERM; SIGKILL after stop_timeout); requests in flight end with an error."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._finalizer()

    def _open(self, method: str, path: str, body: bytes) -> Exchange:
        try:
            process = self._model.ensure()
        except Exception as e:
            if hasattr(e, "body"):
                raise
            raise unavailable(e) from None
        return Exchange(process, method, path, body)


__all__ = ["IsolatedServer", "wants_child"]
