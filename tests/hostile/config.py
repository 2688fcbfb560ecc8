"""Hostile ``pipeline.toml`` files, given with ``--config`` (or found in the working folder): unknown
keys, wrong types, huge numbers, invalid TOML, encodings, special files. Each is refused with one line
naming the file and the key, before any work."""

from __future__ import annotations

from pathlib import Path

from hostile.harness import Corpus, compose_argv

corpus = Corpus("config")


def config(tmp: Path, text: str | bytes, name: str = "pipeline.toml") -> Path:
    path = tmp / "in" / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def compose_with(tmp: Path, text: str | bytes) -> list[str]:
    return ["compose", "--config", str(config(tmp, text)), "--seeds", "0-1", "--out", str(tmp / "out")]


@corpus.case(fault="colour")
def unknown_key(tmp: Path) -> list[str]:
    """``[output] colour = "red"`` (a typo or a key of another tool): refused naming the key, exit 1."""
    return compose_with(tmp, '[output]\ncolour = "red"\n')


@corpus.case(fault="outptu")
def unknown_section(tmp: Path) -> list[str]:
    """``[outptu]`` (a typo): refused naming the section, exit 1."""
    return compose_with(tmp, '[outptu]\ndir = "x"\n')


@corpus.case(fault="device")
def wrong_type(tmp: Path) -> list[str]:
    """``[run] device = 5``: refused naming the key and what is allowed, exit 1."""
    return compose_with(tmp, "[run]\ndevice = 5\n")


@corpus.case(fault="seed")
def seed_beyond_64_bits(tmp: Path) -> list[str]:
    """``[run] seed = 99999999999999999999999`` (TOML reads any size): refused naming seed, exit 1."""
    return compose_with(tmp, "[run]\nseed = 99999999999999999999999\n")


@corpus.case(fault="pipeline.toml")
def five_thousand_digit_number(tmp: Path) -> list[str]:
    """A 5000-digit integer (Python refuses to convert more than 4300 digits: a ValueError inside the TOML
    reader): refused naming the file, exit 1."""
    return compose_with(tmp, "[run]\nseed = 1" + "0" * 5000 + "\n")


@corpus.case(fault="pipeline.toml")
def ten_thousand_deep_array(tmp: Path) -> list[str]:
    """``x = [[[[...]]]]`` 10000 deep (a RecursionError inside the TOML reader): refused naming the file,
    exit 1."""
    return compose_with(tmp, "[run]\nseed = " + "[" * 10000 + "]" * 10000 + "\n")


@corpus.case(fault="pipeline.toml")
def invalid_toml(tmp: Path) -> list[str]:
    """``[output`` (an unclosed table): refused naming the file and the line, exit 1."""
    return compose_with(tmp, '[output\ndir = "x"\n')


@corpus.case(exit=(0, 1), fault="pipeline.toml")
def byte_order_mark(tmp: Path) -> list[str]:
    """A UTF-8 byte order mark before valid TOML (as Notepad saves): read (exit 0) or refused naming the file
    and the mark (exit 1); never a traceback."""
    return compose_with(tmp, b'\xef\xbb\xbf[content]\nseeds = "0-1"\n')


@corpus.case(fault="pipeline.toml")
def not_utf8(tmp: Path) -> list[str]:
    """Latin-1 bytes in a string value: refused naming the file (save as UTF-8), exit 1."""
    return compose_with(tmp, b'[output]\ndir = "sorti\xe9"\n')


@corpus.case(fault="minutes")
def minutes_infinite(tmp: Path) -> list[str]:
    """``[train] minutes = inf`` (TOML has inf; issue item 7's OverflowError): refused naming the key, exit 1."""
    return compose_with(tmp, "[train]\nminutes = inf\n")


@corpus.case(fault="size")
def size_nan(tmp: Path) -> list[str]:
    """``[train] size = nan``: refused naming the key, exit 1."""
    return compose_with(tmp, "[train]\nsize = nan\n")


@corpus.case(fault="seeds")
def seeds_five_thousand_digits(tmp: Path) -> list[str]:
    """``[content] seeds = "<5000 digits>"`` (issue item 6): refused naming seeds, exit 1."""
    return [
        "compose",
        "--config",
        str(config(tmp, '[content]\nseeds = "' + "9" * 5000 + '"\n')),
        "--out",
        str(tmp / "out"),
    ]


@corpus.case(fault="pipeline.toml", inputs=("in", "pipeline.toml"))
def found_in_working_folder(tmp: Path) -> list[str]:
    """A broken ./pipeline.toml in the working folder (read without --config): refused naming it, exit 1."""
    (tmp / "pipeline.toml").write_text("[run\n")
    return compose_argv(tmp)


@corpus.case(fault="cfg.d")
def config_is_a_folder(tmp: Path) -> list[str]:
    """``--config`` names a folder: refused naming it (a folder, not a file), exit 1."""
    (tmp / "in" / "cfg.d").mkdir()
    return ["compose", "--config", str(tmp / "in" / "cfg.d"), "--seeds", "0-1", "--out", str(tmp / "out")]


@corpus.case(fault="root")
def parts_root_is_a_file(tmp: Path) -> list[str]:
    """``[parts] root`` names a file: refused naming the key or the path, exit 1."""
    (tmp / "in" / "tree.txt").write_text("not a tree\n")
    return compose_with(tmp, f'[parts]\nroot = "{tmp / "in" / "tree.txt"}"\n')


@corpus.case(fault="4294967296")
def seed_list_out_of_range(tmp: Path) -> list[str]:
    """``[content] seeds = [1, 4294967296]`` (one past the game's 32-bit seeds): refused naming the seed, exit 1."""
    return ["compose", "--config", str(config(tmp, "[content]\nseeds = [1, 4294967296]\n")), "--out", str(tmp / "out")]
