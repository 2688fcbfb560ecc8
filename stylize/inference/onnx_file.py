"""The operators and constants of an ONNX file, read without importing ``onnx``.

``import onnx`` brings in ``ml_dtypes``, most of a second of CPU: more than the rest of a
zero-training style's start outside torch. The zero-training transformer only needs the graph's
operators (type, inputs, outputs, attributes) and its stored tensors, so this reads them straight
from the protobuf wire format (https://protobuf.dev/programming-guides/encoding/), field numbers from
onnx/onnx.proto. It gives what ``onnx.load`` with ``numpy_helper.to_array`` and
``helper.get_attribute_value`` give for those parts (tests/inference/test_onnx_file.py compares them on
both engine files); anything it does not know (external data, sparse or segmented tensors, tensor or
graph attributes, other element types) is refused, never guessed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stylize.errors import StylizeError

# TensorProto.DataType -> numpy element type (little-endian, as ONNX stores raw data).
_DTYPES: dict[int, np.dtype[Any]] = {
    1: np.dtype("<f4"),
    2: np.dtype("u1"),
    3: np.dtype("i1"),
    4: np.dtype("<u2"),
    5: np.dtype("<i2"),
    6: np.dtype("<i4"),
    7: np.dtype("<i8"),
    9: np.dtype("?"),
    11: np.dtype("<f8"),
    12: np.dtype("<u4"),
    13: np.dtype("<u8"),
}
# AttributeProto.AttributeType: FLOAT, INT, STRING, FLOATS, INTS, STRINGS.
_FLOAT, _INT, _STRING, _FLOATS, _INTS, _STRINGS = 1, 2, 3, 6, 7, 8

Attr = float | int | bytes | list[float] | list[int] | list[bytes]


@dataclass(frozen=True)
class OnnxNode:
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict[str, Attr]


@dataclass(frozen=True)
class OnnxGraph:
    nodes: list[OnnxNode]
    constants: dict[str, np.ndarray]  # the graph's initializers
    inputs: list[str]  # the graph's inputs that are not initializers
    output: str  # its first output


class OnnxFileError(StylizeError):
    """An ONNX file this reader cannot read."""


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise OnnxFileError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _signed(value: int) -> int:
    """A varint read as the int64 (or sign-extended int32) it encodes."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _fields(data: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of one message: an int for a varint, bytes for the rest."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | memoryview
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = data[pos : pos + size], pos + size
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        else:
            raise OnnxFileError(f"wire type {wire} (field {number}) is not used by ONNX")
        if pos > len(data):
            raise OnnxFileError(f"field {number} runs past the end of its message")
        yield number, wire, value


def _bytes(value: int | memoryview) -> bytes:
    if not isinstance(value, memoryview):
        raise OnnxFileError("a varint where bytes belong")
    return bytes(value)


def _text(value: int | memoryview) -> str:
    return _bytes(value).decode("utf-8")


def _ints(wire: int, value: int | memoryview) -> list[int]:
    """A repeated integer field's values in one record: packed (wire type 2) or one varint."""
    if isinstance(value, int):
        return [_signed(value)]
    out: list[int] = []
    pos = 0
    while pos < len(value):
        item, pos = _varint(value, pos)
        out.append(_signed(item))
    return out


def _floats(value: int | memoryview, size: int) -> list[float]:
    """A float or double field's values in one record: packed (wire type 2) or one fixed-size value."""
    raw = _bytes(value)
    if len(raw) % size:
        raise OnnxFileError(f"{len(raw)} bytes of {size}-byte floats")
    return list(struct.unpack(f"<{len(raw) // size}{'f' if size == 4 else 'd'}", raw))


def _tensor(data: memoryview) -> tuple[str, np.ndarray]:
    name, dims, dtype_code = "", [], 0
    raw: bytes | None = None
    ints: dict[int, list[int]] = {}  # int32_data (5), int64_data (7)
    floats: dict[int, list[float]] = {}  # float_data (4), double_data (10)
    for number, wire, value in _fields(data):
        if number == 1:
            dims += _ints(wire, value)
        elif number == 2 and isinstance(value, int):
            dtype_code = value
        elif number == 8:
            name = _text(value)
        elif number == 9:
            raw = _bytes(value)
        elif number in (5, 7):
            ints.setdefault(number, []).extend(_ints(wire, value))
        elif number in (4, 10):
            floats.setdefault(number, []).extend(_floats(value, 4 if number == 4 else 8))
        elif number in (3, 6, 11, 13, 14):  # segment, string_data, uint64_data, external_data, data_location
            raise OnnxFileError(f"tensor {name or '?'}: field {number} (segments, strings or external data)")
    dtype = _DTYPES.get(dtype_code)
    if dtype is None:
        raise OnnxFileError(f"tensor {name}: element type {dtype_code} is not supported")
    if len(ints) + len(floats) + (raw is not None) > 1:
        raise OnnxFileError(f"tensor {name}: values stored in more than one field")
    if raw is not None:
        array = np.frombuffer(raw, dtype=dtype)
    elif 5 in ints and dtype.kind in "iub" and dtype.itemsize <= 4:  # int32_data holds the small types
        array = np.array(ints[5], dtype=np.int64).astype(dtype)
    elif 7 in ints and dtype == np.dtype("<i8"):
        array = np.array(ints[7], dtype=dtype)
    elif (4 in floats and dtype == np.dtype("<f4")) or (10 in floats and dtype == np.dtype("<f8")):
        array = np.array(next(iter(floats.values())), dtype=dtype)
    elif ints or floats:
        raise OnnxFileError(f"tensor {name}: element type {dtype_code} stored in field {[*ints, *floats][0]}")
    else:
        array = np.zeros(0, dtype=dtype)
    size = int(np.prod(dims, dtype=np.int64)) if dims else 1
    if array.size != size:
        raise OnnxFileError(f"tensor {name}: {array.size} values for shape {dims}")
    return name, array.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def _attribute(data: memoryview) -> tuple[str, Attr]:
    name, kind = "", 0
    floats: list[float] = []  # f (2), floats (7)
    ints: list[int] = []  # i (3), ints (8)
    strings: list[bytes] = []  # s (4), strings (9)
    for number, wire, value in _fields(data):
        if number == 1:
            name = _text(value)
        elif number == 20 and isinstance(value, int):
            kind = value
        elif number in (2, 7):
            floats += _floats(value, 4)
        elif number in (3, 8):
            ints += _ints(wire, value)
        elif number in (4, 9):
            strings.append(_bytes(value))
    if kind == _FLOAT and len(floats) <= 1:
        return name, floats[0] if floats else 0.0
    if kind == _INT and len(ints) <= 1:
        return name, ints[0] if ints else 0
    if kind == _STRING and len(strings) <= 1:
        return name, strings[0] if strings else b""
    if kind == _FLOATS:
        return name, floats
    if kind == _INTS:
        return name, ints
    if kind == _STRINGS:
        return name, strings
    raise OnnxFileError(f"attribute {name!r} of type {kind} (a tensor, graph or other) is not supported")


def _node(data: memoryview) -> OnnxNode:
    op = ""
    inputs: list[str] = []
    outputs: list[str] = []
    attrs: dict[str, Attr] = {}
    for number, _, value in _fields(data):
        if number == 1:
            inputs.append(_text(value))
        elif number == 2:
            outputs.append(_text(value))
        elif number == 4:
            op = _text(value)
        elif number == 5 and isinstance(value, memoryview):
            key, attr = _attribute(value)
            attrs[key] = attr
        elif number == 7 and _text(value) not in ("", "ai.onnx"):
            raise OnnxFileError(f"operator {op or '?'} of domain {_text(value)!r} is not supported")
    return OnnxNode(op, tuple(inputs), tuple(outputs), attrs)


def _value_name(data: memoryview) -> str:
    return next((_text(value) for number, _, value in _fields(data) if number == 1), "")


def read_onnx_graph(path: Path) -> OnnxGraph:
    """The main graph of the ONNX file at ``path``: operators in order, stored tensors, inputs, output."""
    try:
        data = memoryview(path.read_bytes())
    except OSError as err:
        raise OnnxFileError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        graphs = [value for number, _, value in _fields(data) if number == 7]
        if len(graphs) != 1 or not isinstance(graphs[0], memoryview):
            raise OnnxFileError("no graph")
        nodes: list[OnnxNode] = []
        constants: dict[str, np.ndarray] = {}
        inputs: list[str] = []
        outputs: list[str] = []
        for number, _, value in _fields(graphs[0]):
            if not isinstance(value, memoryview):
                continue
            if number == 1:
                nodes.append(_node(value))
            elif number == 5:
                name, array = _tensor(value)
                constants[name] = array
            elif number == 11:
                inputs.append(_value_name(value))
            elif number == 12:
                outputs.append(_value_name(value))
            elif number == 15:
                raise OnnxFileError("sparse initializers are not supported")
    except OnnxFileError as err:
        raise OnnxFileError(f"{path}: not an ONNX graph stylize can read ({err})") from None
    if not outputs:
        raise OnnxFileError(f"{path}: the ONNX graph has no output")
    return OnnxGraph(nodes, constants, [name for name in inputs if name not in constants], outputs[0])
