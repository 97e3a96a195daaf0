"""llama_cpp (llama_cpp_compat/): llama-cpp-python's Llama API on the server, checked against the
server itself (the same request through xllamacpp.Server gives the same tokens) and against
llama-cpp-python's own expected values where it states them (its tokenizer test's ids)."""
from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import xllamacpp as xlc
from conftest import make_params

ROOT = Path(__file__).resolve().parents[1]
try:
    # by name: the type checkers of tests/test_stubs.py see the base wheel only, not this package
    llama_cpp: Any = importlib.import_module("llama_cpp")
except ImportError:  # a PyPy run from the checkout: the compatibility package is not installed there
    sys.path.insert(0, str(ROOT / "llama_cpp_compat"))
    llama_cpp = importlib.import_module("llama_cpp")

Llama, LlamaGrammar, LogitsProcessorList = llama_cpp.Llama, llama_cpp.LlamaGrammar, llama_cpp.LogitsProcessorList

SPM_VOCAB = ROOT / "vendor" / "llama.cpp" / "models" / "ggml-vocab-llama-spm.gguf"
PROMPT = "The capital of France is"
GREEDY = {"temperature": 0.0, "top_k": 1}
PERSON = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
                                           "age": {"type": "integer", "minimum": 0, "maximum": 120}},
          "required": ["name", "age"], "additionalProperties": False}
PERSON_TOOL = {"type": "function", "function": {"name": "record_person", "description": "Record a person",
                                                "parameters": PERSON}}


@pytest.fixture(scope="module")
def llm(model_path):
    with Llama(model_path, n_ctx=512, n_parallel=4, n_threads=2, n_threads_batch=2, verbose=False) as m:
        yield m


@pytest.fixture(scope="module")
def reference(model_path):
    """The same model behind a plain Server, for what the compatibility layer must reproduce."""
    with xlc.Server(make_params(model_path, n_ctx=2048, n_parallel=1)) as s:
        yield s


# --- the import surface frameworks use ----------------------------------------------------------

def test_the_names_frameworks_import():
    importlib.import_module("llama_cpp.llama_grammar")
    types = importlib.import_module("llama_cpp.llama_types")

    assert llama_cpp.__version__ == "0.3.36"
    assert llama_cpp.llama_grammar.LlamaGrammar is LlamaGrammar
    assert "choices" in types.CreateCompletionResponse.__annotations__
    assert callable(LogitsProcessorList([lambda ids, scores: scores]))
    # llama.cpp's own enum values, read from the vendored headers
    assert llama_cpp.LLAMA_POOLING_TYPE_MEAN == xlc.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN.value == 1
    assert llama_cpp.GGML_TYPE_Q8_0 == xlc.ggml_type.GGML_TYPE_Q8_0.value


def test_the_c_functions_raise_not_implemented_naming_the_alternative():
    importlib.import_module("llama_cpp._internals")
    with pytest.raises(NotImplementedError, match="xllamacpp.Server"):
        llama_cpp.llama_backend_init()
    with pytest.raises(NotImplementedError, match="Use Llama"):
        llama_cpp._internals.LlamaModel(path_model="x", params=None)


def test_importing_beside_llama_cpp_python_says_so(tmp_path):
    # llama-cpp-python's metadata on the path, as pip leaves it: the import warns, naming both
    info = tmp_path / "llama_cpp_python-0.3.36.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: llama_cpp_python\nVersion: 0.3.36\n")
    paths = [str(tmp_path), str(Path(llama_cpp.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
    r = subprocess.run([sys.executable, "-W", "always", "-c", "import llama_cpp"], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "ShadowingWarning" in r.stderr and "llama-cpp-python 0.3.36" in r.stderr and "pip uninstall" in r.stderr
    clean = subprocess.run([sys.executable, "-W", "always", "-c", "import llama_cpp"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": os.pathsep.join(paths[1:])}, timeout=120)
    assert clean.returncode == 0 and "ShadowingWarning" not in clean.stderr, clean.stderr


# --- the vocabulary ---------------------------------------------------------------------------

def test_tokenize_on_a_vocabulary_only_file_gives_llama_cpp_pythons_ids():
    # the ids llama-cpp-python's tests/test_llama.py expects from this file
    vocab = Llama(str(SPM_VOCAB), vocab_only=True, verbose=False)
    assert vocab.tokenize(b"Hello World") == [1, 15043, 2787]
    assert vocab.detokenize([1, 15043, 2787]) == b"Hello World"
    assert vocab.tokenize(b"Hello World</s>", special=True) == [1, 15043, 2787, 2]
    assert vocab.tokenize(b"Hello World</s>") == [1, 15043, 2787, 829, 29879, 29958]
    assert vocab.tokenize(b"", add_bos=True, special=True) == [vocab.token_bos()]
    with pytest.raises(RuntimeError, match="vocab_only"):
        vocab.create_completion("Hello")


def test_tokenize_matches_the_server_and_round_trips(llm, reference):
    text = "Hello <start_of_turn> wörld, ünïcode 😀"
    for add_bos, special in ((True, True), (False, True), (True, False), (False, False)):
        ours = llm.tokenize(text.encode(), add_bos=add_bos, special=special)
        server = reference.handle("POST", "/tokenize", {"content": text, "add_special": add_bos,
                                                         "parse_special": special})["tokens"]
        assert ours == server, (add_bos, special)
    ids = llm.tokenize(text.encode(), add_bos=False, special=True)
    assert llm.detokenize(ids, special=True).decode() == text
    assert llm.detokenize(ids).decode() == text.replace("<start_of_turn>", "")  # special pieces left out


def test_the_model_facts_match_the_file(llm, model_path):
    from xllamacpp._library import call_out, lib

    info = json.loads(call_out(lib.xlc_gguf_info, model_path.encode()))["kv"]
    assert llm.n_ctx() == llm.context_params.n_ctx == 512
    assert llm.n_embd() == info["gemma3.embedding_length"]["value"]
    assert llm.n_vocab() == info["tokenizer.ggml.tokens"]["length"]
    assert llm.token_bos() == info["tokenizer.ggml.bos_token_id"]["value"]
    assert llm.token_eos() == info["tokenizer.ggml.eos_token_id"]["value"]
    assert llm.metadata["general.architecture"] == "gemma3" and llm.model_path == model_path


# --- completions --------------------------------------------------------------------------------

def test_completion_has_llama_cpp_pythons_shape_and_the_servers_tokens(llm, reference):
    out = llm(PROMPT, max_tokens=8, **GREEDY)
    assert set(out) == {"id", "object", "created", "model", "choices", "usage"} and out["object"] == "text_completion"
    (choice,) = out["choices"]
    assert set(choice) == {"text", "index", "logprobs", "finish_reason"}
    assert choice["finish_reason"] == "length" and choice["logprobs"] is None
    prompt_tokens = llm.tokenize(PROMPT.encode(), add_bos=True, special=True)
    assert out["usage"] == {"prompt_tokens": len(prompt_tokens), "completion_tokens": 8,
                            "total_tokens": len(prompt_tokens) + 8}
    alone = reference.handle("POST", "/completion", {"prompt": PROMPT, "n_predict": 8, "temperature": 0.0})
    assert choice["text"] == alone["content"]


def test_streamed_completion_rebuilds_the_answer(llm):
    whole = llm.create_completion(PROMPT, max_tokens=12, **GREEDY)["choices"][0]["text"]
    chunks = list(llm.create_completion(PROMPT, max_tokens=12, stream=True, **GREEDY))
    assert all(c["object"] == "text_completion" and set(c["choices"][0]) == {"text", "index", "logprobs",
                                                                             "finish_reason"} for c in chunks)
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "length"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole


def test_stop_echo_and_suffix(llm):
    whole = llm(PROMPT, max_tokens=16, **GREEDY)["choices"][0]["text"]
    word = whole.split()[1]
    stopped = llm(PROMPT, max_tokens=16, stop=[word], **GREEDY)["choices"][0]
    assert stopped["finish_reason"] == "stop" and stopped["text"] == whole[:whole.index(word)]
    streamed = "".join(c["choices"][0]["text"] for c in llm(PROMPT, max_tokens=16, stop=word, stream=True, **GREEDY))
    assert streamed == stopped["text"]
    assert llm(PROMPT, max_tokens=4, echo=True, **GREEDY)["choices"][0]["text"].startswith(PROMPT)
    # gemma has no fill-in-the-middle tokens: the suffix follows the text, as llama-cpp-python does then
    assert llm(PROMPT, max_tokens=4, suffix=" THE END", **GREEDY)["choices"][0]["text"].endswith(" THE END")


def test_suffix_on_a_fim_model_goes_through_infill(fim_model):
    with Llama(fim_model, n_ctx=256, n_parallel=1, verbose=False) as fim:
        out = fim("def add(a, b):\n    return", suffix="\n\nprint(add(1, 2))\n", max_tokens=6, **GREEDY)
    assert out["choices"][0]["text"] and out["usage"]["completion_tokens"] == 6


def test_logprobs_have_llama_cpp_pythons_shape(llm):
    out = llm(PROMPT, max_tokens=5, logprobs=3, **GREEDY)["choices"][0]
    lp = out["logprobs"]
    assert set(lp) == {"tokens", "text_offset", "token_logprobs", "top_logprobs"}
    assert len(lp["tokens"]) == 5 and "".join(lp["tokens"]) == out["text"]
    assert lp["text_offset"][0] == len(PROMPT)
    for token, logprob, top in zip(lp["tokens"], lp["token_logprobs"], lp["top_logprobs"]):
        assert token in top and top[token] == logprob <= 0.0 and 1 <= len(top) <= 4
        assert logprob == max(top.values())  # greedy took the most likely token
    chunks = [c["choices"][0]["logprobs"] for c in llm(PROMPT, max_tokens=5, logprobs=3, stream=True, **GREEDY)]
    assert [t for c in chunks if c for t in c["tokens"]] == lp["tokens"]


def test_grammar_seed_and_sampling_arguments(llm):
    grammar = LlamaGrammar.from_string('root ::= "yes" | "no"')
    out = llm("Is the sky blue? Answer:", grammar=grammar, max_tokens=4, temperature=0.9, top_p=0.9, min_p=0.01,
              repeat_penalty=1.1, frequency_penalty=0.1, presence_penalty=0.1, seed=7)
    assert out["choices"][0]["text"] in ("yes", "no")
    a = llm(PROMPT, max_tokens=12, temperature=1.5, seed=1234)["choices"][0]["text"]
    b = llm(PROMPT, max_tokens=12, temperature=1.5, seed=1234)["choices"][0]["text"]
    assert a == b
    assert llm(PROMPT, max_tokens=3, **GREEDY)["usage"]["completion_tokens"] == 3


def test_grammar_from_file_and_from_json_schema(tmp_path, llm):
    path = tmp_path / "yn.gbnf"
    path.write_text('root ::= "yes" | "no"\n')
    assert LlamaGrammar.from_file(path)._grammar.startswith("root")
    with pytest.raises(Exception, match="from_file: error reading grammar file"):
        LlamaGrammar.from_file(tmp_path / "missing.gbnf")
    grammar = LlamaGrammar.from_json_schema(json.dumps(PERSON))
    text = llm("A person as JSON:", grammar=grammar, max_tokens=60, **GREEDY)["choices"][0]["text"]
    jsonschema.validate(json.loads(text), PERSON)


# --- chat -------------------------------------------------------------------------------------

CHAT = [{"role": "user", "content": "Say hello."}]


def test_chat_completion_shape_and_stream(llm):
    out = llm.create_chat_completion(CHAT, max_tokens=8, **GREEDY)
    assert out["object"] == "chat.completion" and set(out["choices"][0]) == {"index", "message", "logprobs",
                                                                            "finish_reason"}
    message = out["choices"][0]["message"]
    assert message["role"] == "assistant" and isinstance(message["content"], str)
    assert out["usage"]["completion_tokens"] <= 8
    chunks = list(llm.create_chat_completion(CHAT, max_tokens=8, stream=True, **GREEDY))
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == message["content"] and chunks[-1]["choices"][0]["finish_reason"] == out["choices"][0][
        "finish_reason"]


def test_chat_response_format_json_schema_and_object(llm):
    out = llm.create_chat_completion(CHAT, response_format={"type": "json_object", "schema": PERSON}, max_tokens=60,
                                     **GREEDY)
    jsonschema.validate(json.loads(out["choices"][0]["message"]["content"]), PERSON)
    out = llm.create_chat_completion(CHAT, response_format={"type": "json_object"}, max_tokens=40, **GREEDY)
    content = out["choices"][0]["message"]["content"]
    assert content.lstrip().startswith("{")


def test_chat_logprobs(llm):
    out = llm.create_chat_completion(CHAT, max_tokens=4, logprobs=True, top_logprobs=2, **GREEDY)
    content = out["choices"][0]["logprobs"]["content"]
    assert len(content) == out["usage"]["completion_tokens"]
    for item in content:
        assert {"token", "logprob", "bytes", "top_logprobs"} <= set(item) and len(item["top_logprobs"]) == 2


def test_a_forced_function_returns_a_tool_call_with_json_arguments(llm):
    out = llm.create_chat_completion(
        [{"role": "user", "content": "Alice is 30 years old."}], tools=[PERSON_TOOL],
        tool_choice={"type": "function", "function": {"name": "record_person"}}, max_tokens=60, **GREEDY)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "record_person" and call["id"]
    jsonschema.validate(json.loads(call["function"]["arguments"]), PERSON)
    chunks = list(llm.create_chat_completion(
        [{"role": "user", "content": "Alice is 30 years old."}], tools=[PERSON_TOOL], stream=True,
        tool_choice={"type": "function", "function": {"name": "record_person"}}, max_tokens=60, **GREEDY))
    (streamed,) = chunks[0]["choices"][0]["delta"]["tool_calls"]
    assert streamed["function"]["arguments"] == call["function"]["arguments"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    with pytest.raises(ValueError, match="not in tools"):
        llm.create_chat_completion(CHAT, tools=[PERSON_TOOL],
                                   tool_choice={"type": "function", "function": {"name": "other"}})


# --- embeddings -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def embedder(embedding_model):
    with Llama(embedding_model, embedding=True, n_ctx=256, n_batch=64, n_ubatch=64, verbose=False) as m:
        yield m


def test_embeddings(embedder, embedding_model):
    texts = ["the cat sat on the mat", "a quick brown fox"]
    out = embedder.create_embedding(texts)
    assert out["object"] == "list" and out["model"] == embedding_model
    assert [d["index"] for d in out["data"]] == [0, 1] and all(d["object"] == "embedding" for d in out["data"])
    assert all(len(d["embedding"]) == embedder.n_embd() for d in out["data"])
    n_tokens = sum(len(embedder.tokenize(t.encode())) for t in texts)
    assert out["usage"] == {"prompt_tokens": n_tokens, "total_tokens": n_tokens}
    one = embedder.embed(texts[0])
    assert one == pytest.approx(out["data"][0]["embedding"], abs=1e-5)
    unit = embedder.embed(texts[0], normalize=True)
    assert math.sqrt(sum(x * x for x in unit)) == pytest.approx(1.0, abs=1e-5)
    assert unit == pytest.approx([x / math.sqrt(sum(y * y for y in one)) for x in one], abs=1e-5)
    long_text = "word " * 200
    assert len(embedder.embed(long_text, truncate=True)) == embedder.n_embd()
    with pytest.raises(ValueError, match=r"Requested tokens \(\d+\) exceed batch size of 64"):
        embedder.embed(long_text, truncate=False)


def test_embedding_calls_need_embedding_mode(llm, embedder):
    with pytest.raises(RuntimeError, match="embedding=True"):
        llm.embed("hello")
    with pytest.raises(RuntimeError, match="embedding=False"):
        embedder.create_completion("hello")


# --- what does not map ------------------------------------------------------------------------

def test_what_cannot_map_raises_not_implemented_naming_the_alternative(llm, model_path):
    with pytest.raises(NotImplementedError, match="grammar="):
        llm(PROMPT, logits_processor=LogitsProcessorList([lambda ids, scores: scores]))
    with pytest.raises(NotImplementedError, match="stop="):
        llm(PROMPT, stopping_criteria=llama_cpp.StoppingCriteriaList([lambda ids, logits: False]))
    with pytest.raises(NotImplementedError, match="slot_save_path"):
        llm.save_state()
    with pytest.raises(NotImplementedError, match="create_completion"):
        llm.eval([1, 2])
    with pytest.raises(NotImplementedError, match="chat_template="):
        Llama(model_path, chat_handler=lambda **kw: None, verbose=False)
    with pytest.raises(NotImplementedError, match="chat_template="):
        Llama(model_path, chat_format="no-such-format", verbose=False)


def test_from_pretrained_fails_clearly_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install huggingface-hub"):
            Llama.from_pretrained("ggml-org/models", "tinyllamas/stories15M-q4_0.gguf")
        return
    with pytest.raises(ValueError, match="from_pretrained could not get .* offline"):
        Llama.from_pretrained("ggml-org/models", "tinyllamas/stories15M-q4_0.gguf")


# --- bad input: what llama-cpp-python raises ----------------------------------------------------

def test_missing_model_file(tmp_path):
    with pytest.raises(ValueError, match="^Model path does not exist: .*nope.gguf$"):
        Llama(str(tmp_path / "nope.gguf"))


def test_a_file_that_is_not_a_model(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all")
    with pytest.raises(ValueError, match="Failed to load model from file"):
        Llama(str(bad), verbose=False)


def test_wrong_types(model_path, llm):
    with pytest.raises(TypeError, match="model_path must be str"):
        Llama(123)
    with pytest.raises(TypeError, match="n_ctx must be int"):
        Llama(model_path, n_ctx="512")
    with pytest.raises(TypeError, match="max_tokens must be int"):
        llm(PROMPT, max_tokens="8")
    with pytest.raises(TypeError, match="temperature must be int or float"):
        llm(PROMPT, temperature="hot")
    with pytest.raises(TypeError, match="stop must be"):
        llm(PROMPT, stop=3)
    with pytest.raises(TypeError, match="grammar must be a LlamaGrammar"):
        llm(PROMPT, grammar='root ::= "x"')
    with pytest.raises(TypeError, match="tokenize takes bytes"):
        llm.tokenize("text")
    with pytest.raises(TypeError, match="messages"):
        llm.create_chat_completion("hello")


def test_unknown_and_legacy_keyword_arguments(model_path, llm):
    # a call's signature is llama-cpp-python's: an unknown keyword is Python's TypeError
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_predict'"):
        llm(PROMPT, n_predict=8)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        llm.create_chat_completion(CHAT, bogus=1)
    # the constructor takes **kwargs as llama-cpp-python does; legacy ones warn as deprecated, others by name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = Llama(model_path, vocab_only=True, n_parts=-1, f16_kv=True, devise="cpu", warmup=False, verbose=False)
    messages = {(w.category, str(w.message)) for w in caught}
    assert (DeprecationWarning, "Llama: n_parts is no longer used by llama.cpp and is ignored") in messages
    assert (DeprecationWarning, "Llama: f16_kv is no longer used by llama.cpp and is ignored") in messages
    assert (RuntimeWarning, "Llama: unknown keyword argument 'devise' is ignored") in messages
    assert not any("warmup" in text for _, text in messages)  # a llama-server parameter: set, not ignored
    m.close()


def test_a_prompt_longer_than_n_ctx(llm):
    long_prompt = "hello " * 600
    n = len(llm.tokenize(long_prompt.encode(), add_bos=True, special=True))
    with pytest.raises(ValueError, match=rf"^Requested tokens \({n}\) exceed context window of 512$"):
        llm(long_prompt, max_tokens=4)
    with pytest.raises(ValueError, match=r"^Requested tokens \(\d+\) exceed context window of 512$"):
        llm.create_chat_completion([{"role": "user", "content": long_prompt}], max_tokens=4)
    with pytest.raises(ValueError, match=r"exceed context window of 512"):
        next(iter(llm(long_prompt, max_tokens=4, stream=True)))
    # and the instance still answers
    assert llm(PROMPT, max_tokens=2, **GREEDY)["usage"]["completion_tokens"] == 2


def test_max_tokens_is_cut_to_the_context(llm):
    prompt = "hello " * 250
    n = len(llm.tokenize(prompt.encode(), add_bos=True, special=True))
    out = llm(prompt, max_tokens=0, **GREEDY)
    assert out["usage"]["completion_tokens"] <= 512 - n


# --- threads: one instance, batched ---------------------------------------------------------------

@pytest.fixture(scope="module")
def batch_invariant(model_path):
    # a batch of several sequences is summed in another order than one sequence alone by ggml's repacked
    # CPU kernels (its default "extra buffer types") and by attention without flash attention, so a greedy
    # token can differ; without them each sequence's sums are the same in any batch
    with Llama(model_path, n_ctx=512, n_parallel=4, n_threads=2, n_threads_batch=2, flash_attn=True,
               no_extra_bufts=True, verbose=False) as m:
        yield m


def test_eight_threads_on_one_instance_get_their_solo_answers(batch_invariant):
    llm = batch_invariant
    prompts = [f"{subject} is" for subject in ("The sun", "A cat", "Paris", "The ocean", "Music", "A tree",
                                                "The moon", "Python")]
    jobs = [(p, i % 2 == 1, 4 + (i % 4) * 2) for p in prompts for i in range(4)]  # 32: half streamed

    def run(prompt: str, stream: bool, n: int) -> str:
        if stream:
            return "".join(c["choices"][0]["text"] for c in llm(prompt, max_tokens=n, stream=True, **GREEDY))
        return llm(prompt, max_tokens=n, **GREEDY)["choices"][0]["text"]

    solo = {(p, n): run(p, False, n) for p, _, n in jobs}
    results: dict = {}
    errors: list = []

    def worker(mine):
        try:
            for job in mine:
                results[job] = run(*job)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(jobs[t * 4:(t + 1) * 4],)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    assert len(results) == 32
    assert {job: text for job, text in results.items()} == {job: solo[(job[0], job[2])] for job in jobs}
