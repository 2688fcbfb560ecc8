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

Memory stays bounded whatever the working size (``--scale`` below 1 enlarges it): the activations held
whole are limited to about :data:`HOLD_BYTES` (beyond, a norm's input is recomputed in the next pass:
slower, the same result), and :func:`stylize_resized` runs the network on an image resized for it
without that image or the network's output at its size ever existing whole: each tile's input is
resized from the image when the tile runs, and each tile's result resized into the output as it is
made (resizing is a linear map of each axis, :class:`AxisResize`, so the tiles' shares add up to the
whole image's result, up to float rounding).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Collection, Sequence
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
HOLD_BYTES = 1 << 30  # ... as long as about two of them (a residual block's input and middle) fit in this

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


def keep_bytes_for(height: int, width: int, keep_bytes: float = KEEP_BYTES) -> float:
    """The bytes per pixel up to which activations are held whole for a ``height`` x ``width`` working
    image: ``keep_bytes``, less for an image so big that two held activations would pass
    :data:`HOLD_BYTES` (it is then recomputed stage by stage: memory stays bounded at any size)."""
    return min(keep_bytes, HOLD_BYTES / (2 * height * width))


# --- resizing, one axis at a time, a block at a time ---------------------------------------------------------


@dataclass(frozen=True)
class AxisResize:
    """Resizing one axis from ``size_in`` to ``size_out`` pixels exactly as :func:`torch.nn.functional.interpolate`
    does (bilinear, ``align_corners=False``, ``antialias`` as given), as the banded matrix ``M`` with
    ``out = M @ in``: output ``i`` reads inputs ``first[i]`` to ``last[i]`` with ``weights[i, :]``."""

    size_in: int
    size_out: int
    first: torch.Tensor  # (size_out,) int64, non-decreasing
    last: torch.Tensor  # (size_out,) int64, non-decreasing
    weights: torch.Tensor  # (size_out, band) float32: weights[i, k] is M[i, first[i] + k]

    @staticmethod
    def of(size_in: int, size_out: int, antialias: bool) -> AxisResize:
        """torch's own weights, read by resizing impulses: input ``m`` is set in column ``m % period``, the
        impulses of a column far enough apart that no output reads two, so each output's weight in a column
        is that of the one impulse near it (an ``size_in`` x ``period`` image: no n x n matrix)."""
        ratio = size_in / size_out
        period = 2 * math.ceil(max(ratio, 1.0)) + 6  # an output reads inputs within max(ratio, 1) + 1 of its centre
        impulses = torch.zeros(1, 1, size_in, period)
        inputs = torch.arange(size_in)
        impulses[0, 0, inputs, inputs % period] = 1.0
        resized = F.interpolate(
            impulses, size=(size_out, period), mode="bilinear", align_corners=False, antialias=antialias
        )[0, 0]
        row, column = torch.nonzero(resized, as_tuple=True)
        value = resized[row, column]
        centre = (row.double() + 0.5) * ratio - 0.5
        col = column + period * torch.round((centre - column) / period).long()
        if bool((col < 0).any() or (col >= size_in).any()):  # pragma: no cover - the period is wide enough
            raise AssertionError(f"resize weights {size_in}->{size_out} could not be read")
        first = torch.full((size_out,), size_in, dtype=torch.int64).scatter_reduce(0, row, col, "amin")
        last = torch.full((size_out,), -1, dtype=torch.int64).scatter_reduce(0, row, col, "amax")
        band = int((last - first).max()) + 1
        weights = torch.zeros(size_out, band)
        weights[row, col - first[row]] = value
        return AxisResize(size_in, size_out, first, last, weights)

    def apply(self, x: torch.Tensor, dim: int, out_lo: int, out_hi: int, in_lo: int) -> torch.Tensor:
        """``M[out_lo:out_hi, in_lo:in_lo + n] @ x`` along ``dim`` of ``x`` (which holds inputs ``in_lo`` to
        ``in_lo + n``): outputs ``out_lo:out_hi`` from these inputs only (the others count 0). A few
        weighted row (or column) gathers, one per band position: no dense matrix."""
        count = x.shape[dim]
        first = self.first[out_lo:out_hi] - in_lo
        shape = [1] * x.dim()
        shape[dim] = out_hi - out_lo
        result: torch.Tensor | None = None
        for k in range(self.weights.shape[1]):
            index = first + k
            valid = (index >= 0) & (index < count)
            if not bool(valid.any()):
                continue
            weight = torch.where(valid, self.weights[out_lo:out_hi, k], 0.0).to(x.device, x.dtype).view(shape)
            term = x.index_select(dim, index.clamp(0, count - 1).to(x.device)) * weight
            result = term if result is None else result.add_(term)
        if result is None:
            size = list(x.shape)
            size[dim] = out_hi - out_lo
            return x.new_zeros(size)
        return result

    def inputs_of(self, out_lo: int, out_hi: int) -> tuple[int, int]:
        """The input range that outputs ``out_lo:out_hi`` read."""
        return int(self.first[out_lo]), int(self.last[out_hi - 1]) + 1

    def outputs_of(self, in_lo: int, in_hi: int) -> tuple[int, int]:
        """The output range that reads any of inputs ``in_lo:in_hi`` (empty when none does)."""
        lo = int(torch.searchsorted(self.last, in_lo))
        hi = int(torch.searchsorted(self.first, in_hi))
        return lo, max(lo, hi)


def _both_axes(size_in: tuple[int, int], size_out: tuple[int, int]) -> tuple[AxisResize, AxisResize]:
    """The two axes of resizing an image of ``size_in`` to ``size_out`` as ``resize_batch`` does (antialiased
    on both axes when either shrinks)."""
    antialias = size_out[0] < size_in[0] or size_out[1] < size_in[1]
    return AxisResize.of(size_in[0], size_out[0], antialias), AxisResize.of(size_in[1], size_out[1], antialias)


class ResizedImage:
    """``image`` (N, C, H, W) resized to ``size``, made a crop at a time: ``resized[..., rows, cols]``
    (slices) is that crop of the resized image, computed from the part of ``image`` it reads."""

    def __init__(self, image: torch.Tensor, size: tuple[int, int]) -> None:
        self.image = image
        self.rows, self.cols = _both_axes((image.shape[-2], image.shape[-1]), size)
        self.shape = torch.Size((*image.shape[:-2], *size))

    def new_empty(self, shape: Sequence[int]) -> torch.Tensor:
        return self.image.new_empty(shape)

    def __getitem__(self, key: tuple[Any, slice, slice]) -> torch.Tensor:
        rows, cols = key[-2], key[-1]
        r0, r1, _ = rows.indices(self.shape[-2])
        c0, c1, _ = cols.indices(self.shape[-1])
        (i0, i1), (j0, j1) = self.rows.inputs_of(r0, r1), self.cols.inputs_of(c0, c1)
        part = self.image[..., i0:i1, j0:j1].float()
        return self.cols.apply(self.rows.apply(part, -2, r0, r1, i0), -1, c0, c1, j0)


class ResizeInto:
    """Adds blocks of an image of ``size_in`` into ``out`` (N, C, H, W) resized to ``out``'s size: after a
    block for every pixel, ``out`` holds the whole image resized (``resize_batch``), up to float rounding."""

    def __init__(self, out: torch.Tensor, size_in: tuple[int, int]) -> None:
        self.out = out
        self.size_in = size_in
        self.rows, self.cols = _both_axes(size_in, (out.shape[-2], out.shape[-1]))

    def add(self, place: tuple[slice, slice], block: torch.Tensor) -> None:
        """Add ``block``, the pixels ``place`` of the image (parts past its edge, the padding, are dropped)."""
        r0, c0 = place[0].start, place[1].start
        r1, c1 = min(place[0].stop, self.size_in[0]), min(place[1].stop, self.size_in[1])
        if r1 <= r0 or c1 <= c0:
            return
        (i0, i1), (j0, j1) = self.rows.outputs_of(r0, r1), self.cols.outputs_of(c0, c1)
        if i1 <= i0 or j1 <= j0:
            return
        part = block[..., : r1 - r0, : c1 - c0].to(self.out.dtype)
        self.out[..., i0:i1, j0:j1] += self.cols.apply(self.rows.apply(part, -2, i0, i1, r0), -1, j0, j1, c0)


def crop_padded(image: torch.Tensor | ResizedImage, rows: Span, cols: Span) -> torch.Tensor:
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
    image: torch.Tensor | ResizedImage  # the network's input, whole or made a crop at a time
    padded: tuple[int, int]
    held: dict[torch.fx.Node, torch.Tensor]
    affine: dict[torch.fx.Node, tuple[torch.Tensor, torch.Tensor]]
    tile: int = TILE


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
    state: _State,
    target: torch.fx.Node,
    tile: int,
    pending: Sequence[torch.fx.Node],
    *,
    keep: bool,
    sink: Callable[[tuple[slice, slice], torch.Tensor], None] | None = None,
) -> tuple[torch.Tensor | None, Moments]:
    """``target`` over the whole image, tile by tile: its moments, and with ``keep`` the whole activation;
    ``sink(place, core)`` is given each tile's core instead when it is set (``keep`` False).

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
            if sink is not None:
                sink(place, core)
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
    network: PaddedNet,
    image: torch.Tensor,
    tile: int | None = None,
    keep_bytes: float = KEEP_BYTES,
    *,
    framed: bool = False,
) -> torch.Tensor:
    """``network(image)`` for an (N, 3, H, W) image, computed in tiles of about ``tile`` x ``tile``
    pixels (default ``TILE``) with every instance norm's statistics taken over the whole image (see
    the module docstring); ``framed``: ``network.framed(image)``, the output over the padded frame."""
    state = _stages(network, image, tile, keep_bytes)
    height, width = image.shape[-2:]
    out, _ = _pass(state, state.graph.result, state.tile, (), keep=True)
    assert out is not None
    return out if framed else out[..., :height, :width]


def stylize_resized(
    network: PaddedNet,
    image: torch.Tensor,
    size: tuple[int, int],
    tile: int | None = None,
    keep_bytes: float = KEEP_BYTES,
) -> torch.Tensor:
    """``resize(network(resize(image, size)), image's size)`` (as ``resize_batch`` resizes) for an (N, 3, H, W)
    image, with neither the resized image nor the network's output at ``size`` ever made whole: each
    tile's input is resized from ``image`` as the tile runs, each tile's result resized into the output.
    Memory: the image, the output, the held activations (bounded) and one tile's work."""
    source = ResizedImage(image, size)
    state = _stages(network, source, tile, keep_bytes)
    out = torch.zeros(image.shape[0], 3, image.shape[-2], image.shape[-1], dtype=torch.float32, device=image.device)
    into = ResizeInto(out, size)
    _pass(state, state.graph.result, state.tile, (), keep=False, sink=into.add)
    return out


def _stages(network: PaddedNet, image: torch.Tensor | ResizedImage, tile: int | None, keep_bytes: float) -> _State:
    """Every norm's statistics measured (and the small activations held), pass by pass, up to the last
    stage: what the final pass needs to compute the network's output tile by tile."""
    tile = TILE if tile is None else tile
    if tile % ALIGN:
        raise ValueError(f"tile {tile} must be a multiple of {ALIGN}")
    graph = trace(network)
    height, width = image.shape[-2:]
    keep_bytes = keep_bytes_for(height, width, keep_bytes)
    state = _State(graph, image, padded_size(height, width), {}, {}, tile)
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
    return state


def run_network(
    network: nn.Module, image: torch.Tensor, limit: int = TILE_ABOVE, *, framed: bool = False
) -> torch.Tensor:
    """``network(image)`` for (N, 3, H, W) images; a feed-forward style network runs in tiles, one image
    at a time, when an image has more than ``limit`` pixels. Other networks (a zero-training style's
    ``ReferenceNet``) are called as they are: they tile what they run themselves. ``framed``: a feed-forward
    network's output over its padded frame (``network.framed``, uncropped); other networks' as they give it."""
    height, width = image.shape[-2:]
    if not needs_tiling(height, width, limit) or not isinstance(network, PaddedNet):
        whole: torch.Tensor = network.framed(image) if framed and isinstance(network, PaddedNet) else network(image)
        return whole
    return _image_by_image(lambda one: stylize_tiled(network, one, framed=framed), image, (height, width), limit)


def run_network_resized(
    network: PaddedNet, image: torch.Tensor, size: tuple[int, int], limit: int = TILE_ABOVE
) -> torch.Tensor:
    """``resize(network(resize(image, size)), image's size)`` for (N, 3, H, W) images, in tiles, one image at
    a time, never holding the image at ``size`` (:func:`stylize_resized`): for a working image larger than
    the image itself (``--scale`` below 1)."""
    return _image_by_image(lambda one: stylize_resized(network, one, size), image, size, limit)


def _image_by_image(
    run: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, size: tuple[int, int], limit: int
) -> torch.Tensor:
    """``run`` on each image of the batch; a network tiling cannot split is one line naming the way out."""
    height, width = size
    try:
        if image.shape[0] == 1:
            return run(image)
        first = run(image[:1])
        out = first.new_empty(image.shape[0], *first.shape[1:])
        out[:1] = first
        for index in range(1, image.shape[0]):
            out[index : index + 1] = run(image[index : index + 1])
        return out
    except TilingError as err:
        raise StylizeError(
            f"a {width}x{height} working image is too large to run whole with this network, which cannot be "
            f"run in tiles ({err}); give a scale above {math.sqrt(height * width / limit):.1f} to run it smaller"
        ) from None
