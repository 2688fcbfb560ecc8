"""Faults of the machine under every command that writes: a full disk (ENOSPC) and a read-only folder (EROFS).

Each case mounts a real tmpfs at ``tmp/out`` (``mount -t tmpfs -o size=...``; CI and the dev machine run as
root), sized so the disk fills while a file is being written (a face, a model file, a checkpoint), not only
when a folder is made, or remounted read-only after the folders the run writes into were made. The runner
(test_machine.py) unmounts it after the case, whatever happened. A careful user expects, on top of the
harness's invariants (one error line, no traceback, inputs unchanged, nothing written elsewhere, no
temporary file, build folder or lock file left): exit 1; the line names the file or folder and the fix
(free space, a writable folder: the option that chose it, such as ``--styles-dir DIR``); a style folder
either whole, as before, or absent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import processes
import pytest

from hostile.harness import ASSETS, STYLE, Check, Corpus, Result, all_of, nothing_at, portrait, tiny_tree

corpus = Corpus("machine")

FULL = "no space left on device"
READ_ONLY = "read-only file system"
PAGE = 4096
# One training of a tiny network, two steps: cheap, and its files are big enough to fill a disk mid-write.
TRAIN = ["--arch", "tiny", "--steps", "2", "--size", "32", "--batch", "1", "--content", "compose:0-1"]
HELD_OUT = ["--content", "compose:100000-100001"]  # faces no bundled style was trained on: no note line
SLOW: set[str] = set()  # cases that train or export a network, or take over ~0.4 s: marked slow by the runner


def require_mount(reason: str) -> None:
    """Skip the case (fail it under STYLIZE_REQUIRE_TOOLS=1) when file systems cannot be mounted here."""
    message = f"cannot mount a tmpfs here ({reason}): a full disk or read-only folder cannot be made"
    if os.environ.get("STYLIZE_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{message}, and STYLIZE_REQUIRE_TOOLS=1 requires it")
    pytest.skip(message)


def mount_tmpfs(path: Path, size: int) -> Path:
    """A tmpfs of ``size`` bytes (rounded up to pages) mounted at ``path`` (made if absent)."""
    path.mkdir(parents=True, exist_ok=True)
    pages = -(-size // PAGE)
    try:
        done = processes.run(
            ["mount", "-t", "tmpfs", "-o", f"size={pages * PAGE},mode=0755", "tmpfs", os.fspath(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except OSError as err:
        require_mount(f"mount: {err.strerror}")
    if done.returncode != 0:
        require_mount(done.stderr.strip() or f"mount exited {done.returncode}")
    return path


def read_only(path: Path) -> None:
    """Remount the tmpfs at ``path`` read-only."""
    processes.run(["mount", "-o", "remount,ro", os.fspath(path)], check=True, capture_output=True, timeout=30)


def unmount(path: Path) -> None:
    """Unmount whatever is mounted at ``path`` (a lazy unmount when it is busy)."""
    for _ in range(3):
        if not os.path.ismount(path):
            return
        done = processes.run(["umount", os.fspath(path)], capture_output=True, timeout=30)
        if done.returncode != 0:
            processes.run(["umount", "-l", os.fspath(path)], capture_output=True, timeout=30)


def fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to the last byte (a file of zeros, written until ENOSPC)."""
    with open(folder / "filler", "wb", buffering=0) as stream:
        try:
            while True:
                stream.write(b"\0" * PAGE)
        except OSError:
            pass


def weights_bytes(arch: str = "tiny") -> int:
    """The size of an ``arch`` network's weights file (float32 parameters and their names)."""
    from stylize.nets.transformer import build_network

    return sum(p.numel() for p in build_network(arch).parameters()) * 4 + 4 * PAGE


def said(*texts: str) -> Check:
    """A check: the error line holds every one of ``texts`` (the fault, the fix, the option)."""

    def check(tmp: Path, result: Result) -> None:
        for text in texts:
            assert text in result.stderr, f"the error line does not say {text!r}: {result.stderr.strip()!r}"

    return check


def style_whole_or_absent(folder: str) -> Check:
    """A check: the style folder ``tmp/folder`` is absent, or holds a model.json whose weights' hash matches
    its weights file and whose references are all there, and nothing else but refs/ and a whole checkpoint."""

    def check(tmp: Path, result: Result) -> None:
        import hashlib

        path = tmp / folder
        if not path.exists():
            return
        metadata = path / "model.json"
        if not metadata.exists():
            assert {p.name for p in path.iterdir()} <= {".checkpoint"}, f"{path} holds {sorted(os.listdir(path))}"
            return
        record = json.loads(metadata.read_text())
        weights = (path / "model.safetensors").read_bytes()
        assert hashlib.sha256(weights).hexdigest() == record["weights_sha256"], f"{path}: weights and model.json differ"
        recorded = {ref["file"] for ref in record.get("references", [])}
        present = {f"refs/{p.name}" for p in (path / "refs").iterdir()} if (path / "refs").is_dir() else set()
        assert recorded == present, f"{path}: refs/ holds {sorted(present)}, model.json records {sorted(recorded)}"

    return check


def unchanged(folder: str, before: Callable[[Path], dict[str, bytes]]) -> Check:
    """A check: every file of ``tmp/folder`` is as ``before(tmp)`` recorded it in the setup."""

    def check(tmp: Path, result: Result) -> None:
        now = {os.fspath(p.relative_to(tmp / folder)): p.read_bytes() for p in (tmp / folder).rglob("*") if p.is_file()}
        assert now == before(tmp), f"{tmp / folder} changed"

    return check


_SNAPSHOTS: dict[str, dict[str, bytes]] = {}


def keep_snapshot(tmp: Path, folder: str) -> None:
    _SNAPSHOTS[os.fspath(tmp / folder)] = {
        os.fspath(p.relative_to(tmp / folder)): p.read_bytes() for p in (tmp / folder).rglob("*") if p.is_file()
    }


def snapshot_of(folder: str) -> Callable[[Path], dict[str, bytes]]:
    return lambda tmp: _SNAPSHOTS[os.fspath(tmp / folder)]


def reference(tmp: Path, name: str = "strokes.png", seed: int = 5) -> Path:
    from conftest import stroke_reference

    return stroke_reference(tmp / "in" / name, seed)


def faces(tmp: Path, count: int = 6) -> Path:
    for index in range(count):
        portrait(tmp / "in" / "faces" / f"face{index}.png", size=(96, 96))
    return tmp / "in" / "faces"


def run_config(tmp: Path, out: Path) -> Path:
    config = tmp / "in" / "pipeline.toml"
    config.write_text(
        f'[parts]\nroot = "{tiny_tree(tmp / "in" / "tree")}"\n[content]\nseeds = "0-3"\n[styles]\n'
        f'dir = "{tmp / "in" / "styles"}"\nuse = ["{STYLE}"]\n[output]\ndir = "{out}"\n[run]\ndevice = "cpu"\n'
    )
    return config


def slow(function: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
    SLOW.add(function.__name__)
    return function


# --- a full disk -------------------------------------------------------------------------------------------


@corpus.case(fault="out/faces/face_", check=said(FULL, "--out DIR"))
def compose_disk_full(tmp: Path) -> list[str]:
    """``compose`` of 16 faces onto a 16 KB disk: full while a face PNG is written. One line naming that face and
    the fix (free space or another --out DIR), exit 1; the faces written before are whole, no temporary file."""
    mount_tmpfs(tmp / "out", 16 << 10)
    return [
        "compose",
        "--parts",
        os.fspath(tiny_tree(tmp / "in" / "tree")),
        "--seeds",
        "0-15",
        "--out",
        os.fspath(tmp / "out" / "faces"),
    ]


@corpus.case(
    fault="out/styles/k/",
    check=all_of(said(FULL, "--styles-dir DIR"), nothing_at("out/styles/k"), style_whole_or_absent("out/styles/k")),
)
@slow
def style_disk_full(tmp: Path) -> list[str]:
    """``style --name k`` onto a 12 KB disk: the reference is copied, then the disk is full while
    model.safetensors is written. One line naming it, exit 1; no style folder k (not a half-made one)."""
    mount_tmpfs(tmp / "out", 12 << 10)
    return [
        "style",
        "--name",
        "k",
        "--refs",
        os.fspath(reference(tmp)),
        "--styles-dir",
        os.fspath(tmp / "out" / "styles"),
    ]


@corpus.case(
    fault="out/styles/k/",
    check=all_of(said(FULL), unchanged("out/styles/k", snapshot_of("out/styles/k"))),
)
@slow
def style_overwrite_disk_full(tmp: Path) -> list[str]:
    """``style --name k --overwrite`` where style k exists and the disk has no room for the new one: one line,
    exit 1, and style k exactly as before (the new style is made whole beside it before it replaces it)."""
    from stylize.inference.reference_style import make_style

    mount_tmpfs(tmp / "out", 24 << 10)
    make_style("k", [reference(tmp, "old.png", seed=9)], styles_dir=tmp / "out" / "styles")
    keep_snapshot(tmp, "out/styles/k")
    refs = os.fspath(reference(tmp, "new.png", seed=3))
    return ["style", "--name", "k", "--refs", refs, "--overwrite", "--styles-dir", os.fspath(tmp / "out" / "styles")]


@corpus.case(
    fault="out/styles/k/model.safetensors",
    check=all_of(said(FULL, "--styles-dir DIR", "--resume"), style_whole_or_absent("out/styles/k")),
)
@slow
def train_disk_full(tmp: Path) -> list[str]:
    """``train --name k`` (a tiny network, two steps) on a disk with room for its checkpoint and the
    reference but not the model file: one line naming styles/k/model.safetensors, the fix and that the
    (whole) checkpoint is kept for --resume, exit 1; no model.json, no temporary file."""
    mount_tmpfs(tmp / "out", 3 * weights_bytes() + weights_bytes() // 2 + (16 << 10))
    parts = os.fspath(tiny_tree(tmp / "in" / "tree"))
    return [
        "train", "--name", "k", "--refs", os.fspath(reference(tmp)), *TRAIN, "--no-warm-start",
        "--parts", parts, "--device", "cpu", "--styles-dir", os.fspath(tmp / "out" / "styles"),
    ]  # fmt: skip


@corpus.case(fault="out/styles/_base/tiny/model.safetensors", check=all_of(said(FULL, "--styles-dir DIR")))
@slow
def train_base_disk_full(tmp: Path) -> list[str]:
    """``train-base --arch tiny`` with room for the checkpoint but not the model file: one line naming
    _base/tiny/model.safetensors, exit 1."""
    mount_tmpfs(tmp / "out", 3 * weights_bytes() + weights_bytes() // 2 + (8 << 10))
    parts = os.fspath(tiny_tree(tmp / "in" / "tree"))
    return [
        "train-base",
        *TRAIN,
        "--parts",
        parts,
        "--device",
        "cpu",
        "--styles-dir",
        os.fspath(tmp / "out" / "styles"),
    ]


@corpus.case(
    fault="out/styles/d/",
    check=all_of(said(FULL, "--styles-dir DIR"), style_whole_or_absent("out/styles/d")),
)
@slow
def distill_disk_full(tmp: Path) -> list[str]:
    """``distill --style pencil-nano --name d`` (tiny student) with room for the checkpoint and the copied
    references but not the model file: one line naming a file of styles/d, exit 1; no half-made style d."""
    refs = sum(p.stat().st_size for p in (ASSETS / "styles" / STYLE / "refs").iterdir())
    mount_tmpfs(tmp / "out", 3 * weights_bytes() + refs + weights_bytes() // 2 + (16 << 10))
    parts = os.fspath(tiny_tree(tmp / "in" / "tree"))
    return [
        "distill", "--style", STYLE, "--name", "d", *TRAIN, "--parts", parts, "--device", "cpu",
        "--styles-dir", os.fspath(tmp / "out" / "styles"),
    ]  # fmt: skip


@corpus.case(fault="out/", check=said(FULL, "--out DIR"))
@slow
def apply_disk_full(tmp: Path) -> list[str]:
    """``apply`` of six faces onto a 24 KB disk: full while an output PNG is written. ONE line (not one per
    remaining input: the disk stays full) naming the file and the fix, exit 1; finished outputs kept whole."""
    mount_tmpfs(tmp / "out", 24 << 10)
    return ["apply", "--style", STYLE, os.fspath(faces(tmp)), "--out", os.fspath(tmp / "out"), "--device", "cpu"]


@corpus.case(fault="out/preview/", check=said(FULL, "--out DIR"))
@slow
def preview_disk_full(tmp: Path) -> list[str]:
    """``preview`` onto a 16 KB disk: full while a face of the grid is written; one line, exit 1."""
    mount_tmpfs(tmp / "out", 16 << 10)
    parts = os.fspath(tiny_tree(tmp / "in" / "tree"))
    return [
        "preview", "--styles", STYLE, *HELD_OUT, "--parts", parts, "--out", os.fspath(tmp / "out" / "preview"),
        "--device", "cpu",
    ]  # fmt: skip


@corpus.case(fault="out/report/", check=said(FULL, "--report DIR"))
@slow
def eval_disk_full(tmp: Path) -> list[str]:
    """``eval --report DIR`` onto a 16 KB disk: full while a plot is written; one line naming it, exit 1."""
    mount_tmpfs(tmp / "out", 16 << 10)
    parts = os.fspath(tiny_tree(tmp / "in" / "tree"))
    return [
        "eval", "--style", STYLE, *HELD_OUT, "--parts", parts, "--report", os.fspath(tmp / "out" / "report"),
        "--device", "cpu",
    ]  # fmt: skip


@corpus.case(fault="out/pencil.onnx", check=said(FULL, "--out FILE"))
@slow
def export_disk_full(tmp: Path) -> list[str]:
    """``export`` of a style (about 80 KB of ONNX) onto a 24 KB disk: full mid-file; one line naming the
    .onnx file, exit 1, no temporary file."""
    mount_tmpfs(tmp / "out", 24 << 10)
    return ["export", "--style", STYLE, "--no-check", "--out", os.fspath(tmp / "out" / "pencil.onnx")]


@corpus.case(fault="out/parts/", check=all_of(said(FULL, "--out DIR"), nothing_at("out/parts")))
@slow
def export_parts_disk_full(tmp: Path) -> list[str]:
    """``export-parts`` onto a 24 KB disk: full while a part is written into the build folder; one line
    naming the part (as it would be in --out), exit 1, no build folder and no --out folder left."""
    mount_tmpfs(tmp / "out", 24 << 10)
    tree = os.fspath(tiny_tree(tmp / "in" / "tree"))
    return [
        "export-parts", "--style", STYLE, "--parts", tree, "--contexts", "0", "--device", "cpu",
        "--out", os.fspath(tmp / "out" / "parts"),
    ]  # fmt: skip


@corpus.case(fault="out/run/", check=said(FULL))
def run_disk_full(tmp: Path) -> list[str]:
    """``run`` (compose four faces, stylize them) with [output] dir on a 24 KB disk: full mid-file; one line
    naming it, exit 1."""
    mount_tmpfs(tmp / "out", 24 << 10)
    return ["run", "--config", os.fspath(run_config(tmp, tmp / "out" / "run"))]


@corpus.case(fault="out/studio/", check=said(FULL, "--dir DIR"), timeout=30)
def studio_disk_full(tmp: Path) -> list[str]:
    """``studio --dir DIR`` on a disk filled to the last byte: its lock file cannot be written. One line
    naming it, exit 1 (never a server that cannot save anything), no lock file left."""
    mount_tmpfs(tmp / "out", 16 << 10)
    fill(tmp / "out")
    return ["studio", "--dir", os.fspath(tmp / "out" / "studio"), "--port", "0"]


@corpus.case(fault="out/work/", check=said(FULL, "--work-dir DIR"))
@slow
def train_report_disk_full(tmp: Path) -> list[str]:
    """``train-report`` with --work-dir on a disk with room for a checkpoint but not the model file: one
    line naming the file and --work-dir, exit 1, the run in progress removed (nothing to resume)."""
    mount_tmpfs(tmp / "out", 3 * weights_bytes() + weights_bytes() // 2 + (16 << 10))
    parts = os.fspath(tiny_tree(tmp / "in" / "tree"))
    return [
        "train-report", "--refs", os.fspath(reference(tmp)), "--steps-list", "1", "--arch", "tiny", "--size", "32",
        "--batch", "1", "--content", "compose:0-1", "--held-out", "compose:100000-100000", "--no-warm-start",
        "--parts", parts, "--device", "cpu", "--work-dir", os.fspath(tmp / "out" / "work"),
    ]  # fmt: skip


# --- a read-only folder ------------------------------------------------------------------------------------


def read_only_out(tmp: Path, *folders: str, size: int = 1 << 20) -> Path:
    """A tmpfs at ``tmp/out`` holding ``folders``, then remounted read-only."""
    out = mount_tmpfs(tmp / "out", size)
    for folder in folders:
        (out / folder).mkdir(parents=True, exist_ok=True)
    read_only(out)
    return out


@corpus.case(fault="out/faces", check=said(READ_ONLY, "--out DIR"))
def compose_read_only(tmp: Path) -> list[str]:
    """``compose --out DIR`` where DIR is on a read-only file system: one line naming it, exit 1."""
    out = read_only_out(tmp, "faces")
    return [
        "compose",
        "--parts",
        os.fspath(tiny_tree(tmp / "in" / "tree")),
        "--seeds",
        "0-1",
        "--out",
        os.fspath(out / "faces"),
    ]


@corpus.case(
    fault="out/styles",
    check=all_of(said(READ_ONLY, "--styles-dir DIR"), unchanged("out/styles/k", snapshot_of("out/styles/k"))),
)
@slow
def style_read_only(tmp: Path) -> list[str]:
    """``style --name k --overwrite`` where style k is on a read-only file system: one line naming the styles
    folder and the fix, exit 1, style k as before."""
    from stylize.inference.reference_style import make_style

    out = mount_tmpfs(tmp / "out", 1 << 20)
    make_style("k", [reference(tmp, "old.png", seed=9)], styles_dir=out / "styles")
    keep_snapshot(tmp, "out/styles/k")
    read_only(out)
    refs = os.fspath(reference(tmp, "new.png", seed=3))
    return ["style", "--name", "k", "--refs", refs, "--overwrite", "--styles-dir", os.fspath(out / "styles")]


@corpus.case(fault="out/styles", check=all_of(said(READ_ONLY, "--styles-dir DIR"), nothing_at("out/styles/k")))
def train_read_only(tmp: Path) -> list[str]:
    """``train --name k`` with --styles-dir on a read-only file system: refused before any training, one line
    naming the folder, exit 1."""
    out = read_only_out(tmp, "styles")
    parts = os.fspath(tiny_tree(tmp / "in" / "tree"))
    return [
        "train", "--name", "k", "--refs", os.fspath(reference(tmp)), *TRAIN, "--no-warm-start",
        "--parts", parts, "--device", "cpu", "--styles-dir", os.fspath(out / "styles"),
    ]  # fmt: skip


@corpus.case(fault="out/styles", check=said(READ_ONLY, "--styles-dir DIR"))
def train_base_read_only(tmp: Path) -> list[str]:
    """``train-base`` with --styles-dir on a read-only file system: one line, exit 1, before any training."""
    out = read_only_out(tmp, "styles")
    parts = os.fspath(tiny_tree(tmp / "in" / "tree"))
    return ["train-base", *TRAIN, "--parts", parts, "--device", "cpu", "--styles-dir", os.fspath(out / "styles")]


@corpus.case(fault="out/styles", check=said(READ_ONLY, "--styles-dir DIR"))
def distill_read_only(tmp: Path) -> list[str]:
    """``distill`` with --styles-dir on a read-only file system: one line, exit 1, before any training."""
    out = read_only_out(tmp, "styles")
    parts = os.fspath(tiny_tree(tmp / "in" / "tree"))
    return [
        "distill", "--style", STYLE, "--name", "d", *TRAIN, "--parts", parts, "--device", "cpu",
        "--styles-dir", os.fspath(out / "styles"),
    ]  # fmt: skip


@corpus.case(fault="out/faces", check=said(READ_ONLY, "--out DIR"))
def apply_read_only(tmp: Path) -> list[str]:
    """``apply --out DIR`` on a read-only file system: one line naming it, exit 1."""
    out = read_only_out(tmp, "faces")
    return ["apply", "--style", STYLE, os.fspath(faces(tmp, 2)), "--out", os.fspath(out / "faces"), "--device", "cpu"]


@corpus.case(fault="out/preview", check=said(READ_ONLY, "--out DIR"))
def preview_read_only(tmp: Path) -> list[str]:
    """``preview --out DIR`` on a read-only file system: one line naming it, exit 1."""
    out = read_only_out(tmp, "preview")
    parts = os.fspath(tiny_tree(tmp / "in" / "tree"))
    return [
        "preview", "--styles", STYLE, *HELD_OUT, "--parts", parts, "--out", os.fspath(out / "preview"),
        "--device", "cpu",
    ]  # fmt: skip


@corpus.case(fault="out/report", check=said(READ_ONLY, "--report DIR"))
@slow
def eval_read_only(tmp: Path) -> list[str]:
    """``eval --report DIR`` on a read-only file system: one line naming it, exit 1."""
    out = read_only_out(tmp, "report")
    parts = os.fspath(tiny_tree(tmp / "in" / "tree"))
    return [
        "eval", "--style", STYLE, *HELD_OUT, "--parts", parts, "--report", os.fspath(out / "report"),
        "--device", "cpu",
    ]  # fmt: skip


@corpus.case(fault="out/pencil.onnx", check=said(READ_ONLY, "--out FILE"))
@slow
def export_read_only(tmp: Path) -> list[str]:
    """``export --out FILE`` in a read-only folder: one line naming the file, exit 1."""
    out = read_only_out(tmp)
    return ["export", "--style", STYLE, "--no-check", "--out", os.fspath(out / "pencil.onnx")]


@corpus.case(fault="out", check=said(READ_ONLY, "--out DIR"))
def export_parts_read_only(tmp: Path) -> list[str]:
    """``export-parts --out DIR`` in a read-only folder: one line naming it, exit 1 (before the work)."""
    out = read_only_out(tmp, "parts")
    tree = os.fspath(tiny_tree(tmp / "in" / "tree"))
    return [
        "export-parts", "--style", STYLE, "--parts", tree, "--contexts", "0", "--device", "cpu",
        "--out", os.fspath(out / "parts"),
    ]  # fmt: skip


@corpus.case(fault="out/run", check=said(READ_ONLY))
def run_read_only(tmp: Path) -> list[str]:
    """``run`` with [output] dir on a read-only file system: one line naming the folder, exit 1."""
    out = read_only_out(tmp, "run")
    return ["run", "--config", os.fspath(run_config(tmp, out / "run"))]


@corpus.case(fault="out/studio", check=said(READ_ONLY, "--dir DIR"), timeout=30)
def studio_read_only(tmp: Path) -> list[str]:
    """``studio --dir DIR`` on a read-only file system: one line naming it, exit 1 (no server started)."""
    out = read_only_out(tmp, "studio")
    return ["studio", "--dir", os.fspath(out / "studio"), "--port", "0"]


@corpus.case(fault="out/work", check=said(READ_ONLY, "--work-dir DIR"))
def train_report_read_only(tmp: Path) -> list[str]:
    """``train-report --work-dir DIR`` on a read-only file system: one line naming it, exit 1."""
    out = read_only_out(tmp, "work")
    parts = os.fspath(tiny_tree(tmp / "in" / "tree"))
    return [
        "train-report", "--refs", os.fspath(reference(tmp)), "--steps-list", "1", "--arch", "tiny", "--size", "32",
        "--batch", "1", "--content", "compose:0-1", "--held-out", "compose:100000-100000", "--no-warm-start",
        "--parts", parts, "--device", "cpu", "--work-dir", os.fspath(out / "work"),
    ]  # fmt: skip
