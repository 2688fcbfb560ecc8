"""Tiled inference: a style network over an image of any size in bounded memory, without seams.

Why: a network's activations grow with the image (about 450 bytes a pixel for ``nano``), so run whole
a 4000x4000 image needs 5 to 7 GB. Run in tiles, the network's memory is a tile's.

Instance norm is what makes tiling hard: normalised per tile, each tile would get its own mean and
variance (colour and contrast jumps at every tile edge). Every norm must use the *whole image's*
statistics, and those depend on the norms before it, so they can only be had norm by norm. Measured
on 2000x2000 and 4000x4000 portraits (docs/results/big_images.md), the cheap estimates are visibly
off: statistics from one whole pass over the image shrunk to 1 megapixel give a flatter, paler
result (mean 3 to 5 levels of 255 from the whole-image output, up to 100 at edges), because the
features' statistics depend on the scale of the strokes; statistics from a sample of full-size
tiles are worse (portraits are not uniform). Exact statistics by re-running the network up to each
norm over all tiles cost 5 to 6 passes.

So the network is run *layer by layer where that is cheap, tile by tile where it is not*: its graph
(``torch.fx``) is cut at every instance norm. An activation small enough to hold whole (at half or
quarter resolution, or few channels: at most ``KEEP_BYTES`` bytes per image pixel, e.g. the 32
channels at 1/4 resolution of the residual blocks) is computed tile by tile into one whole tensor,
its norm's statistics are taken over the whole of it and it is normalised in place; the next stage
starts from it. A norm whose input is too big to hold (full resolution, many channels) gets its
statistics from a tiled pass that sums over tile cores, and its stage is recomputed in the next
pass. Each pass runs only the layers since the last activation held, so the whole costs about one
untiled pass (measured at 2000x2000: 0.95 times for ``nano``, 1.2 for ``magenta``), and every
statistic is the whole image's (up to float rounding).

Each tile is grown by exactly the receptive field of the layers its pass runs (computed from the
graph), its edge effects are cropped off, and each pixel is taken from the one tile whose core holds
it: with exact statistics the tiles agree with the whole image to float rounding (at most 1 level of
255), so there is nothing to cross-fade. Tile edges lie on multiples of 4 (the networks downsample
twice), so strided convolutions sample the same grid as in the whole image, and the image is
edge-padded to a multiple of 4 exactly as :class:`stylize.nets.padded.PaddedNet` pads it.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from stylize.errors import StylizeError
from stylize.nets.padded import PaddedNet, padding_for

ALIGN = 4  # the networks downsample twice: tiles on multiples of 4 keep every resolution's grid aligned
TILE = 384  # side of a tile's core at full resolution (larger where a pass runs at lower resolutions)
TILE_ABOVE = 1024 * 1024  # working pixels above which stylize_batch tiles (a whole pass is then ~0.5 GB)
GROWTH = 2  # a pass that runs only at lower resolutions has tiles twice as wide (still ~ as many bytes)
KEEP_BYTES = 12  # activations of at most this many bytes per image pixel are held whole between passes

_PADS = (nn.ReflectionPad2d, nn.ReplicationPad2d, nn.ZeroPad2d, nn.ConstantPad2d)
_POINTWISE_MODULES = (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Identity)
_POINTWISE_FUNCTIONS = {torch.relu, F.relu, torch.sigmoid, torch.tanh, torch.add, operator.add, operator.mul, torch.cat}


class TilingError(ValueError):
    """The network has an operation tiling does not know how to split."""


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an allocation failure (torch raises a plain RuntimeError for one on the CPU)."""
    if isinstance(err, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and any(
        phrase in text
        for phrase in ("can't allocate memory", "cannot allocate memory", "out of memory", "not enough memory")
    )


def needs_tiling(height: int, width: int, limit: int = TILE_ABOVE) -> bool:
    """Whether an image of ``height`` x ``width`` working pixels is run in tiles."""
    return height * width > limit


# --- the layout ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """One tile along one axis, in pixels of the padded image: the network sees ``start:stop``;
    ``core_start:core_stop`` (the cores partition the axis) is what is kept of it."""

    start: int
    stop: int
    core_start: int
    core_stop: int


def spans(length: int, core: int, margin: int) -> list[Span]:
    """Equal cores of at most ``core`` pixels (edges on multiples of 4) covering ``length`` (a multiple
    of 4), each seen with at least ``margin`` pixels of context on both sides within the axis.

    Every tile is as long as the longest core plus both margins (a tile at an edge reaches further
    in instead): one shape for all tiles, so the convolution library prepares each layer once
    (it keeps working memory per input shape: varied tiles cost a few hundred megabytes)."""
    if length % ALIGN or margin % ALIGN or core < ALIGN:
        raise ValueError(f"length {length} and margin {margin} must be multiples of {ALIGN}, core at least {ALIGN}")
    count = math.ceil(length / core)
    cuts = [ALIGN * round(index * length / (count * ALIGN)) for index in range(count + 1)]
    window = min(length, max(b - a for a, b in zip(cuts, cuts[1:])) + 2 * margin)
    result = []
    for a, b in zip(cuts, cuts[1:]):
        start = min(max(0, a - margin), length - window)
        result.append(Span(start, start + window, a, b))
    return result


def padded_size(height: int, width: int) -> tuple[int, int]:
    """The size :class:`PaddedNet` pads an image to before running its ``core``."""
    pad_h, pad_w = padding_for(height, width)
    return height + pad_h, width + pad_w


def crop_padded(image: torch.Tensor, rows: Span, cols: Span) -> torch.Tensor:
    """The tile ``rows`` x ``cols`` of ``image`` padded as ``PaddedNet`` pads it (last row and column repeated)."""
    height, width = image.shape[-2:]
    part = image[..., rows.start : min(rows.stop, height), cols.start : min(cols.stop, width)]
    pad_h, pad_w = rows.stop - min(rows.stop, height), cols.stop - min(cols.stop, width)
    return F.pad(part, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else part


# --- the network's graph --------------------------------------------------------------------------------


class _Core(nn.Module):
    def __init__(self, network: PaddedNet) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.core(x)


@dataclass(frozen=True)
class Graph:
    """A network's ``core`` as a graph of operations, with what tiling needs to know of each node."""

    module: torch.fx.GraphModule
    nodes: tuple[torch.fx.Node, ...]  # the operations, in execution order
    source: torch.fx.Node  # the input image
    result: torch.fx.Node  # the output image
    factor: dict[torch.fx.Node, int]  # image pixels per pixel of the node's grid (1, 2 or 4)
    channels: dict[torch.fx.Node, int]
    halo: dict[torch.fx.Node, int]  # image pixels of context the operation reads beyond its output pixel
    norms: frozenset[torch.fx.Node]

    def bytes_per_pixel(self, node: torch.fx.Node) -> float:
        """Bytes per image pixel of the node's activation (float32)."""
        return 4.0 * self.channels[node] / self.factor[node] ** 2


def _inputs(node: torch.fx.Node) -> list[torch.fx.Node]:
    return list(node.all_input_nodes)


def _conv_halo(conv: nn.Conv2d, pad: tuple[int, int, int, int]) -> int:
    """Input pixels a convolution reads beyond its output pixel's position, given explicit padding (l, r, t, b)."""
    extent = [conv.dilation[i] * (conv.kernel_size[i] - 1) for i in (0, 1)]
    padding = [int(p) for p in conv.padding] if isinstance(conv.padding, tuple) else [0, 0]
    before = [pad[2] + padding[0], pad[0] + padding[1]]
    return max(max(before[i], extent[i] - before[i]) for i in (0, 1))


def trace(network: PaddedNet) -> Graph:
    """The graph of ``network.core``; :class:`TilingError` if it holds an operation tiling cannot split."""
    from torch.fx.passes.shape_prop import ShapeProp

    module = torch.fx.symbolic_trace(_Core(network))
    side = 64
    with torch.inference_mode(False), torch.no_grad():
        ShapeProp(module).propagate(torch.zeros(1, 3, side, side))
    nodes: list[torch.fx.Node] = []
    factor: dict[torch.fx.Node, int] = {}
    channels: dict[torch.fx.Node, int] = {}
    halo: dict[torch.fx.Node, int] = {}
    norms = set()
    source = result = None
    for node in module.graph.nodes:
        if node.op == "placeholder":
            source, factor[node], channels[node], halo[node] = node, 1, 3, 0
            continue
        if node.op == "output":
            result = node.args[0]
            continue
        inputs = _inputs(node)
        if not inputs or any(i not in factor for i in inputs):
            raise TilingError(f"tiling cannot follow {node.name}")
        f_in = factor[inputs[0]]
        f_out, own = f_in, 0
        if node.op == "call_module":
            layer = module.get_submodule(str(node.target))
            if isinstance(layer, nn.Conv2d):
                pad = (0, 0, 0, 0)
                if _is_pad(module, inputs[0]):
                    pad = _padding(module.get_submodule(str(inputs[0].target)))
                own = _conv_halo(layer, pad) * f_in
                f_out = f_in * layer.stride[0]
                if layer.stride[0] != layer.stride[1]:
                    raise TilingError(f"tiling needs square strides ({node.target})")
            elif isinstance(layer, nn.InstanceNorm2d):
                if layer.track_running_stats:
                    raise TilingError(f"tiling needs instance norms without running statistics ({node.target})")
                norms.add(node)
            elif not isinstance(layer, (*_PADS, *_POINTWISE_MODULES)):
                raise TilingError(f"tiling does not know {type(layer).__name__} ({node.target})")
        elif node.op == "call_function" and node.target is F.interpolate:
            scale = node.kwargs.get("scale_factor")
            if node.kwargs.get("mode") != "nearest" or scale not in (2, 2.0) or len(node.args) != 1:
                raise TilingError(f"tiling follows only 2x nearest upsampling ({node.name})")
            f_out = f_in // 2
        elif node.op == "call_function" and node.target is torch.cat:
            if node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0) != 1:
                raise TilingError(f"tiling follows concatenation along channels only ({node.name})")
        elif node.op != "call_function" or node.target not in _POINTWISE_FUNCTIONS:
            raise TilingError(f"tiling does not know {node.name}")
        if f_out not in (1, 2, 4) or any(factor[i] != f_in for i in inputs if not _is_pad(module, i)):
            raise TilingError(f"tiling needs resolutions of 1, 1/2 and 1/4 that match where they meet ({node.name})")
        shape = node.meta["tensor_meta"].shape
        if not _is_pad(module, node) and (shape[-2] * f_out != side or shape[-1] * f_out != side):
            raise TilingError(f"tiling could not place {node.name} on the image's grid")
        factor[node], channels[node], halo[node] = f_out, int(shape[1]), own
        nodes.append(node)
    if source is None or not isinstance(result, torch.fx.Node) or factor[result] != 1:
        raise TilingError("tiling needs one image in and one full-resolution image out")
    return Graph(module, tuple(nodes), source, result, factor, channels, halo, frozenset(norms))


def _padding(layer: nn.Module) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) of a padding layer."""
    left, right, top, bottom = (int(p) for p in layer.padding)  # type: ignore[union-attr]
    return left, right, top, bottom


def _is_pad(module: torch.fx.GraphModule, node: torch.fx.Node) -> bool:
    return node.op == "call_module" and isinstance(module.get_submodule(str(node.target)), _PADS)


# --- statistics ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moments:
    """Per (image, channel): pixel count, mean and sum of squared deviations, merged over tiles (Chan et al.)."""

    count: int
    mean: torch.Tensor  # (N, C) float64
    m2: torch.Tensor

    @staticmethod
    def of(x: torch.Tensor) -> Moments:
        var, mean = torch.var_mean(x, dim=(2, 3), correction=0)
        count = x.shape[-2] * x.shape[-1]
        return Moments(count, mean.double(), var.double() * count)

    def merge(self, other: Moments) -> Moments:
        total = self.count + other.count
        delta = other.mean - self.mean
        return Moments(
            total,
            self.mean + delta * (other.count / total),
            self.m2 + other.m2 + delta**2 * (self.count * other.count / total),
        )

    def affine(self, norm: nn.InstanceNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
        """(scale, shift), each (N, C, 1, 1), with which ``norm`` maps its input given these statistics."""
        mean, var = self.mean.float(), (self.m2 / self.count).float()
        scale = torch.rsqrt(var + norm.eps)
        if norm.affine:
            scale = scale * norm.weight
        shift = -mean * scale + (norm.bias if norm.affine else 0.0)
        return scale[..., None, None], shift[..., None, None]


# --- running the graph tile by tile ----------------------------------------------------------------------


@dataclass
class _State:
    """What is known between passes: activations held whole, and each measured norm's (scale, shift)."""

    graph: Graph
    image: torch.Tensor
    padded: tuple[int, int]
    held: dict[torch.fx.Node, torch.Tensor]
    affine: dict[torch.fx.Node, tuple[torch.Tensor, torch.Tensor]]


def _closure(graph: Graph, targets: Sequence[torch.fx.Node], held: Collection[torch.fx.Node]) -> list[torch.fx.Node]:
    """The operations (in order) that compute ``targets`` from the held activations and the image."""
    needed: set[torch.fx.Node] = set()
    stack = [t for t in targets if t not in held]
    while stack:
        node = stack.pop()
        if node in needed or node in held or node is graph.source:
            continue
        needed.add(node)
        stack.extend(_inputs(node))
    return [node for node in graph.nodes if node in needed]


def _leaves(nodes: Sequence[torch.fx.Node]) -> set[torch.fx.Node]:
    """What ``nodes`` read that they do not compute: held activations and the image."""
    inside = set(nodes)
    return {i for node in nodes for i in _inputs(node) if i not in inside}


def _run(state: _State, node: torch.fx.Node, env: dict[torch.fx.Node, torch.Tensor]) -> torch.Tensor:
    """One operation of the graph on a tile's values; a norm with its whole-image statistics."""
    args: Any = torch.fx.node.map_arg(node.args, lambda n: env[n])
    kwargs: Any = torch.fx.node.map_arg(node.kwargs, lambda n: env[n])
    if node in state.graph.norms:
        scale, shift = state.affine[node]
        return torch.addcmul(shift, args[0], scale)
    operation: Any = state.graph.module.get_submodule(str(node.target)) if node.op == "call_module" else node.target
    result: torch.Tensor = operation(*args, **kwargs)
    return result


def _needed(graph: Graph, wanted: Sequence[torch.fx.Node], held: Collection[torch.fx.Node]) -> set[torch.fx.Node]:
    """The held activations that computing ``wanted`` reads (``held`` names what is held by then)."""
    nodes = _closure(graph, wanted, held)
    return {n for n in _leaves(nodes) if n in held} | {w for w in wanted if w in held}


def _targets(graph: Graph, steps: Sequence[torch.fx.Node]) -> list[torch.fx.Node]:
    """What the passes of ``steps`` compute (a norm's input, another checkpoint itself), and the result."""
    return [(_inputs(n)[0] if n in graph.norms else n) for n in steps] + [graph.result]


def _pass(
    state: _State, target: torch.fx.Node, tile: int, pending: Sequence[torch.fx.Node], *, keep: bool
) -> tuple[torch.Tensor | None, Moments]:
    """``target`` over the whole image, tile by tile: its moments, and with ``keep`` the whole activation.

    Each tile is grown by the receptive field of the layers the pass runs. A kept activation is
    written into a held one that no step of ``pending`` reads and that has its shape, when there is
    one (in place: a tile's core is written once every tile that reads it has run, i.e. a row of
    tiles late when the pass reads that activation's neighbourhood), else into a new tensor.
    """
    graph = state.graph
    nodes = _closure(graph, [target], state.held)
    leaves = _leaves(nodes)
    reach: dict[torch.fx.Node, dict[torch.fx.Node, int]] = {leaf: {leaf: 0} for leaf in leaves}
    for node in nodes:  # per leaf: image pixels of context between it and the node
        reach[node] = {}
        for i in _inputs(node):
            for leaf, distance in reach[i].items():
                reach[node][leaf] = max(reach[node].get(leaf, 0), distance + graph.halo[node])
    margin = ALIGN * math.ceil(max(reach[target].values()) / ALIGN)
    coarsest = min(GROWTH, *(graph.factor[n] for n in [*nodes, *leaves]))
    f = graph.factor[target]
    shape = (state.image.shape[0], graph.channels[target], state.padded[0] // f, state.padded[1] // f)
    row_spans = spans(state.padded[0], tile * coarsest, margin)
    col_spans = spans(state.padded[1], tile * coarsest, margin)
    # Written a row late, a core must outlast the next row's reach into the one before it.
    late_ok = min(s.core_stop - s.core_start for s in row_spans) >= margin + ALIGN
    leaves_held = {leaf: state.held[leaf] for leaf in leaves if leaf in state.held}
    buffer, delay = None, False
    if keep:
        later = _needed(graph, _targets(graph, pending), {*state.held, target})
        spare = [
            leaf
            for leaf in leaves_held
            if leaf not in later and leaves_held[leaf].shape == shape and (late_ok or reach[target][leaf] == 0)
        ]
        if spare:
            leaf = min(spare, key=lambda n: reach[target][n])
            buffer, delay = state.held.pop(leaf), reach[target][leaf] > 0
        else:
            buffer = state.image.new_empty(shape)
    last_use = {n: index for index, node in enumerate(nodes) for n in _inputs(node)}
    moments: Moments | None = None
    waiting: list[tuple[tuple[slice, slice], torch.Tensor]] = []
    for rows in row_spans:
        written: list[tuple[tuple[slice, slice], torch.Tensor]] = []
        for cols in col_spans:
            env: dict[torch.fx.Node, torch.Tensor] = {}
            for leaf in leaves:
                if leaf is graph.source:
                    env[leaf] = crop_padded(state.image, rows, cols)
                else:
                    g = graph.factor[leaf]
                    env[leaf] = leaves_held[leaf][
                        ..., rows.start // g : rows.stop // g, cols.start // g : cols.stop // g
                    ]
            for index, node in enumerate(nodes):
                env[node] = _run(state, node, env)
                for i in _inputs(node):
                    if last_use.get(i) == index and i is not target:
                        del env[i]
            top, left = (rows.core_start - rows.start) // f, (cols.core_start - cols.start) // f
            place = (
                slice(rows.core_start // f, rows.core_stop // f),
                slice(cols.core_start // f, cols.core_stop // f),
            )
            core = env[target][
                ..., top : top + place[0].stop - place[0].start, left : left + place[1].stop - place[1].start
            ]
            part = Moments.of(core)
            moments = part if moments is None else moments.merge(part)
            if buffer is not None:
                written.append((place, core))
            if not delay:
                for where, value in written:
                    buffer[..., where[0], where[1]] = value  # type: ignore[index]
                written = []
        for where, value in waiting:
            buffer[..., where[0], where[1]] = value  # type: ignore[index]
        waiting = written
    for where, value in waiting:
        buffer[..., where[0], where[1]] = value  # type: ignore[index]
    assert moments is not None
    return buffer, moments


def _release(state: _State, pending: Sequence[torch.fx.Node]) -> None:
    """Drop held activations that nothing still to compute reads."""
    keep = _needed(state.graph, _targets(state.graph, pending), state.held)
    for node in list(state.held):
        if node not in keep:
            del state.held[node]


def checkpoints(graph: Graph, keep_bytes: float = KEEP_BYTES) -> list[torch.fx.Node]:
    """Where the passes stop, in order: every norm; and every small activation that is read twice (a
    skip) or that adds two (the end of a residual block: one held activation instead of two)."""
    return [
        node
        for node in graph.nodes
        if node in graph.norms
        or (
            (len(node.users) > 1 or node.target in (operator.add, torch.add))
            and graph.bytes_per_pixel(node) <= keep_bytes
        )
    ]


def stylize_tiled(
    network: PaddedNet, image: torch.Tensor, tile: int | None = None, keep_bytes: float = KEEP_BYTES
) -> torch.Tensor:
    """``network(image)`` for an (N, 3, H, W) image, computed in tiles of about ``tile`` x ``tile``
    pixels (default ``TILE``) with every instance norm's statistics taken over the whole image (see
    the module docstring)."""
    tile = TILE if tile is None else tile
    if tile % ALIGN:
        raise ValueError(f"tile {tile} must be a multiple of {ALIGN}")
    graph = trace(network)
    height, width = image.shape[-2:]
    state = _State(graph, image, padded_size(height, width), {}, {})
    steps = checkpoints(graph, keep_bytes)
    for index, node in enumerate(steps):
        pending = steps[index + 1 :]
        if node in graph.norms:
            (source,) = _inputs(node)
            # Held when small, and normalised in place: so only when nothing else reads the norm's input.
            hold = graph.bytes_per_pixel(source) <= keep_bytes and len(source.users) == 1
            buffer, moments = _pass(state, source, tile, pending, keep=hold)
            layer = graph.module.get_submodule(str(node.target))
            state.affine[node] = moments.affine(layer)  # type: ignore[arg-type]
            if buffer is not None:
                scale, shift = state.affine[node]
                state.held[node] = buffer.mul_(scale).add_(shift)
        else:
            buffer, _ = _pass(state, node, tile, pending, keep=True)
            assert buffer is not None
            state.held[node] = buffer
        _release(state, pending)
    out, _ = _pass(state, graph.result, tile, (), keep=True)
    assert out is not None
    return out[..., :height, :width]


def run_network(network: nn.Module, image: torch.Tensor, limit: int = TILE_ABOVE) -> torch.Tensor:
    """``network(image)`` for (N, 3, H, W) images; a feed-forward style network runs in tiles, one image
    at a time, when an image has more than ``limit`` pixels. Other networks (a zero-training style's
    ``ReferenceNet``) are called as they are: they tile what they run themselves."""
    height, width = image.shape[-2:]
    if not needs_tiling(height, width, limit) or not isinstance(network, PaddedNet):
        whole: torch.Tensor = network(image)
        return whole
    try:
        if image.shape[0] == 1:
            return stylize_tiled(network, image)
        out = image.new_empty(image.shape[0], 3, height, width)
        for index in range(image.shape[0]):
            out[index : index + 1] = stylize_tiled(network, image[index : index + 1])
        return out
    except TilingError as err:
        raise StylizeError(
            f"a {width}x{height} working image is too large to run whole with this network, which cannot be "
            f"run in tiles ({err}); give a scale above {math.sqrt(height * width / limit):.1f} to run it smaller"
        ) from None
