"""CommonParams: llama.cpp's common_params, built from the facade's field table.

Nothing here names a field: names, types, defaults, help and enums all come
from xlc_params_schema(), so a field added to cshim's table appears here as is.
The older names upstream xllamacpp's users write are data in _aliases.py.
Nested structs are views (``params.sampling.temp = 0.2`` sets the parent), and
so are the objects of list fields (``params.lora_adapters[0].scale = 0.5``).
"""
from __future__ import annotations

import copy
import difflib
import enum
import operator
import os
import weakref
from typing import TYPE_CHECKING, AbstractSet, Any, Callable, Iterable, Iterator, List, Set, SupportsIndex, Union, cast

from . import _json
from ._aliases import COMPUTED, ENUM_ALIASES, LOAD_MODE_NAMES, RENAMED, SPELLINGS, STRUCT_CLASSES
from ._aliases import described as _described_aliases
from ._errors import InvalidArgumentError, InvalidTypeError, XlcError
from ._library import call_out, lib

if TYPE_CHECKING:
    from typing_extensions import Self  # annotations only: no dependency at run time


def _load_schema() -> dict[str, Any]:
    try:
        schema: dict[str, Any] = _json.loads(call_out(lib.xlc_params_schema))
        return schema
    except XlcError as e:
        raise ImportError(f"xlc_params_schema failed: {e}") from None


def _make_enum(name: str, members: dict[str, Any]) -> type[enum.IntEnum]:
    values = dict(members)
    for old, new in ENUM_ALIASES.get(name, {}).items():
        if new in members and old not in members:  # an older llama.cpp may still have the old name itself
            values[old] = members[new]  # a second name for the same value: an alias member
    return cast("type[enum.IntEnum]", enum.IntEnum(name, values, module=__name__))


_SCHEMA = _load_schema()
FIELDS: dict[str, dict[str, Any]] = {f["name"]: f for f in _SCHEMA["fields"]}
EXCLUDED: dict[str, str] = _SCHEMA["excluded"]
ENUMS: dict[str, type[enum.IntEnum]] = {name: _make_enum(name, m) for name, m in _SCHEMA["enums"].items()}
CONSTANTS: dict[str, int] = dict(_SCHEMA["constants"])
GROUPS: frozenset[str] = frozenset(
    name.rsplit(".", i)[0] for name in FIELDS for i in range(1, name.count(".") + 1)
)
ALIASES: dict[str, str] = _described_aliases()  # older name -> what it stands for

# the computed aliases name llama.cpp's values; make sure they still mean what they meant
assert "llama_load_mode" not in ENUMS or all(ENUMS["llama_load_mode"][n] == v for v, n in LOAD_MODE_NAMES.items())
assert ENUMS["llama_pooling_type"]["LLAMA_POOLING_TYPE_RANK"] == 4


# --- the objects inside fields ------------------------------------------------------


class _Element:
    """A struct held in a field (a LoRA adapter, a logit bias, the grammar).

    Standalone it holds its own values; read from a CommonParams it is a view of
    ``params.<field>[index]``, so setting an attribute changes the parameter. A
    view becomes standalone again, with the values it had, when the field is
    assigned anew.
    """

    __slots__ = ("_own", "_root", "_name", "_index", "__weakref__")
    _own: dict[str, Any]  # the values, standalone
    _root: "CommonParams | None"  # else the params it is a view of
    _name: str
    _index: "int | None"
    _KIND = ""  # the facade's type of the field (of one item, for a list)
    _ATTRS: dict[str, str] = {}  # attribute -> field type, in order

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = list(self._ATTRS)
        if len(args) > len(names):
            raise InvalidTypeError(f"{type(self).__name__} takes at most {len(names)} arguments")
        attrs = dict(self._defaults())
        for key, value in list(zip(names, args)) + list(kwargs.items()):
            if key not in self._ATTRS:
                raise InvalidTypeError(f"{type(self).__name__} has no attribute '{key}'")
            attrs[key] = self._check(key, value)
        object.__setattr__(self, "_own", attrs)
        object.__setattr__(self, "_root", None)
        object.__setattr__(self, "_name", "")
        object.__setattr__(self, "_index", None)

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def _check(cls, key: str, value: Any) -> Any:
        return _from_json(cls._ATTRS[key], _to_json(f"{cls.__name__}.{key}", cls._ATTRS[key], value))

    @classmethod
    def _attrs_of(cls, item: Any) -> dict[str, Any]:  # the facade's JSON of one item -> attributes
        return {k: _from_json(cls._ATTRS[k], item[k]) for k in cls._ATTRS}

    def _item(self) -> Any:  # attributes -> the facade's JSON of one item
        return {k: _to_json(k, kind, v) for (k, kind), v in zip(self._ATTRS.items(), self._values().values())}

    @classmethod
    def _view(cls, root: "CommonParams", name: str, index: int | None) -> "_Element":
        el = cls.__new__(cls)
        object.__setattr__(el, "_own", None)
        object.__setattr__(el, "_root", root)
        object.__setattr__(el, "_name", name)
        object.__setattr__(el, "_index", index)
        root._watch(name, el)
        return el

    def _bind(self, root: "CommonParams", name: str, index: int | None) -> None:
        object.__setattr__(self, "_own", None)
        object.__setattr__(self, "_root", root)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_index", index)
        root._watch(name, self)

    def _detach(self) -> None:
        values = self._values()
        object.__setattr__(self, "_own", values)
        object.__setattr__(self, "_root", None)

    def _values(self) -> dict[str, Any]:
        if self._root is None:
            return self._own
        return self._attrs_of(self._root._item(self._name, self._index))

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_") or key not in self._ATTRS:
            raise AttributeError(f"{type(self).__name__} has no attribute '{key}'")
        return self._values()[key]

    def __setattr__(self, key: str, value: Any) -> None:
        if key not in self._ATTRS:
            raise AttributeError(f"{type(self).__name__} has no attribute '{key}'")
        value = self._check(key, value)
        if self._root is None:
            self._own[key] = value
            return
        values = dict(self._values())
        values[key] = value
        standalone = type(self).__new__(type(self))
        object.__setattr__(standalone, "_own", values)
        object.__setattr__(standalone, "_root", None)
        self._root._set_item(self._name, self._index, standalone._item())

    def __dir__(self) -> list[str]:
        return sorted(set(object.__dir__(self)) | set(self._ATTRS))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, type(self)):
            return self._values() == other._values()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values().items())
        return f"{type(self).__name__}({inner})"

    def __copy__(self) -> Self:
        return type(self)(**self._values())

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return type(self)(**copy.deepcopy(self._values(), memo))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), tuple(self._values().values()))


class CommonAdapterLoraInfo(_Element):
    """A LoRA adapter: its GGUF path and the scale it is applied with."""

    __slots__ = ()
    _KIND = "lora"
    _ATTRS = {"path": "str", "scale": "float", "task_name": "str", "prompt_prefix": "str"}

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        return {"path": "", "scale": 1.0, "task_name": "", "prompt_prefix": ""}

    def __repr__(self) -> str:
        v = self._values()
        return f"CommonAdapterLoraInfo(path={v['path']!r}, scale={v['scale']!r})"


class LlamaLogitBias(_Element):
    """A logit bias: ``token`` and the ``bias`` added to its logit. Unpacks and compares as ``(token, bias)``."""

    __slots__ = ()
    _KIND = "logit_bias"
    _ATTRS = {"token": "int", "bias": "float"}

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        return {"token": 0, "bias": 0.0}

    @classmethod
    def _attrs_of(cls, item: Any) -> dict[str, Any]:
        return {"token": item[0], "bias": item[1]}

    def _item(self) -> Any:
        v = self._values()
        return [v["token"], v["bias"]]

    def _pair(self) -> tuple[int, float]:
        v = self._values()
        return (int(v["token"]), float(v["bias"]))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (tuple, list)):
            return self._pair() == tuple(cast("Iterable[Any]", other))
        return super().__eq__(other)

    def __iter__(self) -> Iterator[Union[int, float]]:
        return iter(self._pair())

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> Union[int, float]:
        return self._pair()[i]


class CommonGrammar(_Element):
    """A grammar constraint: its ``type`` (common_grammar_type) and ``grammar`` text. Compares equal to its text."""

    __slots__ = ()
    _KIND = "grammar"
    _ATTRS = {"type": "enum:common_grammar_type", "grammar": "str"}

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        return {"type": ENUMS["common_grammar_type"](0), "grammar": ""}

    def empty(self) -> bool:
        """True when no grammar is set."""
        v = self._values()
        return int(v["type"]) == 0 or v["grammar"] == ""

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return bool(self._values()["grammar"] == other)
        return super().__eq__(other)

    def __repr__(self) -> str:
        v = self._values()
        return f"CommonGrammar(type={v['type']}, grammar={v['grammar']!r})"


_ELEMENTS: dict[str, type[_Element]] = {c._KIND: c for c in (CommonAdapterLoraInfo, LlamaLogitBias, CommonGrammar)}


class FieldList(List[Any]):  # items typed per field in _params.pyi
    """A list field read from a CommonParams (``params.tensor_split``), live.

    A list, as upstream xllamacpp returns, whose changes reach the parameters:
    item and slice assignment, ``del``, ``append``, ``extend``, ``insert``,
    ``pop``, ``remove``, ``clear``, ``sort``, ``reverse``, ``+=`` and ``*=``
    each write the whole list back through the field's setter, so the facade
    checks it as it checks an assignment. A change applies to the field's value
    of the moment (another read's changes stay), and the list shows the value as
    stored after it (a float as a C float). A bad item raises InvalidTypeError
    or InvalidArgumentError naming the field and the index, and changes nothing.
    Assigning the field anew (``params.tensor_split = [...]``) leaves lists read
    before on their own, with the items they had. Copies and slices are plain lists.
    """

    __slots__ = ("_root", "_name", "__weakref__")
    _root: "CommonParams | None"
    _name: str

    @classmethod
    def _view(cls, root: "CommonParams", name: str, items: list[Any]) -> "FieldList":
        view = cls(items)
        view._root = root
        view._name = name
        root._watch(name, view)
        return view

    def _detach(self) -> None:
        self._root = None

    # --- the field's value of the moment, and writing it back ---------------------------

    def _base(self) -> list[Any]:
        """The items a change starts from: this list's own while it matches the field (element
        views stay the same objects), else the field's value now."""
        root = self._root
        assert root is not None
        raw = root._item(self._name, None)
        if len(raw) == super().__len__() and _element_kind(FIELDS[self._name]["type"]) is not None:
            return list(super().__iter__())
        return list(root._get(self._name, register=False))

    def _check_items(self, first: int, items: Iterable[Any]) -> list[Any]:
        """Each new item checked against the field's item type, named by its index."""
        kind = _item_kind(FIELDS[self._name]["type"])
        out = list(items)
        for i, value in enumerate(out, first):
            _to_json(f"{self._name}[{i}]", kind, value)
        return out

    def _commit(self, items: list[Any], where: str) -> None:
        root = self._root
        assert root is not None
        try:
            root._set(self._name, items, keep_lists=True)
        except XlcError as e:
            text = str(e)
            name = f"{self._name}{where}"
            raise type(e).make(text if text.startswith(name) else f"{name}: {text}", status=e.status) from None
        if _element_kind(FIELDS[self._name]["type"]) is not None:
            super().__setitem__(slice(None), items)  # the objects given, now views of their items
        else:
            super().__setitem__(slice(None), root._get(self._name, register=False))

    # --- list's changing methods ------------------------------------------------------------

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            values = list(value)
            start = index.indices(super().__len__())[0]

            def set_slice(items: list[Any], checked: list[Any]) -> None:
                items[index] = checked
            self._change_with(f"[{start}:]", set_slice, values, start)
            return
        n = super().__len__()
        i = operator.index(index)
        if not -n <= i < n:
            raise IndexError(f"{self._name or 'list'} index {i} out of range (length {n})")
        i %= n

        def set_one(items: list[Any], checked: list[Any]) -> None:
            items[i] = checked[0]
        self._change_with(f"[{i}]", set_one, [value], i)

    def __delitem__(self, index: "SupportsIndex | slice") -> None:
        def delete(items: list[Any], _: list[Any]) -> None:
            del items[index]
        self._change_with("" if isinstance(index, slice) else f"[{index}]", delete)

    def append(self, value: Any) -> None:
        n = super().__len__()
        self._change_with(f"[{n}]", lambda items, checked: items.extend(checked), [value], n)

    def extend(self, values: Iterable[Any]) -> None:
        n = super().__len__()
        self._change_with(f"[{n}:]", lambda items, checked: items.extend(checked), list(values), n)

    def insert(self, index: Any, value: Any) -> None:
        n = super().__len__()
        i = operator.index(index)
        i = max(0, min(n, i + n if i < 0 else i))  # where list.insert puts it
        self._change_with(f"[{i}]", lambda items, checked: items.insert(i, checked[0]), [value], i)

    def pop(self, index: Any = -1) -> Any:
        return self._change_with(f"[{index}]", lambda items, _: items.pop(index))

    def remove(self, value: Any) -> None:
        self._change_with("", lambda items, _: items.remove(value))

    def clear(self) -> None:
        self._change_with("", lambda items, _: items.clear())

    def sort(self, *, key: Any = None, reverse: bool = False) -> None:
        self._change_with("", lambda items, _: items.sort(key=key, reverse=reverse))

    def reverse(self) -> None:
        self._change_with("", lambda items, _: items.reverse())

    def __iadd__(self, values: Iterable[Any]) -> Self:  # type: ignore[misc]  # list[Any] in, as list takes
        self.extend(values)
        return self

    def __imul__(self, n: Any) -> Self:  # type: ignore[misc]
        self._change_with("", lambda items, _: items.__imul__(n))
        return self

    def _change_with(self, where: str, edit: Callable[[list[Any], list[Any]], Any], new: Iterable[Any] = (),
                     first: int = 0) -> Any:
        """Applies edit(items, checked new items) to the field's items and writes them back."""
        if self._root is None:  # on its own: a plain list
            items = list(super().__iter__())
            result = edit(items, list(new))
            super().__setitem__(slice(None), items)
            return result
        checked = self._check_items(first, new)
        items = self._base()
        result = edit(items, checked)
        self._commit(items, where)
        return result

    def __reduce__(self) -> Any:  # copies and pickles are plain lists
        return (list, (list(super().__iter__()),))

    def __copy__(self) -> list[Any]:
        return list(super().__iter__())

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return copy.deepcopy(list(super().__iter__()), memo)


class FieldSet(Set[Any]):  # items typed per field in _params.pyi
    """A set field read from a CommonParams (``params.model_alias``), live as FieldList is: ``add``,
    ``discard``, ``remove``, ``pop``, ``clear``, ``update`` and the in-place operators write the
    whole set back through the field's setter; a bad item raises naming the field and changes nothing."""

    __slots__ = ("_root", "_name")  # a set takes weak references already
    _root: "CommonParams | None"
    _name: str

    @classmethod
    def _view(cls, root: "CommonParams", name: str, items: set[Any]) -> "FieldSet":
        view = cls(items)
        view._root = root
        view._name = name
        root._watch(name, view)
        return view

    def _detach(self) -> None:
        self._root = None

    def _change(self, edit: Callable[[set[Any]], Any]) -> Any:
        root = self._root
        if root is None:  # on its own: a plain set
            items = set(super().__iter__())
        else:
            items = set(root._get(self._name, register=False))
        result = edit(items)
        if root is not None:
            root._set(self._name, items, keep_lists=True)
            items = root._get(self._name, register=False)
        super().clear()
        super().update(items)
        return result

    def add(self, value: Any) -> None:
        self._change(lambda items: items.add(value))

    def discard(self, value: Any) -> None:
        self._change(lambda items: items.discard(value))

    def remove(self, value: Any) -> None:
        self._change(lambda items: items.remove(value))

    def pop(self) -> Any:
        return self._change(lambda items: items.pop())

    def clear(self) -> None:
        self._change(lambda items: items.clear())

    def update(self, *others: Iterable[Any]) -> None:
        self._change(lambda items: items.update(*others))

    def difference_update(self, *others: Iterable[Any]) -> None:
        self._change(lambda items: items.difference_update(*others))

    def intersection_update(self, *others: Iterable[Any]) -> None:
        self._change(lambda items: items.intersection_update(*others))

    def symmetric_difference_update(self, other: Iterable[Any]) -> None:
        self._change(lambda items: items.symmetric_difference_update(other))

    def __ior__(self, other: AbstractSet[Any]) -> Self:  # type: ignore[misc]
        self.update(other)
        return self

    def __iand__(self, other: AbstractSet[Any]) -> Self:  # type: ignore[misc]
        self.intersection_update(other)
        return self

    def __isub__(self, other: AbstractSet[Any]) -> Self:  # type: ignore[misc]
        self.difference_update(other)
        return self

    def __ixor__(self, other: AbstractSet[Any]) -> Self:  # type: ignore[misc]
        self.symmetric_difference_update(other)
        return self

    def __reduce__(self) -> Any:  # copies and pickles are plain sets
        return (set, (set(super().__iter__()),))

    def __copy__(self) -> set[Any]:
        return set(super().__iter__())

    def __deepcopy__(self, memo: dict[int, Any]) -> set[Any]:
        return copy.deepcopy(set(super().__iter__()), memo)


def _item_kind(field_type: str) -> str:
    """The facade's type of one item of a list field."""
    return field_type[field_type.index("[") + 1:-1]


def _is_list(field_type: str) -> bool:
    """Whether a field reads as a list (sampling.samplers reads as its ';' text, as upstream's does)."""
    return field_type.startswith("list[")


# --- conversion between Python values and the facade's JSON --------------------


_FLOAT_MAX = 3.4028234663852886e38  # FLT_MAX: the facade's float fields are C floats


def _type_error(name: str, want: str, value: Any) -> InvalidTypeError:
    return InvalidTypeError(f"{name}: expected {want}, got {type(value).__name__} {value!r}")


def _to_json(name: str, kind: str, value: Any) -> Any:
    """Checks a Python value against a field type and returns its JSON form."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) or (hasattr(value, "__index__") and not isinstance(value, float)):
            return bool(value.__index__())  # 0/1 and other ints, as upstream's bint fields take them
        raise _type_error(name, "bool", value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(name, "int", value)
        return int(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(name, "float", value)
        if not -_FLOAT_MAX <= value <= _FLOAT_MAX:  # JSON has no infinity, a C float no room for more
            raise InvalidArgumentError(f"{name}: {value!r} does not fit in a C float")
        return float(value)
    if kind in ("str", "device"):
        if isinstance(value, os.PathLike):
            value = os.fspath(cast("os.PathLike[str]", value))
        if not isinstance(value, str):
            raise _type_error(name, "str", value)
        return value
    if kind.startswith("enum:"):
        enum_type = ENUMS[kind[5:]]
        if isinstance(value, str):
            try:
                return int(enum_type[value])
            except KeyError:
                raise InvalidArgumentError(f"{name}: {value!r} is not a member of {enum_type.__name__}") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(name, enum_type.__name__, value)
        try:
            return int(enum_type(value))
        except ValueError:
            raise InvalidArgumentError(f"{name}: {value!r} is not a value of {enum_type.__name__}") from None
    if kind == "list[device]" and isinstance(value, str):  # upstream's form: "CUDA0,CUDA1"
        value = [d.strip() for d in value.split(",") if d.strip()]
    if kind.startswith(("list[", "set[")):
        inner = kind[kind.index("[") + 1:-1]
        if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
            raise _type_error(name, "a list" if kind.startswith("list") else "a set", value)
        items = [_to_json(name, inner, v) for v in cast("Iterable[Any]", value)]
        return sorted(set(items)) if kind.startswith("set[") else items
    if kind == "samplers":  # "top_k;temperature", or a list of common_sampler_type
        if isinstance(value, str):
            return value
        return _to_json(name, "list[enum:common_sampler_type]", value)
    if kind == "dict[str,str]":
        mapping: "dict[Any, Any] | None" = cast(Any, value) if isinstance(value, dict) else None
        if mapping is None or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
            raise _type_error(name, "dict[str, str]", value)
        return dict(mapping)
    if kind in _ELEMENTS:
        return _element(name, _ELEMENTS[kind], value)._item()
    if not isinstance(value, dict):  # grammar_trigger, control_vector
        raise _type_error(name, "a dict", value)
    return dict(cast("dict[str, Any]", value))


def _element(name: str, cls: type[_Element], value: Any) -> _Element:
    """value as a cls: itself, or the forms it stands for (a tuple of its attributes, a dict, a grammar's text)."""
    if isinstance(value, cls):
        return value
    if cls is CommonGrammar and isinstance(value, str):
        return CommonGrammar(1 if value else 0, value)  # a user grammar, as llama-server's --grammar
    try:
        if isinstance(value, dict):
            return cls(**value)
        if isinstance(value, (tuple, list)) and 1 <= len(cast("tuple[Any, ...]", value)) <= len(cls._ATTRS):
            return cls(*value)
    except TypeError as e:
        raise InvalidTypeError(f"{name}: {e}") from None
    raise _type_error(name, cls.__name__, value)


def _from_json(kind: str, value: Any) -> Any:
    """The Python view of a JSON field value (enums as IntEnum, structs as standalone objects)."""
    if kind.startswith("enum:"):
        try:
            return ENUMS[kind[5:]](value)
        except ValueError:
            return value
    if kind.startswith("list["):
        inner = kind[5:-1]
        return [_from_json(inner, v) for v in value]
    if kind.startswith("set["):
        return {_from_json(kind[4:-1], v) for v in value}
    if kind in _ELEMENTS:
        cls = _ELEMENTS[kind]
        el = cls.__new__(cls)
        object.__setattr__(el, "_own", cls._attrs_of(value))
        object.__setattr__(el, "_root", None)
        return el
    return copy.deepcopy(cast(Any, value)) if isinstance(value, (list, dict)) else value


def _element_kind(field_type: str) -> tuple[str, bool] | None:
    """(element kind, is a list) for fields that hold _Element objects."""
    if field_type in _ELEMENTS:
        return field_type, False
    if field_type.startswith("list[") and field_type[5:-1] in _ELEMENTS:
        return field_type[5:-1], True
    return None


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, list(FIELDS) + list(GROUPS) + list(ALIASES), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _no_field(where: str, full: str) -> AttributeError:
    """The error for a name that is no field here: the table is this build's llama.cpp's common_params,
    so a field of another llama.cpp (newer or older) is simply absent; the message names the commit."""
    commit = _json.loads(call_out(lib.xlc_build_info)).get("commit") or "unknown commit"
    return AttributeError(f"{where} has no field '{full.rsplit('.', 1)[-1]}': this build's llama.cpp "
                          f"({commit}) has no field '{full}'{_suggest(full)}")


def _resolve(full: str) -> str:
    """Today's dotted name for an older one; an alias of a struct carries the rest of the path along."""
    if full in FIELDS or full in GROUPS:
        return full
    parts = full.split(".")
    for i in range(len(parts), 0, -1):
        target = RENAMED.get(".".join(parts[:i]))
        if isinstance(target, str):
            return _resolve(".".join([target] + parts[i:]))
    return full


# --- the views ---------------------------------------------------------------------


class _Group:
    """A view of one nested struct of a CommonParams (``params.sampling``)."""

    __slots__ = ("_root", "_prefix")
    _root: "CommonParams"
    _prefix: str  # the struct's dotted name and a dot ("sampling."); "" for CommonParams itself

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise InvalidTypeError(f"Can't construct an instance of {type(self).__name__}: it is a view of a struct "
                        "inside CommonParams (e.g. CommonParams().sampling)")

    @classmethod
    def _view(cls, root: "CommonParams", prefix: str) -> "_Group":
        view = object.__new__(cls)
        object.__setattr__(view, "_root", root)
        object.__setattr__(view, "_prefix", prefix)
        return view

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._root._get_path(self._prefix + name, self._prefix[:-1] or "CommonParams")

    def __setattr__(self, name: str, value: Any) -> None:
        self._root._set_path(self._prefix + name, value, self._prefix[:-1] or "CommonParams")

    def __dir__(self) -> list[str]:
        n = len(self._prefix)
        names = {k[n:].split(".", 1)[0] for k in list(FIELDS) + list(GROUPS) if k.startswith(self._prefix)}
        return sorted(names)

    def _items(self) -> Iterator[tuple[str, Any]]:
        n = len(self._prefix)
        for key in FIELDS:
            if key.startswith(self._prefix):
                yield key[n:], self._root._get(key)

    def to_dict(self) -> dict[str, Any]:
        """Every field of this struct, nested structs as dicts."""
        out: dict[str, Any] = {}
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
        return f"<{type(self).__name__} {self._prefix[:-1]}: {', '.join(changed) or 'defaults'}>"


# upstream xllamacpp's class names for the nested structs
STRUCTS: dict[str, type[_Group]] = {
    cls_name: type(cls_name, (_Group,), {"__slots__": (), "__doc__": f"A view of a {cls_name} struct inside CommonParams."})
    for cls_name in sorted(set(STRUCT_CLASSES.values()))
}


def _struct(root: "CommonParams", name: str) -> _Group:
    cls = STRUCTS.get(STRUCT_CLASSES.get(name, ""), _Group)
    return cls._view(root, name + ".")


class CommonParams(_Group):
    """llama.cpp's common_params, with the vendored llama.cpp's defaults.

    Every field of common_params and its nested structs is an attribute under
    its C name (``params.n_ctx``, ``params.sampling.temp``,
    ``params.model.path``); ``CommonParams.fields()`` lists them with types,
    defaults and help. The older names upstream xllamacpp used
    (``params.speculative.n_max``, ``params.use_mmap``) work too:
    ``CommonParams.aliases()`` lists them.
    """

    __slots__ = ("_values", "_views")
    _values: dict[str, Any]  # the JSON values of the fields set, as the facade holds them
    _views: dict[str, list[weakref.ref[Any]]]  # the views read, by field

    def __init__(self) -> None:
        object.__setattr__(self, "_root", self)
        object.__setattr__(self, "_prefix", "")
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_views", {})

    # --- dotted paths, aliases resolved -------------------------------------------

    def _get_path(self, full: str, where: str = "CommonParams") -> Any:
        if full in COMPUTED and full not in FIELDS:  # an older llama.cpp's own field wins over the alias
            return COMPUTED[full][1](self._get, self._set)
        if full in SPELLINGS:
            return SPELLINGS[full](self._get, self._set)
        target = RENAMED.get(full)
        if isinstance(target, tuple):
            return self._get(target[0])
        real = _resolve(full)
        if real in FIELDS:
            return self._get(real)
        if real in GROUPS:
            return _struct(self, real)
        raise _no_field(where, full)

    def _set_path(self, full: str, value: Any, where: str = "CommonParams") -> None:
        if full in COMPUTED and full not in FIELDS:
            COMPUTED[full][1](self._get, self._set, value, True)
            return
        if full in SPELLINGS:
            SPELLINGS[full](self._get, self._set, value, True)
            return
        target = RENAMED.get(full)
        if isinstance(target, tuple):
            for name in target:
                self._set(name, value)
            return
        real = _resolve(full)
        if real in FIELDS:
            self._set(real, value)
        elif real in GROUPS:
            if not isinstance(value, _Group):
                raise InvalidTypeError(f"{full}: expected a {real} struct, got {type(value).__name__}")
            for key, val in value._items():
                self._set(real + "." + key, val)
        elif real in EXCLUDED:
            raise AttributeError(f"{real} is not available from Python: {EXCLUDED[real]}")
        else:
            raise _no_field(where, full)

    # --- the field store: JSON values of the fields that were set -------------------

    def _get(self, name: str, register: bool = True) -> Any:
        """A field's value as Python reads it; a list field as a FieldList of it (register: False, a plain list)."""
        field = FIELDS[name]
        value = self._values.get(name, field["default"])
        element = _element_kind(field["type"])
        if element is None:
            python = _from_json(field["type"], value)
            if register and _is_list(field["type"]):
                return FieldList._view(self, name, python)
            if register and field["type"].startswith("set["):
                return FieldSet._view(self, name, python)
            return python
        cls = _ELEMENTS[element[0]]
        if element[1]:
            items = [cls._view(self, name, i) for i in range(len(value))]
            return FieldList._view(self, name, items) if register else items
        return cls._view(self, name, None)

    def _set(self, name: str, value: Any, keep_lists: bool = False) -> None:
        """Checks and stores a field's new value; views of the field read before stand alone
        (keep_lists: but the FieldLists, which a FieldList's own change keeps live)."""
        field = FIELDS[name]
        json_value = _to_json(name, field["type"], value)
        stored = self._checked(name, json_value)  # the facade's judgement first: a refusal changes nothing
        self._unwatch(name, keep_lists)
        self._commit(stored)
        element = _element_kind(field["type"])
        if element is not None and element[1] and isinstance(value, (list, tuple)):
            # the objects given become views of the field, as in upstream xllamacpp
            for i, item in enumerate(cast("Iterable[Any]", value)):
                if isinstance(item, _ELEMENTS[element[0]]):
                    item._bind(self, name, i)

    def _store(self, name: str, json_value: Any) -> None:
        self._commit(self._checked(name, json_value))

    def _checked(self, name: str, json_value: Any) -> tuple[bool, dict[str, Any]]:
        """(replace every field, the values to store) for a field's JSON value, as the facade holds it."""
        field = FIELDS[name]
        if field.get("view"):
            # a view writes other fields (rpc_servers writes devices): apply it after all the
            # others, and take every field back
            others = {k: v for k, v in self._values.items() if k != name}
            full = _apply({**others, name: json_value})
            return True, CommonParams._from_full(full)._values
        # ranges, names and sizes are the facade's to judge; keep the value as C holds it
        # (a float is a C float, a fixed array has its full length)
        return False, {name: _apply({name: json_value})[name]}

    def _commit(self, stored: tuple[bool, dict[str, Any]]) -> None:
        replace, values = stored
        if replace:
            self._values.clear()
            self._values.update(values)
            return
        for name, json_value in values.items():
            if json_value == FIELDS[name]["default"]:
                self._values.pop(name, None)
            else:
                self._values[name] = json_value

    def _item(self, name: str, index: int | None) -> Any:
        value = self._values.get(name, FIELDS[name]["default"])
        return value if index is None else value[index]

    def _set_item(self, name: str, index: int | None, item: Any) -> None:
        if index is None:
            self._store(name, item)
            return
        value = list(self._values.get(name, FIELDS[name]["default"]))
        value[index] = item
        self._store(name, value)

    def _watch(self, name: str, view: "_Element | FieldList | FieldSet") -> None:
        refs = self._views.setdefault(name, [])
        refs[:] = [r for r in refs if r() is not None]
        refs.append(weakref.ref(view))

    def _unwatch(self, name: str, keep_lists: bool = False) -> None:
        """Views of a field being assigned keep the values they had, standalone."""
        kept: list[weakref.ref[Any]] = []
        for ref in self._views.pop(name, []):
            view = ref()
            if view is None or view._root is not self:
                continue
            if isinstance(view, (FieldList, FieldSet)):
                if keep_lists:
                    kept.append(ref)
                else:
                    view._detach()
            elif view._name == name:
                view._detach()
        if kept:
            self._views[name] = kept

    def _resolved(self, full: dict[str, Any], names: Iterable[str]) -> None:
        """Takes the values a server resolved (its full parameters, as the facade gives them) for the
        fields named that were not set here; fields that were set keep their values."""
        for name in names:
            if name not in self._values and full[name] != FIELDS[name]["default"]:
                self._values[name] = full[name]

    def _is_set(self, name: str) -> bool:
        return name in self._values

    def _json(self) -> dict[str, Any]:
        """The fields that differ from llama.cpp's defaults, as the facade takes them."""
        return dict(self._values)

    @classmethod
    def fields(cls) -> dict[str, dict[str, Any]]:
        """Every field: name -> {type, default, help, flag}."""
        return copy.deepcopy(FIELDS)

    @classmethod
    def aliases(cls) -> dict[str, str]:
        """Every older name that still works -> what it stands for."""
        return dict(ALIASES)

    @classmethod
    def from_args(cls, args: Iterable[str]) -> "CommonParams":
        """Parses llama-server's command-line flags (``["-m", "model.gguf", "-c", "4096"]``)
        with llama.cpp's own parser. Bad flags raise ValueError with the parser's message."""
        args = list(args)
        if not all(isinstance(a, str) for a in args):
            raise InvalidTypeError("from_args takes a list of str")
        text = call_out(lib.xlc_params_from_args, b"{}", _json.dumps(args))
        return cls._from_full(_json.loads(text))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "CommonParams":
        """Builds params from a nested or dotted dict, as to_dict() returns (older names work too)."""
        params = cls()
        for name, value in _flatten(values).items():
            real = _resolve(name)
            if real in FIELDS and _element_kind(FIELDS[real]["type"]) and not isinstance(value, str):
                value = _from_json(FIELDS[real]["type"], _to_json(real, FIELDS[real]["type"], value))
            params._set_path(name, value)
        return params

    @classmethod
    def _from_full(cls, values: dict[str, Any]) -> "CommonParams":
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

    def __hash__(self) -> int:  # mutable
        raise InvalidTypeError("CommonParams is unhashable")

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={self._get(k)!r}" for k in sorted(self._values))
        return f"CommonParams({inner})"

    def __copy__(self) -> "CommonParams":
        return self.__deepcopy__({})

    def __deepcopy__(self, memo: dict[int, Any]) -> "CommonParams":
        new = CommonParams()
        object.__setattr__(new, "_values", copy.deepcopy(self._values, memo))
        return new

    def __getstate__(self) -> dict[str, Any]:
        return {"values": self._values}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "_root", self)
        object.__setattr__(self, "_prefix", "")
        object.__setattr__(self, "_values", dict(state["values"]))
        object.__setattr__(self, "_views", {})

    def __reduce__(self) -> tuple[Any, ...]:
        return (CommonParams, (), self.__getstate__())


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = prefix + key
        if isinstance(value, dict) and _resolve(name) in GROUPS:
            out.update(_flatten(cast("dict[str, Any]", value), name + "."))
        else:
            out[name] = value
    return out


def _apply(values: dict[str, Any]) -> dict[str, Any]:
    full: dict[str, Any] = _json.loads(call_out(lib.xlc_params_apply, _json.dumps(values)))
    return full


__all__ = ["CommonParams", "CommonAdapterLoraInfo", "CommonGrammar", "LlamaLogitBias", "ENUMS", "CONSTANTS",
           "FIELDS", "STRUCTS", "ALIASES"]
