"""What the bench commands share: timing options, ``--json``, progress lines."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from stylize.bench.timing import MIN_RUNS, MIN_SECONDS
from stylize.cli.options import kind_type, path_type
from stylize.values import COUNT, SECONDS


def timing_options(parser: argparse.ArgumentParser, *, min_seconds: float = MIN_SECONDS, what: str = "figure") -> None:
    """``--min-runs`` and ``--min-seconds``, their defaults the library's."""
    parser.add_argument(
        "--min-runs",
        type=kind_type(COUNT, "--min-runs"),
        default=MIN_RUNS,
        help=f"timed runs per {what} (median; default {MIN_RUNS})",
    )
    seconds_option(parser, min_seconds, what)


def seconds_option(parser: argparse.ArgumentParser, default: float, what: str = "figure") -> None:
    parser.add_argument(
        "--min-seconds",
        type=kind_type(SECONDS, "--min-seconds"),
        default=default,
        help=f"time each {what} at least this long (default {default:g})",
    )


def json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=path_type("--json"), metavar="FILE", help="also write the figures as JSON")


def progress_lines(args: argparse.Namespace) -> Callable[[str], None] | None:
    """Progress lines on stderr, or None with ``-q``."""
    return None if args.quiet else (lambda line: print(line, file=sys.stderr))
