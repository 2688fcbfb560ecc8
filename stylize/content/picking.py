"""Picking the parts of a face for a seed, exactly as Pioneer's ``FaceParts::PickFaceParts``.

Each choice is ``Int32() % count`` in this order: species, race, gender (2), head, eyes, nose,
mouth, hairstyle; then a has-accessory bit ``Int32() & 1``; then accessory (index 0 if the bit was
0), clothes and armour. The RNG is always advanced, whatever is drawn later.
"""

from __future__ import annotations

from dataclasses import dataclass

from stylize.content.rng import GameRandom
from stylize.content.tree import CATEGORIES, RACE_CATEGORIES, Part, PartTree
from stylize.errors import PartTreeError

_FOLDER_HINTS = {
    "accessories": "species_{s}/accessories/acc_*.png",
    "clothes": "species_{s}/clothes/cloth_{g}_*.png",
    "armour": "species_{s}/clothes/armour_*.png",
}
_FOLDER_HINTS.update(
    {c: f"species_{{s}}/race_{{r}}/{folder}/{prefix}{{g}}_*.png" for c, folder, prefix in RACE_CATEGORIES}
)


@dataclass(frozen=True)
class FaceDescriptor:
    """Indices the game's ``FaceDescriptor`` holds after picking."""

    seed: int
    species: int
    race: int
    gender: int
    head: int
    eyes: int
    nose: int
    mouth: int
    hairstyle: int
    has_accessory: bool
    accessories: int
    clothes: int
    armour: int


@dataclass(frozen=True)
class PickedFace:
    """A descriptor and the part each of its indices resolves to."""

    descriptor: FaceDescriptor
    parts: dict[str, Part]  # category -> part, every category of CATEGORIES

    def manifest_record(self, file_name: str, armoured: bool) -> dict[str, object]:
        """The manifest line for this face (paths relative to the tree root)."""
        d = self.descriptor
        return {
            "seed": d.seed,
            "file": file_name,
            "species": d.species,
            "race": d.race,
            "gender": d.gender,
            "armoured": armoured,
            "parts": {category: self.parts[category].relpath for category in CATEGORIES},
        }


def _pick(rng: GameRandom, count: int, what: str) -> int:
    if count <= 0:
        raise PartTreeError(what)
    return rng.int32() % count


def pick_face_parts(tree: PartTree, seed: int) -> PickedFace:
    """The parts the game picks for ``seed`` from ``tree``; raises if a needed category is empty."""
    rng = GameRandom(seed)
    root = tree.root
    species = _pick(rng, len(tree.species), f"{root}: no species_* folders; add species_0/")
    num_races = tree.species[species].num_races
    race = _pick(rng, num_races, f"{root}/{tree.species[species].name}: no race_* folders; add race_0/")
    gender = _pick(rng, tree.species[species].num_genders, f"{root}: species {species} has no genders")

    def choose(category: str) -> int:
        count = len(tree.candidates(category, species, race, gender))
        hint = _FOLDER_HINTS[category].format(s=species, r=race, g=gender)
        return _pick(
            rng,
            count,
            f"{root}: no {category} part for species {species}, race {race}, gender {gender} "
            f"(seed {seed}); add at least one {hint}",
        )

    head = choose("head")
    eyes = choose("eyes")
    nose = choose("nose")
    mouth = choose("mouth")
    hairstyle = choose("hair")
    has_accessory = bool(rng.int32() & 1)
    accessories = choose("accessories")
    if not has_accessory:
        accessories = 0
    clothes = choose("clothes")
    armour = choose("armour")

    descriptor = FaceDescriptor(
        seed, species, race, gender, head, eyes, nose, mouth, hairstyle, has_accessory, accessories, clothes, armour
    )
    indices = {
        "head": head,
        "eyes": eyes,
        "nose": nose,
        "mouth": mouth,
        "hair": hairstyle,
        "accessories": accessories,
        "clothes": clothes,
        "armour": armour,
    }
    parts = {category: tree.candidates(category, species, race, gender)[index] for category, index in indices.items()}
    return PickedFace(descriptor, parts)
