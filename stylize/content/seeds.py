"""Parsing seed specifications such as ``0-999``, ``3,7,12`` or ``0-9,20,40-44``."""

from __future__ import annotations

import re

from stylize.content.rng import SEED_MAX
from stylize.errors import SeedError, shown, shown_word

MAX_SEEDS = 10_000_000  # one run; a larger batch is almost surely a typo (and would not fit in memory)
MAX_SPEC_CHARS = 1 << 20  # a megabyte of seed text: 100,000 listed seeds
_SEED_DIGITS = len(str(SEED_MAX))
# ASCII digits only (``\d`` would take other scripts' digits, ``٣``); leading zeros are allowed, so the
# length is checked once they are stripped, before the digits become an int.
_ITEM = re.compile(r"^\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?$", re.ASCII)


def _bound(digits: str) -> int:
    """A seed's digits as an int, refused when out of range (without converting 5000 digits)."""
    significant = digits.lstrip("0") or "0"
    if len(significant) > _SEED_DIGITS or int(significant) > SEED_MAX:
        raise SeedError(
            f"seed {shown_word(significant)} is out of range; the game's seeds are 0..{SEED_MAX} (unsigned 32-bit)"
        )
    return int(significant)


def parse_seeds(spec: str | int | list[int]) -> list[int]:
    """The seeds named by ``spec`` in the order given, duplicates dropped.

    ``spec`` is an int, a list of ints, or text: comma-separated items, each a seed ``N`` or an
    inclusive range ``A-B`` with ``A <= B``; every seed within 0..2**32-1.
    """
    if isinstance(spec, bool):
        raise SeedError(f"seeds {shown(spec)} is not a seed list; write e.g. 0-999 or 3,7,12")
    if isinstance(spec, int):
        items: list[tuple[int, int]] = [(spec, spec)]
    elif isinstance(spec, list):
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in spec):
            raise SeedError(f'seeds {shown(spec)} must be whole numbers; write e.g. [3, 7, 12] or "0-999"')
        items = [(x, x) for x in spec]
    elif isinstance(spec, str):
        if not spec.strip():
            raise SeedError("seeds is empty; write e.g. 0-999 or 3,7,12")
        if len(spec) > MAX_SPEC_CHARS:
            raise SeedError(
                f"seeds {shown(spec)} is longer than {MAX_SPEC_CHARS} characters; write ranges (A-B) or split the job"
            )
        items = []
        for raw in spec.split(","):
            match = _ITEM.match(raw)
            if not match:
                raise SeedError(
                    f"seeds {shown(spec)}: {shown(raw.strip())} is not a seed or range; write e.g. 0-999 or 3,7,12 "
                    f"(whole numbers in 0..{SEED_MAX})"
                )
            first = _bound(match.group(1))
            last = _bound(match.group(2)) if match.group(2) is not None else first
            if last < first:
                raise SeedError(f"seeds {shown(spec)}: range {first}-{last} runs backwards; write {last}-{first}")
            items.append((first, last))
    else:
        raise SeedError(f"seeds {shown(spec)} is not a seed list; write e.g. 0-999 or 3,7,12")

    for first, last in items:
        for bound in (first, last):
            if not 0 <= bound <= SEED_MAX:
                raise SeedError(
                    f"seed {shown(bound)} is out of range; the game's seeds are 0..{SEED_MAX} (unsigned 32-bit)"
                )
    total = sum(last - first + 1 for first, last in items)
    if total > MAX_SEEDS:
        raise SeedError(f"seeds {shown(spec)} names {total} faces; split the job into runs of at most {MAX_SEEDS}")
    seeds: list[int] = []
    seen: set[int] = set()
    for first, last in items:
        for seed in range(first, last + 1):
            if seed not in seen:
                seen.add(seed)
                seeds.append(seed)
    return seeds


COMPOSE_PREFIX = "compose:"


def parse_compose_spec(spec: str) -> tuple[list[int], bool]:
    """A content source ``compose:SEEDS[:armoured]`` -> (seeds, armoured)."""
    body = spec.removeprefix(COMPOSE_PREFIX)
    armoured = body.endswith(":armoured")
    return parse_seeds(body.removesuffix(":armoured")), armoured
