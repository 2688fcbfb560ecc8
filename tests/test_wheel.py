"""The package as a user gets it: a wheel installed (not editable) into a fresh virtual environment,
used from an empty folder. Nothing may depend on the source checkout or the working folder: the
bundled assets are package data, and ``stylize run`` writes only under ``./out``."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import processes
import pytest
from conftest import REPO_ROOT

pytestmark = pytest.mark.slow

BUNDLED_STYLES = ("pencil", "ink_wash", "paint")
# What is copied into the build folder: the checkout without its local clutter (a stale build/ or
# egg-info must not leak into the wheel).
BUILD_IGNORE = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".*_cache", ".hypothesis", "out", ".venv"
)


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    python: Path
    site_packages: Path


def _clean_env() -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH pointing into the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _run(command: list[str | Path], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = processes.run(
        [str(c) for c in command], cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} exited {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


def _tree(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build a wheel of the checkout and install it, without its dependencies, into a fresh virtual
    environment that sees the packages of the interpreter running the tests (torch etc.: nothing is
    downloaded), whether that is the system's or a virtual environment's, but not the checkout."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO_ROOT, source, ignore=BUILD_IGNORE)
    dist = root / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            dist,
            ".",
        ],
        cwd=source,
    )
    (wheel,) = dist.glob("stylize-*.whl")

    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=root)
    python = venv / "bin" / "python"
    purelib = Path(
        _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root).stdout.strip()
    )
    (purelib / "_stylize_test_packages.pth").write_text("".join(f"{path}\n" for path in _package_dirs()))
    # The test interpreter's pip, run by the venv's interpreter, installs into the venv.
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--force-reinstall", wheel], cwd=root)
    return Installed(wheel, venv, python, purelib)


def _package_dirs() -> list[str]:
    """The site-packages folders of the interpreter running the tests (a venv's own, and the system's
    where that venv sees them). ``venv --system-site-packages`` would give the base interpreter's
    instead, without what was installed into the venv that runs pytest. Listed in a .pth file as plain
    paths, their own .pth files are not run: an editable install of the checkout stays out."""
    folders = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        folders.append(site.getusersitepackages())
    # A venv inside the checkout (the README's .venv) is kept: only the checkout's own folder is not a
    # place to import stylize from.
    return [folder for folder in folders if os.path.isdir(folder) and Path(folder).resolve() != REPO_ROOT]


def test_wheel_carries_the_bundled_assets(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as archive:
        names = set(archive.namelist())
    assets = REPO_ROOT / "stylize" / "assets"
    expected = {
        f"stylize/assets/{path.relative_to(assets).as_posix()}"
        for path in assets.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert expected, f"{assets} holds no files"
    assert sorted(expected - names) == []
    for name in (
        "stylize/assets/facegen/backgrounds/general.png",
        "stylize/assets/cpp/CMakeLists.txt",
        "stylize/assets/cpp/stylize_portrait.cpp",
        "stylize/assets/bases/small/model.safetensors",
        *(
            f"stylize/assets/styles/{style}/{file}"
            for style in BUNDLED_STYLES
            for file in ("model.json", "model.safetensors")
        ),
        *(f"stylize/assets/references/{style}.png" for style in BUNDLED_STYLES),
    ):
        assert name in names
    # Only the package: the asset generators (tools/) and the tests stay in the checkout.
    distribution, version = installed.wheel.name.split("-")[:2]
    assert {name.split("/")[0] for name in names} == {"stylize", f"{distribution}-{version}.dist-info"}


def test_installed_package_is_the_wheel_not_the_checkout(installed: Installed, tmp_path: Path) -> None:
    result = _run(
        [
            installed.python,
            "-c",
            "import stylize, stylize.bundled as b; print(stylize.__file__); print(b.cpp_example_dir())",
        ],
        cwd=tmp_path,
    )
    package_file, cpp_dir = (Path(line).resolve() for line in result.stdout.splitlines())
    site_packages = installed.site_packages.resolve()
    assert package_file == site_packages / "stylize" / "__init__.py"
    assert not package_file.is_relative_to(REPO_ROOT)
    assert cpp_dir == site_packages / "stylize" / "assets" / "cpp"
    assert (cpp_dir / "CMakeLists.txt").is_file() and (cpp_dir / "stylize_portrait.cpp").is_file()


def test_stylize_run_from_an_empty_folder_writes_only_under_out(installed: Installed, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    assert _tree(work) == set()
    stylize = installed.venv / "bin" / "stylize"
    result = _run([stylize, "run", "--quiet"], cwd=work)

    after = _tree(work)
    assert {entry.split("/")[0] for entry in after} == {"out"}, f"written outside ./out: {sorted(after)}"
    out = work / "out"
    faces = sorted(path.name for path in (out / "faces").glob("*.png"))
    assert len(faces) == 16, result.stdout
    for style in BUNDLED_STYLES:
        stylized = sorted(path.name for path in (out / "stylized" / style / "faces").glob("*.png"))
        assert stylized == faces, f"{style}: {stylized}"
    assert (out / "preview" / "grid.png").stat().st_size > 0
