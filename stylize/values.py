"""Kinds of setting values: one check per kind, shared by ``pipeline.toml``, the command line and the
settings of the library's functions, so a value is refused the same way wherever it comes from.

A kind turns a value (from TOML or Python: :meth:`Kind.check`) or a command-line word
(:meth:`Kind.parse`) into the value in force, or raises :class:`BadValue` whose text says what to
use instead (``use a finite number > 0``). Numbers are never NaN or infinite, and every number a run
sizes work or memory by has an upper bound; whole numbers are never bools or floats. A command-line
number is ASCII digits (no ``٣``) of at most :data:`MAX_WORD_CHARS` characters. Torch-free, like the
config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from stylize.errors import SettingError, shown

INT64_MAX = 2**63 - 1  # the largest seed torch, numpy and JSON readers all take
MAX_WORD_CHARS = 100  # a command-line number longer than this is no number a setting takes


class BadValue(ValueError):
    """A value is not of its kind; ``str(err)`` says what to use instead."""


class Kind:
    """How one kind of value is checked; subclasses define :meth:`check` and :attr:`fix`."""

    type_name = "value"  # for the docs: "whole number", "number", "text", ...

    @property
    def fix(self) -> str:
        """What to use instead of a refused value, e.g. ``use a whole number >= 1``."""
        raise NotImplementedError

    @property
    def allowed(self) -> str:
        """The allowed values, for the docs (``fix`` without its verb)."""
        return self.fix.split(" ", 1)[1]

    def check(self, value: Any) -> Any:
        """``value`` as it is kept; raises :class:`BadValue` when it is not allowed."""
        raise NotImplementedError

    def parse(self, word: str) -> Any:
        """A command-line word -> the checked value."""
        return self.check(word)


def _number_word(word: str, fix: str) -> str:
    """``word`` stripped, refused unless it is short ASCII (``int`` and ``float`` also take other
    scripts' digits, ``٣``, and a 5000-digit word is refused here before it is converted)."""
    word = word.strip()
    if not word or not word.isascii() or len(word) > MAX_WORD_CHARS:
        raise BadValue(fix)
    return word


def _number(value: float) -> str:
    """A bound as people write it: 4 not 4.0, 0.125, 1e-06."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


@dataclass(frozen=True)
class Int(Kind):
    """A whole number in ``minimum..maximum`` (inclusive), optionally a multiple of ``multiple``."""

    minimum: int = 0
    maximum: int | None = None
    multiple: int | None = None
    type_name = "whole number"

    @property
    def fix(self) -> str:
        if self.multiple is not None:
            if self.maximum is not None:
                return f"use a multiple of {self.multiple} from {self.minimum} to {self.maximum}"
            return f"use a multiple of {self.multiple}, at least {self.minimum}"
        if self.maximum is None:
            return f"use a whole number >= {self.minimum}"
        return f"use a whole number from {self.minimum} to {self.maximum}"

    def check(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadValue(self.fix)
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            raise BadValue(self.fix)
        if self.multiple is not None and value % self.multiple:
            raise BadValue(self.fix)
        return value

    def parse(self, word: str) -> int:
        try:
            value = int(_number_word(word, self.fix))
        except ValueError:
            raise BadValue(self.fix) from None
        return self.check(value)


@dataclass(frozen=True)
class Float(Kind):
    """A finite number within bounds: ``minimum``/``maximum`` inclusive, ``above``/``below`` exclusive."""

    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None
    type_name = "number"

    @property
    def fix(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"use a number from {_number(self.minimum)} to {_number(self.maximum)}"
        if self.above is not None and self.below is not None:
            return f"use a number above {_number(self.above)} and below {_number(self.below)}"
        if self.above is not None and self.maximum is not None:
            return f"use a number above {_number(self.above)} and at most {_number(self.maximum)}"
        if self.maximum is None and self.below is None:
            if self.minimum is not None:
                return f"use a finite number >= {_number(self.minimum)}"
            if self.above is not None:
                return f"use a finite number > {_number(self.above)}"
        raise AssertionError(f"no phrase for {self}")

    def check(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadValue(self.fix)
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            raise BadValue(self.fix) from None
        if not math.isfinite(number):
            raise BadValue(self.fix)
        if (
            (self.minimum is not None and number < self.minimum)
            or (self.maximum is not None and number > self.maximum)
            or (self.above is not None and number <= self.above)
            or (self.below is not None and number >= self.below)
        ):
            raise BadValue(self.fix)
        return number + 0.0  # -0.0 as 0.0

    def parse(self, word: str) -> float:
        try:
            value = float(_number_word(word, self.fix))
        except ValueError:
            raise BadValue(self.fix) from None
        return self.check(value)


@dataclass(frozen=True)
class Choice(Kind):
    """One of a fixed set of names."""

    choices: tuple[str, ...]
    type_name = "text"

    @property
    def fix(self) -> str:
        return f"use one of: {', '.join(repr(c) for c in self.choices)}"

    @property
    def allowed(self) -> str:
        return ", ".join(f'"{c}"' for c in self.choices)

    def check(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise BadValue(self.fix)
        return value


@dataclass(frozen=True)
class Bool(Kind):
    """``true`` or ``false``."""

    type_name = "true/false"

    @property
    def fix(self) -> str:
        return "write true or false"

    @property
    def allowed(self) -> str:
        return "true, false"

    def check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise BadValue(self.fix)
        return value


@dataclass(frozen=True)
class Optional(Kind):
    """``None`` (not set) or a value of ``kind``."""

    kind: Kind

    @property
    def fix(self) -> str:
        return self.kind.fix

    @property
    def type_name(self) -> str:  # type: ignore[override]
        return self.kind.type_name

    def check(self, value: Any) -> Any:
        return None if value is None else self.kind.check(value)

    def parse(self, word: str) -> Any:
        return self.kind.parse(word)


def check_setting(name: str, value: Any, kind: Kind, *, what: str = "") -> Any:
    """``value`` of parameter ``name`` checked as ``kind``; else :class:`SettingError` naming it as
    ``name=value`` (``what`` says whose setting it is, e.g. ``training setting``)."""
    try:
        return kind.check(value)
    except BadValue as err:
        prefix = f"{what} " if what else ""
        raise SettingError(f"{prefix}{name}={shown(value)} is not allowed; {err}", params=(name,)) from None


# The kinds several settings share. Each has an upper bound: a run never sizes its work or memory by
# a number it cannot hold (a budget of 1e308 minutes is inf seconds; a batch of 10**20 is no tensor).
MAX_COUNT = 1_000_000_000
MAX_MINUTES = 10_080.0  # a week, the most one training budget may be (resumed sessions together)
SEED = Int(0, INT64_MAX)
COUNT = Int(1, MAX_COUNT)  # steps, iterations, runs: one or more
COUNT_OR_ZERO = Int(0, MAX_COUNT)
BATCH = Int(1, 256)  # portraits a training step holds
FACES = Int(1, 10_000)  # portraits a run holds in memory at once (the teacher's, a preview's)
FACES_OR_ZERO = Int(0, 10_000)
MINUTES = Float(above=0, maximum=MAX_MINUTES)  # wall-clock budgets
SECONDS = Float(above=0, maximum=3600.0)
WEIGHT = Float(minimum=0, maximum=1e6)  # loss weights (0: the term is off; they are normalised, ~0.1..1000)
LEARNING_RATE = Float(above=0, below=1)
CROP_SIZE = Int(32, 1024, multiple=4)  # training crops: the networks work at 1/4 resolution
