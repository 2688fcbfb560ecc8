"""Bulk apply: every image kind keeps its size and alpha, inputs are untouched, reruns do no work,
a killed run resumes to the same bytes, and the controls do what they say."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import processes
import pytest
from PIL import Image

from stylize import StylizeError
from stylize.imageio import read_image
from stylize.inference.bulk import MANIFEST_NAME, apply, read_apply_manifest


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _gradient(width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + y) % 256], axis=-1)
    return np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture()
def mixed_folder(tmp_path) -> Path:
    """Every kind of portrait a legacy folder may hold, plus one truncated file."""
    folder = tmp_path / "legacy"
    (folder / "sub").mkdir(parents=True)
    rgba = np.dstack([_gradient(295, 285, 1), np.full((285, 295), 255, np.uint8)])
    rgba[40:120, 30:90, 3] = 0  # a hole
    rgba[200:, :, 3] = 128  # half transparent band
    Image.fromarray(rgba, "RGBA").save(folder / "rgba_holes.png")
    palette = Image.fromarray(_gradient(120, 90, 2)).quantize(16)
    palette.info["transparency"] = 0
    palette.save(folder / "palette.png", transparency=0)
    Image.fromarray(_gradient(64, 48, 3)[..., 0]).save(folder / "grey.png")
    Image.fromarray(_gradient(80, 60, 4)[..., 1].astype(np.uint16) * 257).save(folder / "sub/deep16.png")
    Image.fromarray(_gradient(100, 70, 5)).convert("CMYK").save(folder / "cmyk.jpg", quality=90)
    rotated = Image.fromarray(_gradient(90, 60, 6))
    exif = rotated.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    rotated.save(folder / "sub/exif_rotated.jpg", exif=exif, quality=90)
    Image.new("RGBA", (1, 1), (200, 10, 10, 77)).save(folder / "one_pixel.png")
    Image.fromarray(_gradient(301, 287, 7)).save(folder / "odd_301x287.png")
    Image.fromarray(_gradient(2000, 1900, 8)).save(folder / "large_2000x1900.png", compress_level=1)
    whole = (folder / "odd_301x287.png").read_bytes()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 2])
    return folder


@pytest.mark.slow
def test_mixed_folder_keeps_size_and_alpha_names_the_bad_file_and_reruns_do_nothing(
    tmp_path, mixed_folder, tiny_styles
):
    before = _digest(mixed_folder)
    out = tmp_path / "out"
    result = apply("inky", [mixed_folder], out, styles_dir=tiny_styles, device="cpu", progress=False)
    assert len(result.failed) == 1 and "truncated.png" in result.failed[0]
    good = sorted(p for p in mixed_folder.rglob("*") if p.is_file() and p.name != "truncated.png")
    assert len(result.written) == len(good) == 9
    for source in good:
        relative = source.relative_to(mixed_folder).with_suffix(".png")
        expected = read_image(source)
        produced = read_image(out / relative)
        assert produced.size == expected.size, relative
        if expected.alpha is None:
            assert produced.alpha is None, relative
        else:
            assert produced.alpha is not None and np.array_equal(produced.alpha, expected.alpha), relative
    assert read_image(out / "sub/exif_rotated.png").size == (60, 90)  # upright, as the EXIF tag says
    assert _digest(mixed_folder) == before  # no input changed

    outputs = _digest(out)
    again = apply("inky", [mixed_folder], out, styles_dir=tiny_styles, device="cpu", progress=False)
    assert again.written == [] and len(again.skipped) == 9 and len(again.failed) == 1
    assert _digest(out) == outputs


@pytest.mark.slow
def test_reruns_redo_exactly_what_changed(tmp_path, tiny_styles):
    inputs = tmp_path / "in"
    for index in range(3):
        inputs.mkdir(exist_ok=True)
        Image.fromarray(_gradient(40, 30, index)).save(inputs / f"p{index}.png")
    out = tmp_path / "out"
    first = apply("inky", [inputs], out, styles_dir=tiny_styles, device="cpu", progress=False)
    assert len(first.written) == 3
    Image.fromarray(_gradient(40, 30, 99)).save(inputs / "p1.png")  # changed input
    (out / "p2.png").write_bytes(b"damaged")  # altered output
    redo = apply("inky", [inputs], out, styles_dir=tiny_styles, device="cpu", progress=False)
    assert sorted(p.name for p in redo.written) == ["p1.png", "p2.png"] and len(redo.skipped) == 1
    assert read_image(out / "p2.png").size == (40, 30)
    settings_changed = apply("inky", [inputs], out, strength=0.5, styles_dir=tiny_styles, device="cpu", progress=False)
    assert len(settings_changed.written) == 3
    model_changed = apply("rusty", [inputs], out, strength=0.5, styles_dir=tiny_styles, device="cpu", progress=False)
    assert len(model_changed.written) == 3
    values_changed = apply(
        "rusty", [inputs], out, strength=0.5, keep_values=0.5, styles_dir=tiny_styles, progress=False
    )
    assert len(values_changed.written) == 3
    model_changed = apply("rusty", [inputs], out, strength=0.5, styles_dir=tiny_styles, device="cpu", progress=False)
    assert len(model_changed.written) == 3 and not model_changed.skipped  # back to keep_values 1: redone
    records = read_apply_manifest(out / MANIFEST_NAME)
    assert set(records) == {"p0.png", "p1.png", "p2.png"}
    record = records["p0.png"]
    assert record["style"] == "rusty" and record["settings"] == {
        "strength": 0.5,
        "preserve_color": False,
        "scale": 1.0,
        "keep_values": 1.0,
        "values_method": "stylize-values/3",
    }
    assert record["output_sha256"] == hashlib.sha256((out / "p0.png").read_bytes()).hexdigest()
    assert record["input_sha256"] == hashlib.sha256((inputs / "p0.png").read_bytes()).hexdigest()
    assert len(record["model_sha256"]) == 64


def test_several_styles_go_to_subfolders_and_match_single_runs(tmp_path, tiny_styles):
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(_gradient(50, 40, 1)).save(inputs / "a.png")
    both = apply(["inky", "rusty"], [inputs], tmp_path / "both", styles_dir=tiny_styles, device="cpu", progress=False)
    assert sorted(p.relative_to(tmp_path / "both").as_posix() for p in both.written) == ["inky/a.png", "rusty/a.png"]
    single = apply("rusty", [inputs], tmp_path / "single", styles_dir=tiny_styles, device="cpu", progress=False)
    assert (tmp_path / "both/rusty/a.png").read_bytes() == single.written[0].read_bytes()


def test_controls(tmp_path, tiny_styles):
    from kornia.color import rgb_to_lab

    from stylize.inference.image import to_tensor

    inputs = tmp_path / "in"
    inputs.mkdir()
    original = _gradient(64, 48, 3)
    Image.fromarray(original).save(inputs / "a.png")

    def run(name: str, **controls) -> np.ndarray:
        apply("inky", [inputs], tmp_path / name, styles_dir=tiny_styles, device="cpu", progress=False, **controls)
        return read_image(tmp_path / name / "a.png").rgb

    full, none, half = run("full"), run("none", strength=0.0), run("half", strength=0.5)
    assert np.array_equal(none, original)  # strength 0 gives the content back exactly
    mid = (original.astype(np.float64) + full) / 2
    assert np.abs(half - mid).max() <= 1.0 and not np.array_equal(half, full)

    def chroma(rgb: np.ndarray):
        return rgb_to_lab(to_tensor(rgb))[0, 1:]

    kept = run("kept", preserve_color=True)
    assert (chroma(kept) - chroma(original)).abs().mean() < 0.5 * (chroma(full) - chroma(original)).abs().mean()
    darker = _gradient(64, 48, 3) // 3  # the same portrait, darker: kept values draw it darker than the style's tone
    Image.fromarray(darker).save(inputs / "a.png")
    dark_kept, dark_today = run("dark_kept"), run("dark_today", keep_values=0.0)
    Image.fromarray(original).save(inputs / "a.png")
    today = run("today", keep_values=0.0)
    assert abs(float(today.mean()) - float(dark_today.mean())) < abs(float(full.mean()) - float(dark_kept.mean()))
    bigger = run("bigger", scale=2.0)
    assert bigger.shape == original.shape and not np.array_equal(bigger, full)
    bad_values = (dict(strength=1.5), dict(scale=0.0), dict(scale=float("nan")), dict(keep_values=-0.1))
    for bad in (*bad_values, dict(workers=0), dict(batch=0)):
        with pytest.raises(StylizeError):
            run("bad", **bad)


@pytest.mark.slow
def test_workers_and_batches_give_the_same_bytes(tmp_path, tiny_styles):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for index in range(6):
        Image.fromarray(_gradient(60 + 10 * (index % 2), 50, index)).save(inputs / f"p{index}.png")
    serial = apply(
        ["inky", "rusty"], [inputs], tmp_path / "serial", styles_dir=tiny_styles, device="cpu", progress=False
    )
    pooled = apply(
        ["inky", "rusty"],
        [inputs],
        tmp_path / "pooled",
        workers=2,
        batch=2,
        styles_dir=tiny_styles,
        device="cpu",
        progress=False,
    )
    batched = apply(
        ["inky", "rusty"], [inputs], tmp_path / "batched", batch=4, styles_dir=tiny_styles, device="cpu", progress=False
    )
    assert len(serial.written) == len(pooled.written) == len(batched.written) == 12
    images = lambda d: {k: v for k, v in _digest(d).items() if k.endswith(".png")}  # noqa: E731
    # Same names, sizes and alpha whatever the worker and batch counts. The colours agree to within one
    # level: CPU kernels sum in another order for another batch size or thread count (a pool's workers run
    # one thread each), so a rare pixel may round to the next level; a rerun with the same settings on the
    # same machine gives the same bytes (test_killed_run_resumes_to_the_same_bytes).
    assert (
        images(tmp_path / "serial").keys() == images(tmp_path / "pooled").keys() == images(tmp_path / "batched").keys()
    )
    for name in images(tmp_path / "serial"):
        one = read_image(tmp_path / "serial" / name)
        for other_run in ("pooled", "batched"):
            other = read_image(tmp_path / other_run / name)
            assert np.abs(one.rgb.astype(int) - other.rgb.astype(int)).max() <= 1, (name, other_run)
            assert one.size == other.size and (one.alpha is None) == (other.alpha is None)


def test_outputs_never_land_on_inputs_or_feed_the_next_run(tmp_path, tiny_styles):
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(_gradient(30, 30, 1)).save(inputs / "a.png")
    Image.fromarray(_gradient(30, 30, 2)).save(inputs / "a.jpg")
    with pytest.raises(StylizeError, match="would both be written to a.png"):
        apply("inky", [inputs], tmp_path / "out", styles_dir=tiny_styles, device="cpu", progress=False)
    (inputs / "a.jpg").unlink()
    with pytest.raises(StylizeError, match="output folder is an input folder"):
        apply("inky", [inputs], inputs, styles_dir=tiny_styles, device="cpu", progress=False)
    inner = inputs / "styled"  # an output folder inside the input folder is not read back as input
    first = apply("inky", [inputs], inner, styles_dir=tiny_styles, device="cpu", progress=False)
    second = apply("inky", [inputs], inner, styles_dir=tiny_styles, device="cpu", progress=False)
    assert len(first.written) == 1 and second.written == [] and len(second.skipped) == 1


def _apply_argv(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "stylize", "apply", *args]


def _run_apply(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return processes.run(_apply_argv(args), cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_bytes(tmp_path, tiny_styles):
    inputs = tmp_path / "in"
    inputs.mkdir()
    count = 60
    for index in range(count):
        Image.fromarray(_gradient(256, 256, index)).save(inputs / f"p{index:03d}.png", compress_level=1)
    common = [str(inputs), "--style", "inky", "--styles-dir", str(tiny_styles), "--device", "cpu", "-q"]
    whole = _run_apply(common + ["--out", str(tmp_path / "whole")], tmp_path)
    assert whole.returncode == 0, whole.stderr

    killed_out = tmp_path / "killed"
    manifest = killed_out / MANIFEST_NAME
    argv = _apply_argv(common + ["--out", str(killed_out)])
    with processes.started(argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as victim:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and victim.poll() is None:
            if manifest.is_file() and manifest.read_text().count("\n") >= 5:
                break
            time.sleep(0.01)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=60)
    done_before = len(read_apply_manifest(manifest))
    assert 5 <= done_before < count, "the run was not killed half-way"
    resumed = _run_apply(common + ["--out", str(killed_out)], tmp_path)
    stdout, stderr = resumed.stdout, resumed.stderr
    assert resumed.returncode == 0, stderr
    assert f"{done_before} already up to date" in stdout or f"{count - done_before} images" in stdout, stdout
    images = lambda d: {k: v for k, v in _digest(d).items() if k.endswith(".png")}  # noqa: E731
    assert images(killed_out) == images(tmp_path / "whole") and len(images(killed_out)) == count
    assert not [p for p in killed_out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_sigterm_stops_a_pool_run_within_5_s_with_no_worker_left_and_only_whole_outputs(tmp_path, tiny_styles):
    """--workers 2: SIGTERM to the run alone (``kill PID``) stops it within 5 s with one line, exit 143;
    its workers (which leave SIGINT and SIGTERM to the run) are gone with it, no temporary file is left,
    and every output the manifest records is there (a rerun finishes the rest). Started with SIGINT
    ignored, as ``cmd &`` in a script does. (Ctrl-C in a terminal, SIGINT to the whole group, takes the
    same path: the workers ignore it, the run stops them.)"""
    sig = signal.SIGTERM
    inputs = tmp_path / "in"
    inputs.mkdir()
    for index in range(200):
        Image.fromarray(_gradient(256, 256, index)).save(inputs / f"p{index:03d}.png", compress_level=1)
    out = tmp_path / "out"
    argv = _apply_argv(
        [str(inputs), "--style", "inky", "--styles-dir", str(tiny_styles), "--device", "cpu", "-q", "--out", str(out)]
        + ["--workers", "2"]
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    manifest = out / MANIFEST_NAME
    with processes.started(argv, cwd=tmp_path, env=env, ignore_sigint=True, stderr=subprocess.PIPE, text=True) as run:
        deadline = time.monotonic() + 300
        while not (manifest.is_file() and manifest.read_text().count("\n") >= 3):
            assert run.poll() is None and time.monotonic() < deadline, run.stderr.read()
            time.sleep(0.01)
        sent = time.monotonic()
        run.send_signal(sig)
        _, err = run.communicate(timeout=60)
        took = time.monotonic() - sent
        left = processes.session_members(run.pid)
        while left and time.monotonic() < sent + 5.0:  # a worker killed as the run ended may still be going
            time.sleep(0.05)
            left = processes.session_members(run.pid)
    assert took < 5.0, f"it took {took:.1f} s to stop: {err}"
    assert not left, f"processes left running: {left}"
    assert run.returncode == 128 + sig, (run.returncode, err)
    assert err.count("\n") == 1 and "stylize: interrupted" in err and "Traceback" not in err, err
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    records = read_apply_manifest(manifest)
    assert 3 <= len(records) < 200, "the run was not stopped half-way"
    for name, record in records.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == record["output_sha256"], name


@pytest.mark.slow
def test_cli_reports_bad_inputs_and_bad_controls_in_one_line(tmp_path, tiny_styles):
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(_gradient(30, 30, 1)).save(inputs / "good.png")
    (inputs / "empty.png").write_bytes(b"")
    base = [
        sys.executable,
        "-m",
        "stylize",
        "apply",
        str(inputs),
        "--styles-dir",
        str(tiny_styles),
        "--device",
        "cpu",
        "-q",
        "--out",
        str(tmp_path / "out"),
    ]
    done = processes.run(base + ["--style", "inky,rusty"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "empty.png" in done.stderr and "Traceback" not in done.stderr
    assert "stylized 2 images" in done.stdout and "1 inputs failed" in done.stdout
    for extra, message in (
        (["--style", "inky", "--strength", "2"], "--strength"),
        (["--style", "nosuch"], "style 'nosuch' not found"),
        (["--style", "inky", "--workers", "2", "--device", "cuda"], None),
    ):
        bad = processes.run(base + extra, capture_output=True, text=True, timeout=300)
        assert bad.returncode == 1 and "Traceback" not in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        if message:
            assert message in bad.stderr


def test_what_apply_cannot_use_is_named_not_skipped(tmp_path, tiny_styles, capsys):
    """Issue 16 item 10: a FIFO in a folder fails that input (exit 1) while the rest is stylized; a
    file inside --out given as input is named as such, not "no images found"."""
    from stylize.cli import main

    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(_gradient(30, 30, 1)).save(inputs / "a.png")
    Image.fromarray(_gradient(30, 30, 2)).save(inputs / "b.gif")
    os.mkfifo(inputs / "c.png")
    out = tmp_path / "out"
    common = ["--style", "inky", "--styles-dir", str(tiny_styles), "--device", "cpu", "-q"]
    assert main(["apply", str(inputs), "--out", str(out), *common]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        f"stylize: error: {inputs / 'c.png'}: not a regular file (a FIFO, socket or device?); it was not used"
    ]
    assert sorted(p.name for p in out.glob("*.png")) == ["a.png", "b.png"]
    assert main(["apply", str(out / "a.png"), "--out", str(out), *common]) == 1
    err = capsys.readouterr().err
    assert "this input is inside the output folder" in err and len(err.splitlines()) == 1
