"""llama-server's router API over HTTP, in front of a Router: ``xllamacpp serve --models-dir DIR``.

The router's own routes answer here (GET /models, /v1/models, POST /models/load,
/models/unload, GET /models/sse, DELETE /models, POST /models, GET /health,
GET /props without ?model=); every other request is relayed as it is to the
child of the model it names (the body's "model" for POST, ``?model=`` else),
whose llama-server answers it. When that child dies, a request whose answer
has not begun gets a 503 JSON error, and a stream already under way gets one
server-sent error event (``data: {"error": ...}``), then its end.
"""
from __future__ import annotations

import http.client
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple, cast
from urllib.parse import parse_qs, urlsplit

from . import _json
from ._errors import RequestError, XlcError
from ._remote import Refused, error_body, whole
from ._router import Router

if TYPE_CHECKING:
    from ._remote import Exchange
    from ._router import _Entry

logger = logging.getLogger("xllamacpp.router")

# the routes the router answers itself; the rest go to a model (tests/test_drift.py compares with server.cpp)
ROUTER_ROUTES = {
    ("GET", "/health"), ("GET", "/v1/health"), ("GET", "/models"), ("GET", "/v1/models"), ("GET", "/props"),
    ("POST", "/models"), ("POST", "/models/load"), ("POST", "/models/unload"), ("GET", "/models/sse"),
    ("DELETE", "/models"),
}
PUBLIC = {"/health", "/v1/health"}  # answered without an API key, as llama-server's
_build_info_cache: Optional[str] = None


def _build_info() -> str:
    global _build_info_cache
    if _build_info_cache is None:
        from ._system import get_build_info

        info = get_build_info()
        _build_info_cache = f"b{info.get('build_number')}-{info.get('commit')}"
    return _build_info_cache


class RouterHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, router: Router, host: str, port: int, api_keys: Tuple[str, ...] = ()):
        self.router = router
        self.api_keys = api_keys
        self.stopping = threading.Event()
        super().__init__((host, port), _Handler)

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"  # host is a str: the server listens on AF_INET(6)

    def stop(self) -> None:
        """Stops accepting, ends the event streams, and stops every model's child."""
        self.stopping.set()
        self.shutdown()
        self.router.close()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RouterHTTPServer  # pyright: ignore[reportIncompatibleVariableOverride]  # the server this handler is made by

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        logger.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_OPTIONS(self) -> None:
        self._send_json(200, {})

    # --- answers -----------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str = "application/json; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, value: Any) -> None:
        self._send(status, _json.dumps(value))

    def _send_error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._send_json(status, error_body(status, message, kind))

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    # --- dispatch --------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = url.path, url.query
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        router = self.server.router
        if self.server.api_keys and path not in PUBLIC and not self._authorized():
            self._send_error(401, "Invalid API Key", "authentication_error")
            return
        try:
            if (method, path) in ROUTER_ROUTES and not (path == "/props" and parse_qs(query).get("model")):
                self._own(method, path, query, body)
                return
            exchange = router.route(method, path, body, query)
        except Refused as e:
            self._send_json(e.status, e.body)
            return
        except RequestError as e:
            self._send_json(e.http_status, {"error": e.error})
            return
        except XlcError as e:
            self._send_error(503, str(e), "unavailable_error")
            return
        self._relay(exchange)

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else self.headers.get("X-Api-Key", "")
        return key in self.server.api_keys

    def _relay(self, exchange: "Exchange") -> None:
        """The child's answer, as it comes; a stream whose child dies ends with an SSE error event."""
        response = exchange.response
        if not exchange.streamed:
            try:
                raw = exchange.read_all()
            except RequestError as e:  # the child died before its answer was whole
                self._send_json(e.http_status, {"error": e.error})
                return
            self._send(exchange.status, raw, exchange.content_type or "application/json; charset=utf-8")
            return
        self.send_response(exchange.status)
        self.send_header("Content-Type", exchange.content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while True:
                try:
                    data = response.read1(65536)
                except (OSError, http.client.HTTPException) as e:
                    error = exchange.child.gone_error(e)
                    event = error_body(503, str(error), "unavailable_error")
                    self._chunk(b"data: " + _json.dumps(event) + b"\n\n")
                    break
                if not data:
                    if not whole(response) or exchange.child.wait(0):  # broke off (the child died)
                        event = error_body(503, str(exchange.child.failure("died during the request")),
                                           "unavailable_error")
                        self._chunk(b"data: " + _json.dumps(event) + b"\n\n")
                    break
                self._chunk(data)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True  # the client left: closing the child's connection stops its generation
        finally:
            exchange.cancel()
            exchange.close()

    def _own(self, method: str, path: str, query: str, body: bytes) -> None:
        router = self.server.router
        params = parse_qs(query)
        if path in ("/health", "/v1/health"):
            self._send_json(200, {"status": "ok"})
        elif path in ("/models", "/v1/models") and method == "GET":
            self._send_json(200, {"data": router.models(), "object": "list"})
        elif path == "/props":
            self._send_json(200, {
                "role": "router", "max_instances": router.models_max, "models_autoload": router.autoload,
                "model_alias": "llama-server", "model_path": "none",
                "default_generation_settings": {"params": None, "n_ctx": 0},
                "ui_settings": {}, "build_info": _build_info(), "cors_proxy_enabled": False})
        elif path == "/models/load":
            name = _model_of(body)
            entry = router._get(name, 404)
            if entry.model.running:
                raise Refused(400, "model is already running")
            threading.Thread(target=router._start_quietly, args=(entry,), daemon=True).start()
            self._wait_loading(entry)
            self._send_json(200, {"success": True})
        elif path == "/models/unload":
            entry = router._get(_model_of(body))
            if not entry.model.running:
                raise Refused(400, "model is not running")
            threading.Thread(target=entry.model.unload, daemon=True).start()
            self._send_json(200, {"success": True})
        elif path == "/models/sse":
            self._events()
        elif path == "/models" and method == "POST":
            raise Refused(400, "downloading models is not supported: put the GGUF file in --models-dir")
        elif path == "/models" and method == "DELETE":
            name = params.get("model", [""])[0]
            if not name:
                raise Refused(400, "model must be a non-empty string")
            router._get(name, 400, f"model name={name} is not found")
            raise Refused(400, f"model name={name} is not removable (not from cache)")
        else:
            self._send_error(404, "File Not Found", "not_found_error")

    @staticmethod
    def _wait_loading(entry: "_Entry") -> None:
        """Until the load has begun, so that GET /models right after shows it loading (llama-server's load() spawns
        before it answers)."""
        import time

        deadline = time.monotonic() + 5
        while entry.model.status == "unloaded" and entry.model.last_error is None and time.monotonic() < deadline:
            time.sleep(0.01)

    def _events(self) -> None:
        router = self.server.router
        q = router.subscribe()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            import queue

            while not self.server.stopping.is_set():
                try:
                    event = q.get(timeout=0.5)
                except queue.Empty:
                    continue
                if event is None:
                    break
                self._chunk(b"data: " + _json.dumps(event) + b"\n\n")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            router.unsubscribe(q)


def _model_of(body: bytes) -> str:
    try:
        value: Any = _json.loads(body) if body else {}
    except ValueError as e:
        raise Refused(400, f"the request body is not JSON: {e}") from None
    name: Any = cast(Dict[str, Any], value).get("model", "") if isinstance(value, dict) else ""
    return name if isinstance(name, str) else ""


__all__ = ["ROUTER_ROUTES", "RouterHTTPServer"]
