import pytest
from conftest import make_tree, save_rgba

from stylize import PartTreeError
from stylize.content.composite import FaceGenerator
from stylize.content.picking import pick_face_parts
from stylize.content.tree import scan_part_tree


def test_scan_follows_byte_order_and_prefixes(tmp_path):
    root = make_tree(tmp_path / "facegen", races=1)
    # race_10 sorts before race_2 by byte order, so it becomes race index 1 and race_2 index 2.
    for race_dir in ("race_10", "race_2"):
        for category, (w, h) in {
            "head": (295, 285),
            "eyes": (127, 148),
            "nose": (63, 132),
            "mouth": (80, 70),
            "hair": (295, 285),
        }.items():
            save_rgba(root / f"species_0/{race_dir}/{category}/{category}_0_0.png", w, h, (1, 2, 3, 255))
    save_rgba(root / "species_0/race_0/eyes/eyes3 copy.png", 127, 148, (9, 9, 9, 255))  # ignored by the game
    save_rgba(root / "species_0/race_0/eyes/Eyes_0_9.png", 127, 148, (9, 9, 9, 255))  # case matters
    (root / "species_0/notes").mkdir()
    (root / "not_a_species").mkdir()

    tree = scan_part_tree(root)
    assert tree.species[0].num_races == 3
    heads = [p.relpath for p in tree.parts["head"]]
    assert heads[4:] == ["species_0/race_10/head/head_0_0.png", "species_0/race_2/head/head_0_0.png"]
    assert [p.race for p in tree.parts["head"]][4:] == [1, 2]
    eyes = [p.relpath for p in tree.parts["eyes"]]
    assert not any("copy" in e or "Eyes_" in e for e in eyes)
    assert any("species_0/notes" in note and "unknown folder" in note for note in tree.notes)


def test_part_matching_uses_species_race_gender_or_unrestricted(tmp_path):
    tree = scan_part_tree(make_tree(tmp_path / "facegen"))
    heads = tree.candidates("head", 0, 1, 0)
    assert [p.relpath for p in heads] == ["species_0/race_1/head/head_0_0.png", "species_0/race_1/head/head_0_1.png"]
    assert len(tree.candidates("accessories", 0, 1, 1)) == 2  # race and gender unrestricted
    assert [p.gender for p in tree.candidates("clothes", 0, 0, 1)] == [1, 1]
    assert all(p.gender is None for p in tree.candidates("armour", 0, 0, 1))


def test_gendered_files_need_a_gender_digit(tmp_path):
    root = make_tree(tmp_path / "facegen")
    save_rgba(root / "species_0/race_0/nose/nose_x.png", 63, 132, (1, 2, 3, 255))
    with pytest.raises(PartTreeError, match=r"nose_x\.png.*gender digit 0 or 1"):
        scan_part_tree(root)


def test_missing_tree_is_a_clear_error(tmp_path):
    with pytest.raises(PartTreeError, match="part tree not found"):
        scan_part_tree(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PartTreeError, match="not a face-part tree"):
        scan_part_tree(tmp_path / "empty")
    save_rgba(tmp_path / "bg_only/backgrounds/general.png", 295, 285, (0, 0, 0, 255))
    with pytest.raises(PartTreeError, match="no species_"):
        scan_part_tree(tmp_path / "bg_only")


def test_missing_background_is_named(tmp_path):
    root = make_tree(tmp_path / "facegen")
    (root / "backgrounds/general.png").unlink()
    with pytest.raises(PartTreeError, match=r"general\.png: background missing"):
        scan_part_tree(root)


@pytest.mark.parametrize("category,folder", [("eyes", "species_0/race_0/eyes"), ("armour", "species_0/clothes")])
def test_empty_category_names_the_folder_to_fill(tmp_path, category, folder):
    root = make_tree(tmp_path / "facegen", races=1)
    prefix = "armour_" if category == "armour" else "eyes_"
    for path in (root / folder).glob(f"{prefix}*"):
        path.unlink()
    tree = FaceGenerator.load(root).tree
    with pytest.raises(PartTreeError, match=f"no {category} part .*add at least one"):
        pick_face_parts(tree, 0)


def test_race_folder_without_subfolders_is_an_empty_category(tmp_path):
    root = make_tree(tmp_path / "facegen", races=1)
    (root / "species_0/race_1").mkdir()
    tree = FaceGenerator.load(root).tree
    assert tree.species[0].num_races == 2
    races = set()
    for seed in range(40):
        try:
            races.add(pick_face_parts(tree, seed).descriptor.race)
        except PartTreeError as err:
            assert "race 1" in str(err) and "race_1/head/head_" in str(err)
    assert races == {0}
