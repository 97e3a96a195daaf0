"""Every Python example in README.md and docs/*.md runs, so the docs cannot rot.

A page's ```python blocks run in order as one script (later blocks may use what earlier
ones defined), in a fresh interpreter, from the checkout's root. Lines keep their line
numbers in the page, so a traceback points into the .md file. Model files the examples
name are mapped to the test model and the model kit below; `http://127.0.0.1:8080`
(a server started with `make serve`) to a server this test starts, which caps replies
that set no max_tokens at 32 tokens (a base model would otherwise fill its context). A block whose info
string says `notest` (```python notest) is shown but not run.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import xllamacpp as xlc
from conftest import GEMMA_CHAT_TEMPLATE, ROOT, kit_model, make_params

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\S*)[^\n]*$")
CARRIES_TEMPLATE = "# its GGUF carries a template with tools and thinking"
MODEL_NAME = re.compile(r"""["'](models/[^"']+\.gguf)["']""")

# what each model file named in the docs is here: the test model, or a kit model
STANDS_FOR = {
    "models/gemma-3-270m-q4_k_m.gguf": None,
    "models/gemma-3-4b-it-q4_k_m.gguf": None,
    "models/Qwen3-0.6B-Q8_0.gguf": None,
    "models/mmproj-gemma-3-4b-it-f16.gguf": "mmproj",
    "models/bge-small-en-v1.5-q8_0.gguf": "embedding",
    "models/bge-reranker-v2-m3-q8_0.gguf": "reranker",
    "models/gemma-3-270m-shakespeare-lora.gguf": "lora",
}


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """(first line number, code) of each runnable ```python block."""
    blocks: list[tuple[int, str]] = []
    current: list[str] | None = None
    start, lang = 0, ""
    for number, line in enumerate(page.read_text().splitlines(), 1):
        fence = FENCE.match(line)
        if fence and current is None:
            info = line[3:].strip()
            lang, current, start = fence.group(1), [], number + 1
            if lang == "python" and "notest" in info.split():
                lang = "python-notest"
        elif line.startswith("```") and current is not None:
            if lang == "python":
                blocks.append((start, "\n".join(current)))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def as_script(blocks: list[tuple[int, str]], replace: dict[str, str]) -> str:
    lines: list[str] = []
    for start, code in blocks:
        lines.extend([""] * (start - 1 - len(lines)))
        for old, new in replace.items():
            code = code.replace(old, new)
        lines.extend(code.splitlines())
    return "\n".join(lines) + "\n"


def test_every_page_with_examples_is_collected():
    with_examples = [p.name for p in PAGES if python_blocks(p)]
    assert "README.md" in with_examples
    for page in ("vision.md", "embeddings.md", "lora.md", "speculative.md", "reasoning-and-tools.md"):
        assert page in with_examples


@pytest.fixture(scope="module")
def make_serve(model_path):
    """What `make serve` would be serving, with a cap on reply length."""
    with xlc.Server(make_params(model_path, n_parallel=2, n_predict=32, chat_template="gemma",
                                use_jinja=False)) as s:
        yield s


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.name)
def test_examples_run(page, model_path, make_serve, tmp_path):
    blocks = python_blocks(page)
    names = sorted({m for _, code in blocks for m in MODEL_NAME.findall(code)})
    unknown = [n for n in names if n not in STANDS_FOR]
    assert not unknown, f"{page.name} names model files the docs test does not know: {unknown} (add them to STANDS_FOR)"
    replace = {name: (kit_model(kind) if kind else model_path) for name, kind in STANDS_FOR.items()}
    replace["http://127.0.0.1:8080"] = make_serve.listening_address
    # the test model's file has no template (it gets llama.cpp's gemma format, without tools or
    # thinking): standing in for a file that carries one with both, it gets tests/templates' jinja
    replace[CARRIES_TEMPLATE] = f"; params.chat_template = open({str(GEMMA_CHAT_TEMPLATE)!r}).read()"
    script = tmp_path / page.name.replace(".md", ".py")
    script.write_text(as_script(blocks, replace))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, (
        f"an example in {page.relative_to(ROOT)} failed (line numbers are the page's):\n"
        f"{run.stderr[-4000:].replace(str(script), str(page.relative_to(ROOT)))}")
    assert run.stdout.strip(), f"the examples in {page.name} printed nothing"
