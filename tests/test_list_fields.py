"""List fields are live: a change made in place reaches the parameters a Server is given.

Platforms built on upstream xllamacpp write list items in place (``params.tensor_split[i] = share``
applies estimate_gpu_layers' split); each list field read from a CommonParams is a FieldList whose
changes go through the field's setter. The fields are found from the facade's table, not by hand,
and each write is read back through the facade's JSON, which is what Server() takes.
"""
from __future__ import annotations

import copy
import pickle
from typing import Any, Callable, Dict, List

import pytest

import xllamacpp as xlc
from xllamacpp import _params
from xllamacpp._errors import InvalidArgumentError, InvalidTypeError


def _list_fields() -> List[str]:
    return [name for name, field in _params.FIELDS.items() if _params._is_list(field["type"])]


def _read(params: Any, name: str) -> Any:
    value = params
    for part in name.split("."):
        value = getattr(value, part)
    return value


def _facade(params: xlc.CommonParams, name: str) -> Any:
    """The field as llama.cpp's common_params holds it, once the facade applied the params."""
    return _params._apply(params._json())[name]


def _enum_sample(kind: str) -> Any:
    members = list(_params.ENUMS[kind[len("enum:"):]])
    return next(m for m in reversed(members) if not m.name.endswith("_COUNT"))


# one item each kind of list holds, other than the default's first item
SAMPLES: Dict[str, Callable[[str], Any]] = {
    "str": lambda kind: "xllamacpp-walk",
    "int": lambda kind: 3,
    "float": lambda kind: 0.25,
    "bool": lambda kind: True,
    "device": lambda kind: "CPU",
    "list[int]": lambda kind: [1, 2],
    "lora": lambda kind: xlc.CommonAdapterLoraInfo("walk.gguf", 0.5),
    "logit_bias": lambda kind: xlc.LlamaLogitBias(7, 1.5),
    "grammar_trigger": lambda kind: {"type": 1, "value": "<tool_call>", "token": -1},
    "control_vector": lambda kind: {"fname": "walk.gguf", "strength": 0.5},
}
# items whose text llama.cpp parses (what its flag takes)
TEXT_SAMPLES = {"kv_overrides": "walk.key=int:1"}


def _sample(name: str) -> Any:
    kind = _params._item_kind(_params.FIELDS[name]["type"])
    if name in TEXT_SAMPLES:
        return TEXT_SAMPLES[name]
    if kind.startswith("enum:"):
        return _enum_sample(kind)
    if kind not in SAMPLES:
        pytest.fail(f"{name}: no sample item of kind {kind!r} in SAMPLES; add one")
    return SAMPLES[kind](kind)


WALKED = _list_fields()


def test_the_table_has_the_list_fields_the_issue_names():
    names = set(WALKED)
    assert {"tensor_split", "devices", "lora_adapters", "sampling.logit_bias", "sampling.dry_sequence_breakers",
            "antiprompt", "api_keys", "kv_overrides", "speculative.types"} <= names
    assert len(WALKED) >= 25, WALKED
    # the samplers and the RPC servers are text in llama.cpp's flag form (";"- and ","-separated), as upstream
    # reads them: immutable, so that no change made to them is lost
    assert isinstance(xlc.CommonParams().sampling.samplers, str) and isinstance(xlc.CommonParams().rpc_servers, str)


@pytest.mark.parametrize("name", WALKED)
def test_every_list_field_takes_an_item_written_in_place(name):
    p = xlc.CommonParams()
    items = _read(p, name)
    assert isinstance(items, list) and isinstance(items, _params.FieldList), type(items)
    value = _sample(name)
    kind = _params._item_kind(_params.FIELDS[name]["type"])
    if len(items):
        items[0] = value
    else:
        items.append(value)
    expected = _params._to_json(name, kind, value)
    assert _facade(p, name)[0] == pytest.approx(expected) if kind == "float" else _facade(p, name)[0] == expected
    assert _params._to_json(name, kind, _read(p, name)[0]) == expected  # and reads back
    assert _params._to_json(name, kind, items[0]) == expected  # the list written to shows it too


def test_item_and_slice_assignment_reach_the_params():
    p = xlc.CommonParams()
    p.tensor_split[1] = 0.5  # as a platform applies estimate_gpu_layers' split
    p.tensor_split[2:4] = [0.25, 0.125]
    p.tensor_split[-1] = 1.0
    split = _facade(p, "tensor_split")
    assert split[:5] == [0.0, 0.5, 0.25, 0.125, 0.0] and split[-1] == 1.0 and len(split) == 128
    assert p.tensor_split[1] == 0.5


def test_append_extend_insert_and_the_rest():
    p = xlc.CommonParams()
    p.antiprompt.append("User:")
    p.antiprompt.extend(["###", "Q:"])
    p.antiprompt.insert(0, "first")
    assert _facade(p, "antiprompt") == ["first", "User:", "###", "Q:"]
    assert p.antiprompt.pop() == "Q:"
    p.antiprompt.remove("###")
    p.antiprompt += ["A:"]
    p.antiprompt.reverse()
    assert _facade(p, "antiprompt") == ["A:", "User:", "first"]
    p.antiprompt.sort()
    assert _facade(p, "antiprompt") == ["A:", "User:", "first"]
    del p.antiprompt[0]
    assert _facade(p, "antiprompt") == ["User:", "first"]
    p.antiprompt.clear()
    assert _facade(p, "antiprompt") == [] and p.antiprompt == []


def test_a_list_read_earlier_writes_onto_the_current_value():
    p = xlc.CommonParams()
    first = p.api_keys
    p.api_keys.append("key-a")  # through another read
    first.append("key-b")  # starts from the field's value now, not from what `first` held
    assert _facade(p, "api_keys") == ["key-a", "key-b"] and first == ["key-a", "key-b"]


def test_assigning_the_field_leaves_earlier_lists_on_their_own():
    p = xlc.CommonParams()
    old = p.antiprompt
    p.antiprompt = ["new"]
    old.append("lost")  # a plain list now
    assert old == ["lost"] and _facade(p, "antiprompt") == ["new"]


def test_element_lists_append_and_nested_objects_stay_live():
    p = xlc.CommonParams()
    p.lora_adapters.append(xlc.CommonAdapterLoraInfo("a.gguf", 1.0))
    p.lora_adapters.extend([xlc.CommonAdapterLoraInfo("b.gguf", 0.5)])
    first = p.lora_adapters[0]
    first.scale = 0.75  # an element object changed in place
    assert [(a["path"], a["scale"]) for a in _facade(p, "lora_adapters")] == [("a.gguf", 0.75), ("b.gguf", 0.5)]
    adapters = p.lora_adapters
    adapters.insert(0, xlc.CommonAdapterLoraInfo("z.gguf", 2.0))
    adapters[1].scale = 0.25  # the same object, now the second item
    assert [(a["path"], a["scale"]) for a in _facade(p, "lora_adapters")] == [
        ("z.gguf", 2.0), ("a.gguf", 0.25), ("b.gguf", 0.5)]
    p.sampling.logit_bias.append(xlc.LlamaLogitBias(5, -1.0))
    p.sampling.logit_bias[0].bias = 3.0
    assert _facade(p, "sampling.logit_bias") == [[5, 3.0]]


def test_copies_and_pickles_of_a_list_field_are_plain_lists():
    p = xlc.CommonParams()
    p.antiprompt.append("x")
    for other in (copy.copy(p.antiprompt), copy.deepcopy(p.antiprompt), pickle.loads(pickle.dumps(p.antiprompt)),
                  p.antiprompt[:], p.antiprompt.copy()):
        assert type(other) is list and other == ["x"]
        other.append("y")
    assert _facade(p, "antiprompt") == ["x"]


# --- bad items: the field and the index named, the list as it was --------------------------


@pytest.mark.parametrize("name, write, error, where", [
    ("tensor_split", lambda items: items.__setitem__(3, "half"), InvalidTypeError, "tensor_split[3]"),
    ("tensor_split", lambda items: items.__setitem__(slice(0, 2), [0.5, None]), InvalidTypeError, "tensor_split[1]"),
    ("tensor_split", lambda items: items.__setitem__(5, 1e300), InvalidArgumentError, "tensor_split[5]"),
    ("antiprompt", lambda items: items.append(7), InvalidTypeError, "antiprompt[0]"),
    ("devices", lambda items: items.append("NoSuchDevice0"), InvalidArgumentError, "devices[0]"),
    ("speculative.types", lambda items: items.__setitem__(0, "SPICE"), InvalidArgumentError, "speculative.types[0]"),
    ("lora_adapters", lambda items: items.append("not an adapter"), InvalidTypeError, "lora_adapters[0]"),
])
def test_a_bad_item_names_field_and_index_and_changes_nothing(name, write, error, where):
    p = xlc.CommonParams()
    items = _read(p, name)
    before_python, before_facade = list(items), _facade(p, name)
    with pytest.raises(error) as caught:
        write(items)
    assert str(caught.value).startswith(where), str(caught.value)
    assert list(items) == before_python and _facade(p, name) == before_facade
    assert list(_read(p, name)) == before_python


# --- set fields, live the same way ------------------------------------------------------------------------


SET_SAMPLES = {"str": "walk-alias", "int": 42}


@pytest.mark.parametrize("name", [n for n, f in _params.FIELDS.items() if f["type"].startswith("set[")])
def test_every_set_field_takes_an_item_added_in_place(name):
    p = xlc.CommonParams()
    items = _read(p, name)
    assert isinstance(items, set) and isinstance(items, _params.FieldSet), type(items)
    value = SET_SAMPLES[_params._item_kind(_params.FIELDS[name]["type"])]
    items.add(value)
    assert value in _facade(p, name) and value in _read(p, name) and value in items
    items.discard(value)
    assert value not in _facade(p, name)


def test_set_operators_and_bad_items():
    p = xlc.CommonParams()
    p.model_alias |= {"a", "b"}
    p.model_alias -= {"a"}
    assert sorted(_facade(p, "model_alias")) == ["b"]
    with pytest.raises(InvalidTypeError, match="model_alias"):
        p.model_alias.add(5)  # type: ignore[arg-type]  # the mistake shown
    assert sorted(_facade(p, "model_alias")) == ["b"] and p.model_alias == {"b"}
    assert type(copy.copy(p.model_alias)) is set
