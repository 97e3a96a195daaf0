"""The compatibility suite: upstream xllamacpp's documented behaviour, run on ours and on upstream's wheel.

`make compat` runs this directory three times: with ours (the checkout's .venv) and with
each of upstream's releases, xllamacpp==2026.5.9093 and ==2026.10.11549, in a virtual
environment of its own. A test marked ``upstream_differs(versions, "why")`` encodes
documented behaviour that those releases of upstream's wheel do not have (names one
dropped, the other's bugs); on them it is an expected failure, strict, so a fixed
upstream shows up. ``versions`` is a release or a tuple of them. docs/compatibility.md
lists each.
"""
from __future__ import annotations

import os

import pytest
from ._side import GEMMA, RELEASES, UPSTREAM, VERSION, describe


def pytest_configure(config):
    config.addinivalue_line("markers", "upstream_differs(versions, reason): documented behaviour these releases "
                            "of upstream's wheel lack")
    wanted = os.environ.get("XLLAMACPP_COMPAT_SIDE")  # set by `make compat`
    if wanted and wanted != ("upstream" if UPSTREAM else "ours"):
        raise pytest.UsageError(f"asked to test {wanted}, but {describe()}")
    if UPSTREAM and VERSION not in RELEASES:
        raise pytest.UsageError(f"{describe()}: the suite knows upstream's releases {', '.join(RELEASES)}")


def pytest_report_header(config):
    return describe()


def _differing_releases(item) -> tuple:
    """The releases the test's upstream_differs marks name (every mark: a test may differ on both for
    different reasons), checked so that a misspelt release cannot quietly mark nothing."""
    out = []
    for mark in item.iter_markers("upstream_differs"):
        if len(mark.args) != 2:
            raise pytest.UsageError(f"{item.nodeid}: upstream_differs takes (versions, reason), got {mark.args}")
        versions = (mark.args[0],) if isinstance(mark.args[0], str) else tuple(mark.args[0])
        unknown = [v for v in versions if v not in RELEASES]
        if unknown or not versions:
            raise pytest.UsageError(f"{item.nodeid}: upstream_differs names {unknown or 'no release'}, "
                                    f"not one of {', '.join(RELEASES)}")
        out += [(v, mark.args[1]) for v in versions]
    return tuple(out)


def pytest_collection_modifyitems(config, items):
    for item in items:
        reasons = [why for version, why in _differing_releases(item) if UPSTREAM and version == VERSION]
        if reasons:
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"upstream {VERSION}: " + "; ".join(reasons)))


@pytest.fixture(scope="session")
def gemma() -> str:
    """The model that stands in for upstream's Llama-3.2-1B-Instruct (and every other plain LLM)."""
    if not GEMMA.is_file():
        pytest.fail(f"test model missing: {GEMMA} (run `make download`)")
    return str(GEMMA)
