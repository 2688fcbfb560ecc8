"""Against the game's real part tree (../shared/facegen): selection and pixels.

The selection is checked against a second, independent transcription of the game's C++ (bitmask
selectors, ``_count_parts``/``_get_part``, the lookup3 + pcg32 arithmetic in numpy uint64), and the
pixels against a plain floating-point alpha-over of the listed parts at the listed offsets.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from stylize import compose
from stylize.content.composite import FaceGenerator
from stylize.content.picking import pick_face_parts

GENDER_SHIFT, RACE_SHIFT, SPECIES_SHIFT = 0, 6, 22
ALL_GENDERS, ALL_RACES = ((1 << 6) - 1) << GENDER_SHIFT, ((1 << 16) - 1) << RACE_SHIFT


def _selector(species: int, race: int, gender: int) -> int:
    mask = 1 << (species + SPECIES_SHIFT)
    mask |= ALL_RACES if race < 0 else 1 << (race + RACE_SHIFT)
    mask |= ALL_GENDERS if gender < 0 else 1 << (gender + GENDER_SHIFT)
    return mask


def _rot(x, k):
    return np.uint32((int(x) << k | int(x) >> (32 - k)) & 0xFFFFFFFF)


def _hashword1(word: int) -> int:
    with np.errstate(over="ignore"):
        a = b = c = np.uint32(0xDEADBEEF + 4)
        a = a + np.uint32(word)
        c ^= b
        c = c - _rot(b, 14)  # noqa: E702
        a ^= c
        a = a - _rot(c, 11)  # noqa: E702
        b ^= a
        b = b - _rot(a, 25)  # noqa: E702
        c ^= b
        c = c - _rot(b, 16)  # noqa: E702
        a ^= c
        a = a - _rot(c, 4)  # noqa: E702
        b ^= a
        b = b - _rot(a, 14)  # noqa: E702
        c ^= b
        c = c - _rot(b, 24)  # noqa: E702
    return int(c)


class ReferenceRandom:
    MULT, INC = np.uint64(6364136223846793005), np.uint64(1442695040888963407)

    def __init__(self, seed: int):
        with np.errstate(over="ignore"):
            self.state = (np.uint64(_hashword1(seed)) + self.INC) * self.MULT + self.INC

    def int32(self) -> int:
        old = int(self.state)
        with np.errstate(over="ignore"):
            self.state = self.state * self.MULT + self.INC
        xorshifted = (((old >> 18) ^ old) >> 27) & 0xFFFFFFFF
        rot = old >> 59
        return ((xorshifted >> rot) | (xorshifted << ((32 - rot) & 31))) & 0xFFFFFFFF


def _reference_db(root):
    """PartDb::Scan transcribed: lists of (selector, relpath)."""
    db = {k: [] for k in ("heads", "eyes", "noses", "mouths", "hairstyles", "accessories", "clothes", "armour")}
    races_of = []

    def listing(path, dirs):
        names = sorted(os.listdir(path), key=os.fsencode) if os.path.isdir(path) else []
        return [n for n in names if os.path.isdir(os.path.join(path, n)) == dirs]

    def scan(out, species, race, rel, prefix, gendered):
        for name in listing(os.path.join(root, rel), dirs=False):
            if name.startswith(prefix):
                gender = int(name[len(prefix)]) if gendered else -1
                out.append((_selector(species, race, gender), f"{rel}/{name}"))

    species_dirs = [d for d in listing(root, True) if d.startswith("species_")]
    for s, sdir in enumerate(species_dirs):
        race_count = 0
        for name in listing(os.path.join(root, sdir), True):
            rel = f"{sdir}/{name}"
            if name == "accessories":
                scan(db["accessories"], s, -1, rel, "acc_", False)
            elif name == "clothes":
                scan(db["clothes"], s, -1, rel, "cloth_", True)
                scan(db["armour"], s, -1, rel, "armour_", False)
            elif name.startswith("race_"):
                r = race_count
                race_count += 1
                for key, folder in (
                    ("heads", "head"),
                    ("eyes", "eyes"),
                    ("noses", "nose"),
                    ("mouths", "mouth"),
                    ("hairstyles", "hair"),
                ):
                    scan(db[key], s, r, f"{rel}/{folder}", f"{folder}_", True)
        races_of.append(race_count)
    return db, races_of


def _reference_pick(db, races_of, seed):
    rng = ReferenceRandom(seed)
    species = rng.int32() % len(races_of)
    race = rng.int32() % races_of[species]
    gender = rng.int32() % 2
    sel = _selector(species, race, gender)
    matching = {k: [p for s, p in v if (sel & s) == sel] for k, v in db.items()}
    picks = {}
    for key in ("heads", "eyes", "noses", "mouths", "hairstyles"):
        picks[key] = rng.int32() % len(matching[key])
    has_acc = rng.int32() & 1
    picks["accessories"] = rng.int32() % len(matching["accessories"])
    if not has_acc:
        picks["accessories"] = 0
    picks["clothes"] = rng.int32() % len(matching["clothes"])
    picks["armour"] = rng.int32() % len(matching["armour"])
    names = {
        "heads": "head",
        "eyes": "eyes",
        "noses": "nose",
        "mouths": "mouth",
        "hairstyles": "hair",
        "accessories": "accessories",
        "clothes": "clothes",
        "armour": "armour",
    }
    return species, race, gender, {names[k]: matching[k][i] for k, i in picks.items()}


@pytest.fixture(scope="module")
def composed(shared_facegen, tmp_path_factory):
    out = tmp_path_factory.mktemp("faces")
    compose("0-999", out, parts=shared_facegen, progress=False)
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    return out, records


@pytest.mark.slow
def test_manifest_is_the_games_selection_for_seeds_0_to_999(shared_facegen, composed):
    _, records = composed
    assert [r["seed"] for r in records] == list(range(1000))
    db, races_of = _reference_db(str(shared_facegen))
    for record in records:
        species, race, gender, parts = _reference_pick(db, races_of, record["seed"])
        assert (record["species"], record["race"], record["gender"]) == (species, race, gender), record["seed"]
        assert record["parts"] == parts, record["seed"]
        assert record["armoured"] is False
        assert record["file"] == f"face_{record['seed']:010d}.png"


@pytest.fixture(scope="module")
def game_tree(shared_facegen):
    """The game's part tree as the generator opens it (every part decoded once for the module)."""
    return FaceGenerator.load(shared_facegen).tree


@pytest.mark.parametrize(
    ("seed", "race", "gender", "names"),
    [
        (3, 2, 0, ["head_0_4", "eyes_0_13", "nose_0_9", "mouth_0_9", "hair_0_2", "acc_1", "cloth_0_2", "armour_0"]),
        (2026, 1, 1, ["head_1_0", "eyes_1_7", "nose_1_2", "mouth_1_5", "hair_1_4", "acc_0", "cloth_1_10", "armour_1"]),
    ],
)
def test_known_seeds(game_tree, seed, race, gender, names):
    picked = pick_face_parts(game_tree, seed)
    record = picked.manifest_record("x", False)
    assert (record["race"], record["gender"]) == (race, gender)
    got = [
        record["parts"][c].rsplit("/", 1)[1].removesuffix(".png")
        for c in ("head", "eyes", "nose", "mouth", "hair", "accessories", "clothes", "armour")
    ]
    assert got == names


_PART_CACHE: dict = {}


def _part(path):
    if path not in _PART_CACHE:
        _PART_CACHE[path] = np.asarray(Image.open(path).convert("RGBA"), np.float32)
    return _PART_CACHE[path]


def _float_alpha_over(root, record, armoured):
    """Float alpha-over of each listed part; the canvas is rounded to 8 bits after each layer, as
    the game's 24-bit surface holds it."""
    canvas = np.zeros((285, 295, 3), np.float32)
    order = [("background", "backgrounds/general.png", 0, 0), ("head", None, 0, 0)]
    if not armoured:
        order.append(("clothes", None, 0, 135))
    order += [("eyes", None, 0, 41), ("nose", None, 1, 89), ("mouth", None, 0, 155)]
    order += [("armour", None, 0, 0)] if armoured else [("accessories", None, 0, 0), ("hair", None, 0, 0)]
    for category, fixed, xoff, yoff in order:
        rel = fixed or record["parts"][category]
        part = _part(root / rel)
        h, w = part.shape[:2]
        x = int((295 - w) / 2) + xoff
        alpha = part[..., 3:4] / 255.0
        region = canvas[yoff : yoff + h, x : x + w]
        region[...] = part[: region.shape[0], : region.shape[1], :3] * alpha[
            : region.shape[0], : region.shape[1]
        ] + region * (1 - alpha[: region.shape[0], : region.shape[1]])
        np.round(region, out=region)
    return canvas


@pytest.mark.slow
def test_composites_match_a_plain_alpha_over_within_one_level(shared_facegen, composed):
    out, records = composed
    worst = 0.0
    for record in records:
        expected = _float_alpha_over(shared_facegen, record, False)
        got = np.asarray(Image.open(out / record["file"]))
        assert got.shape == (285, 295, 3)
        worst = max(worst, float(np.abs(got - expected).max()))
    assert worst <= 1.0


@pytest.mark.slow
def test_armoured_composites_match_too(shared_facegen, tmp_path):
    compose("0-19", tmp_path, parts=shared_facegen, armoured=True, progress=False)
    for line in (tmp_path / "manifest.jsonl").read_text().splitlines():
        record = json.loads(line)
        assert record["armoured"] is True and record["file"].endswith("_armoured.png")
        got = np.asarray(Image.open(tmp_path / record["file"]))
        assert np.abs(got - _float_alpha_over(shared_facegen, record, True)).max() <= 1.0


@pytest.mark.slow
def test_stray_copy_file_is_ignored(shared_facegen, composed):
    _, records = composed
    assert (shared_facegen / "species_0/race_1/eyes/eyes3 copy.png").exists()
    assert not any("copy" in r["parts"]["eyes"] for r in records)
