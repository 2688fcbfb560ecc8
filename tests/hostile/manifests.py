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
