"""Structured output: JSON schemas through LLGuidance and through the GBNF fallback."""
from __future__ import annotations

import json
import os
import platform
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import pytest

import xllamacpp as xlc
from conftest import make_params

ROOT = Path(__file__).resolve().parents[1]

from structured_schemas import SCHEMAS  # noqa: E402


@pytest.fixture(scope="module")
def structured_server(model_path):
    with xlc.Server(make_params(model_path, n_parallel=4, n_ctx=4096)) as s:
        yield s


PYPY = platform.python_implementation() == "PyPy"


@pytest.fixture(params=["llguidance", "gbnf"])
def engine(request):
    if request.param == "llguidance" and PYPY:
        pytest.skip("LLGuidance's library needs CPython's symbols; PyPy uses GBNF (tested below)")
    before = xlc.structured_output_engine()
    xlc.set_structured_output_engine(request.param)
    yield request.param
    xlc.set_structured_output_engine(before)


def generate(server, schema: dict) -> str:
    r = server.handle_completions({"prompt": "Answer in JSON.\nJSON:", "max_tokens": 96, "json_schema": schema})
    assert "error" not in r, r
    return r["choices"][0]["text"]


def test_engine_is_llguidance_on_cpython_and_gbnf_on_pypy():
    assert xlc.structured_output_engine() == ("gbnf" if PYPY else "llguidance")


def test_json_schema_to_grammar_follows_the_engine(engine):
    g = xlc.json_schema_to_grammar({"type": "integer"})
    if engine == "llguidance":
        assert g.startswith("%llguidance")
    else:
        assert "root ::=" in g


def test_every_schema_gives_valid_output(structured_server, engine):
    names = list(SCHEMAS)
    with ThreadPoolExecutor(4) as pool:  # four slots, batched
        outputs = list(pool.map(lambda n: generate(structured_server, SCHEMAS[n]), names))
    failures = []
    for name, text in zip(names, outputs):
        try:
            value = json.loads(text)
            jsonschema.Draft202012Validator(SCHEMAS[name], format_checker=jsonschema.FormatChecker()).validate(value)
        except (ValueError, jsonschema.ValidationError) as e:
            failures.append(f"{name}: {text!r}: {e}")
    assert not failures, "\n".join(failures)


def test_response_format_forms(structured_server, engine):
    schema = SCHEMAS["object_required"]
    msgs = [{"role": "user", "content": "Give me a person."}]
    for fmt in ({"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
                {"type": "json_object", "schema": schema}):
        r = structured_server.handle_chat_completions({"messages": msgs, "max_tokens": 96, "response_format": fmt})
        jsonschema.validate(json.loads(r["choices"][0]["message"]["content"]), schema)
    # free-form JSON: any object, so only its start is certain within the token budget
    r = structured_server.handle_chat_completions({"messages": msgs, "max_tokens": 16,
                                                  "response_format": {"type": "json_object"}})
    assert r["choices"][0]["message"]["content"].lstrip().startswith("{")


def test_grammar_field(structured_server):
    r = structured_server.handle_completions({"prompt": "Pick:", "max_tokens": 8, "grammar": 'root ::= "yes" | "no"'})
    assert r["choices"][0]["text"] in ("yes", "no")


def test_openai_client_response_format(structured_server, engine):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=structured_server.listening_address + "/v1", api_key="unused")
    schema = SCHEMAS["nested"]
    r = client.chat.completions.create(
        model="x", messages=[{"role": "user", "content": "A user as JSON"}], max_tokens=96,
        response_format={"type": "json_schema", "json_schema": {"name": "user", "schema": schema}})
    jsonschema.validate(json.loads(r.choices[0].message.content), schema)


@pytest.mark.parametrize("body", [
    {"prompt": "x", "max_tokens": 4, "json_schema": {"type": "object", "properties": {"a": {"$ref": "#/nope"}}}},
    {"prompt": "x", "max_tokens": 4, "grammar": "root ::= broken ("},
    {"prompt": "x", "max_tokens": 4,
     "response_format": {"type": "json_schema", "json_schema": {"schema": {"$ref": "#/$defs/missing"}}}},
])
def test_invalid_schema_or_grammar_is_a_400_and_the_server_goes_on(structured_server, engine, body):
    r = structured_server.handle_completions(body)
    assert r["error"]["code"] == 400 and r["error"]["message"], r
    import requests

    http = requests.post(structured_server.listening_address + "/v1/completions", json=body, timeout=60)
    assert http.status_code == 400 and http.json()["error"]["message"]
    assert structured_server.handle_completions({"prompt": "Hi", "max_tokens": 2})["choices"]


@pytest.mark.skipif(PYPY, reason="drives pypy3 from CPython, with CPython's llguidance package")
def test_pypy_falls_back_to_gbnf_with_one_warning(tmp_path):
    """PyPy cannot load the llguidance wheel's library (it needs CPython's symbols)."""
    import shutil

    import llguidance

    pypy = shutil.which("pypy3")
    assert pypy, "pypy3 is needed for this test (make installs it with apt)"
    # offer PyPy the CPython wheel's package, as a mixed environment would
    (tmp_path / "llguidance").symlink_to(Path(llguidance.__file__).parent)
    code = ("import xllamacpp as x\n"
            "print(x.structured_output_engine())\n"
            "print(x.json_schema_to_grammar({'type': 'integer'}).splitlines()[0])\n")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"}
    r = subprocess.run([pypy, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "gbnf" and "::=" in lines[1]
    assert r.stderr.count("LLGuidance is not available") == 1


def test_choosing_llguidance_when_unavailable_raises_in_pypy(tmp_path):
    import shutil

    pypy = shutil.which("pypy3")
    assert pypy
    code = ("import xllamacpp as x\n"
            "try:\n x.set_structured_output_engine('llguidance')\nexcept RuntimeError as e:\n print('refused', 'not available' in str(e))\n")
    r = subprocess.run([pypy, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert r.stdout.strip() == "refused True", r.stderr
