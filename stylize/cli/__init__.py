"""The ``stylize`` command: a thin shell over the Python API.

Each sub-command parses its arguments, calls one API function and prints a short summary. The
commands live by stage, each module registering its own: :mod:`~stylize.cli.content` (compose, parts,
content), :mod:`~stylize.cli.train` (train, train-base, distill, train-report),
:mod:`~stylize.cli.apply_cmds` (apply, preview), :mod:`~stylize.cli.ship` (export, export-parts),
:mod:`~stylize.cli.evaluate` (eval), :mod:`~stylize.cli.project` (run, config),
:mod:`~stylize.cli.studio` (studio) and :mod:`~stylize.cli.bench` (bench and its sub-commands, one module
each). Options that set a
config key or a library parameter are made from the schema (:mod:`~stylize.cli.options`).

A ``StylizeError`` becomes one line on stderr (its parameters written as this command's flags) and
exit status 1; a usage error (unknown option, bad choice, missing argument) is one line too, ``stylize
apply: error: ... (see stylize apply --help)``, with exit status 2. Ctrl-C (SIGINT) and SIGTERM stop
every command the same way, whatever the process inherited (:mod:`stylize.signals`): one line with a
hint that rerunning resumes, exit status 130 for SIGINT and 143 for SIGTERM (a training first finishes
its step and saves a whole checkpoint; ``stylize studio`` stops as usual, exit status 0). A fault of the
machine that reaches ``main`` as an ``OSError`` (a full disk, a read-only folder: :mod:`stylize.faults`) is
one line too, naming the file and the option that chose its folder.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from stylize import __version__, signals
from stylize.cli import apply_cmds, bench, content, evaluate, project, ship, studio, train
from stylize.cli.options import as_flags, path_type, place_fault
from stylize.errors import Interrupted, StylizeError
from stylize.faults import machine_error
from stylize.messages import show_warnings_as_lines
from stylize.output_folder import HOLDER

__all__ = ["OneLineParser", "build_parser", "config_markdown", "every_parser", "main"]

_GROUPS = (content, train, apply_cmds, ship, bench, evaluate, project, studio)

# What argparse takes for a negative number (a value, not an option): also -1e5, -.5, -inf and -nan,
# so `--minutes -inf` reaches the option's check and its one line, not "expected one argument".
# (Python 3.11's own pattern is only -1 and -1.5; no stylize option looks like a negative number.)
_NEGATIVE_NUMBER = re.compile(r"^-(\.?[0-9]|inf(inity)?$|nan$)", re.IGNORECASE)


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage error as one line on stderr (no usage block) and exit status 2. The
    sub-commands' parsers are of this class too (``add_subparsers`` makes its parsers of the class of the
    parser it is called on)."""

    def error(self, message: str) -> NoReturn:
        line = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {line} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="stylize",
        description="Neural style transfer post-processing for Pioneer's face portraits.",
    )
    parser.add_argument("--version", action="version", version=f"stylize {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=path_type("--config"),
        metavar="FILE",
        help="pipeline config (default: ./pipeline.toml if present)",
    )
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in _GROUPS:
        group.register(sub, common)
    for each in every_parser(parser):
        each._negative_number_matcher = _NEGATIVE_NUMBER  # type: ignore[attr-defined]
    return parser


def every_parser(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and the parsers of its sub-commands, theirs too (``stylize bench runtimes``)."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for each in dict.fromkeys(action.choices.values()):
                found += every_parser(each)
    return found


def config_markdown() -> str:
    """docs/config.md: every key of the schema with the options of each command that set it."""
    build_parser()  # registers every option in FLAGS
    return project.flags_markdown()


def main(argv: Sequence[str] | None = None) -> int:
    with signals.stopping_on_signals():  # also when started with SIGINT ignored (`stylize train ... &`)
        try:
            return _main(argv)
        except KeyboardInterrupt:
            by = "" if signals.received() in (None, signal.SIGINT) else f" by {signals.signal_name(signals.received())}"
            print(f"stylize: interrupted{by}; finished work is kept, rerun the same command to resume", file=sys.stderr)
            return signals.exit_status()


def _main(argv: Sequence[str] | None) -> int:
    show_warnings_as_lines()
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # refused by the command's own parser, so the line names the command and its --help
            getattr(args, "command_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    except StylizeError as err:  # a value an option's kind refuses: the same line as from the library
        print(f"stylize: error: {err}", file=sys.stderr)
        return 1
    HOLDER["command"] = f"stylize {args.command}"  # who holds an output folder's lock, for a second run
    try:
        return int(args.func(args))
    except Interrupted as err:  # a training stopped after its step, its checkpoint whole
        print(f"stylize: {as_flags(err, getattr(args, 'command_parser', None))}", file=sys.stderr)
        return signals.exit_status()
    except StylizeError as err:
        return _error(err, args)
    except BrokenPipeError:  # e.g. `stylize parts | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:  # a fault of the machine (a full disk, a read-only folder): one line naming the file
        fault = machine_error(err)
        if fault is None:
            raise
        return _error(fault, args)


def _error(err: StylizeError, args: argparse.Namespace) -> int:
    """Print ``err`` as the command's one error line (its parameters as flags) and return exit status 1."""
    print(f"stylize: error: {as_flags(place_fault(err, args), getattr(args, 'command_parser', None))}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
