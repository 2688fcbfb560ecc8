import hashlib

import numpy as np
import pytest
from PIL import Image

from stylize import ImageReadError, StylizeError, read_image, write_png
from stylize.imageio import encode_png, find_images


@pytest.fixture
def gradient():
    y, x = np.mgrid[0:20, 0:30]
    return np.dstack([x * 8, y * 12, (x + y) * 4]).astype(np.uint8)


def test_rgba_keeps_alpha_apart(tmp_path, gradient):
    alpha = np.zeros((20, 30), np.uint8)
    alpha[5:15, 5:25] = 255
    alpha[0, 0] = 17
    Image.fromarray(np.dstack([gradient, alpha]), "RGBA").save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    assert image.source_mode == "RGBA"
    assert (image.rgb == gradient).all() and (image.alpha == alpha).all()
    assert image.size == (30, 20)


def test_palette_with_and_without_transparency(tmp_path):
    palette = Image.new("P", (4, 3), 1)
    palette.putpalette([0, 0, 0, 250, 10, 20] + [0, 0, 0] * 254)
    palette.putpixel((0, 0), 0)
    palette.save(tmp_path / "t.png", transparency=0)
    palette.save(tmp_path / "o.png")
    transparent = read_image(tmp_path / "t.png")
    assert transparent.alpha[0, 0] == 0 and transparent.alpha[1, 1] == 255
    assert tuple(transparent.rgb[1, 1]) == (250, 10, 20)
    assert read_image(tmp_path / "o.png").alpha is None


def test_greyscale_modes(tmp_path):
    Image.new("L", (5, 4), 90).save(tmp_path / "l.png")
    Image.new("LA", (5, 4), (90, 40)).save(tmp_path / "la.png")
    grey = read_image(tmp_path / "l.png")
    assert grey.alpha is None and (grey.rgb == 90).all()
    grey_alpha = read_image(tmp_path / "la.png")
    assert (grey_alpha.rgb == 90).all() and (grey_alpha.alpha == 40).all()


def test_sixteen_bit_greyscale_scales_to_eight_bits(tmp_path):
    values = np.array([[0, 257 * 100, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    image = read_image(tmp_path / "g16.png")
    assert image.rgb[0, :, 0].tolist() == [0, 100, 255]


def test_cmyk_jpeg_and_webp(tmp_path):
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=95)
    cmyk = read_image(tmp_path / "c.jpg")
    assert cmyk.source_mode == "CMYK" and cmyk.alpha is None
    assert cmyk.rgb[4, 4, 0] > 200 and cmyk.rgb[4, 4, 1] < 60
    Image.new("RGBA", (6, 5), (10, 200, 30, 128)).save(tmp_path / "w.webp", lossless=True)
    webp = read_image(tmp_path / "w.webp")
    assert webp.alpha is not None and (webp.alpha == 128).all()


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 10, 20))  # blue strip on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to display
    image.save(tmp_path / "r.jpg", exif=exif, quality=95)
    loaded = read_image(tmp_path / "r.jpg")
    assert loaded.size == (20, 40)
    assert loaded.rgb[2, 10, 2] > 200  # the blue strip now runs along the top


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty file"), (b"hello, not an image", "not an image format")],
)
def test_unreadable_files_are_named(tmp_path, content, reason):
    (tmp_path / "bad.png").write_bytes(content)
    with pytest.raises(ImageReadError, match=rf"bad\.png: cannot read image \({reason}"):
        read_image(tmp_path / "bad.png")


def test_truncated_png_is_named(tmp_path, gradient):
    data = encode_png(gradient)
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=r"cut\.png: cannot read image"):
        read_image(tmp_path / "cut.png")
    with pytest.raises(ImageReadError, match="not found"):
        read_image(tmp_path / "missing.png")


def test_write_png_is_atomic_and_deterministic(tmp_path, gradient):
    write_png(tmp_path / "sub/out.png", gradient, np.full((20, 30), 200, np.uint8))
    first = (tmp_path / "sub/out.png").read_bytes()
    write_png(tmp_path / "sub/out.png", gradient, np.full((20, 30), 200, np.uint8))
    assert (tmp_path / "sub/out.png").read_bytes() == first
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["out.png"]  # no temp files left
    back = read_image(tmp_path / "sub/out.png")
    assert (back.rgb == gradient).all() and (back.alpha == 200).all()


def test_failed_write_leaves_the_old_file(tmp_path, gradient, monkeypatch):
    write_png(tmp_path / "out.png", gradient)
    before = hashlib.sha256((tmp_path / "out.png").read_bytes()).hexdigest()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("stylize.imageio.os.replace", broken_replace)
    with pytest.raises(StylizeError, match="out.png: no space left on device; free space"):
        write_png(tmp_path / "out.png", gradient[::-1].copy())
    assert hashlib.sha256((tmp_path / "out.png").read_bytes()).hexdigest() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_find_images_recurses_and_skips_hidden(tmp_path, gradient):
    write_png(tmp_path / "a/b/x.png", gradient)
    write_png(tmp_path / "a/.hidden/y.png", gradient)
    (tmp_path / "a/notes.txt").write_text("hi")
    write_png(tmp_path / "a/c.PNG", gradient)
    found = [(str(rel)) for _, rel in find_images([tmp_path / "a"])]
    assert found == ["b/x.png", "c.PNG"]
    with pytest.raises(StylizeError, match="input not found"):
        find_images([tmp_path / "nope"])


def test_atomic_writes_get_ordinary_permissions(tmp_path, gradient):
    import os
    import stat

    old = os.umask(0o022)
    try:
        write_png(tmp_path / "p.png", gradient)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "p.png").stat().st_mode) == 0o644


def test_find_images_names_everything_it_does_not_use(tmp_path, gradient, monkeypatch):
    """Issue 16 item 10: FIFOs, unreadable sub-folders and link loops are reported, GIFs are read."""
    import os

    folder = tmp_path / "a"
    write_png(folder / "x.png", gradient)
    Image.fromarray(gradient).save(folder / "g.gif")
    os.mkfifo(folder / "pipe.png")
    (folder / "sub").mkdir()
    (folder / "sub" / "loop").symlink_to(folder)  # a link back up the tree is not walked again
    (folder / "dead.png").symlink_to(tmp_path / "missing.png")
    problems: list[str] = []
    found = [str(rel) for _, rel in find_images([folder], problems=problems)]
    assert found == ["g.gif", "x.png"]
    assert len(problems) == 2
    assert any("pipe.png: not a regular file" in line for line in problems)
    assert any("dead.png: a broken symbolic link" in line for line in problems)
    with pytest.raises(StylizeError, match="(pipe|dead).png: (not a regular file|a broken symbolic link)"):
        find_images([folder])
    with pytest.raises(StylizeError, match="pipe.png: not a regular file or folder"):
        find_images([folder / "pipe.png"])

    real_scandir = os.scandir

    def unreadable(path):  # root ignores permissions, so the refusal is simulated
        if os.fspath(path).endswith("sub"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", unreadable)
    problems = []
    find_images([folder], problems=problems)
    assert any("sub: cannot read folder (Permission denied)" in line for line in problems)


def test_multi_frame_images_are_refused_not_cut_to_their_first_frame(tmp_path, gradient):
    frames = [Image.fromarray(gradient), Image.fromarray(gradient[::-1].copy())]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "pages.tif", save_all=True, append_images=frames[1:])
    for name in ("anim.gif", "pages.tif"):
        with pytest.raises(ImageReadError, match=f"{name}: image has 2 frames"):
            read_image(tmp_path / name)
    Image.fromarray(gradient).save(tmp_path / "one.gif")
    assert read_image(tmp_path / "one.gif").size == (30, 20)


def damaged_exif_jpeg(path, size=(40, 20)):
    """A JPEG whose EXIF block has four tags pointing past its end (Pillow warns once each) and a good
    orientation tag (rotate 90 clockwise)."""
    import struct

    entries = [struct.pack(">HHII", tag, 2, 100, 5000) for tag in (0x010F, 0x0110, 0x0131, 0x8769)]
    entries.append(struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0))
    ifd = struct.pack(">H", len(entries)) + b"".join(entries) + struct.pack(">I", 0)
    Image.new("RGB", size, (200, 80, 40)).save(path, exif=b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08" + ifd)
    return path


def test_pillow_warnings_become_one_line_naming_the_file(tmp_path, caplog):
    import warnings

    path = damaged_exif_jpeg(tmp_path / "cam.jpg")
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        with caplog.at_level("WARNING", logger="stylize"):
            image = read_image(path)
    assert not escaped, [str(w.message) for w in escaped]  # none reaches the caller raw
    lines = [r.getMessage() for r in caplog.records if r.name == "stylize"]
    assert len(lines) == 1 and lines[0].startswith(f"{path}: its EXIF metadata is damaged"), lines
    assert "3 more like it" in lines[0] and image.size == (20, 40)  # the orientation tag still applied


def test_camera_jpeg_with_an_mpf_preview_reads_its_primary_image(tmp_path, gradient):
    primary = Image.fromarray(gradient)
    primary.save(tmp_path / "cam.jpg", "MPO", save_all=True, append_images=[Image.new("RGB", (8, 6), (0, 0, 255))])
    with Image.open(tmp_path / "cam.jpg") as opened:
        assert opened.format == "MPO" and opened.n_frames == 2  # what a camera's file looks like to Pillow
    primary.save(tmp_path / "alone.jpg", "JPEG")
    image = read_image(tmp_path / "cam.jpg")
    assert image.size == (30, 20) and (image.rgb == read_image(tmp_path / "alone.jpg").rgb).all()
