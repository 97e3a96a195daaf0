"""Streams read with `for`: the same events as the callback, early exit, errors, back-pressure."""
from __future__ import annotations

import gc
import json
import sys
import threading
import time

import pytest

import xllamacpp as xlc
from conftest import make_params

PROMPT = "The capital of France is"
LONG = {"prompt": PROMPT, "max_tokens": 400, "ignore_eos": True}


def callback_events(server, method_name: str, request: dict) -> list:
    events: list = []
    getattr(server, method_name)(dict(request, stream=True), events.append)
    return events


def texts(events: list) -> list:
    out = []
    for e in events:
        choice = e["choices"][0] if e.get("choices") else {}
        out.append(choice.get("text", choice.get("delta", {}).get("content")))
    return out


def strip_volatile(events: list) -> list:
    """Events without what differs between two runs of one request (ids, clocks, timings, cache use)."""
    out = []
    for e in events:
        e = {k: v for k, v in e.items() if k not in ("id", "created", "timings")}
        if "usage" in e:
            e["usage"] = {k: v for k, v in e["usage"].items() if k != "prompt_tokens_details"}
        out.append(e)
    return out


def wait_idle(server, timeout: float = 10.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not any(slot["is_processing"] for slot in server.handle("GET", "/slots")):
            return
        time.sleep(0.02)
    raise AssertionError("a slot is still processing")


def test_iterator_equals_callback_for_completions(server):
    req = {"prompt": PROMPT, "max_tokens": 24, "temperature": 0}
    expected = callback_events(server, "handle_completions", req)
    got = list(server.stream_completions(req))
    assert len(got) == len(expected) > 20
    assert strip_volatile(got) == strip_volatile(expected)
    assert got[-1]["choices"][0]["finish_reason"] == "length"
    assert "".join(t or "" for t in texts(got)).strip()


def test_iterator_equals_callback_for_chat(server):
    # both forms compute the prompt alike: a cached prompt's last tokens come out of another batch shape,
    # whose sums can tip a near-tie of a greedy answer
    req = {"messages": [{"role": "user", "content": "Count to five"}], "max_tokens": 16, "cache_prompt": False}
    expected = callback_events(server, "handle_chat_completions", req)
    got = list(server.stream_chat_completions(req))
    assert strip_volatile(got) == strip_volatile(expected)
    assert got[0]["object"] == "chat.completion.chunk"


def test_text_and_bytes_requests_stream_in_their_form(server):
    req = {"prompt": PROMPT, "max_tokens": 6, "stream": True}
    as_text = list(server.stream_completions(json.dumps(req)))
    as_bytes = list(server.stream_completions(json.dumps(req).encode()))
    assert all(isinstance(e, str) for e in as_text) and all(isinstance(e, bytes) for e in as_bytes)
    assert [json.loads(e)["choices"] for e in as_text] == [json.loads(e)["choices"] for e in as_bytes]
    assert len(as_text) >= 6


def test_generic_stream_and_unstreamed_routes(server):
    events = list(server.stream("POST", "/completion", {"prompt": PROMPT, "n_predict": 5, "stream": True}))
    assert [e["tokens_predicted"] for e in events[:-1]] == [1, 2, 3, 4, 5]
    assert events[-1]["stop"] is True
    # an unstreamed answer is the one event
    (tokens,) = list(server.stream("POST", "/tokenize", {"content": "hello"}))
    assert tokens["tokens"]
    (metrics,) = list(server.stream("GET", "/metrics"))
    assert isinstance(metrics, str) and "llamacpp:" in metrics


def test_an_error_raises_with_the_error_object(server):
    with pytest.raises(xlc.RequestError) as info:
        list(server.stream_completions({"prompt": PROMPT, "max_tokens": "many"}))
    assert info.value.http_status == 400
    assert info.value.error["type"] == "invalid_request_error" and info.value.error["message"]
    assert isinstance(info.value, xlc.XlcError)
    with pytest.raises(xlc.RequestError) as info:
        list(server.stream("GET", "/no/such/route"))
    assert info.value.http_status == 404
    with pytest.raises(TypeError):
        server.stream_completions(42)
    with pytest.raises(ValueError, match="max_pending"):
        server.stream_completions({"prompt": PROMPT}, max_pending=0)


@pytest.fixture(scope="module")
def one_slot(model_path):
    with xlc.Server(make_params(model_path, n_parallel=1)) as s:
        s.handle_completions({"prompt": "warm up", "max_tokens": 2})
        yield s


def assert_slot_free_at_once(server) -> None:
    t = time.perf_counter()
    r = server.handle_completions({"prompt": "Hi", "max_tokens": 2})
    elapsed = time.perf_counter() - t
    assert r["usage"]["completion_tokens"] == 2
    # 400 tokens would take ~6 s here; the one slot was free at once
    assert elapsed < 2.0, elapsed
    wait_idle(server)


def collect_on_pypy() -> None:
    """CPython frees an iterator left by break or an exception at once (refcounting); PyPy at its next
    collection, which this forces (docs/streaming.md: on PyPy, `with` stops a stream at a known point)."""
    if sys.implementation.name == "pypy":
        gc.collect()


def test_break_stops_the_generation_and_frees_the_slot(one_slot):
    seen = 0
    for _ in one_slot.stream_completions(LONG):
        seen += 1
        if seen == 3:
            break
    assert seen == 3
    collect_on_pypy()
    assert_slot_free_at_once(one_slot)


def test_close_and_with_stop_the_generation(one_slot):
    stream = one_slot.stream_completions(LONG)
    next(stream)
    stream.close()
    assert list(stream) == []
    assert_slot_free_at_once(one_slot)
    with one_slot.stream_completions(LONG) as stream:
        next(stream)
    assert_slot_free_at_once(one_slot)


def test_cancel_from_another_thread_ends_the_iteration(one_slot):
    stream = one_slot.stream_completions(LONG)
    next(stream)
    timer = threading.Timer(0.3, stream.cancel)
    timer.start()
    rest = list(stream)  # ends without an error, soon after the cancel
    timer.join()
    assert len(rest) < 300, len(rest)  # of 400
    assert_slot_free_at_once(one_slot)


def test_a_collected_iterator_stops_the_generation(one_slot):
    stream = one_slot.stream_completions(LONG)
    next(stream)
    del stream
    gc.collect()
    assert_slot_free_at_once(one_slot)


def test_a_raising_consumer_surfaces_its_exception_and_frees_the_slot(one_slot):
    class Boom(Exception):
        pass

    def consume():
        for i, _ in enumerate(one_slot.stream_completions(LONG)):
            if i == 2:
                raise Boom("consumer failed")

    with pytest.raises(Boom, match="consumer failed"):
        consume()
    collect_on_pypy()
    assert_slot_free_at_once(one_slot)


def test_a_reader_that_stops_reading_gets_its_generation_stopped(one_slot):
    stream = one_slot.stream_completions(LONG, max_pending=4)
    first = next(stream)
    assert first["choices"]
    time.sleep(1.5)  # ~90 tokens' time here: far more than 4 events
    # the slot was freed while the reader slept
    assert not any(slot["is_processing"] for slot in one_slot.handle("GET", "/slots"))
    rest = []
    with pytest.raises(xlc.StreamOverflowError, match="4 events"):
        for event in stream:
            rest.append(event)
    assert len(rest) == 4  # what was queued is delivered first
    assert_slot_free_at_once(one_slot)


def test_a_reader_that_keeps_up_is_not_stopped(one_slot):
    events = list(one_slot.stream_completions({"prompt": PROMPT, "max_tokens": 40, "ignore_eos": True},
                                              max_pending=2))
    assert events[-1]["choices"][0]["finish_reason"] == "length"


def test_iterators_on_threads_batch_together(model_path):
    n = 4
    with xlc.Server(make_params(model_path, n_parallel=n)) as s:
        results: list = [None] * n

        def read(i):
            results[i] = list(s.stream_completions({"prompt": f"Story {i}:", "max_tokens": 16, "ignore_eos": True}))

        threads = [threading.Thread(target=read, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert all(r is not None and r[-1]["choices"][0]["finish_reason"] == "length" for r in results)


def test_close_during_a_stream_raises_server_closed(model_path):
    s = xlc.Server(make_params(model_path))
    stream = s.stream_completions({"prompt": PROMPT, "max_tokens": 2000, "ignore_eos": True})
    next(stream)
    closer = threading.Timer(0.3, s.close)
    closer.start()
    with pytest.raises(xlc.ServerClosedError):
        for _ in stream:
            pass
    closer.join()
    with pytest.raises(xlc.ServerClosedError):
        s.stream_completions({"prompt": PROMPT})


def test_a_server_collected_with_a_stream_left_running(model_path):
    s = xlc.Server(make_params(model_path))
    stream = s.stream_completions({"prompt": PROMPT, "max_tokens": 2000, "ignore_eos": True})
    next(stream)
    finalizer = s._finalizer
    del stream, s
    # the stream goes, and with it the last reference to the server: one collection on CPython;
    # PyPy runs __del__ methods after the collection that found them, so it may take a few
    for _ in range(5):
        gc.collect()
        if not finalizer.alive:
            break
    assert not finalizer.alive
