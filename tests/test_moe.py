"""A Mixtral-style MoE (the kit's llama, 4 experts, 2 used): loads, answers, and the experts
can be pinned to a buffer type with tensor_buft_overrides."""
from __future__ import annotations

import logging

import pytest

import xllamacpp as xlc
from conftest import make_params, wait_for_log

REQ = {"prompt": "Once upon a time", "max_tokens": 8}


def _text(model: str, **fields) -> str:
    with xlc.Server(make_params(model, n_parallel=1, **fields)) as s:
        r = s.handle_completions(REQ)
        assert "error" not in r, r
        assert r["usage"]["completion_tokens"] == 8
        return r["choices"][0]["text"]


def test_moe_loads_and_answers(moe_model):
    text = _text(moe_model)
    assert text.strip()


def test_experts_pinned_to_cpu_change_nothing_but_where_they_live(moe_model, caplog):
    plain = _text(moe_model)
    level = logging.getLogger("xllamacpp").level
    xlc.set_log_level(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG, logger="xllamacpp"):
            pinned = _text(moe_model, tensor_buft_overrides="exps=CPU")
            assert wait_for_log(caplog, "blk.1.ffn_down_exps.weight")
    finally:
        xlc.set_log_level(level)
    assert pinned == plain
    overridden = {r.getMessage().split()[1] for r in caplog.records if "buffer type overridden to CPU" in r.getMessage()}
    assert overridden == {f"blk.{i}.ffn_{t}_exps.weight" for i in range(2) for t in ("gate", "up", "down")}


@pytest.mark.parametrize("value, message", [
    ("exps=NOPE", "unknown buffer type 'NOPE'"),
    ("exps", "expected pattern=BUFFER_TYPE"),
])
def test_a_bad_override_is_a_clear_error(moe_model, value, message):
    with pytest.raises(ValueError, match=message):
        make_params(moe_model, tensor_buft_overrides=value)
