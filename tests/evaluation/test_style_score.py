"""The style score of ``stylize eval``: per VGG19 layer relu1_1..relu5_1, the mean Gram distance of the
stylized portraits to the reference over that of the unstylized ones, averaged over the five layers,
the reference at 256 px on its long side. Pure figures first, then VGG on tiny images, then a
zero-training style end to end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylize.inference.image import ApplySettings

LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# The score's fixed points are checked on the networks' own outputs: the value op left out (keep_values 0).
FLAT = ApplySettings(keep_values=0.0)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Torch on one thread: on images this small a second thread costs more than it gives."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def noise_portraits(folder: Path, count: int, size: tuple[int, int], seed: int) -> Path:
    """``count`` (H, W) = ``size`` pictures of smooth colour noise, made in the test."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        coarse = rng.integers(0, 256, (size[0] // 8 + 1, size[1] // 8 + 1, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((size[1], size[0]), Image.BILINEAR)
        image.save(folder / f"p{index}.png")
    return folder


def stripes_reference(path: Path, size: tuple[int, int]) -> Path:
    """Dark diagonal strokes on warm paper, (H, W) = ``size``."""
    height, width = size
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), np.uint8)
    image[:] = (245, 232, 205)
    image[(xx + yy) % 11 < 3] = (40, 30, 60)
    image[(xx - 2 * yy) % 17 < 2] = (160, 40, 40)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


# --- pure figures -------------------------------------------------------------------------------------


def test_the_score_is_the_mean_of_the_layer_ratios_of_mean_distances():
    from stylize.evaluation.style_score import layer_ratios, style_score_from_distances

    stylized = {"a": [1.0, 3.0], "b": [10.0, 10.0], "c": [0.0, 0.0]}
    unstylized = {"a": [4.0, 4.0], "b": [5.0, 35.0], "c": [2.0, 6.0]}
    ratios = layer_ratios(stylized, unstylized)
    assert ratios == {"a": 0.5, "b": 0.5, "c": 0.0}  # mean over portraits first, then the ratio
    score, by_layer = style_score_from_distances(stylized, unstylized)
    assert by_layer == ratios and score == pytest.approx(1 / 3)
    # not the ratio of the summed distances, which the largest layer would rule
    assert score != pytest.approx(sum(map(sum, stylized.values())) / sum(map(sum, unstylized.values())))
    assert style_score_from_distances(unstylized, unstylized)[0] == 1.0  # no change
    assert math.isnan(layer_ratios({"a": [1.0]}, {"a": [0.0]})["a"])  # nothing to divide by
    with pytest.raises(ValueError, match="layers differ"):
        layer_ratios({"a": [1.0]}, {"b": [1.0]})


def test_layer_gram_distances_are_summed_squared_differences():
    import torch

    from stylize.training.losses import gram_matrix, per_layer_gram_distances

    features = torch.rand(2, 4, 5, 6)
    grams = {"x": gram_matrix(features)}
    assert grams["x"][0] == pytest.approx((features[0].reshape(4, 30) @ features[0].reshape(4, 30).T) / 120)
    target = torch.rand(4, 4)
    distances = per_layer_gram_distances(grams, {"x": target})["x"]
    assert distances.shape == (2,)
    assert distances[1].item() == pytest.approx(((grams["x"][1] - target) ** 2).sum().item())
    assert per_layer_gram_distances(grams, {"x": grams["x"][0]})["x"][0].item() == 0.0


def test_the_references_are_scaled_to_256_px_on_the_long_side(tmp_path):
    from stylize.evaluation.scores import score_references
    from stylize.reference_scoring import STYLE_SCORE_REFERENCE_SIDE

    wide = stripes_reference(tmp_path / "wide.png", (300, 600))
    tall = stripes_reference(tmp_path / "tall.png", (200, 100))  # smaller than 256: scaled up
    exact = stripes_reference(tmp_path / "exact.png", (256, 128))
    shapes = [tuple(tensor.shape) for tensor in score_references([wide, tall, exact])]
    assert STYLE_SCORE_REFERENCE_SIDE == 256
    assert shapes == [(1, 3, 128, 256), (1, 3, 256, 128), (1, 3, 256, 128)]
    (same,) = score_references([exact])  # at 256 already: the pixels as they are
    pixels = np.asarray(Image.open(exact).convert("RGB"))
    assert np.array_equal(same[0].mul(255).round().byte().permute(1, 2, 0).numpy(), pixels)


def test_the_report_leads_with_the_style_score_same_person_and_value_spread_and_labels_the_old_ratio():
    from stylize.evaluation.report import format_markdown, format_text_table
    from stylize.evaluation.style_score import StyleScore, overall

    def score(name: str, value: float, old: float, spread: float) -> StyleScore:
        layers = {layer: value + 0.01 * i for i, layer in enumerate(LAYERS)}
        figures = dict(style_loss_input=2.0, style_loss_output=2.0 * old, style_ratio=old, content_distance=5.0)
        return StyleScore(
            name, 4, **figures, faces_judged=4, same_person=3, ms_per_portrait=9.0,
            style_score=value, style_score_layers=layers, rank1=2, faces_detected=1,
            value_order=0.9, value_spread=spread,
        )  # fmt: skip

    scores = [score("one", 0.2, 0.11, 0.5), score("two", 0.4, 0.33, 0.7)]
    header, first, second, total, ranked, *by_layer = format_text_table(scores).splitlines()
    assert header.split()[:9] == ["style", "n", "style", "score", "same", "person", "value", "spread", "rank-1"]
    assert header.index("value order") < header.index("detected") < header.index("summary") < header.index("content")
    assert header.rstrip().endswith("old Gram ratio (512 px, summed)")
    # style score, same person, value spread, rank-1, value order, detected, then the summary: the style
    # score plus the share of judged faces no longer the same person (1 of 4 here).
    assert first.split()[:9] == ["one", "4", "0.200", "3/4", "0.50", "2/4", "0.90", "1/4", "0.450"]
    assert first.split()[-1] == "0.110"
    assert total.split()[:9] == ["overall", "8", "0.300", "6/8", "0.60", "4/8", "0.90", "2/8", "0.550"]
    assert total.split()[-1] == "0.220"
    assert ranked.endswith("best first: one, two")
    assert by_layer[0].endswith("0.20/0.21/0.22/0.23/0.24")
    row = overall(scores)
    assert row["style_score"] == pytest.approx(0.3) and row["style_score_layers"]["relu5_1"] == pytest.approx(0.34)
    assert row["value_spread"] == pytest.approx(0.6) and row["same_person"] == 6 and row["faces_judged"] == 8
    record = scores[0].record(details=False)
    assert (
        record["style_score"] == 0.2
        and record["style_ratio"] == 0.11
        and set(record["style_score_layers"]) == set(LAYERS)
        and record["same_person_share"] == 0.75
        and record["rank1_share"] == 0.5
    )
    markdown = format_markdown(scores, ["somewhere"], plots=False)
    assert "| style | portraits | style score | same person | value spread | rank-1 | value order |" in markdown
    assert "| one | 4 | 0.200 | 3/4 (75 %) | 0.50 | 2/4 (50 %) | 0.90 | 1/4 (25 %) | 0.450 |" in markdown
    assert "old Gram ratio (512 px, summed)" in markdown and "faces kept" not in markdown
    assert "| style | relu1_1 | relu2_1 | relu3_1 | relu4_1 | relu5_1 | style score |" in markdown


# --- with VGG, on tiny images ----------------------------------------------------------------------------


class ConstantNet:
    """Stands in for a style's network: paints every portrait as one fixed picture of its size."""

    def __init__(self, picture):
        self.picture = picture

    def eval(self):
        return self

    def __call__(self, content):
        assert content.shape[-2:] == self.picture.shape[-2:]
        return self.picture.expand(len(content), -1, -1, -1)


def _model(name: str, network):
    from stylize.inference.model_file import StyleModel

    return StyleModel(name, network, {}, None)


@pytest.mark.slow
def test_unstylized_portraits_score_1_and_the_references_statistics_score_0(tmp_path):
    import torch

    from stylize.content.sources import iter_content
    from stylize.evaluation.scores import HeldOut, score_references, score_style
    from stylize.nets.vgg import MEASURE_LAYERS
    from stylize.training.vgg_weights import load_vgg

    reference = stripes_reference(tmp_path / "ref.png", (48, 96))  # a 256 px copy is the style score's target
    portraits = list(iter_content([str(noise_portraits(tmp_path / "faces", 2, (128, 256), seed=4))]))
    held_out, vgg = HeldOut(portraits), load_vgg(MEASURE_LAYERS)

    unchanged = score_style(
        _model("plain", torch.nn.Identity()), held_out, references=[reference], vgg=vgg, settings=FLAT
    )
    assert unchanged.style_score == 1.0 and set(unchanged.style_score_layers.values()) == {1.0}
    assert list(unchanged.style_score_layers) == list(LAYERS)
    assert unchanged.style_ratio == 1.0
    assert [row["style_score"] for row in unchanged.per_portrait] == [1.0, 1.0]

    (at_256,) = score_references([reference])  # (1, 3, 128, 256): the reference as the score sees it
    copied = score_style(_model("copy", ConstantNet(at_256)), held_out, references=[reference], vgg=vgg, settings=FLAT)
    assert copied.style_score == pytest.approx(0.0, abs=1e-3)
    assert all(value == pytest.approx(0.0, abs=1e-3) for value in copied.style_score_layers.values())
    assert 0 < copied.style_ratio  # the old ratio measures against the 512 px reference: not 0
    # the same picture at another scale is not the reference's statistics at 256 px
    twice = torch.nn.functional.interpolate(at_256, scale_factor=2, mode="bilinear")[..., 64:192, 128:384]
    zoomed = score_style(_model("zoomed", ConstantNet(twice)), held_out, references=[reference], vgg=vgg, settings=FLAT)
    assert zoomed.style_score > 10 * max(copied.style_score, 1e-4)


@pytest.mark.slow
def test_several_references_make_one_target_their_mean_gram(tmp_path):
    import torch

    from stylize.evaluation.scores import score_references, score_targets
    from stylize.nets.vgg import MEASURE_LAYERS
    from stylize.training.losses import gram_matrix
    from stylize.training.vgg_weights import load_vgg

    vgg = load_vgg(MEASURE_LAYERS)
    first = stripes_reference(tmp_path / "a.png", (64, 64))
    second = Image.fromarray(np.asarray(Image.open(first))[:, ::-1, ::-1].copy())  # other colours, mirrored
    second.save(tmp_path / "b.png")
    images = score_references([first, tmp_path / "b.png"])
    targets = score_targets(vgg, images)
    assert list(targets) == list(LAYERS)
    with torch.no_grad():
        grams = [gram_matrix(vgg(image)["relu3_1"])[0] for image in images]
    assert torch.allclose(targets["relu3_1"], (grams[0] + grams[1]) / 2)


@pytest.mark.slow
def test_the_unstylized_portraits_distances_are_measured_once_per_reference_set(tmp_path, monkeypatch):
    import torch

    from stylize.content.sources import iter_content
    from stylize.evaluation import scores
    from stylize.nets.vgg import MEASURE_LAYERS
    from stylize.training.vgg_weights import load_vgg

    portraits = list(iter_content([str(noise_portraits(tmp_path / "faces", 2, (40, 48), seed=5))]))
    one, other = stripes_reference(tmp_path / "one.png", (40, 60)), stripes_reference(tmp_path / "two.png", (60, 40))
    counted: list[int] = []
    original = scores.gram_distances

    def counting(measures, targets):
        counted.append(1)
        return original(measures, targets)

    monkeypatch.setattr(scores, "gram_distances", counting)
    held_out, vgg, plain = scores.HeldOut(portraits), load_vgg(MEASURE_LAYERS), _model("plain", torch.nn.Identity())
    for refs, expected in (([one], 4), ([one], 2), ([other], 4)):  # inputs + outputs; outputs only; both again
        counted.clear()
        assert scores.score_style(plain, held_out, references=refs, vgg=vgg, settings=FLAT).style_score == 1.0
        assert len(counted) == expected


# --- a zero-training style end to end ------------------------------------------------------------------------


@pytest.mark.slow
def test_eval_of_a_zero_training_style_works_end_to_end(tmp_path):
    import json

    from stylize.evaluation.scores import evaluate
    from stylize.inference.arbitrary import ReferenceNet
    from stylize.inference.reference_style import make_style
    from stylize.inference.styles import load_style

    reference = stripes_reference(tmp_path / "made_here/strokes.png", (90, 120))
    make_style("strokes", [reference], styles_dir=tmp_path / "styles")
    model = load_style("strokes", styles_dir=tmp_path / "styles")
    assert isinstance(model.network, ReferenceNet) and model.metadata["kind"] == "reference"
    assert "training" not in model.metadata and "loss_history" not in model.metadata

    faces = noise_portraits(tmp_path / "faces", 2, (64, 60), seed=6)
    (score,) = evaluate(["strokes"], [str(faces)], styles_dir=tmp_path / "styles", report=tmp_path / "report")
    assert score.portraits == 2 and 0 <= score.style_score < 1 and list(score.style_score_layers) == list(LAYERS)
    assert score.style_score == pytest.approx(np.mean(list(score.style_score_layers.values())))
    assert score.training["kind"] == "reference" and "steps" not in score.training and score.loss_history == []
    data = json.loads((tmp_path / "report/eval.json").read_text())
    assert data["styles"][0]["style_score"] == pytest.approx(score.style_score)
    assert data["styles"][0]["style_ratio"] == pytest.approx(score.style_ratio)
    assert "| strokes | 2 |" in (tmp_path / "report/report.md").read_text()
