"""The one exception family of stylize.

Every error a user can cause (a bad file, a bad config value, a missing part) is raised as a
``StylizeError`` whose message is one line that names the thing at fault and says how to fix it.
The CLI prints that line on stderr and exits non-zero; it never shows a traceback for these.

The library speaks of its parameters, never of command-line flags: a message names a parameter as
``NAME=VALUE`` (``resume=True``, ``minutes=0.0``, ``parts=DIR``) and lists it in ``params``; the CLI
rewrites each of those to its flag (``--resume``, ``--minutes 0.0``, ``--parts DIR``) when it prints the line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class StylizeError(Exception):
    """Base class of every user-facing error. ``str(err)`` is a single actionable line.

    ``params`` names the parameters the message mentions as ``NAME=VALUE`` (for the CLI to show as flags).
    """

    def __init__(self, message: str, *, params: Sequence[str] = ()) -> None:
        # Keep messages to one line: the CLI prints them verbatim.
        super().__init__(" ".join(message.split()))
        self.params: tuple[str, ...] = tuple(params)

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (apply's workers): keep the class, message and params.
        return (_rebuild, (type(self), str(self), self.params))


def _rebuild(cls: type[StylizeError], message: str, params: tuple[str, ...]) -> StylizeError:
    return cls(message, params=params)


class ConfigError(StylizeError):
    """``pipeline.toml`` (or an argument standing in for one of its values) is wrong."""


class SettingError(ConfigError):
    """A setting passed to a function is not allowed (``minutes=0.0``, ``strength=nan``): the message
    names the parameter and its value and says what is allowed."""


class ImageReadError(StylizeError):
    """An image file could not be read or decoded."""


class PartTreeError(StylizeError):
    """A face-part tree is missing, empty or malformed."""


class SeedError(StylizeError):
    """A seed or seed range is not a valid game seed (0..2**32-1)."""
