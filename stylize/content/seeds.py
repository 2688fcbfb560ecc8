"""Parsing seed specifications such as ``0-999``, ``3,7,12`` or ``0-9,20,40-44``."""

from __future__ import annotations

import re

from stylize.content.rng import SEED_MAX
from stylize.errors import SeedError

MAX_SEEDS = 10_000_000  # one run; a larger batch is almost surely a typo (and would not fit in memory)
_ITEM = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_seeds(spec: str | int | list[int]) -> list[int]:
    """The seeds named by ``spec`` in the order given, duplicates dropped.

    ``spec`` is an int, a list of ints, or text: comma-separated items, each a seed ``N`` or an
    inclusive range ``A-B`` with ``A <= B``; every seed within 0..2**32-1.
    """
    if isinstance(spec, bool):
        raise SeedError(f"seeds {spec!r} is not a seed list; write e.g. 0-999 or 3,7,12")
    if isinstance(spec, int):
        items: list[tuple[int, int]] = [(spec, spec)]
    elif isinstance(spec, list):
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in spec):
            raise SeedError(f'seeds {spec!r} must be whole numbers; write e.g. [3, 7, 12] or "0-999"')
        items = [(x, x) for x in spec]
    elif isinstance(spec, str):
        if not spec.strip():
            raise SeedError("seeds is empty; write e.g. 0-999 or 3,7,12")
        items = []
        for raw in spec.split(","):
            match = _ITEM.match(raw)
            if not match:
                raise SeedError(
                    f"seeds {spec!r}: {raw.strip()!r} is not a seed or range; write e.g. 0-999 or 3,7,12 "
                    f"(whole numbers in 0..{SEED_MAX})"
                )
            first = int(match.group(1))
            last = int(match.group(2)) if match.group(2) is not None else first
            if last < first:
                raise SeedError(f"seeds {spec!r}: range {first}-{last} runs backwards; write {last}-{first}")
            items.append((first, last))
    else:
        raise SeedError(f"seeds {spec!r} is not a seed list; write e.g. 0-999 or 3,7,12")

    for first, last in items:
        for bound in (first, last):
            if not 0 <= bound <= SEED_MAX:
                raise SeedError(f"seed {bound} is out of range; the game's seeds are 0..{SEED_MAX} (unsigned 32-bit)")
    total = sum(last - first + 1 for first, last in items)
    if total > MAX_SEEDS:
        raise SeedError(f"seeds {spec!r} names {total} faces; split the job into runs of at most {MAX_SEEDS}")
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
