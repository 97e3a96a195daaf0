"""AsyncServer: awaitables and async iterators that never block the loop; cancellation frees the slot."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

import xllamacpp as xlc
from conftest import make_params
from test_stream import LONG, PROMPT, callback_events, strip_volatile, wait_idle


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def aserver(server):
    return xlc.AsyncServer(server)


def test_async_stream_equals_callback_stream(server, aserver):
    req = {"prompt": PROMPT, "max_tokens": 24, "temperature": 0}
    expected = callback_events(server, "handle_completions", req)

    async def main():
        return [e async for e in aserver.stream_completions(req)]

    got = run(main())
    assert len(got) == len(expected) > 20
    assert strip_volatile(got) == strip_volatile(expected)

    chat = {"messages": [{"role": "user", "content": "Count to five"}], "max_tokens": 12}
    expected = callback_events(server, "handle_chat_completions", chat)

    async def chat_main():
        return [e async for e in aserver.stream_chat_completions(chat)]

    assert strip_volatile(run(chat_main())) == strip_volatile(expected)


def test_awaitable_forms_answer_as_the_sync_ones(server, aserver):
    req = {"prompt": PROMPT, "max_tokens": 8, "temperature": 0}

    async def main():
        return await asyncio.gather(
            aserver.handle_completions(req),
            aserver.handle_chat_completions({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}),
            aserver.handle("POST", "/tokenize", {"content": "hello world"}),
            aserver.handle_metrics(),
            aserver.handle_completions({"prompt": PROMPT, "max_tokens": "x"}),
            aserver.handle_rerank({"query": "a", "documents": ["b"]}),
        )

    completion, chat, tokens, metrics, error, rerank = run(main())
    assert completion["choices"][0]["text"] == server.handle_completions(req)["choices"][0]["text"]
    assert completion["usage"]["completion_tokens"] == 8
    assert chat["object"] == "chat.completion"
    assert tokens == server.handle("POST", "/tokenize", {"content": "hello world"})
    assert "llamacpp:" in metrics
    assert error["error"]["code"] == 400  # as the sync form: the error object comes back
    assert rerank == server.handle_rerank({"query": "a", "documents": ["b"]})
    # a str request answers str to its callback, as Server's
    got: list = []
    assert run(aserver.handle_completions('{"prompt": "Hi", "max_tokens": 2}', got.append)) is None
    assert len(got) == 1 and isinstance(got[0], str) and json.loads(got[0])["usage"]["completion_tokens"] == 2


def test_async_callback_form(server, aserver):
    req = {"prompt": PROMPT, "max_tokens": 10, "temperature": 0}
    expected = callback_events(server, "handle_completions", req)
    got: list = []

    async def on_event(event):  # a coroutine function is awaited
        await asyncio.sleep(0)
        got.append(event)

    assert run(aserver.handle_completions(dict(req, stream=True), on_event)) is None
    assert strip_volatile(got) == strip_volatile(expected)
    # returning True stops at once; the unstreamed answer goes to the callback whole
    few: list = []
    run(aserver.handle_completions(dict(LONG, stream=True), lambda e: few.append(e) or True))
    assert len(few) == 1
    whole: list = []
    run(aserver.handle_completions({"prompt": PROMPT, "max_tokens": 3}, whole.append))
    assert len(whole) == 1 and whole[0]["usage"]["completion_tokens"] == 3
    with pytest.raises(ValueError, match="requires a callback"):
        run(aserver.handle_completions({"prompt": PROMPT, "stream": True}))
    wait_idle(server)


def test_errors_raise_from_async_streams(aserver):
    async def main():
        async for _ in aserver.stream_completions({"prompt": PROMPT, "max_tokens": "many"}):
            pass

    with pytest.raises(xlc.RequestError) as info:
        run(main())
    assert info.value.http_status == 400 and info.value.error["message"]


def test_refusals_raise_and_task_errors_answer_as_servers_do(server, aserver):
    """handle_* raise what the route refuses outright (as Server's and upstream's do) and return the
    error object of a task the server took on; any true value from a callback stops the stream."""
    seen: list = []

    async def main():
        with pytest.raises(xlc.BadRequestError, match="'messages' is required") as refused:
            await aserver.handle_chat_completions({"max_tokens": 4})
        assert refused.value.http_status == 400
        with pytest.raises(xlc.BadRequestError, match="'messages' is required"):
            await aserver.handle_chat_completions({"stream": True}, seen.append)
        no_prompt = await aserver.handle_completions({"max_tokens": 4})
        assert no_prompt == server.handle_completions({"max_tokens": 4})
        assert no_prompt["error"]["code"] == 400
        as_generic = await aserver.handle("POST", "/v1/chat/completions", {"max_tokens": 4})
        assert as_generic["error"]["code"] == 400  # handle() answers every refusal with its object
        await aserver.handle_completions({"prompt": PROMPT, "max_tokens": 32, "stream": True},
                                         lambda chunk: seen.append(chunk) or 1)

    run(main())
    assert len(seen) == 1  # nothing before the refusal; the stream stopped at the first true value


@pytest.fixture(scope="module")
def one_slot(model_path):
    with xlc.Server(make_params(model_path, n_parallel=1)) as s:
        s.handle_completions({"prompt": "warm up", "max_tokens": 2})
        yield s


def slot_free_at_once(server) -> float:
    t = time.perf_counter()
    assert server.handle_completions({"prompt": "Hi", "max_tokens": 2})["usage"]["completion_tokens"] == 2
    return time.perf_counter() - t


def test_cancelling_the_task_stops_the_generation_and_frees_the_slot(one_slot):
    a = xlc.AsyncServer(one_slot)
    seen: list = []

    async def consume():
        async for event in a.stream_completions(LONG):
            seen.append(event)

    async def main():
        task = asyncio.ensure_future(consume())
        while len(seen) < 3:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert 3 <= len(seen) < 20
    assert slot_free_at_once(one_slot) < 2.0  # 400 tokens would take ~6 s
    wait_idle(one_slot)


def test_cancelling_an_awaited_request_frees_the_slot(one_slot):
    a = xlc.AsyncServer(one_slot)

    async def main():
        task = asyncio.ensure_future(a.handle_completions(LONG))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    # the unstreamed request notices within llama-server's one-second poll
    assert slot_free_at_once(one_slot) < 3.0
    wait_idle(one_slot)


def test_a_raising_consumer_surfaces_its_exception(one_slot):
    a = xlc.AsyncServer(one_slot)

    class Boom(Exception):
        pass

    async def consume():
        n = 0
        async for _ in a.stream_completions(LONG):
            n += 1
            if n == 2:
                raise Boom("consumer failed")

    with pytest.raises(Boom, match="consumer failed"):
        run(consume())

    def bad_callback(event):
        raise Boom("callback failed")

    with pytest.raises(Boom, match="callback failed"):
        run(a.handle_completions(dict(LONG, stream=True), bad_callback))
    assert slot_free_at_once(one_slot) < 2.0
    wait_idle(one_slot)


def test_a_slow_async_reader_gets_its_generation_stopped(one_slot):
    a = xlc.AsyncServer(one_slot)

    async def main():
        stream = a.stream_completions(LONG, max_pending=3)
        await stream.__anext__()
        await asyncio.sleep(1.0)
        rest = []
        with pytest.raises(xlc.StreamOverflowError):
            async for event in stream:
                rest.append(event)
        return rest

    assert len(run(main())) == 3
    wait_idle(one_slot)


def test_64_streams_on_one_loop_complete_in_order(model_path):
    n_streams, n_predict = 64, 6
    with xlc.Server(make_params(model_path, n_parallel=4, n_ctx=4096)) as s:
        a = xlc.AsyncServer(s)

        async def one(i):
            req = {"prompt": f"Tell me about the number {i}.", "n_predict": n_predict, "stream": True,
                   "ignore_eos": True}
            return [e async for e in a.stream("POST", "/completion", req)]

        async def main():
            return await asyncio.gather(*(one(i) for i in range(n_streams)))

        results = run(main())
        assert len(results) == n_streams
        for events in results:
            # every token once, in order, then the final event
            assert [e["tokens_predicted"] for e in events[:-1]] == list(range(1, n_predict + 1))
            assert events[-1]["stop"] is True and events[-1]["tokens_predicted"] == n_predict
        wait_idle(s)


def test_the_loop_stays_responsive_during_a_long_stream(server, aserver):
    """A 5 ms ticker keeps its beat while a stream runs; a call that blocked the loop would stop it."""

    async def ticker(stop: asyncio.Event, lateness: list):
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            lateness.append(time.perf_counter() - t - 0.005)

    async def measure(work):
        stop = asyncio.Event()
        lateness: list[float] = []
        tick = asyncio.ensure_future(ticker(stop, lateness))
        await asyncio.sleep(0.05)
        t = time.perf_counter()
        await work()
        elapsed = time.perf_counter() - t
        stop.set()
        await tick
        return max(lateness), len(lateness), elapsed

    events = []

    async def streamed():
        async for event in aserver.stream_completions({"prompt": PROMPT, "max_tokens": 96, "ignore_eos": True}):
            events.append(event)
        assert len(events) == 97

    async def blocking():  # the probe's negative control: a sync call on the loop's thread
        server.handle_completions({"prompt": PROMPT, "max_tokens": 24, "ignore_eos": True})

    # Load-proof criteria (the machine is shared): a loop blocked for the whole request is late by about
    # all of it; one blocked while waiting for each token ticks at most once between tokens. Here it ticks
    # every 5 ms (several times a token) and is never late by much.
    worst, ticks, elapsed = run(measure(streamed))
    assert ticks > 2 * len(events), (ticks, len(events), elapsed)
    assert worst < 0.5 * elapsed, (worst, elapsed)
    worst_blocked, ticks_blocked, elapsed_blocked = run(measure(blocking))
    assert worst_blocked > 0.5 * elapsed_blocked  # the probe does see a blocked loop


def test_async_server_from_params_and_async_with(model_path):
    async def main():
        async with xlc.AsyncServer(make_params(model_path)) as a:
            r = await a.handle_completions({"prompt": PROMPT, "max_tokens": 2})
            assert r["usage"]["completion_tokens"] == 2
            assert a.listening_address.startswith("http://")
            async with a.stream_completions(LONG) as stream:  # leaving the block stops the generation
                await stream.__anext__()
            return a

    a = run(main())
    with pytest.raises(xlc.ServerClosedError):  # aclose() closed the Server it made
        run(a.handle_completions({"prompt": PROMPT, "max_tokens": 2}))
    with pytest.raises(TypeError, match="Server or CommonParams"):
        xlc.AsyncServer("model.gguf")  # type: ignore[arg-type]
