"""The game's random number generator, bit for bit.

Pioneer's ``Random(seed)`` (src/Random.h) hashes the one-word key ``[seed]`` with Bob Jenkins'
lookup3 ``hashword`` (initval 0) and seeds a ``pcg32`` from pcg-cpp with that hash: default stream,
``state = (hash + inc) * mult + inc``; each draw returns the XSH-RR output of the state *before* the
step. Everything here is plain integer arithmetic masked to 32/64 bits.
"""

from __future__ import annotations

from collections.abc import Sequence

from stylize.errors import SeedError

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF
SEED_MAX = MASK32

PCG_MULTIPLIER = 6364136223846793005
PCG_DEFAULT_INCREMENT = 1442695040888963407


def _rot32(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (32 - shift))) & MASK32


def _lookup3_mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = (a - c) & MASK32
    a ^= _rot32(c, 4)
    c = (c + b) & MASK32  # noqa: E702
    b = (b - a) & MASK32
    b ^= _rot32(a, 6)
    a = (a + c) & MASK32  # noqa: E702
    c = (c - b) & MASK32
    c ^= _rot32(b, 8)
    b = (b + a) & MASK32  # noqa: E702
    a = (a - c) & MASK32
    a ^= _rot32(c, 16)
    c = (c + b) & MASK32  # noqa: E702
    b = (b - a) & MASK32
    b ^= _rot32(a, 19)
    a = (a + c) & MASK32  # noqa: E702
    c = (c - b) & MASK32
    c ^= _rot32(b, 4)
    b = (b + a) & MASK32  # noqa: E702
    return a, b, c


def _lookup3_final(a: int, b: int, c: int) -> tuple[int, int, int]:
    c ^= b
    c = (c - _rot32(b, 14)) & MASK32  # noqa: E702
    a ^= c
    a = (a - _rot32(c, 11)) & MASK32  # noqa: E702
    b ^= a
    b = (b - _rot32(a, 25)) & MASK32  # noqa: E702
    c ^= b
    c = (c - _rot32(b, 16)) & MASK32  # noqa: E702
    a ^= c
    a = (a - _rot32(c, 4)) & MASK32  # noqa: E702
    b ^= a
    b = (b - _rot32(a, 14)) & MASK32  # noqa: E702
    c ^= b
    c = (c - _rot32(b, 24)) & MASK32  # noqa: E702
    return a, b, c


def lookup3_hashword(key: Sequence[int], initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashword`` of a sequence of 32-bit words."""
    length = len(key)
    a = b = c = (0xDEADBEEF + (length << 2) + initval) & MASK32
    index = 0
    remaining = length
    while remaining > 3:
        a = (a + key[index]) & MASK32
        b = (b + key[index + 1]) & MASK32
        c = (c + key[index + 2]) & MASK32
        a, b, c = _lookup3_mix(a, b, c)
        remaining -= 3
        index += 3
    if remaining == 0:
        return c
    if remaining == 3:
        c = (c + key[index + 2]) & MASK32
    if remaining >= 2:
        b = (b + key[index + 1]) & MASK32
    a = (a + key[index]) & MASK32
    a, b, c = _lookup3_final(a, b, c)
    return c


class Pcg32:
    """pcg-cpp's ``pcg32`` (64-bit state, XSH-RR output, default stream)."""

    def __init__(self, seed: int) -> None:
        self.increment = PCG_DEFAULT_INCREMENT
        self.state = self._step((seed + self.increment) & MASK64)

    def _step(self, state: int) -> int:
        return (state * PCG_MULTIPLIER + self.increment) & MASK64

    def next_u32(self) -> int:
        old_state = self.state
        self.state = self._step(old_state)
        xorshifted = (((old_state >> 18) ^ old_state) >> 27) & MASK32
        rotation = old_state >> 59
        return ((xorshifted >> rotation) | (xorshifted << ((-rotation) & 31))) & MASK32


def check_seed(seed: int) -> int:
    """Return ``seed`` if it is a valid game seed (an unsigned 32-bit integer), else raise."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SeedError(f"seed {seed!r} is not an integer; use a whole number in 0..{SEED_MAX}")
    if not 0 <= seed <= SEED_MAX:
        raise SeedError(f"seed {seed} is out of range; the game's seeds are 0..{SEED_MAX} (unsigned 32-bit)")
    return seed


class GameRandom:
    """Pioneer's ``Random(seed)``: the same stream of ``Int32()`` values as the game."""

    def __init__(self, seed: int) -> None:
        self.seed = check_seed(seed)
        self.hash = lookup3_hashword([self.seed], 0)
        self._pcg = Pcg32(self.hash)

    def int32(self) -> int:
        """The game's ``Int32()``: the next value in [0, 2**32)."""
        return self._pcg.next_u32()
