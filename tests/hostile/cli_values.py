"""Hostile command-line values: huge, negative, non-finite, empty, unknown. A value an option refuses is
one line naming the option and the value, exit 1; argparse's own refusals (unknown option, bad choice,
missing value) are one line too, exit 2."""

from __future__ import annotations

from pathlib import Path

from hostile.harness import STYLE, Corpus, apply_argv, compose_argv, face, nothing_at

corpus = Corpus("cli_values")

FIVE_THOUSAND_DIGITS = "9" * 5000


def apply_with(tmp: Path, *options: str) -> list[str]:
    return [*apply_argv(tmp, face(tmp)), *options]


def train_with(tmp: Path, *options: str) -> list[str]:
    """A tiny train command line (it is refused before any work in every case here)."""
    from conftest import stroke_reference

    reference = stroke_reference(tmp / "in" / "ref.png")
    return [
        "train", "--name", "x", "--refs", str(reference), "--arch", "tiny", "--size", "32", "--batch", "1",
        "--steps", "1", "--content", "compose:0-1", "--styles-dir", str(tmp / "styles"), *options,
    ]  # fmt: skip


@corpus.case(fault="seeds")
def five_thousand_digit_seeds(tmp: Path) -> list[str]:
    """``compose --seeds <5000 digits>`` (issue item 6: a ValueError traceback): refused naming the seeds, exit 1."""
    return ["compose", "--seeds", FIVE_THOUSAND_DIGITS, "--out", str(tmp / "out")]


@corpus.case(fault="seeds")
def five_thousand_digit_seed_range(tmp: Path) -> list[str]:
    """``compose --seeds 0-<5000 digits>``: refused naming --seeds, exit 1."""
    return ["compose", "--seeds", "0-" + FIVE_THOUSAND_DIGITS, "--out", str(tmp / "out")]


@corpus.case(fault=("compose:", "seed 9999"))
def five_thousand_digit_content_source(tmp: Path) -> list[str]:
    """``content compose:<5000 digits>``: refused naming the source or its seed, exit 1."""
    return ["content", "compose:" + FIVE_THOUSAND_DIGITS]


@corpus.case(fault="99999999999999999999", outs=("styles",), check=nothing_at("styles/x"))
def train_seed_beyond_64_bits(tmp: Path) -> list[str]:
    """``train --seed 99999999999999999999`` (issue item 6): refused naming --seed, exit 1, no style folder."""
    return train_with(tmp, "--seed", "99999999999999999999")


@corpus.case(fault="--minutes", outs=("styles",), check=nothing_at("styles/x"))
def train_minutes_infinite(tmp: Path) -> list[str]:
    """``train --minutes inf`` (issue item 7: an OverflowError and a half-made style folder that neither a
    plain rerun nor --resume gets past): refused naming --minutes before any work, exit 1, no style folder."""
    return train_with(tmp, "--minutes", "inf")


@corpus.case(fault="--minutes", outs=("styles",), check=nothing_at("styles/x"))
def train_minutes_1e999(tmp: Path) -> list[str]:
    """``train --minutes 1e999`` (infinity written as a number): refused naming --minutes, exit 1."""
    return train_with(tmp, "--minutes", "1e999")


@corpus.case(fault="--minutes", outs=("styles",))
def distill_minutes_infinite(tmp: Path) -> list[str]:
    """``distill --minutes inf``: refused naming --minutes before any work, exit 1."""
    return ["distill", "--style", STYLE, "--name", "x", "--minutes", "inf", "--styles-dir", str(tmp / "styles")]


@corpus.case(fault="--seed", outs=("styles",))
def train_base_seed_negative(tmp: Path) -> list[str]:
    """``train-base --seed -1``: refused naming --seed, exit 1."""
    return ["train-base", "--arch", "tiny", "--steps", "1", "--seed", "-1", "--styles-dir", str(tmp / "styles")]


@corpus.case(fault="--strength")
def strength_nan(tmp: Path) -> list[str]:
    """``apply --strength nan``: refused naming --strength, exit 1."""
    return apply_with(tmp, "--strength", "nan")


@corpus.case(fault="--strength")
def strength_negative(tmp: Path) -> list[str]:
    """``apply --strength -0.5``: refused naming --strength, exit 1."""
    return apply_with(tmp, "--strength", "-0.5")


@corpus.case(fault="--scale")
def scale_1e999(tmp: Path) -> list[str]:
    """``apply --scale 1e999``: refused naming --scale, exit 1."""
    return apply_with(tmp, "--scale", "1e999")


@corpus.case(fault="--scale")
def scale_tiny(tmp: Path) -> list[str]:
    """``apply --scale 1e-300``: strokes a 1e300th of their size would shrink the image to nothing; refused
    naming --scale, exit 1."""
    return apply_with(tmp, "--scale", "1e-300")


@corpus.case(fault="--scale")
def scale_empty(tmp: Path) -> list[str]:
    """``apply --scale ''``: refused naming --scale, exit 1."""
    return apply_with(tmp, "--scale", "")


@corpus.case(fault="--workers")
def workers_zero(tmp: Path) -> list[str]:
    """``apply --workers 0``: refused naming --workers, exit 1."""
    return apply_with(tmp, "--workers", "0")


@corpus.case(fault="--workers")
def workers_huge(tmp: Path) -> list[str]:
    """``apply --workers 99999999999999999999``: refused naming --workers (before starting processes), exit 1."""
    return apply_with(tmp, "--workers", "99999999999999999999")


@corpus.case(fault="--batch")
def batch_five_thousand_digits(tmp: Path) -> list[str]:
    """``apply --batch <5000 digits>``: refused naming --batch, exit 1."""
    return apply_with(tmp, "--batch", FIVE_THOUSAND_DIGITS)


@corpus.case(fault="style")
def style_empty(tmp: Path) -> list[str]:
    """``apply --style ''``: no style named; refused, exit 1."""
    return ["apply", "--style", "", str(face(tmp)), "--out", str(tmp / "out")]


@corpus.case(fault="nosuch")
def style_unknown(tmp: Path) -> list[str]:
    """``apply --style nosuch``: refused naming it and listing the known styles, exit 1."""
    return ["apply", "--style", "nosuch", str(face(tmp)), "--out", str(tmp / "out")]


@corpus.case(fault="../outside")
def style_name_climbing_out(tmp: Path) -> list[str]:
    """``--style ../outside`` with --styles-dir in (so the name leads to outside/, which holds no style): refused
    naming it, exit 1, nothing in outside/ written."""
    return ["apply", "--style", "../outside", "--styles-dir", str(tmp / "in"), str(face(tmp)), "--out", str(tmp / "out")]  # fmt: skip


@corpus.case(fault="pencil-nano:nan")
def mix_weight_nan(tmp: Path) -> list[str]:
    """``apply --mix pencil-nano:nan``: refused naming the mix, exit 1."""
    return ["apply", "--mix", f"{STYLE}:nan", str(face(tmp)), "--out", str(tmp / "out")]


@corpus.case(fault="--device")
def device_unknown(tmp: Path) -> list[str]:
    """``apply --device tpu``: not a choice; refused like any value an option's kind refuses (one line naming --device, exit 1)."""
    return apply_with(tmp, "--device", "tpu")


@corpus.case(exit=2, fault="--frobnicate")
def unknown_option(tmp: Path) -> list[str]:
    """``apply --frobnicate``: one usage line naming the option, exit 2."""
    return apply_with(tmp, "--frobnicate")


@corpus.case(exit=2, fault="COMMAND", quiet=False, outs=())
def no_command(tmp: Path) -> list[str]:
    """``stylize`` alone: one usage line saying a command is needed, exit 2."""
    return []


@corpus.case(exit=2, fault="teleport", quiet=False, outs=())
def unknown_command(tmp: Path) -> list[str]:
    """``stylize teleport``: one usage line naming it, exit 2."""
    return ["teleport"]


@corpus.case(fault="seeds")
def seeds_empty(tmp: Path) -> list[str]:
    """``compose --seeds ''``: refused naming --seeds, exit 1."""
    return ["compose", "--seeds", "", "--out", str(tmp / "out")]


@corpus.case(fault="seeds")
def seeds_negative(tmp: Path) -> list[str]:
    """``compose --seeds -1``: refused naming --seeds (seeds are 0..2**32-1), exit 1."""
    return ["compose", "--seeds", "-1", "--out", str(tmp / "out")]


@corpus.case(fault="seeds")
def seeds_too_many(tmp: Path) -> list[str]:
    """``compose --seeds 0-4294967295`` (every seed): refused naming the count, before any work, exit 1."""
    return ["compose", "--seeds", "0-4294967295", "--out", str(tmp / "out")]


@corpus.case(fault="--contexts")
def export_parts_contexts_huge(tmp: Path) -> list[str]:
    """``export-parts --contexts 99999999999999999999``: refused naming --contexts, exit 1."""
    return ["export-parts", "--style", STYLE, "--contexts", "99999999999999999999", "--out", str(tmp / "out")]


@corpus.case(fault="--fp16")
def export_two_precisions(tmp: Path) -> list[str]:
    """``export --fp16 --int8``: one line saying they exclude each other, exit 1."""
    return ["export", "--style", STYLE, "--fp16", "--int8", "--out", str(tmp / "out" / "s.onnx")]


@corpus.case(fault="/proc/x")
def config_under_proc(tmp: Path) -> list[str]:
    """``--config /proc/x/pipeline.toml``: refused naming it, exit 1."""
    return compose_argv(tmp, "--config", "/proc/x/pipeline.toml")
