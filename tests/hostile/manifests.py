"""Hostile manifests in the output folder (``manifest.jsonl`` of apply and compose, ``export_parts.json``):
links out of the folder, damaged lines, special files. A damaged manifest is the tool's own file gone bad
(a killed run, a full disk, a hand edit): the run goes on, the damage quarantined with one warning line
naming the manifest, and every later run works too."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hostile.harness import STYLE, Corpus, Result, all_of, apply_argv, compose_argv, face, manifest_records, outputs

corpus = Corpus("manifests")


def manifest(tmp: Path, *lines: str | bytes) -> Path:
    path = tmp / "out" / "manifest.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines))
    return path


def recorded(*names: str, key: str = "output") -> object:
    """A check: out/manifest.jsonl is a regular file holding a record for each of ``names``."""

    def check(tmp: Path, result: Result) -> None:
        path = tmp / "out" / "manifest.jsonl"
        assert path.is_file() and not path.is_symlink(), "out/manifest.jsonl is not a regular file"
        found = {str(record.get(key)) for record in manifest_records(path)}
        missing = [name for name in names if name not in found]
        assert not missing, f"the manifest lacks {missing}"

    return check


NESTED = "[" * 100_000 + "]" * 100_000


@corpus.case(fault="manifest.jsonl")
def apply_manifest_links_outside(tmp: Path) -> list[str]:
    """out/manifest.jsonl is a symlink to outside/log.jsonl (issue item 3: JSON lines are appended to the
    file elsewhere). Never written through: refused naming the manifest, exit 1."""
    (tmp / "outside" / "log.jsonl").write_text("")
    (tmp / "out").mkdir()
    (tmp / "out" / "manifest.jsonl").symlink_to(tmp / "outside" / "log.jsonl")
    return apply_argv(tmp, face(tmp))


@corpus.case(fault="manifest.jsonl")
def compose_manifest_links_outside(tmp: Path) -> list[str]:
    """compose's out/manifest.jsonl is a symlink to outside/canary.txt: never written through; refused
    naming it, exit 1."""
    (tmp / "out").mkdir()
    (tmp / "out" / "manifest.jsonl").symlink_to(tmp / "outside" / "canary.txt")
    return compose_argv(tmp)


@corpus.case(
    exit=0, warning="may", fault="manifest.jsonl", reruns=1, check=all_of(recorded("face.png"), outputs("face.png"))
)
def apply_deeply_nested_line(tmp: Path) -> list[str]:
    """One line of 100000 nested lists in apply's manifest (issue item 6: a RecursionError traceback on every
    run): quarantined with at most one warning line naming the manifest; exit 0, the output recorded; the
    rerun works too."""
    manifest(tmp, NESTED)
    return apply_argv(tmp, face(tmp))


@corpus.case(exit=0, warning="may", fault="manifest.jsonl", reruns=1, check=recorded("face.png"))
def apply_huge_number_line(tmp: Path) -> list[str]:
    """A line holding a 5000-digit number: quarantined (at most one warning line), exit 0, rerun works."""
    manifest(tmp, json.dumps({"output": "face.png", "width": 1}).replace("1}", "1" + "0" * 5000 + "}"))
    return apply_argv(tmp, face(tmp))


@corpus.case(exit=0, warning="may", fault="manifest.jsonl", reruns=1, check=recorded("face.png"))
def apply_binary_garbage(tmp: Path) -> list[str]:
    """A manifest of random bytes and invalid UTF-8: quarantined (at most one warning line), exit 0."""
    manifest(tmp, os.urandom(300) + b"\xff\xfe", b'{"output": "face.png", "input_sha256": "\xe9"}')
    return apply_argv(tmp, face(tmp))


@corpus.case(exit=0, warning="may", fault="manifest.jsonl", reruns=1, check=recorded("face.png"))
def apply_records_of_the_wrong_shape(tmp: Path) -> list[str]:
    """Lines that are JSON but not records: a list, a number, an output that is a list, NaN: ignored or
    quarantined (at most one warning line), exit 0; the run's own record is written."""
    manifest(tmp, "[1, 2]", "7", '{"output": ["face.png"]}', '{"output": "face.png", "width": NaN}', "null")
    return apply_argv(tmp, face(tmp))


@corpus.case(exit=0, warning="may", fault="manifest.jsonl", reruns=1, check=outputs("face.png"))
def apply_record_claims_a_stale_output(tmp: Path) -> list[str]:
    """A record saying face.png is up to date with hashes that match nothing, and a stale out/face.png: the
    output is redone (hashes are checked, not trusted), exit 0."""
    (tmp / "out").mkdir()
    (tmp / "out" / "face.png").write_bytes(b"stale")
    record = {"output": "face.png", "input_sha256": "0" * 64, "model_sha256": "0" * 64, "output_sha256": "0" * 64}
    manifest(tmp, json.dumps(record))
    return apply_argv(tmp, face(tmp))


@corpus.case(fault="manifest.jsonl")
def apply_manifest_is_a_folder(tmp: Path) -> list[str]:
    """out/manifest.jsonl is a folder: refused naming it, exit 1, nothing else written."""
    (tmp / "out" / "manifest.jsonl").mkdir(parents=True)
    return apply_argv(tmp, face(tmp))


@corpus.case(fault="manifest.jsonl", timeout=10)
def apply_manifest_is_a_fifo(tmp: Path) -> list[str]:
    """out/manifest.jsonl is a FIFO: opening it to append blocks until a reader comes, i.e. forever. Refused
    naming it, exit 1, within the timeout."""
    (tmp / "out").mkdir()
    os.mkfifo(tmp / "out" / "manifest.jsonl")
    return apply_argv(tmp, face(tmp))


@corpus.case(exit=0, warning="may", fault="manifest.jsonl", reruns=1)
def compose_deeply_nested_line(tmp: Path) -> list[str]:
    """compose's manifest with one line of 100000 nested lists: quarantined (at most one warning line naming
    it), exit 0, the faces written; the rerun works too."""
    manifest(tmp, NESTED)
    return compose_argv(tmp)


@corpus.case(exit=0, warning="may", fault="manifest.jsonl", reruns=1)
def compose_torn_last_line(tmp: Path) -> list[str]:
    """compose's manifest ending in half a line (a run killed mid-append): the torn line is dropped, exit 0."""
    manifest(tmp, '{"file": "00000000.png", "seed": 0, "arm')
    return compose_argv(tmp)


@corpus.case(fault="export_parts.json", inputs=("in",))
def export_parts_nested_record(tmp: Path) -> list[str]:
    """--out holds an earlier export whose export_parts.json is 100000 nested lists: refused naming it
    (not an export this stylize can read; --overwrite replaces it), exit 1."""
    from hostile.harness import tiny_tree

    tree = tiny_tree(tmp / "in" / "tree")
    (tmp / "out").mkdir()
    (tmp / "out" / "export_parts.json").write_text(NESTED)
    return ["export-parts", "--style", STYLE, "--parts", str(tree), "--contexts", "0", "--out", str(tmp / "out")]


# --- a style changed since its outputs were made: they are stale (issue 25) ------------------------------


def zero_training_style(tmp: Path, name: str, size: tuple[int, int] = (96, 96)) -> Path:
    from hostile.harness import portrait
    from stylize.inference.reference_style import make_style

    reference = portrait(tmp / "in" / f"{name}-ref.png", size=size, mode="RGB")
    return make_style(name, [reference], styles_dir=tmp / "in" / "styles")


def first_run(tmp: Path, argv: list[str]) -> None:
    """Run ``argv`` once in setup (the outputs the case's run must judge), quietly."""
    import contextlib
    import io

    from stylize.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main([argv[0], "-q", *argv[1:]]) == 0, f"setup run failed: {argv}"


def guard_off(folder: Path) -> None:
    """The face guard turned off in the style's model.json (face_style 1, face_detail 0), weights unchanged."""
    path = folder / "model.json"
    metadata = json.loads(path.read_text())
    metadata["guard"].update(face_style=1.0, face_detail=0.0)
    path.write_text(json.dumps(metadata, indent=2) + "\n")


def redone(count: int, style_folder: str | None = None):
    """A check: the run made ``count`` outputs again (none said up to date), and each record carries the
    style's current ``style_sha256``."""

    def check(tmp: Path, result: Result) -> None:
        from stylize.inference.styles import load_style_folder

        assert f"stylized {count} images" in result.stdout and "0 already up to date" in result.stdout, result.stdout
        if style_folder is not None:
            current = load_style_folder(tmp / "in" / "styles" / style_folder).style_sha256
            records = manifest_records(tmp / "out" / "manifest.jsonl")
            assert records and all(r.get("style_sha256") == current for r in records), "stale style_sha256 kept"

    return check


@corpus.case(exit=0, check=redone(1, "zt"), slow=True)
def style_settings_changed_since_the_outputs(tmp: Path) -> list[str]:
    """A zero-training style's outputs are made, then its face guard is turned off in model.json (weights
    unchanged). The rerun must make them again, not call them up to date (issue 25: the manifest keyed on
    the weights only); exit 0."""
    zero_training_style(tmp, "zt")
    argv = ["apply", "--styles-dir", str(tmp / "in" / "styles"), "--style", "zt", str(face(tmp)), "--out", str(tmp / "out")]  # fmt: skip
    first_run(tmp, argv)
    guard_off(tmp / "in" / "styles" / "zt")
    return argv


@corpus.case(exit=0, check=redone(1), slow=True)
def mixed_style_settings_changed_since_the_outputs(tmp: Path) -> list[str]:
    """A mix's outputs are made, then the face guard of its first style (the mix's guard) is turned off:
    the rerun makes them again; exit 0."""
    zero_training_style(tmp, "za")
    zero_training_style(tmp, "zb", size=(80, 120))
    argv = ["apply", "--styles-dir", str(tmp / "in" / "styles"), "--mix", "za:0.7,zb:0.3", str(face(tmp)), "--out", str(tmp / "out")]  # fmt: skip
    first_run(tmp, argv)
    guard_off(tmp / "in" / "styles" / "za")
    return argv


@corpus.case(exit=0, check=redone(1))
def style_weights_changed_since_the_outputs(tmp: Path) -> list[str]:
    """A trained style's outputs are made, then its weights are replaced (scaled by 0.9, model.json recording
    the new hash): the rerun makes them again; exit 0."""
    from hostile.harness import copied_style, replace_weights, transformed_weights

    folder = copied_style(tmp)
    argv = ["apply", "--style", str(folder), str(face(tmp)), "--out", str(tmp / "out")]
    first_run(tmp, argv)
    replace_weights(folder, transformed_weights(folder, lambda t: {k: v * 0.9 for k, v in t.items()}))
    return argv


def _still_up_to_date(tmp: Path, result: Result) -> None:
    assert "stylized 0 images" in result.stdout and "1 already up to date" in result.stdout, result.stdout


@corpus.case(exit=0, check=_still_up_to_date)
def style_history_changed_since_the_outputs(tmp: Path) -> list[str]:
    """A trained style's outputs are made, then model.json's history is edited (steps, wall time, loss
    history: nothing that changes what it paints). The rerun keeps them: 1 up to date, exit 0."""
    from hostile.harness import copied_style, edit_metadata

    folder = copied_style(tmp)
    argv = ["apply", "--style", str(folder), str(face(tmp)), "--out", str(tmp / "out")]
    first_run(tmp, argv)
    edit_metadata(folder, steps=1, wall_seconds=1.0, loss_history=[])
    return argv
