"""ONNX export of zero-training styles (made here from drawn references): the transformer with the style
table and a style_weights input, checked against PyTorch's transformer in ONNX Runtime; a mix's weights
move the output continuously; damaged style folders and trained styles in a mix are refused."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
from conftest import BUNDLED_PARTS

from stylize import StylizeError
from stylize.cli import main
from stylize.inference.arbitrary import ReferenceNet
from stylize.inference.model_file import WEIGHTS_NAME
from stylize.inference.reference_style import mix_styles
from stylize.inference.styles import load_style
from stylize.shipping.onnx_export import (
    STYLE_INPUT_NAME,
    TABLE_NAME,
    TOLERANCE,
    export_onnx,
    ort_session,
    pad_for_graph,
    read_onnx_metadata,
    reference_outputs,
    run_session,
)


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    from stylize.content.compose import iter_faces

    return next(iter(iter_faces("7", parts=BUNDLED_PARTS))).rgb  # 295 x 285, a composited game face


@pytest.fixture(scope="module")
def exports(reference_styles, tmp_path_factory):
    """'stripes' alone and the mix stripes:0.7,blobs:0.3, exported at fp32 with the round-trip check."""
    folder = tmp_path_factory.mktemp("reference_onnx")
    single = load_style("stripes", reference_styles)
    mix = mix_styles([single, load_style("blobs", reference_styles)], [0.7, 0.3])
    return {
        "single": (single, export_onnx(single, folder / "stripes.onnx")),
        "mix": (mix, export_onnx(mix, folder / "mix.onnx")),
    }


def _levels(got: np.ndarray, want: np.ndarray) -> int:
    return int(np.abs(got.astype(int) - want.astype(int)).max())


def _to_uint8(planes: np.ndarray) -> np.ndarray:
    return np.round(np.clip(planes, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)


@pytest.mark.slow
def test_zero_training_style_round_trips_in_onnxruntime(exports, face):
    model, result = exports["single"]
    runtime = result.checks[0]
    assert runtime.runtime.startswith("onnxruntime") and runtime.ok and runtime.max_abs <= TOLERANCE["fp32"]
    assert result.checks[1].runtime.startswith("opencv") and result.checks[1].ok, result.checks[1].line()
    graph = onnx.load(str(result.path))
    shapes = {
        value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        for value in graph.graph.input
    }
    assert shapes == {"input": [1, 3, "height", "width"], STYLE_INPUT_NAME: [1]}
    assert [o.name for o in graph.graph.output] == ["output"]
    props = read_onnx_metadata(result.path)
    assert props["kind"] == "reference" and props["style"] == "stripes" and props["style_names"] == "stripes"
    assert props["style_count"] == "1" and props["default_style_weights"] == "1"
    assert props["style_input_name"] == STYLE_INPUT_NAME and "not in the graph" in props["face_guard"]
    assert props["source_model_sha256"] == model.weights_sha256 and props["precision"] == "fp32"
    # What the game gets: the plain transformer, at any size (padded in the graph's contract); any
    # positive weight is the one style.
    session = ort_session(result.path.read_bytes())
    for image in (face, face[:37, :45], face[:1, :1]):
        want = _to_uint8(reference_outputs(model.network, image, [1.0]))
        assert _levels(run_session(session, image, [1.0]), want) <= 1
        assert _levels(run_session(session, image, [5.0]), want) <= 1
    with pytest.raises(StylizeError, match="style_weights=.*must be 1 finite numbers"):
        run_session(session, face, [1.0, 0.0])
    with pytest.raises(StylizeError, match="give style_weights"):
        run_session(session, face)


@pytest.mark.slow
def test_mix_export_takes_weights_that_move_the_output_continuously(exports, face):
    model, result = exports["mix"]
    assert isinstance(model.network, ReferenceNet) and result.checks[0].ok
    assert result.checks[1].ok, result.checks[1].line()  # OpenCV, the value op with the keys mixed included
    props = read_onnx_metadata(result.path)
    assert props["style_names"] == "stripes,blobs" and props["default_style_weights"] == "0.7,0.3"
    assert props["mix"] == "stripes:0.7,blobs:0.3" and "source_model_sha256" not in props
    session = ort_session(result.path.read_bytes())
    padded = pad_for_graph(face)

    def paint(weights: list[float]) -> np.ndarray:
        feed = {"input": padded, STYLE_INPUT_NAME: np.asarray(weights, np.float32)}
        return session.run(None, feed)[0][0, :, : face.shape[0], : face.shape[1]]

    steps = np.linspace(0, 1, 11)
    outputs = [paint([1 - t, t]) for t in steps]
    stripes, blobs = outputs[0], outputs[-1]

    def distance(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a - b).mean())

    ends = distance(stripes, blobs)
    assert ends > 0.1  # two clearly different styles (measured 0.38 of the 0..1 range)
    # Halfway lies between the two ends: measured 0.75 of the way from stripes and 0.58 from blobs.
    middle = outputs[5]
    assert 0.3 * ends < distance(middle, stripes) < 0.9 * ends
    assert 0.3 * ends < distance(middle, blobs) < 0.9 * ends
    # Continuous and monotone: each tenth of the way moves the output a little (measured at most 0.22
    # of the ends' distance), always further from one end and nearer the other.
    from_stripes = [distance(o, stripes) for o in outputs]
    from_blobs = [distance(o, blobs) for o in outputs]
    assert all(a < b for a, b in zip(from_stripes, from_stripes[1:]))
    assert all(a > b for a, b in zip(from_blobs, from_blobs[1:]))
    assert max(distance(a, b) for a, b in zip(outputs, outputs[1:])) < 0.3 * ends
    # The graph divides by the sum; each end is PyTorch's transformer with that style's vector alone.
    assert np.abs(paint([2.0, 2.0]) - middle).max() < 1e-5
    assert np.abs(paint([0.7, 0.3]) - reference_outputs(model.network, face, [0.7, 0.3])).max() < TOLERANCE["fp32"]
    assert np.abs(blobs - reference_outputs(model.network, face, [0.0, 1.0])).max() < TOLERANCE["fp32"]


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_compressed_exports_pass_the_round_trip_and_keep_the_table(reference_styles, exports, tmp_path, precision):
    model = exports["mix"][0]
    result = export_onnx(model, tmp_path / f"mix_{precision}.onnx", precision=precision)
    assert result.checks[0].ok and result.checks[0].max_abs <= TOLERANCE[precision]
    assert result.bytes < exports["mix"][1].bytes
    graph = onnx.load(str(result.path))
    table = next(i for i in graph.graph.initializer if i.name == TABLE_NAME)
    assert table.data_type == onnx.TensorProto.FLOAT and list(table.dims) == [100, 2, 1, 1]


def test_damaged_style_folder_is_refused_on_export(reference_styles, tmp_path, capsys):
    styles = tmp_path / "styles"
    for name in ("stripes", "cut", "lost"):  # cut and lost: copies of stripes, damaged below
        shutil.copytree(reference_styles / "stripes", styles / name)
    weights = styles / "cut" / WEIGHTS_NAME
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    with pytest.raises(StylizeError, match=f"{WEIGHTS_NAME}: weights do not match"):
        load_style("cut", styles)
    out = tmp_path / "cut.onnx"
    assert main(["export", "--style", "cut", "--styles-dir", str(styles), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(weights) in err and "bytes, it records" in err
    (styles / "lost" / WEIGHTS_NAME).unlink()
    assert (
        main(["export", "--style", "stripes", "--style", "lost", "--styles-dir", str(styles), "--out", str(out)]) == 1
    )
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"lost/{WEIGHTS_NAME}: weights file not found" in err
    assert not out.exists()


@pytest.mark.slow
def test_cli_exports_several_zero_training_styles_in_one_graph(reference_styles, tmp_path, capsys):
    common = ["--styles-dir", str(reference_styles), "--no-check"]
    out = tmp_path / "both.onnx"
    assert main(["export", "--style", "stripes", "--style", "blobs", "--out", str(out), *common]) == 0
    printed = capsys.readouterr().out
    assert "styles: stripes,blobs" in printed and "face guard is not in the graph" in printed
    props = read_onnx_metadata(out)
    assert props["style_names"] == "stripes,blobs" and props["default_style_weights"] == "0.5,0.5"
    mixed = tmp_path / "mixed.onnx"
    assert main(["export", "--mix", "blobs:3,stripes:1", "--out", str(mixed), *common]) == 0
    props = read_onnx_metadata(mixed)
    assert props["style_names"] == "blobs,stripes" and props["default_style_weights"] == "0.75,0.25"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--style", "stripes", "--style", "pencil"], "'pencil' is a trained network and cannot be mixed"),
        (["--mix", "pencil:0.5,stripes:0.5"], "'pencil' is a trained network and cannot be mixed"),
        (["--style", "stripes", "--mix", "stripes:1,blobs:1"], "--style and --mix exclude each other"),
        (["--style", "stripes", "--style", "stripes"], "name each style once"),
        ([], "give the style: --style NAME"),
        (["--mix", "stripes:x,blobs:1"], "weight 'x' of 'stripes' is not allowed"),
    ],
)
def test_cli_refuses_bad_style_choices_in_one_line(reference_styles, tmp_path, capsys, args, message):
    out = tmp_path / "x.onnx"
    assert main(["export", *args, "--styles-dir", str(reference_styles), "--out", str(out), "--no-check"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err
    assert not out.exists()
