"""Hostile part trees given to ``compose --parts`` (and ``export-parts``): missing folders, empty, damaged
or odd parts. The tree is an input: it must never change."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hostile.harness import AS_ROOT, STYLE, Corpus, tiny_tree
from hostile.images import png_header

corpus = Corpus("part_trees")


def compose_tree(tmp: Path, tree: Path, *extra: str) -> list[str]:
    return ["compose", "--parts", str(tree), "--seeds", "0-1", *extra, "--out", str(tmp / "out")]


def tree(tmp: Path) -> Path:
    return tiny_tree(tmp / "in" / "facegen")


@corpus.case(fault="species_")
def no_species_folders(tmp: Path) -> list[str]:
    """A tree with its background but no species_* folder: refused saying what is missing, exit 1."""
    root = tree(tmp)
    (root / "species_0").rename(tmp / "in" / "elsewhere")
    return compose_tree(tmp, root)


@corpus.case(fault="empty")
def empty_folder(tmp: Path) -> list[str]:
    """An empty folder as the tree: refused naming it (not a part tree), exit 1."""
    (tmp / "in" / "empty").mkdir()
    return compose_tree(tmp, tmp / "in" / "empty")


@corpus.case(fault="background")
def missing_background(tmp: Path) -> list[str]:
    """No backgrounds/general.png: refused naming it, exit 1."""
    root = tree(tmp)
    (root / "backgrounds" / "general.png").unlink()
    return compose_tree(tmp, root)


@corpus.case(fault="tree.png")
def root_is_a_file(tmp: Path) -> list[str]:
    """--parts names a file: refused naming it, exit 1."""
    (tmp / "in" / "tree.png").write_bytes(b"x")
    return compose_tree(tmp, tmp / "in" / "tree.png")


@corpus.case(fault="head_0_0.png")
def corrupt_part(tmp: Path) -> list[str]:
    """A head part overwritten with garbage ([parts] unreadable = "error", the default): refused naming the
    part and the setting that skips it, exit 1."""
    root = tree(tmp)
    (root / "species_0" / "race_0" / "head" / "head_0_0.png").write_bytes(os.urandom(500))
    return compose_tree(tmp, root)


@corpus.case(fault="eyes_1_0.png")
def zero_byte_part(tmp: Path) -> list[str]:
    """An empty eyes part: refused naming it, exit 1."""
    root = tree(tmp)
    (root / "species_0" / "race_0" / "eyes" / "eyes_1_0.png").write_bytes(b"")
    return compose_tree(tmp, root)


@corpus.case(fault="nose_0_0.png")
def huge_dimensions_part(tmp: Path) -> list[str]:
    """A nose part whose header claims 100000 x 100000 pixels: refused naming it before decoding, exit 1."""
    root = tree(tmp)
    (root / "species_0" / "race_0" / "nose" / "nose_0_0.png").write_bytes(png_header(100_000, 100_000))
    return compose_tree(tmp, root)


@corpus.case(fault="mouth")
def category_without_parts(tmp: Path) -> list[str]:
    """race_0/mouth/ emptied: no face can be drawn; refused naming the category, exit 1."""
    root = tree(tmp)
    for path in (root / "species_0" / "race_0" / "mouth").iterdir():
        path.unlink()
    return compose_tree(tmp, root)


@corpus.case(fault="head_x")
def gender_digit_missing(tmp: Path) -> list[str]:
    """A head named head_x.png (no gender digit): refused naming it with the naming rule, exit 1."""
    root = tree(tmp)
    (root / "species_0" / "race_0" / "head" / "head_0_0.png").rename(
        root / "species_0" / "race_0" / "head" / "head_x.png"
    )
    return compose_tree(tmp, root)


@corpus.case(exit=0)
def stray_files_are_ignored(tmp: Path) -> list[str]:
    """A README, a .DS_Store and a thumbs database among the parts (names without the game's prefixes): the
    game ignores them, so does compose; exit 0."""
    root = tree(tmp)
    head = root / "species_0" / "race_0" / "head"
    (head / "README.txt").write_text("parts\n")
    (head / ".DS_Store").write_bytes(os.urandom(64))
    (head / "Thumbs.db").write_bytes(os.urandom(64))
    return compose_tree(tmp, root)


@corpus.case(exit=0)
def too_many_species(tmp: Path) -> list[str]:
    """Twelve species folders (the game reads ten): a note says which are ignored; exit 0."""
    root = tree(tmp)
    for index in range(1, 12):
        shutil.copytree(root / "species_0", root / f"species_{index:02d}")
    return compose_tree(tmp, root)


@corpus.case(fault="facegen", outs=("in/facegen/faces",))
def out_inside_the_tree(tmp: Path) -> list[str]:
    """--out inside the part tree: refused (outputs would become parts), exit 1."""
    root = tree(tmp)
    return ["compose", "--parts", str(root), "--seeds", "0-1", "--out", str(root / "faces")]


@corpus.case(fault="bundled:nosuch")
def unknown_bundled_tree(tmp: Path) -> list[str]:
    """--parts bundled:nosuch (no such bundled asset): refused naming it, exit 1."""
    return ["compose", "--parts", "bundled:nosuch", "--seeds", "0-1", "--out", str(tmp / "out")]


@corpus.case(fault="race_0", skip_root=AS_ROOT, child=True)
def unreadable_race_folder(tmp: Path) -> list[str]:
    """race_0/ without read permission: refused naming it (fix its permissions), exit 1."""
    root = tree(tmp)
    (root / "species_0" / "race_0").chmod(0)
    return compose_tree(tmp, root)


@corpus.case(fault="head_0_0.png")
def export_parts_corrupt_part(tmp: Path) -> list[str]:
    """export-parts on a tree with a garbage part: refused naming it before any work, exit 1, no hidden build
    folder beside --out."""
    root = tree(tmp)
    (root / "species_0" / "race_0" / "head" / "head_0_0.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    return ["export-parts", "--style", STYLE, "--parts", str(root), "--contexts", "0", "--out", str(tmp / "out")]
