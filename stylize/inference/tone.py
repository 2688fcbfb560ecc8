"""Keeping the cast's values: a portrait's own light and dark, at low frequency, under the style's strokes.

Why: a style network normalises its features per image (instance norm), so a dark-skinned and a
light-skinned character, black and blond hair, come out the same paper tone: the spread of face
lightness across a cast kept 8-36 % of the unstyled spread with the bundled styles. An artist drawing
the cast keeps its values: a darker face is drawn darker, in the medium's own range.

Method (pure functions of content, styled image and a network's tonal key; no learned part):

- *Value maps.* Luma (Rec. 601) of the content and of the styled image, each low-passed by a tent
  filter of :data:`CELL` working pixels on a side (two box passes per axis; edge-normalised), so only
  what lies above the strokes' scale is touched: the face's and the hair's tone, not the hatching.
- *The tonal key* (:class:`ToneCalibration`) is measured once per network (once a process for the
  networks of one style: :func:`identify`) on :data:`CALIBRATION_SEEDS` faces of the bundled sample
  tree at :data:`CALIBRATION_SCALE` (:func:`calibrate`): the typical portrait's value map
  (``typical``), the network's value map for it (``typical_out``), both as :data:`GRID` x :data:`GRID`
  cells of relative position, and the style's ``paper`` (the :data:`PAPER_QUANTILE` of its values).
  Train, distill and ``stylize style`` record it in model.json.
- *The target* of the styled value map is ``typical_out + TARGET * (content value - typical)``: a
  portrait as light as the typical one keeps the style's own tones, a darker one goes darker, a paler
  one lighter. The map moves ``keep_values`` of the way there.
- *By density, in the style's range*: where the map must darken, each pixel's luma ``L`` is raised to a
  power (the styled image scaled by ``L ** (p - 1)``, ``p`` >= 1 chosen from the map and its target), so
  the dark strokes go darker faster than the paper: a darker face is drawn with denser, darker strokes
  on a slightly darker paper, as an artist draws it, rather than the whole drawing dimmed (a multiply
  lowers the strokes' contrast, reads as a grey veil and moved the style score by +0.04..+0.18); where
  it must lighten, the same on ``1 - L`` (mid-tones go to paper first, the darkest strokes last).
  :data:`DENSITY` of each pass is done so, the rest by the ratio of the maps (multiply or screen),
  which keeps the ratios of the dark values where the features are.
  :data:`ITERATIONS` passes, each measuring the map again, bring it to the target (a power's mean is
  not the power of the mean). Darkening saturates near :data:`FLOOR`, lightening at the style's paper;
  powers stay within 1..:data:`POWER_MAX`.

Hue stays the style's (a luma ratio scales the three channels together); ``--preserve-color`` is still
the way to keep the portrait's colours. ``keep_values`` 0 gives the styled image back unchanged.
Everything but the key is local within the tent's support, so a whole image, its row blocks
(:func:`keep_values_in_place`) and the ONNX graph (:class:`ValueKeeper`, which stretches the key's maps
without shape arithmetic, so OpenCV loads it) compute the same thing. The graph runs on the image its
caller edge-padded to multiples of 4; apply runs the op on that same frame (:func:`keep_values`: the image
edge-padded, the network's uncropped output over it) and crops back, so the two agree at every size, the
padded edges included. The key's maps are a Pioneer portrait's layout: an image laid out
otherwise takes them as its reference too.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from stylize.errors import StylizeError, shown
from stylize.nets.padded import pad_bottom_right, pad_frame, padding_for

CELL = 33  # working pixels: each box pass's side (odd); the tent spans about 2 * CELL
TARGET = 1.3  # a portrait's departure from the typical, in value, times this: the style's value map's departure
FLOOR = 0.04  # darkening saturates there
PAPER_QUANTILE = 0.95  # the style's light end: this quantile of its value maps on the calibration faces
CALIBRATION_SEEDS = tuple(range(100000, 100008))  # bundled sample tree faces, none of the evaluated ones
CALIBRATION_SCALE = 0.5  # the faces are run at half size: a quarter of the cost, the same low frequencies
KEY_METHOD = "stylize-values/1"  # how the tonal key is measured: recorded with the key in model.json
METHOD = "stylize-values/3"  # the op (density, two passes, on the graph's padded frame): in manifests and ONNX metadata
ITERATIONS = 2  # passes of the op, each from the value map the last one left
POWER_MAX = 8.0  # the steepest power a pass uses
# The share of each pass done by density (a power of luma), the rest by a multiply/screen. On 16 game
# faces: density alone costs the style score nothing on pencil (a multiply alone +0.09) but crushes
# the dark values where a face's features are, and the face judge's same person fell to 12 of 16 on
# two zero-training styles (asheville, la_muse; 15 and 14 with the multiply); 0.7 keeps 13-16 of 16
# at +0.01 on pencil (docs/results/values.md).
DENSITY = 0.7
_EPS = 1e-3


GRID = 12  # the typical portrait's value map: GRID x GRID cells of relative position


@dataclass(frozen=True)
class ToneCalibration:
    """A network's tonal key, measured on the calibration faces (see the module docstring)."""

    typical: tuple[tuple[float, ...], ...]  # GRID x GRID low-frequency luma of the typical portrait
    typical_out: tuple[tuple[float, ...], ...]  # the same of the network's painting of it
    paper: float  # the style's light end: lightening saturates there

    def __post_init__(self) -> None:
        for grid in (self.typical, self.typical_out):
            if len(grid) != GRID or any(len(row) != GRID for row in grid):
                raise StylizeError(f"tone calibration maps must be {GRID} x {GRID} numbers")
        numbers = (self.paper, *(v for grid in (self.typical, self.typical_out) for row in grid for v in row))
        for value in numbers:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise StylizeError(f"tone calibration holds {shown(value)}, not a number within 0..1")

    @cached_property
    def grids(self) -> torch.Tensor:
        """(2, 1, GRID, GRID): ``typical`` and ``typical_out`` as one tensor (made once per key)."""
        return torch.tensor([self.typical, self.typical_out], dtype=torch.float32)[:, None]

    def maps(self, size: Sequence[int], device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """The typical portrait's value map and the network's for it, stretched over an image of ``size``."""
        stretched = resize_map(self.grids.to(device), size)
        return stretched[0:1], stretched[1:2]

    def record(self) -> dict[str, Any]:
        return {
            "method": KEY_METHOD,
            "paper": round(self.paper, 6),
            "typical": [[round(v, 6) for v in row] for row in self.typical],
            "typical_out": [[round(v, 6) for v in row] for row in self.typical_out],
        }

    @classmethod
    def from_record(cls, record: Any, where: str) -> ToneCalibration | None:
        """The calibration ``record`` holds; None when it was made by another method (it is measured again)."""
        if not isinstance(record, dict) or record.get("method") != KEY_METHOD:
            return None
        if set(record) != {"method", "paper", "typical", "typical_out"}:
            raise StylizeError(f"{where}: 'values' must hold method, paper, typical and typical_out; remake the style")
        try:
            return cls(
                typical=tuple(tuple(row) for row in record["typical"]),
                typical_out=tuple(tuple(row) for row in record["typical_out"]),
                paper=record["paper"],
            )
        except (TypeError, StylizeError) as err:
            raise StylizeError(f"{where}: 'values' is not a tone calibration ({err}); remake the style") from None


def in_onnx_export() -> bool:
    """``torch.onnx.is_in_onnx_export()``, without importing ``torch.onnx`` (26 modules, 0.15 s of a
    command's start) when nothing has: no export can be running then."""
    return "torch.onnx" in sys.modules and torch.onnx.is_in_onnx_export()


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) Rec. 601 luma of (N, 3, H, W) RGB in 0..1."""
    return 0.299 * rgb[:, 0:1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:3]


def _box(x: torch.Tensor, cell: int, dim: int) -> torch.Tensor:
    half = cell // 2
    if dim == 3:
        return F.avg_pool2d(x, (1, cell), stride=1, padding=(0, half), count_include_pad=False)
    return F.avg_pool2d(x, (cell, 1), stride=1, padding=(half, 0), count_include_pad=False)


def low_pass(x: torch.Tensor, cell: int = CELL) -> torch.Tensor:
    """A tent filter of ``cell`` (odd) on a side per pass, edge-normalised: two box passes per axis (the
    average counts only pixels inside the image, so any size works, a side shorter than ``cell`` too)."""
    cell = max(1, int(cell) | 1)
    if torch.jit.is_tracing() or in_onnx_export():  # the graph: an AveragePool along each axis
        for dim in (3, 3, 2, 2):
            x = _box(x, cell, dim)
        return x
    # The passes along columns run as passes along rows of the transposed map: the same numbers bit for bit
    # (each window is summed in the same order), 2-2.5x faster for the whole filter on the CPU, where a
    # (cell, 1) window runs 3-10x slower than a (1, cell) one.
    x = _box(_box(x, cell, 3), cell, 3).transpose(2, 3).contiguous()
    return _box(_box(x, cell, 3), cell, 3).transpose(2, 3).contiguous()


def cell_for(scale: float) -> int:
    """The box side in output pixels for stroke size ``scale`` (the network ran at 1/scale: its pixels are ``scale`` wide)."""
    return max(1, round(CELL * scale)) | 1


def frame_size(height: int, width: int) -> tuple[int, int]:
    """The frame the op runs on for an image of ``height`` x ``width``: the image edge-padded at the bottom
    and right as an exported graph's caller pads it (:func:`stylize.nets.padded.padding_for`)."""
    pad_h, pad_w = padding_for(height, width)
    return height + pad_h, width + pad_w


def _framed(content: torch.Tensor, styled: torch.Tensor) -> torch.Tensor:
    """``styled`` over the frame of ``content`` (N, C, H, W): as it is when it already covers the frame (a
    network's uncropped output), else edge-padded; anything else is refused."""
    size, frame = tuple(content.shape[-2:]), frame_size(*content.shape[-2:])
    if tuple(styled.shape[-2:]) == frame:
        return styled
    if tuple(styled.shape[-2:]) != size:
        raise ValueError(
            f"styled image {tuple(styled.shape[-2:])} is neither the content's {size} nor its frame {frame}"
        )
    return pad_frame(styled)


def value_op(
    content: torch.Tensor,
    styled: torch.Tensor,
    keep: float,
    calibration: ToneCalibration,
    cell: int = CELL,
) -> torch.Tensor:
    """The op on exactly the images it is given, (N, 3, H, W) both: what an exported graph computes on its
    (padded) input (:class:`ValueKeeper`). Apply pads first: :func:`keep_values`."""
    if keep <= 0.0:
        return styled
    typical, typical_out = calibration.maps(content.shape[-2:], content.device)
    return move_values(content, styled, typical, typical_out, keep, calibration.paper, cell)


def keep_values(
    content: torch.Tensor,
    styled: torch.Tensor,
    keep: float,
    calibration: ToneCalibration,
    cell: int = CELL,
) -> torch.Tensor:
    """``styled`` 0..1 with its low-frequency values moved ``keep`` of the way to ``content``'s (N, 3, H, W);
    (N, 3, H, W) out. The op runs on the frame an exported graph sees (:func:`frame_size`): ``content``
    edge-padded, and ``styled`` either the network's output over that frame (uncropped) or, of the content's
    size, edge-padded; the result cropped back. So apply computes what the graph does at every size (an
    image whose sides are multiples of 4 and at least 16 has nothing padded: :func:`value_op` on it)."""
    height, width = content.shape[-2:]
    if keep <= 0.0:  # the styled image itself, or the network's frame cropped back
        return styled if tuple(styled.shape[-2:]) == (height, width) else styled[..., :height, :width]
    styled = _framed(content, styled)
    moved = value_op(pad_frame(content), styled, keep, calibration, cell)
    return moved if tuple(moved.shape[-2:]) == (height, width) else moved[..., :height, :width].contiguous()


def resize_map(grid: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """(N, 1, GRID, GRID) maps of relative positions stretched over an image of ``size`` (bilinear)."""
    return F.interpolate(grid, size=tuple(size[-2:]), mode="bilinear", align_corners=False)


def clamp(x: torch.Tensor, low: float | None = None, high: float | None = None) -> torch.Tensor:
    """``x.clamp(low, high)``; in an ONNX export ``relu(x - low) + low`` and ``high - relu(high - x)`` instead,
    the same to float rounding: OpenCV 4.6 loads no opset-13 ``Clip`` (it takes Clip's bounds as
    attributes only)."""
    if not in_onnx_export():
        return x.clamp(low, high)
    if low is not None:
        x = F.relu(x) if low == 0.0 else F.relu(x - low) + low
    if high is not None:
        x = high - F.relu(high - x)
    return x


def _saturate(shift: torch.Tensor, room: torch.Tensor) -> torch.Tensor:
    """``shift`` (>= 0) approaching ``room`` (>= 0) smoothly instead of passing it."""
    return room * (1.0 - torch.exp(-shift / (room + _EPS)))


def move_values(
    content: torch.Tensor,
    styled: torch.Tensor,
    typical: torch.Tensor,
    typical_out: torch.Tensor,
    keep: float,
    paper: float | torch.Tensor,
    cell: int,
) -> torch.Tensor:
    """The op: the styled value map moved ``keep`` of the way to ``typical_out + TARGET * (content - typical)``."""
    value_out = low_pass(luma(styled), cell)
    target = _target(low_pass(luma(content), cell), value_out, typical, typical_out, keep, paper)
    for step in range(ITERATIONS):
        styled = _density(styled, value_out if step == 0 else low_pass(luma(styled), cell), target)
    return clamp(styled, 0.0, 1.0)


def _target(
    value_in: torch.Tensor,
    value_out: torch.Tensor,
    typical: torch.Tensor,
    typical_out: torch.Tensor,
    keep: float,
    paper: float | torch.Tensor,
) -> torch.Tensor:
    """The value map ``value_out`` should reach: moved ``keep`` of the way to its aim, within FLOOR..paper."""
    shift = keep * (typical_out + TARGET * (value_in - typical) - value_out)
    darker = _saturate(F.relu(-shift), F.relu(value_out - FLOOR))
    light_end = clamp(paper, FLOOR) if isinstance(paper, torch.Tensor) else max(paper, FLOOR)
    lighter = _saturate(F.relu(shift), F.relu(light_end - value_out))
    return value_out - darker + lighter


def _power(base: torch.Tensor, exponent: torch.Tensor) -> torch.Tensor:
    """``base ** exponent`` as Exp(Log) (a Pow with a tensor exponent is an operator OpenCV 4.6 lacks)."""
    return torch.exp(exponent * torch.log(base))


def _density(styled: torch.Tensor, value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """One pass: ``styled`` darkened by a power of its luma where ``value`` (its map) lies above ``target``,
    lightened by a power of ``1 - luma`` where below; each power is 1 (no change) on the other side."""
    low, high = _EPS, 1.0 - _EPS
    ratio = clamp(torch.log(clamp(target, low, high)) / torch.log(clamp(value, low, high)), 1.0, POWER_MAX)
    ratio_light = clamp(
        torch.log(clamp(1.0 - target, low, high)) / torch.log(clamp(1.0 - value, low, high)), 1.0, POWER_MAX
    )
    light = clamp(luma(styled), low, high)
    darker = styled * _power(light, ratio - 1.0)
    dense = 1.0 - (1.0 - darker) * _power(1.0 - light, ratio_light - 1.0)
    # The rest by the ratio of the maps (a multiply toward black, a screen toward white): it keeps the
    # ratios of dark values a power alone crushes, where a face's features are (see DENSITY).
    dim = clamp(target / clamp(value, _EPS), high=1.0)
    bright = clamp((1.0 - target) / clamp(1.0 - value, _EPS), high=1.0)
    return DENSITY * dense + (1.0 - DENSITY) * (1.0 - (1.0 - styled * dim) * bright)


def keep_values_in_place(
    content: torch.Tensor,
    styled: torch.Tensor,
    keep: float,
    calibration: ToneCalibration,
    cell: int = CELL,
    rows_per_step: int = 256,
) -> torch.Tensor:
    """:func:`keep_values` written into ``styled``, ``rows_per_step`` rows at a time, for a big image whose
    whole-image value maps would need a dozen float copies of it. Each block is computed from the block
    grown by the op's reach (the filter's, once per pass), so it is the whole image's; a block is written
    back once the next one, the last to read its rows, is computed. The same result up to float rounding.

    As :func:`keep_values`, on the frame an exported graph sees: ``styled`` is of the content's size or
    the network's uncropped output over the frame; each block is edge-padded at the right, the last ones
    at the bottom too, as far as the frame reaches. The result is written into ``styled``'s first H rows
    and W columns and returned as that (N, 3, H, W) view."""
    height, width = content.shape[-2:]
    if keep <= 0.0:
        return styled[..., :height, :width]
    full_height, full_width = frame_size(height, width)
    framed = tuple(styled.shape[-2:]) == (full_height, full_width)
    if not framed and tuple(styled.shape[-2:]) != (height, width):
        raise ValueError(f"styled image {tuple(styled.shape[-2:])} is neither the content's nor its frame")
    cell = max(1, int(cell) | 1)
    reach = ITERATIONS * 2 * (cell // 2)  # two box passes of cell // 2 on each side, per pass of the op
    rows_per_step = max(rows_per_step, reach)
    grids = calibration.grids.to(styled.device)
    columns = F.interpolate(grids, size=(full_height, GRID), mode="bilinear", align_corners=False)
    pending: tuple[int, torch.Tensor] | None = None
    for top in range(0, height, rows_per_step):
        bottom = min(height, top + rows_per_step)
        low, high = max(0, top - reach), min(height, bottom + reach)
        end = full_height if high == height else high  # a block reaching the image's bottom takes the frame's
        maps = F.interpolate(
            columns[..., low:end, :], size=(end - low, full_width), mode="bilinear", align_corners=False
        )
        content_block = pad_bottom_right(content[..., low:high, :], end - high, full_width - width)
        if framed:
            styled_block = styled[..., low:end, :].clamp(0, 1)
        else:
            styled_block = pad_bottom_right(styled[..., low:high, :].clamp(0, 1), end - high, full_width - width)
        block = move_values(content_block, styled_block, maps[0:1], maps[1:2], keep, calibration.paper, cell)[
            ..., top - low : bottom - low, :width
        ]
        if pending is not None:
            styled[..., pending[0] : pending[0] + pending[1].shape[-2], :width] = pending[1]
        pending = (top, block)
    if pending is not None:
        styled[..., pending[0] : pending[0] + pending[1].shape[-2], :width] = pending[1]
    return styled[..., :height, :width]


class _CumSum(torch.autograd.Function):
    """Running sums of ones along the last axis, forward (1, 2, .. W) or reverse (W, .., 2, 1): one ONNX
    CumSum each (OpenCV 4.6's CumSum is right along the last axis only; its other axes crash it)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, reverse: bool) -> torch.Tensor:
        return x.flip(-1).cumsum(-1).flip(-1) if reverse else x.cumsum(-1)

    @staticmethod
    def symbolic(g: Any, x: Any, reverse: bool) -> Any:
        axis = g.op("Constant", value_t=torch.tensor(3, dtype=torch.int64))
        return g.op("CumSum", x, axis, reverse_i=int(reverse))


def _relative(ones: torch.Tensor) -> torch.Tensor:
    """(k + 0.5) / W at each column k of (N, 1, H, W) ones: exact to float rounding (sums of ones)."""
    before, after = _CumSum.apply(ones, False), _CumSum.apply(ones, True)  # k + 1 and W - k
    return (before - 0.5) / (before + after - 1.0)


_ALL = 1 << 30  # a slice's end past any side


def _ones(like: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) ones, computed from ``like`` (N, C, H, W): no shape in the graph."""
    return like[:, :1] * 0.0 + 1.0


class ValueKeeper(nn.Module):
    """:func:`keep_values` at fixed settings as a module, for the exported ONNX graph:
    ``forward(content, styled[, mix])``.

    ``keys``: a trained style's tonal key, or one per style of a zero-training export (their ``typical``
    maps are the same calibration faces'; the first key's is used), mixed by ``mix``.

    No shape arithmetic: OpenCV's importer refuses ``Shape`` on a dynamic input, so the key's maps are
    stretched over the image without :func:`resize_map`. Each row's and column's relative position comes
    from running sums of ones along the image's first column and first row (a forward and a reverse
    ``CumSum`` along the last axis give k + 1 and W - k, so (k + 0.5) / W with no size anywhere; the
    column transposed); its bilinear weights on the GRID cells are ``relu(1 - |source - j|)`` with the
    source cell ``position * GRID - 0.5`` clamped to the grid, as ``F.interpolate(..., mode="bilinear",
    align_corners=False)`` computes them (a 1x1 convolution with bias -j makes the GRID differences), and
    each map is (row weights x grid) @ column weights: one ``MatMul`` of (H, GRID) by (GRID, W). The same
    numbers as :func:`keep_values` to float rounding. Its operators (Slice, Mul, Add, Sub, Div, Neg,
    CumSum, Transpose, Concat, Conv, Abs, Relu, MatMul, AveragePool, Exp) load in OpenCV 4.6 (with dynamic
    height and width) and 4.14."""

    def __init__(self, keys: ToneCalibration | Sequence[ToneCalibration], keep: float, cell: int = CELL) -> None:
        super().__init__()
        keys = [keys] if isinstance(keys, ToneCalibration) else list(keys)
        if not keys:
            raise ValueError("ValueKeeper needs a tonal key")
        self.keep, self.paper, self.cell, self.count = float(keep), keys[0].paper, cell, len(keys)
        grids = torch.stack([keys[0].grids[0, 0], *(key.grids[1, 0] for key in keys)])  # typical, typical_outs
        self.register_buffer("taps", torch.ones(GRID, 1, 1, 1))
        self.register_buffer("tap_bias", -torch.arange(GRID, dtype=torch.float32))
        # per map, a 1x1 convolution of the row weights: output channel l is sum_j weight_j * grid[j, l]
        self.register_buffer("cells", grids.transpose(1, 2).reshape(len(grids), GRID, GRID, 1, 1).contiguous())
        self.register_buffer("papers", torch.tensor([key.paper for key in keys]).reshape(len(keys), 1, 1, 1))
        self.register_buffer("mix_sum", torch.ones(1, len(keys), 1, 1))

    def _weights(self, ones: torch.Tensor) -> torch.Tensor:
        """(N, GRID, 1, L): the bilinear weights of the GRID cells at each of L positions, from (N, 1, 1, L) ones."""
        source = clamp(_relative(ones) * GRID - 0.5, 0.0, GRID - 1.0)
        return F.relu(1.0 - F.conv2d(source, self.taps, self.tap_bias).abs())

    def maps(self, content: torch.Tensor) -> torch.Tensor:
        """(N, 1 + keys, H, W): the typical map, then each key's ``typical_out``, stretched over ``content``."""
        first_column = content[:, :1, 0:_ALL, :1] * 0.0 + 1.0  # (N, 1, H, 1); the Slice's axes adjacent (OpenCV 4.6)
        first_row = content[:, :1, :1, 0:_ALL] * 0.0 + 1.0  # (N, 1, 1, W)
        rows = self._weights(first_column.transpose(2, 3))  # (N, GRID, 1, H)
        columns = self._weights(first_row).permute(0, 2, 1, 3)  # (N, 1, GRID, W)
        # Each map added to zeros computed from the image: OpenCV 4.6's importer sizes a binary op's output
        # by its first operand and misjudges a MatMul's, so the image-sized operand comes first.
        zeros = content[:, :1] * 0.0
        stretched = [
            zeros + torch.matmul(F.conv2d(rows, self.cells[index]).permute(0, 2, 3, 1), columns)  # (N, 1, H, GRID) @
            for index in range(len(self.cells))
        ]
        return torch.cat(stretched, 1)

    def forward(self, content: torch.Tensor, styled: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        """``styled`` with ``content``'s values kept; ``mix`` (1, keys, 1, 1), weights summing to 1, mixes the
        keys' ``typical_out`` and ``paper`` (a zero-training export's normalised style weights)."""
        maps = self.maps(content)
        if mix is None:
            if self.count != 1:
                raise ValueError("a ValueKeeper of several keys needs their mix")
            return move_values(content, styled, maps[:, 0:1], maps[:, 1:2], self.keep, self.paper, self.cell)
        # both mixed as maps over the image: OpenCV 4.6 mis-sizes a (1, 1, 1, 1) tensor computed in the graph
        # against an image's, but takes an image-sized one times a (1, keys, 1, 1) one
        typical_out = F.conv2d(maps[:, 1:] * mix, self.mix_sum)
        paper = F.conv2d(F.conv2d(_ones(content), self.papers) * mix, self.mix_sum)
        return move_values(content, styled, maps[:, 0:1], typical_out, self.keep, paper, self.cell)


def _grid(value: torch.Tensor) -> torch.Tensor:
    """(1, 1, GRID, GRID) cell means of a (1, 1, H, W) map."""
    return F.adaptive_avg_pool2d(value, GRID)


def calibration_from(contents: torch.Tensor, styled: torch.Tensor, cell: int) -> ToneCalibration:
    """The tonal key from (N, 3, H, W) content images and the network's outputs for them."""
    values_in = low_pass(luma(contents.float()), cell)
    values_out = low_pass(luma(styled.float().clamp(0, 1)), cell)
    typical, typical_out = (_grid(v.mean(dim=0, keepdim=True))[0, 0] for v in (values_in, values_out))
    return ToneCalibration(
        typical=tuple(tuple(float(v) for v in row) for row in typical.tolist()),
        typical_out=tuple(tuple(float(v) for v in row) for row in typical_out.tolist()),
        paper=float(torch.quantile(values_out.flatten(), PAPER_QUANTILE)),
    )


_LOCK = threading.Lock()
_FACES: list[torch.Tensor] = []
_ATTRIBUTE = "_stylize_tone_calibration"
_IDENTITY = "_stylize_tone_identity"
# Tonal keys measured in this process, by the identity of what the network paints (:func:`identify`): a
# style loaded again (a studio's renders, a second command run in one process) is not measured again.
_MEASURED: dict[str, ToneCalibration] = {}
_MEASURED_LOCK = threading.Lock()
MEASURED_KEPT = 256  # keys kept (a few hundred bytes each); the oldest goes first


def calibration_faces() -> torch.Tensor:
    """The calibration portraits, (N, 3, H, W) 0..1: :data:`CALIBRATION_SEEDS` of the bundled sample tree
    at :data:`CALIBRATION_SCALE` of their size (composed once per process)."""
    with _LOCK:
        if not _FACES:
            import numpy as np

            from stylize.content.compose import compose_face, open_part_tree

            generator = open_part_tree(None)
            rgb = np.stack([compose_face(generator, seed).rgb for seed in CALIBRATION_SEEDS])
            faces = torch.from_numpy(rgb).permute(0, 3, 1, 2).float().div_(255.0)
            height, width = faces.shape[-2:]
            size = (round(height * CALIBRATION_SCALE), round(width * CALIBRATION_SCALE))
            _FACES.append(F.interpolate(faces, size=size, mode="bilinear", align_corners=False, antialias=True))
        return _FACES[0]


def attach(network: nn.Module, calibration: ToneCalibration) -> None:
    """Record ``network``'s calibration on it (read from its model file), so it is not measured again."""
    object.__setattr__(network, _ATTRIBUTE, calibration)


def identify(network: nn.Module, identity: str) -> None:
    """Name what ``network`` paints: ``identity`` is a hash of everything its output depends on (a model
    file's weights hash, kind, architecture and guard: :func:`stylize.inference.model_file.network_sha256`).
    Networks of one identity share one tonal key in a process: measured for the first, reused for the
    others (the same style loaded again, the same references made into a style again)."""
    object.__setattr__(network, _IDENTITY, identity)


@torch.inference_mode()
def calibrate(network: nn.Module) -> ToneCalibration:
    """``network``'s tonal key: the one attached to it, else the one measured in this process for a
    network of its identity (:func:`identify`), else measured on the calibration faces (about two
    full-size portraits' work); attached."""
    cached = getattr(network, _ATTRIBUTE, None)
    if isinstance(cached, ToneCalibration):
        return cached
    identity = getattr(network, _IDENTITY, None)
    if isinstance(identity, str):
        with _MEASURED_LOCK:
            known = _MEASURED.get(identity)
        if known is not None:
            attach(network, known)
            return known
    from stylize.inference.tiling import run_network
    from stylize.progress import phase

    phase("measuring the style's values")
    faces = calibration_faces()
    device = next(iter(network.parameters()), next(iter(network.buffers()), faces)).device
    outputs = run_network(network, faces.to(device)).float().cpu()
    calibration = calibration_from(faces, outputs, cell_for(CALIBRATION_SCALE))
    attach(network, calibration)
    if isinstance(identity, str):
        with _MEASURED_LOCK:
            _MEASURED[identity] = calibration
            while len(_MEASURED) > MEASURED_KEPT:
                del _MEASURED[next(iter(_MEASURED))]
    return calibration
