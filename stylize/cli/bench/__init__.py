"""``stylize bench BENCH``: one sub-command a bench, each in its own module registering its own options
(``runtimes``, ``zero``, ``studio``, ``device``, ``big``), over :mod:`stylize.bench`.

The spellings before the sub-commands still work for one release, each with a one-line note on stderr:
``stylize bench [OPTIONS]`` is ``stylize bench runtimes``, ``--zero-training REF...`` is ``zero REF...``,
``--studio REF...`` is ``studio REF...``, ``--device X`` is ``device --device X`` and ``--big-image SIDE
[--big-styles STYLE...]`` is ``big SIDE [--styles STYLE...]``. The bench command takes every option of its
sub-commands for them (hidden from its help), and :func:`run_old_spelling` runs the sub-command they name.
"""

from __future__ import annotations

import argparse
import copy
import sys

from stylize.cli.bench import big, device, runtimes, studio, zero
from stylize.cli.options import kind_type
from stylize.values import COUNT_OR_ZERO

BENCHES = (runtimes, zero, studio, device, big)

# The old "instead" options: (flag, its dest, the sub-command, the sub-command's dest for its value).
OLD_INSTEAD = (
    ("--zero-training", "zero_training", zero.NAME, "refs"),
    ("--studio", "studio_refs", studio.NAME, "refs"),
    ("--device", "device", device.NAME, "device"),
    ("--big-image", "big_image", big.NAME, "side"),
)
OLD_NEW = {  # how the note writes each old spelling and its new one
    runtimes.NAME: ("stylize bench [OPTIONS]", "stylize bench runtimes [OPTIONS]"),
    zero.NAME: ("stylize bench --zero-training REF...", "stylize bench zero REF..."),
    studio.NAME: ("stylize bench --studio REF...", "stylize bench studio REF..."),
    device.NAME: ("stylize bench --device X", "stylize bench device --device X"),
    big.NAME: ("stylize bench --big-image SIDE --big-styles STYLE...", "stylize bench big SIDE --styles STYLE..."),
}


def run_old_spelling(args: argparse.Namespace) -> int:
    """``stylize bench`` without a sub-command (the spellings before them): the sub-command its options name,
    with the options given (the others at that sub-command's defaults), after a one-line note."""
    name, renames = runtimes.NAME, {}
    for _, dest, bench, new_dest in OLD_INSTEAD:
        if getattr(args, dest, None):  # --big-image 0 meant no big-image bench
            name, renames = bench, {dest: new_dest}
            break
    if name == big.NAME:
        renames["big_styles"] = "styles"
    old, new = OLD_NEW[name]
    print(f"note: {old} is now {new}; the old spelling goes in the next release", file=sys.stderr)
    parser: argparse.ArgumentParser = args.bench_parsers[name]
    values = {renames.get(key, key): value for key, value in vars(args).items()}
    for action in parser._actions:
        if action.dest not in values and action.default is not argparse.SUPPRESS:
            values[action.dest] = action.default
    values.update(parser._defaults)  # its func and command_parser
    return int(values["func"](argparse.Namespace(**values)))


def _take_old_options(parser: argparse.ArgumentParser, benches: dict[str, argparse.ArgumentParser]) -> None:
    """Give the bench command every option of its sub-commands (the first of each flag), hidden, given only
    when given, and the old "instead" options, for :func:`run_old_spelling`."""
    taken = {flag for action in parser._actions for flag in action.option_strings}
    for flag, dest, _, _ in OLD_INSTEAD[:2]:
        parser.add_argument(
            flag, dest=dest, nargs="+", metavar="REF", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    parser.add_argument(
        "--big-image",
        dest="big_image",
        type=kind_type(COUNT_OR_ZERO, "--big-image"),
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--big-styles", dest="big_styles", nargs="+", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    taken |= {"--zero-training", "--studio", "--big-image", "--big-styles"}
    for bench in benches.values():
        for action in bench._actions:
            if not action.option_strings or taken & set(action.option_strings):
                continue
            old = copy.copy(action)
            old.default, old.help, old.required = argparse.SUPPRESS, argparse.SUPPRESS, False
            parser._add_action(old)
            taken |= set(action.option_strings)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "bench",
        parents=[common],
        help="time the networks, bulk apply, zero-training styles, the studio, a GPU, big images",
        description="Benchmarks, one sub-command each; `stylize bench BENCH --help` lists its options.",
    )
    subs = parser.add_subparsers(dest="bench", metavar="BENCH")  # not required: the old spellings (above)
    benches = {module.NAME: module.register(subs, common) for module in BENCHES}
    _take_old_options(parser, benches)
    parser.set_defaults(func=run_old_spelling, command_parser=parser, bench_parsers=benches)
