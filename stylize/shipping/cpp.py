"""Building and running the C++ consumer of exported styles (``stylize/assets/cpp``, package data; OpenCV's DNN module).

``build_cpp_example(build_dir)`` configures and builds the C++ example with CMake and returns the
``stylize_portrait`` binary; ``run_cpp_stylize`` stylizes one PNG with it and returns the time per
image, and ``run_cpp_bench`` returns its ``--bench`` figures (ms per 295x285 portrait and 74x72
thumbnail), which ``stylize bench runtimes`` reports as the "OpenCV 4.6 (C++)" column. Needs cmake, a C++17
compiler and OpenCV's development files with the dnn module (Debian: ``apt-get install cmake g++
pkg-config libopencv-dev``); ``find_cpp_tools`` says what is missing. No torch here.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from stylize.bundled import cpp_example_dir
from stylize.errors import StylizeError

BINARY_NAME = "stylize_portrait"
APT_PACKAGES = "cmake g++ pkg-config libopencv-dev"
INSTALL_HINT = f"install them with: apt-get install {APT_PACKAGES}"
_MS_LINE = re.compile(r"([0-9]+(?:\.[0-9]+)?) ms per image")
_OPENCV_CONFIG_GLOBS = (
    "/usr/lib/cmake/opencv4/OpenCVConfig.cmake",
    "/usr/lib/*/cmake/opencv4/OpenCVConfig.cmake",
    "/usr/local/lib/cmake/opencv4/OpenCVConfig.cmake",
    "/usr/local/lib/*/cmake/opencv4/OpenCVConfig.cmake",
    "/usr/local/lib/cmake/opencv*/OpenCVConfig.cmake",
    "/usr/share/OpenCV/OpenCVConfig.cmake",
    "/opt/homebrew/lib/cmake/opencv4/OpenCVConfig.cmake",
)


def _compiler() -> str | None:
    candidates = [os.environ.get("CXX", "")] + ["c++", "g++", "clang++"]
    for name in candidates:
        if name and shutil.which(name.split()[0]):
            return name
    return None


def _opencv_dev_files() -> bool:
    """Whether CMake can plausibly find OpenCV (its CMake package or pkg-config's opencv4)."""
    opencv_dir = os.environ.get("OpenCV_DIR")
    if opencv_dir and any(Path(opencv_dir).glob("*Config.cmake")):
        return True
    if any(glob.glob(pattern) for pattern in _OPENCV_CONFIG_GLOBS):
        return True
    if shutil.which("pkg-config"):
        done = subprocess.run(["pkg-config", "--exists", "opencv4"], capture_output=True)
        return done.returncode == 0
    return False


def find_cpp_tools() -> str | None:
    """``None`` when cmake, a C++ compiler and OpenCV's development files are all there, else what is missing."""
    missing = []
    if not shutil.which("cmake"):
        missing.append("cmake")
    if _compiler() is None:
        missing.append("a C++ compiler (g++)")
    if not _opencv_dev_files():
        missing.append("OpenCV development files (libopencv-dev)")
    return ", ".join(missing) if missing else None


def _last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if (
            'Could not find a package configuration file provided by "OpenCV"' in line
            or "Could NOT find OpenCV" in line
        ):
            return "CMake cannot find OpenCV"
    for line in reversed(lines):
        lowered = line.lower()
        if "error" in lowered and not lowered.startswith("-- configuring incomplete"):
            return line[:200]
    return (lines[-1] if lines else "no output")[:200]


def _binary_in(build_dir: Path) -> Path | None:
    suffix = ".exe" if sys.platform == "win32" else ""
    for candidate in (build_dir / f"{BINARY_NAME}{suffix}", build_dir / "Release" / f"{BINARY_NAME}{suffix}"):
        if candidate.is_file():
            return candidate
    return None


def build_cpp_example(build_dir: str | os.PathLike[str], *, source_dir: str | os.PathLike[str] | None = None) -> Path:
    """Configure and build the C++ example (Release) into ``build_dir``, quietly; return the binary's path.

    Raises ``StylizeError`` (one line) when cmake, the compiler or OpenCV are missing or the build fails.
    """
    source = Path(source_dir) if source_dir is not None else cpp_example_dir()
    build = Path(build_dir)
    if not (source / "CMakeLists.txt").is_file():
        raise StylizeError(
            f"{source}: the C++ example's CMakeLists.txt is missing; reinstall stylize (its sources are "
            "package data in stylize/assets/cpp) or pass source_dir= a copy of them"
        )
    missing = find_cpp_tools()
    if missing:
        raise StylizeError(f"cannot build the C++ example: {missing} not found; {INSTALL_HINT}")
    steps = (
        ["cmake", "-S", str(source), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", "-Wno-dev"],
        ["cmake", "--build", str(build), "--config", "Release", "--parallel", str(min(4, os.cpu_count() or 1))],
    )
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise StylizeError(f"{build}: {' '.join(step[:2])} failed ({err}); {INSTALL_HINT}") from err
        if done.returncode != 0:
            stage = "configure" if "-S" in step else "build"
            raise StylizeError(
                f"{build}: CMake {stage} of the C++ example failed "
                f"({_last_error_line(done.stdout + chr(10) + done.stderr)}); "
                f"check the tools ({INSTALL_HINT}) and the full log of: {' '.join(step)}"
            )
    binary = _binary_in(build)
    if binary is None:
        raise StylizeError(f"{build}: the build finished but {BINARY_NAME} is not there; rerun: cmake --build {build}")
    return binary


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as err:
        raise StylizeError(f"{command[0]}: not found; build it with build_cpp_example() or cmake --build") from err
    except subprocess.TimeoutExpired as err:
        raise StylizeError(
            f"{command[0]}: no result after {timeout:.0f} s; try a smaller repeat=N", params=("repeat",)
        ) from err
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        message = lines[-1].removeprefix(f"{BINARY_NAME}: error: ")
        raise StylizeError(message)
    return done


def run_cpp_stylize(
    binary: str | os.PathLike[str],
    model: str | os.PathLike[str],
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    repeat: int = 1,
    threads: int = 1,
    timeout: float = 600,
    style: str | None = None,
    mix: str | None = None,
) -> float:
    """Stylize ``input`` into ``output`` with the C++ example; the ms per image it measured (median of ``repeat``).

    For a zero-training export, ``style`` paints with one of its styles and ``mix`` ("A:0.7,B:0.3") with a
    mix; neither: the export's default mix."""
    done = _run(
        [
            os.fspath(binary),
            os.fspath(model),
            os.fspath(input),
            os.fspath(output),
            "--repeat",
            str(repeat),
            "--threads",
            str(threads),
            *_choice(style, mix),
        ],
        timeout,
    )
    found = _MS_LINE.search(done.stdout)
    if not found:
        raise StylizeError(f"{binary}: unexpected output {done.stdout.strip()[:120]!r}; rebuild the C++ example")
    return float(found.group(1))


def _choice(style: str | None, mix: str | None) -> list[str]:
    return (["--style", style] if style is not None else []) + (["--mix", mix] if mix is not None else [])


def run_cpp_bench(
    binary: str | os.PathLike[str],
    model: str | os.PathLike[str],
    repeat: int = 5,
    threads: int = 1,
    timeout: float = 600,
    style: str | None = None,
    mix: str | None = None,
) -> dict:
    """The C++ example's ``--bench`` figures: {"opencv", "threads", "portrait_ms", "thumbnail_ms", ...}."""
    command = [os.fspath(binary), "--bench", os.fspath(model), "--repeat", str(repeat), "--threads", str(threads)]
    done = _run([*command, *_choice(style, mix)], timeout)
    lines = done.stdout.strip().splitlines()
    try:
        figures = json.loads(lines[-1])
    except (IndexError, ValueError) as err:
        raise StylizeError(
            f"{binary}: its benchmark printed no JSON line ({done.stdout.strip()[:120]!r}); rebuild the C++ example"
        ) from err
    return figures
