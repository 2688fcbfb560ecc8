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
- *In the style's range*: the styled image is multiplied toward black where it must darken and
  screened toward white where it must lighten, by the ratio of its value map to the target, so strokes
  keep their relative contrast and no value leaves 0..1; darkening saturates near :data:`FLOOR`,
  lightening at the style's paper.

Hue stays the style's (a luma ratio scales the three channels together); ``--preserve-color`` is still
the way to keep the portrait's colours. ``keep_values`` 0 gives the styled image back unchanged.
Everything but the key is local within the tent's support, so a whole image, its row blocks
(:func:`keep_values_in_place`) and the ONNX graph (:class:`ValueKeeper`) compute the same thing, up to
the graph seeing its edge padding. The key's maps are a Pioneer portrait's layout: an image laid out
otherwise takes them as its reference too.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from stylize.errors import StylizeError, shown

CELL = 33  # working pixels: each box pass's side (odd); the tent spans about 2 * CELL
TARGET = 1.3  # a portrait's departure from the typical, in value, times this: the style's value map's departure
FLOOR = 0.04  # darkening saturates there
PAPER_QUANTILE = 0.95  # the style's light end: this quantile of its value maps on the calibration faces
CALIBRATION_SEEDS = tuple(range(100000, 100008))  # bundled sample tree faces, none of the evaluated ones
CALIBRATION_SCALE = 0.5  # the faces are run at half size: a quarter of the cost, the same low frequencies
METHOD = "stylize-values/1"
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
            "method": METHOD,
            "paper": round(self.paper, 6),
            "typical": [[round(v, 6) for v in row] for row in self.typical],
            "typical_out": [[round(v, 6) for v in row] for row in self.typical_out],
        }

    @classmethod
    def from_record(cls, record: Any, where: str) -> ToneCalibration | None:
        """The calibration ``record`` holds; None when it was made by another method (it is measured again)."""
        if not isinstance(record, dict) or record.get("method") != METHOD:
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
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():  # the graph: an AveragePool along each axis
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


def keep_values(
    content: torch.Tensor,
    styled: torch.Tensor,
    keep: float,
    calibration: ToneCalibration,
    cell: int = CELL,
) -> torch.Tensor:
    """``styled`` (N, 3, H, W) 0..1 with its low-frequency values moved ``keep`` of the way to the content's."""
    if keep <= 0.0:
        return styled
    typical, typical_out = calibration.maps(content.shape[-2:], content.device)
    return move_values(content, styled, typical, typical_out, keep, calibration.paper, cell)


def resize_map(grid: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """(N, 1, GRID, GRID) maps of relative positions stretched over an image of ``size`` (bilinear)."""
    return F.interpolate(grid, size=tuple(size[-2:]), mode="bilinear", align_corners=False)  # traced: dynamic


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
    darken, lighten = _ratios(
        low_pass(luma(content), cell), low_pass(luma(styled), cell), typical, typical_out, keep, paper
    )
    return (1.0 - (1.0 - styled * darken) * lighten).clamp(0.0, 1.0)


def _ratios(
    value_in: torch.Tensor,
    value_out: torch.Tensor,
    typical: torch.Tensor,
    typical_out: torch.Tensor,
    keep: float,
    paper: float | torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(darken, lighten): the factors that move value map ``value_out`` to its target (each <= 1)."""
    shift = keep * (typical_out + TARGET * (value_in - typical) - value_out)
    darker = _saturate((-shift).clamp(min=0.0), (value_out - FLOOR).clamp(min=0.0))
    light_end = paper.clamp(min=FLOOR) if isinstance(paper, torch.Tensor) else max(paper, FLOOR)
    lighter = _saturate(shift.clamp(min=0.0), (light_end - value_out).clamp(min=0.0))
    target = value_out - darker + lighter
    darken = (target / value_out.clamp(min=_EPS)).clamp(max=1.0)
    lighten = ((1.0 - target) / (1.0 - value_out).clamp(min=_EPS)).clamp(max=1.0)
    return darken, lighten


def keep_values_in_place(
    content: torch.Tensor,
    styled: torch.Tensor,
    keep: float,
    calibration: ToneCalibration,
    cell: int = CELL,
    rows_per_step: int = 256,
) -> torch.Tensor:
    """:func:`keep_values` written into ``styled``, ``rows_per_step`` rows at a time, for a big image whose
    whole-image value maps would need a dozen float copies of it. Each block's maps are computed from the
    block grown by the filter's reach (so they are the whole image's), its factors kept until every block's
    are known (the blocks overlap), then applied in place. The same result up to float rounding."""
    if keep <= 0.0:
        return styled
    height, width = styled.shape[-2:]
    cell = max(1, int(cell) | 1)
    reach = 2 * (cell // 2)  # two box passes of cell // 2 on each side
    grids = calibration.grids.to(styled.device)
    columns = F.interpolate(grids, size=(height, GRID), mode="bilinear", align_corners=False)
    factors = []
    for top in range(0, height, rows_per_step):
        bottom = min(height, top + rows_per_step)
        low, high = max(0, top - reach), min(height, bottom + reach)
        rows = slice(top - low, bottom - low)
        value_in = low_pass(luma(content[..., low:high, :]), cell)[..., rows, :]
        value_out = low_pass(luma(styled[..., low:high, :].clamp(0, 1)), cell)[..., rows, :]
        maps = F.interpolate(
            columns[..., top:bottom, :], size=(bottom - top, width), mode="bilinear", align_corners=False
        )
        factors.append(_ratios(value_in, value_out, maps[0:1], maps[1:2], keep, calibration.paper))
    for index, (darken, lighten) in enumerate(factors):
        block = styled[..., index * rows_per_step : index * rows_per_step + darken.shape[-2], :]
        block.mul_(darken).neg_().add_(1.0).mul_(lighten).neg_().add_(1.0).clamp_(0.0, 1.0)
    return styled


class ValueKeeper(nn.Module):
    """:func:`keep_values` at fixed settings as a module, for the exported ONNX graph: ``forward(content, styled)``.

    Its operators (AveragePool, Resize, Mul, Add, Sub, Div, Exp, Clip) are ones OpenCV 4.6 loads."""

    grids: torch.Tensor

    def __init__(self, calibration: ToneCalibration, keep: float, cell: int = CELL) -> None:
        super().__init__()
        self.keep, self.paper, self.cell = float(keep), calibration.paper, cell
        self.register_buffer("grids", calibration.grids.clone())

    def forward(self, content: torch.Tensor, styled: torch.Tensor) -> torch.Tensor:
        maps = resize_map(self.grids, content.shape[-2:])
        return move_values(content, styled, maps[0:1], maps[1:2], self.keep, self.paper, self.cell)

    def forward_with(
        self, content: torch.Tensor, styled: torch.Tensor, typical_out: torch.Tensor, paper: torch.Tensor
    ) -> torch.Tensor:
        """:meth:`forward` with another network's ``typical_out`` grid (1, 1, GRID, GRID) and ``paper`` (a mix's)."""
        maps = resize_map(torch.cat([self.grids[0:1], typical_out]), content.shape[-2:])
        return move_values(content, styled, maps[0:1], maps[1:2], self.keep, paper, self.cell)


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
