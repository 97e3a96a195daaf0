"""Keep-alive that drops nothing: 32 raw http.client clients, no retries (docs/reliability.md).

llama-server's figure for the same load is in `make bench-keepalive` (bench/keepalive.py).
"""
from __future__ import annotations

import http.client
import json
import socket
import time

import pytest

import xllamacpp as xlc
from conftest import make_params
from keepalive_load import run_load


@pytest.fixture(scope="module")
def chat_server(model_path):
    with xlc.Server(make_params(model_path, n_parallel=8, n_ctx=4096)) as s:
        yield s


@pytest.fixture(scope="module")
def embed_server(embedding_model):
    with xlc.Server(make_params(embedding_model, embedding=True, n_ctx=512, n_batch=128, n_ubatch=128,
                                n_parallel=4)) as s:
        yield s


def _post(conn: http.client.HTTPConnection, path: str, body: dict):
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    return r, r.read()


def test_streamed_answers_say_connection_close_and_the_others_keep_alive(chat_server):
    host, port = chat_server.listening_address[len("http://"):].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    r, _ = _post(conn, "/completion", {"prompt": "Hi", "n_predict": 2})
    assert r.getheader("Connection") is None
    assert r.getheader("Keep-Alive") == "timeout=60, max=100"
    assert conn.sock is not None, "an unstreamed answer keeps the connection"
    r, data = _post(conn, "/completion", {"prompt": "Hi", "n_predict": 2, "stream": True})
    assert r.getheader("Connection") == "close" and b'"stop":true' in data
    assert conn.sock is None, "http.client closes the connection the server said it closes"
    r, _ = _post(conn, "/completion", {"prompt": "Hi", "n_predict": 2})  # on a new connection, no error
    assert r.status == 200
    conn.close()


def test_32_raw_clients_reusing_connections_get_every_answer(chat_server, embed_server):
    result = run_load(chat_server.listening_address, embed_server.listening_address, requests=1000, threads=32)
    print("xllamacpp:", result)
    assert result["errors"] == 0, result
    # a new connection only after a streamed answer (a third of the chat requests) or a thread's first
    assert result["connections_opened"] <= 1000 // 3 + 2 * 32, result


def _idle_connection_closed_after(port: int, limit: float) -> float:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(limit)
        t = time.monotonic()
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return time.monotonic() - t
            data += chunk


@pytest.mark.slow
def test_the_idle_timeout_is_the_environment_s_and_advertised(model_path, monkeypatch):
    monkeypatch.setenv("XLLAMACPP_KEEP_ALIVE_TIMEOUT", "2")
    with xlc.Server(make_params(model_path, n_parallel=1)) as s:
        port = int(s.listening_address.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/health")
        r = conn.getresponse()
        r.read()
        assert r.getheader("Keep-Alive") == "timeout=2, max=100"
        conn.close()
        closed = _idle_connection_closed_after(port, 10)
        assert 1.5 < closed < 4, closed


def test_a_bad_keep_alive_timeout_is_refused_by_name(model_path, monkeypatch):
    monkeypatch.setenv("XLLAMACPP_KEEP_ALIVE_TIMEOUT", "soon")
    with pytest.raises(xlc.InvalidArgumentError, match="XLLAMACPP_KEEP_ALIVE_TIMEOUT"):
        xlc.Server(make_params(model_path))
