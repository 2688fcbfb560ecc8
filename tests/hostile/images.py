"""Hostile image files given to ``stylize apply``: damaged, disguised, odd, special files and names."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

from PIL import Image

from hostile.harness import AS_ROOT, Corpus, Result, apply_argv, face, outputs, portrait

corpus = Corpus("images")


def png_header(width: int, height: int) -> bytes:
    """A PNG that is only a signature, an IHDR claiming ``width`` x ``height`` and an IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
        + chunk(b"IEND", b"")
    )


@corpus.case(fault="half.png")
def truncated_png(tmp: Path) -> list[str]:
    """A PNG cut in half (a copy that stopped): refused with one line naming it, exit 1."""
    path = face(tmp, "half.png", size=(120, 120))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return apply_argv(tmp, path)


@corpus.case(fault="empty.png")
def zero_byte_png(tmp: Path) -> list[str]:
    """An empty file named .png: refused naming it (and saying it is empty), exit 1."""
    (tmp / "in" / "empty.png").write_bytes(b"")
    return apply_argv(tmp, tmp / "in" / "empty.png")


@corpus.case(fault="noise.png")
def garbage_png(tmp: Path) -> list[str]:
    """Random bytes named .png: refused naming it, exit 1."""
    (tmp / "in" / "noise.png").write_bytes(os.urandom(4096))
    return apply_argv(tmp, tmp / "in" / "noise.png")


@corpus.case(fault="huge.png")
def huge_dimensions_in_header(tmp: Path) -> list[str]:
    """A tiny file whose header claims 100000 x 100000 pixels (a decompression bomb): refused before
    decoding, naming the file, exit 1; no memory is spent on it."""
    (tmp / "in" / "huge.png").write_bytes(png_header(100_000, 100_000))
    return apply_argv(tmp, tmp / "in" / "huge.png")


@corpus.case(fault="flat.png")
def zero_width_in_header(tmp: Path) -> list[str]:
    """A PNG header with width 0: refused naming the file, exit 1."""
    (tmp / "in" / "flat.png").write_bytes(png_header(0, 64))
    return apply_argv(tmp, tmp / "in" / "flat.png")


@corpus.case(exit=0, check=outputs("photo.png"))
def jpeg_named_png(tmp: Path) -> list[str]:
    """A JPEG saved with a .png name: images are read by content, so it is stylized like any other, exit 0."""
    path = portrait(tmp / "in" / "photo.png", mode="RGB", fmt="JPEG")
    return apply_argv(tmp, path)


@corpus.case(exit=0, check=outputs("scan.png"))
def png_named_jpg(tmp: Path) -> list[str]:
    """A PNG named .jpg: read by content, stylized to scan.png, exit 0."""
    path = portrait(tmp / "in" / "scan.jpg", fmt="PNG")
    return apply_argv(tmp, path)


@corpus.case(fault="notes.png", check=outputs("good.png"))
def text_file_among_images(tmp: Path) -> list[str]:
    """A folder holding a good portrait and a text file named .png: the good one is stylized, the bad one
    reported by name; exit 1 because an input failed."""
    face(tmp, "faces/good.png")
    (tmp / "in" / "faces" / "notes.png").write_text("not an image\n")
    return apply_argv(tmp, tmp / "in" / "faces")


@corpus.case(fault="c.png", errors=3, check=outputs("ok.png"))
def three_bad_files_in_a_folder(tmp: Path) -> list[str]:
    """Three bad files (empty, truncated, garbage) beside one good portrait: one error line each (apply goes
    on past bad inputs) and its summary line; the good one is written; exit 1."""
    face(tmp, "set/ok.png")
    (tmp / "in" / "set" / "a.png").write_bytes(b"")
    (tmp / "in" / "set" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp / "in" / "set" / "c.png").write_bytes(os.urandom(999))
    return apply_argv(tmp, tmp / "in" / "set")


@corpus.case(exit=0, check=outputs("dot.png"))
def one_pixel_image(tmp: Path) -> list[str]:
    """A 1 x 1 portrait: smaller than the network's stride, but a valid image; stylized to 1 x 1, exit 0."""
    return apply_argv(tmp, face(tmp, "dot.png", size=(1, 1)))


@corpus.case(exit=0, check=outputs("strip.png"))
def extreme_aspect_ratio(tmp: Path) -> list[str]:
    """A 3000 x 2 strip: valid, stylized at its size, exit 0."""
    return apply_argv(tmp, face(tmp, "strip.png", size=(3000, 2)))


@corpus.case(exit=0, check=outputs("deep.png"))
def sixteen_bit_greyscale(tmp: Path) -> list[str]:
    """A 16-bit greyscale PNG: read as 8-bit, stylized, exit 0."""
    path = tmp / "in" / "deep.png"
    Image.new("I;16", (48, 40), 40000).save(path)
    return apply_argv(tmp, path)


@corpus.case(exit=0, check=outputs("print.png"))
def cmyk_jpeg(tmp: Path) -> list[str]:
    """A CMYK JPEG (from a print workflow): converted to RGB and stylized, exit 0."""
    path = tmp / "in" / "print.jpg"
    Image.new("CMYK", (40, 40), (10, 80, 160, 20)).save(path)
    return apply_argv(tmp, path)


def _alpha_kept(tmp: Path, result: Result) -> None:
    with Image.open(tmp / "out" / "palette.png") as image:
        assert image.mode == "RGBA", f"palette.png lost its transparency ({image.mode})"


@corpus.case(exit=0, check=_alpha_kept)
def palette_with_transparency(tmp: Path) -> list[str]:
    """A palette PNG with a transparent colour: its alpha is kept in the output, exit 0."""
    path = tmp / "in" / "palette.png"
    Image.open(portrait(tmp / "in" / "src.png")).convert("RGBA").quantize(16).save(path, transparency=0)
    (tmp / "in" / "src.png").unlink()
    return apply_argv(tmp, path)


@corpus.case(fault="fifo.png", forbid=("not found",))
def fifo_given_directly(tmp: Path) -> list[str]:
    """A FIFO named fifo.png given as the input (issue item 10): it is there, so "input not found" misleads;
    refused as not a regular file, naming it, exit 1 (and never opened: that would block)."""
    os.mkfifo(tmp / "in" / "fifo.png")
    return apply_argv(tmp, tmp / "in" / "fifo.png")


@corpus.case(fault="pipe.png", check=outputs("real.png"))
def fifo_in_a_folder(tmp: Path) -> list[str]:
    """A FIFO named pipe.png among the portraits of a folder: it has an image's name, so skipping it in silence
    hides a problem; the real portrait is stylized and the FIFO reported by name (without opening it), exit 1
    as for any input that failed."""
    face(tmp, "set/real.png")
    os.mkfifo(tmp / "in" / "set" / "pipe.png")
    return apply_argv(tmp, tmp / "in" / "set")


def _gif_not_ignored(tmp: Path, result: Result) -> None:
    outputs("still.png")(tmp, result)
    if result.code == 0:
        outputs("anim.png")(tmp, result)


@corpus.case(exit=(0, 1), fault="anim.gif", check=_gif_not_ignored)
def gif_in_a_folder(tmp: Path) -> list[str]:
    """A GIF beside a PNG in a folder (issue item 10: GIFs in folders are ignored in silence). A careful user
    expects it stylized (exit 0, out/anim.png) or reported by name (exit 1); never silently left out."""
    face(tmp, "set/still.png")
    portrait(tmp / "in" / "set" / "anim.gif", mode="RGB")
    return apply_argv(tmp, tmp / "in" / "set")


@corpus.case(exit=(0, 1), fault="frames.gif", warning="must")
def multi_frame_gif(tmp: Path) -> list[str]:
    """A 3-frame GIF given directly (issue item 10: the first frame is used in silence). Expected: refused
    naming the file and its frame count (exit 1), or stylized with one warning line naming it (exit 0)."""
    frames = [Image.new("RGB", (32, 32), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(tmp / "in" / "frames.gif", save_all=True, append_images=frames[1:], duration=100)
    return apply_argv(tmp, tmp / "in" / "frames.gif")


@corpus.case(exit=(0, 1), fault="pages.tif", warning="must")
def multi_page_tiff(tmp: Path) -> list[str]:
    """A 2-page TIFF given directly (issue item 10): refused naming it (exit 1), or stylized with one warning
    line naming it (exit 0); the second page is never dropped in silence."""
    pages = [portrait(tmp / "p0.png"), portrait(tmp / "p1.png", size=(64, 64), mode="RGB")]
    first, second = (Image.open(path).convert("RGB") for path in pages)
    first.save(tmp / "in" / "pages.tif", save_all=True, append_images=[second])
    for path in pages:
        path.unlink()
    return apply_argv(tmp, tmp / "in" / "pages.tif")


@corpus.case(fault="linked.png")
def dangling_symlink_in_a_folder(tmp: Path) -> list[str]:
    """A symlink named linked.png whose target is gone, beside a good portrait: like a missing file, reported
    by name rather than skipped in silence; the good one is stylized; exit 1."""
    face(tmp, "set/good.png")
    (tmp / "in" / "set" / "linked.png").symlink_to(tmp / "gone.png")
    return apply_argv(tmp, tmp / "in" / "set")


@corpus.case(exit=0, check=outputs("borrowed.png"))
def symlink_to_an_image_outside(tmp: Path) -> list[str]:
    """An input folder holding a symlink to a portrait in outside/: reading through it is fine (inputs are only
    read), the output is written in --out, outside/ is untouched; exit 0."""
    portrait(tmp / "outside" / "real.png")
    (tmp / "in" / "set").mkdir()
    (tmp / "in" / "set" / "borrowed.png").symlink_to(tmp / "outside" / "real.png")
    return apply_argv(tmp, tmp / "in" / "set")


@corpus.case(exit=0, check=outputs("a.png"))
def symlink_loop_in_a_folder(tmp: Path) -> list[str]:
    """A folder with a symlink pointing at itself (a loop) and one portrait: the walk ends, the portrait is
    stylized, exit 0."""
    face(tmp, "set/a.png")
    (tmp / "in" / "set" / "loop").symlink_to(tmp / "in" / "set")
    return apply_argv(tmp, tmp / "in" / "set")


@corpus.case(fault="bad name", check=outputs("fine.png"))
def newline_in_a_bad_file_name(tmp: Path) -> list[str]:
    """A broken file whose name holds a newline: still ONE error line (the name must not split it), exit 1."""
    face(tmp, "set/fine.png")
    (tmp / "in" / "set" / "bad\nname.png").write_bytes(b"garbage")
    return apply_argv(tmp, tmp / "in" / "set")


@corpus.case(exit=0, child=True, check=outputs(os.fsdecode(b"caf\xe9.png")))
def non_utf8_file_name(tmp: Path) -> list[str]:
    """A portrait whose name is not UTF-8 (Latin-1 bytes, as from an old archive): stylized under the same
    name, exit 0 (run as a child, so the name goes through a real stdout and stderr)."""
    folder = tmp / "in" / "set"
    folder.mkdir()
    portrait(tmp / "in" / "x.png").rename(os.fsdecode(os.fsencode(folder) + b"/caf\xe9.png"))
    return apply_argv(tmp, folder)


@corpus.case(exit=0, check=outputs("-face.png", " spaced  name .png"))
def names_like_options_and_spaces(tmp: Path) -> list[str]:
    """A file named -face.png given after --, and one with spaces: taken as names, exit 0."""
    face(tmp, " spaced  name .png")
    return [*apply_argv(tmp), "--", str(face(tmp, "-face.png")), str(tmp / "in" / " spaced  name .png")]


@corpus.case(exit=0, check=outputs("face.png"))
def folder_named_like_an_image(tmp: Path) -> list[str]:
    """A sub-folder named x.png (empty) beside a portrait: not an image, rightly ignored; exit 0."""
    face(tmp, "set/face.png")
    (tmp / "in" / "set" / "x.png").mkdir()
    return apply_argv(tmp, tmp / "in" / "set")


@corpus.case(fault="locked", skip_root=AS_ROOT, child=True, check=outputs("open/face.png"))
def unreadable_sub_folder(tmp: Path) -> list[str]:
    """A sub-folder without read permission (issue item 10: skipped with exit 0 and no word). Its portraits are
    inputs that could not be read: reported by name, the rest stylized, exit 1 as for any failed input."""
    face(tmp, "set/open/face.png")
    face(tmp, "set/locked/hidden.png")
    (tmp / "in" / "set" / "locked").chmod(0)
    return apply_argv(tmp, tmp / "in" / "set")


@corpus.case(fault="secret.png", skip_root=AS_ROOT)
def unreadable_file(tmp: Path) -> list[str]:
    """A portrait without read permission: reported by name (check the permissions), exit 1."""
    path = face(tmp, "secret.png")
    path.chmod(0)
    return apply_argv(tmp, path)


@corpus.case(exit=0, warning="must", fault="exif.jpg", child=True, check=outputs("exif.png"))
def damaged_exif_block(tmp: Path) -> list[str]:
    """A JPEG whose EXIF block is damaged (four tags pointing past the end of the file; Pillow warned four
    times, printed raw with its source lines). Stylized, exit 0, with ONE warning line naming the file (run
    as a child: raw Python warnings reach only a real stderr, not pytest's)."""
    import struct

    entries = [struct.pack(">HHII", tag, 2, 100, 5000) for tag in (0x010F, 0x0110, 0x0131, 0x8769)]
    ifd = struct.pack(">H", len(entries)) + b"".join(entries) + struct.pack(">I", 0)
    path = tmp / "in" / "exif.jpg"
    Image.open(portrait(tmp / "src.png")).convert("RGB").save(
        path, exif=b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08" + ifd
    )
    (tmp / "src.png").unlink()
    return apply_argv(tmp, path)


def _primary_image_read(tmp: Path, result: Result) -> None:
    outputs("camera.png")(tmp, result)
    with Image.open(tmp / "out" / "camera.png") as image:
        assert image.size == (80, 60), f"camera.png is {image.size}, not the primary image's 80x60"


@corpus.case(exit=0, check=_primary_image_read)
def camera_jpeg_with_mpf_preview(tmp: Path) -> list[str]:
    """A camera JPEG carrying an MPF preview (Pillow opens it as an MPO with 2 frames; it was refused as "2
    frames"): its primary image is the photo, stylized at its size, exit 0, no warning."""
    path = tmp / "in" / "camera.jpg"
    photo = Image.open(portrait(tmp / "src.png", size=(80, 60))).convert("RGB")
    photo.save(path, "MPO", save_all=True, append_images=[photo.resize((20, 15))])
    (tmp / "src.png").unlink()
    with Image.open(path) as opened:
        assert opened.format == "MPO" and opened.n_frames == 2
    return apply_argv(tmp, path)
