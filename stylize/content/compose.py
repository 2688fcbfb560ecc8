"""Composing game faces to PNG files with a manifest, resumable and atomic.

``compose(seeds, out_dir)`` writes ``face_<seed>.png`` (``face_<seed>_armoured.png`` for the
armoured variant) and ``manifest.jsonl``, one JSON object a line. A rerun skips faces whose PNG
exists and whose manifest line matches what the tree picks now; every PNG and the final manifest
are written atomically, and each finished face is appended to the manifest at once, so an
interrupted run loses nothing and resumes where it stopped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from stylize.bundled import asset_path
from stylize.content.composite import FaceGenerator
from stylize.content.picking import PickedFace, pick_face_parts
from stylize.content.seeds import parse_seeds
from stylize.content.tree import SAMPLE_TREE, UNREADABLE_POLICIES, PartsConfig
from stylize.files import Journal, check_out_dir
from stylize.imageio import write_png
from stylize.output_folder import OutputFolder

MANIFEST_NAME = "manifest.jsonl"


class WithParts(Protocol):
    """What composing reads of a config (a :class:`stylize.config.PipelineConfig`): its ``[parts]``."""

    @property
    def parts(self) -> PartsConfig: ...


@dataclass(frozen=True)
class ComposedFace:
    """One portrait in memory: pixels and the manifest record describing it."""

    seed: int
    armoured: bool
    rgb: np.ndarray  # (285, 295, 3) uint8, opaque like the game's 24-bit surface
    picked: PickedFace

    @property
    def file_name(self) -> str:
        return face_file_name(self.seed, self.armoured)

    def record(self) -> dict[str, object]:
        return self.picked.manifest_record(self.file_name, self.armoured)


@dataclass(frozen=True)
class ComposeResult:
    out_dir: Path
    manifest: Path
    written: list[str]
    skipped: list[str]
    notes: list[str]


def face_file_name(seed: int, armoured: bool) -> str:
    return f"face_{seed:010d}{'_armoured' if armoured else ''}.png"


def open_part_tree(parts: str | os.PathLike[str] | None = None, config: WithParts | None = None) -> FaceGenerator:
    """The part tree ``parts``, or the one ``config`` names (by default the bundled sample tree)."""
    chosen = config.parts if config is not None else PartsConfig(asset_path(SAMPLE_TREE), UNREADABLE_POLICIES[0])
    root = Path(parts) if parts is not None else chosen.root
    return FaceGenerator.load(root, unreadable=chosen.unreadable)


def compose_face(generator: FaceGenerator, seed: int, armoured: bool = False) -> ComposedFace:
    """The game's portrait for ``seed`` from an opened part tree."""
    picked = pick_face_parts(generator.tree, seed)
    return ComposedFace(seed, armoured, generator.build_face_image(picked, armoured), picked)


def iter_faces(
    seeds: str | int | list[int], parts: str | os.PathLike[str] | FaceGenerator | None = None, armoured: bool = False
) -> Iterator[ComposedFace]:
    """Yield ``ComposedFace`` for each seed, in memory (no files written)."""
    generator = parts if isinstance(parts, FaceGenerator) else open_part_tree(parts)
    for seed in parse_seeds(seeds):
        yield compose_face(generator, seed, armoured)


def _manifest_key(record: dict[str, Any]) -> tuple[int, bool]:
    return int(record["seed"]), bool(record["armoured"])


def compose(
    seeds: str | int | list[int],
    out_dir: str | os.PathLike[str],
    *,
    parts: str | os.PathLike[str] | FaceGenerator | None = None,
    armoured: bool = False,
    config: WithParts | None = None,
    progress: bool = True,
) -> ComposeResult:
    """Write the game's portraits for ``seeds`` to ``out_dir`` with ``manifest.jsonl``.

    ``parts`` is a part tree folder (default: the one ``config`` names) or an opened
    ``FaceGenerator``. Faces already written with the same picks are skipped.
    """
    seed_list = parse_seeds(seeds)
    generator = parts if isinstance(parts, FaceGenerator) else open_part_tree(parts, config)
    out_path = Path(out_dir)
    check_out_dir(out_path, generator.root)

    # Pick every face first: a tree that cannot serve some seed (an empty category) fails before
    # anything is written.
    picks = [pick_face_parts(generator.tree, seed) for seed in seed_list]
    manifest_path = out_path / MANIFEST_NAME
    written: list[str] = []
    skipped: list[str] = []
    with OutputFolder(out_path) as folder:  # made, locked (a second run waits), writes kept inside
        journal = Journal(manifest_path, _manifest_key)
        journal.quarantine()
        with journal:
            for seed, picked in tqdm(
                zip(seed_list, picks),
                total=len(seed_list),
                desc="compose",
                unit="face",
                disable=None if progress else True,
            ):
                name = face_file_name(seed, armoured)
                target = folder.target(name)
                record = picked.manifest_record(name, armoured)
                if journal.records.get((seed, armoured)) == record and target.is_file():
                    skipped.append(name)
                    continue
                write_png(target, generator.build_face_image(picked, armoured))
                journal.append(record)
                written.append(name)
        # Rewrite the journal as one clean, sorted manifest (atomic: the old one stays until the new is complete).
        journal.rewrite()
    return ComposeResult(out_path, manifest_path, written, skipped, list(generator.tree.notes))
