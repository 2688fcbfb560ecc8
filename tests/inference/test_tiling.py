"""Tiled inference (stylize/inference/tiling.py): the same pixels as running whole, in bounded memory,
and a file that runs out of memory fails alone."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from stylize.inference.image import ApplySettings, resize_batch, stylize_batch, to_tensor
from stylize.inference.styles import load_style
from stylize.inference.tiling import needs_tiling, run_network


def _face(height: int, width: int) -> torch.Tensor:
    from stylize.content.compose import iter_faces

    rgb = next(iter(iter_faces([3]))).rgb
    return resize_batch(to_tensor(rgb), (height, width))


@pytest.mark.parametrize("style", ["pencil-nano", "pencil"])
def test_tiles_give_the_whole_images_pixels(style):
    """Every instance norm runs with whole-image statistics and every tile sees its receptive field,
    so tiled and whole agree to float rounding: at most 1/255 (one level) anywhere, measured 0.000."""
    network = load_style(style).network
    image = _face(300, 292)  # not a multiple of the tile: edge tiles are partial and padded
    assert needs_tiling(300, 292, 96 * 96)
    with torch.inference_mode():
        whole = network(image).clamp(0, 1)
        tiled = run_network(network, image, limit=96 * 96).clamp(0, 1)
    assert tiled.shape == whole.shape
    assert float((whole - tiled).abs().max()) * 255 < 1.0


def test_small_portraits_take_the_untiled_path():
    network = load_style("pencil-nano").network
    image = _face(285, 295)
    assert not needs_tiling(285, 295)
    with torch.inference_mode():
        assert torch.equal(stylize_batch(network, image), network(image).clamp(0, 1))


def test_settings_apply_to_tiled_images_as_to_whole_ones():
    network = load_style("pencil-nano").network
    image = _face(200, 200)
    settings = ApplySettings(strength=0.5, preserve_color=True, scale=1.0)
    whole = stylize_batch(network, image, settings, tile_above=10**9)
    tiled = stylize_batch(network, image, settings, tile_above=64 * 64)
    assert float((whole - tiled).abs().max()) * 255 < 1.0


def test_a_file_that_runs_out_of_memory_fails_alone(tmp_path, monkeypatch):
    from stylize.inference import bulk, chunk_work

    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    for name, size in (("big.png", 64), ("a.png", 32), ("b.png", 32)):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(inputs / name)
    real = chunk_work.stylize_batch

    def starved(network, content, settings):
        if content.shape[-1] == 64:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")
        return real(network, content, settings)

    monkeypatch.setattr(chunk_work, "stylize_batch", starved)
    result = bulk.apply("pencil-nano", [inputs], tmp_path / "out", device="cpu", progress=False)
    assert len(result.failed) == 1 and "big.png: out of memory stylizing this 64x64 image" in result.failed[0]
    assert sorted(path.name for path in result.written) == ["a.png", "b.png"]


@pytest.mark.slow
@pytest.mark.parametrize("style", ["pencil-nano", "pencil"])
def test_a_4000_pixel_portrait_stays_under_1_5_gb(tmp_path, style):
    """Issue 16 item 2: a 4000x4000 PNG took 7.3 GB with a nano network; tiled, the whole `stylize apply`
    process (decode, network, encode) stays under 1.5 GB with any bundled network."""
    from stylize.imageio import write_png
    from stylize.inference.image import to_uint8

    inputs = tmp_path / "in"
    write_png(inputs / "big.png", to_uint8(_face(4000, 4000)))
    code = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run([sys.executable, '-m', 'stylize', 'apply', '--style', sys.argv[1], sys.argv[2], '--out',"
        " sys.argv[3], '-q', '--device', 'cpu'], stdout=subprocess.DEVNULL)\n"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, style, str(inputs), str(tmp_path / "out")], capture_output=True, text=True
    )
    returncode, peak_kb = (int(word) for word in out.stdout.split()[-2:])
    assert returncode == 0, out.stderr
    assert peak_kb / 1024**2 < 1.5, f"peak {peak_kb / 1024**2:.2f} GB"
    assert Image.open(tmp_path / "out" / "big.png").size == (4000, 4000)
