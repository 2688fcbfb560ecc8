"""``stylize bench BENCH``: one sub-command a bench, options defaulting to the library's, and the spellings
before the sub-commands still working (with a one-line note)."""

from __future__ import annotations

import inspect

import pytest

from stylize.bench import big, device, runtimes, zero
from stylize.cli import bench as bench_cli
from stylize.cli import build_parser, every_parser, main
from stylize.cli.bench import big as big_cli
from stylize.cli.bench import device as device_cli
from stylize.cli.bench import runtimes as runtimes_cli
from stylize.cli.bench import studio as studio_cli
from stylize.cli.bench import zero as zero_cli


def _defaults(name: str) -> dict:
    """The defaults of ``stylize bench NAME``'s options."""
    (parser,) = [each for each in every_parser(build_parser()) if each.prog == f"stylize bench {name}"]
    return {action.dest: action.default for action in parser._actions if action.option_strings}


def _library(function, name: str):
    return inspect.signature(function).parameters[name].default


def test_the_options_default_to_the_librarys_values():
    options = _defaults("runtimes")
    assert options["min_runs"] == _library(runtimes.bench_runtimes, "min_runs") == 5
    assert options["min_seconds"] == _library(runtimes.bench_runtimes, "min_seconds") == 0.5  # was 1.0 in the CLI
    assert (options["min_runs"], options["min_seconds"]) == (
        _library(runtimes.bench_networks, "min_runs"),
        _library(runtimes.bench_networks, "min_seconds"),
    )
    assert tuple(options["threads"]) == _library(runtimes.bench_networks, "threads")
    assert options["apply_images"] == _library(runtimes.bench_apply, "images") == 32  # was 48 in the CLI
    assert options["apply_style"] == _library(runtimes.bench_apply, "style")
    assert tuple(options["workers"]) == _library(runtimes.bench_apply, "workers")
    options = _defaults("zero")
    assert options["min_runs"] == _library(zero.bench_zero_training, "min_runs")
    assert options["min_seconds"] == _library(zero.bench_zero_training, "min_seconds")
    options = _defaults("device")
    assert options["min_seconds"] == _library(device.bench_device, "seconds") == 3.0  # was --min-seconds' 1.0
    assert [options["device"]] == list(_library(device.bench_device, "devices"))
    assert tuple(_defaults("big")["styles"]) == big.STYLES


@pytest.fixture
def ran(monkeypatch):
    """Each bench's run replaced by a recorder: (bench, its arguments) of every run."""
    runs: list[tuple[str, dict]] = []
    for module in (runtimes_cli, zero_cli, studio_cli, device_cli, big_cli):
        monkeypatch.setattr(module, "run", lambda args, name=module.NAME: runs.append((name, vars(args))) or 0)
    return runs


OLD_AND_NEW = [
    (["bench"], ["bench", "runtimes"]),
    (
        ["bench", "--threads", "1", "--apply-images", "0", "--json", "b.json", "--archs", "nano"],
        ["bench", "runtimes", "--threads", "1", "--apply-images", "0", "--json", "b.json", "--archs", "nano"],
    ),
    (["bench", "--big-image", "0", "--kill-resume", "9"], ["bench", "runtimes", "--kill-resume", "9"]),
    (
        ["bench", "--zero-training", "a.png", "b.png", "--no-preview", "--min-runs", "3", "--parts", "p"],
        ["bench", "zero", "a.png", "b.png", "--no-preview", "--min-runs", "3", "--parts", "p"],
    ),
    (["bench", "--studio", "a.png", "--json", "s.json"], ["bench", "studio", "a.png", "--json", "s.json"]),
    (["bench", "--device", "cuda"], ["bench", "device", "--device", "cuda"]),
    (["bench", "--device", "cpu", "--min-seconds", "2"], ["bench", "device", "--min-seconds", "2"]),
    (
        ["bench", "--big-image", "4000", "--big-styles", "pencil", "ink_wash"],
        ["bench", "big", "4000", "--styles", "pencil", "ink_wash"],
    ),
]


@pytest.mark.parametrize(("old", "new"), OLD_AND_NEW, ids=lambda argv: " ".join(argv[1:3]))
def test_the_old_spellings_run_the_sub_command_with_the_same_arguments(ran, capsys, old, new):
    assert main(new) == 0
    assert capsys.readouterr().err == ""
    assert main(old) == 0
    note = capsys.readouterr().err
    (name, new_args), (old_name, old_args) = ran
    assert old_name == name == new[1]
    assert note.count("\n") == 1 and note.startswith("note: stylize bench") and f"stylize bench {name}" in note, note
    assert "the old spelling goes in the next release" in note
    assert old_args["command_parser"].prog == new_args["command_parser"].prog == f"stylize bench {name}"
    known = _defaults(name).keys() | {"refs", "side", "func"}
    assert {k: v for k, v in old_args.items() if k in known} == {k: v for k, v in new_args.items() if k in known}


def test_the_bench_command_lists_its_sub_commands(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    text = capsys.readouterr().out
    for module in bench_cli.BENCHES:
        assert f"    {module.NAME} " in text
    assert "--zero-training" not in text and "--archs" not in text  # the old spellings are not advertised


def test_a_bad_side_is_refused_in_one_line(capsys):
    assert main(["bench", "big", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("stylize: error: SIDE 0 is not allowed; use ") and err.count("\n") == 1
