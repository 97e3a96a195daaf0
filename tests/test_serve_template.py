"""`make serve` on the default model: gemma3 270M is a base model without a chat template in
its file, so the library gives it llama.cpp's gemma format (tests/test_chat_template.py); the
Makefile adds no template flags, which would turn jinja off and the web UI's tools away."""
from __future__ import annotations

import shlex
import subprocess

import xllamacpp as xlc
from conftest import ROOT


def _serve_flags() -> list[str]:
    # --no-print-directory: under `make test` this make is nested and would print "Leaving directory"
    dry = subprocess.run(["make", "-s", "-n", "--no-print-directory", "serve"], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    command = shlex.split(dry.stdout.strip().splitlines()[-1])
    assert command[1:3] == ["-m", "xllamacpp"], command
    return command[3:]


def test_make_serve_chats_in_gemma_turns(model_path):
    flags = _serve_flags()
    assert flags[flags.index("--model") + 1] == "models/gemma-3-270m-q4_k_m.gguf"
    params = xlc.CommonParams.from_args(flags + ["--port", "-1", "-t", "2", "-c", "1024", "--temp", "0"])
    params.model.path = model_path
    with xlc.Server(params) as s:
        prompt = s.handle("POST", "/apply-template", {"messages": [{"role": "user", "content": "Hello"}]})["prompt"]
        assert prompt.endswith("<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n"), prompt
        reply = s.handle_chat_completions({"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 16})
    assert "<|im_" not in reply["choices"][0]["message"]["content"]


def test_no_model_gets_template_flags():
    assert "--chat-template" not in _serve_flags() and "--no-jinja" not in _serve_flags()
    dry = subprocess.run(["make", "-s", "-n", "--no-print-directory", "serve", "MODEL=other.gguf"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    assert "--chat-template" not in dry.stdout.strip().splitlines()[-1]
