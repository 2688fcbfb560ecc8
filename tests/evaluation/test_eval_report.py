"""stylize eval as a quality report: edge SSIM, Lab colour distance, the face judge and Haar eyes, the L-BFGS
ceiling, report files and the CLI, on tiny styles and small portraits so the file runs in seconds."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import processes
import pytest
from conftest import BUNDLED_PARTS, TINY_TRAIN
from PIL import Image

from stylize import StylizeError

CEILING = dict(ceiling_faces=1, ceiling_steps=3)


def small_portraits(folder: Path, count: int, seed: int) -> Path:
    """Face-like 60x64 pictures drawn in the test: a skin ellipse on a dark ground, two eyes, a mouth."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:64, 0:60]
    for index in range(count):
        image = np.empty((64, 60, 3), np.uint8)
        image[:] = rng.integers(30, 90, 3)
        image[((xx - 30) / 20.0) ** 2 + ((yy - 34) / 26.0) ** 2 <= 1] = rng.integers(120, 230, 3)
        for eye_x in (22, 38):
            image[(xx - eye_x) ** 2 + (yy - 28) ** 2 <= 9] = (20, 20, 20)
        image[46:49, 22:38] = (120, 30, 30)
        Image.fromarray(image).save(folder / f"p{index}.png")
    return folder


def dots_reference(path: Path, seed: int = 3) -> Path:
    """A reference made in the test, unlike any in the repo: bright coloured dots on cream paper."""
    rng = np.random.default_rng(seed)
    image = np.full((90, 120, 3), (250, 240, 200), np.uint8)
    yy, xx = np.mgrid[0:90, 0:120]
    for _ in range(70):
        cx, cy, radius = rng.integers(0, 120), rng.integers(0, 90), rng.integers(2, 6)
        image[(xx - cx) ** 2 + (yy - cy) ** 2 <= radius * radius] = rng.integers(0, 256, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Torch on one thread here: on images this small, a second thread costs more than it gives, and
    far more when another process holds the other core."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory) -> Path:
    return small_portraits(tmp_path_factory.mktemp("held_out"), 3, seed=2)


def _strict_json(path: Path):
    def refuse(constant):
        raise AssertionError(f"{path} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def _not_blank(path: Path) -> None:
    with Image.open(path) as image:
        image.load()
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[0] > 200 and pixels.shape[1] > 300
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # axes, text, points: more than a flat fill


# --- pure figures -------------------------------------------------------------------------------


@pytest.mark.slow
def test_edge_ssim_is_one_for_identical_images_and_lower_for_unrelated_ones(held_out):
    from stylize.evaluation.quality import edge_ssim

    face = np.asarray(Image.open(held_out / "p0.png").convert("RGB"))
    stripes = np.zeros_like(face)
    stripes[:, ::6] = 255
    assert edge_ssim(face, face) == pytest.approx(1.0, abs=1e-4)
    assert edge_ssim(face, stripes) < 0.5
    assert (
        edge_ssim(face, face)
        > edge_ssim(face, np.clip(face.astype(int) + 40, 0, 255).astype(np.uint8) // 2)
        > edge_ssim(face, stripes)
    )
    with pytest.raises(ValueError, match="one size"):
        edge_ssim(face, face[:10])


def test_lab_histogram_distance_is_zero_for_the_same_colours_and_grows_apart():
    from stylize.evaluation.quality import lab_histogram, lab_histogram_distance

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    assert lab_histogram_distance(image, image) == pytest.approx(0.0, abs=1e-6)
    assert lab_histogram_distance(image, image[::-1, ::-1]) == pytest.approx(0.0, abs=1e-6)  # same pixels
    red, blue = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)
    red[..., 0], blue[..., 2] = 220, 220
    assert lab_histogram_distance(red, blue) > 0.9
    assert lab_histogram_distance(red, [red, blue]) < lab_histogram_distance(red, blue)
    assert lab_histogram([red, blue]).sum() == pytest.approx(1.0)


def test_faces_and_eyes_are_found_on_composited_faces_and_not_on_a_blank():
    from stylize.content.faces import FaceFinding, find_face, has_face
    from stylize.content.sources import iter_content

    assert find_face(np.full((285, 295, 3), 128, np.uint8)) == FaceFinding(False, False)
    (portrait,) = iter_content(["compose:100001"], parts=BUNDLED_PARTS)
    assert find_face(portrait.rgb) == FaceFinding(True, True) and has_face(portrait.rgb)


@pytest.mark.slow
def test_ceiling_lowers_the_style_loss_deterministically(tmp_path, held_out):
    import torch

    from stylize.evaluation.ceiling import gatys_optimise
    from stylize.training.data import load_reference
    from stylize.training.perceptual import PerceptualObjective

    objective = PerceptualObjective(
        [load_reference(dots_reference(tmp_path / "dots.png"), style_scale=0.25)],
        style_layers=("relu1_1", "relu2_1"),
        content_layer="relu2_2",
    )
    face = np.asarray(Image.open(held_out / "p1.png").convert("RGB"))
    seen = []
    first = gatys_optimise(
        face,
        objective,
        steps=12,
        style_weight=10.0,
        content_weight=1.0,
        seed=1,
        progress=lambda done, terms: seen.append(done),
    )
    assert first.rgb.shape == face.shape and first.rgb.dtype == np.uint8
    assert first.iterations == 12 and seen[-1] == 12 and first.evaluations >= 12
    assert first.start["content"] == pytest.approx(0.0, abs=1e-9)  # it starts from the portrait itself
    assert first.final["style"] < 0.5 * first.start["style"]
    assert first.final["total"] < first.start["total"]
    assert [h["iteration"] for h in first.history] == sorted(h["iteration"] for h in first.history)
    again = gatys_optimise(face, objective, steps=12, style_weight=10.0, content_weight=1.0, seed=1)
    assert np.array_equal(again.rgb, first.rgb)
    assert not torch.is_inference_mode_enabled()
    with pytest.raises(StylizeError, match="ceiling steps 0"):
        gatys_optimise(face, objective, steps=0)


# --- evaluate and the report ----------------------------------------------------------------------


@pytest.mark.slow
def test_evaluate_scores_every_figure_and_writes_the_report(tiny_styles, held_out, tmp_path):
    from stylize.evaluation.scores import evaluate

    lines: list[str] = []
    scores = evaluate(
        ["inky", "rusty"],
        [str(held_out)],
        styles_dir=tiny_styles,
        report=tmp_path / "report",
        log=lines.append,
        **CEILING,
    )
    assert [s.style for s in scores] == ["inky", "rusty"]
    for score in scores:
        assert score.portraits == 3 and len(score.per_portrait) == 3
        assert 0 < score.style_ratio and 0 < score.content_distance
        assert 0 < score.style_score and len(score.style_score_layers) == 5
        assert all(0 < row["style_score"] for row in score.per_portrait)
        assert all(0 < row["style_score"] for row in score.ceiling_per_portrait)
        assert -1 <= score.edge_ssim <= 1 and score.ms_per_portrait > 0 and score.timing_threads == 1
        assert 0 <= score.colour_distance_output <= 1 and 0 <= score.colour_distance_input <= 1
        assert 0 <= score.eyes_kept <= score.eyes_in_input <= 3
        assert 0 <= score.same_person <= score.faces_judged <= 3 and 0 <= score.rank1 <= score.faces_judged
        assert 0 <= score.faces_detected <= 3
        assert all("judge_distance" in row and "lightness_out" in row for row in score.per_portrait)
        assert score.ceiling_portraits == 1 and score.ceiling_steps == 3 and len(score.ceiling_per_portrait) == 1
        assert score.style_vs_ceiling > 0 and score.content_vs_ceiling > 0 and score.ceiling_ms_per_iteration > 0
        assert score.style_vs_ceiling == pytest.approx(
            score.per_portrait[0]["style_out"] / score.ceiling_style_distance
        )
        assert isinstance(score.meets_ceiling_goal, bool)
        assert score.ceiling_training_loss > 0 and score.network_training_loss_on_ceiling > 0
        assert score.loss_history and score.training["steps"] == 4
        assert all("not yet a ceiling: raise ceiling_steps=N" in note for note in score.notes)
    assert any(line.startswith("ceiling inky 1/1 p0.png: 3 L-BFGS iterations") for line in lines)

    folder = tmp_path / "report"
    report = (folder / "report.md").read_text()
    # the main, layer, face judge and ceiling tables
    assert sum(line.startswith("| inky |") for line in report.splitlines()) == 4
    assert sum(line.startswith("| rusty |") for line in report.splitlines()) == 4
    assert "Face judge per portrait" in report and "| style | portraits | style score | same person |" in report
    assert "| **overall**" in report and "style_vs_content.png" in report and "loss_curves.png" in report
    data = _strict_json(folder / "eval.json")
    assert data["content"] == [str(held_out)] and data["ceiling"]["faces"] == 1 and data["ceiling"]["steps"] == 3
    assert [row["style"] for row in data["styles"]] == ["inky", "rusty"]
    assert data["styles"][0]["portraits"] == 3 and len(data["styles"][0]["per_portrait"]) == 3
    assert data["styles"][0]["style_vs_ceiling"] == pytest.approx(scores[0].style_vs_ceiling)
    assert data["styles"][1]["style_score"] == pytest.approx(scores[1].style_score)
    assert data["overall"]["style_score"] == pytest.approx((scores[0].style_score + scores[1].style_score) / 2)
    assert data["overall"]["styles"] == 2 and data["overall"]["portraits"] == 6
    for name in ("style_vs_content.png", "loss_curves.png"):
        _not_blank(folder / name)


@pytest.mark.slow
def test_evaluate_without_ceiling_and_its_errors(tiny_styles, held_out):
    import torch

    from stylize.evaluation.scores import evaluate, training_overlap
    from stylize.inference.styles import load_style

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        (score,) = evaluate(["inky"], [str(held_out / "p0.png")], styles_dir=tiny_styles, ceiling_faces=0)
        assert torch.get_num_threads() == 2  # the one-thread timing does not leak
    finally:  # nor does this test's setting: later tests compare bytes made in this process with a pool's
        torch.set_num_threads(before)
    assert score.ceiling_portraits == 0 and score.meets_ceiling_goal is None
    assert score.record()["style_vs_ceiling"] is None  # NaN never reaches the JSON
    with pytest.raises(StylizeError, match="ceiling faces -1"):
        evaluate(["inky"], [str(held_out)], styles_dir=tiny_styles, ceiling_faces=-1)
    with pytest.raises(StylizeError, match="ceiling steps 0"):
        evaluate(["inky"], [str(held_out)], styles_dir=tiny_styles, ceiling_steps=0)
    with pytest.raises(StylizeError, match="style 'nope' not found"):
        evaluate(["nope"], [str(held_out)], styles_dir=tiny_styles)
    inky = load_style("inky", tiny_styles)  # trained on compose:0-9
    assert training_overlap(inky, ["compose:5-14"]) == 5 and training_overlap(inky, ["compose:100-101"]) == 0
    assert training_overlap(inky, [str(held_out)]) == 0


@pytest.mark.slow
def test_evaluate_runs_no_ceiling_unless_asked(tiny_styles, held_out):
    """The ceiling (minutes of L-BFGS a style) is opt-in: the default evaluation is the quick one."""
    from stylize.evaluation.scores import evaluate

    lines: list[str] = []
    (score,) = evaluate(["inky"], [str(held_out)], styles_dir=tiny_styles, log=lines.append)
    assert score.ceiling_portraits == 0 and score.ceiling_per_portrait == [] and score.meets_ceiling_goal is None
    assert not any(line.startswith("ceiling") for line in lines)


@pytest.mark.slow
def test_the_unstylized_portraits_are_measured_once_for_every_style(tiny_styles, held_out, monkeypatch):
    """Scoring several styles on one HeldOut passes each unstylized portrait through VGG once, and
    gives each style the figures it gets when scored alone (the measures are the same numbers)."""
    from stylize.content.sources import iter_content
    from stylize.evaluation.scores import HeldOut, score_style
    from stylize.inference.styles import load_style
    from stylize.nets.vgg import MEASURE_LAYERS
    from stylize.training.perceptual import PerceptualObjective
    from stylize.training.vgg_weights import load_vgg

    portraits = list(iter_content([str(held_out)]))
    styles = [load_style(name, tiny_styles) for name in ("inky", "rusty")]
    alone = [score_style(style, portraits).per_portrait for style in styles]

    measured: list[int] = []
    original = PerceptualObjective.measures

    def counting(self, images):
        measured.append(len(images))
        return original(self, images)

    monkeypatch.setattr(PerceptualObjective, "measures", counting)
    shared, vgg = HeldOut(portraits), load_vgg(MEASURE_LAYERS)
    together = [score_style(style, shared, vgg=vgg).per_portrait for style in styles]
    assert sum(measured) == len(portraits) * (1 + len(styles))  # the inputs once, each style's outputs
    assert together == alone


@pytest.mark.slow
def test_cli_eval_writes_the_report(tiny_styles, held_out, tmp_path):
    done = processes.run(
        [
            sys.executable,
            "-m",
            "stylize",
            "eval",
            "--style",
            "inky",
            "--style",
            "rusty",
            "--styles-dir",
            str(tiny_styles),
            "--content",
            str(held_out),
            "--report",
            str(tmp_path / "rep"),
            "--json",
            str(tmp_path / "e.json"),
            "--ceiling-faces",
            "1",
            "--ceiling-steps",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    for column in ("style score", "same person", "value spread", "rank-1", "value order", "edge SSIM", "eyes kept"):
        assert column in header
    for column in ("colour out/in", "ms/portrait", "style/ceil"):
        assert column in header
    assert header.index("style score") < header.index("same person") < header.index("value spread")
    assert header.index("value spread") < header.index("summary") < header.index("content")
    assert "faces kept" not in header
    assert header.rstrip().endswith("old Gram ratio (512 px, summed)") and "style ratio" not in header
    assert [row.split()[0] for row in rows[:3]] == ["inky", "rusty", "overall"]
    assert "ceiling rusty 1/1" in done.stderr  # progress, on stderr
    assert (tmp_path / "rep/report.md").is_file() and _strict_json(tmp_path / "rep/eval.json")["overall"]["styles"] == 2
    assert _strict_json(tmp_path / "e.json")["styles"][1]["ceiling_steps"] == 2
    _not_blank(tmp_path / "rep/style_vs_content.png")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--ceiling-faces", "-1"], "--ceiling-faces -1 is not allowed"),
        (["--ceiling-steps", "0"], "--ceiling-steps 0 is not allowed"),
        (["--style", "nope"], "style 'nope' not found"),
        (["--content", "missing_folder"], "missing_folder: content source not found"),
        (["--report", "/proc/no/report"], "cannot make this folder"),
    ],
)
def test_cli_eval_errors_are_one_line(tiny_styles, held_out, capsys, arguments, message):
    from stylize.cli import main

    base = ["eval", "--style", "inky", "--styles-dir", str(tiny_styles), "-q"]
    if "--content" not in arguments:
        base += ["--content", str(held_out)]
    assert main(base + arguments) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("stylize: error: ") and message in err


def test_cli_eval_help_names_the_ceiling_defaults(capsys):
    from stylize.cli import main
    from stylize.evaluation.ceiling import CEILING_FACES_DEFAULT, CEILING_STEPS_DEFAULT

    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default {CEILING_FACES_DEFAULT}; 0: no ceiling)" in text and f"(default {CEILING_STEPS_DEFAULT}," in text


# --- a style from a reference the repo has never seen -----------------------------------------------


@pytest.mark.slow
def test_a_style_from_an_unseen_reference_ranks_between_its_content_and_zero(tmp_path, held_out):
    from stylize.evaluation.scores import evaluate
    from stylize.training.settings import TrainSettings
    from stylize.training.style import train

    reference = dots_reference(tmp_path / "made_here/dots.png", seed=11)
    training_faces = small_portraits(tmp_path / "train_faces", 6, seed=1)
    settings = TrainSettings(**{**TINY_TRAIN, "steps": 20, "content": (str(training_faces),)})
    train("dots", [reference], settings=settings, styles_dir=tmp_path / "styles", device="cpu", progress=False)
    (score,) = evaluate(["dots"], [str(held_out)], styles_dir=tmp_path / "styles", ceiling_faces=1, ceiling_steps=5)
    assert 0 < score.style_score < 1 and 0 < score.style_ratio < 1  # closer to the dots than the unstylized faces
    ceiling_floor = score.per_portrait[0]["style_in"]
    assert 0 < score.ceiling_style_distance / ceiling_floor < 1  # the optimisation moves toward the style too
    assert 0 < score.style_vs_ceiling < 10 and 0 < score.content_vs_ceiling
    assert score.colour_distance_output < score.colour_distance_input  # the dots' colours came with the style


def test_train_report_json_is_strict_when_a_share_has_no_faces(tmp_path):
    """A held-out set where the judge finds no face gives a NaN share, order and spread: written as
    null, never as NaN, and '-' in the table."""
    from stylize.evaluation.train_report import format_table, write_report

    row = {
        "reference": "dots.png",
        "budget": "7steps",
        "steps": 7,
        "wall_seconds": 20.0,
        "prepare_seconds": 9.0,
        "step_seconds": 11.0,
        "ms_per_step": 1500.0,
        "style_score": 0.25,
        "faces_judged": 0,
        "same_person": 0,
        "same_person_share": float("nan"),
        "rank1": 0,
        "value_order": float("nan"),
        "value_spread": float("nan"),
        "faces_detected": 0,
        "content_distance": 12.0,
        "edge_ssim": 0.3,
        "old_ratio": 0.5,
        "ms_per_portrait": 3.0,
        "model": "styles/dots",
    }
    write_report([row], tmp_path / "rows.json")
    written = _strict_json(tmp_path / "rows.json")
    assert written["rows"] == [{**row, "same_person_share": None, "value_order": None, "value_spread": None}]
    assert written["summary"] == [
        {
            "budget": "7steps",
            "references": 1,
            "median_style_score": 0.25,
            "worst_style_score": 0.25,
            "worst_reference": "dots.png",
            "fewest_same_person": "0/0 (dots.png)",
            "lowest_value_spread": None,
            "lowest_value_spread_reference": "dots.png",
        }
    ]
    table = format_table([row])
    assert (
        "| dots.png | 7steps | 7 | 20 (9 + 11) | 1500.0 | 0.250 | 0/0 | - | 0/0 | - | 12.0 | 0.300 | 0.500 |" in table
    )
    assert "| 7steps | 1 | 0.250 | 0.250 (dots.png) | 0/0 (dots.png) | - (dots.png) |" in table
