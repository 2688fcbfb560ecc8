"""A network given as a list of ONNX-style operators, run in torch (float).

The zero-training styles (:mod:`stylize.inference.arbitrary`) use a pretrained arbitrary-style
transformer (Ghiasi et al. 2017) that ships as a quantised ONNX graph. :class:`GraphNet` runs such a
graph in float torch: weights stored as int8 with a scale are dequantised once when the network is
built, and the quantise/dequantise steps on activations are dropped (the network then computes what
the quantised one approximates). As a torch module it runs on any device, batches, and is exported
again by ``torch.onnx.export`` like every other style network.

Only the operators such a graph needs are known; any other is refused when the network is built,
never guessed. This module reads no files: the caller parses the graph and hands over plain data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from stylize.errors import StylizeError


@dataclass(frozen=True)
class Node:
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, object] = field(default_factory=dict)


SUPPORTED_OPS = frozenset(
    {
        "Add",
        "Clip",
        "Conv",
        "DequantizeLinear",
        "GlobalAveragePool",
        "Mul",
        "Pad",
        "QuantizeLinear",
        "Reciprocal",
        "Relu",
        "Reshape",
        "Resize",
        "Sigmoid",
        "Sqrt",
        "Sub",
        "Transpose",
    }
)


def _dequantize(value: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, axis: int) -> torch.Tensor:
    shape = [1] * value.dim()
    if scale.dim() == 1 and value.dim() > 0:
        shape[axis] = -1
    return (value.float() - zero.float().reshape(shape)) * scale.float().reshape(shape)


def _fold_constants(
    nodes: Sequence[Node], constants: Mapping[str, torch.Tensor]
) -> tuple[list[Node], dict[str, torch.Tensor]]:
    """Dequantise stored weights once; turn the activation quantise/dequantise pairs into aliases."""
    values = dict(constants)
    kept: list[Node] = []
    for node in nodes:
        if node.op not in SUPPORTED_OPS:
            raise StylizeError(
                f"graph operator {node.op!r} is not supported; known: {', '.join(sorted(SUPPORTED_OPS))}"
            )
        if node.op == "DequantizeLinear" and node.inputs[0] in values:
            axis = int(node.attrs.get("axis", 1))  # type: ignore[call-overload]
            scale = values[node.inputs[1]]
            zero = values[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] else torch.zeros(())
            values[node.outputs[0]] = _dequantize(values[node.inputs[0]], scale, zero, axis)
        elif node.op in ("QuantizeLinear", "DequantizeLinear"):
            kept.append(Node("Identity", node.inputs[:1], node.outputs))
        else:
            kept.append(node)
    return kept, values


class GraphNet(nn.Module):
    """``forward(*inputs)`` runs the graph on float tensors and returns its one output."""

    def __init__(
        self,
        nodes: Sequence[Node],
        constants: Mapping[str, torch.Tensor],
        inputs: Sequence[str],
        output: str,
    ) -> None:
        super().__init__()
        self.nodes, values = _fold_constants(nodes, constants)
        produced = set(inputs) | {name for node in self.nodes for name in node.outputs}
        used = {name for node in self.nodes for name in node.inputs if name}
        missing = sorted(used - produced - set(values))
        if missing:
            raise StylizeError(f"graph input {missing[0]!r} is neither a network input nor a stored constant")
        if output not in produced:
            raise StylizeError(f"graph output {output!r} is produced by no operator")
        # Constants the kept operators read become buffers (they move with .to(device)).
        self._names: dict[str, str] = {}
        for index, name in enumerate(sorted(used & set(values))):
            key = f"c{index}"
            self._names[name] = key
            self.register_buffer(key, values[name].clone(), persistent=False)
        self.inputs = tuple(inputs)
        self.output = output

    def _value(self, env: dict[str, torch.Tensor], name: str) -> torch.Tensor:
        if name in env:
            return env[name]
        return getattr(self, self._names[name])  # type: ignore[no-any-return]

    def constant(self, name: str) -> torch.Tensor:
        """A stored (dequantised) constant the kept operators read, by its name in the graph."""
        return self._value({}, name)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        env = dict(zip(self.inputs, inputs, strict=True))
        for node in self.nodes:
            args = [self._value(env, name) for name in node.inputs if name]
            env[node.outputs[0]] = _run(node, args)
        return env[self.output]


def _shape(value: torch.Tensor) -> list[int]:
    return [int(v) for v in value.tolist()]


def _run(node: Node, args: list[torch.Tensor]) -> torch.Tensor:
    op, attrs = node.op, node.attrs
    if op == "Identity":
        return args[0]
    if op == "Conv":
        weight = args[1]
        pads = list(attrs.get("pads", [0, 0, 0, 0]))  # type: ignore[call-overload]
        x = args[0]
        if pads[0] != pads[2] or pads[1] != pads[3]:
            x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
            pads = [0, 0, 0, 0]
        return F.conv2d(
            x,
            weight,
            args[2] if len(args) > 2 else None,
            stride=tuple(attrs.get("strides", [1, 1])),  # type: ignore[call-overload]
            padding=(pads[0], pads[1]),
            dilation=tuple(attrs.get("dilations", [1, 1])),  # type: ignore[call-overload]
            groups=int(attrs.get("group", 1)),  # type: ignore[call-overload]
        )
    if op == "Add":
        return args[0] + args[1]
    if op == "Sub":
        return args[0] - args[1]
    if op == "Mul":
        return args[0] * args[1]
    if op == "Relu":
        return torch.relu(args[0])
    if op == "Sigmoid":
        return torch.sigmoid(args[0])
    if op == "Sqrt":
        return torch.sqrt(args[0])
    if op == "Reciprocal":
        return torch.reciprocal(args[0])
    if op == "Clip":
        low = args[1] if len(args) > 1 else None
        high = args[2] if len(args) > 2 else None
        return torch.clamp(args[0], low, high)
    if op == "GlobalAveragePool":
        return args[0].mean(dim=(2, 3), keepdim=True)
    if op == "Transpose":
        return args[0].permute(*attrs["perm"])  # type: ignore[misc]
    if op == "Reshape":
        target = _shape(args[1])
        # The graphs reshape per-style parameters to (1, C, 1, 1); keep a batch of them apart.
        if target and target[0] == 1 and args[0].shape[0] != 1:
            target = [args[0].shape[0], *target[1:]]
        return args[0].reshape(target)
    if op == "Pad":
        pads = _shape(args[1])
        rank = len(pads) // 2
        if rank != 4 or pads[0] or pads[rank]:
            raise StylizeError("Pad may only pad the spatial axes of a 4-D tensor")
        mode = attrs.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        x = args[0]
        nhwc = bool(pads[1] or pads[rank + 1])  # axis 1 padded: (N, H, W, C); else (N, C, H, W)
        if nhwc:
            x = x.permute(0, 3, 1, 2)
            top, left, bottom, right = pads[1], pads[2], pads[rank + 1], pads[rank + 2]
        else:
            top, left, bottom, right = pads[2], pads[3], pads[rank + 2], pads[rank + 3]
        torch_mode = {"reflect": "reflect", "edge": "replicate", "constant": "constant"}[mode]
        x = F.pad(x, (left, right, top, bottom), mode=torch_mode)
        return x.permute(0, 2, 3, 1) if nhwc else x
    if op == "Resize":
        scales = args[-1] if len(args) >= 3 else None
        if scales is None or scales.numel() != 4:
            raise StylizeError("Resize without four scales is not supported")
        factors = [float(v) for v in scales.tolist()]
        if factors[:2] != [1.0, 1.0]:
            raise StylizeError("Resize may only scale the two spatial axes")
        if factors[2:] == [1.0, 1.0]:
            return args[0]
        mode = attrs.get("mode", b"nearest")
        if (mode.decode() if isinstance(mode, bytes) else str(mode)) != "nearest":
            raise StylizeError("only nearest-neighbour Resize is supported")
        return F.interpolate(args[0], scale_factor=(factors[2], factors[3]), mode="nearest")
    raise StylizeError(f"graph operator {op!r} is not supported")
