"""Tiled inference: tiles give the whole-image result (no seams), big images stay in bounded memory,
and an image that still does not fit fails alone while the other files are written."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import processes
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from stylize import StylizeError
from stylize.inference.image import ApplySettings, stylize_batch, to_uint8
from stylize.inference.styles import load_style
from stylize.inference.tiling import ALIGN, run_network, spans, stylize_tiled, trace
from stylize.nets.padded import PaddedNet

# Tiled against whole on the same image: float rounding only (measured 7e-7), so at most 1 level of 255.
MAX_FLOAT_DIFFERENCE = 1e-5


def _portrait(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """A smooth image with fine noise: edges, flat areas and texture, (1, 3, H, W) in 0..1."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    base = torch.stack([x.expand(height, width), y.expand(height, width), ((x * 7).sin() * (y * 5).cos() + 1) / 2])
    base[:, height // 3 : height // 2, width // 4 : width // 2] = 0.9  # a bright block: sharp edges
    return (base[None] + 0.05 * torch.randn(1, 3, height, width, generator=generator)).clamp(0, 1)


@pytest.mark.parametrize("style", [pytest.param("pencil", marks=pytest.mark.slow), "pencil-nano"])  # magenta, nano
def test_tiles_give_the_whole_image_result(style):
    network = load_style(style).network
    image = _portrait(301, 250)  # odd sides: the last tiles are padded as the whole image is
    with torch.inference_mode():
        whole = network(image)
        tiled = stylize_tiled(network, image, tile=64)  # 5 x 4 tiles at full resolution
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max().item() < MAX_FLOAT_DIFFERENCE
    difference = np.abs(to_uint8(tiled).astype(int) - to_uint8(whole).astype(int))
    assert difference.max() <= 1 and difference.mean() < 1e-3


@pytest.mark.slow
def test_a_working_image_too_big_to_hold_activations_is_recomputed_alike(monkeypatch):
    """Past HOLD_BYTES (a huge working image) no activation is held whole: each norm's input is recomputed
    from the image instead (slower), with the same result; memory stays bounded at any size."""
    from stylize.inference import tiling

    assert tiling.keep_bytes_for(4000, 4000) == tiling.KEEP_BYTES  # a 4000x4000 portrait: as measured
    assert tiling.keep_bytes_for(16000, 16000) < 8  # 8000x8000 at scale 0.5: nothing held
    network = load_style("pencil-nano").network
    image = _portrait(150, 130, seed=4)
    monkeypatch.setattr(tiling, "HOLD_BYTES", 1000)
    with torch.inference_mode():
        whole = network(image)
        recomputed = stylize_tiled(network, image, tile=64)
    assert (recomputed - whole).abs().max().item() < MAX_FLOAT_DIFFERENCE


@pytest.mark.slow
def test_stylize_batch_tiles_big_images_only():
    network = load_style("pencil-nano").network
    image = _portrait(700, 540, seed=1)
    for settings, tolerance in (
        (ApplySettings(strength=0.7), MAX_FLOAT_DIFFERENCE),
        # Kept colours of a tiled image are converted a block of rows at a time: its lightness
        # statistics are summed in another order (measured 4e-6). A scale below 1: the working image is
        # resized from the content, and back, a tile at a time.
        (ApplySettings(preserve_color=True, scale=0.9), 1e-4),
    ):
        whole = stylize_batch(network, image, settings, tile_above=10**9)
        tiled = stylize_batch(network, image, settings, tile_above=100_000)  # 2 x 2 tiles
        assert (tiled - whole).abs().max().item() < tolerance, settings
    # Odd sides (padded to 304x252): the value op runs on the padded frame over the network's uncropped
    # output, tiled (row blocks, the tiles' frame) as whole.
    odd = _portrait(301, 250, seed=5)
    whole = stylize_batch(network, odd, ApplySettings(), tile_above=10**9)
    tiled = stylize_batch(network, odd, ApplySettings(), tile_above=30_000)
    assert tiled.shape == whole.shape == odd.shape and (tiled - whole).abs().max().item() < MAX_FLOAT_DIFFERENCE
    small = _portrait(285, 295, seed=2)  # a game portrait: the untiled path, bit for bit
    with torch.inference_mode():
        assert torch.equal(stylize_batch(network, small, ApplySettings(keep_values=0.0)), network(small).clamp(0, 1))


class _LargestTensor(TorchDispatchMode):
    """Records the most elements of any floating-point tensor an operation makes while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in tree_leaves(out):
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                self.largest = max(self.largest, value.numel())
        return out


@pytest.mark.slow  # 2 to 5 s: every operation goes through the recording mode
def test_a_scale_below_1_never_makes_the_working_image_whole(monkeypatch):
    """--scale 0.25 runs the network on an image 16 times the content's size. Neither that image nor the
    network's output at its size is ever made whole (issue 25: 8000x8000 at scale 0.5 peaked at 9.7 GB):
    no float tensor of its size (3 values a pixel) exists, the held activations being 2 a pixel; the
    result is the whole-image one."""
    from stylize.inference import tiling
    from stylize.inference.image import working_size
    from stylize.inference.tone import calibrate

    monkeypatch.setattr(tiling, "TILE", 64)  # tiles much smaller than the working image
    network = load_style("pencil-nano").network
    content = _portrait(56, 48, seed=3)
    settings = ApplySettings(scale=0.25, strength=0.8)
    height, width = working_size(56, 48, settings.scale)
    calibrate(network)  # the value op's tonal key: measured once, on small faces of a fixed size
    with _LargestTensor() as seen:
        streamed = stylize_batch(network, content, settings, tile_above=64 * 64)
    assert seen.largest < 3 * height * width, f"a tensor of {seen.largest} values ({height}x{width} working image)"
    whole = stylize_batch(network, content, settings, tile_above=10**9)  # resized, run whole, resized back
    assert streamed.shape == content.shape and (streamed - whole).abs().max().item() < 1e-4


def test_axis_resize_is_torchs_resize():
    """The banded weights the streamed resize uses are torch's own: any sizes, either way, with and
    without antialiasing, and applied to a block of inputs they give those inputs' share."""
    from stylize.inference.tiling import AxisResize

    generator = torch.Generator().manual_seed(0)
    for size_in, size_out in ((1, 7), (7, 1), (37, 80), (80, 37), (301, 1203), (1203, 301), (50, 50), (999, 1000)):
        for antialias in (False, True):
            axis = AxisResize.of(size_in, size_out, antialias)
            x = torch.rand(1, 2, size_in, 3, generator=generator)
            wanted = nn.functional.interpolate(
                x, size=(size_out, 3), mode="bilinear", align_corners=False, antialias=antialias
            )
            assert (axis.apply(x, -2, 0, size_out, 0) - wanted).abs().max().item() < 1e-6
            cut = size_in // 2  # two blocks of inputs, each's share of every output, add up to the whole
            halves = axis.apply(x[..., :cut, :], -2, 0, size_out, 0) + axis.apply(x[..., cut:, :], -2, 0, size_out, cut)
            assert (halves - wanted).abs().max().item() < 1e-6


def test_tiles_cover_the_axis_once_on_the_network_grid():
    for length, core, margin in ((4000, 512, 8), (1000, 1024, 4), (516, 64, 16), (16, 64, 0)):
        layout = spans(length, core, margin)
        assert [s.core_start for s in layout] == [0] + [s.core_stop for s in layout[:-1]]
        assert layout[-1].core_stop == length
        assert len({s.stop - s.start for s in layout}) == 1  # one tile shape
        for s in layout:
            assert s.start % ALIGN == 0 and s.core_start % ALIGN == 0 and s.core_stop - s.core_start <= core
            assert s.start <= max(0, s.core_start - margin) and s.stop >= min(length, s.core_stop + margin)


class _Pooled(PaddedNet):
    """A network with an operation tiling does not split (max pooling)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def core(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(nn.functional.interpolate(nn.functional.max_pool2d(self.conv(x), 2), scale_factor=2))


def test_a_network_that_cannot_be_tiled_is_refused_in_one_line():
    from stylize.inference.tiling import TilingError

    with pytest.raises(TilingError, match="max_pool2d"):
        trace(_Pooled())
    with pytest.raises(StylizeError, match="cannot be run in tiles.*give a scale above") as caught:
        run_network(_Pooled(), torch.zeros(1, 3, 40, 40), limit=1000)
    assert "\n" not in str(caught.value)
    assert run_network(_Pooled(), torch.zeros(1, 3, 20, 20), limit=1000).shape == (1, 3, 20, 20)  # small: whole


def _run_child(code: str, *, timeout: int) -> subprocess.CompletedProcess[str]:
    return processes.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout)


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
@pytest.mark.parametrize("style", ["pencil-nano", "pencil"])  # nano and magenta: memory depends on the arch
def test_a_4000x4000_portrait_stays_under_1_5_gb(tmp_path, style):
    """The whole ``stylize apply`` in a child process, measured by its own peak resident size (VmHWM: the
    child's ru_maxrss would also count the pages of this process it was forked from)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:4000, 0:4000]
    rgb = np.stack([x * 255 // 3999, y * 255 // 3999, (x // 7 + y // 5) % 256], axis=-1)
    rgb = np.clip(rgb + rng.integers(-8, 8, rgb.shape), 0, 255).astype(np.uint8)
    (tmp_path / "in").mkdir()
    Image.fromarray(rgb).save(tmp_path / "in/big.png", compress_level=1)
    del rgb, x, y
    done = _run_child(
        f"""
        import sys
        from stylize.cli import main
        code = main(["apply", {str(tmp_path / "in")!r}, "--style", {style!r}, "--out", {str(tmp_path / "out")!r},
                     "--device", "cpu", "-q"])
        peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
        print("peak_bytes", int(peak.split()[1]) * 1024)
        sys.exit(code)
        """,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    peak = int(done.stdout.split("peak_bytes")[1])
    assert peak < 1.5e9, f"peak {peak / 1e9:.2f} GB"
    assert Image.open(tmp_path / "out/big.png").size == (4000, 4000)


@pytest.mark.slow
def test_a_scale_below_1_costs_less_than_a_copy_of_its_working_image(tmp_path):
    """A 1200x1200 image at scale 1 and at scale 0.5 (a 2400x2400 working image), in one child process,
    each run's peak resident size above its start (VmHWM, reset between the runs through
    /proc/self/clear_refs). The smaller strokes may hold bigger activations (bounded: HOLD_BYTES), but
    never the working image or the network's output at its size: the extra is under one float copy of
    the working image (69 MB; measured 31 MB, and 127 MB before, when both were made whole)."""
    done = _run_child(
        """
        import numpy as np, torch
        from stylize.inference.image import ApplySettings, stylize_batch, to_tensor, to_uint8
        from stylize.inference.styles import load_style

        def status(key):
            return int(next(l for l in open("/proc/self/status") if l.startswith(key)).split()[1]) * 1024

        network = load_style("pencil-nano").network
        y, x = np.mgrid[0:1200, 0:1200]
        rgb = np.stack([x * 255 // 1199, y * 255 // 1199, (x // 7 + y // 5) % 256], -1).astype(np.uint8)
        to_uint8(stylize_batch(network, to_tensor(rgb[:300, :300]), ApplySettings(scale=0.5)))  # libraries loaded
        for scale in (1.0, 0.5):
            open("/proc/self/clear_refs", "w").write("5")
            start = status("VmRSS:")
            to_uint8(stylize_batch(network, to_tensor(rgb), ApplySettings(scale=scale)))
            print("peak", scale, status("VmHWM:") - start)
        """,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    peaks = {float(scale): int(peak) for _, scale, peak in (line.split() for line in done.stdout.splitlines())}
    working_copy = 2400 * 2400 * 3 * 4
    assert peaks[0.5] - peaks[1.0] < working_copy, f"peaks {peaks}"


@pytest.mark.slow
def test_an_image_too_big_for_memory_fails_alone(tmp_path):
    """Under an address-space limit, a portrait that cannot be stylized in it (6000x6000: its float copies
    and held activations need about 1.5 GB) is one failure line naming it; the files around it are written.
    (A small scale no longer runs out of memory: the working image is never made whole.)"""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, side in (("a.png", 60), ("b_big.png", 6000), ("c.png", 50)):
        Image.fromarray(np.full((side, side, 3), 128, np.uint8)).save(inputs / name)
    done = _run_child(
        f"""
        import resource, sys
        import torch
        size = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
        limit = size + 1024**3  # what torch maps already, and 1 GB more
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        from stylize.cli import main
        sys.exit(main(["apply", {str(inputs)!r}, "--style", "pencil-nano", "--out", {str(tmp_path / "out")!r},
                       "--device", "cpu", "-q"]))
        """,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("stylize: error:")]
    assert len(errors) == 1 and "b_big.png" in errors[0] and "out of memory" in errors[0], done.stderr
    assert "scale above 1" in errors[0]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["a.png", "c.png"]
    assert "stylized 2 images" in done.stdout and "1 inputs failed" in done.stdout
