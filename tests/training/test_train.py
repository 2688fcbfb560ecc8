"""Training with tiny networks and a few steps: resume equivalence, model files, bad inputs."""

from __future__ import annotations

import json
import signal

import numpy as np
import processes
import pytest
from conftest import BUNDLED_PARTS, TINY_TRAIN
from PIL import Image

import stylize.training.base as base_module
import stylize.training.loop as loop_module
from stylize import StylizeError
from stylize.inference.model_file import (
    METADATA_NAME,
    WEIGHTS_NAME,
    ModelFileError,
    load_model,
    sha256_file,
)
from stylize.training.base import train_base
from stylize.training.settings import TrainSettings
from stylize.training.style import train

TINY = TINY_TRAIN


@pytest.mark.slow
def test_training_writes_a_model_with_full_metadata(tmp_path, tree, reference):
    result = train(
        "tiny_style",
        [reference],
        settings=TrainSettings(steps=3, **TINY),
        styles_dir=tmp_path,
        parts=tree,
        device="cpu",
        progress=False,
    )
    folder = tmp_path / "tiny_style"
    assert result.steps == 3 and (folder / WEIGHTS_NAME).is_file()
    meta = json.loads((folder / METADATA_NAME).read_text())
    assert meta["architecture"]["name"] == "tiny" and meta["architecture"]["version"] == 1
    assert meta["training"]["steps"] == 3 and meta["training"]["arch"] == "tiny"
    assert meta["references"] == [
        {"file": "refs/strokes.png", "source_name": "strokes.png", "sha256": sha256_file(reference)}
    ]
    assert (folder / "refs/strokes.png").read_bytes() == reference.read_bytes()
    assert meta["environment"]["threads"] >= 1 and meta["environment"]["torch_version"]
    assert set(meta["final_losses"]) >= {"total", "style", "content", "tv"}
    assert meta["steps"] == 3 and meta["weights_sha256"] == sha256_file(folder / WEIGHTS_NAME)
    assert not (folder / ".checkpoint").exists()
    loaded = load_model(folder)
    assert loaded.metadata == meta and loaded.network.spec.name == "tiny"


@pytest.mark.slow
def test_interrupted_and_resumed_training_reaches_the_same_weights(tmp_path, tree, reference, monkeypatch):
    settings = TrainSettings(steps=6, **TINY)
    train("straight", [reference], settings=settings, styles_dir=tmp_path, parts=tree, device="cpu", progress=False)

    real_sample = loop_module.sample_batch

    def interrupt_at_step_3(pool, *, step, **kwargs):
        if step == 3:
            signal.raise_signal(signal.SIGINT)  # as Ctrl-C: the loop finishes this step, then stops
        return real_sample(pool, step=step, **kwargs)

    monkeypatch.setattr(loop_module, "sample_batch", interrupt_at_step_3)
    with pytest.raises(StylizeError, match="interrupted at step 4.*resume=True"):
        train("resumed", [reference], settings=settings, styles_dir=tmp_path, parts=tree, device="cpu", progress=False)
    assert (tmp_path / "resumed/.checkpoint/checkpoint.json").is_file()
    assert not (tmp_path / "resumed" / METADATA_NAME).exists()
    monkeypatch.setattr(loop_module, "sample_batch", real_sample)

    with pytest.raises(StylizeError, match="already there; pass resume=True"):
        train("resumed", [reference], settings=settings, styles_dir=tmp_path, parts=tree, device="cpu", progress=False)
    other = TrainSettings(**{**TINY, "steps": 6, "style_weight": 3.0})
    with pytest.raises(StylizeError, match="other settings \\(style_weight differ"):
        train(
            "resumed",
            [reference],
            settings=other,
            styles_dir=tmp_path,
            parts=tree,
            device="cpu",
            resume=True,
            progress=False,
        )
    result = train(
        "resumed",
        [reference],
        settings=settings,
        styles_dir=tmp_path,
        parts=tree,
        device="cpu",
        resume=True,
        progress=False,
    )
    assert result.steps == 6
    assert (tmp_path / "resumed" / WEIGHTS_NAME).read_bytes() == (tmp_path / "straight" / WEIGHTS_NAME).read_bytes()


@pytest.mark.slow
def test_warm_start_uses_the_base_network(tmp_path, tree, reference, monkeypatch):
    monkeypatch.setattr(base_module, "bundled_bases_dir", lambda: tmp_path / "no_shipped_bases")
    with pytest.raises(StylizeError, match="no base network for warm start.*train-base"):
        train(
            "warm",
            [reference],
            settings=TrainSettings(steps=1, **{**TINY, "warm_start": True}),
            styles_dir=tmp_path,
            parts=tree,
            device="cpu",
            progress=False,
        )
    base = train_base(
        "tiny",
        minutes=None,
        steps=2,
        content=("compose:0-3",),
        styles_dir=tmp_path,
        parts=tree,
        size=32,
        batch=1,
        device="cpu",
        progress=False,
    )
    assert load_model(base.directory).metadata["kind"] == "base"
    result = train(
        "warm",
        [reference],
        settings=TrainSettings(steps=1, **{**TINY, "warm_start": True}),
        styles_dir=tmp_path,
        parts=tree,
        device="cpu",
        progress=False,
    )
    assert result.metadata["warm_start_from"]["path"] == "_base/tiny"


def test_unreadable_reference_is_named(tmp_path, tree):
    bad = tmp_path / "ref.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    with pytest.raises(StylizeError, match=r"ref\.png: cannot read style reference"):
        train(
            "x",
            [bad],
            settings=TrainSettings(steps=1, **TINY),
            styles_dir=tmp_path / "s",
            parts=tree,
            device="cpu",
            progress=False,
        )
    with pytest.raises(StylizeError, match="no reference images"):
        train(
            "x",
            [tmp_path / "s"],
            settings=TrainSettings(steps=1, **TINY),
            styles_dir=tmp_path / "s2",
            parts=tree,
            device="cpu",
            progress=False,
        ) if (tmp_path / "s").mkdir() is None else None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(size=30), "multiple of 4"),
        (dict(arch="huge"), "arch='huge' is not allowed"),
        (dict(steps=0), "steps=0 is not allowed"),
        (dict(style_scale=9.0), "style_scale=9.0 is not allowed"),
        (dict(minutes=float("inf")), "minutes=inf is not allowed"),
    ],
)
def test_bad_settings_are_refused(tmp_path, tree, reference, change, message):
    with pytest.raises(StylizeError, match=message):
        train(
            "x",
            [reference],
            settings=TrainSettings(**{**TINY, "steps": 1, **change}),
            styles_dir=tmp_path,
            parts=tree,
            device="cpu",
            progress=False,
        )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tree, reference):
    root = tmp_path_factory.mktemp("styles")
    train(
        "good",
        [reference],
        settings=TrainSettings(**{**TINY, "steps": 1, "style_scale": 0.25}),  # the 128 px reference at its size
        styles_dir=root,
        parts=tree,
        device="cpu",
        progress=False,
    )
    return root / "good"


def _copy(folder, tmp_path):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def test_truncated_weights_are_refused(trained, tmp_path):
    folder = _copy(trained, tmp_path)
    data = (folder / WEIGHTS_NAME).read_bytes()
    (folder / WEIGHTS_NAME).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="model.safetensors: weights do not match model.json"):
        load_model(folder)


def test_foreign_and_mismatched_files_are_refused(trained, tmp_path):
    folder = _copy(trained, tmp_path)
    meta = json.loads((folder / METADATA_NAME).read_text())
    (folder / METADATA_NAME).write_text(json.dumps({**meta, "format": "something-else"}))
    with pytest.raises(ModelFileError, match="not a stylize style model"):
        load_model(folder)
    (folder / METADATA_NAME).write_text(json.dumps({**meta, "architecture": {**meta["architecture"], "width": 16}}))
    with pytest.raises(ModelFileError, match="differs from this stylize's tiny"):
        load_model(folder)
    (folder / METADATA_NAME).write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ModelFileError, match="format version 99"):
        load_model(folder)
    (folder / METADATA_NAME).write_text("{not json")
    with pytest.raises(ModelFileError, match="not readable JSON"):
        load_model(folder)


def test_weights_of_another_architecture_are_refused(trained, tmp_path):
    """A consistent pair (hash matches) whose tensors do not fit the declared architecture."""
    import torch
    from safetensors.torch import save

    from stylize.inference.model_file import sha256_bytes

    folder = _copy(trained, tmp_path)
    data = save({"encoder.0.1.weight": torch.zeros(3, 3, 3, 3)})
    (folder / WEIGHTS_NAME).write_bytes(data)
    meta = json.loads((folder / METADATA_NAME).read_text())
    (folder / METADATA_NAME).write_text(
        json.dumps({**meta, "weights_sha256": sha256_bytes(data), "weights_bytes": len(data)})
    )
    with pytest.raises(ModelFileError, match="tensors do not fit architecture tiny"):
        load_model(folder)


def test_an_architecture_is_matched_by_its_structure_not_its_description(trained, tmp_path):
    """The prose description may change between versions; width, blocks or version may not."""
    folder = _copy(trained, tmp_path)
    meta = json.loads((folder / METADATA_NAME).read_text())
    described = {**meta, "architecture": {**meta["architecture"], "description": "older words"}}
    (folder / METADATA_NAME).write_text(json.dumps(described))
    assert load_model(folder).metadata["architecture"]["description"] == "older words"
    wider = {**meta, "architecture": {**meta["architecture"], "width": 9}}
    (folder / METADATA_NAME).write_text(json.dumps(wider))
    with pytest.raises(ModelFileError, match="differs from this stylize's tiny v1"):
        load_model(folder)


@pytest.mark.slow
def test_cli_train_and_apply(tmp_path, tree, reference):
    from stylize.cli import main

    code = main(
        [
            "train",
            "--name",
            "cli_style",
            "--refs",
            str(reference),
            "--steps",
            "2",
            "--arch",
            "tiny",
            "--size",
            "32",
            "--batch",
            "1",
            "--content",
            "compose:0-3",
            "--no-warm-start",
            "--styles-dir",
            str(tmp_path / "styles"),
            "--parts",
            str(tree),
            "--device",
            "cpu",
            "-q",
        ]
    )
    assert code == 0
    inputs = tmp_path / "in"
    inputs.mkdir()
    rgba = np.zeros((37, 41, 4), np.uint8)
    rgba[..., :3] = 120
    rgba[5:30, 5:30, 3] = 255
    rgba[0, 0, 3] = 77
    Image.fromarray(rgba, "RGBA").save(inputs / "p.png")
    (inputs / "broken.png").write_bytes(b"")
    before = (inputs / "p.png").read_bytes()
    code = main(
        [
            "apply",
            "--style",
            "cli_style",
            "--styles-dir",
            str(tmp_path / "styles"),
            str(inputs),
            "--out",
            str(tmp_path / "out"),
            "--device",
            "cpu",
            "-q",
        ]
    )
    assert code == 1  # the broken input is reported; the good one is written
    out = np.asarray(Image.open(tmp_path / "out/p.png"))
    assert out.shape == (37, 41, 4) and (out[..., 3] == rgba[..., 3]).all()
    assert (inputs / "p.png").read_bytes() == before


@pytest.mark.slow
def test_run_applies_the_configured_styles_and_writes_a_preview(tmp_path, tree, reference):
    import sys

    train(
        "t1",
        [reference],
        settings=TrainSettings(steps=1, **TINY),
        styles_dir=tmp_path / "styles",
        parts=tree,
        device="cpu",
        progress=False,
    )
    (tmp_path / "pipeline.toml").write_text(
        f'[parts]\nroot = "{tree}"\n[content]\nseeds = "0-2"\n[output]\ndir = "out"\n'
        '[styles]\ndir = "styles"\nuse = ["t1"]\n[run]\ndevice = "cpu"\n'
    )
    done = processes.run(
        [sys.executable, "-m", "stylize", "run", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "3 written, 0 up to date" in done.stdout
    preview = Image.open(tmp_path / "out/preview/grid.png")
    assert preview.width > 2 * 196 and preview.height > 3 * 150  # 3 rows x (original + 1 style)
    for seed in range(3):
        out = Image.open(tmp_path / f"out/stylized/t1/faces/face_{seed:010d}.png")
        assert out.size == (295, 285)


@pytest.mark.slow
def test_eval_scores_a_style(trained, tree, tmp_path):
    from stylize.cli import main
    from stylize.evaluation.scores import evaluate

    (score,) = evaluate([trained.name], ["compose:100-102"], styles_dir=trained.parent, parts=tree, ceiling_faces=0)
    assert score.portraits == 3 and score.style_ratio > 0 and score.style_loss_input > 0
    assert 0 <= score.same_person <= score.faces_judged <= 3 and score.ms_per_portrait > 0
    code = main(
        [
            "eval",
            "--style",
            trained.name,
            "--styles-dir",
            str(trained.parent),
            "--parts",
            str(tree),
            "--content",
            "compose:100-101",
            "--json",
            str(tmp_path / "e.json"),
            "--ceiling-faces",
            "0",
            "-q",
        ]
    )
    assert code == 0
    assert json.loads((tmp_path / "e.json").read_text())["styles"][0]["portraits"] == 2


@pytest.mark.slow
def test_feature_term_keeps_the_light_and_dark_of_eyes_nose_and_mouth(tmp_path, tree, reference):
    """Composited crops carry where the eyes, nose and mouth show; the feature term scores only there,
    ignores a change of overall colour, and is recorded in the model file."""
    import torch

    from stylize.content.compose import open_part_tree
    from stylize.content.picking import pick_face_parts
    from stylize.training.data import build_content_pool, sample_batch
    from stylize.training.losses import grow_mask, masked_detail_loss

    generator = open_part_tree(BUNDLED_PARTS)
    mask = generator.feature_mask(pick_face_parts(generator.tree, 3))
    assert mask.shape == (285, 295) and mask.max() == 1.0 and mask[:20, :20].max() == 0.0
    assert mask[60:200, 100:195].mean() > 0.2 > mask[200:, :].mean()  # the middle of the face, not the clothes

    pool = build_content_pool(["compose:0-9"], lambda: generator)
    batch = sample_batch(pool, seed=0, step=1, batch=2, size=64, with_features=True)
    assert batch.shape == (2, 4, 64, 64) and torch.equal(
        batch[:, :3], sample_batch(pool, seed=0, step=1, batch=2, size=64)
    )
    content, features = batch[:, :3], grow_mask(batch[:, 3:], 4)
    tinted = content + torch.tensor([0.2, -0.1, 0.3]).view(1, 3, 1, 1)
    assert masked_detail_loss(tinted, content, features) < 1e-6  # overall colour and brightness are free
    assert masked_detail_loss(content * 0.8, content, features) == pytest.approx(0.04, rel=1e-3)  # contrast is not
    inverted = masked_detail_loss(1 - content, content, features)
    assert inverted == pytest.approx(4.0, rel=1e-3)  # light and dark swapped: error twice the pattern, squared
    outside = content.clone()
    outside[features.expand_as(content) == 0] = 0.5  # flatten everything but the features and their surround
    assert masked_detail_loss(outside, content, grow_mask(batch[:, 3:], 0)) < 0.1 * inverted

    result = train(
        "featured",
        [reference],
        settings=TrainSettings(steps=2, **{**TINY, "feature_weight": 2.0}),
        styles_dir=tmp_path,
        parts=tree,
        device="cpu",
        progress=False,
    )
    training = result.metadata["training"]
    assert training["feature_weight"] == 2.0 and training["feature_term"]["parts"] == ["eyes", "nose", "mouth"]
    assert result.metadata["final_losses"]["features"] > 0
    off = train(
        "plain",
        [reference],
        settings=TrainSettings(steps=2, **{**TINY, "feature_weight": 0.0}),
        styles_dir=tmp_path,
        parts=tree,
        device="cpu",
        progress=False,
    )
    assert "features" not in off.metadata["final_losses"]


@pytest.mark.slow
def test_a_budget_spent_before_the_first_step_is_refused_and_leaves_nothing(tmp_path, tree, reference, capsys):
    """A time budget counts the preparing; one that ends before the first step is an error (exit 1 on
    the command line), never a style that is only its starting point, and leaves no folder behind."""
    from stylize.cli import main

    settings = {**TINY, "minutes": 1e-6}  # a few microseconds: preparing alone spends it
    with pytest.raises(StylizeError, match=r"ended before the first step \(preparing took \d+ s\)"):
        train("nothing", [reference], settings=TrainSettings(**settings), styles_dir=tmp_path, parts=tree, device="cpu")
    assert not (tmp_path / "nothing").exists()

    code = main(
        [
            "train", "--name", "nothing", "--refs", str(reference), "--minutes", "0.000001", "--arch", "tiny",
            "--size", "32", "--batch", "1", "--content", "compose:0-3", "--no-warm-start",
            "--styles-dir", str(tmp_path), "--parts", str(tree), "--device", "cpu", "-q",
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "no style was written; give more --minutes M, or --steps N" in err, err
    assert not (tmp_path / "nothing").exists()


@pytest.mark.slow
def test_a_replaced_style_keeps_its_references_until_the_new_one_is_written(tmp_path, tree, reference):
    """The references are copied in with the model file: a training that writes nothing (here, a budget
    spent before its first step) leaves the style it would have replaced whole, references included."""
    train("kept", [reference], settings=TrainSettings(steps=1, **TINY), styles_dir=tmp_path, parts=tree, device="cpu")
    before = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in (tmp_path / "kept").rglob("*") if p.is_file()}
    other = tmp_path / "other.png"
    Image.fromarray(np.full((64, 64, 3), 30, np.uint8)).save(other)
    with pytest.raises(StylizeError, match="ended before the first step"):
        train(
            "kept",
            [other],
            settings=TrainSettings(**{**TINY, "minutes": 1e-6}),
            styles_dir=tmp_path,
            parts=tree,
            device="cpu",
            overwrite=True,
        )
    after = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in (tmp_path / "kept").rglob("*") if p.is_file()}
    assert after == before
    load_model(tmp_path / "kept")


@pytest.mark.slow
def test_the_model_file_says_where_the_time_went(tmp_path, tree, reference):
    result = train("timed", [reference], settings=TrainSettings(steps=2, **TINY), styles_dir=tmp_path, parts=tree)
    meta = json.loads((tmp_path / "timed" / METADATA_NAME).read_text())
    assert meta["steps"] == 2 and meta["prepare_seconds"] > 0 and meta["step_seconds"] > 0
    assert meta["prepare_seconds"] + meta["step_seconds"] == pytest.approx(meta["wall_seconds"], abs=0.02)
    assert result.time_line().startswith("2 steps in ") and "s preparing" in result.time_line()
