"""Hostile output folders: ones that cannot be made, that are files, links or special files, or that hold
links leading out of them."""

from __future__ import annotations

import os
from pathlib import Path

from hostile.harness import AS_ROOT, STYLE, Corpus, apply_argv, compose_argv, face, outputs, tiny_tree

corpus = Corpus("out_dirs")


@corpus.case(fault="/proc/x", outs=())
def compose_under_proc(tmp: Path) -> list[str]:
    """``compose --seeds 0-1 --out /proc/x`` (issue item 1): /proc takes no new folder; one line naming
    /proc/x, exit 1, nothing written anywhere."""
    return compose_argv(tmp, out="/proc/x")


@corpus.case(fault="face.png/sub")
def apply_below_a_file(tmp: Path) -> list[str]:
    """``apply --out face.png/sub`` where face.png is a file (issue item 1): one line naming the folder that
    cannot be made, exit 1."""
    path = face(tmp)
    return apply_argv(tmp, path, out=path / "sub")


@corpus.case(fault="/proc/x", outs=())
def apply_under_proc(tmp: Path) -> list[str]:
    """``apply --out /proc/x/faces``: cannot be made; one line naming it, exit 1."""
    return apply_argv(tmp, face(tmp), out="/proc/x/faces")


@corpus.case(fault="/proc/x", outs=())
def export_under_proc(tmp: Path) -> list[str]:
    """``export --out /proc/x/style.onnx`` (issue item 1): one line naming the path, exit 1."""
    return ["export", "--style", STYLE, "--no-check", "--out", "/proc/x/style.onnx"]


@corpus.case(fault="wall")
def export_below_a_file(tmp: Path) -> list[str]:
    """``export --out wall/style.onnx`` where wall is a file: one line naming it, exit 1."""
    (tmp / "in" / "wall").write_text("a file, not a folder\n")
    return ["export", "--style", STYLE, "--no-check", "--out", str(tmp / "in" / "wall" / "style.onnx")]


@corpus.case(fault="/proc/x", outs=(), inputs=("in",))
def export_parts_under_proc(tmp: Path) -> list[str]:
    """``export-parts --out /proc/x`` (issue item 1: a traceback after all its stylizing work): refused with
    one line naming /proc/x, exit 1 (best before the work), and no hidden build folder left beside it."""
    tree = tiny_tree(tmp / "in" / "tree")
    return ["export-parts", "--style", STYLE, "--parts", str(tree), "--contexts", "0", "--out", "/proc/x"]


@corpus.case(fault="plain.txt")
def export_parts_below_a_file(tmp: Path) -> list[str]:
    """``export-parts --out plain.txt/parts``: one line naming the path, exit 1, nothing half-made beside it."""
    tree = tiny_tree(tmp / "in" / "tree")
    (tmp / "in" / "plain.txt").write_text("a file\n")
    out = tmp / "in" / "plain.txt" / "parts"
    return ["export-parts", "--style", STYLE, "--parts", str(tree), "--contexts", "0", "--out", str(out)]


@corpus.case(fault="taken")
def apply_out_is_a_file(tmp: Path) -> list[str]:
    """``--out`` names an existing file: refused (not a folder), the file untouched, exit 1."""
    (tmp / "in" / "taken").write_text("keep me\n")
    return apply_argv(tmp, face(tmp), out=tmp / "in" / "taken")


@corpus.case(fault="taken")
def compose_out_is_a_file(tmp: Path) -> list[str]:
    """compose with ``--out`` an existing file: refused, exit 1."""
    (tmp / "in" / "taken").write_text("keep me\n")
    return compose_argv(tmp, out=tmp / "in" / "taken")


@corpus.case(fault="--out", outs=())
def apply_out_empty(tmp: Path) -> list[str]:
    """``--out ''`` (as from an unset shell variable, ``--out "$DEST"``): today taken as "not given", so the
    outputs go silently to the default [output] folder. A careful user expects the empty value refused naming
    --out, exit 1, nothing written."""
    return apply_argv(tmp, face(tmp), out="")


@corpus.case(fault="sub", check=outputs("top.png"))
def symlinked_sub_folder_in_out(tmp: Path) -> list[str]:
    """--out holds sub -> outside/ (issue item 3), and the input folder has sub/face.png: writing
    out/sub/face.png would land in outside/. Refused naming the link (exit 1: one input failed), nothing
    written through it; the other output is written."""
    face(tmp, "set/top.png")
    face(tmp, "set/sub/face.png")
    (tmp / "out").mkdir()
    (tmp / "out" / "sub").symlink_to(tmp / "outside")
    return apply_argv(tmp, tmp / "in" / "set")


@corpus.case(exit=(0, 1), fault="face.png")
def symlinked_output_file(tmp: Path) -> list[str]:
    """out/face.png is a symlink to outside/canary.txt: the output must not be written through it. Replacing
    the link by the output (exit 0) or refusing it by name (exit 1) are both safe; outside/ stays unchanged."""
    (tmp / "out").mkdir()
    (tmp / "out" / "face.png").symlink_to(tmp / "outside" / "canary.txt")
    return apply_argv(tmp, face(tmp))


@corpus.case(exit=0, outs=("out", "outside"), check=outputs("face.png", folder="outside/faces"))
def out_itself_is_a_symlink(tmp: Path) -> list[str]:
    """--out is itself a symlink the user made to outside/faces: that is the user's choice of folder, so the
    outputs go there; exit 0 (no over-refusal)."""
    (tmp / "outside" / "faces").mkdir()
    (tmp / "out").symlink_to(tmp / "outside" / "faces")
    return apply_argv(tmp, face(tmp))


@corpus.case(fault="face.png")
def folder_where_the_output_goes(tmp: Path) -> list[str]:
    """out/face.png is a folder where the output file must go: reported naming it, exit 1."""
    (tmp / "out" / "face.png").mkdir(parents=True)
    return apply_argv(tmp, face(tmp))


@corpus.case(fault="pipe")
def out_is_a_fifo(tmp: Path) -> list[str]:
    """--out is a FIFO: not a folder; refused naming it, exit 1 (and never opened)."""
    os.mkfifo(tmp / "in" / "pipe")
    return apply_argv(tmp, face(tmp), out=tmp / "in" / "pipe")


@corpus.case(fault="xxxx")
def out_name_too_long(tmp: Path) -> list[str]:
    """An --out whose last name is 300 characters (over the file system's 255): one line naming it, exit 1."""
    return apply_argv(tmp, face(tmp), out=tmp / "out" / ("x" * 300))


@corpus.case(fault="/in", outs=())
def out_is_the_input_folder(tmp: Path) -> list[str]:
    """--out is the input folder itself: outputs would overwrite or mix with inputs; refused, exit 1."""
    face(tmp)
    return apply_argv(tmp, tmp / "in", out=tmp / "in")


@corpus.case(exit=0, outs=("in/styled",), reruns=1, check=outputs("face.png", folder="in/styled"))
def out_inside_the_input_folder(tmp: Path) -> list[str]:
    """--out inside the input folder: allowed (its files are left out of the inputs), the inputs untouched;
    a rerun must not take the outputs for inputs; exit 0 both times."""
    face(tmp)
    return apply_argv(tmp, tmp / "in", out=tmp / "in" / "styled")


@corpus.case(fault="face.png", inputs=("out/old",), forbid=("no images found",))
def input_inside_out(tmp: Path) -> list[str]:
    """An input file inside --out (issue item 10: "no images found" although it is right there): refused
    naming the file and saying it is inside the output folder, exit 1; the file untouched."""
    path = face(tmp, "face.png")
    (tmp / "out" / "old").mkdir(parents=True)
    path.rename(tmp / "out" / "old" / "face.png")
    return apply_argv(tmp, tmp / "out" / "old" / "face.png")


@corpus.case(fault="sealed", skip_root=AS_ROOT, child=True)
def read_only_out(tmp: Path) -> list[str]:
    """--out exists without write permission: one line naming it (check permissions), exit 1."""
    (tmp / "out" / "sealed").mkdir(parents=True)
    (tmp / "out" / "sealed").chmod(0o555)
    return apply_argv(tmp, face(tmp), out=tmp / "out" / "sealed")


def _files_of_at_most_2_kb() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))


@corpus.case(fault="face.png", child=True, preexec=_files_of_at_most_2_kb)
def disk_full_while_writing(tmp: Path) -> list[str]:
    """A file-size limit of 2 KB (RLIMIT_FSIZE: writes past it fail with EFBIG, as on a full disk) while the
    output is written: one line naming the output that could not be written, exit 1, no temporary file left."""
    return apply_argv(tmp, face(tmp, size=(96, 96)))
