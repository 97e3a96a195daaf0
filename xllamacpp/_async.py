"""AsyncServer: the asyncio form of Server, as openai's AsyncOpenAI is of OpenAI.

    server = xlc.AsyncServer(xlc.Server(params))
    reply = await server.handle_chat_completions({"messages": [...]})
    async for chunk in server.stream_chat_completions({"messages": [...]}):
        ...

Every method has the name and arguments of Server's, and is awaited (or, for
the stream methods, read with ``async for``). Nothing blocks the event loop:
the facade runs each request on a thread of its own (xlc_request) and wakes
the loop through a descriptor the loop watches, with no polling and no Python
thread per request. Cancelling the task that awaits stops the generation and
frees its slot.
"""
from __future__ import annotations

import asyncio
import inspect
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Tuple, Union, cast

from . import _json
from ._errors import InvalidArgumentError, InvalidTypeError, RequestError, XlcRuntimeError
from ._library import ffi, lib, take_string

if TYPE_CHECKING:
    from ._library import CData
from ._params import CommonParams
from ._server import Server
from ._stream import _END, _WHOLE, MAX_PENDING, Body, Request, RequestReader, streamed

AsyncCallback = Callable[[Any], Any]  # returns None/True, or an awaitable of it


class AsyncStream:
    """An async iterator of a request's events; ``async with`` stops the request on exit."""

    def __init__(self, server: Server, method: str, path: str, body: Optional[Body], *, form: Any,
                 max_pending: int = MAX_PENDING, raise_errors: bool = True, raw: bool = False):
        self._reader = RequestReader(server, method, path, body, form=form, max_pending=max_pending,
                                     raise_errors=raise_errors, raw=raw)
        self._live = True  # the request runs or has events to take; False once ended, closed or cancelled
        self._cancelled = False
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._loop_thread = 0
        self._fd = -1
        self._waiter: Optional[asyncio.Future[None]] = None
        # (HTTP status, content type, refused) once ended, for AsyncServer; refused: the route refused the
        # request outright (XLC_ERR_REQUEST), which Server's handle_* raise
        self._head: Optional[Tuple[int, str, bool]] = None

    def __aiter__(self) -> "AsyncStream":
        return self

    async def __anext__(self) -> Any:
        kind, payload = await self._take()
        if kind == _END:
            raise StopAsyncIteration
        return self._event(kind, payload)

    def _event(self, kind: int, payload: Optional[bytes]) -> Any:
        try:
            return self._reader.event(kind, payload)
        except BaseException:
            self.close()
            raise

    async def _take(self) -> Tuple[int, Optional[bytes]]:
        """(kind, payload) of the next event; (_END, None) once the request has ended well or was closed."""
        reader = self._reader
        try:
            while True:
                if not self._live:
                    return _END, None
                kind, payload = reader.take(0)
                if kind != 0:
                    break
                await self._readable()
        except BaseException:  # cancelled while waiting: stop the generation now
            self.close()
            raise
        if kind == _END:
            self._live = False
            try:
                status = ffi.new("int *")
                ctype = ffi.new("char **")
                rc = lib.xlc_request_result(reader.ptr, status, ctype)
                self._head = (cast(int, status[0]), take_string(cast("CData", ctype[0])) or "", rc == lib.XLC_ERR_REQUEST)
                reader.finish(self._cancelled)
            finally:
                self._unwatch()
                reader.free()
        return kind, payload

    def _readable(self) -> "asyncio.Future[None]":
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()
            fd = lib.xlc_request_fd(self._reader.ptr)
            if fd < 0:
                raise XlcRuntimeError("the facade could not open a descriptor for the request")
            self._fd = fd
            # the loop holds only a weak reference, so that a stream dropped unread is collected (and stopped)
            me: "weakref.ref[AsyncStream]" = weakref.ref(self)
            loop.add_reader(fd, _on_readable, fd, me)
        self._waiter = loop.create_future()
        return self._waiter

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _unwatch(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0 and self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(fd)

    def close(self) -> None:
        """Stops the request (its slot is freed at once) and ends the iteration. Call it on the loop's thread."""
        if self._live:
            self._live = False
            self._cancelled = True
            self._unwatch()
            self._reader.free()
        self._wake()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> "AsyncStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_live", False):
            return
        self._live = False
        loop, fd, reader = self._loop, self._fd, self._reader
        if loop is None or fd < 0 or loop.is_closed():
            reader.free()
        elif self._loop_thread == threading.get_ident():
            loop.remove_reader(fd)
            reader.free()
        else:  # collected on another thread: the loop's selector is the loop's to change
            loop.call_soon_threadsafe(_unwatch_and_free, loop, fd, reader)


def _on_readable(fd: int, ref: "weakref.ref[AsyncStream]") -> None:
    try:
        os.read(fd, 64)
    except OSError:  # nothing left (another wake-up took it)
        pass
    stream = ref()
    if stream is not None:
        stream._wake()


def _unwatch_and_free(loop: asyncio.AbstractEventLoop, fd: int, request: RequestReader) -> None:
    loop.remove_reader(fd)
    request.free()


class AsyncServer:
    """A Server's requests as coroutines and async iterators, for asyncio programs.

    ``AsyncServer(server)`` wraps a running Server (sync and async callers then share its
    model and slots); ``AsyncServer(params)`` starts one (the model loads before this returns).
    """

    def __new__(cls, server: Union[Server, CommonParams]) -> "AsyncServer":
        from ._remote import AsyncRemote, RemoteMethods

        if isinstance(server, RemoteMethods):  # an IsolatedServer or a Router: its methods on worker threads
            return AsyncRemote(server)  # type: ignore[return-value]
        return super().__new__(cls)

    def __init__(self, server: Union[Server, CommonParams]):
        if isinstance(server, CommonParams):
            server = Server(server)
        if not isinstance(server, Server):
            raise InvalidTypeError(f"AsyncServer takes a Server or CommonParams, not {type(server).__name__}")
        self.server = server

    @property
    def listening_address(self) -> str:
        return self.server.listening_address

    def close(self) -> None:
        """Closes the Server (blocks until its loop has stopped; ``await aclose()`` does it off the loop)."""
        self.server.close()

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.server.close)

    async def __aenter__(self) -> "AsyncServer":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    # --- streams ---------------------------------------------------------------

    def stream(self, method: str, path: str, body: Optional[Body] = None, *,
               max_pending: int = MAX_PENDING) -> AsyncStream:
        """Any route's events, as Server.stream: ``async for event in server.stream("POST", path, body)``."""
        return AsyncStream(self.server, method, path, body, form=None, max_pending=max_pending)

    def stream_completions(self, request: Request, *, max_pending: int = MAX_PENDING) -> AsyncStream:
        """POST /v1/completions streamed, as Server.stream_completions: ``async for chunk in ...``."""
        request = streamed(request, "stream_completions")
        return AsyncStream(self.server, "POST", "/v1/completions", request, form=request, max_pending=max_pending)

    def stream_chat_completions(self, request: Request, *, max_pending: int = MAX_PENDING) -> AsyncStream:
        """POST /v1/chat/completions streamed, as Server.stream_chat_completions."""
        request = streamed(request, "stream_chat_completions")
        return AsyncStream(self.server, "POST", "/v1/chat/completions", request, form=request,
                           max_pending=max_pending)

    # --- requests, as Server's -------------------------------------------------

    async def handle(self, method: str, path: str, body: Optional[Body] = None,
                     callback: Optional[AsyncCallback] = None) -> Any:
        """Any llama-server route, as Server.handle; a streamed answer goes to callback (which may be async)."""
        if callback is None:
            return (await self._call(method, path, body, keep_form=False))[1]
        return await self._events(method, path, body, callback, form=None, whole_to_callback=False)

    async def handle_completions(self, request: Request, callback: Optional[AsyncCallback] = None) -> Any:
        """POST /v1/completions, as Server.handle_completions; callback may be a coroutine function."""
        return await self._infer("handle_completions", "/v1/completions", request, callback)

    async def handle_chat_completions(self, request: Request, callback: Optional[AsyncCallback] = None) -> Any:
        """POST /v1/chat/completions, as Server.handle_chat_completions."""
        return await self._infer("handle_chat_completions", "/v1/chat/completions", request, callback)

    async def handle_embeddings(self, request: Request) -> Any:
        """POST /v1/embeddings, as Server.handle_embeddings."""
        return (await self._call("POST", "/v1/embeddings", request, raise_refused=True))[1]

    async def handle_rerank(self, request: Request) -> Any:
        """POST /v1/rerank, as Server.handle_rerank."""
        return (await self._call("POST", "/v1/rerank", request, raise_refused=True))[1]

    async def handle_metrics(self) -> str:
        """GET /metrics, as Server.handle_metrics."""
        body = (await self._call("GET", "/metrics", None, keep_form=False))[1]
        return body if isinstance(body, str) else _json.dumps(body).decode()

    # --- plumbing ----------------------------------------------------------------

    async def _infer(self, name: str, path: str, request: Request, callback: Optional[AsyncCallback]) -> Any:
        if not isinstance(request, (dict, str, bytes, bytearray, memoryview)):
            raise InvalidTypeError(f"AsyncServer.{name} takes a dict, str or bytes request, not {type(request).__name__}")
        if callback is None and (not isinstance(request, dict) or request.get("stream")):
            raise InvalidArgumentError(f"AsyncServer.{name} requires a callback for streaming or a non dict prompt.")
        if callback is None:
            return (await self._call("POST", path, request, raise_refused=True))[1]
        await self._events("POST", path, request, callback, form=request, whole_to_callback=True)
        return None

    async def _events(self, method: str, path: str, body: Optional[Body], callback: AsyncCallback,
                      form: Any, whole_to_callback: bool) -> Any:
        """Each streamed event to callback until it returns True; an unstreamed answer (or an error) goes
        to callback too when whole_to_callback (handle_*), else it is returned (handle), as Server does."""
        stream = AsyncStream(self.server, method, path, body, form=form, raise_errors=False)
        try:
            while True:
                kind, payload = await stream._take()
                if kind == _END:
                    return None
                event = stream._event(kind, payload)
                if kind == _WHOLE and not whole_to_callback:
                    return event
                if kind == _WHOLE:  # the last event: the request has ended, and a refusal raises (as Server's)
                    status = ffi.new("int *")
                    if lib.xlc_request_result(stream._reader.ptr, status, ffi.NULL) == lib.XLC_ERR_REQUEST:
                        raise RequestError.from_response(event, cast(int, status[0]))
                result = callback(event)
                if inspect.isawaitable(result):
                    result = await result
                if result:  # any true value stops, as upstream's callbacks
                    return None
        finally:
            stream.close()

    async def _call(self, method: str, path: str, request: Optional[Body], keep_form: bool = True,
                    raise_refused: bool = False) -> Tuple[int, Any]:
        """(HTTP status, body) as Server._call returns them, awaited; raise_refused as Server._call."""
        stream = AsyncStream(self.server, method, path, request, form=None, raise_errors=False, raw=True)
        chunks: List[bytes] = []
        try:
            while True:
                kind, payload = await stream._take()
                if kind == _END:
                    break
                chunks.append(payload or b"")
        finally:
            stream.close()
        assert stream._head is not None  # set when the request ended
        status, content_type, refused = stream._head
        raw = b"".join(chunks)
        if refused and raise_refused:
            raise RequestError.from_response(raw, status)
        if keep_form and request is not None and not isinstance(request, dict):
            return status, raw.decode("utf-8", "replace") if isinstance(request, str) else raw
        if raw and content_type.startswith("application/json"):
            return status, _json.loads(raw)
        return status, raw.decode("utf-8", "replace")


__all__ = ["AsyncServer", "AsyncStream"]
