"""The command line made from the schema: generated options, uniform refusals, flags in library errors."""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys

import processes
import pytest
from conftest import REPO_ROOT, one_parser

from stylize.cli import build_parser, config_markdown, every_parser, main
from stylize.cli.evaluate import ceiling_settings
from stylize.cli.options import as_flags
from stylize.config import PARAMETERS, SCHEMA, toml_value
from stylize.errors import StylizeError
from stylize.nets.archs import ARCH_NAMES


def command(name: str) -> argparse.ArgumentParser:
    """The parser of a command (``train``), or of a sub-command (``bench runtimes``)."""
    parser = build_parser()
    for word in name.split():
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return parser


def option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action:
    return next(a for a in parser._actions if flag in a.option_strings)


# --- options generated from the schema ------------------------------------------------------------------

TRAIN_FLAGS = {
    "arch": "--arch",
    "size": "--size",
    "batch": "--batch",
    "minutes": "--minutes",
    "style_weight": "--style-weight",
    "content_weight": "--content-weight",
    "tv_weight": "--tv-weight",
    "feature_weight": "--feature-weight",
    "style_scale": "--style-scale",
    "learning_rate": "--lr",
    "warm_start": "--no-warm-start",
    "content": "--content",
    "precision": "--precision",
}


@pytest.mark.parametrize(
    ("name", "section", "flags"),
    [
        ("train", "train", TRAIN_FLAGS),
        ("train-base", "base", {key: "--lr" if key == "learning_rate" else f"--{key}" for key in SCHEMA["base"]}),
        (
            "distill",
            "distill",
            {key: "--lr" if key == "learning_rate" else "--" + key.replace("_", "-") for key in SCHEMA["distill"]},
        ),
    ],
)
def test_setting_options_carry_the_schema_key(name, section, flags):
    parser = command(name)
    flags = {key: flag for key, flag in flags.items() if key != "steps"}  # --steps alone drops minutes: below
    for key, flag in flags.items():
        action = option(parser, flag)
        key_section = "train" if key == "content" else section
        spec = SCHEMA[key_section][key]
        assert action.dest == key and action.default is None  # not given: the config's value
        help_text = " ".join(action.help.split())
        if key != "warm_start":  # its switch says what it does: start from random weights
            assert help_text.startswith(" ".join(spec.help.split())), (name, key)
        assert f"(default [{key_section}] {key} = {toml_value(spec.default)})" in help_text, (name, key)
    assert option(parser, "--seed").dest == "seed" and option(parser, "--steps").dest == "steps"


@pytest.mark.parametrize("name", ["train", "train-base", "distill", "train-report"])
def test_arch_offers_the_network_registry(name):
    assert tuple(option(command(name), "--arch").choices) == ARCH_NAMES


def test_bench_times_every_registered_network_by_default():
    action = option(command("bench runtimes"), "--archs")
    assert action.default == list(ARCH_NAMES) and tuple(action.choices) == ARCH_NAMES


def test_parameter_options_default_to_the_schema():
    apply = command("apply")
    for name in ("strength", "scale", "preserve_color", "workers", "batch"):
        action = next(a for a in apply._actions if a.dest == name)
        assert action.default == PARAMETERS[name].default, name
    assert option(command("preview"), "--limit").default == PARAMETERS["limit"].default
    assert option(command("export-parts"), "--contexts").default == PARAMETERS["contexts"].default


def test_help_lists_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["distill", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert '(default [distill] arch = "nano")' in text and "(default [distill] perceptual_weight = 0.0)" in text
    assert "{johnson,small,tiny,nano,magenta}" in text


# --- 0, negative, inf and NaN are refused the same way by every command ---------------------------------

NEEDS = {  # the required arguments of each command
    "train": ["--name", "x", "--refs", "r.png"],
    "train-base": [],
    "distill": ["--style", "pencil"],
    "train-report": ["--refs", "r.png"],
    "apply": ["in", "--style", "pencil"],
    "preview": [],
    "eval": ["--style", "pencil"],
    "export-parts": ["--style", "pencil"],
    "export": ["--style", "pencil"],
    "bench": [],  # the spellings before bench's sub-commands
    "bench runtimes": [],
    "bench zero": ["r.png"],
    "bench studio": ["r.png"],
    "bench device": [],
    "bench big": ["1000"],
    "studio": [],
}
REFUSED = [
    *[(cmd, "--minutes", bad) for cmd in ("train", "train-base", "distill") for bad in ("0", "-1", "inf", "nan")],
    *[(cmd, "--steps", bad) for cmd in ("train", "train-base", "distill") for bad in ("0", "-3", "inf", "nan")],
    *[(cmd, "--lr", bad) for cmd in ("train", "train-base", "distill", "train-report") for bad in ("0", "1", "nan")],
    *[(cmd, "--size", bad) for cmd in ("train", "train-base", "distill", "train-report") for bad in ("0", "30")],
    *[(cmd, "--batch", bad) for cmd in ("train", "train-base", "distill", "apply") for bad in ("0", "-1")],
    *[(cmd, "--seed", bad) for cmd in ("train", "train-base", "distill") for bad in ("-1", str(2**63), "1e3")],
    *[("train", flag, bad) for flag in ("--style-weight", "--tv-weight", "--feature-weight") for bad in ("-1", "inf")],
    ("train", "--style-scale", "nan"),
    ("distill", "--pixel-weight", "-1"),
    ("distill", "--perceptual-weight", "inf"),
    ("train-report", "--minutes-list", "0"),
    ("train-report", "--minutes-list", "nan"),
    *[(cmd, "--strength", bad) for cmd in ("apply", "preview", "export-parts") for bad in ("-1", "inf", "nan", "1.5")],
    *[(cmd, "--scale", bad) for cmd in ("apply", "preview", "export-parts") for bad in ("0", "-1", "inf", "nan")],
    *[(cmd, "--keep-values", bad) for cmd in ("apply", "preview", "export-parts", "export") for bad in ("-0.1", "nan")],
    *[("apply", "--workers", bad) for bad in ("0", "-1", "65")],
    *[("preview", "--limit", bad) for bad in ("0", "-1")],
    *[("eval", "--ceiling-steps", bad) for bad in ("0", "-1", "nan")],
    *[("eval", "--ceiling-faces", bad) for bad in ("-1", "inf")],
    *[("export-parts", flag, "-1") for flag in ("--contexts", "--measure")],
    *[("bench runtimes", flag, "0") for flag in ("--threads", "--workers", "--min-runs", "--min-seconds")],
    ("bench runtimes", "--min-seconds", "inf"),
    ("bench runtimes", "--apply-images", "-1"),
    *[(f"bench {name}", "--min-seconds", "0") for name in ("zero", "device")],
    ("bench zero", "--min-runs", "-1"),
    *[("bench", flag, "0") for flag in ("--threads", "--min-seconds")],  # the spellings before the sub-commands
    ("bench", "--big-image", "-1"),
]


@pytest.mark.parametrize(("name", "flag", "bad"), REFUSED)
def test_bad_numbers_are_refused_alike_by_every_command(capsys, name, flag, bad):
    assert main([*name.split(), *NEEDS[name], flag, bad]) == 1
    err = capsys.readouterr().err
    assert re.fullmatch(rf"stylize: error: {flag} {re.escape(bad)} is not allowed; use [^\n]+\n", err), err


def numeric_options() -> list[tuple[str, str]]:
    """(command, flag) of every option that takes a number, in every command and sub-command."""
    return [
        (command_parser.prog.removeprefix("stylize "), max(action.option_strings, key=len))
        for command_parser in every_parser(build_parser())[1:]
        for action in command_parser._actions
        if action.option_strings and getattr(action.type, "__name__", "") in ("whole number", "number")
    ]


HOSTILE_NUMBERS = [
    "1e999",
    "-1e999",
    "inf",
    "-inf",
    "nan",
    "99999999999999999999",
    "9" * 5000,
    "",
    "\u0663",
    "\uff11",
    "0x10",
]


@pytest.mark.parametrize("bad", HOSTILE_NUMBERS, ids=lambda word: repr(word[:12]))
def test_huge_and_odd_numbers_are_refused_in_one_short_line_by_every_option(capsys, bad):
    """Issue 16: a 5000-digit value, 1e999, inf, nan, 10**20, an empty word or another script's digits
    (int() and float() take '\u0663') in any number option: exit 1, one line that quotes at most the
    value's start and says the allowed range; never a traceback, never accepted."""
    options = numeric_options()
    assert len(options) > 40  # every command's: train, distill, apply, preview, eval, export-parts, bench...
    with one_parser():  # dozens of main() calls: one parser (conftest.one_parser)
        for name, flag in options:
            assert main([*name.split(), *NEEDS[name], flag, bad]) == 1, (name, flag)
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and err.startswith(f"stylize: error: {flag} "), (name, flag, err)
            assert "is not allowed; use " in err and len(err) < 240, (name, flag, err)


@pytest.mark.parametrize(
    ("name", "flag", "word", "value"),
    [("apply", "--strength", "-0", 0.0), ("train", "--seed", "-0", 0), ("train", "--minutes", " 2 ", 2.0)],
)
def test_minus_zero_and_spaces_read_as_the_number(name, flag, word, value):
    action = option(command(name), flag)
    parsed = action.type(word)
    assert parsed == value and str(parsed) == str(value)  # -0.0 is kept as 0.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compose", "--seeds", "9" * 5000], "seed 999999"),
        (["compose", "--seeds", "99999999999999999999"], "seed 99999999999999999999 is out of range"),
        (["compose", "--seeds", "1-" + "9" * 5000], "(5000 characters) is out of range"),
        (["compose", "--seeds", "\u0663"], "is not a seed or range"),
        (["compose", "--seeds", "1e999"], "is not a seed or range"),
        (["train", *NEEDS["train"], "--seed", "99999999999999999999"], "use a whole number from 0 to"),
        (["train", *NEEDS["train"], "--minutes", "1e308"], "use a number above 0 and at most 10080"),
        (["train", *NEEDS["train"], "--content", "compose:0-" + "9" * 5000], "is out of range"),
        (["preview", "--mix", "a:1e999,b:1"], "weight '1e999' of 'a' is not allowed; use a number from 0 to"),
        (["preview", "--mix", "a:" + "9" * 5000 + ",b:1"], "(5002 characters) of 'a' is not allowed"),
        (["preview", "--mix", "a:\u0663,b:1"], "of 'a' is not allowed"),
    ],
    ids=lambda value: repr(value)[:30] if isinstance(value, str) else None,
)
def test_huge_seeds_and_weights_are_one_short_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--out", str(tmp_path / "out")] if argv[0] in ("compose", "preview") else argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and len(err) < 300, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("flag", "bad"), [("--minutes", "0"), ("--minutes", "inf"), ("--steps", "0"), ("--lr", "nan")])
def test_one_message_for_one_value_in_every_command(capsys, flag, bad):
    lines = set()
    for name in ("train", "train-base", "distill"):
        assert main([name, *NEEDS[name], flag, bad]) == 1
        lines.add(capsys.readouterr().err)
    assert len(lines) == 1, lines


def test_train_base_refuses_zero_minutes_instead_of_the_default(capsys):
    """`--minutes 0` used to become 3 minutes in train-base and 5 in distill (`args.minutes or 3.0`)."""
    for name in ("train-base", "distill"):
        assert main([name, *NEEDS[name], "--minutes", "0"]) == 1
        assert capsys.readouterr().err.startswith("stylize: error: --minutes 0 is not allowed; ")


def test_a_bad_config_value_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "pipeline.toml").write_text("[base]\nminutes = inf\n")
    assert main(["train-base", "--config", str(tmp_path / "pipeline.toml")]) == 1
    assert capsys.readouterr().err == (
        f"stylize: error: {tmp_path / 'pipeline.toml'}: [base] minutes = inf is not allowed; use a number above 0 and at most 10080\n"
    )


# --- eval: the ceiling only when asked for --------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ([], (0, 100)),
        (["--ceiling"], (4, 100)),
        (["--ceiling-steps", "5"], (4, 5)),
        (["--ceiling-faces", "2"], (2, 100)),
        (["--ceiling-faces", "0"], (0, 100)),
    ],
)
def test_eval_runs_the_ceiling_only_when_asked(arguments, expected):
    args = build_parser().parse_args(["eval", "--style", "pencil", *arguments])
    assert ceiling_settings(args) == expected
    assert (PARAMETERS["ceiling_faces"].default, PARAMETERS["ceiling_steps"].default) == (4, 100)


def test_eval_help_states_the_ceilings_cost(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--ceiling also optimise 4 portraits per style with 100 L-BFGS steps" in text
    assert "about 0.5 s a step, so several minutes per style on 2 cores (off by default)" in text


# --- library errors name parameters; the command line shows its flags -----------------------------------


@pytest.mark.parametrize(
    ("name", "message", "params", "expected"),
    [
        (
            "train",
            "s/x: already there; pass resume=True to continue it, overwrite=True to replace it, or choose another "
            "name=NAME",
            ("resume", "overwrite", "name"),
            "s/x: already there; pass --resume to continue it, --overwrite to replace it, or choose another --name NAME",
        ),
        ("train", "no base; or pass warm_start=False", ("warm_start",), "no base; or pass --no-warm-start"),
        (
            "train",
            "training setting learning_rate=1.5 is not allowed",
            ("learning_rate",),
            "training setting --lr 1.5 is not allowed",
        ),
        ("train", "start without resume=True", ("resume",), "start without --resume"),
        ("train", "resume=False stays", ("resume",), "resume=False stays"),  # a switch only sets True
        ("train", "parts=DIR, but not my_parts=DIR", ("parts",), "--parts DIR, but not my_parts=DIR"),
        ("train", "minutes=, steps= or both", ("minutes", "steps"), "--minutes, --steps or both"),
        ("train", "resume=True, not listed", (), "resume=True, not listed"),  # only the params the error names
        (
            "apply",
            "no style; name one with styles=NAME (or styles=a,b,c)",
            ("styles",),
            "no style; name one with --style NAME (or --style a,b,c)",
        ),
        ("apply", "x: choose another out_dir=DIR", ("out_dir",), "x: choose another --out DIR"),
        ("preview", "no style; name one with styles=NAME", ("styles",), "no style; name one with --styles NAME"),
        ("eval", "use device=cpu", ("device",), "use --device cpu"),
        ("apply", "use device=cpu or device=auto", ("device",), "use --device cpu or --device auto"),
    ],
)
def test_library_errors_are_shown_with_the_commands_flags(name, message, params, expected):
    assert as_flags(StylizeError(message, params=params), command(name)) == expected


def test_a_library_error_reaches_the_user_as_flags(tmp_path, capsys):
    from stylize.training.loop import prepare_output

    folder = tmp_path / "styles" / "taken"
    folder.mkdir(parents=True)
    (folder / "model.json").write_text("{}")
    with pytest.raises(StylizeError) as info:
        prepare_output(folder, resume=False, overwrite=False)
    assert "pass overwrite=True" in str(info.value) and "--" not in str(info.value)
    code = main(["train", "--name", "taken", "--refs", "r.png", "--styles-dir", str(tmp_path / "styles"), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "a style is already there; pass --overwrite to replace it, or choose another --name NAME" in err


ALLOWED_FLAGS = {"--force-reinstall", "--build", "--head"}  # pip's, cmake's and ray's, in hints


@pytest.mark.slow
def test_library_errors_never_name_command_line_flags():
    """Raise sites outside stylize/cli speak of parameters (resume=True), not flags (--resume)."""
    found = []
    for path in sorted((REPO_ROOT / "stylize").rglob("*.py")):
        if "cli" in path.relative_to(REPO_ROOT / "stylize").parts:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                for const in ast.walk(node.exc):
                    if isinstance(const, ast.Constant) and isinstance(const.value, str):
                        for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", const.value):
                            if flag not in ALLOWED_FLAGS:
                                found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {flag}")
    assert not found, found


# --- stylize config --schema and docs/config.md ---------------------------------------------------------


def test_docs_config_md_is_current():
    """Regenerate with: python -m stylize config --schema --markdown > docs/config.md"""
    assert (REPO_ROOT / "docs" / "config.md").read_text() == config_markdown()


def test_config_schema_prints_every_key_and_the_markdown(capsys):
    assert main(["config", "--schema"]) == 0
    text = capsys.readouterr().out
    for section, keys in SCHEMA.items():
        assert f"[{section}]" in text
        for key, spec in keys.items():
            written = f"# {key} = (not set)" if spec.default is None else f"{key} = {toml_value(spec.default)}"
            assert f"\n{written}  # " in text, (section, key)
    assert main(["config", "--schema", "--markdown"]) == 0
    markdown = capsys.readouterr().out
    assert markdown == config_markdown()
    assert "| `minutes` | number | `3.0` | a number above 0 and at most 10080 | `--minutes` (train-base) |" in markdown
    assert "`--lr` (train, train-report)" in markdown


def test_config_shows_the_training_sections(capsys):
    assert main(["config", "--config", str(REPO_ROOT / "pipeline.toml")]) == 0
    out = capsys.readouterr().out
    assert '[base] arch = "small"' in out and "minutes = 3.0" in out and '[distill] arch = "nano"' in out


def test_the_command_line_starts_without_torch():
    code = "import json, sys, stylize.cli; stylize.cli.build_parser(); print(json.dumps('torch' in sys.modules))"
    done = processes.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) is False


def test_the_command_line_and_the_api_say_the_same_about_a_value(capsys):
    from stylize.training.settings import TrainSettings

    assert main(["train", *NEEDS["train"], "--minutes", "inf"]) == 1
    from_cli = capsys.readouterr().err.strip()
    with pytest.raises(StylizeError) as from_api:
        TrainSettings(minutes=float("inf")).validate()
    assert from_cli == "stylize: error: --minutes inf is not allowed; use a number above 0 and at most 10080"
    assert (
        as_flags(from_api.value, command("train"))
        == "training setting --minutes inf is not allowed; use a number above 0 and at most 10080"
    )


def test_eval_notes_name_its_flags():
    from stylize.cli.evaluate import NOTE_PARAMS
    from stylize.cli.options import with_flags

    note = "the ceiling's 5 L-BFGS iterations left a higher training loss, so it is not yet a ceiling: raise ceiling_steps=N"
    assert with_flags(note, NOTE_PARAMS, command("eval")).endswith("raise --ceiling-steps N")
