"""Bad inputs, each sent in-process and over HTTP; runs inside a stress child (stress/child.py).

Every case is a request a careless or hostile client could send: bodies that
are not JSON, not UTF-8, nested too deep or too big; fields of the wrong type
or out of range on every main route; token ids, LoRA ids, slot actions, media
and tools of the wrong shape; unknown routes and methods; stream callbacks
that raise, stop, re-enter or close. The outcome of a case is the HTTP status
each transport got, or the exception, or (counted by the parent) a crash or a hang.
"""
from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = os.environ.get("XLLAMACPP_TEST_MODEL", str(ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"))

# --- the cases --------------------------------------------------------------------------

BAD_VALUES = [None, -1, 2**63, -(2**63), 1e308, "x", [], {}, [[[[1]]]], True]

# a valid body per main route, whose fields are then set to each bad value
BASES = {
    "/completion": {"prompt": "Hello", "n_predict": 4, "temperature": 0.5, "top_k": 40, "top_p": 0.9, "n_probs": 2,
                    "stop": ["\n"], "seed": 1, "logit_bias": [[1, -1.0]], "grammar": "", "samplers": ["top_k"],
                    "id_slot": -1, "cache_prompt": True, "min_keep": 1, "repeat_last_n": 64, "n_keep": 0,
                    "dry_multiplier": 0.0, "mirostat": 0, "t_max_predict_ms": 0, "n_cmpl": 1},
    "/v1/completions": {"prompt": "Hello", "max_tokens": 4, "logprobs": 1, "echo": False, "n": 1,
                        "response_format": {"type": "text"}, "stream": False},
    "/v1/chat/completions": {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "tools": [],
                             "tool_choice": "auto", "response_format": {"type": "text"}, "logprobs": False,
                             "top_logprobs": 0, "n": 1, "reasoning_format": "none", "chat_template_kwargs": {},
                             "parallel_tool_calls": False, "stream": False},
    "/v1/messages": {"model": "x", "max_tokens": 4, "messages": [{"role": "user", "content": "Hi"}], "system": "s",
                     "tools": [], "stop_sequences": [], "stream": False},
    "/v1/responses": {"input": "Hi", "max_output_tokens": 4, "instructions": "be brief", "tools": [], "stream": False},
    "/v1/embeddings": {"input": "hello", "encoding_format": "float"},
    "/v1/rerank": {"query": "q", "documents": ["a", "b"], "top_n": 1},
    "/tokenize": {"content": "hello", "add_special": False, "with_pieces": True},
    "/detokenize": {"tokens": [1, 2]},
    "/apply-template": {"messages": [{"role": "user", "content": "Hi"}]},
    "/infill": {"input_prefix": "a", "input_suffix": "b", "input_extra": [], "n_predict": 2},
    "/v1/messages/count_tokens": {"model": "x", "messages": [{"role": "user", "content": "Hi"}]},
    "/props": {"n_threads": 2},
    "/v1/chat/completions/control": {"id": "x", "action": "stop"},
}

RAW_BODIES = {
    "empty": b"",
    "truncated": b'{"prompt": "x',
    "not-json": b"hello there",
    "null": b"null",
    "string": b'"text"',
    "number": b"42",
    "list": b"[1, 2, 3]",
    "invalid-utf8": b'{"prompt": "\xff\xfe\xfd", "n_predict": 1, "messages": [{"role": "user", "content": "\xc3("}]}',
    "nul-bytes": b'{"prompt": "a\x00b", "n_predict": 1}',
    "deep": b'{"prompt": ' + b"[" * 100000 + b"]" * 100000 + b"}",
    "deep-object": b'{"a": ' + b'{"a": ' * 50000 + b"1" + b"}" * 50000 + b"}",
    "huge": b'{"prompt": "' + b"a" * (8 << 20) + b'", "n_predict": 1}',
    "many-keys": ("{" + ",".join(f'"k{i}": {i}' for i in range(200000)) + "}").encode(),
}

POST_ROUTES = ["/completion", "/v1/completions", "/v1/chat/completions", "/v1/messages", "/v1/responses",
               "/v1/embeddings", "/v1/rerank", "/tokenize", "/detokenize", "/apply-template", "/infill",
               "/v1/messages/count_tokens", "/props", "/v1/chat/completions/control", "/lora-adapters",
               "/slots/0", "/v1/chat/completions/input_tokens", "/v1/responses/input_tokens",
               "/v1/audio/transcriptions", "/v1/streams/lookup"]

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


def _case(cid: str, method: str, path: str, body: bytes | None, expect: str = "refuse", headers=None) -> dict:
    return {"id": cid, "kind": "request", "method": method, "path": path,
            "body": None if body is None else base64.b64encode(body).decode(), "expect": expect,
            "headers": headers or {}}


def request_cases() -> list:
    cases = []
    for route in POST_ROUTES:
        for name, raw in RAW_BODIES.items():
            if name in ("huge", "many-keys") and route not in ("/completion", "/v1/chat/completions", "/tokenize"):
                continue
            cases.append(_case(f"raw {name} {route}", "POST", route, raw))
    for route, base in BASES.items():
        for field in base:
            for value in BAD_VALUES:
                body = dict(base, **{field: value})
                cases.append(_case(f"field {route} {field}={json.dumps(value)[:20]}", "POST", route,
                                   json.dumps(body).encode(), expect="any"))
    specific = [
        ("/detokenize", {"tokens": [-1]}), ("/detokenize", {"tokens": [10**9]}), ("/detokenize", {"tokens": [2**40]}),
        ("/detokenize", {"tokens": [1.5]}), ("/completion", {"prompt": [2**31], "n_predict": 1}),
        ("/completion", {"prompt": [[1, 2], [-7]], "n_predict": 1}), ("/tokenize", {"content": [10**12]}),
        ("/v1/embeddings", {"input": [[99999999]]}),
        ("/v1/chat/completions", {"messages": [{"role": 5, "content": "x"}], "max_tokens": 1}),
        ("/v1/chat/completions", {"messages": [{"content": "x"}], "max_tokens": 1}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "text"}]}], "max_tokens": 1}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}),
        ("/v1/chat/completions", {"messages": [{"role": "assistant", "content": "", "tool_calls": "x"}]}),
        ("/v1/chat/completions", {"messages": [{"role": "assistant", "tool_calls": [{"type": "function"}]}]}),
        ("/v1/chat/completions", {"messages": [{"role": "assistant", "tool_calls": [
            {"type": "function", "function": {"name": "f"}}]}]}),
        ("/v1/chat/completions", {"messages": [{"role": "tool", "content": "r", "tool_call_id": 7}]}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "tools": "x"}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "tools": [5]}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}],
                                  "tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "retrieval"}]}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": [IMAGE]}]}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "json_schema": {}, "grammar": "x"}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "bogus"}}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "response_format": {
            "type": "json_schema", "json_schema": {"schema": {"$ref": "#/nowhere"}}}}),
        ("/v1/completions", {"prompt": "x", "response_format": {"type": "bogus"}}),
        ("/v1/messages", {"model": "x", "max_tokens": 1, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}]}),
        ("/v1/messages", {"model": "x", "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "text"}]}]}),
        ("/v1/responses", {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}),
        ("/lora-adapters", [{"id": 0, "scale": 1.0}]), ("/lora-adapters", [{"id": -1}]),
        ("/lora-adapters", [{"id": 2**40, "scale": 1}]), ("/lora-adapters", [{"scale": 1}]), ("/lora-adapters", [5]),
        ("/completion", {"prompt": "x", "n_predict": 1, "lora": [{"id": 3, "scale": 1}]}),
        ("/completion", {"prompt": "x", "n_predict": 1, "lora": "x"}),
        ("/completion", {"prompt": "x", "n_predict": 1, "id_slot": 99}),
        ("/completion", {"prompt": "x", "n_predict": 1, "id_slot": -99}),
        ("/completion", {"prompt": "x", "n_predict": 1, "n_probs": 10**9}),
        ("/completion", {"prompt": "x", "n_predict": 1, "n_cmpl": 10**6}),
        ("/completion", {"prompt": "x", "n_predict": 1, "grammar": "root ::= ("}),
        ("/completion", {"prompt": "x", "n_predict": 1, "json_schema": {"type": "nope"}}),
        ("/completion", {"prompt": "x", "n_predict": 1, "samplers": ["nonsense"]}),
        ("/completion", {"prompt": "x", "n_predict": 1, "logit_bias": {"999999999": 1}}),
        ("/completion", {"prompt": "x", "n_predict": 1, "logit_bias": [[-5, 1]]}),
        ("/completion", {"prompt": "", "n_predict": 1}),
        ("/completion", {"prompt": "x " * 3000, "n_predict": 1}),
        ("/v1/rerank", {"query": "q", "documents": []}),
    ]
    for i, (route, body) in enumerate(specific):
        cases.append(_case(f"shape {i} {route} {json.dumps(body)[:60]}", "POST", route, json.dumps(body).encode()))
    for action, query in [("save", "action=save"), ("restore", "action=restore"), ("erase", "action=erase"),
                          ("bogus", "action=bogus"), ("none", "")]:
        for slot in ["0", "99", "-1", "abc", "99999999999"]:
            for body in [{"filename": "a.bin"}, {"filename": "../../etc/passwd"}, {}]:
                path = f"/slots/{slot}" + (f"?{query}" if query else "")
                cases.append(_case(f"slot {action} {slot} {json.dumps(body)}", "POST", path, json.dumps(body).encode()))
    for method, path in [("GET", "/nope"), ("POST", "/nope"), ("GET", "/v1/chat/completions"), ("PUT", "/completion"),
                         ("PATCH", "/props"), ("DELETE", "/slots/0"), ("GET", "/" + "a" * 20000),
                         ("GET", "/slots/0/../../x"), ("GET", "/v1/stream"), ("GET", "/v1/stream?conv_id=nope"),
                         ("DELETE", "/v1/stream"), ("GET", "/tools"), ("POST", "/tools"), ("GET", "/cors-proxy"),
                         ("GET", "/props?x=%zz&%%"), ("GET", "/health?" + "a=1&" * 5000)]:
        cases.append(_case(f"route {method} {path[:40]}", method, path, None))
    return cases


def callback_cases() -> list:
    return [{"id": f"callback {kind}", "kind": "callback", "callback": kind, "expect": "any"}
            for kind in ("raise", "stop-at-once", "re-enter", "close", "slow", "keyboard-interrupt", "return-garbage")]


# --- running a case (in the child) --------------------------------------------------------

_server = None


def _params(**fields):
    import xllamacpp as xlc

    p = xlc.CommonParams()
    p.model.path = MODEL
    p.n_ctx = 512  # a request that asks for endless tokens stops when its slot's 256 are full
    p.n_parallel = 2
    p.n_predict = 32  # and one that asks for none (-1) at 32
    p.cpuparams.n_threads = 2
    p.cpuparams_batch.n_threads = 2
    p.warmup = False
    p.sampling.temp = 0.0
    p.slot_save_path = "/tmp/xllamacpp-stress-slots"
    for k, v in fields.items():
        setattr(p, k, v)
    return p


def server():
    global _server
    if _server is None:
        import xllamacpp as xlc

        os.makedirs("/tmp/xllamacpp-stress-slots", exist_ok=True)
        _server = xlc.Server(_params())
    return _server


def _http(method: str, url: str, body: bytes | None, headers: dict) -> str:
    import requests

    try:
        r = requests.request(method, url, data=body, headers={"Content-Type": "application/json", **headers}, timeout=120)
        return str(r.status_code)
    except requests.RequestException as e:
        return "http-error:" + type(e).__name__


def run_request(case: dict) -> dict:
    import xllamacpp as xlc

    s = server()
    body = None if case["body"] is None else base64.b64decode(case["body"])
    try:
        # as server.handle() runs it: a refusal is its error answer (handle_* raise it as RequestError)
        status, _ = s._call(case["method"], case["path"], body, None, keep_form=False, raise_refused=False)
        in_process = str(status)
    except xlc.RequestError as e:
        in_process = str(e.http_status)
    except xlc.XlcError as e:
        in_process = "exception:" + type(e).__name__
    http = _http(case["method"], s.listening_address + case["path"], body, case["headers"])
    return {"in_process": in_process, "http": http}


def run_callback(case: dict) -> dict:
    import xllamacpp as xlc

    kind = case["callback"]
    s = xlc.Server(_params(port=-1)) if kind == "close" else server()
    calls = []

    def callback(chunk):
        calls.append(chunk)
        if kind == "raise":
            raise ValueError("from the callback")
        if kind == "stop-at-once":
            return True
        if kind == "re-enter":
            s.handle("POST", "/tokenize", {"content": "again"})
        if kind == "close" and len(calls) == 1:
            s.close()
        if kind == "slow":
            time.sleep(0.5)
        if kind == "keyboard-interrupt":
            raise KeyboardInterrupt
        if kind == "return-garbage":
            return object()
        return None

    t0 = time.perf_counter()
    try:
        s.handle_completions({"prompt": "Once", "max_tokens": 6, "stream": True}, callback)
        result = "returned"
    except (ValueError, KeyboardInterrupt, xlc.ServerClosedError) as e:
        result = "raised:" + type(e).__name__
    after = s.handle("GET", "/health") if kind != "close" else {"status": "closed"}
    return {"in_process": result, "http": "-", "calls": len(calls), "after": after.get("status"),
            "seconds": round(time.perf_counter() - t0, 2)}


def run_case(case: dict) -> dict:
    return run_callback(case) if case["kind"] == "callback" else run_request(case)
