"""What the facade copies from the vendored llama.cpp, compared with the vendored tree itself.

Moving llama.cpp (vendor/lock.json) shows every difference here at once: the
enums and constants (generated from the headers at build time, so a stale build
shows), the route table llama-server registers, and the flags whose handlers
exit the process.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import xllamacpp as xlc
from xllamacpp import _params

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import arg_options  # type: ignore[import-not-found]  # noqa: E402
from common_params_fields import LLAMA_DIR as LLAMA  # type: ignore[import-not-found]  # noqa: E402
HEADERS = ["include/llama.h", "ggml/include/ggml.h", "ggml/include/ggml-backend.h", "ggml/include/ggml-cpu.h",
           "ggml/include/ggml-opt.h", "common/common.h"]


_strip_comments = arg_options.strip_comments


def _header_enums() -> dict[str, list[tuple[str, str]]]:
    """enum name -> [(member, its initialiser or "")] from the vendored headers."""
    out: dict[str, list[tuple[str, str]]] = {}
    for header in HEADERS:
        text = _strip_comments((LLAMA / header).read_text())
        for name, body in re.findall(r"\benum\s+(\w+)\s*(?::\s*\w+\s*)?\{([^}]*)\}", text):
            members = []
            for item in filter(None, (i.strip() for i in body.split(","))):
                member, _, init = item.partition("=")
                members.append((member.strip(), init.strip()))
            out.setdefault(name, members)
    return out


def test_every_enum_of_the_vendored_headers_is_exported_with_its_members():
    headers = _header_enums()
    assert set(headers) == set(_params._SCHEMA["enums"]), "enums differ from the vendored headers"
    for name, members in headers.items():
        ours = _params._SCHEMA["enums"][name]
        assert [m for m, _ in members] == list(ours), name
        implicit: int | None = -1
        for member, init in members:
            if re.fullmatch(r"-?\d+", init):
                implicit = int(init)
            elif init:
                implicit = None  # an expression: the compiler's value is the truth
            else:
                implicit = None if implicit is None else implicit + 1
            if implicit is not None:
                assert ours[member] == implicit, f"{name}.{member}"
        assert getattr(xlc, name).__members__.keys() >= set(ours)


def test_members_that_were_missing_before_are_there():
    assert xlc.llama_split_mode.LLAMA_SPLIT_MODE_TENSOR == 3
    assert xlc.ggml_numa_strategy.GGML_NUMA_STRATEGY_COUNT == len(xlc.ggml_numa_strategy) - 1
    assert xlc.ggml_type.GGML_TYPE_COUNT > xlc.ggml_type.GGML_TYPE_BF16
    assert xlc.llama_model_kv_override_type.LLAMA_KV_OVERRIDE_TYPE_STR == 3
    assert xlc.common_grammar_type.COMMON_GRAMMAR_TYPE_TOOL_CALLS == 3


def test_integer_constants_of_the_headers_are_exported():
    defines: dict[str, int] = {}
    for header in HEADERS:
        for name, value in re.findall(r"^\s*#\s*define\s+((?:GGML|LLAMA)_\w+)\s+\(?(-?\d+)\)?\s*$",
                                      _strip_comments((LLAMA / header).read_text()), flags=re.M):
            defines.setdefault(name, int(value))
    assert defines, "no constants found"
    for name, value in defines.items():
        if name == "GGML_MEM_ALIGN":  # defined per platform under #if
            continue
        assert getattr(xlc, name) == value, name
    assert xlc.LLAMA_DEFAULT_SEED == 0xFFFFFFFF and xlc.GGML_MAX_N_THREADS == 512


def _registered_routes(source: str, pattern: str) -> set[tuple[str, str]]:
    verbs = {"get": "GET", "post": "POST", "del": "DELETE", "GET": "GET", "POST": "POST", "DELETE": "DELETE"}
    return {(verbs[m], path) for m, path in re.findall(pattern, _strip_comments(source))}


# llama-server's routes that the in-process server does not serve, and why
NOT_SERVED = {
    ("POST", "/models"): "router mode (several models): served by xllamacpp's router (_router_http.py)",
    ("POST", "/models/load"): "router mode",
    ("POST", "/models/unload"): "router mode",
    ("GET", "/models/sse"): "router mode",
    ("DELETE", "/models"): "router mode",
}


def test_route_table_matches_llama_server():
    theirs = _registered_routes((LLAMA / "tools/server/server.cpp").read_text(),
                                r"ctx_http\.(get|post|del)\s*\(\s*\"(/[^\"]*)\"")
    ours: set[tuple[str, str]] = set()
    # the stream routes' paths are the tree's own, read by cshim/cmake/llama_probe.cmake the same way
    probed = {f"XLC_ROUTE_STREAM_{verb.upper()}": path for verb, path in re.findall(
        r"ctx_http\.(get|del)\s*\(\s*\"([^\"]*)\"\s*,\s*ex_wrapper\(\s*stream_(?:get|delete)_h\s*\)",
        _strip_comments((LLAMA / "tools/server/server.cpp").read_text()))}
    probed = {k.replace("_DEL", "_DELETE"): v for k, v in probed.items()}
    for source in sorted((ROOT / "cshim" / "src").glob("xlc_server*.cpp")):
        text = source.read_text()
        for name, path in probed.items():
            text = text.replace(name, f'"{path}"')
        ours |= _registered_routes(text, r"\{\s*\"(GET|POST|DELETE)\"\s*,\s*\"(/[^\"]*)\"")
    assert theirs, "no routes found in tools/server/server.cpp"
    missing = theirs - ours - set(NOT_SERVED)
    extra = ours - theirs
    assert not missing, f"llama-server routes missing from the facade's table: {sorted(missing)}"
    assert not extra, f"routes llama-server no longer registers: {sorted(extra)}"
    assert not set(NOT_SERVED) - theirs, "NOT_SERVED names routes llama-server dropped"


def _router_block() -> str:
    """server.cpp's set-up of router mode: the handlers it gives the routes, the routes it adds."""
    text = _strip_comments((LLAMA / "tools/server/server.cpp").read_text())
    start = text.index("models_routes.emplace(")
    return text[start:text.index('ctx_http.get ("/health"', start)]


def test_the_router_serves_llama_servers_router_routes():
    from xllamacpp._router_http import ROUTER_ROUTES

    text = _strip_comments((LLAMA / "tools/server/server.cpp").read_text())
    block = _router_block()
    path_of: dict[str, set] = {}  # routes.<handler> -> the (method, path) it is registered for
    for verb, path, handler in re.findall(r'ctx_http\.(get|post|del)\s*\(\s*"(/[^"]*)"\s*,\s*ex_wrapper\(routes\.(\w+)\)',
                                          text):
        path_of.setdefault(handler, set()).add(({"get": "GET", "post": "POST", "del": "DELETE"}[verb], path))
    given = dict(re.findall(r"routes\.(\w+)\s*=\s*models_routes->(\w+)", block))
    assert given, "no router handlers found in server.cpp"
    own = _registered_routes(block, r"ctx_http\.(get|post|del)\s*\(\s*\"(/[^\"]*)\"")
    for handler, router_handler in given.items():
        for method, path in path_of.get(handler, ()):
            if router_handler == "proxy_get":  # relayed by ?model=: xllamacpp's router relays every GET so
                assert method == "GET", (method, path)
            elif router_handler == "proxy_post":  # relayed by the body's "model": every POST
                assert method == "POST", (method, path)
            else:  # answered by the router itself
                own.add((method, path))
    assert own - ROUTER_ROUTES == set(), f"router routes xllamacpp's router does not answer: {sorted(own - ROUTER_ROUTES)}"
    # the router's own routes, beyond llama-server's: only /health (which llama-server keeps from single mode)
    assert ROUTER_ROUTES - own == {("GET", "/health"), ("GET", "/v1/health")}
    assert set(NOT_SERVED) <= ROUTER_ROUTES


def test_preset_only_keys_match_llama_cpp():
    from xllamacpp._preset import PRESET_ONLY

    text = _strip_comments((LLAMA / "common" / "arg.cpp").read_text())
    body = text[text.index("void common_params_add_preset_options"):]
    body = body[:body.index("\n}\n")]
    keys = set(re.findall(r'common_arg\(\s*\{"([^"]+)"\}', body))
    assert keys == set(PRESET_ONLY)
    header = (LLAMA / "common" / "arg.h").read_text()
    for key, env in PRESET_ONLY.items():
        assert f'"{env}"' in header, key


def _exiting_flags() -> set[str]:
    """Flags of common/arg.cpp whose option handler calls exit()."""
    flags: set[str] = set()
    for opt in arg_options.options(LLAMA / "common" / "arg.cpp"):
        if re.search(r"\bexit\s*\(", opt.code):
            flags |= set(opt.args)
    return flags


def test_process_exiting_flags_match_llama_cpp():
    theirs = _exiting_flags()
    assert "--version" in theirs
    assert set(_params._SCHEMA["exiting_flags"]) == theirs
