"""A keep-alive load with no retries: raw ``http.client`` connections, one per thread and server,
each reused for a mix of streamed and unstreamed requests (OpenAI chat, llama.cpp's
/completion, /v1/embeddings on an embedder). Used by tests/test_keepalive.py (ours) and
bench/keepalive.py (ours and llama-server, side by side).

A connection the server closes honestly (``Connection: close``) is reopened by
``http.client`` for the next request, as any HTTP/1.1 client does; a request sent on a
connection the server closes without saying so fails, and counts as an error.
"""
from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

CHAT = [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 2, "stream": True}),
    ("/completion", {"prompt": "The capital of France is", "n_predict": 2}),
    ("/completion", {"prompt": "Once upon a time", "n_predict": 2, "stream": True}),
]
EMBED = [("/v1/embeddings", {"input": "hello world"}), ("/v1/embeddings", {"input": ["a", "b c"]})]


class CountingConnection(http.client.HTTPConnection):
    """An HTTPConnection that counts the TCP connections it opens."""

    def __init__(self, url: str, timeout: float) -> None:
        u = urlsplit(url)
        super().__init__(u.hostname, u.port, timeout=timeout)
        self.opened = 0

    def connect(self) -> None:
        super().connect()
        self.opened += 1


def _answer_ok(path: str, body: dict, status: int, data: bytes) -> bool:
    if status != 200:
        return False
    if not body.get("stream"):
        return "error" not in json.loads(data)
    if path == "/completion":  # llama.cpp's native stream: its last event says stop
        events = [line for line in data.split(b"\n") if line.startswith(b"data: ")]
        return bool(events) and json.loads(events[-1][6:]).get("stop") is True
    return b"data: [DONE]" in data


def run_load(chat_url: str, embed_url: str, requests: int = 1000, threads: int = 32,
             timeout: float = 300.0, api_key: str | None = None) -> dict:
    """Sends `requests` requests from `threads` threads; returns the counts and error kinds."""
    local = threading.local()
    connections: list[CountingConnection] = []
    lock = threading.Lock()
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"

    def conn(which: str) -> CountingConnection:
        c = getattr(local, which, None)
        if c is None:
            c = CountingConnection(chat_url if which == "chat" else embed_url, timeout)
            setattr(local, which, c)
            with lock:
                connections.append(c)
        return c

    def one(i: int):
        which = "embed" if i % 3 == 2 else "chat"
        path, body = EMBED[i % 2] if which == "embed" else CHAT[i % len(CHAT)]
        c = conn(which)
        t = time.perf_counter()
        try:
            c.request("POST", path, body=json.dumps(body), headers=headers)
            r = c.getresponse()
            data = r.read()
            ok = _answer_ok(path, body, r.status, data)
            return ok, time.perf_counter() - t, None if ok else f"HTTP {r.status} on {path}"
        except (OSError, http.client.HTTPException) as e:
            c.close()  # the next request on this thread opens a new connection; this one is not retried
            return False, time.perf_counter() - t, f"{type(e).__name__} on {path}"

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(one, range(requests)))
    wall = time.perf_counter() - t0
    for c in connections:
        c.close()
    errors = [r[2] for r in results if not r[0]]
    kinds: dict[str, int] = {}
    for e in errors:
        kinds[e] = kinds.get(e, 0) + 1
    return {"requests": requests, "threads": threads, "errors": len(errors), "error_kinds": kinds,
            "connections_opened": sum(c.opened for c in connections), "wall_s": round(wall, 1)}


def reconnect_cost(url: str, n: int = 300) -> dict:
    """GET /health on one reused connection against a new connection each time: what a
    `Connection: close` costs the next request on loopback, in microseconds."""
    def timed(fresh: bool) -> float:
        c = CountingConnection(url, 30)
        best = []
        for _ in range(n):
            t = time.perf_counter()
            c.request("GET", "/health")
            c.getresponse().read()
            if fresh:
                c.close()
            best.append(time.perf_counter() - t)
        c.close()
        best.sort()
        return best[len(best) // 2] * 1e6

    reused, fresh = timed(False), timed(True)
    return {"reused_us": round(reused), "fresh_us": round(fresh), "reconnect_us": round(fresh - reused)}
