"""llama-cpp-python's tokenizer classes: the model's own vocabulary (LlamaTokenizer). A Hugging Face
tokenizer cannot replace llama-server's, which tokenizes every request itself."""
from __future__ import annotations

from typing import Any

from .llama import LlamaTokenizer


class BaseLlamaTokenizer:
    pass


class LlamaHFTokenizer(BaseLlamaTokenizer):
    def __init__(self, hf_tokenizer: Any):
        raise NotImplementedError("LlamaHFTokenizer: llama-server tokenizes with the model's own vocabulary; "
                                  "tokenize with the Hugging Face tokenizer and pass the ids as the prompt")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str) -> "LlamaHFTokenizer":
        return cls(None)


__all__ = ["BaseLlamaTokenizer", "LlamaHFTokenizer", "LlamaTokenizer"]
