"""Server's own test cases, run on a model in a supervised child: an IsolatedServer, and a Router's model.

The cases are test_server's, test_stream's and test_async's, imported (not
copied): pytest runs them here with this module's fixtures, and with
``xlc.Server`` standing for the kind under test, so a case that builds its own
Server builds an isolated one. Left out, with the reason:

- a request the route refuses outright and a route's error answer look the same over HTTP (both a 4xx JSON
  error), so the isolated forms return the error object for both, as Server does for the second
  (test_errors_come_back_as_the_http_error_object);
- the child's log lines reach the logger ``xllamacpp.model.<name>``, not ``xllamacpp``
  (test_log_lines_reach_python_logging; test_supervision.py checks them);
- an in-process check in a subprocess of its own (test_interpreter_exit_with_a_live_server);
- back-pressure: a child's stream is paced by TCP, there is no queue of max_pending events
  (test_a_reader_that_stops_reading_gets_its_generation_stopped);
- for a Router's model: the type check of Server's constructor, and its finalizer (the router owns the child);
  its own address (a routed model has none: it is reached through the router), and the check that an
  isolated server is one (test_an_isolated_server_is_a_server_in_a_child, run once, on the isolated kind).
"""
from __future__ import annotations

import pytest

import xllamacpp as xlc
from conftest import make_params
from xllamacpp._router import RoutedModel
from test_async import (test_a_raising_consumer_surfaces_its_exception, test_async_callback_form,  # noqa: F401
                        test_async_stream_equals_callback_stream, test_awaitable_forms_answer_as_the_sync_ones,
                        test_cancelling_the_task_stops_the_generation_and_frees_the_slot,
                        test_errors_raise_from_async_streams)
from test_server import (test_bad_model_file_raises_naming_the_file, test_bad_request_types_raise,  # noqa: F401
                         test_chat_completion, test_close_with_a_request_in_flight_ends_it_with_an_error,
                         test_completion_dict_returns_dict, test_completion_is_deterministic_when_greedy,
                         test_early_stop_gives_one_callback_and_frees_the_slot, test_embeddings_dict_text_bytes,
                         test_garbage_collection_frees_the_server, test_generic_handle_reaches_every_kind_of_route,
                         test_metrics_disabled_answers_the_error, test_metrics_text,
                         test_no_model_or_unknown_parameter_raise_value_error, test_overrides_reach_the_model,
                         test_raising_callback_stops_and_reraises, test_rerank_needs_a_reranker,
                         test_sleep_and_wake, test_slots_save_restore_erase, test_streaming_and_no_callback_raise,
                         test_streaming_chat_delivers_dicts, test_text_requests_return_text,
                         test_threads_are_batched_together, test_two_servers_in_one_process)
from test_stream import (test_a_collected_iterator_stops_the_generation,  # noqa: F401
                         test_a_raising_consumer_surfaces_its_exception_and_frees_the_slot,
                         test_a_reader_that_keeps_up_is_not_stopped, test_a_server_collected_with_a_stream_left_running,
                         test_an_error_raises_with_the_error_object, test_break_stops_the_generation_and_frees_the_slot,
                         test_cancel_from_another_thread_ends_the_iteration, test_close_and_with_stop_the_generation,
                         test_close_during_a_stream_raises_server_closed, test_generic_stream_and_unstreamed_routes,
                         test_iterator_equals_callback_for_chat, test_iterator_equals_callback_for_completions,
                         test_iterators_on_threads_batch_together, test_text_and_bytes_requests_stream_in_their_form)

IN_PROCESS = xlc.Server
# cases that do not apply to a Router's model (see the docstring)
NOT_ROUTED = {"test_no_model_or_unknown_parameter_raise_value_error", "test_garbage_collection_frees_the_server",
              "test_a_server_collected_with_a_stream_left_running", "test_two_servers_in_one_process",
              "test_an_isolated_server_is_a_server_in_a_child"}


class RoutedServer(RoutedModel):
    """A Router of one model, seen through its model (the test's Server): closing it closes the router."""

    def __init__(self, params):
        router = xlc.Router({"model": params})
        super().__init__(router, "model")
        try:
            router.load("model")
        except BaseException:
            router.close()
            raise

    def close(self) -> None:
        self._closed = True
        self.router.close()


def isolated(params, *args, **kwargs):
    return IN_PROCESS(params, isolated=True)


FACTORIES = {"isolated": isolated, "routed": RoutedServer}


# not `kind`: test_server's cases take a parameter of that name
@pytest.fixture(scope="module", params=sorted(FACTORIES))
def server_kind(request):
    return request.param


@pytest.fixture(autouse=True)
def _server_is_the_kind(server_kind, monkeypatch, request):
    if server_kind == "routed" and request.node.originalname in NOT_ROUTED:
        pytest.skip("does not apply to a Router's model (see the module's docstring)")
    monkeypatch.setattr(xlc, "Server", FACTORIES[server_kind])


@pytest.fixture(scope="module")
def server(model_path, server_kind):
    with FACTORIES[server_kind](make_params(model_path, n_parallel=2, endpoint_metrics=True)) as s:
        yield s


@pytest.fixture(scope="module")
def one_slot(model_path, server_kind):
    with FACTORIES[server_kind](make_params(model_path, n_parallel=1)) as s:
        s.handle_completions({"prompt": "warm up", "max_tokens": 2})
        yield s


@pytest.fixture(scope="module")
def aserver(server):
    return xlc.AsyncServer(server)


def test_an_isolated_server_is_a_server_in_a_child(model_path):
    import os

    s = IN_PROCESS(make_params(model_path), isolated=True)
    try:
        assert isinstance(s, IN_PROCESS) and isinstance(s, xlc.IsolatedServer)
        assert s.pid and s.pid != os.getpid()
        assert s.status()["value"] == "loaded"
    finally:
        s.close()
    assert s.pid == 0
