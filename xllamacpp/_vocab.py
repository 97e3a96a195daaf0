"""Vocab: a model file's vocabulary alone (xlc_vocab_*), without weights or a server.

llama.cpp's own tokenizer with every flag (add_special, parse_special; pieces with or
without special tokens), for the llama_cpp compatibility package and for
vocabulary-only GGUF files, which no Server can load. Thread-safe: llama.cpp's
tokenizer only reads the vocabulary.
"""
from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING, Any, Dict, List, Sequence, cast

from . import _json
from ._errors import InvalidTypeError
from ._library import c_bytes, call_out, check, ffi, lib

if TYPE_CHECKING:
    from ._library import CData


class Vocab:
    """``Vocab("model.gguf")``: tokenize, pieces and the file's metadata."""

    def __init__(self, model_path: str | os.PathLike[str]) -> None:
        if not isinstance(model_path, (str, os.PathLike)):
            raise InvalidTypeError(f"Vocab takes a path, not {type(model_path).__name__}")
        out = ffi.new("xlc_vocab **")
        check(lib.xlc_vocab_open(os.fsencode(model_path), out))
        self._ptr = cast("CData", out[0])
        self._finalizer = weakref.finalize(self, lib.xlc_vocab_free, self._ptr)
        self.info: Dict[str, Any] = _json.loads(call_out(lib.xlc_vocab_info, self._ptr))

    def tokenize(self, text: bytes, add_special: bool, parse_special: bool) -> List[int]:
        """llama_tokenize: ``add_special`` adds BOS/EOS as the vocabulary asks; ``parse_special``
        reads special tokens' text as those tokens."""
        if not isinstance(text, (bytes, bytearray)):
            raise InvalidTypeError(f"tokenize takes bytes, not {type(text).__name__}")
        reply = call_out(lib.xlc_vocab_tokenize, self._ptr, bytes(text), len(text),
                         int(bool(add_special)), int(bool(parse_special)))
        return cast(List[int], _json.loads(reply))

    def pieces(self, tokens: Sequence[int], special: bool) -> bytes:
        """The tokens' pieces concatenated (llama_token_to_piece, no space stripped)."""
        ids = list(tokens)
        if not all(isinstance(t, int) and not isinstance(t, bool) for t in ids):
            raise InvalidTypeError("tokens are ints")
        out = ffi.new("char **")
        size = ffi.new("size_t *")
        check(lib.xlc_vocab_pieces(self._ptr, ffi.new("int[]", ids), len(ids), int(bool(special)), out, size))
        text = cast("CData", out[0])
        try:
            return c_bytes(text, cast(int, size[0]))
        finally:
            lib.xlc_free(text)

    def close(self) -> None:
        self._finalizer()


__all__ = ["Vocab"]
