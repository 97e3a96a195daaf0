"""Server: llama.cpp's server running inside this process.

Every request, in-process or over the HTTP port the server opens, goes
through the same llama-server route table in the facade. The C calls release
the GIL; a stream callback takes it only for its own chunk.
"""
from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Tuple, cast

from . import _json

from ._errors import InvalidArgumentError, InvalidTypeError, RequestError, ServerClosedError
from ._library import c_bytes, call_out, check, error_for, ffi, lib, take_string
from ._stream import Body, Request, StreamMethods, event_decoder, request_body as _body

if TYPE_CHECKING:
    from ._library import CData
    from ._params import CommonParams

Callback = Callable[[Any], object]  # a true value returned stops the generation

# What Server() writes back into the params it is given, as upstream xllamacpp (2026.10.11549) does:
# the thread counts it resolves from -1 (the number of math cores; the batch and draft counts inherit
# the main one). Only fields the caller left unset are written: a value set explicitly stays as set.
WRITTEN_BACK = ("cpuparams.n_threads", "cpuparams_batch.n_threads", "speculative.draft.cpuparams.n_threads",
                "speculative.draft.cpuparams_batch.n_threads")


class Server(StreamMethods):
    """Loads ``params.model.path`` and serves it in-process and on ``listening_address``.

    The port: ``params.port``; its default, 0, picks a free one, so several
    Servers can share a process. ``params.port = -1`` opens no HTTP port.
    As upstream xllamacpp, the thread counts the server resolves are written
    back into ``params``: ``cpuparams.n_threads`` left at -1 reads as the number
    of math cores afterwards, and the batch and draft thread counts left at -1
    as what they inherit. A value the caller set is never changed.

    ``isolated=True`` runs the model in a supervised child process instead, behind
    the same methods (an IsolatedServer, docs/serving.md): a crash there raises
    ServerError here. A model with ``rpc_servers`` is isolated unless ``isolated=False``.
    """

    def __new__(cls, common_params: CommonParams, isolated: bool | None = None) -> "Server":
        # isolated=True (and, by default, a model with RPC servers): the model runs in a supervised child process
        if cls is Server:
            from ._isolated import wants_child

            if wants_child(common_params, isolated):
                from ._isolated import IsolatedServer

                return object.__new__(IsolatedServer)  # whose __init__ then runs (StreamMethods has no __new__)
        return super().__new__(cls)

    def __init__(self, common_params: CommonParams, isolated: bool | None = None):
        # imported here, not with the package: each loads something (the parameter schema and llama.cpp's
        # backends, LLGuidance, logging) that `import xllamacpp` should not pay for
        from . import _structured  # noqa: F401  # pyright: ignore[reportUnusedImport]  # LLGuidance, before the first request
        from ._log import sync_log_level
        from ._params import CommonParams

        if not isinstance(common_params, CommonParams):
            raise InvalidTypeError(f"Server takes a CommonParams, not {type(common_params).__name__}")
        values = common_params._json()
        sync_log_level()
        out = ffi.new("xlc_server **")
        check(lib.xlc_server_create(_json.dumps(values), out))
        self._ptr = cast("CData", out[0])
        self._closed = False
        self._lock = threading.Lock()
        # frees the C server when this object goes, or at interpreter exit
        self._finalizer: weakref.finalize[..., object] = weakref.finalize(self, _free, self._ptr)
        self._address = call_out(lib.xlc_server_address, self._ptr)
        common_params._resolved(_json.loads(call_out(lib.xlc_server_params, self._ptr)), WRITTEN_BACK)

    # --- lifecycle -----------------------------------------------------------

    @property
    def listening_address(self) -> str:
        """``http://HOST:PORT`` of the HTTP listener ("" when none was opened)."""
        return self._address

    def close(self) -> None:
        """Stops HTTP and the loop, ends requests in flight with an error, frees the model.

        Requests in flight end within about a second: in-process calls raise
        ServerClosedError, HTTP clients get a 503 or a closed connection. Callable
        from any thread, a stream callback included, and more than once.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        check(lib.xlc_server_close(self._ptr))

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- requests ------------------------------------------------------------

    def handle(self, method: str, path: str, body: Body | None = None,
               callback: Callback | None = None) -> Any:
        """Any llama-server route in-process: ``server.handle("POST", "/tokenize", {"content": "hi"})``.

        Returns the decoded JSON body (dict or list) whatever the status, or text
        for non-JSON bodies (``/metrics``). A streamed answer goes to ``callback``
        one event at a time, in the request's form (dict for dict, str, bytes).
        """
        return self._call(method, path, body, callback, keep_form=False, raise_refused=False)[1]

    def handle_completions(self, prompt: Request, callback: Callback | None = None) -> Any:
        """POST /v1/completions (OpenAI completions API); ``prompt`` is the request body.

        A dict request returns a dict; with a callback, every streamed event (or the
        whole answer, unstreamed) goes to it in the request's form and this returns
        None. The callback returning a true value stops the generation at once.
        """
        return self._infer("handle_completions", "/v1/completions", prompt, callback)

    def handle_chat_completions(self, prompt: Request, callback: Callback | None = None) -> Any:
        """POST /v1/chat/completions (OpenAI chat API); as handle_completions."""
        return self._infer("handle_chat_completions", "/v1/chat/completions", prompt, callback)

    def handle_embeddings(self, prompt: Request) -> Any:
        """POST /v1/embeddings (OpenAI embeddings API): dict in, dict out; str/bytes in, str/bytes out."""
        return self._call("POST", "/v1/embeddings", prompt, None)[1]

    def handle_rerank(self, prompt: Request) -> Any:
        """POST /v1/rerank: dict in, dict out; str/bytes in, str/bytes out."""
        return self._call("POST", "/v1/rerank", prompt, None)[1]

    def handle_systemone(self, request: Request) -> Any:
        """POST /v1/systemone (a decision model's typed answers, TypeSafe-compatible): dict in, dict out;
        str/bytes in, str/bytes out. llama.cpp b11361 added the route; a llama.cpp before it answers
        404, an ordinary chat model an error object."""
        return self._call("POST", "/v1/systemone", request, None)[1]

    def handle_metrics(self) -> str:
        """GET /metrics: Prometheus text (needs ``params.endpoint_metrics = True``;
        otherwise the error body llama-server answers, as text)."""
        body = self._call("GET", "/metrics", None, None)[1]
        return body if isinstance(body, str) else _json.dumps(body).decode()

    # --- plumbing ------------------------------------------------------------

    def _infer(self, name: str, path: str, request: Request, callback: Callback | None) -> Any:
        if not isinstance(request, (dict, str, bytes, bytearray, memoryview)):
            raise InvalidTypeError(f"Server.{name} takes a dict, str or bytes request, not {type(request).__name__}")
        if callback is None and (not isinstance(request, dict) or request.get("stream")):
            raise InvalidArgumentError(f"Server.{name} requires a callback for streaming or a non dict prompt.")
        if callback is not None and not callable(callback):
            raise InvalidTypeError(f"Server.{name}: callback must be callable, not {type(callback).__name__}")
        _, body = self._call("POST", path, request, callback)
        if callback is None:
            return body
        if body:  # an unstreamed answer, or an error before the stream began
            callback(body)
        return None

    def _call(self, method: str, path: str, request: Body | None, callback: Callback | None,
              keep_form: bool = True, raise_refused: bool = True) -> Tuple[int, Any]:
        """Runs one request; keep_form: a str/bytes request gets str/bytes back (upstream's handle_*);
        raise_refused: a request the route refused outright raises RequestError (upstream's handle_*)."""
        if self._closed:
            raise ServerClosedError("the server is closed")
        if not isinstance(method, str) or not isinstance(path, str):
            raise InvalidTypeError("method and path are str")
        body = b"" if request is None else _body(request)
        as_text = keep_form and request is not None and not isinstance(request, (dict, list))
        c_callback: CData = ffi.NULL
        failures: list[BaseException] = []
        if callback is not None:
            decode = event_decoder(request if keep_form else None)

            def on_chunk(data: CData, size: int, _user_data: CData) -> int:
                try:
                    return 1 if callback(decode(c_bytes(data, size))) else 0
                except BaseException as e:  # re-raised below, after the C side stops
                    failures.append(e)
                    return -1

            c_callback = cast("CData", ffi.callback("xlc_stream_callback", on_chunk))
        status = ffi.new("int *")
        out_body = ffi.new("char **")
        out_type = ffi.new("char **")
        rc = lib.xlc_server_handle(self._ptr, method.encode(), path.encode(), body, len(body),
                                   lib.XLC_STREAM_EVENTS, c_callback, ffi.NULL, status, out_body, out_type)
        if failures:
            raise failures[0]
        refused = rc == lib.XLC_ERR_REQUEST  # the route refused it: its error answer is in out_body
        if rc != lib.XLC_OK and not refused:
            raise error_for(rc)
        content_type = take_string(cast("CData", out_type[0])) or ""
        raw = take_string(cast("CData", out_body[0])) or ""
        if refused and raise_refused:
            raise RequestError.from_response(raw, cast(int, status[0]))
        if as_text:
            return cast(int, status[0]), raw if isinstance(request, str) else raw.encode()
        if raw and content_type.startswith("application/json"):
            return cast(int, status[0]), _json.loads(raw)
        return cast(int, status[0]), raw


def _free(ptr: CData) -> None:
    lib.xlc_server_close(ptr)
    lib.xlc_server_wait_requests(ptr)  # iterator and async requests still on their threads
    lib.xlc_server_free(ptr)


__all__ = ["Server"]
