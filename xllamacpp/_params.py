"""CommonParams: llama.cpp's common_params, built from the facade's field table.

Nothing here names a field: names, types, defaults, help and enums all come
from xlc_params_schema(), so a field added to cshim's table appears here as is.
Nested structs are views (``params.sampling.temp = 0.2`` sets the parent);
list values are copied in and out.
"""
from __future__ import annotations

import copy
import difflib
import enum
import os
from typing import Any, Iterable

from . import _json

from ._library import call_out, lib, take_string


def _load_schema() -> dict:
    text = take_string(lib.xlc_params_schema())
    if text is None:
        from ._library import last_error

        raise ImportError("xlc_params_schema failed: " + last_error())
    return _json.loads(text)


_SCHEMA = _load_schema()
FIELDS: dict[str, dict] = {f["name"]: f for f in _SCHEMA["fields"]}
EXCLUDED: dict[str, str] = _SCHEMA["excluded"]
ENUMS: dict[str, type[enum.IntEnum]] = {
    name: enum.IntEnum(name, members, module=__name__)  # type: ignore[misc]
    for name, members in _SCHEMA["enums"].items()
}
GROUPS: frozenset[str] = frozenset(
    name.rsplit(".", i)[0] for name in FIELDS for i in range(1, name.count(".") + 1)
)


class CommonAdapterLoraInfo:
    """A LoRA adapter: its GGUF path and the scale it is applied with."""

    __slots__ = ("path", "scale", "task_name", "prompt_prefix")

    def __init__(self, path: str = "", scale: float = 1.0, task_name: str = "", prompt_prefix: str = ""):
        self.path = os.fspath(path)
        self.scale = float(scale)
        self.task_name = task_name
        self.prompt_prefix = prompt_prefix

    def __repr__(self) -> str:
        return f"CommonAdapterLoraInfo(path={self.path!r}, scale={self.scale!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CommonAdapterLoraInfo):
            return NotImplemented
        return self._json() == other._json()

    def _json(self) -> dict:
        return {"path": self.path, "scale": self.scale, "task_name": self.task_name, "prompt_prefix": self.prompt_prefix}

    def __reduce__(self):
        return (CommonAdapterLoraInfo, (self.path, self.scale, self.task_name, self.prompt_prefix))


# --- conversion between Python values and the facade's JSON --------------------


def _type_error(name: str, want: str, value: Any) -> TypeError:
    return TypeError(f"{name}: expected {want}, got {type(value).__name__} {value!r}")


def _to_json(name: str, kind: str, value: Any) -> Any:
    """Checks a Python value against a field type and returns its JSON form."""
    if kind == "bool":
        if not isinstance(value, bool):
            raise _type_error(name, "bool", value)
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(name, "int", value)
        return int(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(name, "float", value)
        return float(value)
    if kind in ("str", "device"):
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise _type_error(name, "str", value)
        return value
    if kind.startswith("enum:"):
        enum_type = ENUMS[kind[5:]]
        if isinstance(value, str):
            try:
                return int(enum_type[value])
            except KeyError:
                raise ValueError(f"{name}: {value!r} is not a member of {enum_type.__name__}") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(name, enum_type.__name__, value)
        try:
            return int(enum_type(value))
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not a value of {enum_type.__name__}") from None
    if kind.startswith("list["):
        inner = kind[5:-1]
        if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
            raise _type_error(name, "a list", value)
        return [_to_json(name, inner, v) for v in value]
    if kind == "samplers":  # "top_k;temperature", or a list of common_sampler_type
        if isinstance(value, str):
            return value
        return _to_json(name, "list[enum:common_sampler_type]", value)
    if kind == "dict[str,str]":
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise _type_error(name, "dict[str, str]", value)
        return dict(value)
    if kind == "lora":
        if isinstance(value, CommonAdapterLoraInfo):
            return value._json()
        if isinstance(value, (tuple, list)) and 1 <= len(value) <= 2:
            return CommonAdapterLoraInfo(*value)._json()
        if isinstance(value, dict):
            return CommonAdapterLoraInfo(**value)._json()
        raise _type_error(name, "CommonAdapterLoraInfo", value)
    if kind == "logit_bias":
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise _type_error(name, "a (token, bias) pair", value)
        return [_to_json(name, "int", value[0]), _to_json(name, "float", value[1])]
    if not isinstance(value, dict):  # grammar_trigger, control_vector
        raise _type_error(name, "a dict", value)
    return dict(value)


def _from_json(kind: str, value: Any) -> Any:
    """The Python view of a JSON field value (enums as IntEnum, LoRA as objects)."""
    if kind.startswith("enum:"):
        try:
            return ENUMS[kind[5:]](value)
        except ValueError:
            return value
    if kind.startswith("list["):
        inner = kind[5:-1]
        return [_from_json(inner, v) for v in value]
    if kind == "lora":
        return CommonAdapterLoraInfo(**value)
    if kind == "logit_bias":
        return tuple(value)
    return copy.deepcopy(value) if isinstance(value, (list, dict)) else value


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, list(FIELDS) + list(GROUPS), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class _Group:
    """A view of one nested struct of a CommonParams (``params.sampling``)."""

    __slots__ = ("_root", "_prefix")

    def __init__(self, root: "CommonParams", prefix: str):
        object.__setattr__(self, "_root", root)
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        full = self._prefix + name
        if full in FIELDS:
            return self._root._get(full)
        if full in GROUPS:
            return _Group(self._root, full + ".")
        where = self._prefix[:-1] or "CommonParams"
        raise AttributeError(f"{where} has no field '{name}'{_suggest(full)}")

    def __setattr__(self, name: str, value: Any) -> None:
        full = self._prefix + name
        if full in FIELDS:
            self._root._set(full, value)
        elif full in GROUPS:
            if not isinstance(value, _Group):
                raise TypeError(f"{full}: expected a {full} group, got {type(value).__name__}")
            for key, val in value._items():
                self._root._set(full + "." + key, val)
        else:
            where = self._prefix[:-1] or "CommonParams"
            if full in EXCLUDED:
                raise AttributeError(f"{full} is not available from Python: {EXCLUDED[full]}")
            raise AttributeError(f"{where} has no field '{name}'{_suggest(full)}")

    def __dir__(self) -> list[str]:
        n = len(self._prefix)
        names = {k[n:].split(".", 1)[0] for k in list(FIELDS) + list(GROUPS) if k.startswith(self._prefix)}
        return sorted(names)

    def _items(self):
        n = len(self._prefix)
        for key in FIELDS:
            if key.startswith(self._prefix):
                yield key[n:], self._root._get(key)

    def to_dict(self) -> dict:
        """Every field of this struct, nested structs as dicts."""
        out: dict = {}
        for key, value in self._items():
            node = out
            *parents, leaf = key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Group):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        changed = [f"{k}={v!r}" for k, v in self._items() if self._root._is_set(self._prefix + k)]
        return f"<{self._prefix[:-1]}: {', '.join(changed) or 'defaults'}>"


class CommonParams(_Group):
    """llama.cpp's common_params, with the vendored llama.cpp's defaults.

    Every field of common_params and its nested structs is an attribute under
    its C name (``params.n_ctx``, ``params.sampling.temp``,
    ``params.model.path``); ``CommonParams.fields()`` lists them with types,
    defaults and help.
    """

    __slots__ = ("_values",)

    def __init__(self) -> None:
        super().__init__(self, "")
        object.__setattr__(self, "_values", {})

    # the field store: JSON values of the fields that were set
    def _get(self, name: str) -> Any:
        field = FIELDS[name]
        value = self._values.get(name, field["default"])
        return _from_json(field["type"], value)

    def _set(self, name: str, value: Any) -> None:
        field = FIELDS[name]
        json_value = _to_json(name, field["type"], value)
        if field.get("view"):
            # a view writes other fields (rpc_servers writes devices): apply it after all the
            # others, and take every field back
            others = {k: v for k, v in self._values.items() if k != name}
            full = _apply({**others, name: json_value})
            self._values.clear()
            self._values.update(CommonParams._from_full(full)._values)
            return
        # ranges, names and sizes are the facade's to judge; keep the value as C holds it
        # (a float is a C float, a fixed array has its full length)
        json_value = _apply({name: json_value})[name]
        if json_value == field["default"]:
            self._values.pop(name, None)
        else:
            self._values[name] = json_value

    def _is_set(self, name: str) -> bool:
        return name in self._values

    def _json(self) -> dict:
        """The fields that differ from llama.cpp's defaults, as the facade takes them."""
        return dict(self._values)

    @classmethod
    def fields(cls) -> dict[str, dict]:
        """Every field: name -> {type, default, help, flag}."""
        return copy.deepcopy(FIELDS)

    @classmethod
    def from_args(cls, args: Iterable[str]) -> "CommonParams":
        """Parses llama-server's command-line flags (``["-m", "model.gguf", "-c", "4096"]``)
        with llama.cpp's own parser. Bad flags raise ValueError with the parser's message."""
        args = list(args)
        if not all(isinstance(a, str) for a in args):
            raise TypeError("from_args takes a list of str")
        text = call_out(lib.xlc_params_from_args, b"{}", _json.dumps(args))
        return cls._from_full(_json.loads(text))

    @classmethod
    def from_dict(cls, values: dict) -> "CommonParams":
        """Builds params from a nested or dotted dict, as to_dict() returns."""
        params = cls()
        for name, value in _flatten(values).items():
            if name not in FIELDS:
                raise AttributeError(f"CommonParams has no field '{name}'{_suggest(name)}")
            params._set(name, _from_json(FIELDS[name]["type"], value) if FIELDS[name]["type"] == "lora" else value)
        return params

    @classmethod
    def _from_full(cls, values: dict) -> "CommonParams":
        params = cls()
        for name, value in values.items():
            if name in FIELDS and value != FIELDS[name]["default"]:
                params._values[name] = value
        return params

    def validate(self) -> "CommonParams":
        """Applies the params onto llama.cpp's common_params and back; raises ValueError if the facade refuses them."""
        return CommonParams._from_full(_apply(self._json()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CommonParams):
            return NotImplemented
        return self._values == other._values

    def __hash__(self):  # mutable
        raise TypeError("CommonParams is unhashable")

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={self._get(k)!r}" for k in sorted(self._values))
        return f"CommonParams({inner})"

    def __copy__(self) -> "CommonParams":
        return self.__deepcopy__({})

    def __deepcopy__(self, memo: dict) -> "CommonParams":
        new = CommonParams()
        object.__setattr__(new, "_values", copy.deepcopy(self._values, memo))
        return new

    def __getstate__(self) -> dict:
        return {"values": self._values}

    def __setstate__(self, state: dict) -> None:
        object.__setattr__(self, "_root", self)
        object.__setattr__(self, "_prefix", "")
        object.__setattr__(self, "_values", dict(state["values"]))

    def __reduce__(self):
        return (CommonParams, (), self.__getstate__())


def _flatten(values: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in values.items():
        name = prefix + key
        if isinstance(value, dict) and name in GROUPS:
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _apply(values: dict) -> dict:
    return _json.loads(call_out(lib.xlc_params_apply, _json.dumps(values)))


__all__ = ["CommonParams", "CommonAdapterLoraInfo", "ENUMS", "FIELDS"]
