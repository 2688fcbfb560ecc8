"""The one exception family of stylize.

Every error a user can cause (a bad file, a bad config value, a missing part) is raised as a
``StylizeError`` whose message is one line that names the thing at fault and says how to fix it.
The CLI prints that line on stderr and exits non-zero; it never shows a traceback for these.

The library speaks of its parameters, never of command-line flags: a message names a parameter as
``NAME=VALUE`` (``resume=True``, ``minutes=0.0``, ``parts=DIR``) and lists it in ``params``; the CLI
rewrites each of those to its flag (``--resume``, ``--minutes 0.0``, ``--parts DIR``) when it prints the line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

SHOWN_CHARS = 60  # how much of a value a message quotes


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


def cut(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` for a one-line message: as it is, or its start and its length when longer than ``limit``."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` for a one-line message, cut like :func:`cut`; a huge whole number shows its
    number of digits (``repr`` of an ``int`` of more than 4300 digits raises, and 5000 digits would
    swamp the line anyway)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        digits = int(math.log10(abs(value))) + 1  # the float logarithm may round up at 99...9
        return f"a number of {digits - 1 if abs(value) < 10 ** (digits - 1) else digits} digits"
    try:
        text = repr(value)
    except ValueError:  # a huge int inside a list or dict
        return f"a {type(value).__name__} holding a huge number"
    return cut(" ".join(text.split()), limit)


def shown_word(word: str, limit: int = SHOWN_CHARS) -> str:
    """A command-line word as a message quotes it: as typed, quoted when empty or holding spaces or
    characters outside printable ASCII, and cut like :func:`cut` when long."""
    if word and word.isascii() and word.isprintable() and not any(c.isspace() for c in word):
        return cut(word, limit)
    return shown(word, limit)


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


class Interrupted(StylizeError):
    """A training stopped by Ctrl-C or SIGTERM after its step, its checkpoint whole: the message says
    where the checkpoint is and to rerun with ``resume=True``. The command line exits 130 (SIGINT) or
    143 (SIGTERM) with it."""
