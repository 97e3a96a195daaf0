"""The stress suite's scenarios; each runs inside a stress child (stress/child.py).

load        1,000 requests from 32 HTTP clients (completions, chat, tokenize)
cycles      30 servers created and closed in one process: RSS growth
close       close() with every kind of request in flight, several rounds
api_keys    every route over HTTP without, with a wrong and with the right key
starvation  a normal request next to 16, 32 and 64 half-sent or idle connections
"""
from __future__ import annotations

import os
import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bad_inputs import _params


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _percentiles(values: list) -> dict:
    if not values:
        return {}
    v = sorted(values)
    pick = lambda q: v[min(len(v) - 1, int(q * len(v)))]  # noqa: E731
    return {"p50": round(pick(0.50), 3), "p95": round(pick(0.95), 3), "p99": round(pick(0.99), 3),
            "max": round(v[-1], 3), "mean": round(statistics.fmean(v), 3)}


def load(case: dict) -> dict:
    import requests
    import xllamacpp as xlc

    n, clients = case.get("requests", 1000), case.get("clients", 32)
    with xlc.Server(_params(n_parallel=8, n_ctx=4096)) as s:
        base = s.listening_address
        bodies = [
            ("/v1/completions", {"prompt": "The capital of France is", "max_tokens": 4}),
            ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}),
            ("/tokenize", {"content": "hello world"}),
            ("/v1/completions", {"prompt": "Once upon a time", "max_tokens": 4, "stream": True}),
        ]
        session = threading.local()

        def one(i: int):
            path, body = bodies[i % len(bodies)]
            if not hasattr(session, "s"):
                session.s = requests.Session()
            t = time.perf_counter()
            try:
                r = session.s.post(base + path, json=body, timeout=300)
                ok = r.status_code == 200 and (b"data: [DONE]" in r.content if body.get("stream") else "error" not in r.json())
                return ok, time.perf_counter() - t, r.status_code
            except requests.RequestException as e:
                # no retry: a reused connection the server closed without saying so is an error
                session.s = requests.Session()
                return False, time.perf_counter() - t, type(e).__name__

        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(one, range(n)))
        wall = time.perf_counter() - t0
    errors = [r for r in results if not r[0]]
    return {"outcome": "ok" if not errors else "errors", "requests": n, "clients": clients,
            "errors": len(errors), "error_kinds": sorted({str(e[2]) for e in errors})[:5],
            "wall_s": round(wall, 1), "latency_s": _percentiles([r[1] for r in results])}


def cycles(case: dict) -> dict:
    import xllamacpp as xlc

    n = case.get("cycles", 30)
    rss = []
    times = []
    for i in range(n):
        t = time.perf_counter()
        s = xlc.Server(_params(port=0 if i % 2 else -1))
        r = s.handle_completions({"prompt": "Hi", "max_tokens": 2})
        assert r["choices"], r
        s.close()
        del s
        times.append(time.perf_counter() - t)
        rss.append(_rss_mb())
    return {"outcome": "ok", "cycles": n, "rss_first_mb": round(rss[0], 1), "rss_last_mb": round(rss[-1], 1),
            "rss_growth_mb": round(rss[-1] - rss[0], 1), "rss_growth_after_5_mb": round(rss[-1] - rss[min(4, n - 1)], 1),
            "cycle_s": _percentiles(times)}


def _close_round() -> dict:
    """One server, every kind of request in flight, then close(): how long each took to end."""
    import requests
    import xllamacpp as xlc

    s = xlc.Server(_params(n_parallel=4, n_predict=-1))
    base = s.listening_address
    host, port = base[len("http://"):].rsplit(":", 1)
    long = {"prompt": "Tell a long story", "max_tokens": 3000, "ignore_eos": True}
    ended: dict = {}
    streaming = threading.Event()

    def mark(kind):
        ended[kind] = time.perf_counter()

    def in_process_stream():
        try:
            s.handle_completions({**long, "stream": True}, lambda c: streaming.set())
        except xlc.ServerClosedError:
            pass
        mark("in-process stream")

    def in_process_blocking():
        try:
            s.handle_completions(long)
        except xlc.ServerClosedError:
            pass
        mark("in-process")

    def http_blocking():
        try:
            requests.post(base + "/completion", json={**long, "n_predict": 3000}, timeout=120)
        except requests.RequestException:
            pass
        mark("http")

    def http_stream(headers=None, kind="http stream"):
        try:
            with requests.post(base + "/v1/completions", json={**long, "stream": True}, stream=True, timeout=120,
                               headers=headers or {}) as r:
                for _ in r.iter_lines():
                    pass
        except requests.RequestException:
            pass
        mark(kind)

    def resumable():
        http_stream({"X-Conversation-Id": f"stress-{os.getpid()}-{time.time()}"}, "http resumable stream")

    threads = [threading.Thread(target=f, daemon=True)
               for f in (in_process_stream, in_process_blocking, http_blocking, http_stream, resumable)]
    for th in threads:
        th.start()
    streaming.wait(120)
    time.sleep(1.0)
    partial = socket.create_connection((host, int(port)))
    partial.sendall(b"POST /completion HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"pro")
    idle = socket.create_connection((host, int(port)))
    t0 = time.perf_counter()
    s.close()
    closed = time.perf_counter() - t0
    for th in threads:
        th.join(60)
    hung = [th.name for th in threads if th.is_alive()]
    partial.close()
    idle.close()
    return {"close_s": closed, "ended_s": {k: round(v - t0, 3) for k, v in ended.items()}, "hung": hung}


def close(case: dict) -> dict:
    rounds = [_close_round() for _ in range(case.get("rounds", 5))]
    close_s = [r["close_s"] for r in rounds]
    ended = [v for r in rounds for v in r["ended_s"].values()]
    hung = sum(len(r["hung"]) for r in rounds) + sum(5 - len(r["ended_s"]) for r in rounds)
    return {"outcome": "ok" if not hung else "hang", "rounds": len(rounds), "kinds_in_flight": 7,
            "close_s": _percentiles(close_s), "requests_ended_s": _percentiles(ended), "not_ended": hung}


ROUTES = [("GET", "/health"), ("GET", "/v1/health"), ("GET", "/metrics"), ("GET", "/props"), ("POST", "/props"),
          ("GET", "/models"), ("GET", "/v1/models"), ("POST", "/completion"), ("POST", "/completions"),
          ("POST", "/v1/completions"), ("POST", "/chat/completions"), ("POST", "/v1/chat/completions"),
          ("POST", "/v1/chat/completions/control"), ("POST", "/v1/responses"), ("POST", "/responses"),
          ("POST", "/v1/audio/transcriptions"), ("POST", "/audio/transcriptions"), ("POST", "/v1/messages"),
          ("POST", "/v1/messages/count_tokens"), ("POST", "/infill"), ("POST", "/embedding"), ("POST", "/embeddings"),
          ("POST", "/v1/embeddings"), ("POST", "/rerank"), ("POST", "/reranking"), ("POST", "/v1/rerank"),
          ("POST", "/v1/reranking"), ("POST", "/tokenize"), ("POST", "/detokenize"), ("POST", "/apply-template"),
          ("POST", "/chat/completions/input_tokens"), ("POST", "/v1/chat/completions/input_tokens"),
          ("POST", "/responses/input_tokens"), ("POST", "/v1/responses/input_tokens"), ("GET", "/lora-adapters"),
          ("POST", "/lora-adapters"), ("GET", "/slots"), ("POST", "/slots/0"), ("GET", "/v1/stream"),
          ("POST", "/v1/streams/lookup"), ("DELETE", "/v1/stream"), ("GET", "/tools"), ("POST", "/tools"),
          ("GET", "/cors-proxy"), ("POST", "/cors-proxy")]
PUBLIC = {"/health", "/v1/health"}


def api_keys(case: dict) -> dict:
    import requests
    import xllamacpp as xlc

    wrong = []
    with xlc.Server(_params(api_keys=["sekret"], endpoint_metrics=True)) as s:
        base = s.listening_address
        for method, path in ROUTES:
            for headers, want_401 in [({}, path not in PUBLIC), ({"Authorization": "Bearer nope"}, path not in PUBLIC),
                                      ({"Authorization": "Bearer sekret"}, False), ({"X-Api-Key": "sekret"}, False)]:
                r = requests.request(method, base + path, json={}, headers=headers, timeout=60)
                if (r.status_code == 401) != want_401:
                    wrong.append(f"{method} {path} {headers} -> {r.status_code}")
    return {"outcome": "ok" if not wrong else "errors", "routes": len(ROUTES), "requests": len(ROUTES) * 4,
            "wrong": wrong[:10], "errors": len(wrong)}


def starvation(case: dict) -> dict:
    import requests
    import xllamacpp as xlc

    out = {}
    with xlc.Server(_params()) as s:
        host, port = s.listening_address[len("http://"):].rsplit(":", 1)
        for n in case.get("connections", [16, 32, 64]):
            socks = []
            for i in range(n):
                c = socket.create_connection((host, int(port)))
                if i % 2 == 0:  # half of them send half a request, half send nothing
                    c.sendall(b"POST /completion HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"pro")
                socks.append(c)
            time.sleep(0.5)
            lat = []
            for _ in range(5):
                t = time.perf_counter()
                try:
                    ok = requests.get(s.listening_address + "/health", timeout=60).status_code == 200
                except requests.RequestException:
                    ok = False
                lat.append(time.perf_counter() - t if ok else float("inf"))
            out[str(n)] = round(max(lat), 3)
            for c in socks:
                c.close()
            time.sleep(1.0)
    return {"outcome": "ok" if all(v < 1.0 for v in out.values()) else "slow", "max_latency_s": out}


def run(case: dict) -> dict:
    return globals()[case["scenario"]](case)
