"""The ceiling a style network is measured against: Gatys et al. (2016) optimisation over pixels.

For one portrait, :func:`gatys_optimise` starts from the portrait itself and runs L-BFGS on its
pixels to lower the same weighted, normalised perceptual loss the style network was trained on
(:meth:`PerceptualObjective.training_terms`, same references, layers and weights: see
:func:`training_objective`). What a feed-forward network reaches in one pass, this reaches by
iterating on the one image: a network within 1.3x of its style distance at no worse content
distance is close to what the loss can give.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from stylize.config import parameter_default
from stylize.errors import StylizeError
from stylize.inference.image import to_tensor, to_uint8
from stylize.inference.model_file import StyleModel, reference_files
from stylize.nets.vgg import VGGFeatures
from stylize.training.perceptual import LossWeights, PerceptualObjective, trained_objective

# L-BFGS iterations: ~0.5 s each at 295x285 on an otherwise idle 2-core CPU (VGG19 to relu5_1, ~1.2 loss
# evaluations an iteration), so ~50 s a face. At 30 the loss only matched the pencil network's; at 100 it was
# well below it (0.73 against 1.12, after rounding to 8 bits).
CEILING_STEPS_DEFAULT = parameter_default("ceiling_steps")
CEILING_FACES_DEFAULT = parameter_default("ceiling_faces")
_CHUNK = 10  # iterations between clamps of the pixels to 0..1 (and loss-history points)


@dataclass
class CeilingResult:
    rgb: np.ndarray  # (H, W, 3) uint8, the optimised portrait
    iterations: int
    evaluations: int  # loss + gradient evaluations (the line search takes some)
    seconds: float
    start: dict[str, float]  # weighted total and the normalised terms of the content itself
    final: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)


def training_objective(
    model: StyleModel, device: torch.device | str = "cpu", *, vgg: VGGFeatures | None = None
) -> tuple[PerceptualObjective, LossWeights]:
    """The objective and weights ``model`` was trained with, from its model.json.

    ``vgg`` is used as the loss network when it computes the layers the training used (to share
    one between several styles); otherwise the objective builds its own.
    """
    refs = reference_files(model)
    if not refs:
        raise StylizeError(
            f"{model.directory}: style {model.name!r} records no references, so it has no ceiling; "
            "pass ceiling_faces=0",
            params=("ceiling_faces",),
        )
    training: dict[str, Any] = model.metadata.get("training", {})
    return trained_objective(training, refs, device=device, vgg=vgg), LossWeights.from_training(training)


def _weighted(
    terms: dict[str, torch.Tensor], style_weight: float, content_weight: float, tv_weight: float
) -> torch.Tensor:
    return LossWeights(style_weight, content_weight, tv_weight).total(terms)


@torch.no_grad()
def training_loss(
    rgb: np.ndarray,
    content_rgb: np.ndarray,
    objective: PerceptualObjective,
    *,
    style_weight: float = LossWeights.style,
    content_weight: float = LossWeights.content,
    tv_weight: float = LossWeights.tv,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """The weighted total and normalised terms of ``rgb`` as a stylization of ``content_rgb``: the
    loss :func:`gatys_optimise` lowers, for comparing any output (a network's) with its result."""
    terms = objective.training_terms(to_tensor(rgb).to(device), to_tensor(content_rgb).to(device))
    total = _weighted(terms, style_weight, content_weight, tv_weight)
    return {"total": float(total), **{key: float(value) for key, value in terms.items()}}


def gatys_optimise(
    content_rgb: np.ndarray,
    objective: PerceptualObjective,
    *,
    steps: int = CEILING_STEPS_DEFAULT,
    style_weight: float = LossWeights.style,
    content_weight: float = LossWeights.content,
    tv_weight: float = LossWeights.tv,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: Callable[[int, dict[str, float]], None] | None = None,
) -> CeilingResult:
    """Optimise the pixels of ``content_rgb`` ((H, W, 3) uint8) toward ``objective``'s style with
    L-BFGS (strong Wolfe line search) for ``steps`` iterations, starting from the content.

    Pixels are clamped to 0..1 every few iterations. Deterministic for a seed on one machine and
    thread count. ``progress(iterations_done, terms)`` is called after each chunk of iterations.
    """
    if steps < 1:
        raise StylizeError(f"ceiling steps {steps}: use 1 or more L-BFGS iterations")
    torch.manual_seed(seed)
    content = to_tensor(content_rgb).to(device)
    target = objective.content_target(content)
    pixels = content.clone(memory_format=torch.contiguous_format).requires_grad_(True)
    optimiser = torch.optim.LBFGS(
        [pixels],
        lr=1.0,
        max_iter=_CHUNK,
        history_size=20,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
    )
    last: dict[str, float] = {}
    evaluations = 0

    def closure() -> torch.Tensor:
        nonlocal evaluations
        optimiser.zero_grad(set_to_none=True)
        terms = objective.training_terms(pixels, content_features=target)
        total = _weighted(terms, style_weight, content_weight, tv_weight)
        total.backward()
        evaluations += 1
        last.clear()
        last.update({"total": float(total.detach()), **{k: float(v.detach()) for k, v in terms.items()}})
        if evaluations == 1:  # the content itself, before any change
            history.append({"iteration": 0, **last})
        return total

    history: list[dict[str, float]] = []
    started = time.perf_counter()
    done = 0
    while done < steps:
        chunk = min(_CHUNK, steps - done)
        optimiser.param_groups[0].update(max_iter=chunk, max_eval=chunk * 2)
        before = optimiser.state[pixels].get("n_iter", 0)
        optimiser.step(closure)
        with torch.no_grad():
            pixels.clamp_(0, 1)
        advanced = optimiser.state[pixels].get("n_iter", 0) - before
        if advanced <= 0:  # converged (gradient or change below tolerance)
            break
        done += advanced
        history.append({"iteration": done, **last})
        if progress is not None:
            progress(done, dict(last))
    with torch.no_grad():  # the clamped result, as returned
        terms = objective.training_terms(pixels, content_features=target)
        total = _weighted(terms, style_weight, content_weight, tv_weight)
        final = {"total": float(total), **{k: float(v) for k, v in terms.items()}}
    seconds = time.perf_counter() - started
    return CeilingResult(to_uint8(pixels.detach()), done, evaluations, seconds, history[0], final, history)
