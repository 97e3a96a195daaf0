"""Streams read with ``for``: ``for event in server.stream_completions(req): ...``.

Each stream is one xlc_request: the facade runs the request on a thread of its
own and queues its events; the iterator takes them one at a time, so the
caller's thread is only woken for an event, as with a callback. Leaving the
loop (break, an exception, close(), the iterator being collected) cancels the
request: the generation stops within one decoding step and its slot is free.

Back-pressure: at most ``max_pending`` events wait for a reader. One that falls
further behind gets its generation stopped (llama.cpp cannot pause a slot) and,
after the events already queued, StreamOverflowError.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Union, cast

from . import _json
from ._errors import InvalidArgumentError, InvalidTypeError, RequestError, ServerClosedError, Status, XlcRuntimeError
from ._library import c_bytes, error_for, ffi, lib, take_string

if TYPE_CHECKING:
    from ._library import CData

# any route's body: JSON as a dict or list, or the body's text or bytes as they are
Body = Union[Dict[str, Any], List[Any], str, bytes, bytearray, memoryview]
# a request to an inference route: a JSON object, or its text or bytes
Request = Union[Dict[str, Any], str, bytes, bytearray, memoryview]

MAX_PENDING = 1024  # events a reader may leave untaken before its generation is stopped
_MAIN_WAIT_MS = 250  # the main thread waits in slices so that Ctrl-C is seen (other threads wait whole)
_MAIN_THREAD = threading.main_thread().ident

# what xlc_request_next returns
_EVENT, _WHOLE, _EMPTY, _END = 1, 2, 0, -1
# bound once: they run for every streamed token
_next, _free = lib.xlc_request_next, lib.xlc_free


class StreamOverflowError(XlcRuntimeError):
    """A stream's reader left ``max_pending`` events untaken; its generation was stopped."""

    default_status: Status = "XLC_ERR_CALLBACK"


def request_body(request: Optional[Body]) -> bytes:
    """A request's body: dicts and lists as JSON, str as UTF-8, bytes as they are."""
    if request is None:
        return b""
    if isinstance(request, (dict, list)):
        try:
            data: bytes = _json.dumps(request)
            return data
        except (TypeError, ValueError, RecursionError) as e:
            raise InvalidTypeError(f"the request cannot be sent as JSON: {e}") from None
    if isinstance(request, str):
        return request.encode("utf-8", "surrogatepass")
    if isinstance(request, (bytes, bytearray, memoryview)):
        return bytes(request)
    raise InvalidTypeError(f"a request is a dict, list, str or bytes, not {type(request).__name__}")


def streamed(request: Request, name: str) -> Request:
    """A dict request with ``"stream": True``; str and bytes requests go as they are."""
    if isinstance(request, dict):
        return request if request.get("stream") is True else dict(request, stream=True)
    if isinstance(request, (str, bytes, bytearray, memoryview)):
        return request
    raise InvalidTypeError(f"Server.{name} takes a dict, str or bytes request, not {type(request).__name__}")


def event_decoder(form: Any) -> Callable[[bytes], Any]:
    """Events in the request's form: str for str, bytes for bytes, decoded JSON otherwise."""
    if isinstance(form, str):
        return lambda b: b.decode("utf-8", "replace")
    if isinstance(form, (bytes, bytearray, memoryview)):
        return bytes
    decode: Callable[[bytes], Any] = _json.loads
    return decode


def _error_in(event: Any) -> Any:
    """The error object of an error event, or None. Cheap for ordinary events."""
    if type(event) is dict:
        return cast(Dict[str, Any], event).get("error")
    if isinstance(event, (str, bytes)) and event[:9] in ('{"error":', b'{"error":'):
        return _json.loads(event).get("error")
    return None


class RequestReader:
    """One running xlc_request and the reading of it; shared by Stream and AsyncStream."""

    __slots__ = ("server", "ptr", "decode", "raise_errors", "raw", "_data", "_len", "__weakref__")
    ptr: "CData"  # ffi.NULL once freed

    def __init__(self, server: Any, method: str, path: str, body: Optional[Body], *, form: Any,
                 max_pending: int, raise_errors: bool = True, raw: bool = False):
        if server._closed:
            raise ServerClosedError("the server is closed")
        if not isinstance(max_pending, int) or max_pending < 1:
            raise InvalidArgumentError(f"max_pending must be a positive int, not {max_pending!r}")
        data = request_body(body)
        out = ffi.new("xlc_request **")
        flags = 0 if raw else lib.XLC_STREAM_EVENTS
        rc = lib.xlc_request_start(server._ptr, method.encode(), path.encode(), data, len(data), flags,
                                   max_pending, out)
        if rc != lib.XLC_OK:
            raise error_for(rc)
        self.server = server  # keeps the Server (and its C server) alive while this runs
        self.ptr = cast("CData", out[0])
        self.decode = event_decoder(form)
        self.raise_errors = raise_errors
        self.raw = raw
        self._data = ffi.new("char **")
        self._len = ffi.new("size_t *")

    def take(self, timeout_ms: int) -> Tuple[int, Any]:
        """(kind, payload bytes) of the next event; (EMPTY, None) when none came in time."""
        data = self._data
        kind = _next(self.ptr, timeout_ms, data, self._len)
        if kind > 0:
            ptr = cast("CData", data[0])
            try:
                return kind, c_bytes(ptr, cast(int, self._len[0]))
            finally:
                _free(ptr)
        return kind, None

    def event(self, kind: int, payload: Optional[bytes]) -> Any:
        """The Python form of one event; raises for an error when raise_errors."""
        payload = payload or b""
        if kind == _EVENT:
            if self.raw:
                return payload
            event = self.decode(payload)
            # the common case first: a dict without "error" (every token's event)
            if self.raise_errors and (type(event) is not dict or "error" in event):
                error = _error_in(event)
                if error is not None:
                    raise RequestError.from_response(error)
            return event  # pyright: ignore[reportUnknownVariableType]  (the JSON's own type; no cast call here: per token)
        # the whole answer of an unstreamed request (or of an error before a stream began)
        status = ffi.new("int *")
        ctype = ffi.new("char **")
        lib.xlc_request_result(self.ptr, status, ctype)
        content_type = take_string(cast("CData", ctype[0])) or ""
        if self.raise_errors and cast(int, status[0]) >= 400:
            raise RequestError.from_response(payload, cast(int, status[0]))
        if self.decode is _json.loads and not content_type.startswith("application/json"):
            return payload.decode("utf-8", "replace")
        return self.decode(payload)

    def finish(self, cancelled: bool) -> None:
        """Raises for how the request ended, unless it ended well or was cancelled here."""
        status = lib.xlc_request_result(self.ptr, ffi.NULL, ffi.NULL)
        # XLC_ERR_REQUEST: a refusal, whose error answer was the request's one event
        if status in (lib.XLC_OK, lib.XLC_ERR_REQUEST) or cancelled:
            return
        if status == lib.XLC_ERR_CALLBACK:
            raise StreamOverflowError.make(error_for(status).args[0], status="XLC_ERR_CALLBACK")
        raise error_for(status)

    def cancel(self) -> None:
        if self.ptr != ffi.NULL:
            lib.xlc_request_cancel(self.ptr)

    def free(self) -> None:
        ptr, self.ptr = getattr(self, "ptr", ffi.NULL), ffi.NULL  # getattr: also after a failed __init__
        if ptr != ffi.NULL:
            lib.xlc_request_free(ptr)

    def __del__(self) -> None:
        self.free()


class Stream:
    """An iterator of a request's events; a context manager that stops the request on exit."""

    _request: Optional[RequestReader] = None  # also when __init__ failed

    def __init__(self, server: Any, method: str, path: str, body: Optional[Body], *, form: Any,
                 max_pending: int = MAX_PENDING):
        self._request: Optional[RequestReader] = RequestReader(server, method, path, body, form=form, max_pending=max_pending)
        self._cancelled = False

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> Any:
        request = self._request
        if request is None:
            raise StopIteration
        try:
            if threading.get_ident() == _MAIN_THREAD:
                kind, payload = request.take(_MAIN_WAIT_MS)
                while kind == _EMPTY:
                    kind, payload = request.take(_MAIN_WAIT_MS)
            else:
                kind, payload = request.take(-1)
            if kind == _END:
                self._request = None
                try:
                    request.finish(self._cancelled)
                finally:
                    request.free()
                raise StopIteration
            return request.event(kind, payload)
        except StopIteration:
            raise
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stops the request (its slot is freed at once) and ends the iteration. From the reading thread;
        cancel() is the one to call from another."""
        request, self._request = self._request, None
        if request is not None:
            self._cancelled = True
            request.free()

    def cancel(self) -> None:
        """Stops the generation from any thread; the reader then gets the events already queued, and the end."""
        request = self._request
        if request is not None:
            self._cancelled = True
            request.cancel()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class StreamMethods:
    """The iterator forms of Server's requests (mixed into Server)."""

    def stream(self, method: str, path: str, body: Optional[Body] = None, *,
               max_pending: int = MAX_PENDING) -> Stream:
        """Any llama-server route, its events one at a time: decoded JSON (text for a non-JSON answer).

        An unstreamed answer is the one event; an error answer raises RequestError."""
        return Stream(self, method, path, body, form=None, max_pending=max_pending)

    def stream_completions(self, request: Request, *, max_pending: int = MAX_PENDING) -> Stream:
        """POST /v1/completions streamed: ``for chunk in server.stream_completions({"prompt": ...})``.

        A dict request is sent with ``"stream": True`` and yields dicts; str and bytes requests go as
        they are and yield str and bytes. An error raises RequestError (with the error object);
        leaving the loop early stops the generation and frees its slot."""
        request = streamed(request, "stream_completions")
        return Stream(self, "POST", "/v1/completions", request, form=request, max_pending=max_pending)

    def stream_chat_completions(self, request: Request, *, max_pending: int = MAX_PENDING) -> Stream:
        """POST /v1/chat/completions streamed; as stream_completions."""
        request = streamed(request, "stream_chat_completions")
        return Stream(self, "POST", "/v1/chat/completions", request, form=request, max_pending=max_pending)


__all__ = ["MAX_PENDING", "Body", "Request", "RequestError", "Stream", "StreamMethods", "StreamOverflowError"]
