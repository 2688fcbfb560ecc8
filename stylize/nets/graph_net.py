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

from collections.abc import Callable, Mapping, Sequence
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


# The activation quantise/dequantise steps are dropped (aliases); every other operator has a runner below.
_DROPPED_OPS = frozenset({"DequantizeLinear", "QuantizeLinear"})


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


@dataclass(frozen=True)
class _Step:
    """One operator of the plan: its runner with what could be worked out when the network was built
    (shapes, pads and scales from stored constants), the names of its tensor inputs, its output."""

    run: Callable[[list[torch.Tensor]], torch.Tensor]
    inputs: tuple[str, ...]
    output: str


class GraphNet(nn.Module):
    """``forward(*inputs)`` runs the graph on float tensors and returns its one output.

    The graph is planned once, when the network is built: activation quantise/dequantise pairs become
    aliases and leave the plan (two thirds of the Magenta graph's operators), and each operator's constant
    shapes, pads and scales are read once; running is one call a kept operator, the same torch operations
    in the same order as reading the graph node by node."""

    def __init__(
        self,
        nodes: Sequence[Node],
        constants: Mapping[str, torch.Tensor],
        inputs: Sequence[str],
        output: str,
    ) -> None:
        super().__init__()
        kept, values = _fold_constants(nodes, constants)
        produced = set(inputs) | {name for node in kept for name in node.outputs}
        used = {name for node in kept for name in node.inputs if name}
        missing = sorted(used - produced - set(values))
        if missing:
            raise StylizeError(f"graph input {missing[0]!r} is neither a network input nor a stored constant")
        if output not in produced:
            raise StylizeError(f"graph output {output!r} is produced by no operator")
        alias: dict[str, str] = {}
        for node in kept:
            if node.op == "Identity":
                alias[node.outputs[0]] = alias.get(node.inputs[0], node.inputs[0])
        self.nodes = [node for node in kept if node.op != "Identity"]
        # Constants the kept operators read as tensors become buffers (they move with .to(device)).
        self._names: dict[str, str] = {}
        self._steps: list[_Step] = []
        for node in self.nodes:
            names = tuple(alias.get(name, name) for name in node.inputs if name)
            run, tensor_inputs = _plan(node, names, values)
            for name in tensor_inputs:
                if name in values and name not in self._names:
                    key = f"c{len(self._names)}"
                    self._names[name] = key
                    self.register_buffer(key, values[name].clone(), persistent=False)
            self._steps.append(_Step(run, tensor_inputs, node.outputs[0]))
        # The constants read only when planned (shapes, pads, scales), for constant(); the rest are buffers.
        self._stored = {name: values[name] for name in used & set(values) if name not in self._names}
        self.inputs = tuple(inputs)
        self.output = alias.get(output, output)

    def constant(self, name: str) -> torch.Tensor:
        """A stored (dequantised) constant the kept operators read, by its name in the graph."""
        if name in self._names:
            return self._buffers[self._names[name]]  # type: ignore[return-value]
        return self._stored[name]

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        env = dict(zip(self.inputs, inputs, strict=True))
        buffers, names = self._buffers, self._names
        for step in self._steps:
            args = [env[name] if name in env else buffers[names[name]] for name in step.inputs]
            env[step.output] = step.run(args)  # type: ignore[arg-type]
        return env[self.output]


def _shape(value: torch.Tensor) -> list[int]:
    return [int(v) for v in value.tolist()]


def _text(value: object, default: str) -> str:
    value = default if value is None else value
    return value.decode() if isinstance(value, bytes) else str(value)


_ELEMENTWISE: dict[str, Callable[..., torch.Tensor]] = {  # operators that are one torch function of their inputs
    "Add": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "Relu": torch.relu,
    "Sigmoid": torch.sigmoid,
    "Sqrt": torch.sqrt,
    "Reciprocal": torch.reciprocal,
}


_SHAPED = ("Reshape", "Pad", "Resize")  # their second and later inputs must be stored constants
SUPPORTED_OPS = frozenset({*_ELEMENTWISE, *_DROPPED_OPS, *_SHAPED, "Conv", "Clip", "GlobalAveragePool", "Transpose"})


def _plan(
    node: Node, names: tuple[str, ...], values: Mapping[str, torch.Tensor]
) -> tuple[Callable[[list[torch.Tensor]], torch.Tensor], tuple[str, ...]]:
    """The runner of ``node`` (its inputs ``names``, aliases resolved) and the inputs it takes as tensors;
    shapes, pads and scales stored as constants are read here, once. Refused when not supported."""
    op, attrs = node.op, node.attrs
    if op in _ELEMENTWISE:
        function = _ELEMENTWISE[op]
        return (lambda args: function(*args)), names
    if op == "Conv":
        pads = list(attrs.get("pads", [0, 0, 0, 0]))  # type: ignore[call-overload]
        explicit = (pads[1], pads[3], pads[0], pads[2]) if pads[0] != pads[2] or pads[1] != pads[3] else None
        padding = (0, 0) if explicit else (pads[0], pads[1])
        stride = tuple(attrs.get("strides", [1, 1]))  # type: ignore[call-overload]
        dilation = tuple(attrs.get("dilations", [1, 1]))  # type: ignore[call-overload]
        groups = int(attrs.get("group", 1))  # type: ignore[call-overload]

        def conv(args: list[torch.Tensor]) -> torch.Tensor:
            x = F.pad(args[0], explicit) if explicit else args[0]
            bias = args[2] if len(args) > 2 else None
            return F.conv2d(x, args[1], bias, stride=stride, padding=padding, dilation=dilation, groups=groups)

        return conv, names
    if op == "Clip":

        def clip(args: list[torch.Tensor]) -> torch.Tensor:
            return torch.clamp(args[0], args[1] if len(args) > 1 else None, args[2] if len(args) > 2 else None)

        return clip, names
    if op == "GlobalAveragePool":
        return (lambda args: args[0].mean(dim=(2, 3), keepdim=True)), names
    if op == "Transpose":
        perm = tuple(attrs["perm"])  # type: ignore[call-overload]
        return (lambda args: args[0].permute(*perm)), names
    if op in _SHAPED:
        stored = [name for name in names[1:] if name not in values]
        if stored:
            raise StylizeError(f"graph operator {op} with a computed {stored[0]!r} is not supported; only stored ones")
        return _plan_shaped(op, attrs, [values[name] for name in names[1:]]), names[:1]
    raise StylizeError(f"graph operator {op!r} is not supported; known: {', '.join(sorted(SUPPORTED_OPS))}")


def _plan_shaped(
    op: str, attrs: Mapping[str, object], stored: list[torch.Tensor]
) -> Callable[[list[torch.Tensor]], torch.Tensor]:
    if op == "Reshape":
        target = _shape(stored[0])

        def reshape(args: list[torch.Tensor]) -> torch.Tensor:
            # The graphs reshape per-style parameters to (1, C, 1, 1); keep a batch of them apart.
            if target and target[0] == 1 and args[0].shape[0] != 1:
                return args[0].reshape([args[0].shape[0], *target[1:]])
            return args[0].reshape(target)

        return reshape
    if op == "Pad":
        pads = _shape(stored[0])
        rank = len(pads) // 2
        if rank != 4 or pads[0] or pads[rank]:
            raise StylizeError("Pad may only pad the spatial axes of a 4-D tensor")
        torch_mode = {"reflect": "reflect", "edge": "replicate", "constant": "constant"}[
            _text(attrs.get("mode"), "constant")
        ]
        nhwc = bool(pads[1] or pads[rank + 1])  # axis 1 padded: (N, H, W, C); else (N, C, H, W)
        if nhwc:
            top, left, bottom, right = pads[1], pads[2], pads[rank + 1], pads[rank + 2]
        else:
            top, left, bottom, right = pads[2], pads[3], pads[rank + 2], pads[rank + 3]
        sides = (left, right, top, bottom)

        def pad(args: list[torch.Tensor]) -> torch.Tensor:
            if nhwc:
                return F.pad(args[0].permute(0, 3, 1, 2), sides, mode=torch_mode).permute(0, 2, 3, 1)
            return F.pad(args[0], sides, mode=torch_mode)

        return pad
    scales = stored[-1] if len(stored) >= 2 else None  # Resize(X, roi, scales)
    if scales is None or scales.numel() != 4:
        raise StylizeError("Resize without four scales is not supported")
    factors = [float(v) for v in scales.tolist()]
    if factors[:2] != [1.0, 1.0]:
        raise StylizeError("Resize may only scale the two spatial axes")
    if factors[2:] == [1.0, 1.0]:
        return lambda args: args[0]
    if _text(attrs.get("mode"), "nearest") != "nearest":
        raise StylizeError("only nearest-neighbour Resize is supported")
    scale_factor = (factors[2], factors[3])
    return lambda args: F.interpolate(args[0], scale_factor=scale_factor, mode="nearest")
