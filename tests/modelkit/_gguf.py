"""Writing and reading GGUF files for the kit: tensors in numpy's order, metadata copied verbatim."""
from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path
from typing import Any

import gguf
import numpy as np

Q = gguf.GGMLQuantizationType
V = gguf.GGUFValueType


class Metadata:
    """Ordered GGUF key/values; the order is kept so the same inputs give the same bytes."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any, V, V | None]] = []

    def add(self, key: str, value: Any, vtype: V | None = None, sub_type: V | None = None) -> None:
        if vtype is None:
            vtype = _value_type(value)
            if vtype == V.ARRAY and sub_type is None:
                sub_type = _value_type(value[0])
        self.items.append((key, value, vtype, sub_type))

    def copy_from(self, source: Path, prefix: str) -> None:
        """Copies every key that starts with ``prefix`` from ``source``, byte for byte."""
        for key, entry in read_header(source)[0].items():
            if key.startswith(prefix):
                self.items.append((key, *entry))

    def value(self, key: str) -> Any:
        for k, v, *_ in self.items:
            if k == key:
                return v
        raise KeyError(key)


def _value_type(value: Any) -> V:
    if isinstance(value, bool):
        return V.BOOL
    if isinstance(value, int):
        return V.UINT32
    if isinstance(value, float):
        return V.FLOAT32
    if isinstance(value, (str, bytes)):
        return V.STRING
    if isinstance(value, (list, tuple)):
        return V.ARRAY
    raise TypeError(f"no GGUF type for {type(value).__name__}")


# GGUF scalar types as struct formats (little-endian files only, as llama.cpp writes them)
_SCALAR = {V.UINT8: "B", V.INT8: "b", V.UINT16: "H", V.INT16: "h", V.UINT32: "I", V.INT32: "i",
           V.FLOAT32: "f", V.BOOL: "?", V.UINT64: "Q", V.INT64: "q", V.FLOAT64: "d"}


def read_header(path: Path) -> tuple[dict[str, tuple[Any, V, V | None]], dict[str, tuple[int, ...]]]:
    """A GGUF file's metadata (key -> value, type, element type; strings as bytes, since
    some vocabularies are not UTF-8) and its tensors' ggml shapes (``ne``, innermost first).

    gguf's own reader builds a numpy view per array element, which takes ~20 s on a
    262k-token vocabulary; this walks the header once with struct.
    """
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        pos = 0

        def take(fmt: str) -> Any:
            nonlocal pos
            value = struct.unpack_from("<" + fmt, m, pos)
            pos += struct.calcsize("<" + fmt)
            return value[0]

        def string() -> bytes:
            nonlocal pos
            n = take("Q")
            pos += n
            return bytes(m[pos - n:pos])

        def value(vtype: V) -> Any:
            if vtype == V.STRING:
                return string()
            return take(_SCALAR[vtype])

        if m[:4] != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        pos = 4
        take("I")  # version
        n_tensors, n_kv = take("Q"), take("Q")
        kv: dict[str, tuple[Any, V, V | None]] = {}
        for _ in range(n_kv):
            key = string().decode()
            vtype = V(take("I"))
            if vtype == V.ARRAY:
                sub = V(take("I"))
                count = take("Q")
                if sub == V.STRING:
                    items = [string() for _ in range(count)]
                else:
                    fmt = _SCALAR[sub]
                    items = list(struct.unpack_from(f"<{count}{fmt}", m, pos))
                    pos += count * struct.calcsize(fmt)
                kv[key] = (items, vtype, sub)
            else:
                kv[key] = (value(vtype), vtype, None)
        tensors: dict[str, tuple[int, ...]] = {}
        for _ in range(n_tensors):
            name = string().decode()
            n_dims = take("I")
            tensors[name] = tuple(take("Q") for _ in range(n_dims))
            take("I")  # type
            take("Q")  # offset
        return kv, tensors


def read_metadata(path: Path, key: str) -> Any:
    value = read_header(path)[0][key][0]
    return value.decode() if isinstance(value, bytes) else value


def tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Every tensor's ggml shape (``ne``, innermost first)."""
    return read_header(path)[1]


def write(path: Path, arch: str, metadata: Metadata, tensors: list[tuple[str, np.ndarray, Q | None]]) -> Path:
    """Writes a GGUF file next to ``path`` and renames it into place, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    writer = gguf.GGUFWriter(tmp, arch)
    for key, value, vtype, sub_type in metadata.items:
        writer.add_key_value(key, value, vtype, sub_type)
    for name, array, raw_dtype in tensors:
        writer.add_tensor(name, array, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, path)
    return path


class Weights:
    """Random tensors from one seeded generator, named and typed for the writer.

    Shapes are given in ggml's order (``ne``: the row length first), as llama.cpp's
    loaders name them; numpy's shape is that reversed.
    """

    def __init__(self, seed: int, std: float = 0.02) -> None:
        self.rng = np.random.default_rng(seed)
        self.std = std
        self.tensors: list[tuple[str, np.ndarray, Q | None]] = []

    def normal(self, name: str, ne: tuple[int, ...], std: float | None = None, dtype: Any = np.float32) -> None:
        a = self.rng.standard_normal(tuple(reversed(ne)), dtype=np.float32) * (self.std if std is None else std)
        self.add(name, a.astype(dtype))

    def const(self, name: str, ne: tuple[int, ...], value: float) -> None:
        self.add(name, np.full(tuple(reversed(ne)), value, dtype=np.float32))

    def q8_0(self, name: str, ne: tuple[int, ...], std: float | None = None) -> None:
        a = self.rng.standard_normal(tuple(reversed(ne)), dtype=np.float32) * (self.std if std is None else std)
        self.tensors.append((name, gguf.quants.quantize(a, Q.Q8_0), Q.Q8_0))

    def add(self, name: str, array: np.ndarray) -> None:
        self.tensors.append((name, np.ascontiguousarray(array), None))
