"""Prompt-lookup decoding: drafts from n-grams already in the context. Passed as ``draft_model=``, it
becomes llama-server's n-gram speculation (size_n = max_ngram_size, size_m = num_pred_tokens)."""
from __future__ import annotations


class LlamaDraftModel:
    """A Python draft model: not supported (llama-server drafts in C++); see LlamaPromptLookupDecoding."""

    def __call__(self, input_ids, /, **kwargs):  # type: ignore[no-untyped-def]
        raise NotImplementedError("a Python draft model cannot drive llama-server's speculation; pass "
                                  "LlamaPromptLookupDecoding(...) or a draft GGUF path as draft_model=")


class LlamaPromptLookupDecoding(LlamaDraftModel):
    def __init__(self, max_ngram_size: int = 2, num_pred_tokens: int = 10):
        self.max_ngram_size = max_ngram_size
        self.num_pred_tokens = num_pred_tokens


__all__ = ["LlamaDraftModel", "LlamaPromptLookupDecoding"]
