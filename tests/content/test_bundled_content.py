"""The bundled sample part tree: regenerated bit for bit by project code, and usable as a tree."""

import numpy as np
import pytest
from conftest import REPO_ROOT

from stylize import compose
from stylize.content.composite import FaceGenerator
from stylize.content.tree import scan_part_tree
from tools.sample_parts import draw_sample_tree

BUNDLED = REPO_ROOT / "stylize" / "assets" / "facegen"


@pytest.mark.slow
def test_bundled_tree_regenerates_bit_for_bit(tmp_path):
    written = draw_sample_tree(tmp_path / "facegen")
    regenerated = {p.relative_to(tmp_path / "facegen").as_posix(): p.read_bytes() for p in written}
    bundled = {p.relative_to(BUNDLED).as_posix(): p.read_bytes() for p in BUNDLED.rglob("*") if p.is_file()}
    assert sorted(regenerated) == sorted(bundled)
    changed = [name for name in bundled if bundled[name] != regenerated[name]]
    assert not changed, (
        f"stylize/assets/facegen differs from its generator: {changed[:5]}; run python tools/make_sample_parts.py"
    )


def test_bundled_tree_has_the_games_layout_and_composes(tmp_path):
    tree = scan_part_tree(BUNDLED)
    assert tree.species[0].num_races >= 2 and not tree.notes
    for race in range(tree.species[0].num_races):
        for gender in (0, 1):
            for category in ("head", "eyes", "nose", "mouth", "hair", "accessories", "clothes", "armour"):
                assert tree.candidates(category, 0, race, gender), (category, race, gender)
    generator = FaceGenerator.load(BUNDLED)
    sizes = {p.category: generator.pixels[p.relpath] for p in tree.all_parts()}
    assert (sizes["eyes"].width, sizes["eyes"].height) == (127, 148)
    assert (sizes["mouth"].width, sizes["mouth"].height) == (80, 70)
    result = compose("0-7", tmp_path / "faces", parts=generator, progress=False)
    assert len(result.written) == 8


def test_bundled_faces_are_not_flat_test_patterns():
    from stylize import iter_faces

    faces = [face.rgb for face in iter_faces("0-7", parts=BUNDLED)]
    for face in faces:
        # Real shading: many distinct colours, and detail (edges) concentrated in the face's centre.
        assert len(np.unique(face.reshape(-1, 3), axis=0)) > 3000
        grey = face.astype(np.float64).mean(axis=2)
        detail = np.abs(np.diff(grey, axis=1))
        assert detail[90:200, 100:195].mean() > detail[:, :40].mean()
    assert len({face.tobytes() for face in faces}) == 8


@pytest.mark.slow
def test_bundled_references_regenerate_bit_for_bit(tmp_path):
    from tools.reference_art import REFERENCE_NAMES, write_references

    written = write_references(tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{name}.png" for name in REFERENCE_NAMES)
    for path in written:
        assert path.read_bytes() == (REPO_ROOT / "stylize/assets/references" / path.name).read_bytes(), path.name
