"""The compatibility suite: upstream xllamacpp's documented behaviour, run on ours and on upstream's wheel.

`make compat` runs this directory twice: with ours (the checkout's .venv) and with
upstream's xllamacpp==2026.5.9093 in its own virtual environment. A test marked
``upstream_differs("why")`` encodes documented behaviour that upstream's wheel
does not have (names it dropped, bugs); on upstream it is an expected failure,
strict, so a fixed upstream shows up. docs/compatibility.md lists each.
"""
from __future__ import annotations

import os

import pytest
from ._side import GEMMA, UPSTREAM, describe


def pytest_configure(config):
    config.addinivalue_line("markers", "upstream_differs(reason): documented behaviour upstream's wheel lacks")
    wanted = os.environ.get("XLLAMACPP_COMPAT_SIDE")  # set by `make compat`
    if wanted and wanted != ("upstream" if UPSTREAM else "ours"):
        raise pytest.UsageError(f"asked to test {wanted}, but {describe()}")


def pytest_report_header(config):
    return describe()


def pytest_collection_modifyitems(config, items):
    if not UPSTREAM:
        return
    for item in items:
        mark = item.get_closest_marker("upstream_differs")
        if mark is not None:
            item.add_marker(pytest.mark.xfail(strict=True, reason="upstream: " + mark.args[0]))


@pytest.fixture(scope="session")
def gemma() -> str:
    """The model that stands in for upstream's Llama-3.2-1B-Instruct (and every other plain LLM)."""
    if not GEMMA.is_file():
        pytest.fail(f"test model missing: {GEMMA} (run `make download`)")
    return str(GEMMA)
