"""stylize.inference.onnx_file reads what onnx.load gives, without importing onnx."""

from __future__ import annotations

import sys

import numpy as np
import onnx
import processes
import pytest
from conftest import REPO_ROOT
from onnx import TensorProto, helper, numpy_helper

from stylize.inference.arbitrary import PREDICT_FILE, TRANSFORM_FILE, engine_file
from stylize.inference.onnx_file import OnnxFileError, read_onnx_graph


def _onnx_view(model: onnx.ModelProto) -> tuple[list, dict[str, np.ndarray], list[str], str]:
    graph = model.graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    nodes = [
        (n.op_type, tuple(n.input), tuple(n.output), {a.name: helper.get_attribute_value(a) for a in n.attribute})
        for n in graph.node
    ]
    return nodes, constants, [i.name for i in graph.input if i.name not in constants], graph.output[0].name


def _assert_same(path, model: onnx.ModelProto) -> None:
    read = read_onnx_graph(path)
    nodes, constants, inputs, output = _onnx_view(model)
    assert [(n.op, n.inputs, n.outputs, n.attrs) for n in read.nodes] == nodes
    assert (read.inputs, read.output) == (inputs, output)
    assert sorted(read.constants) == sorted(constants)
    for name, expected in constants.items():
        got = read.constants[name]
        assert (got.dtype, got.shape) == (expected.dtype, expected.shape), name
        assert got.tobytes() == expected.tobytes(), name


@pytest.mark.parametrize("relative", [TRANSFORM_FILE, PREDICT_FILE])
def test_reads_the_engine_files_as_onnx_does(relative: str) -> None:
    path = engine_file(relative)
    _assert_same(path, onnx.load(str(path)))


def test_reads_typed_fields_attributes_and_negative_numbers(tmp_path) -> None:
    tensors = [
        helper.make_tensor("i8", TensorProto.INT8, [2, 2], [-128, -1, 0, 127]),
        helper.make_tensor("u8", TensorProto.UINT8, [3], [0, 1, 255]),
        helper.make_tensor("i32", TensorProto.INT32, [2], [-(2**31), 2**31 - 1]),
        helper.make_tensor("i64", TensorProto.INT64, [2], [-(2**63), 5]),
        helper.make_tensor("f32", TensorProto.FLOAT, [1, 3], [0.5, -1.25, 3e38]),
        helper.make_tensor("f64", TensorProto.DOUBLE, [2], [1e-300, -2.0]),
        helper.make_tensor("raw", TensorProto.FLOAT, [2], np.array([1.5, -2.5], np.float32).tobytes(), raw=True),
        helper.make_tensor("scalar", TensorProto.INT64, [], [-7]),
        helper.make_tensor("empty", TensorProto.FLOAT, [0], []),
    ]
    node = helper.make_node(
        "Conv", ["x", "f32", ""], ["y"], pads=[-1, 0, 2, 300], group=-3, alpha=0.1, mode="reflect", scales=[0.5, 2.0]
    )
    node2 = helper.make_node("Identity", ["y"], ["z"], names=["a", "bc"])
    node2.attribute.append(helper.make_attribute("empty_ints", [], attr_type=onnx.AttributeProto.INTS))
    graph = helper.make_graph(
        [node, node2],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
        initializer=tensors,
    )
    model = helper.make_model(graph)
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    _assert_same(path, model)


def test_refuses_what_it_does_not_read(tmp_path) -> None:
    half = helper.make_tensor("h", TensorProto.FLOAT16, [1], [1.0])
    graph = helper.make_graph([], "g", [], [helper.make_tensor_value_info("h", TensorProto.FLOAT16, [1])], [half])
    path = tmp_path / "half.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(OnnxFileError, match="half.onnx: not an ONNX graph stylize can read .*element type 10"):
        read_onnx_graph(path)
    path.write_bytes(path.read_bytes()[:-9])
    with pytest.raises(OnnxFileError, match="half.onnx: "):
        read_onnx_graph(path)
    (tmp_path / "text.onnx").write_text("not a model")
    with pytest.raises(OnnxFileError, match="text.onnx: "):
        read_onnx_graph(tmp_path / "text.onnx")


@pytest.mark.slow
def test_a_zero_training_style_does_not_import_onnx(tmp_path) -> None:
    code = (
        "import sys; from stylize.inference.arbitrary import Transformer, style_vector; import numpy as np; "
        "Transformer(); style_vector([np.zeros((64, 64, 3), np.uint8)]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'ml_dtypes')))"
    )
    result = processes.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    assert result.stdout.strip() == "[]"
