"""The assets shipped inside the package, found with ``importlib.resources``.

``stylize/assets/`` holds the sample part tree (``facegen/``), the bundled styles (``styles/``), the
warm-start base networks (``bases/``), the references the bundled styles were trained from
(``references/``) and the C++ example's sources (``cpp/``). They are package data: a regular
``pip install`` carries them, so nothing here depends on a source checkout or the working folder.
In the config a path may name one as ``bundled:RELATIVE/PATH`` (``[parts] root = "bundled:facegen"``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

BUNDLED_PREFIX = "bundled:"


def asset_path(relative: str = "") -> Path:
    """The file-system path of ``stylize/assets/RELATIVE`` in the installed package."""
    root = resources.files("stylize") / "assets"
    for part in Path(relative).parts:
        root = root / part
    return Path(str(root))


def bundled_styles_dir() -> Path:
    return asset_path("styles")


def bundled_bases_dir() -> Path:
    return asset_path("bases")


def cpp_example_dir() -> Path:
    """The CMake project of the C++ example that consumes exported styles."""
    return asset_path("cpp")
