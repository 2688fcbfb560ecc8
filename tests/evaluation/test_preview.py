"""Preview grid and HTML contact sheet, checked in a real headless Chromium; the pipeline command."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import processes
import pytest
from conftest import make_tree, require_tool, stroke_reference
from headless_browser import HeadlessPage, find_chromium
from PIL import Image

from stylize import StylizeError
from stylize.evaluation.preview import preview


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return make_tree(tmp_path_factory.mktemp("tree") / "facegen", races=1, per_gender=1)


@pytest.fixture(scope="module")
def sheet(tmp_path_factory, tree, tiny_styles):
    """A preview of 2 styles x (3 composed faces + 1 legacy portrait with holes in its alpha)."""
    root = tmp_path_factory.mktemp("preview")
    legacy = root / "legacy"
    legacy.mkdir()
    rgba = np.zeros((90, 80, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    rgba[20:50, 20:40, 3] = 0
    Image.fromarray(rgba, "RGBA").save(legacy / "old portrait.png")
    result = preview(
        ["inky", "rusty"],
        ["compose:0-2", str(legacy)],
        root / "out",
        parts=tree,
        styles_dir=tiny_styles,
        device="cpu",
        progress=False,
    )
    return result


@pytest.mark.slow
def test_preview_writes_grid_html_and_images(sheet):
    out = sheet.out_dir
    assert sheet.styles == ["inky", "rusty"] and len(sheet.rows) == 4
    grid = Image.open(sheet.grid)
    assert grid.width > 3 * 196 and grid.height > 5 * 150  # (reference row + 4 rows) x (original + 2 styles)
    for folder in ("content", "inky", "rusty"):
        assert len(list((out / folder).glob("*.png"))) == 4
    assert sorted(p.name for p in (out / "refs").iterdir()) == ["inky.png", "rusty.png"]
    styled = Image.open(out / "inky/old_portrait.png")
    original = Image.open(out / "content/old_portrait.png")
    assert styled.mode == "RGBA" and styled.size == (80, 90)
    assert np.array_equal(np.asarray(styled)[..., 3], np.asarray(original)[..., 3])
    page = sheet.html.read_text()
    # Self-contained: every src is a relative file beside the page, nothing fetched from elsewhere.
    sources = re.findall(r'(?<![-\w])src="([^"]+)"', page)
    assert len(sources) == 2 + 4 * 3
    assert all(not s.startswith(("http:", "https:", "//", "/")) and (out / unquote(s)).is_file() for s in sources)
    assert "<link" not in page and "@import" not in page


@pytest.mark.slow
def test_preview_in_headless_chromium(sheet, tmp_path):
    executable = find_chromium()
    require_tool("chromium (Debian package chromium)", executable)
    with HeadlessPage(executable, width=1200, height=900) as page:
        page.open(sheet.html.as_uri())
        decoded = page.evaluate(
            "new Promise(done => { const wait = () => document.body.dataset.state === 'ready'"
            " ? done(document.body.dataset.decoded) : setTimeout(wait, 20); wait(); })"
        )
        assert decoded == "14/14"  # 2 references + 4 rows x (original + 2 styles), all decoded
        assert page.evaluate(
            "Array.from(document.querySelectorAll('#grid img')).every(i => i.complete && i.naturalWidth > 0)"
        )
        page.screenshot(tmp_path / "grid.png")

        centre = page.evaluate(
            "(() => { const r = document.querySelector('td button.cell').getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        page.click(*centre)
        opened = page.evaluate(
            "new Promise(done => setTimeout(() => done([document.getElementById('viewer').hidden,"
            " location.hash, document.getElementById('viewer-caption').textContent]), 100))"
        )
        assert opened == [False, "#view=inky/face_0000000000.png", "face_0000000000.png: inky"]
        assert (
            page.evaluate(
                "document.getElementById('viewer-image').decode().then(() => "
                "document.getElementById('viewer-image').naturalWidth)"
            )
            == 295
        )
        page.key("ArrowRight")
        time.sleep(0.1)
        assert page.evaluate("location.hash") == "#view=rusty/face_0000000000.png"
        page.screenshot(tmp_path / "viewer.png")
        page.key("Escape")
        time.sleep(0.1)
        assert page.evaluate("document.getElementById('viewer').hidden") is True
        errors = [m for m in page.console if m["level"] in ("error", "assert", "warning")]
        assert errors == [] and page.exceptions == []
    for shot in ("grid.png", "viewer.png"):
        image = np.asarray(Image.open(tmp_path / shot).convert("RGB"))
        assert image.shape[:2] == (900, 1200) and image.std() > 10  # a rendered page, not a blank one


def test_preview_refuses_bad_requests(tmp_path, tree, tiny_styles):
    with pytest.raises(StylizeError, match="not found"):
        preview(["inky"], [str(tmp_path / "nowhere")], tmp_path / "out", parts=tree, styles_dir=tiny_styles)
    with pytest.raises(StylizeError, match="style 'nosuch' not found"):
        preview(["nosuch"], ["compose:0-1"], tmp_path / "out", parts=tree, styles_dir=tiny_styles)
    with pytest.raises(StylizeError, match="nothing to preview"):
        preview([], ["compose:0-1"], tmp_path / "out", parts=tree, styles_dir=tiny_styles)


@pytest.mark.slow
def test_run_trains_missing_styles_applies_and_previews(tmp_path, tree, tiny_styles):
    import shutil

    shutil.copytree(tiny_styles / "inky", tmp_path / "styles/inky")
    stroke_reference(tmp_path / "refs/fresh.png", seed=11)
    (tmp_path / "pipeline.toml").write_text(
        f'[parts]\nroot = "{tree}"\n[content]\nseeds = "0-2"\n[output]\ndir = "out"\n[run]\ndevice = "cpu"\n'
        '[styles]\ndir = "styles"\nuse = ["inky", "fresh"]\n[styles.references]\nfresh = ["refs/fresh.png"]\n'
        '[train]\narch = "tiny"\nsize = 32\nbatch = 1\nsteps = 2\nwarm_start = false\n'
        'style_layers = ["relu1_1", "relu2_1"]\ncontent_layer = "relu2_2"\ncontent = ["compose:0-5"]\n'
    )
    command = [sys.executable, "-m", "stylize", "run", "-q"]
    done = processes.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "train fresh:" in done.stdout and "6 written" in done.stdout
    assert json.loads((tmp_path / "styles/fresh/model.json").read_text())["references"][0]["source_name"] == "fresh.png"
    for style in ("inky", "fresh"):
        for seed in range(3):
            assert Image.open(tmp_path / f"out/stylized/{style}/faces/face_{seed:010d}.png").size == (295, 285)
    assert (tmp_path / "out/preview/grid.png").is_file() and (tmp_path / "out/preview/index.html").is_file()
    again = processes.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "train fresh" not in again.stdout and "0 written, 6 up to date" in again.stdout


@pytest.mark.slow
def test_run_names_a_style_it_cannot_train(tmp_path, tree):
    (tmp_path / "pipeline.toml").write_text(
        f'[parts]\nroot = "{tree}"\n[content]\nseeds = "0"\n[styles]\ndir = "styles"\nuse = ["ghost"]\n'
    )
    done = processes.run(
        [sys.executable, "-m", "stylize", "run", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "style 'ghost' has no model" in done.stderr and "[styles.references] ghost" in done.stderr
