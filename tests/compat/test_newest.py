"""What upstream's newest release (2026.10.11549) does that its 2026.5.9093 did not, as code written today uses it.

Ours follows 2026.10.11549 where the two differ, and keeps 2026.5.9093's spelling working where
both can work; a behaviour the older release lacks is marked upstream_differs(OLDER, ...).
"""
from __future__ import annotations

import os

import pytest

import xllamacpp as xlc

from ._side import OLDER, RELEASES, close, small_params


# --- mmproj_device = "none" -----------------------------------------------------------------------


@pytest.mark.upstream_differs(OLDER, "the wheel has no mmproj_device field")
def test_mmproj_device_none_keeps_the_projector_off_the_gpu():
    p = xlc.CommonParams()
    assert p.mmproj_device == "" and p.mmproj_use_gpu is True
    p.mmproj_device = "none"  # llama-server's --mmproj-device none
    assert p.mmproj_device == "none" and p.mmproj_use_gpu is False
    p.mmproj_device = ""  # follows the model's devices again
    assert p.mmproj_device == "" and p.mmproj_use_gpu is True


@pytest.mark.upstream_differs(OLDER, "the wheel has no mmproj_device field")
def test_mmproj_use_gpu_false_reads_as_device_none():
    p = xlc.CommonParams()
    p.mmproj_use_gpu = False
    assert p.mmproj_device == "none"
    p.mmproj_use_gpu = True
    assert p.mmproj_device == ""


@pytest.mark.upstream_differs(OLDER, "the wheel has no mmproj_device field")
def test_an_unknown_mmproj_device_is_a_value_error_and_changes_nothing():
    p = xlc.CommonParams()
    p.mmproj_device = "none"
    with pytest.raises(ValueError):
        p.mmproj_device = "NoSuchDevice7"
    assert p.mmproj_device == "none" and p.mmproj_use_gpu is False


# --- Server() writes back what it resolves ------------------------------------------------------------


@pytest.mark.upstream_differs(OLDER, "Server() leaves the params as they were (thread counts stay -1)")
def test_server_writes_back_the_thread_counts_it_resolves(gemma):
    params = small_params(gemma)
    params.cpuparams.n_threads = -1  # the number of math cores
    params.cpuparams_batch.n_threads = -1  # inherits it
    server = xlc.Server(params)
    try:
        cores = params.cpuparams.n_threads
        assert 1 <= cores <= (os.cpu_count() or 1)
        assert params.cpuparams_batch.n_threads == cores
        assert params.speculative.draft.cpuparams.n_threads == cores
        assert params.speculative.draft.cpuparams_batch.n_threads == cores
    finally:
        close(server)


@pytest.mark.upstream_differs(OLDER, "Server() leaves the draft thread counts at -1")
def test_server_never_changes_a_value_set_explicitly(gemma):
    params = small_params(gemma)
    params.cpuparams.n_threads = 2
    params.cpuparams_batch.n_threads = 1
    params.n_batch = 256
    server = xlc.Server(params)
    try:
        assert (params.cpuparams.n_threads, params.cpuparams_batch.n_threads, params.n_batch) == (2, 1, 256)
        # the draft model's counts, left unset, inherit the main model's
        assert params.speculative.draft.cpuparams.n_threads == 2
        assert params.speculative.draft.cpuparams_batch.n_threads == 1
    finally:
        close(server)


# --- no model ----------------------------------------------------------------------------------------


@pytest.mark.upstream_differs(OLDER, "a RuntimeError 'Failed to init server, please check the input params.'")
def test_a_server_without_a_model_path_names_the_router_feature():
    with pytest.raises(ValueError, match=r"params\.model\.path is required: .*router"):
        xlc.Server(xlc.CommonParams())


# --- list fields written in place ---------------------------------------------------------------------


@pytest.mark.upstream_differs(RELEASES, "list getters return copies: an item written in place is silently lost")
def test_tensor_split_items_written_in_place_stay():
    p = xlc.CommonParams()
    split = [0.75, 0.25]  # as a platform applies estimate_gpu_layers' tensor_split
    for i, share in enumerate(split):
        p.tensor_split[i] = share
    assert list(p.tensor_split[:2]) == split


@pytest.mark.upstream_differs(RELEASES, "list getters return copies: an appended item is silently lost")
def test_antiprompt_append_stays():
    p = xlc.CommonParams()
    p.antiprompt.append("User:")
    assert p.antiprompt == ["User:"]


# --- the newest README's own examples -----------------------------------------------------------------


def test_quick_start(gemma):
    """README (2026.10.11549), "Quick start: run llama.cpp from Python"."""
    params = xlc.CommonParams()
    params.model.path = gemma
    params.n_ctx = 2048
    params.cpuparams.n_threads = 2
    server = xlc.Server(params)
    try:
        result = server.handle_chat_completions({
            "messages": [{"role": "user", "content": "Why is the sky blue?"}],
            "max_tokens": 8,
        })
        assert isinstance(result["choices"][0]["message"]["content"], str)
    finally:
        close(server)


@pytest.mark.upstream_differs(OLDER, "the wheel has no Server.handle_systemone")
def test_handle_systemone_reaches_the_route(gemma):
    """Decision models: an ordinary chat model (or a llama.cpp before the route) answers with an error object."""
    server = xlc.Server(small_params(gemma))
    try:
        request = {"state": "charged twice", "questions": {"refund": {"type": "noul", "instructions": "Refund?"}}}
        try:
            answer = server.handle_systemone(request)
        except ValueError as e:  # a refusal raised, as the other handle_* raise some
            answer = {"error": str(e)}
        assert "error" in answer or "answers" in answer, answer
    finally:
        close(server)
