"""llama-server's model preset files (``--models-preset FILE.ini``), read and checked at start.

The format is llama-server's: ``[name]`` sections, ``key = value`` lines, ``;``
and ``#`` comments; keys before any section, or in ``[*]``, apply to every
model. A key is a llama-server flag without its dashes (``n-gpu-layers``,
``c``, ``no-mmap``) or its environment variable (``LLAMA_ARG_CTX_SIZE``), taken
from llama.cpp's own argument table; three keys exist only in presets
(``load-on-startup``, ``stop-timeout``, ``dedup-cache-models``). Unlike
llama-server, every error names its line: an unknown key, a bad value
(each value is parsed by llama.cpp's parser here, before any model starts),
a line that is not a section, a key or a comment.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple, cast

from ._errors import InvalidArgumentError

# keys that are not flags: llama-server's preset-only options (common_params_add_preset_options), by env name
PRESET_ONLY = {"load-on-startup": "__PRESET_LOAD_ON_STARTUP", "stop-timeout": "__PRESET_STOP_TIMEOUT",
               "dedup-cache-models": "__PRESET_DEDUP_CACHE_MODELS"}
GLOBAL = "*"
DEFAULT_SECTION = "default"  # llama.cpp's COMMON_PRESET_DEFAULT_NAME: keys before any section
# flags the router sets or refuses for its children (llama-server's unset_reserved_args, and host/port)
RESERVED_ENV = {"LLAMA_ARG_SSL_KEY_FILE", "LLAMA_ARG_SSL_CERT_FILE", "LLAMA_API_KEY", "LLAMA_ARG_API_KEY_FILE",
                "LLAMA_ARG_MODELS_DIR", "LLAMA_ARG_MODELS_MAX", "LLAMA_ARG_MODELS_PRESET",
                "LLAMA_ARG_MODELS_AUTOLOAD", "LLAMA_ARG_HOST", "LLAMA_ARG_PORT", "LLAMA_ARG_ALIAS"}
_TRUTHY = {"1", "true", "on", "enabled", "yes"}
_FALSY = {"0", "false", "off", "disabled", "no"}
_SECTION = re.compile(r"^\s*\[\s*([^\]]*?)\s*\]\s*(?:[;#].*)?$")
_KEY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$")
_COMMENT = re.compile(r"^\s*(?:[;#].*)?$")


@dataclass
class Option:
    """One key of a section: the llama.cpp option it names, its value and where it was written."""

    key: str
    value: str
    line: int
    opt: Optional[Dict[str, Any]]  # the schema's option; None for a preset-only key
    env: str


def _no_options() -> Dict[str, Option]:
    return {}


@dataclass
class Section:
    name: str
    line: int
    options: Dict[str, Option] = field(default_factory=_no_options)  # by env name (or the option's first flag)

    def get(self, env: str) -> Optional[str]:
        option = self.options.get(env)
        return option.value if option is not None else None


def _key_table() -> Dict[str, Tuple[Optional[Dict[str, Any]], str, bool]]:
    """preset key -> (option, its identity, negated) from llama.cpp's argument table."""
    from . import _params

    # the schema is the module's private state, which its generated stub does not declare
    options = cast("List[Dict[str, Any]]", vars(_params)["_SCHEMA"]["options"])
    table: Dict[str, Tuple[Optional[Dict[str, Any]], str, bool]] = {}
    for opt in options:
        ident = opt["env"] or opt["args"][-1]
        for arg in opt["args"]:
            table[arg.lstrip("-")] = (opt, ident, False)
        for arg in opt["args_neg"]:
            table[arg.lstrip("-")] = (opt, ident, True)
        if opt["env"]:
            table[opt["env"]] = (opt, ident, False)
    for key, env in PRESET_ONLY.items():
        table[key] = table[env] = (None, env, False)
    return table


def _bad(path: str, line: int, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{path}:{line}: {message}")


def read(path: str) -> Dict[str, Section]:
    """The sections of a preset file by name ("*" holds the global keys); raises naming the line."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise InvalidArgumentError(f"preset file does not exist: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidArgumentError(f"cannot read the preset file {path}: {e}") from None
    table = _key_table()
    sections: Dict[str, Section] = {}
    current = sections.setdefault(GLOBAL, Section(GLOBAL, 0))
    for number, text in enumerate(lines, 1):
        if _COMMENT.match(text):
            continue
        m = _SECTION.match(text)
        if m:
            name = m.group(1) or DEFAULT_SECTION
            if name == DEFAULT_SECTION:
                name = GLOBAL
            if "/" in name and os.path.isabs(name):
                raise _bad(path, number, f"preset name {name!r} is a path; name the file with `model = ...`")
            current = sections.setdefault(name, Section(name, number))
            continue
        m = _KEY.match(text)
        if not m:
            raise _bad(path, number, f"not a section, a key = value line or a comment: {text.strip()!r}")
        key, value = m.group(1), re.split(r"\s+[;#]", m.group(2), maxsplit=1)[0].strip()
        if key == "version":
            continue  # reserved by llama-server for the format's version
        entry = table.get(key)
        if entry is None:
            raise _bad(path, number, f"option '{key}' not recognized in preset '{current.name}'")
        opt, ident, negated = entry
        if ident in RESERVED_ENV:
            raise _bad(path, number, f"option '{key}' is set by the router, not in a preset")
        if opt is not None and not opt["value_hint"]:  # a flag: true/false, reversed for its no- form
            low = value.lower()
            if low not in _TRUTHY | _FALSY:
                raise _bad(path, number, f"option '{key}' is a flag: its value is true or false, not {value!r}")
            value = "false" if (low in _TRUTHY) == negated else "true"
        option = Option(key, value, number, opt, ident)
        _check_value(path, option)
        current.options[ident] = option
    return sections


def _check_value(path: str, option: Option) -> None:
    """llama.cpp's parser on the one flag, so that a bad value stops the start, not a child later."""
    if option.opt is None:
        if option.env == PRESET_ONLY["stop-timeout"]:
            try:
                if int(option.value) < 0:
                    raise ValueError
            except ValueError:
                raise _bad(path, option.line, f"stop-timeout takes seconds (an int >= 0), not {option.value!r}") from None
        elif option.value.lower() not in _TRUTHY | _FALSY:
            raise _bad(path, option.line, f"option '{option.key}' is true or false, not {option.value!r}")
        return
    from ._params import CommonParams

    try:
        CommonParams.from_args(to_args([option]))
    except (ValueError, TypeError) as e:
        message = " ".join(str(e).split())
        raise _bad(path, option.line, f"option '{option.key}' = {option.value!r}: {message}") from None


def to_args(options: Iterable[Option]) -> List[str]:
    """llama-server flags for options (as llama.cpp's common_preset::to_args writes them)."""
    args: List[str] = []
    for option in options:
        opt = option.opt
        if opt is None:
            continue  # preset-only: not a flag
        if opt["value_hint"]:
            args += [opt["args"][-1], option.value]
        elif option.value == "true":
            args.append(opt["args"][-1])
        elif opt["args_neg"]:
            args.append(opt["args_neg"][-1])
    return args


def truthy(value: Optional[str]) -> bool:
    return value is not None and value.lower() in _TRUTHY


__all__ = ["GLOBAL", "Option", "PRESET_ONLY", "RESERVED_ENV", "Section", "read", "to_args", "truthy"]
