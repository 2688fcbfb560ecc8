"""The one exception family of stylize.

Every error a user can cause (a bad file, a bad config value, a missing part) is raised as a
``StylizeError`` whose message is one line that names the thing at fault and says how to fix it.
The CLI prints that line on stderr and exits non-zero; it never shows a traceback for these.
"""

from __future__ import annotations


class StylizeError(Exception):
    """Base class of every user-facing error. ``str(err)`` is a single actionable line."""

    def __init__(self, message: str) -> None:
        # Keep messages to one line: the CLI prints them verbatim.
        super().__init__(" ".join(message.split()))


class ConfigError(StylizeError):
    """``pipeline.toml`` (or an argument standing in for one of its values) is wrong."""


class ImageReadError(StylizeError):
    """An image file could not be read or decoded."""


class PartTreeError(StylizeError):
    """A face-part tree is missing, empty or malformed."""


class SeedError(StylizeError):
    """A seed or seed range is not a valid game seed (0..2**32-1)."""
