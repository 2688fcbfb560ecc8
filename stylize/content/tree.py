"""Reading a face-part tree with the game's semantics (Pioneer ``FaceParts::PartDb::Scan``).

The game lists directories sorted by the byte order of the names and walks them like this:

* ``species_*`` directories of the root, in order (at most 10), each one species;
* inside a species: ``accessories/`` (files starting ``acc_``), ``clothes/`` (``cloth_<g>...``
  gendered, ``armour_...`` not) and ``race_*`` directories in order (at most 16), each holding
  ``head/ eyes/ nose/ mouth/ hair/`` with gendered files ``head_<g>...`` and so on, where ``g`` is the
  digit right after the prefix;
* a file counts only if its name starts with the prefix (``eyes3 copy.png`` is ignored).

A part carries the species, race and gender it is restricted to (``None``: unrestricted), and
matches a face whose species, race and gender are its own or unrestricted. Only names and paths are
read here; pixels are decoded by :mod:`stylize.content.composite` on demand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from stylize.errors import PartTreeError

# How an undecodable part is met when a tree is opened (stylize.content.composite.FaceGenerator.load);
# the first is the default.
UNREADABLE_POLICIES = ("error", "skip")
SAMPLE_TREE = "facegen"  # the sample part tree in the package's assets ([parts] root = "bundled:facegen")


@dataclass(frozen=True)
class PartsConfig:
    """The ``[parts]`` of a config: the part tree faces are composited from, and what to do with an
    undecodable part (one of :data:`UNREADABLE_POLICIES`)."""

    root: Path
    unreadable: str


MAX_SPECIES = 10
MAX_RACES = 16
NUM_GENDERS = 2  # the game hard-codes two genders per species

# Categories in the order the manifest lists them, with the folder and file prefix the game uses.
CATEGORIES: tuple[str, ...] = ("head", "eyes", "nose", "mouth", "hair", "accessories", "clothes", "armour")
RACE_CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("head", "head", "head_"),
    ("eyes", "eyes", "eyes_"),
    ("nose", "nose", "nose_"),
    ("mouth", "mouth", "mouth_"),
    ("hair", "hair", "hair_"),
)
BACKGROUND_RELPATH = "backgrounds/general.png"


@dataclass(frozen=True)
class Part:
    """One part image and the faces it may appear on."""

    category: str
    relpath: str  # relative to the tree's root, '/' separators
    path: Path
    species: int
    race: int | None  # None: any race of the species
    gender: int | None  # None: any gender

    def matches(self, species: int, race: int, gender: int) -> bool:
        return (
            self.species == species
            and (self.race is None or self.race == race)
            and (self.gender is None or self.gender == gender)
        )


@dataclass(frozen=True)
class SpeciesInfo:
    name: str
    num_races: int
    num_genders: int = NUM_GENDERS


@dataclass
class PartTree:
    """A scanned ``data/facegen`` tree: the parts of every category in the game's order."""

    root: Path
    background: Part
    species: list[SpeciesInfo]
    parts: dict[str, list[Part]]
    notes: list[str] = field(default_factory=list)  # what the game would log (ignored dirs, limits)
    _candidates: dict[tuple[str, int, int, int], list[Part]] = field(default_factory=dict, repr=False)

    def candidates(self, category: str, species: int, race: int, gender: int) -> list[Part]:
        """The parts of ``category`` a face of this species, race and gender may use, in game order."""
        key = (category, species, race, gender)
        found = self._candidates.get(key)
        if found is None:
            found = [part for part in self.parts[category] if part.matches(species, race, gender)]
            self._candidates[key] = found
        return found

    def set_parts(self, category: str, parts: list[Part]) -> None:
        """Replace a category's parts (e.g. without unreadable ones) and forget cached matches."""
        self.parts[category] = parts
        self._candidates.clear()

    def all_parts(self) -> list[Part]:
        return [self.background] + [part for category in CATEGORIES for part in self.parts[category]]


def list_sorted(directory: Path, *, dirs: bool) -> list[tuple[str, Path]]:
    """Entries of ``directory`` (directories or files), sorted by the byte order of their names."""
    try:
        with os.scandir(directory) as entries:
            found = [
                (entry.name, Path(entry.path)) for entry in entries if (entry.is_dir() if dirs else entry.is_file())
            ]
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        return []
    except PermissionError as err:
        raise PartTreeError(f"{directory}: cannot list the folder ({err.strerror}); fix its permissions") from err
    return sorted(found, key=lambda item: os.fsencode(item[0]))


def _relpath(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _gender_of(path: Path, name: str, prefix: str) -> int:
    digit = name[len(prefix) : len(prefix) + 1]
    if digit not in ("0", "1"):
        raise PartTreeError(
            f"{path}: a gendered part needs the gender digit 0 or 1 right after '{prefix}' "
            f"(like {prefix}0_3.png); rename the file or move it out of the tree"
        )
    return int(digit)


def _scan_parts(
    root: Path, directory: Path, prefix: str, category: str, species: int, race: int | None, gendered: bool
) -> list[Part]:
    parts = []
    for name, path in list_sorted(directory, dirs=False):
        if not name.startswith(prefix):
            continue
        gender = _gender_of(path, name, prefix) if gendered else None
        parts.append(Part(category, _relpath(root, path), path, species, race, gender))
    return parts


def scan_part_tree(root: str | os.PathLike[str]) -> PartTree:
    """Scan a ``data/facegen`` tree the way the game does; raise ``PartTreeError`` if it is unusable."""
    root_path = Path(root)
    if not root_path.exists():
        raise PartTreeError(
            f"{root_path}: part tree not found; point parts=DIR (or [parts] root in pipeline.toml) at a "
            "data/facegen folder",
            params=("parts",),
        )
    if not root_path.is_dir():
        raise PartTreeError(
            f"{root_path}: is a file, not a part tree; point parts=DIR at a data/facegen folder", params=("parts",)
        )

    parts: dict[str, list[Part]] = {category: [] for category in CATEGORIES}
    species_infos: list[SpeciesInfo] = []
    notes: list[str] = []

    species_dirs = [(n, p) for n, p in list_sorted(root_path, dirs=True) if n.startswith("species_")]
    if len(species_dirs) > MAX_SPECIES:
        notes.append(
            f"more than {MAX_SPECIES} species_* folders; the game ignores {species_dirs[MAX_SPECIES][0]} and later"
        )
        species_dirs = species_dirs[:MAX_SPECIES]

    for species_index, (_species_name, species_dir) in enumerate(species_dirs):
        race_count = 0
        for name, path in list_sorted(species_dir, dirs=True):
            if name == "accessories":
                parts["accessories"] += _scan_parts(root_path, path, "acc_", "accessories", species_index, None, False)
            elif name == "clothes":
                parts["clothes"] += _scan_parts(root_path, path, "cloth_", "clothes", species_index, None, True)
                parts["armour"] += _scan_parts(root_path, path, "armour_", "armour", species_index, None, False)
            elif name.startswith("race_"):
                if race_count >= MAX_RACES:
                    notes.append(f"{_relpath(root_path, path)}: over the game's limit of {MAX_RACES} races; ignored")
                    continue
                race_index = race_count
                race_count += 1
                for category, folder, prefix in RACE_CATEGORIES:
                    parts[category] += _scan_parts(
                        root_path, path / folder, prefix, category, species_index, race_index, True
                    )
            else:
                notes.append(f"{_relpath(root_path, path)}: unknown folder; the game ignores it")
        species_infos.append(SpeciesInfo(_species_name, race_count))

    background_path = root_path / BACKGROUND_RELPATH
    if not background_path.is_file():
        if not species_dirs:
            raise PartTreeError(
                f"{root_path}: not a face-part tree (no {BACKGROUND_RELPATH} and no species_* folders); "
                "point parts=DIR at a data/facegen folder",
                params=("parts",),
            )
        raise PartTreeError(
            f"{background_path}: background missing; every face is drawn on it, so add a 295x285 "
            f"{BACKGROUND_RELPATH} to the tree"
        )
    if not species_dirs:
        raise PartTreeError(f"{root_path}: no species_* folders; the game needs at least species_0/ with race_0/ in it")
    background = Part("background", BACKGROUND_RELPATH, background_path, -1, None, None)
    return PartTree(root_path, background, species_infos, parts, notes)
