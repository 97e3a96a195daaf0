"""Server's request methods over HTTP to a model's child process: shared by IsolatedServer and Router.

Each request is one loopback HTTP exchange with the child's llama-server
(its own route table, so every route and answer is the in-process one). A
streamed answer is read one server-sent event at a time; leaving a stream
closes its connection, which stops the generation in the child. When the
child dies, the request in flight ends at once with ServerError (HTTP 503),
raised from the call, the callback's caller or the iterator.
"""
from __future__ import annotations

import asyncio
import functools
import http.client
import inspect
import socket
import threading
from typing import TYPE_CHECKING, Any, AsyncGenerator, AsyncIterator, Callable, Dict, Generator, List, Optional, Tuple

from . import _json
from ._errors import (InvalidArgumentError, InvalidTypeError, RequestError, ServerClosedError, ServerError,
                      XlcError)
from ._stream import MAX_PENDING, Body, Request, _error_in, event_decoder, request_body, streamed

if TYPE_CHECKING:
    from ._child import ModelProcess

Callback = Callable[[Any], object]
UNAVAILABLE = 503


class Refused(Exception):
    """A request refused before it reached a child (no model named, an unknown model): status and error body."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"code": status, "message": message, "type": kind}}


def error_body(status: int, message: str, kind: str) -> Dict[str, Any]:
    return {"error": {"code": status, "message": message, "type": kind}}


def unavailable(exc: BaseException) -> ServerError:
    """ServerError (503) for a child that died, could not start or was stopped under a request."""
    body = error_body(UNAVAILABLE, str(exc), "unavailable_error")
    error = RequestError.from_response(body, UNAVAILABLE)
    assert isinstance(error, ServerError)
    return error


class Exchange:
    """One HTTP request to a child and the reading of its answer."""

    def __init__(self, child: "ModelProcess", method: str, path: str, body: bytes,
                 headers: Optional[Dict[str, str]] = None, release: Optional[Callable[[], None]] = None):
        self.child = child
        self._release = release
        self._conn: Optional[http.client.HTTPConnection] = None
        # the socket itself: an answer with `Connection: close` (a stream's) takes it over from the
        # connection, whose .sock is then None, and cancel() must still reach it
        self._sock: Optional[socket.socket] = None
        try:
            self._conn = child.connect()
            all_headers = {"Content-Type": "application/json"} if body else {}
            all_headers.update(headers or {})
            self._conn.request(method, path, body=body or None, headers=all_headers)
            self._sock = self._conn.sock
            self.response = self._conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise unavailable(child.gone_error(e)) from None
        except XlcError as e:
            self.close()
            raise unavailable(e) from None
        self.status = self.response.status
        self.content_type = self.response.getheader("Content-Type", "") or ""
        self.streamed = self.content_type.startswith("text/event-stream")

    def read_all(self) -> bytes:
        try:
            return self.response.read()
        except (OSError, http.client.HTTPException) as e:
            raise unavailable(self.child.gone_error(e)) from None
        finally:
            self.close()

    def events(self) -> Generator[bytes, None, None]:
        """The payloads (bytes) of the answer's server-sent events; ServerError if the child dies mid-stream."""
        data: List[bytes] = []
        try:
            while True:
                try:
                    line = self.response.readline()
                except (OSError, http.client.HTTPException, ValueError) as e:
                    if self._conn is None or self._cancelled_flag:
                        return  # cancelled from another thread
                    raise unavailable(self.child.gone_error(e)) from None
                if not line:
                    if self._cancelled_flag:
                        return
                    if not whole(self.response) or self.child.wait(0):
                        raise unavailable(self.child.gone_error(ConnectionError("the stream broke off")))
                    return
                line = line.rstrip(b"\r\n")
                if not line:
                    if data:
                        payload, data = b"\n".join(data), []
                        if payload != b"[DONE]":
                            yield payload
                    continue
                if line.startswith(b"data:"):
                    data.append(line[6:] if line[5:6] == b" " else line[5:])
        finally:
            self.close()

    _cancelled_flag = False

    def cancel(self) -> None:
        """Ends the exchange from any thread: the child sees the connection close and stops the generation."""
        self._cancelled_flag = True
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            response = getattr(self, "response", None)
            if response is not None:
                response.close()
        self._sock = None
        release, self._release = self._release, None
        if release is not None:
            release()


def whole(response: http.client.HTTPResponse) -> bool:
    """Whether an answer that ended was read to its end. http.client's readline and read1 end a chunked body
    that broke off (the child died) as they end a whole one; only a whole one read its last chunk."""
    if not response.isclosed():
        return False
    return not response.chunked or response.chunk_left is None


def _decode(raw: bytes, content_type: str) -> Any:
    if raw and content_type.startswith("application/json"):
        return _json.loads(raw)
    return raw.decode("utf-8", "replace")


class RemoteStream:
    """Server.stream's iterator over a child: one event at a time, a context manager that stops the request."""

    def __init__(self, owner: "RemoteMethods", method: str, path: str, body: Optional[Body], *, form: Any,
                 max_pending: int = MAX_PENDING):
        if not isinstance(max_pending, int) or max_pending < 1:
            raise InvalidArgumentError(f"max_pending must be a positive int, not {max_pending!r}")
        self._decode = event_decoder(form)
        self._owner = owner  # kept alive while the stream is read, as a Stream keeps its Server
        try:
            self._exchange: Optional[Exchange] = owner._open(method, path, request_body(body))
        except Refused as e:
            raise RequestError.from_response(e.body, e.status) from None
        self._events = self._exchange.events() if self._exchange.streamed else None

    def __iter__(self) -> "RemoteStream":
        return self

    def __next__(self) -> Any:
        exchange = self._exchange
        if exchange is None:
            raise StopIteration
        try:
            if self._events is None:  # an unstreamed answer (or an error before a stream began): the one event
                self._exchange = None
                raw = exchange.read_all()
                if exchange.status >= 400:
                    raise RequestError.from_response(raw, exchange.status)
                if self._decode is _json.loads and not exchange.content_type.startswith("application/json"):
                    return raw.decode("utf-8", "replace")
                return self._decode(raw)
            payload = next(self._events, None)
            if payload is None:
                self._exchange = None
                if self._owner._closed:  # close() ended the child's stream under this reader
                    raise ServerClosedError("the server was closed during the request")
                raise StopIteration
            event = self._decode(payload)
            error = _error_in(event)
            if error is not None:
                raise RequestError.from_response(error)
            return event
        except StopIteration:
            raise
        except ServerError:
            self.close()
            if self._owner._closed:  # close() stopped the child under this stream, as Server.close() does
                raise ServerClosedError("the server was closed during the request") from None
            raise
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stops the request and ends the iteration."""
        exchange, self._exchange = self._exchange, None
        if exchange is not None:
            exchange.cancel()
            exchange.close()

    def cancel(self) -> None:
        """Stops the generation from any thread; the iteration then ends."""
        exchange = self._exchange
        if exchange is not None:
            exchange.cancel()

    def __enter__(self) -> "RemoteStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class RemoteMethods:
    """Server's request methods, each one HTTP exchange with the child ``_open`` picks."""

    _closed = False

    def _open(self, method: str, path: str, body: bytes) -> Exchange:  # pragma: no cover
        """Starts the exchange; raises Refused for a request no child takes (no model named, an unknown one)."""
        raise NotImplementedError

    # --- requests, as Server's ---------------------------------------------------

    def handle(self, method: str, path: str, body: Body | None = None, callback: Callback | None = None) -> Any:
        """Any llama-server route of the model's server, as Server.handle."""
        return self._call(method, path, body, callback, keep_form=False, raise_refused=False)[1]

    def handle_completions(self, prompt: Request, callback: Callback | None = None) -> Any:
        """POST /v1/completions, as Server.handle_completions."""
        return self._infer("handle_completions", "/v1/completions", prompt, callback)

    def handle_chat_completions(self, prompt: Request, callback: Callback | None = None) -> Any:
        """POST /v1/chat/completions, as Server.handle_chat_completions."""
        return self._infer("handle_chat_completions", "/v1/chat/completions", prompt, callback)

    def handle_embeddings(self, prompt: Request) -> Any:
        """POST /v1/embeddings, as Server.handle_embeddings."""
        return self._call("POST", "/v1/embeddings", prompt, None)[1]

    def handle_rerank(self, prompt: Request) -> Any:
        """POST /v1/rerank, as Server.handle_rerank."""
        return self._call("POST", "/v1/rerank", prompt, None)[1]

    def handle_metrics(self) -> str:
        """GET /metrics, as Server.handle_metrics."""
        body = self._call("GET", "/metrics", None, None)[1]
        return body if isinstance(body, str) else _json.dumps(body).decode()

    def stream(self, method: str, path: str, body: Optional[Body] = None, *,
               max_pending: int = MAX_PENDING) -> RemoteStream:
        """Any route's events one at a time, as Server.stream."""
        self._check_open()
        return RemoteStream(self, method, path, body, form=None, max_pending=max_pending)

    def stream_completions(self, request: Request, *, max_pending: int = MAX_PENDING) -> RemoteStream:
        """POST /v1/completions streamed, as Server.stream_completions."""
        self._check_open()
        request = streamed(request, "stream_completions")
        return RemoteStream(self, "POST", "/v1/completions", request, form=request, max_pending=max_pending)

    def stream_chat_completions(self, request: Request, *, max_pending: int = MAX_PENDING) -> RemoteStream:
        """POST /v1/chat/completions streamed, as Server.stream_chat_completions."""
        self._check_open()
        request = streamed(request, "stream_chat_completions")
        return RemoteStream(self, "POST", "/v1/chat/completions", request, form=request, max_pending=max_pending)

    # --- plumbing ------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ServerClosedError("the server is closed")

    def _infer(self, name: str, path: str, request: Request, callback: Callback | None) -> Any:
        if not isinstance(request, (dict, str, bytes, bytearray, memoryview)):
            raise InvalidTypeError(f"Server.{name} takes a dict, str or bytes request, not {type(request).__name__}")
        if callback is None and (not isinstance(request, dict) or request.get("stream")):
            raise InvalidArgumentError(f"Server.{name} requires a callback for streaming or a non dict prompt.")
        if callback is not None and not callable(callback):
            raise InvalidTypeError(f"Server.{name}: callback must be callable, not {type(callback).__name__}")
        _status, body = self._call("POST", path, request, callback)
        if callback is None:
            return body
        if body:  # an unstreamed answer, or an error before the stream began
            callback(body)
        return None

    def _call(self, method: str, path: str, request: Body | None, callback: Callback | None,
              keep_form: bool = True, raise_refused: bool = True) -> Tuple[int, Any]:
        try:
            return self._call_child(method, path, request, callback, keep_form, raise_refused)
        except ServerError:
            if self._closed:  # close() stopped the child under this request, as Server.close() does
                raise ServerClosedError("the server was closed during the request") from None
            raise

    def _call_child(self, method: str, path: str, request: Body | None, callback: Callback | None,
                    keep_form: bool, raise_refused: bool) -> Tuple[int, Any]:
        self._check_open()
        if not isinstance(method, str) or not isinstance(path, str):
            raise InvalidTypeError("method and path are str")
        body = request_body(request)
        as_text = keep_form and request is not None and not isinstance(request, (dict, list))
        try:
            exchange = self._open(method, path, body)
        except Refused as e:
            if raise_refused:  # handle_*: raised, as Server's refusals are
                raise RequestError.from_response(e.body, e.status) from None
            return e.status, e.body  # handle(): the error answer, as for any route's
        if exchange.streamed and callback is not None:
            decode = event_decoder(request if keep_form else None)
            events = exchange.events()
            stopped = False
            try:
                for payload in events:
                    if self._closed:
                        break
                    if callback(decode(payload)):
                        stopped = True
                        break
            finally:
                exchange.cancel()
                events.close()
            if self._closed and not stopped:  # close() ended the child's stream under this request
                raise ServerClosedError("the server was closed during the request")
            return exchange.status, None
        raw = exchange.read_all()
        if as_text:
            return exchange.status, raw.decode("utf-8", "replace") if isinstance(request, str) else raw
        return exchange.status, _decode(raw, exchange.content_type)


class AsyncRemote:
    """AsyncServer's methods for an IsolatedServer or a Router: each runs the blocking form on a worker thread."""

    def __init__(self, server: RemoteMethods):
        self.server = server

    @property
    def listening_address(self) -> str:
        address: str = getattr(self.server, "listening_address", "")
        return address

    def close(self) -> None:
        self.server.close()  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    async def __aenter__(self) -> "AsyncRemote":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __getattr__(self, name: str) -> Any:  # load, unload, models of a Router
        return getattr(self.server, name)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def handle(self, method: str, path: str, body: Optional[Body] = None, callback: Optional[Callable[[Any], Any]] = None) -> Any:
        if callback is None:
            return await self._run(self.server.handle, method, path, body)
        await _deliver(self._stream(self.server.stream, method, path, body), callback)
        return None

    async def handle_completions(self, request: Request, callback: Optional[Callable[[Any], Any]] = None) -> Any:
        return await self._infer("completions", request, callback)

    async def handle_chat_completions(self, request: Request, callback: Optional[Callable[[Any], Any]] = None) -> Any:
        return await self._infer("chat_completions", request, callback)

    async def handle_embeddings(self, request: Request) -> Any:
        return await self._run(self.server.handle_embeddings, request)

    async def handle_rerank(self, request: Request) -> Any:
        return await self._run(self.server.handle_rerank, request)

    async def handle_metrics(self) -> str:
        metrics: str = await self._run(self.server.handle_metrics)
        return metrics

    async def _infer(self, kind: str, request: Request, callback: Optional[Callable[[Any], Any]]) -> Any:
        if callback is None:
            return await self._run(getattr(self.server, "handle_" + kind), request)
        if callback is not None and not callable(callback):
            raise InvalidTypeError(f"Server.handle_{kind}: callback must be callable, not {type(callback).__name__}")
        if isinstance(request, dict) and not request.get("stream"):
            await _maybe_await(callback(await self._run(getattr(self.server, "handle_" + kind), request)))
            return None
        await _deliver(self._stream(getattr(self.server, "stream_" + kind), request), callback)
        return None

    def stream(self, method: str, path: str, body: Optional[Body] = None, *, max_pending: int = MAX_PENDING) -> AsyncIterator[Any]:
        return self._stream(functools.partial(self.server.stream, max_pending=max_pending), method, path, body)

    def stream_completions(self, request: Request, *, max_pending: int = MAX_PENDING) -> AsyncIterator[Any]:
        return self._stream(functools.partial(self.server.stream_completions, max_pending=max_pending), request)

    def stream_chat_completions(self, request: Request, *, max_pending: int = MAX_PENDING) -> AsyncIterator[Any]:
        return self._stream(functools.partial(self.server.stream_chat_completions, max_pending=max_pending), request)

    async def _stream(self, open_stream: Callable[..., RemoteStream], *args: Any) -> AsyncGenerator[Any, None]:
        """The sync stream read on a worker thread, its events handed to the loop; leaving stops it."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Tuple[bool, Any]] = asyncio.Queue()
        stream: RemoteStream = await self._run(open_stream, *args)
        done = object()

        def hand(item: Tuple[bool, Any]) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: no reader is left
                stream.cancel()

        def pump() -> None:
            try:
                for event in stream:
                    hand((True, event))
                hand((True, done))
            except BaseException as e:  # noqa: BLE001 - handed to the reader
                hand((False, e))

        threading.Thread(target=pump, name="xllamacpp-remote-stream", daemon=True).start()
        try:
            while True:
                ok, item = await queue.get()
                if not ok:
                    raise item
                if item is done:
                    return
                yield item
        finally:
            stream.cancel()


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _deliver(events: AsyncGenerator[Any, None], callback: Callable[[Any], Any]) -> None:
    """Each event to the callback until it returns true or raises. The stream is closed here and now:
    an async generator left by a raise is only finalized when the loop gets to it, and until then
    the child goes on generating for no one."""
    try:
        async for event in events:
            if await _maybe_await(callback(event)):
                break
    finally:
        await events.aclose()


__all__ = ["AsyncRemote", "Exchange", "Refused", "RemoteMethods", "RemoteStream", "error_body", "unavailable",
           "whole"]
