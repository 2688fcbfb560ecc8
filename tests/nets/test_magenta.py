"""The magenta architecture: the zero-training transformer with one style fixed in its norms."""

from __future__ import annotations

import torch

from stylize.inference.arbitrary import Transformer, fixed_style_network, run_transformer
from stylize.inference.model_file import load_model, save_model
from stylize.inference.reference_style import neutral_vector
from stylize.nets.magenta import MagentaNet
from stylize.nets.transformer import arch_spec, build_network


def test_fixed_style_network_computes_what_the_transformer_does_with_that_vector():
    generator = torch.Generator().manual_seed(3)
    vector = torch.from_numpy(neutral_vector()) + 0.5 * torch.randn(100, generator=generator)
    network = fixed_style_network(vector)
    images = torch.rand(2, 3, 37, 50, generator=generator)  # odd sides: both pad to a multiple of 4
    with torch.no_grad():
        ours = network(images)
        theirs = run_transformer(Transformer(), images, vector, 1.0)
    assert isinstance(network, MagentaNet) and ours.shape == images.shape
    assert (ours - theirs).abs().max() < 1e-4
    other = fixed_style_network(vector + 1.0)
    with torch.no_grad():
        assert (other(images) - ours).abs().max() > 1e-2  # the vector lives in the norms


def test_magenta_model_files_round_trip(tmp_path):
    network = fixed_style_network(torch.from_numpy(neutral_vector()))
    save_model(tmp_path, network, {"name": "m", "kind": "style", "references": []})
    loaded = load_model(tmp_path)
    assert loaded.metadata["architecture"] == arch_spec("magenta").to_json()
    images = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        assert torch.equal(loaded.network(images), network(images))
    assert sum(p.numel() for p in build_network("magenta").parameters()) == sum(p.numel() for p in network.parameters())
