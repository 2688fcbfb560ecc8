import numpy as np
import pytest
from conftest import make_tree
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from stylize import ImageReadError, PartTreeError
from stylize.content.composite import (
    FACE_HEIGHT,
    FACE_WIDTH,
    FaceGenerator,
    PartPixels,
    blit_over,
    c_div2,
)
from stylize.content.picking import pick_face_parts


def float_over(dst: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[..., 3:4] / 255.0
    return rgba[..., :3] * alpha + dst * (1.0 - alpha)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.uint8, (5, 7, 4)),
    arrays(np.uint8, (9, 11, 3)),
    st.integers(-12, 12),
    st.integers(-8, 12),
)
def test_blit_is_within_one_level_of_float_alpha_over(part, canvas, xoff, yoff):
    expected = canvas.astype(np.float64).copy()
    x = int((11 - 7) / 2) + xoff
    for py in range(5):
        for px in range(7):
            cy, cx = yoff + py, x + px
            if 0 <= cy < 9 and 0 <= cx < 11:
                expected[cy, cx] = float_over(expected[cy, cx], part[py, px].astype(np.float64))
    blit_over(canvas, PartPixels.from_rgba(part), xoff, yoff)
    assert np.abs(canvas.astype(np.float64) - expected).max() <= 0.5 + 1e-9


def test_c_division_truncates_toward_zero():
    assert c_div2(295 - 296) == 0  # Python's // would give -1
    assert c_div2(295 - 300) == -2
    assert c_div2(295 - 127) == 84


def test_opaque_and_transparent_extremes_are_exact():
    canvas = np.full((4, 4, 3), 77, np.uint8)
    part = np.zeros((4, 4, 4), np.uint8)
    part[:2, :, :3] = 200
    part[:2, :, 3] = 255
    blit_over(canvas, PartPixels.from_rgba(part), 0, 0)
    assert (canvas[:2] == 200).all() and (canvas[2:] == 77).all()


def test_part_larger_than_canvas_is_clipped_like_sdl(tmp_path):
    root = make_tree(tmp_path / "facegen", races=1, per_gender=1, accessories=1, clothes=1, armour=1)
    big = np.zeros((300, 301, 4), np.uint8)
    big[..., 0] = np.arange(301, dtype=np.uint16).astype(np.uint8)[None, :]
    big[..., 3] = 255
    for gender in (0, 1):
        Image.fromarray(big, "RGBA").save(root / f"species_0/race_0/hair/hair_{gender}_0.png")
    generator = FaceGenerator.load(root)
    face = generator.build_face_image(pick_face_parts(generator.tree, 1))
    assert face.shape == (FACE_HEIGHT, FACE_WIDTH, 3)
    # x = (295 - 301) / 2 = -3 (C), so canvas column 0 shows part column 3.
    assert face[0, 0, 0] == 3 and face[-1, -1, 0] == (294 + 3) % 256


def test_palette_and_greyscale_parts_composite(tmp_path):
    root = make_tree(tmp_path / "facegen", races=1, per_gender=1, accessories=1, clothes=1, armour=1)
    placeholder = Image.new("P", (2, 2), 0)
    placeholder.putpalette([0, 0, 0] * 256)
    placeholder.save(root / "species_0/accessories/acc_0.png", transparency=0)
    Image.new("L", (295, 285), 128).save(root / "species_0/accessories/acc_1.png")
    generator = FaceGenerator.load(root)
    tree = generator.tree
    seeds_by_accessory: dict[str, int] = {}
    for seed in range(64):
        picked = pick_face_parts(tree, seed)
        seeds_by_accessory.setdefault(picked.parts["accessories"].relpath, seed)
    assert set(seeds_by_accessory) == {"species_0/accessories/acc_0.png", "species_0/accessories/acc_1.png"}
    for relpath, seed in seeds_by_accessory.items():
        picked = pick_face_parts(tree, seed)
        face = generator.build_face_image(picked)
        without_hair = generator.layers(picked, False)[:-1]
        canvas = np.zeros_like(face)
        for part, xoff, yoff in without_hair:
            blit_over(canvas, generator.pixels[part.relpath], xoff, yoff)
        if relpath.endswith("acc_1.png"):  # opaque grey covers everything below the hair
            assert (canvas == 128).all()
        else:  # the 2x2 transparent placeholder changes nothing
            canvas_without = np.zeros_like(face)
            for part, xoff, yoff in without_hair[:-1]:
                blit_over(canvas_without, generator.pixels[part.relpath], xoff, yoff)
            assert (canvas == canvas_without).all()


def test_armoured_draws_armour_instead_of_clothes_accessory_and_hair(tmp_path):
    generator = FaceGenerator.load(make_tree(tmp_path / "facegen"))
    picked = pick_face_parts(generator.tree, 5)
    plain = [part.category for part, _, _ in generator.layers(picked, False)]
    armoured = [part.category for part, _, _ in generator.layers(picked, True)]
    assert plain == ["background", "head", "clothes", "eyes", "nose", "mouth", "accessories", "hair"]
    assert armoured == ["background", "head", "eyes", "nose", "mouth", "armour"]


def test_unreadable_part_is_refused_or_skipped_like_the_game(tmp_path):
    root = make_tree(tmp_path / "facegen", races=1)
    data = (root / "species_0/race_0/mouth/mouth_0_0.png").read_bytes()
    (root / "species_0/race_0/mouth/mouth_0_0.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=r"mouth_0_0\.png: cannot read mouth part .*unreadable = \"skip\""):
        FaceGenerator.load(root)
    generator = FaceGenerator.load(root, unreadable="skip")
    assert generator.skipped == ["species_0/race_0/mouth/mouth_0_0.png"]
    assert [p.relpath for p in generator.tree.candidates("mouth", 0, 0, 0)] == ["species_0/race_0/mouth/mouth_0_1.png"]
    with pytest.raises(PartTreeError, match="unreadable="):
        FaceGenerator.load(root, unreadable="ignore")


def test_unreadable_background_is_named(tmp_path):
    root = make_tree(tmp_path / "facegen", races=1)
    (root / "backgrounds/general.png").write_bytes(b"not a png")
    with pytest.raises(ImageReadError, match=r"general\.png: cannot read background"):
        FaceGenerator.load(root, unreadable="skip")
