"""GraphNet: a graph of ONNX-style operators planned once and run in torch (stylize/nets/graph_net.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stylize import StylizeError
from stylize.nets.graph_net import GraphNet, Node


def _graph(pad_mode: bytes = b"reflect") -> tuple[list[Node], dict[str, torch.Tensor]]:
    """NHWC input -> quantise/dequantise -> transpose to NCHW -> reflect pad -> conv -> reshape of a
    stored per-channel scale -> mul -> relu -> nearest x2: the kinds of operator the Magenta graph uses."""
    torch.manual_seed(0)
    constants = {
        "perm_scale": torch.tensor(0.1),
        "zero": torch.tensor(0, dtype=torch.uint8),
        "pads": torch.tensor([0, 0, 1, 1, 0, 0, 1, 1]),
        "w": torch.randn(4, 3, 3, 3),
        "b": torch.randn(4),
        "gain": torch.rand(1, 4),
        "shape": torch.tensor([1, 4, 1, 1]),
        "roi": torch.tensor([], dtype=torch.float32),
        "scales": torch.tensor([1.0, 1.0, 2.0, 2.0]),
    }
    nodes = [
        Node("QuantizeLinear", ("x", "perm_scale", "zero"), ("xq",)),
        Node("DequantizeLinear", ("xq", "perm_scale", "zero"), ("xd",)),
        Node("Transpose", ("xd",), ("nchw",), {"perm": [0, 3, 1, 2]}),
        Node("Pad", ("nchw", "pads"), ("padded",), {"mode": pad_mode}),
        Node("Conv", ("padded", "w", "b"), ("conv",)),
        Node("Reshape", ("gain", "shape"), ("gain4",)),
        Node("Mul", ("conv", "gain4"), ("scaled",)),
        Node("Relu", ("scaled",), ("relu",)),
        Node("Resize", ("relu", "roi", "scales"), ("y",), {"mode": b"nearest"}),
    ]
    return nodes, constants


def test_the_plan_runs_what_the_operators_say_without_the_quantise_steps():
    nodes, constants = _graph()
    net = GraphNet(nodes, constants, ["x"], "y")
    assert [node.op for node in net.nodes] == ["Transpose", "Pad", "Conv", "Reshape", "Mul", "Relu", "Resize"]
    x = torch.rand(2, 6, 5, 3)
    expected = F.pad(x.permute(0, 3, 1, 2), (1, 1, 1, 1), mode="reflect")
    expected = F.conv2d(expected, constants["w"], constants["b"]) * constants["gain"].reshape(1, 4, 1, 1)
    expected = F.interpolate(torch.relu(expected), scale_factor=(2.0, 2.0), mode="nearest")
    assert torch.equal(net(x), expected)
    assert torch.equal(net.constant("w"), constants["w"])
    assert net.to(torch.float64).constant("w").dtype == torch.float64  # buffers: they move with the module


def test_unsupported_operators_and_computed_shapes_are_refused_when_built():
    nodes, constants = _graph()
    with pytest.raises(StylizeError, match="'LSTM' is not supported; known: Add, Clip, Conv"):
        GraphNet([*nodes, Node("LSTM", ("y",), ("z",))], constants, ["x"], "z")
    computed = [*nodes[:5], Node("Relu", ("shape",), ("shape2",)), Node("Reshape", ("gain", "shape2"), ("g",))]
    with pytest.raises(StylizeError, match="Reshape with a computed 'shape2' is not supported"):
        GraphNet(computed, constants, ["x"], "g")
    bad_pads = {**constants, "pads": torch.tensor([1, 0, 1, 1, 0, 0, 1, 1])}
    with pytest.raises(StylizeError, match="Pad may only pad the spatial axes"):
        GraphNet(nodes, bad_pads, ["x"], "y")
    with pytest.raises(StylizeError, match="graph output 'nowhere' is produced by no operator"):
        GraphNet(nodes, constants, ["x"], "nowhere")
