"""Build chain: the facade library, the generated cffi module and the loader."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import xllamacpp as xlc

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120)


def test_system_info_names_the_cpu():
    info = xlc.get_system_info()
    assert "CPU :" in info


def test_device_info_lists_the_cpu():
    devices = xlc.get_device_info()
    assert isinstance(devices, list) and devices
    cpu = [d for d in devices if d["name"] == "CPU"]
    assert cpu, devices
    for key in ("name", "description", "type", "memory_free", "memory_total"):
        assert key in cpu[0]
    assert cpu[0]["memory_total"] > 0
    assert cpu[0]["type"] == xlc.ggml_backend_dev_type.GGML_BACKEND_DEVICE_TYPE_CPU


def test_build_info():
    info = xlc.get_build_info()
    assert info["backend"] == xlc.BACKEND == "cpu"
    assert xlc.BUILD_INFO["build_number"] == info["build_number"]


@pytest.fixture(autouse=True)
def gbnf():
    """These tests read GBNF; test_structured.py covers LLGuidance's form."""
    before = xlc.structured_output_engine()
    xlc.set_structured_output_engine("gbnf")
    yield
    xlc.set_structured_output_engine(before)


def test_grammar_object_with_required_fields():
    g = xlc.json_schema_to_grammar(
        {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"]}
    )
    assert "root ::=" in g
    assert '\\"name\\"' in g and '\\"age\\"' in g


def test_grammar_enum():
    g = xlc.json_schema_to_grammar({"enum": ["red", "green", 42]})
    assert "red" in g and "green" in g and "42" in g


def test_grammar_array():
    g = xlc.json_schema_to_grammar({"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 3})
    assert "root ::=" in g and "number" in g


def test_grammar_nested_object_from_json_text():
    schema = '{"type":"object","properties":{"inner":{"type":"object","properties":{"x":{"type":"boolean"}},"required":["x"]}},"required":["inner"]}'
    g = xlc.json_schema_to_grammar(schema)
    assert "inner" in g and "boolean" in g
    assert xlc.json_schema_to_grammar(schema.encode()) == g


@pytest.mark.parametrize(
    "schema, message",
    [
        ({"type": "object", "properties": {"a": {"$ref": "#/definitions/missing"}}}, "missing"),
        ('{"type": "object",', "not valid JSON"),
        ("[1, 2]", "must be an object"),
    ],
)
def test_invalid_schema_raises_value_error(schema, message):
    with pytest.raises(ValueError, match=message):
        xlc.json_schema_to_grammar(schema)


def test_non_json_schema_type_raises_type_error():
    with pytest.raises(TypeError):
        xlc.json_schema_to_grammar(object())  # type: ignore[arg-type]


def test_only_xlc_symbols_are_exported():
    out = subprocess.run(["nm", "-D", "--defined-only", str(xlc.library_path)], capture_output=True, text=True, check=True)
    names = [line.split()[-1] for line in out.stdout.splitlines() if line.strip()]
    assert names and all(n.startswith("xlc_") for n in names), [n for n in names if not n.startswith("xlc_")][:10]


def test_ffi_module_is_generated_pure_python():
    ffi_module = ROOT / "xllamacpp" / "_xlc_ffi.py"
    assert ffi_module.read_text().startswith("# auto-generated file")
    # no CPython extension of our own anywhere in the package
    assert not [p for p in (ROOT / "xllamacpp").rglob("*") if p.suffix in (".so", ".pyd") and p.parent.name != "lib"]


def test_import_compiles_nothing(tmp_path):
    r = run_python(
        "import sys, xllamacpp, cffi; "
        "print('compiler' in sys.modules or 'distutils' in sys.modules or 'setuptools' in sys.modules)",
        TMPDIR=str(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"
    assert not list(tmp_path.iterdir())


def test_loader_missing_file_names_it(tmp_path):
    missing = tmp_path / "libxlc-nope.so"
    r = run_python("import xllamacpp", XLLAMACPP_LIB=str(missing))
    assert r.returncode != 0
    assert "ImportError" in r.stderr and str(missing) in r.stderr


def test_loader_unrelated_library_names_it():
    import ctypes.util

    libz = ctypes.util.find_library("z") or "libz.so.1"
    path = next((str(p) for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib")
                 for p in Path(d).glob("libz.so*") if p.is_file()), libz)
    r = run_python("import xllamacpp", XLLAMACPP_LIB=path)
    assert r.returncode != 0
    assert "ImportError" in r.stderr and path in r.stderr and "not an xllamacpp library" in r.stderr


def test_loader_unknown_backend_is_refused():
    r = run_python("import xllamacpp", XLLAMACPP_BACKEND="metal")
    assert r.returncode != 0 and "XLLAMACPP_BACKEND" in r.stderr


def test_loader_named_backend_that_is_not_built_lists_paths():
    from xllamacpp import _library

    missing = [b for b in _library.BACKENDS if not (_library.LIB_DIR / f"libxlc-{b}.so").exists()]
    if not missing:
        pytest.skip("every backend's library is built here")
    r = run_python("import xllamacpp", XLLAMACPP_BACKEND=missing[0])
    assert r.returncode != 0
    assert f"libxlc-{missing[0]}.so" in r.stderr and "no such file" in r.stderr
