"""LlamaGrammar: a GBNF grammar that constrains a completion.

The grammar travels as text to llama-server, whose sampler parses it; a grammar
it cannot parse fails the request that carries it, with llama.cpp's message.
JSON schemas become GBNF through llama.cpp's own converter (json-schema-to-grammar).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, List, Optional, Union

LLAMA_GRAMMAR_DEFAULT_ROOT = "root"


class LlamaGrammar:
    """``LlamaGrammar.from_string('root ::= "yes" | "no"')``; pass it as ``grammar=``."""

    def __init__(self, *args: Any, _grammar: str, **kwargs: Any):
        if not isinstance(_grammar, str):
            raise TypeError(f"a grammar is text, not {type(_grammar).__name__}")
        self._grammar = _grammar
        self._root = LLAMA_GRAMMAR_DEFAULT_ROOT

    @classmethod
    def from_string(cls, grammar: str, verbose: bool = True) -> "LlamaGrammar":
        return cls(_grammar=grammar)

    @classmethod
    def from_file(cls, file: Union[str, Path], verbose: bool = True) -> "LlamaGrammar":
        try:
            text = Path(os.fspath(file)).read_text()
        except Exception as err:  # the message llama-cpp-python gives, whatever the cause
            raise Exception(f"{cls.from_file.__name__}: error reading grammar file: {err}")
        if not text:
            raise ValueError(f"{cls.from_file.__name__}: error parsing grammar file: params_grammer is empty")
        return cls.from_string(text, verbose=verbose)

    @classmethod
    def from_json_schema(cls, json_schema: str, verbose: bool = True) -> "LlamaGrammar":
        return cls.from_string(json_schema_to_gbnf(json_schema), verbose=verbose)

    def __repr__(self) -> str:
        return f"LlamaGrammar.from_string({self._grammar!r})"


def json_schema_to_gbnf(schema: str, prop_order: Optional[List[str]] = None) -> str:
    """A JSON schema (text) as GBNF, by llama.cpp's converter. ``prop_order`` is not supported
    by that converter: properties keep the schema's order."""
    import xllamacpp

    if prop_order:
        raise NotImplementedError("prop_order: llama.cpp's converter keeps the schema's property order; "
                                  "order the schema's properties instead")
    try:
        parsed = json.loads(schema) if isinstance(schema, (str, bytes)) else schema
    except json.JSONDecodeError as e:
        raise ValueError(f"the JSON schema is not valid JSON: {e}") from None
    try:
        return xllamacpp.json_schema_to_grammar(parsed)
    except xllamacpp.XlcError as e:
        raise ValueError(str(e)) from None


__all__ = ["LLAMA_GRAMMAR_DEFAULT_ROOT", "LlamaGrammar", "json_schema_to_gbnf"]
