"""Llama: llama-cpp-python's high-level class, run by llama-server's engine in this process.

One Llama is one xllamacpp Server with ``n_parallel`` slots: calls from many threads
run at once, batched together, and none waits on a Python lock. Arguments and
answers keep llama-cpp-python 0.3's names and dict shapes (llama_cpp.llama_types);
what a server cannot do (per-token Python callbacks, saving the context's state,
the low-level C functions) raises NotImplementedError naming the alternative
(docs/llama_cpp_compat.md).
"""
from __future__ import annotations

import math
import multiprocessing
import os
import time
import uuid
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

import xllamacpp as xlc
from xllamacpp._vocab import Vocab

from . import llama_types as T
from .llama_grammar import LlamaGrammar

LLAMA_DEFAULT_SEED = 0xFFFFFFFF
DEFAULT_N_PARALLEL = 4  # slots per Llama: four threads' requests decode in one batch

# Arguments older llama-cpp-python releases took and frameworks still pass (LangChain passes
# n_parts and f16_kv on every load); llama.cpp has no use for them.
LEGACY_ARGUMENTS = frozenset({"n_parts", "f16_kv", "low_vram", "mul_mat_q", "n_gqa", "rms_norm_eps",
                              "embedding_only"})

# llama-cpp-python's chat_format names -> llama.cpp's built-in chat templates
CHAT_FORMATS = {
    "llama-2": "llama2", "llama-3": "llama3", "chatml": "chatml", "gemma": "gemma", "zephyr": "zephyr",
    "vicuna": "vicuna", "openchat": "openchat", "mistral-instruct": "mistral-v1", "phi3": "phi3",
    "chatglm3": "chatglm3", "saiga": "llama2-sys", "openbuddy": "openchat", "intel": "chatml",
    "qwen": "chatml", "baichuan-2": "llama2", "granite": "granite",
}


def _nope(what: str, instead: str) -> NotImplementedError:
    return NotImplementedError(f"{what} is not supported by llama_cpp on xllamacpp (llama-server's engine): "
                               f"{instead}. See docs/llama_cpp_compat.md.")


class LogitsProcessorList(list):
    """llama-cpp-python's list of ``(input_ids, scores) -> scores`` callbacks. Accepted as a type;
    passing a non-empty one to a call raises NotImplementedError (the server samples in C++)."""

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        for processor in self:
            scores = processor(input_ids, scores)
        return scores


class StoppingCriteriaList(list):
    """llama-cpp-python's list of ``(input_ids, logits) -> bool`` callbacks; as LogitsProcessorList."""

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        return any(criterion(input_ids, logits) for criterion in self)


LogitsProcessor = Callable[[Any, Any], Any]
StoppingCriteria = Callable[[Any, Any], bool]


class MinTokensLogitsProcessor:
    """llama-cpp-python's processor that keeps EOS out of the first ``min_tokens`` tokens. Constructible;
    like every logits processor it cannot run inside llama-server's sampler (see LogitsProcessorList)."""

    def __init__(self, min_tokens: int, token_eos: int):
        self.min_tokens = min_tokens
        self.token_eos = token_eos


class ContextParams:
    """What llama-cpp-python's ``context_params`` holds that frameworks read (``n_ctx``: per sequence)."""

    def __init__(self, **fields: Any):
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        return f"ContextParams({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


class _Engine:
    """``Llama._ctx``: the engine behind the instance (``ctx``: the Server, or the Vocab when vocab_only)."""

    def __init__(self, ctx: Any):
        self.ctx = ctx


def _check(name: str, value: Any, types: tuple, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) and bool not in types:
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        names = " or ".join(t.__name__ for t in types) + (" or None" if optional else "")
        raise TypeError(f"{name} must be {names}, not {type(value).__name__}")


_INT = (int,)
_NUM = (int, float)
_BOOL = (bool,)


class Llama:
    """``Llama(model_path, n_ctx=..., ...)``: llama-cpp-python's constructor arguments; ``n_parallel``
    (default 4) is the number of requests decoded at once, and ``n_ctx`` is each one's context."""

    def __init__(
        self,
        model_path: str,
        *,
        n_gpu_layers: int = 0,
        split_mode: int = 1,
        main_gpu: int = 0,
        tensor_split: Optional[List[float]] = None,
        vocab_only: bool = False,
        use_mmap: bool = True,
        use_mlock: bool = False,
        kv_overrides: Optional[Dict[str, Union[bool, int, float, str]]] = None,
        seed: int = LLAMA_DEFAULT_SEED,
        n_ctx: int = 512,
        n_batch: int = 512,
        n_ubatch: int = 512,
        n_threads: Optional[int] = None,
        n_threads_batch: Optional[int] = None,
        rope_scaling_type: Optional[int] = -1,
        pooling_type: int = -1,
        attention_type: int = -1,
        rope_freq_base: float = 0.0,
        rope_freq_scale: float = 0.0,
        yarn_ext_factor: float = -1.0,
        yarn_attn_factor: float = 1.0,
        yarn_beta_fast: float = 32.0,
        yarn_beta_slow: float = 1.0,
        yarn_orig_ctx: int = 0,
        logits_all: bool = False,
        embedding: bool = False,
        offload_kqv: bool = True,
        flash_attn: bool = False,
        op_offload: Optional[bool] = None,
        swa_full: Optional[bool] = None,
        no_perf: bool = False,
        last_n_tokens_size: int = 64,
        lora_base: Optional[str] = None,
        lora_scale: float = 1.0,
        lora_path: Optional[str] = None,
        numa: Union[bool, int] = False,
        chat_format: Optional[str] = None,
        chat_handler: Optional[Any] = None,
        draft_model: Optional[Any] = None,
        tokenizer: Optional[Any] = None,
        type_k: Optional[int] = None,
        type_v: Optional[int] = None,
        spm_infill: bool = False,
        verbose: bool = True,
        n_parallel: Optional[int] = None,
        chat_template: Optional[str] = None,
        **kwargs: Any,
    ):
        fields = xlc.CommonParams.fields()
        server_fields: Dict[str, Any] = {}  # this package's extension: llama-server's own parameters by name
        for name, value in kwargs.items():
            if name in LEGACY_ARGUMENTS:
                warnings.warn(f"Llama: {name} is no longer used by llama.cpp and is ignored", DeprecationWarning,
                              stacklevel=2)
            elif name in fields and "." not in name:
                server_fields[name] = value
            else:
                # llama-cpp-python takes and drops any keyword; saying so helps find a misspelling
                warnings.warn(f"Llama: unknown keyword argument {name!r} is ignored", RuntimeWarning, stacklevel=2)
        if not isinstance(model_path, (str, os.PathLike)):
            raise TypeError(f"model_path must be str or os.PathLike, not {type(model_path).__name__}")
        for name, value, types, optional in (
                ("n_gpu_layers", n_gpu_layers, _INT, False), ("split_mode", split_mode, _INT, False),
                ("main_gpu", main_gpu, _INT, False), ("seed", seed, _INT, False), ("n_ctx", n_ctx, _INT, False),
                ("n_batch", n_batch, _INT, False), ("n_ubatch", n_ubatch, _INT, False),
                ("n_threads", n_threads, _INT, True), ("n_threads_batch", n_threads_batch, _INT, True),
                ("rope_scaling_type", rope_scaling_type, _INT, True), ("pooling_type", pooling_type, _INT, False),
                ("attention_type", attention_type, _INT, False), ("rope_freq_base", rope_freq_base, _NUM, False),
                ("rope_freq_scale", rope_freq_scale, _NUM, False), ("yarn_ext_factor", yarn_ext_factor, _NUM, False),
                ("yarn_attn_factor", yarn_attn_factor, _NUM, False), ("yarn_beta_fast", yarn_beta_fast, _NUM, False),
                ("yarn_beta_slow", yarn_beta_slow, _NUM, False), ("yarn_orig_ctx", yarn_orig_ctx, _INT, False),
                ("lora_scale", lora_scale, _NUM, False), ("last_n_tokens_size", last_n_tokens_size, _INT, False),
                ("type_k", type_k, _INT, True), ("type_v", type_v, _INT, True), ("n_parallel", n_parallel, _INT, True),
                ("vocab_only", vocab_only, _BOOL, False), ("use_mmap", use_mmap, _BOOL, False),
                ("use_mlock", use_mlock, _BOOL, False), ("logits_all", logits_all, _BOOL, False),
                ("embedding", embedding, _BOOL, False), ("offload_kqv", offload_kqv, _BOOL, False),
                ("flash_attn", flash_attn, _BOOL, False), ("verbose", verbose, _BOOL, False),
                ("lora_path", lora_path, (str, os.PathLike), True), ("chat_format", chat_format, (str,), True),
                ("chat_template", chat_template, (str,), True)):
            _check(name, value, types, optional)
        if n_ctx < 0 or n_batch < 1 or n_ubatch < 1:
            raise ValueError(f"n_ctx must be >= 0 and n_batch, n_ubatch >= 1 (got {n_ctx}, {n_batch}, {n_ubatch})")
        if n_parallel is not None and n_parallel < 1:
            raise ValueError(f"n_parallel must be >= 1, not {n_parallel}")

        self.verbose = verbose
        self.model_path = os.fspath(model_path)
        if not os.path.exists(self.model_path):
            raise ValueError(f"Model path does not exist: {model_path}")
        if tokenizer is not None:
            raise _nope("tokenizer=", "llama-server tokenizes with the model's own vocabulary; "
                        "tokenize with your tokenizer and pass the ids as the prompt")
        try:
            self._vocab = Vocab(self.model_path)
        except xlc.XlcError as e:
            raise ValueError(f"Failed to load model from file: {self.model_path}: {e}") from None
        info = self._vocab.info
        self.metadata: Dict[str, str] = dict(info["metadata"])
        self.chat_format = chat_format
        self.chat_handler = chat_handler
        self.draft_model = draft_model
        self.lora_base, self.lora_path, self.lora_scale = lora_base, lora_path, lora_scale
        self.spm_infill = spm_infill
        self.last_n_tokens_size = last_n_tokens_size
        self._seed = seed
        self._logits_all = logits_all
        self.cache = None

        n_ctx = n_ctx or int(info["n_ctx_train"])
        self.n_batch = min(n_ctx, n_batch)
        self.n_threads = n_threads or max(multiprocessing.cpu_count() // 2, 1)
        self.n_threads_batch = n_threads_batch or multiprocessing.cpu_count()
        self.n_parallel = n_parallel or (1 if embedding else DEFAULT_N_PARALLEL)
        self._n_ctx = n_ctx
        self.context_params = ContextParams(
            n_ctx=n_ctx, n_batch=self.n_batch, n_ubatch=min(self.n_batch, n_ubatch), n_threads=self.n_threads,
            n_threads_batch=self.n_threads_batch, n_seq_max=self.n_parallel, embeddings=embedding,
            pooling_type=pooling_type, flash_attn=flash_attn, offload_kqv=offload_kqv, no_perf=no_perf)
        self._embedding = embedding
        self._server: Optional[xlc.Server] = None
        self._ctx = _Engine(self._vocab)
        if vocab_only:
            return

        # kv_overrides go through llama.cpp's own --override-kv parser
        p = xlc.CommonParams.from_args(_kv_override_args(kv_overrides)) if kv_overrides else xlc.CommonParams()
        p.model.path = self.model_path
        p.port = -1  # in-process only
        p.warmup = False
        # each slot gets n_ctx of its own (llama-cpp-python's n_ctx is one sequence's)
        p.n_parallel = self.n_parallel
        p.kv_unified = False
        p.n_ctx = n_ctx * self.n_parallel
        p.n_batch = self.n_batch
        p.n_ubatch = min(self.n_batch, n_ubatch)
        p.cpuparams.n_threads = self.n_threads
        p.cpuparams_batch.n_threads = self.n_threads_batch
        p.n_gpu_layers = 999 if n_gpu_layers == -1 else n_gpu_layers
        p.split_mode = split_mode
        p.main_gpu = main_gpu
        if tensor_split is not None:
            p.tensor_split = [float(x) for x in tensor_split] + [0.0] * (128 - len(tensor_split))
        p.use_mmap = use_mmap and lora_path is None
        p.use_mlock = use_mlock
        if seed != LLAMA_DEFAULT_SEED:
            p.sampling.seed = seed & 0xFFFFFFFF
        if rope_scaling_type is not None and rope_scaling_type != -1:
            p.rope_scaling_type = rope_scaling_type
        if pooling_type != -1:
            p.pooling_type = pooling_type
        if attention_type != -1:
            p.attention_type = attention_type
        # 0 (and llama-cpp-python's own defaults) mean the file's values: llama.cpp's defaults say the same
        if rope_freq_base:
            p.rope_freq_base = float(rope_freq_base)
        if rope_freq_scale:
            p.rope_freq_scale = float(rope_freq_scale)
        if yarn_ext_factor != -1.0:
            p.yarn_ext_factor = float(yarn_ext_factor)
        if yarn_attn_factor != 1.0:
            p.yarn_attn_factor = float(yarn_attn_factor)
        if yarn_beta_fast != 32.0:
            p.yarn_beta_fast = float(yarn_beta_fast)
        if yarn_beta_slow != 1.0:
            p.yarn_beta_slow = float(yarn_beta_slow)
        if yarn_orig_ctx:
            p.yarn_orig_ctx = yarn_orig_ctx
        p.embedding = embedding
        p.no_kv_offload = not offload_kqv
        p.flash_attn_type = 1 if flash_attn else 0  # LLAMA_FLASH_ATTN_TYPE_ENABLED / _DISABLED
        if op_offload is not None:
            p.no_op_offload = not op_offload
        if swa_full is not None:
            p.swa_full = swa_full
        p.no_perf = no_perf
        p.sampling.penalty_last_n = last_n_tokens_size
        if type_k is not None:
            p.cache_type_k = type_k
        if type_v is not None:
            p.cache_type_v = type_v
        p.spm_infill = spm_infill
        if numa:
            p.numa = 1 if numa is True else int(numa)  # GGML_NUMA_STRATEGY_DISTRIBUTE for True
        if lora_path:
            p.lora_adapters = [xlc.CommonAdapterLoraInfo(os.fspath(lora_path), float(lora_scale))]
        for name, value in server_fields.items():
            setattr(p, name, value)
        self._apply_chat(p, chat_format, chat_handler, chat_template)
        self._apply_draft(p, draft_model)
        try:
            self._server = xlc.Server(p)
        except xlc.ModelLoadError as e:
            raise ValueError(f"Failed to load model from file: {self.model_path}: {e}") from None
        self._ctx = _Engine(self._server)

    # --- set-up helpers ----------------------------------------------------------------

    def _apply_chat(self, p: Any, chat_format: Optional[str], chat_handler: Any, chat_template: Optional[str]) -> None:
        if chat_template is not None:  # a Jinja template (this package's own argument)
            p.chat_template = chat_template
            p.use_jinja = True
        elif chat_format is not None and chat_format != "chat_template.default":
            if chat_format not in CHAT_FORMATS:
                raise _nope(f"chat_format={chat_format!r}",
                            f"use one of {', '.join(sorted(CHAT_FORMATS))}, or pass the Jinja template as "
                            "chat_template=")
            p.chat_template = CHAT_FORMATS[chat_format]
            p.use_jinja = False  # llama.cpp's built-in formats are not Jinja
        if chat_handler is not None:
            clip = getattr(chat_handler, "clip_model_path", None)
            if not clip:
                raise _nope("chat_handler= (a Python chat handler)",
                            "pass chat_format= or the Jinja template as chat_template=; llama-server applies it")
            p.mmproj.path = os.fspath(clip)  # a Llava-style handler: its projector serves the images

    def _apply_draft(self, p: Any, draft_model: Any) -> None:
        if draft_model is None:
            return
        spec = xlc.common_speculative_type
        if isinstance(draft_model, (str, os.PathLike)):  # a draft model file (this package's own form)
            p.speculative.draft.mparams.path = os.fspath(draft_model)
            p.speculative.types = [spec.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
        elif hasattr(draft_model, "max_ngram_size") and hasattr(draft_model, "num_pred_tokens"):
            p.speculative.types = [spec.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
            p.speculative.ngram_simple.size_n = int(draft_model.max_ngram_size)
            p.speculative.ngram_simple.size_m = int(draft_model.num_pred_tokens)
        else:
            raise _nope("draft_model= (a Python draft model)",
                        "pass LlamaPromptLookupDecoding(...) or the path of a draft GGUF model")

    # --- the model ------------------------------------------------------------------

    def n_ctx(self) -> int:
        """Context of one request (each of the n_parallel slots has this much)."""
        return self._n_ctx

    def n_embd(self) -> int:
        return int(self._vocab.info["n_embd"])

    def n_vocab(self) -> int:
        return int(self._vocab.info["n_vocab"])

    def token_bos(self) -> int:
        return int(self._vocab.info["bos"])

    def token_eos(self) -> int:
        return int(self._vocab.info["eos"])

    def token_nl(self) -> int:
        return int(self._vocab.info["nl"])

    def pooling_type(self) -> int:
        """The pooling in use: the constructor's, else the file's (``<arch>.pooling_type``), else none (0)."""
        if self.context_params.pooling_type != -1:
            return int(self.context_params.pooling_type)
        arch = self.metadata.get("general.architecture", "")
        try:
            return int(self.metadata.get(f"{arch}.pooling_type", 0))
        except ValueError:
            return 0

    def tokenizer(self) -> "LlamaTokenizer":
        return LlamaTokenizer(self)

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> List[int]:
        """llama.cpp's tokenizer: ``add_bos`` adds the vocabulary's BOS (and EOS where it asks for one),
        ``special`` reads special tokens' text as those tokens."""
        if not isinstance(text, (bytes, bytearray)):
            raise TypeError(f"tokenize takes bytes, not {type(text).__name__}")
        return self._vocab.tokenize(bytes(text), add_bos, special)

    def detokenize(self, tokens: List[int], prev_tokens: Optional[List[int]] = None, special: bool = False) -> bytes:
        """The tokens' bytes; a leading space after a first BOS is dropped, as llama-cpp-python does."""
        ids = list(tokens)
        if any(not isinstance(t, int) or isinstance(t, bool) for t in ids):
            raise TypeError("detokenize takes a list of int token ids")
        try:
            text = self._vocab.pieces(ids, special)
        except xlc.InvalidArgumentError as e:
            raise ValueError(str(e)) from None
        if ids and ids[0] == self.token_bos() and text[:1] == b" ":
            return text[1:]
        return text

    # --- completions ----------------------------------------------------------------

    def __call__(self, prompt: Union[str, List[int]], suffix: Optional[str] = None, max_tokens: Optional[int] = 16,
                 temperature: float = 0.8, top_p: float = 0.95, min_p: float = 0.05, typical_p: float = 1.0,
                 logprobs: Optional[int] = None, echo: bool = False, stop: Optional[Union[str, List[str]]] = [],
                 frequency_penalty: float = 0.0, presence_penalty: float = 0.0, repeat_penalty: float = 1.0,
                 top_k: int = 40, stream: bool = False, seed: Optional[int] = None, tfs_z: float = 1.0,
                 mirostat_mode: int = 0, mirostat_tau: float = 5.0, mirostat_eta: float = 0.1,
                 model: Optional[str] = None, stopping_criteria: Optional[StoppingCriteriaList] = None,
                 logits_processor: Optional[LogitsProcessorList] = None, grammar: Optional[LlamaGrammar] = None,
                 logit_bias: Optional[Dict[int, float]] = None
                 ) -> Union[T.CreateCompletionResponse, Iterator[T.CreateCompletionStreamResponse]]:
        """create_completion."""
        return self.create_completion(
            prompt, suffix=suffix, max_tokens=max_tokens, temperature=temperature, top_p=top_p, min_p=min_p,
            typical_p=typical_p, logprobs=logprobs, echo=echo, stop=stop, frequency_penalty=frequency_penalty,
            presence_penalty=presence_penalty, repeat_penalty=repeat_penalty, top_k=top_k, stream=stream, seed=seed,
            tfs_z=tfs_z, mirostat_mode=mirostat_mode, mirostat_tau=mirostat_tau, mirostat_eta=mirostat_eta,
            model=model, stopping_criteria=stopping_criteria, logits_processor=logits_processor, grammar=grammar,
            logit_bias=logit_bias)

    def create_completion(self, prompt: Union[str, List[int]], suffix: Optional[str] = None,
                          max_tokens: Optional[int] = 16, temperature: float = 0.8, top_p: float = 0.95,
                          min_p: float = 0.05, typical_p: float = 1.0, logprobs: Optional[int] = None,
                          echo: bool = False, stop: Optional[Union[str, List[str]]] = [],
                          frequency_penalty: float = 0.0, presence_penalty: float = 0.0, repeat_penalty: float = 1.0,
                          top_k: int = 40, stream: bool = False, seed: Optional[int] = None, tfs_z: float = 1.0,
                          mirostat_mode: int = 0, mirostat_tau: float = 5.0, mirostat_eta: float = 0.1,
                          model: Optional[str] = None, stopping_criteria: Optional[StoppingCriteriaList] = None,
                          logits_processor: Optional[LogitsProcessorList] = None,
                          grammar: Optional[LlamaGrammar] = None, logit_bias: Optional[Dict[int, float]] = None
                          ) -> Union[T.CreateCompletionResponse, Iterator[T.CreateCompletionStreamResponse]]:
        """Text after ``prompt`` (a str, or token ids used as they are); ``stream=True`` returns an iterator."""
        server = self._require_server("create_completion")
        if self._embedding:
            raise RuntimeError("Llama model must be created with embedding=False to call create_completion")
        _check("prompt", prompt, (str, list))
        _check("suffix", suffix, (str,), optional=True)
        _check("max_tokens", max_tokens, _INT, optional=True)
        _check("logprobs", logprobs, _INT, optional=True)
        _check("echo", echo, _BOOL)
        _check("stream", stream, _BOOL)
        if logprobs is not None and echo:
            raise _nope("echo=True with logprobs", "llama-server gives logprobs for generated tokens only; "
                        "leave echo off and prepend the prompt yourself")
        stop_list = _stop_list(stop)
        _no_callbacks(stopping_criteria, logits_processor)
        if isinstance(prompt, list):
            if not all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
                raise TypeError("a prompt list holds int token ids")
            prompt_tokens = list(prompt)
            prompt_text = self.detokenize(prompt_tokens).decode("utf-8", "ignore")
        else:
            # llama-cpp-python's prompt: BOS where the vocabulary adds one, then the text with special tokens read
            bos = [self.token_bos()] if self._vocab.info["add_bos"] and self.token_bos() >= 0 else []
            prompt_tokens = bos + (self.tokenize(prompt.encode("utf-8"), add_bos=False, special=True) if prompt else [])
            prompt_text = prompt
        if len(prompt_tokens) >= self._n_ctx:
            raise ValueError(f"Requested tokens ({len(prompt_tokens)}) exceed context window of {self._n_ctx}")
        if max_tokens is None or max_tokens <= 0 or max_tokens + len(prompt_tokens) >= self._n_ctx:
            max_tokens = self._n_ctx - len(prompt_tokens)

        body: Dict[str, Any] = self._sampling(temperature, top_p, min_p, typical_p, frequency_penalty,
                                              presence_penalty, repeat_penalty, top_k, seed, mirostat_mode,
                                              mirostat_tau, mirostat_eta, grammar, logit_bias)
        body.update(n_predict=max_tokens, stop=stop_list, return_tokens=True, cache_prompt=True)
        if logprobs is not None:
            body["n_probs"] = max(logprobs, 1)
        path = "/completion"
        fim = suffix is not None and min(self._vocab.info[k] for k in ("fim_pre", "fim_suf", "fim_mid")) >= 0
        if fim:  # the model's fill-in-the-middle tokens: llama-server's /infill builds that prompt
            path = "/infill"
            body.update(input_prefix=prompt_text, input_suffix=suffix, prompt="")
        else:
            body["prompt"] = prompt_tokens
        meta = {"id": f"cmpl-{uuid.uuid4()}", "created": int(time.time()),
                "model": model if model is not None else self.model_path}
        prefix = prompt_text if echo else ""
        after = suffix if suffix is not None and not fim else ""
        if stream:
            return self._stream_completion(server, path, body, meta, prefix, after, logprobs, len(prompt_text))
        answer = _answer(server.handle("POST", path, body))
        text = answer.get("content", "")
        choice: T.CompletionChoice = {
            "text": prefix + text + after, "index": 0,
            "logprobs": _completion_logprobs(answer.get("completion_probabilities"), logprobs,
                                             0 if echo else len(prompt_text)) if logprobs is not None else None,
            "finish_reason": _finish_reason(answer),
        }
        n_prompt = int(answer.get("tokens_evaluated") or len(prompt_tokens)) if fim else len(prompt_tokens)
        n_completion = int(answer.get("tokens_predicted", len(answer.get("tokens") or [])))
        return {"object": "text_completion", **meta, "choices": [choice],  # type: ignore[typeddict-item]
                "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_completion,
                          "total_tokens": n_prompt + n_completion}}

    def _stream_completion(self, server: xlc.Server, path: str, body: Dict[str, Any], meta: Dict[str, Any],
                           prefix: str, after: str, logprobs: Optional[int], text_offset: int
                           ) -> Iterator[T.CreateCompletionStreamResponse]:
        stream = server.stream("POST", path, {**body, "stream": True})

        def chunk(text: str, lp: Any = None, finish: Optional[str] = None) -> T.CreateCompletionStreamResponse:
            return {"object": "text_completion", **meta,  # type: ignore[typeddict-item]
                    "choices": [{"text": text, "index": 0, "logprobs": lp, "finish_reason": finish}]}

        def events() -> Iterator[T.CreateCompletionStreamResponse]:
            offset = text_offset
            finish = "length"
            try:
                if prefix:
                    yield chunk(prefix)
                for event in _stream_events(stream):
                    text = event.get("content", "")
                    if text:
                        lp = None
                        if logprobs is not None:
                            lp = _completion_logprobs(event.get("completion_probabilities"), logprobs, offset)
                        offset += len(text)
                        yield chunk(text, lp)
                    if event.get("stop"):
                        finish = _finish_reason(event)
                if after:
                    yield chunk(after)
                yield chunk("", None, finish)
            finally:
                stream.close()  # a reader that stops early frees the slot

        return events()

    # --- chat -----------------------------------------------------------------------

    def create_chat_completion(
        self, messages: List[T.ChatCompletionRequestMessage], functions: Optional[List[T.ChatCompletionFunction]] = None,
        function_call: Optional[T.ChatCompletionRequestFunctionCall] = None,
        tools: Optional[List[T.ChatCompletionTool]] = None,
        tool_choice: Optional[T.ChatCompletionToolChoiceOption] = None, temperature: float = 0.2,
        top_p: float = 0.95, top_k: int = 40, min_p: float = 0.05, typical_p: float = 1.0, stream: bool = False,
        stop: Optional[Union[str, List[str]]] = [], seed: Optional[int] = None,
        response_format: Optional[T.ChatCompletionRequestResponseFormat] = None, max_tokens: Optional[int] = None,
        presence_penalty: float = 0.0, frequency_penalty: float = 0.0, repeat_penalty: float = 1.0,
        tfs_z: float = 1.0, mirostat_mode: int = 0, mirostat_tau: float = 5.0, mirostat_eta: float = 0.1,
        model: Optional[str] = None, logits_processor: Optional[LogitsProcessorList] = None,
        grammar: Optional[LlamaGrammar] = None, logit_bias: Optional[Dict[int, float]] = None,
        logprobs: Optional[bool] = None, top_logprobs: Optional[int] = None,
    ) -> Union[T.CreateChatCompletionResponse, Iterator[T.CreateChatCompletionStreamResponse]]:
        """The chat template applied by llama-server; tools, tool_choice (a named function forces a call
        whose arguments follow its schema), response_format, logprobs: as OpenAI's API."""
        server = self._require_server("create_chat_completion")
        if self._embedding:
            raise RuntimeError("Llama model must be created with embedding=False to call create_chat_completion")
        _check("messages", messages, (list,))
        if not all(isinstance(m, dict) for m in messages):
            raise TypeError("messages is a list of dicts")
        _check("stream", stream, _BOOL)
        _check("max_tokens", max_tokens, _INT, optional=True)
        _no_callbacks(None, logits_processor)
        if functions is not None:  # the older OpenAI form: functions + function_call become tools
            tools = [{"type": "function", "function": f} for f in functions]  # type: ignore[misc]
            if isinstance(function_call, dict):
                tool_choice = {"type": "function", "function": {"name": function_call["name"]}}
            elif function_call is not None:
                tool_choice = function_call  # type: ignore[assignment]
        body: Dict[str, Any] = self._sampling(temperature, top_p, min_p, typical_p, frequency_penalty,
                                              presence_penalty, repeat_penalty, top_k, seed, mirostat_mode,
                                              mirostat_tau, mirostat_eta, grammar, logit_bias)
        body.update(messages=messages, stop=_stop_list(stop))
        if max_tokens is not None and max_tokens > 0:
            body["max_tokens"] = max_tokens
        if logprobs:
            body["logprobs"] = True
            if top_logprobs is not None:
                body["top_logprobs"] = top_logprobs
        if response_format is not None:
            _response_format(response_format)  # checked here; llama-server reads OpenAI's forms itself
            body["response_format"] = response_format
        meta = {"model": model if model is not None else self.model_path}
        if isinstance(tool_choice, dict):
            return self._forced_tool_call(server, body, tools or [], tool_choice, stream, meta)
        if tools:
            body["tools"] = tools
            if tool_choice is not None:
                body["tool_choice"] = tool_choice
        self._check_prompt_fits(server, body)
        if stream:
            return self._stream_chat(server, body, meta)
        answer = _answer(server.handle("POST", "/v1/chat/completions", body))
        return _chat_answer(answer, meta)

    def create_chat_completion_openai_v1(self, *args: Any, **kwargs: Any) -> Any:
        """create_chat_completion, its answer as the openai package's types."""
        try:
            from openai.types.chat import ChatCompletion, ChatCompletionChunk
        except ImportError:
            raise ImportError("To use create_chat_completion_openai_v1, you must install the openai package. "
                              "You can install it with `pip install openai`.") from None
        answer = self.create_chat_completion(*args, **kwargs)
        if kwargs.get("stream", False):
            return (ChatCompletionChunk(**chunk) for chunk in answer)  # type: ignore[union-attr]
        return ChatCompletion(**answer)  # type: ignore[arg-type]

    def _check_prompt_fits(self, server: xlc.Server, body: Dict[str, Any]) -> None:
        fields = {k: body[k] for k in ("messages", "tools", "tool_choice") if k in body}
        prompt = _answer(server.handle("POST", "/apply-template", fields))["prompt"]
        n = len(self.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
        if n >= self._n_ctx:
            raise ValueError(f"Requested tokens ({n}) exceed context window of {self._n_ctx}")
        limit = self._n_ctx - n
        if "max_tokens" not in body or body["max_tokens"] > limit:
            body["max_tokens"] = limit

    def _stream_chat(self, server: xlc.Server, body: Dict[str, Any], meta: Dict[str, Any]
                     ) -> Iterator[T.CreateChatCompletionStreamResponse]:
        stream = server.stream("POST", "/v1/chat/completions", {**body, "stream": True})

        def events() -> Iterator[T.CreateChatCompletionStreamResponse]:
            try:
                for event in _stream_events(stream):
                    if not event.get("choices"):
                        continue  # the usage-only event
                    yield _chat_chunk(event, meta)
            finally:
                stream.close()

        return events()

    def _forced_tool_call(self, server: xlc.Server, body: Dict[str, Any], tools: List[Any], tool_choice: Dict[str, Any],
                          stream: bool, meta: Dict[str, Any]) -> Any:
        """A named function: its arguments are generated under its parameters' JSON schema, after the chat
        prompt with the tools rendered, and returned as one tool call (llama-cpp-python's way)."""
        name = (tool_choice.get("function") or {}).get("name")
        chosen = [t for t in tools if (t.get("function") or {}).get("name") == name]
        if not chosen:
            raise ValueError(f"tool_choice names the function {name!r}, which is not in tools "
                             f"({[(t.get('function') or {}).get('name') for t in tools]})")
        function = chosen[0]["function"]
        schema = function.get("parameters") or {"type": "object"}
        fields = {"messages": body["messages"], "tools": tools}
        rendered = server.handle("POST", "/apply-template", fields)
        if "error" in rendered:  # a template without tool support (llama.cpp's built-in formats)
            rendered = _answer(server.handle("POST", "/apply-template", {"messages": body["messages"]}))
        prompt = rendered["prompt"]
        tokens = self.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        if len(tokens) >= self._n_ctx:
            raise ValueError(f"Requested tokens ({len(tokens)}) exceed context window of {self._n_ctx}")
        request = {k: v for k, v in body.items() if k not in ("messages", "grammar", "json_schema", "response_format",
                                                              "logprobs", "top_logprobs", "max_tokens")}
        limit = self._n_ctx - len(tokens)
        request.update(prompt=tokens, json_schema=schema, n_predict=min(body.get("max_tokens") or limit, limit),
                       cache_prompt=True)
        answer = _answer(server.handle("POST", "/completion", request))
        arguments = answer.get("content", "")
        completion_id = f"chatcmpl-{uuid.uuid4()}"
        call_id = f"call__0_{name}_{completion_id}"
        created = int(time.time())
        n_prompt, n_completion = len(tokens), int(answer.get("tokens_predicted", 0))
        if stream:
            def events() -> Iterator[T.CreateChatCompletionStreamResponse]:
                base = {"id": completion_id, "object": "chat.completion.chunk", "created": created, **meta}
                yield {**base, "choices": [{"index": 0, "finish_reason": None, "logprobs": None, "delta": {
                    "role": "assistant", "content": None, "tool_calls": [{"index": 0, "id": call_id,
                    "type": "function", "function": {"name": name, "arguments": arguments}}]}}]}  # type: ignore
                yield {**base, "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": None,  # type: ignore
                                            "delta": {}}]}
            return events()
        message: T.ChatCompletionResponseMessage = {
            "role": "assistant", "content": None,
            "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]}
        return {"id": completion_id, "object": "chat.completion", "created": created, **meta,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls"}],
                "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_completion,
                          "total_tokens": n_prompt + n_completion}}

    # --- embeddings -----------------------------------------------------------------

    def create_embedding(self, input: Union[str, List[str]], model: Optional[str] = None
                         ) -> T.CreateEmbeddingResponse:
        """OpenAI's embeddings answer for one text or a list of them."""
        inputs = input if isinstance(input, list) else [input]
        embeds, total = self.embed(inputs, return_count=True)
        return {"object": "list", "model": model if model is not None else self.model_path,
                "data": [{"object": "embedding", "embedding": e, "index": i} for i, e in enumerate(embeds)],
                "usage": {"prompt_tokens": total, "total_tokens": total}}

    def embed(self, input: Union[str, List[str]], normalize: bool = False, truncate: bool = True,
              return_count: bool = False) -> Any:
        """One embedding per text (a list of per-token embeddings when pooling is none); ``truncate``
        cuts each text to n_batch tokens, else a longer one raises ValueError."""
        server = self._require_server("embed")
        if not self._embedding:
            raise RuntimeError("Llama model must be created with embedding=True to call this method")
        _check("input", input, (str, list))
        inputs = [input] if isinstance(input, str) else input
        if not all(isinstance(t, str) for t in inputs):
            raise TypeError("embed takes a str or a list of str")
        data: List[Any] = []
        total = 0
        token_lists = []
        for text in inputs:
            tokens = self.tokenize(text.encode("utf-8"))
            if truncate:
                tokens = tokens[:self.n_batch]
            if len(tokens) > self.n_batch:
                raise ValueError(f"Requested tokens ({len(tokens)}) exceed batch size of {self.n_batch}")
            total += len(tokens)
            token_lists.append(tokens)
        if token_lists:
            # llama-server's native route: token ids in, raw (unnormalized) vectors out, in input order
            answer = server.handle("POST", "/embeddings", {"content": token_lists, "embd_normalize": -1})
            if isinstance(answer, dict) and "error" in answer:
                raise xlc.RequestError.from_response(answer)
            for item in sorted(answer, key=lambda a: a.get("index", 0)):
                vectors = item["embedding"]
                pooled = self.pooling_type() != 0
                rows = [_normalized(v) if normalize else list(map(float, v)) for v in vectors]
                data.append(rows[0] if pooled else rows)
        output = data[0] if isinstance(input, str) else data
        return (output, total) if return_count else output

    # --- what a server cannot do ----------------------------------------------------

    def _require_server(self, call: str) -> xlc.Server:
        if self._server is None:
            raise RuntimeError(f"{call}: this Llama was created with vocab_only=True: it has no weights")
        return self._server

    def _sampling(self, temperature: float, top_p: float, min_p: float, typical_p: float, frequency_penalty: float,
                  presence_penalty: float, repeat_penalty: float, top_k: int, seed: Optional[int], mirostat_mode: int,
                  mirostat_tau: float, mirostat_eta: float, grammar: Optional[LlamaGrammar],
                  logit_bias: Optional[Dict[int, float]]) -> Dict[str, Any]:
        for name, value in (("temperature", temperature), ("top_p", top_p), ("min_p", min_p),
                            ("typical_p", typical_p), ("frequency_penalty", frequency_penalty),
                            ("presence_penalty", presence_penalty), ("repeat_penalty", repeat_penalty),
                            ("mirostat_tau", mirostat_tau), ("mirostat_eta", mirostat_eta)):
            _check(name, value, _NUM)
        _check("top_k", top_k, _INT)
        _check("seed", seed, _INT, optional=True)
        _check("mirostat_mode", mirostat_mode, _INT)
        if grammar is not None and not isinstance(grammar, LlamaGrammar):
            raise TypeError(f"grammar must be a LlamaGrammar, not {type(grammar).__name__}")
        body: Dict[str, Any] = {
            "temperature": temperature, "top_p": top_p, "min_p": min_p, "typical_p": typical_p, "top_k": top_k,
            "frequency_penalty": frequency_penalty, "presence_penalty": presence_penalty,
            "repeat_penalty": repeat_penalty, "repeat_last_n": self.last_n_tokens_size, "mirostat": mirostat_mode,
            "mirostat_tau": mirostat_tau, "mirostat_eta": mirostat_eta,
        }
        if seed is not None:
            body["seed"] = seed & 0xFFFFFFFF
        elif self._seed != LLAMA_DEFAULT_SEED:
            body["seed"] = self._seed & 0xFFFFFFFF
        if grammar is not None:
            body["grammar"] = grammar._grammar
        if logit_bias:
            body["logit_bias"] = [[int(k), float(v)] for k, v in logit_bias.items()]
        return body

    def set_cache(self, cache: Any) -> None:
        """Accepted and kept: llama-server's prompt cache (each slot keeps its last prompt) does this work."""
        self.cache = cache

    def set_seed(self, seed: int) -> None:
        _check("seed", seed, _INT)
        self._seed = seed

    def reset(self) -> None:
        """Nothing to reset: every call starts from its own prompt."""

    def save_state(self) -> Any:
        raise _nope("save_state()", "llama-server keeps each slot's prompt cache itself; "
                    "use xllamacpp.Server with slot_save_path and POST /slots/{id}?action=save")

    def load_state(self, state: Any) -> None:
        raise _nope("load_state()", "use xllamacpp.Server with slot_save_path and POST /slots/{id}?action=restore")

    def eval(self, tokens: Sequence[int]) -> None:
        raise _nope("eval()", "llama-server evaluates a prompt as part of a request; call create_completion")

    def sample(self, *args: Any, **kwargs: Any) -> int:
        raise _nope("sample()", "call create_completion with max_tokens=1 (logprobs=n for the candidates)")

    def generate(self, *args: Any, **kwargs: Any) -> Iterator[int]:
        raise _nope("generate()", "call create_completion(prompt_tokens, stream=True)")

    @property
    def ctx(self) -> Any:
        raise _nope("Llama.ctx (the llama_context pointer)", "llama-server owns its context; use the Llama methods "
                    "or xllamacpp.Server")

    @property
    def model(self) -> Any:
        raise _nope("Llama.model (the llama_model pointer)", "use the Llama methods or xllamacpp.Server")

    def close(self) -> None:
        """Stops the server and frees the model; requests still running end with an error."""
        if self._server is not None:
            self._server.close()
        self._vocab.close()

    def __enter__(self) -> "Llama":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getstate__(self) -> Any:
        raise _nope("pickling a Llama", "create a Llama in each process (the model file is mapped, not copied)")

    @staticmethod
    def logits_to_logprobs(logits: Any, axis: int = -1) -> Any:
        import numpy as np

        values = np.asarray(logits, dtype=np.single)
        top = np.max(values, axis=axis, keepdims=True)
        shifted = values - top
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))

    @staticmethod
    def longest_token_prefix(a: Sequence[int], b: Sequence[int]) -> int:
        n = 0
        for x, y in zip(a, b):
            if x != y:
                break
            n += 1
        return n

    @classmethod
    def from_pretrained(cls, repo_id: str, filename: Optional[str], additional_files: Optional[List] = None,
                        local_dir: Optional[str] = None, local_dir_use_symlinks: Any = "auto",
                        cache_dir: Optional[str] = None, **kwargs: Any) -> "Llama":
        """A model from the Hugging Face Hub, through huggingface_hub (as llama-cpp-python); offline
        (HF_HUB_OFFLINE=1, or no network) only a file already in its cache loads."""
        try:
            from huggingface_hub import hf_hub_download
        except ImportError:
            raise ImportError("Llama.from_pretrained requires the huggingface-hub package. "
                              "You can install it with `pip install huggingface-hub`.") from None
        if not filename or any(c in filename for c in "*?["):
            raise ValueError(f"from_pretrained needs the exact file name in {repo_id} (got {filename!r}): listing "
                             "a repository's files to match a pattern needs the Hub")
        try:
            path = hf_hub_download(repo_id=repo_id, filename=filename, local_dir=local_dir, cache_dir=cache_dir)
        except Exception as e:
            raise ValueError(f"Llama.from_pretrained could not get {filename} from {repo_id} (offline, or not on "
                             f"the Hub): {type(e).__name__}: {e}. Download the file and pass its path to "
                             "Llama(model_path=...).") from None
        return cls(model_path=path, **kwargs)


class LlamaTokenizer:
    """llama-cpp-python's tokenizer object over a Llama's vocabulary."""

    def __init__(self, llama: Llama):
        self._llama = llama

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = True) -> List[int]:
        return self._llama.tokenize(text, add_bos=add_bos, special=special)

    def detokenize(self, tokens: List[int], prev_tokens: Optional[List[int]] = None, special: bool = False) -> bytes:
        return self._llama.detokenize(tokens, prev_tokens=prev_tokens, special=special)

    def encode(self, text: str, add_bos: bool = True, special: bool = True) -> List[int]:
        return self.tokenize(text.encode("utf-8", errors="ignore"), add_bos=add_bos, special=special)

    def decode(self, tokens: List[int]) -> str:
        return self.detokenize(tokens).decode("utf-8", errors="ignore")

    @classmethod
    def from_ggml_file(cls, path: str) -> "LlamaTokenizer":
        return cls(Llama(model_path=path, vocab_only=True))


# --- answers: llama-server's JSON -> llama-cpp-python's dicts ---------------------------


def _answer(body: Any) -> Dict[str, Any]:
    if isinstance(body, dict) and "error" in body:
        raise xlc.RequestError.from_response(body)
    if not isinstance(body, dict):
        raise RuntimeError(f"unexpected answer from the server: {body!r:.200}")
    return body


def _stream_events(stream: Any) -> Iterator[Dict[str, Any]]:
    for event in stream:
        if isinstance(event, dict) and "error" in event:
            raise xlc.RequestError.from_response(event)
        if isinstance(event, dict):
            yield event


def _stop_list(stop: Any) -> List[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise TypeError("stop must be a str or a list of str")
    return [s for s in stop if s]


def _no_callbacks(stopping_criteria: Any, logits_processor: Any) -> None:
    if logits_processor:
        raise _nope("logits_processor (a Python callback per token)",
                    "use grammar=, logit_bias= or response_format=, which llama-server applies in its sampler")
    if stopping_criteria:
        raise _nope("stopping_criteria (a Python callback per token)",
                    "use stop= strings, or stream=True and stop reading when your condition holds")


def _finish_reason(answer: Dict[str, Any]) -> str:
    return "length" if answer.get("stop_type") == "limit" else "stop"


def _completion_logprobs(probs: Optional[List[Dict[str, Any]]], n: Optional[int], offset: int) -> T.CompletionLogprobs:
    tokens: List[str] = []
    offsets: List[int] = []
    token_logprobs: List[Optional[float]] = []
    top: List[Optional[Dict[str, float]]] = []
    for item in probs or []:
        text = item.get("token", "")
        tokens.append(text)
        offsets.append(offset)
        offset += len(text)
        token_logprobs.append(float(item.get("logprob", -math.inf)))
        candidates = {c.get("token", ""): float(c.get("logprob", -math.inf))
                      for c in (item.get("top_logprobs") or [])[:n or 0]}
        candidates[text] = token_logprobs[-1]  # the chosen token is always among them
        top.append(candidates)
    return {"tokens": tokens, "text_offset": offsets, "token_logprobs": token_logprobs, "top_logprobs": top}


def _response_format(fmt: Any) -> Dict[str, Any]:
    if not isinstance(fmt, dict) or "type" not in fmt:
        raise TypeError("response_format is a dict with a 'type'")
    kind = fmt["type"]
    if kind == "text":
        return {}
    if kind == "json_object":
        schema = fmt.get("schema")
        return {"json_schema": schema} if schema is not None else {"json_schema": {"type": "object"}}
    if kind == "json_schema":  # OpenAI's newer form
        inner = fmt.get("json_schema") or {}
        return {"json_schema": inner.get("schema", inner)}
    raise ValueError(f"response_format type {kind!r} is not one of 'text', 'json_object', 'json_schema'")


def _message(message: Dict[str, Any]) -> T.ChatCompletionResponseMessage:
    out: Dict[str, Any] = {"role": message.get("role", "assistant"), "content": message.get("content")}
    if message.get("tool_calls"):
        out["tool_calls"] = [{"id": c.get("id", ""), "type": "function",
                              "function": {"name": c["function"]["name"],
                                           "arguments": c["function"].get("arguments", "")}}
                             for c in message["tool_calls"]]
    if message.get("reasoning_content"):
        out["reasoning_content"] = message["reasoning_content"]
    return out  # type: ignore[return-value]


def _chat_answer(answer: Dict[str, Any], meta: Dict[str, Any]) -> T.CreateChatCompletionResponse:
    choices = [{"index": c.get("index", 0), "message": _message(c.get("message") or {}),
                "logprobs": c.get("logprobs"), "finish_reason": c.get("finish_reason")}
               for c in answer.get("choices", [])]
    usage = answer.get("usage") or {}
    return {"id": answer.get("id", f"chatcmpl-{uuid.uuid4()}"), "object": "chat.completion",  # type: ignore
            "created": answer.get("created", int(time.time())), **meta, "choices": choices,
            "usage": {"prompt_tokens": usage.get("prompt_tokens", 0),
                      "completion_tokens": usage.get("completion_tokens", 0),
                      "total_tokens": usage.get("total_tokens", 0)}}


def _chat_chunk(event: Dict[str, Any], meta: Dict[str, Any]) -> T.CreateChatCompletionStreamResponse:
    choices = []
    for c in event["choices"]:
        delta = {k: v for k, v in (c.get("delta") or {}).items() if k in ("role", "content", "tool_calls",
                                                                          "function_call", "reasoning_content")}
        choices.append({"index": c.get("index", 0), "delta": delta, "finish_reason": c.get("finish_reason"),
                        "logprobs": c.get("logprobs")})
    return {"id": event.get("id", ""), "object": "chat.completion.chunk",  # type: ignore[return-value]
            "created": event.get("created", int(time.time())), **meta, "choices": choices}


def _normalized(vector: Sequence[float]) -> List[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [float(x) / norm if norm > 0 else 0.0 for x in vector]


def _kv_override_args(overrides: Dict[str, Any]) -> List[str]:
    args = []
    for key, value in overrides.items():
        if isinstance(value, bool):
            args += ["--override-kv", f"{key}=bool:{'true' if value else 'false'}"]
        elif isinstance(value, int):
            args += ["--override-kv", f"{key}=int:{value}"]
        elif isinstance(value, float):
            args += ["--override-kv", f"{key}=float:{value}"]
        elif isinstance(value, str):
            if len(value.encode("utf-8")) > 128:
                raise ValueError(f"Value for {key} is too long: {value}")
            args += ["--override-kv", f"{key}=str:{value}"]
        else:
            raise ValueError(f"Unknown value type for {key}: {value}")
    return args


__all__ = ["Llama", "LlamaTokenizer", "LogitsProcessorList", "StoppingCriteriaList", "LogitsProcessor",
           "StoppingCriteria", "MinTokensLogitsProcessor", "LLAMA_DEFAULT_SEED", "ContextParams"]
