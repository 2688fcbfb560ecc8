"""The C++ consumer (stylize/assets/cpp, OpenCV's DNN module) of an fp32 ONNX export: it builds, and its
outputs match ONNX Runtime on the same export and `stylize apply` (alpha byte for byte, RGB within 2
levels, mean within 0.5 levels; with the value op in the graph, the default, within 1 level of apply's and
ONNX Runtime's everywhere, the padded edges included) on an RGBA portrait with holes at an odd size, an opaque
composited face, greyscale, grey+alpha and 16-bit files; --bench prints JSON; bad models and images
give one-line errors. Skips without cmake, a C++ compiler or OpenCV's development files, unless
STYLIZE_REQUIRE_TOOLS=1 (as in .ci/run)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import processes
import pytest
from conftest import BUNDLED_PARTS, require_tool
from PIL import Image

from stylize import StylizeError
from stylize.imageio import read_image, write_png
from stylize.shipping.cpp import (
    build_cpp_example,
    find_cpp_tools,
    run_cpp_bench,
    run_cpp_stylize,
)

MAX_LEVELS = 2  # largest |C++ - Python| per channel, in 8-bit levels
MEAN_LEVELS = 0.5  # largest mean |C++ - Python| over the image
RUNTIME_MEAN_LEVELS = 0.05  # largest mean |C++ - ONNX Runtime| on the same export (measured 0.0003)
# The value op (keep_values > 0, in the graph) runs in apply on the frame the graph sees (the image edge-padded
# as the caller pads it, the network's uncropped output over it): C++, ONNX Runtime and apply agree to a level
# over the whole image at every size, the padded edges included (docs/shipping.md, "Apply and the graph").
VALUES_MAX_LEVELS = 1
INPUT_NAMES = (
    "rgba_holes_301x287",
    "face_295x285",
    "face_292x284",
    "grey_61x45",
    "grey_13x9",
    "grey_alpha_50x40",
    "grey16_40x30",
    "rgba16_37x29",
)


@pytest.fixture(scope="session")  # session: checked before the session fixture tiny_styles trains
def cpp_binary(tmp_path_factory) -> Path:
    missing = find_cpp_tools()
    require_tool(f"{missing} for examples/cpp (apt-get install cmake g++ pkg-config libopencv-dev)", missing is None)
    return build_cpp_example(tmp_path_factory.mktemp("cpp_build"))


@pytest.fixture(scope="module")
def exports(tiny_styles, tmp_path_factory) -> dict[str, Path]:
    """The tiny 'inky' style exported at each precision with the default keep_values (the value op in the
    graph), and at fp32 without it ("flat")."""
    from stylize.inference.styles import load_style
    from stylize.shipping.onnx_export import export_onnx

    model = load_style("inky", tiny_styles)
    folder = tmp_path_factory.mktemp("onnx")
    paths = {
        precision: export_onnx(
            model, folder / f"inky_{precision}.onnx", precision=precision, check=precision == "fp32"
        ).path
        for precision in ("fp32", "fp16", "int8")
    }
    paths["flat"] = export_onnx(model, folder / "inky_flat.onnx", keep_values=0.0).path
    return paths


def _gradient(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x * 3 + y) % 256], axis=-1)
    return np.clip(base + rng.integers(-25, 25, base.shape), 0, 255).astype(np.uint8)


def _make_inputs(folder: Path) -> dict[str, Path]:
    import cv2

    from stylize.content.compose import iter_faces

    folder.mkdir(parents=True)
    rgba = np.dstack([_gradient(301, 287, 1), np.full((287, 301), 255, np.uint8)])
    rgba[40:120, 30:90, 3] = 0  # transparent holes
    rgba[150:170, 200:290, 3] = 0
    rgba[230:, :, 3] = 128  # a half-transparent band
    rgba[:, 295:, 3] = np.arange(6, dtype=np.uint8) * 40  # alpha ramps at the right edge
    Image.fromarray(rgba, "RGBA").save(folder / "rgba_holes_301x287.png")
    face = next(iter(iter_faces("7", parts=BUNDLED_PARTS)))
    write_png(folder / "face_295x285.png", face.rgb)
    write_png(folder / "face_292x284.png", face.rgb[:284, :292])  # multiples of 4: the graph pads nothing
    Image.fromarray(_gradient(61, 45, 3)[..., 0], "L").save(folder / "grey_61x45.png")
    Image.fromarray(_gradient(13, 9, 4)[..., 1], "L").save(folder / "grey_13x9.png")  # below the 16-pixel minimum
    grey_alpha = np.dstack([_gradient(50, 40, 5)[..., 2], np.tile(np.arange(50, dtype=np.uint8) * 5, (40, 1))])
    Image.fromarray(grey_alpha, "LA").save(folder / "grey_alpha_50x40.png")
    Image.fromarray(_gradient(40, 30, 6)[..., 0].astype(np.uint16) * 257 + 100).save(folder / "grey16_40x30.png")
    rgba16 = np.random.default_rng(7).integers(0, 65536, (29, 37, 4), dtype=np.uint16)  # BGRA for cv2.imwrite
    cv2.imwrite(str(folder / "rgba16_37x29.png"), rgba16)
    return {path.stem: path for path in sorted(folder.glob("*.png"))}


@pytest.fixture(scope="module")
def compared(
    cpp_binary, exports, tiny_styles, tmp_path_factory
) -> dict[tuple[str, str], tuple[Path, Path, Path, float]]:
    """Per (export, input), export "fp32" (the default keep_values) or "flat" (keep_values 0): (input,
    stylize apply's output at the same keep_values, the C++ output, C++ ms per image)."""
    from stylize.inference.bulk import apply

    root = tmp_path_factory.mktemp("cpp_compare")
    inputs = _make_inputs(root / "in")
    results = {}
    for export, keep in (("fp32", None), ("flat", 0.0)):
        python = root / f"python_{export}"
        apply("inky", [root / "in"], python, styles_dir=tiny_styles, device="cpu", progress=False, keep_values=keep)
        for name, path in inputs.items():
            out = root / f"cpp_{export}" / f"{name}.png"
            ms = run_cpp_stylize(cpp_binary, exports[export], path, out)
            results[export, name] = (path, python / f"{name}.png", out, ms)
    return results


def _levels(produced: np.ndarray, expected: np.ndarray) -> tuple[int, float]:
    diff = np.abs(produced.astype(np.int16) - expected.astype(np.int16))
    return int(diff.max()), float(diff.mean())


def _check_file(source: Path, python_out: Path, cpp_out: Path, ms: float) -> None:
    """What the C++ writes is what apply writes: size, PNG mode, alpha byte for byte, atomically."""
    expected, produced = read_image(python_out), read_image(cpp_out)
    assert ms > 0
    assert produced.size == expected.size == read_image(source).size
    assert Image.open(cpp_out).mode == Image.open(python_out).mode  # RGBA exactly where apply writes RGBA
    if expected.alpha is None:
        assert produced.alpha is None
    else:
        assert produced.alpha is not None and np.array_equal(produced.alpha, expected.alpha)
    assert not [p.name for p in cpp_out.parent.iterdir() if p.name.endswith(".tmp")]  # atomic writes leave nothing


@pytest.mark.slow
@pytest.mark.parametrize("name", INPUT_NAMES)
def test_cpp_output_matches_onnxruntime_and_stylize_apply(compared, exports, name):
    """The default export (the value op in the graph): OpenCV 4.6 runs the dynamic-size graph; the C++
    output is ONNX Runtime's on the same export and apply's, at every size, the edges the graph pads too."""
    from stylize.shipping.onnx_export import ort_session, run_session

    source, python_out, cpp_out, ms = compared["fp32", name]
    _check_file(source, python_out, cpp_out, ms)
    produced, expected = read_image(cpp_out).rgb, read_image(python_out).rgb
    runtime = run_session(ort_session(exports["fp32"].read_bytes()), read_image(source).rgb)
    most, mean = _levels(produced, runtime)
    assert most <= VALUES_MAX_LEVELS and mean <= RUNTIME_MEAN_LEVELS, (name, most, mean)
    most, mean = _levels(produced, expected)
    assert most <= VALUES_MAX_LEVELS and mean <= RUNTIME_MEAN_LEVELS, (name, most, mean)
    most, mean = _levels(runtime, expected)
    assert most <= VALUES_MAX_LEVELS and mean <= RUNTIME_MEAN_LEVELS, (name, most, mean)


@pytest.mark.slow
@pytest.mark.parametrize("name", INPUT_NAMES)
def test_cpp_output_without_the_value_op_matches_stylize_apply(compared, name):
    """An export with keep_values 0 (no value op): apply's output at keep_values 0, at every size."""
    source, python_out, cpp_out, ms = compared["flat", name]
    _check_file(source, python_out, cpp_out, ms)
    most, mean = _levels(read_image(cpp_out).rgb, read_image(python_out).rgb)
    assert most <= MAX_LEVELS and mean <= MEAN_LEVELS, (name, most, mean)


@pytest.mark.slow
def test_bench_prints_one_json_line(cpp_binary, exports):
    figures = run_cpp_bench(cpp_binary, exports["fp32"], repeat=2, threads=1)
    assert figures["threads"] == 1 and figures["opencv"].startswith("4.")
    assert figures["portrait_ms"] > 0 and figures["thumbnail_ms"] > 0
    raw = processes.run(
        [str(cpp_binary), "--bench", str(exports["fp32"]), "--repeat", "1"], capture_output=True, text=True, timeout=120
    )
    assert raw.returncode == 0 and len(raw.stdout.strip().splitlines()) == 1
    assert json.loads(raw.stdout)["portrait"] == [295, 285]


def _fails_in_one_line(command: list[str], *needles: str) -> str:
    done = processes.run([str(part) for part in command], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.slow
def test_missing_model_and_bad_images_give_one_line(cpp_binary, exports, tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(_gradient(30, 20, 7)).save(good)
    _fails_in_one_line(
        [cpp_binary, tmp_path / "nosuch.onnx", good, tmp_path / "o.png"], "nosuch.onnx", "not found", "stylize export"
    )
    _fails_in_one_line([cpp_binary, "--bench", tmp_path / "nosuch.onnx"], "nosuch.onnx", "not found")
    not_onnx = tmp_path / "garbage.onnx"
    not_onnx.write_bytes(b"not a model")
    _fails_in_one_line([cpp_binary, not_onnx, good, tmp_path / "o.png"], "garbage.onnx", "cannot load")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])
    _fails_in_one_line(
        [cpp_binary, exports["fp32"], truncated, tmp_path / "o.png"], "truncated.png", "cannot read image"
    )
    _fails_in_one_line(
        [cpp_binary, exports["fp32"], tmp_path / "nosuch.png", tmp_path / "o.png"], "nosuch.png", "not found"
    )
    with pytest.raises(StylizeError, match="nosuch.onnx"):
        run_cpp_stylize(cpp_binary, tmp_path / "nosuch.onnx", good, tmp_path / "o.png")
    assert not (tmp_path / "o.png").exists()


@pytest.mark.slow
def test_never_overwrites_the_input(cpp_binary, exports, tmp_path):
    source = tmp_path / "in.png"
    Image.fromarray(_gradient(30, 20, 8)).save(source)
    before = source.read_bytes()
    _fails_in_one_line([cpp_binary, exports["fp32"], source, source], "is the input file")
    _fails_in_one_line([cpp_binary, exports["fp32"], source, tmp_path / "." / "in.png"], "is the input file")
    (tmp_path / "link.png").hardlink_to(source)
    _fails_in_one_line([cpp_binary, exports["fp32"], source, tmp_path / "link.png"], "is the input file")
    assert source.read_bytes() == before


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_compressed_exports_are_refused_by_opencv_4_6(cpp_binary, exports, tmp_path, precision):
    """Debian's OpenCV 4.6 refuses both (fp16: 'Unsupported data type: FLOAT16'; int8: DequantizeLinear
    with a per-channel scale); the error says which export it is and to use fp32 or ONNX Runtime."""
    version = run_cpp_bench(cpp_binary, exports["fp32"], repeat=1)["opencv"]
    source = tmp_path / "in.png"
    Image.fromarray(_gradient(30, 20, 9)).save(source)
    command = [cpp_binary, exports[precision], source, tmp_path / "out.png"]
    if not version.startswith("4.6."):
        pytest.skip(f"the binary uses OpenCV {version}; the refusal is checked for Debian's 4.6")
    _fails_in_one_line(command, exports[precision].name, f"{precision} export", "fp32", "ONNX Runtime")
    assert not (tmp_path / "out.png").exists()


def test_build_names_the_packages_when_tools_are_missing(monkeypatch, tmp_path):
    import stylize.shipping.cpp as cpp_example

    monkeypatch.setattr(cpp_example, "find_cpp_tools", lambda: "cmake")
    with pytest.raises(StylizeError, match="apt-get install cmake g\\+\\+ pkg-config libopencv-dev"):
        cpp_example.build_cpp_example(tmp_path / "build")


@pytest.fixture(scope="module")
def reference_export(reference_styles, tmp_path_factory) -> Path:
    """Zero-training styles 'stripes' and 'blobs' (drawn in the test) in one fp32 graph, default mix 0.7/0.3."""
    from stylize.inference.reference_style import mix_styles
    from stylize.inference.styles import load_style
    from stylize.shipping.onnx_export import export_onnx

    models = [load_style(name, reference_styles) for name in ("stripes", "blobs")]
    folder = tmp_path_factory.mktemp("reference_onnx")
    return export_onnx(mix_styles(models, [0.7, 0.3]), folder / "stripes+blobs.onnx", check=False).path


@pytest.mark.slow
def test_zero_training_export_takes_the_style_and_mix_at_run_time(cpp_binary, reference_export, tmp_path):
    """OpenCV 4.6 loads the two-input graph (declared at each image's size by the example), the value op
    with the styles' tonal keys mixed by the same weights included, and its output matches ONNX Runtime's
    for the same style weights; unknown names are refused listing the known ones."""
    from stylize.content.compose import iter_faces
    from stylize.shipping.onnx_export import ort_session, run_session

    face = next(iter(iter_faces("7", parts=BUNDLED_PARTS))).rgb
    sources = {"face": tmp_path / "face.png", "small": tmp_path / "small.png"}
    write_png(sources["face"], face)
    Image.fromarray(np.dstack([_gradient(45, 37, 2), np.full((37, 45), 200, np.uint8)]), "RGBA").save(sources["small"])
    session = ort_session(reference_export.read_bytes())
    choices = {
        "stripes": (dict(style="stripes"), [1.0, 0.0]),
        "blobs": (dict(style="blobs"), [0.0, 1.0]),
        "mix": (dict(mix="blobs:0.8,stripes:0.2"), [0.2, 0.8]),
        "default": ({}, [0.7, 0.3]),
    }
    produced: dict[str, np.ndarray] = {}
    for label, (choice, weights) in choices.items():
        for name, source in sources.items():
            out = tmp_path / f"{name}_{label}.png"
            try:
                ms = run_cpp_stylize(cpp_binary, reference_export, source, out, **choice)
            except StylizeError as err:
                if "cannot load" in str(err) and "OpenCV 4.6." not in str(err):
                    pytest.skip(f"this OpenCV does not load the zero-training graph: {err}")
                raise
            image, original = read_image(out), read_image(source)
            assert ms > 0 and image.size == original.size
            assert (image.alpha is None) == (original.alpha is None)
            if original.alpha is not None:
                assert np.array_equal(image.alpha, original.alpha)
            expected = run_session(session, original.rgb, weights)
            diff = np.abs(image.rgb.astype(np.int16) - expected.astype(np.int16))
            assert diff.max() <= MAX_LEVELS and diff.mean() <= MEAN_LEVELS, (label, name, int(diff.max()))
            produced[f"{name}_{label}"] = image.rgb.astype(np.int16)
    assert np.abs(produced["face_stripes"] - produced["face_blobs"]).mean() > 10  # the choice matters
    assert run_cpp_bench(cpp_binary, reference_export, repeat=1, mix="stripes:1,blobs:1")["portrait_ms"] > 0
    out = tmp_path / "o.png"
    _fails_in_one_line(
        [cpp_binary, reference_export, sources["small"], out, "--style", "nope"],
        "no style 'nope'",
        "its styles: stripes, blobs",
    )
    _fails_in_one_line([cpp_binary, reference_export, sources["small"], out, "--mix", "stripes:1,nope:2"], "nope")
    _fails_in_one_line([cpp_binary, reference_export, sources["small"], out, "--mix", "stripes"], "NAME:WEIGHT")
    _fails_in_one_line(
        [cpp_binary, reference_export, sources["small"], out, "--style", "stripes", "--mix", "blobs:1"], "exclude"
    )
    assert not out.exists()


@pytest.mark.slow
def test_a_trained_export_refuses_a_style_choice(cpp_binary, tmp_path):
    from stylize.inference.styles import load_style
    from stylize.shipping.onnx_export import export_onnx

    model = export_onnx(load_style("pencil-nano"), tmp_path / "pencil-nano.onnx", check=False).path
    source = tmp_path / "in.png"
    Image.fromarray(_gradient(30, 20, 10)).save(source)
    _fails_in_one_line([cpp_binary, model, source, tmp_path / "o.png", "--style", "pencil"], "one trained style")
